"""Run metrics from the equity curve, the fills and the orders (the report's files are `report.files`).

The rules, exactly:

* **Returns** are taken on the equity resampled to daily closes (the last sample of each UTC date) when the
  samples span at least two dates, annualised with `periods_per_year` (252); otherwise on the raw samples,
  annualised with ``seconds per year / median sample spacing``.
* **annual_volatility** = stdev(returns, ddof=1) x sqrt(periods); **sharpe** = mean(returns - rf per period) /
  stdev x sqrt(periods); **sortino** = mean(excess returns) / downside deviation x sqrt(periods), the downside
  deviation being the root mean square of min(0, excess return) over all returns. NaN with fewer than two
  returns or a zero deviation.
* **total_return** = final / initial - 1; **cagr** = (final / initial) ^ (365.25 days / span) - 1 (NaN for a
  span under one day, where annualising says nothing); the **drawdown** of a sample is its equity / running
  peak - 1 (<= 0; 0 while the peak is not positive); **max_drawdown** = the lowest drawdown, and
  **max_drawdown_duration_days** the longest time from a peak to the sample that regains it (or to the end).
* **trades** are closed round trips, matched first in first out per symbol (a fill through zero closes the old
  side and opens the new one); a trade's P&L is gross, its fees the matched share of entry and exit fees.
  **win_rate** = winners / trades; **profit_factor** = gross profit / gross loss (inf without a loss, NaN
  without trades). **exposure** = the share of equity samples with an open position. **slippage_cost** = the
  sum over fills of |price - reference_price| x quantity.
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Iterable, Sequence, Sized
from datetime import datetime

import attrs
import numpy as np

from broker_sim._numeric import QTY_EPSILON
from broker_sim.models import Fill, Order, OrderStatus, Side

__all__ = [
    "ClosedTrade",
    "EquitySample",
    "Metrics",
    "OrderOutcomes",
    "TradeTally",
    "closed_trades",
    "compute_metrics",
    "drawdowns",
    "metrics_from",
    "reason_of",
]

_SECONDS_PER_YEAR = 365.25 * 86_400


@attrs.frozen(slots=True)
class EquitySample:
    """The account's equity and gross exposure (sum of |market value|) at one moment."""

    timestamp: datetime
    equity: float
    exposure: float


@attrs.frozen(slots=True)
class ClosedTrade:
    """One round trip: `quantity` opened at `entry_price` and closed at `exit_price`."""

    symbol: str
    side: str
    quantity: float
    entry_time: datetime
    exit_time: datetime
    entry_price: float
    exit_price: float
    pnl: float
    fees: float


@attrs.frozen(slots=True)
class Metrics:
    """The numbers a report leads with (see the module docstring for how each is computed)."""

    initial_balance: float
    final_equity: float
    total_return: float
    cagr: float
    annual_volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    max_drawdown_duration_days: float
    trades: int
    win_rate: float
    profit_factor: float
    exposure: float
    fees: float
    slippage_cost: float
    orders: int
    fills: int
    start: str
    end: str
    #: How the orders ended (or stand, for those still working at the end), by status.
    orders_by_status: dict[str, int] = attrs.Factory(dict)
    #: The most common reasons orders were rejected, expired or canceled by the venue, with their counts.
    top_reasons: tuple[tuple[str, int], ...] = ()
    #: Rows the price sources skipped as bad (``on_bad_row: skip``); each is logged with its line.
    skipped_rows: int = 0

    @property
    def failed_share(self) -> float:
        """The share of orders that were rejected or expired (0 without orders)."""
        failed = self.orders_by_status.get("rejected", 0) + self.orders_by_status.get("expired", 0)
        return failed / self.orders if self.orders else 0.0


_NUMBERS = re.compile(r"[-+]?\d[\d,]*(\.\d+)?|'[^']*'|[0-9a-f]{8}-[0-9a-f-]{27}")


def reason_of(order: Order) -> str | None:
    """Why an order ended as it did, in words shared by orders alike (numbers and names left out), or None."""
    if order.reject_reason:
        text = order.reject_reason.split(":", 1)[0] if ":" in order.reject_reason else order.reject_reason
        return _NUMBERS.sub("#", text).strip()
    if order.status is OrderStatus.EXPIRED:
        return f"{order.time_in_force.value} order expired"
    return None


class OrderOutcomes:
    """Counts how a run's orders ended, by status and by reason, for the summary (nothing kept per order)."""

    def __init__(self) -> None:
        self.by_status: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()

    def add(self, order: Order) -> None:
        """Count one order, in its final status (or as it stands at the end of the run)."""
        self.by_status[order.status.value] += 1
        reason = reason_of(order) if order.status in _EXPLAINED else None
        if reason is not None:
            self.reasons[reason] += 1


_EXPLAINED = frozenset({OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.CANCELED})
#: Reasons listed in a summary.
TOP_REASONS = 5


class _Lot:
    """An open lot waiting to be matched: signed quantity, price, time, fee per unit."""

    __slots__ = ("fee_per_unit", "price", "quantity", "time")

    def __init__(self, quantity: float, price: float, time: datetime, fee_per_unit: float) -> None:
        self.quantity, self.price, self.time, self.fee_per_unit = quantity, price, time, fee_per_unit


class TradeTally:
    """Fill-by-fill accounting of round trips (FIFO per symbol), fees and slippage, in memory that does not grow
    with the number of fills: only open lots, the counters and the first `keep` closed trades are kept."""

    def __init__(self, keep: int | None = None) -> None:
        self.keep = keep
        self.trades: list[ClosedTrade] = []
        self.count = self.wins = self.fills = 0
        self.gains = self.losses = self.fees = self.slippage = 0.0
        self._lots: dict[str, deque[_Lot]] = {}

    def add(self, fill: Fill) -> None:
        """Account one fill: match it against the symbol's open lots, open a lot with what is left."""
        self.fills += 1
        self.fees += fill.fee
        self.slippage += abs(fill.price - fill.reference_price) * fill.quantity
        queue = self._lots.setdefault(fill.symbol, deque())
        buying = fill.side is Side.BUY
        remaining = fill.quantity
        fee_per_unit = fill.fee / fill.quantity if fill.quantity else 0.0
        while remaining > QTY_EPSILON and queue and (queue[0].quantity > 0) != buying:
            lot = queue[0]
            long = lot.quantity > 0
            size = min(remaining, abs(lot.quantity))
            pnl = size * (fill.price - lot.price) * (1.0 if long else -1.0)
            self._close(
                ClosedTrade(
                    fill.symbol,
                    "long" if long else "short",
                    size,
                    lot.time,
                    fill.timestamp,
                    lot.price,
                    fill.price,
                    pnl,
                    size * (lot.fee_per_unit + fee_per_unit),
                )
            )
            remaining -= size
            left = abs(lot.quantity) - size
            if left <= QTY_EPSILON:
                queue.popleft()
            else:
                lot.quantity = left if long else -left
        if remaining > QTY_EPSILON:
            queue.append(_Lot(remaining if buying else -remaining, fill.price, fill.timestamp, fee_per_unit))

    def _close(self, trade: ClosedTrade) -> None:
        self.count += 1
        if trade.pnl > 0:
            self.wins += 1
            self.gains += trade.pnl
        elif trade.pnl < 0:
            self.losses -= trade.pnl
        if self.keep is None or len(self.trades) < self.keep:
            self.trades.append(trade)


def closed_trades(fills: Iterable[Fill]) -> list[ClosedTrade]:
    """Round trips from `fills`, matched first in first out per symbol."""
    tally = TradeTally()
    for fill in fills:
        tally.add(fill)
    return tally.trades


def _returns(equity: Sequence[EquitySample], periods_per_year: int) -> tuple[np.ndarray, float]:
    """Per-period returns and how many periods make a year (see the module docstring)."""
    dates = {sample.timestamp.date() for sample in equity}
    if len(dates) >= 2:
        closes: dict[object, float] = {}
        for sample in equity:
            closes[sample.timestamp.date()] = sample.equity
        values = np.array(list(closes.values()), dtype=float)
        periods = float(periods_per_year)
    else:
        values = np.array([s.equity for s in equity], dtype=float)
        times = np.array([s.timestamp.timestamp() for s in equity], dtype=float)
        spacing = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        periods = _SECONDS_PER_YEAR / spacing if spacing > 0 else math.nan
    if len(values) < 2:
        return np.array([], dtype=float), periods
    previous = values[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous != 0, values[1:] / previous - 1.0, 0.0)
    return returns, periods


def drawdowns(equity: Sequence[EquitySample]) -> list[float]:
    """Each sample's drawdown: equity / the running peak - 1 (<= 0; 0 while the peak is not positive)."""
    peak = -math.inf
    result = []
    for sample in equity:
        peak = max(peak, sample.equity)
        result.append(sample.equity / peak - 1.0 if peak > 0 else 0.0)
    return result


def _max_drawdown(equity: Sequence[EquitySample], series: Sequence[float]) -> tuple[float, float]:
    """Max drawdown (<= 0) and the longest peak-to-recovery time in days (to the end if never regained).

    Only a fall below the peak starts a drawdown: a curve that never falls has a duration of 0.
    """
    peak_time = None
    fell = False
    longest = 0.0
    for sample, drawdown in zip(equity, series, strict=True):
        if drawdown < 0.0:
            fell = True
            continue
        if fell and peak_time is not None:
            longest = max(longest, (sample.timestamp - peak_time).total_seconds())
        peak_time, fell = sample.timestamp, False
    if fell and peak_time is not None:
        longest = max(longest, (equity[-1].timestamp - peak_time).total_seconds())
    return min(series, default=0.0), longest / 86_400


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 and math.isfinite(denominator) else math.nan


def compute_metrics(
    equity: Sequence[EquitySample],
    fills: Iterable[Fill],
    orders: Sized,
    initial_balance: float,
    *,
    risk_free_rate: float = 0.0,
    periods_per_year: int = 252,
) -> Metrics:
    """The run's metrics; `equity` must end with the final sample (its equity is the final equity)."""
    tally = TradeTally(keep=0)
    for fill in fills:
        tally.add(fill)
    return metrics_from(
        equity, tally, len(orders), initial_balance, risk_free_rate=risk_free_rate, periods_per_year=periods_per_year
    )


def metrics_from(
    equity: Sequence[EquitySample],
    tally: TradeTally,
    orders: int,
    initial_balance: float,
    *,
    risk_free_rate: float = 0.0,
    periods_per_year: int = 252,
    outcomes: OrderOutcomes | None = None,
    skipped_rows: int = 0,
) -> Metrics:
    """The run's metrics from the equity samples and a `TradeTally` fed every fill (what a run keeps), and the
    orders' `outcomes` when counted."""
    final = equity[-1].equity if equity else initial_balance
    span = (equity[-1].timestamp - equity[0].timestamp).total_seconds() if len(equity) > 1 else 0.0
    total_return = final / initial_balance - 1.0 if initial_balance else math.nan
    cagr = math.nan
    if span >= 86_400 and initial_balance > 0 and final > 0:
        try:
            cagr = (final / initial_balance) ** (_SECONDS_PER_YEAR / span) - 1.0
        except OverflowError:
            cagr = math.inf
    returns, periods = _returns(equity, periods_per_year)
    volatility = sharpe = sortino = math.nan
    if len(returns) >= 2 and math.isfinite(periods):
        excess = returns - risk_free_rate / periods
        deviation = float(np.std(returns, ddof=1))
        volatility = deviation * math.sqrt(periods)
        sharpe = _ratio(float(np.mean(excess)), deviation) * math.sqrt(periods)
        downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
        sortino = _ratio(float(np.mean(excess)), downside) * math.sqrt(periods)
    max_drawdown, duration = _max_drawdown(equity, drawdowns(equity))
    profit_factor = math.nan if not tally.count else (tally.gains / tally.losses if tally.losses > 0 else math.inf)
    return Metrics(
        initial_balance=initial_balance,
        final_equity=final,
        total_return=total_return,
        cagr=cagr,
        annual_volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_drawdown,
        max_drawdown_duration_days=duration,
        trades=tally.count,
        win_rate=tally.wins / tally.count if tally.count else math.nan,
        profit_factor=profit_factor,
        exposure=sum(1 for s in equity if s.exposure > 0) / len(equity) if equity else 0.0,
        fees=tally.fees,
        slippage_cost=tally.slippage,
        orders=orders,
        fills=tally.fills,
        start=equity[0].timestamp.isoformat() if equity else "",
        end=equity[-1].timestamp.isoformat() if equity else "",
        orders_by_status=dict(sorted(outcomes.by_status.items())) if outcomes is not None else {},
        top_reasons=tuple(outcomes.reasons.most_common(TOP_REASONS)) if outcomes is not None else (),
        skipped_rows=skipped_rows,
    )
