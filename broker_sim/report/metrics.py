"""Run metrics from the equity curve, the fills and the orders (the report's files are `report.files`).

The rules, exactly (the report and the README repeat them in one line each):

* **Returns** are taken on the equity resampled to daily closes (the last sample of each UTC date) when the
  samples span at least two dates, annualised with `periods_per_year` (252); otherwise on the raw samples,
  annualised with ``seconds per year / median sample spacing``. The first day counts: its return is from the
  run's first sample (the starting equity) to that day's close.
* **Short samples**: figures read from the spread of the returns — annual_volatility, sharpe, sortino, alpha,
  skew, tail_ratio, value_at_risk — need `MIN_RETURNS` (30) returns; with fewer they are NaN and `notes` says
  so (17 daily returns give a Sharpe whose standard error is about 4: a number, not a measurement). beta is
  kept; cagr and calmar need a year (below).
* **annual_volatility** = stdev(returns, ddof=1) x sqrt(periods); **sharpe** = mean(returns - rf per period) /
  stdev x sqrt(periods); **sortino** = mean(excess returns) / downside deviation x sqrt(periods), the downside
  deviation being the root mean square of min(0, excess return) over all returns. These are quantstats'
  formulas (a test checks them against it). With fewer than two returns or a zero deviation they are NaN, and
  `notes` says why.
* **total_return** = final / initial - 1; **pnl** = final - initial. **cagr** = (final / initial) ^ (365.25 days /
  span) - 1, only for runs spanning at least `CAGR_MIN_DAYS` (a year): annualising a few days' return
  says nothing (-80 % for a 17-day run that lost 7 %); shorter runs get NaN and a note.
* **calmar** = cagr / |max_drawdown| (NaN when cagr is); **skew** = the adjusted Fisher-Pearson skewness of the
  returns (pandas'); **tail_ratio** = |95th percentile / 5th percentile| of the returns; **value_at_risk** = the
  one-period 95 % value at risk, normal (mean + stdev x the 5 % quantile of a standard normal), as a return
  (quantstats' formulas for all three, checked against it).
* The **drawdown** of a sample is its equity / running peak - 1 (<= 0; 0 while the peak is not positive);
  **max_drawdown** = the lowest drawdown, and **max_drawdown_duration_days** the longest time from a peak to the
  sample that regains it (or to the end).
* **round_trips** are closed trades, matched first in first out per strategy and symbol (`report.trades`);
  **fills** count executions. **win_rate**, **profit_factor**, **average_win**/**average_loss**, **expectancy**
  are net of fees: a round trip wins when its P&L after its share of fees is > 0. **time_in_market** = the share
  of equity samples with an open position (equity.csv's `gross_exposure` is the dollars held).
  **slippage_cost** = the sum over fills of |price - reference_price| x quantity.
* **benchmark_return** is the buy-and-hold of the benchmark (the configured symbol, else an equal-weight
  basket of the run's symbols bought at their first sampled price); **beta** = cov(returns, benchmark
  returns) / var(benchmark returns) and **alpha** = (mean return - beta x mean benchmark return) x periods, on the
  same resampled returns (quantstats' `greeks`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Sized
from datetime import date, datetime
from statistics import NormalDist

import attrs
import numpy as np

from broker_sim.models import Fill, Order, OrderStatus
from broker_sim.report.curve import EquityCurve, EquitySample, as_curve, moment
from broker_sim.report.trades import Breakdown, ClosedTrade, TradeTally, closed_trades

__all__ = [
    "CAGR_MIN_DAYS",
    "EXPLAINED_VALUES",
    "MIN_RETURNS",
    "Breakdown",
    "ClosedTrade",
    "EquitySample",
    "Metrics",
    "OrderOutcomes",
    "TradeTally",
    "closed_trades",
    "compute_metrics",
    "curve_returns",
    "day_numbers",
    "drawdown_values",
    "drawdowns",
    "labelled_returns",
    "metrics_from",
    "period_returns",
    "reason_of",
    "risk_figures",
    "stamp",
]

_SECONDS_PER_YEAR = 365.25 * 86_400
#: Runs shorter than this many days get no CAGR (see the module docstring).
CAGR_MIN_DAYS = 365
#: Figures read from the spread of the returns need this many returns (see the module docstring).
MIN_RETURNS = 30
#: The value at risk's confidence, and the tail ratio's percentile.
VAR_CONFIDENCE = 0.95
TAIL_CUTOFF = 0.95


def stamp(moment: datetime) -> str:
    """A timestamp as the report shows it: ISO 8601 to the second (``2024-01-02T14:30:00+00:00``)."""
    return moment.isoformat(timespec="seconds")


@attrs.frozen(slots=True)
class Metrics:
    """The numbers a report leads with (see the module docstring for how each is computed)."""

    initial_balance: float
    final_equity: float
    pnl: float
    total_return: float
    cagr: float
    annual_volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    max_drawdown_duration_days: float
    round_trips: int
    win_rate: float
    profit_factor: float
    average_win: float
    average_loss: float
    expectancy: float
    average_holding_hours: float
    time_in_market: float
    fees: float
    slippage_cost: float
    orders: int
    fills: int
    start: str
    end: str
    benchmark: str = ""
    benchmark_return: float = math.nan
    alpha: float = math.nan
    beta: float = math.nan
    calmar: float = math.nan
    skew: float = math.nan
    tail_ratio: float = math.nan
    value_at_risk: float = math.nan
    #: How many returns the figures above were read from, and what one is ("daily" or "per sample").
    returns_count: int = 0
    returns_basis: str = "daily"
    #: How the orders ended (or stand, for those still working at the end), by status.
    orders_by_status: dict[str, int] = attrs.Factory(dict)
    #: The most common reasons orders were rejected, expired or canceled by the venue, with their counts.
    top_reasons: tuple[tuple[str, int], ...] = ()
    #: The most common reasons per final status (rejected, expired, canceled), with their counts.
    reasons_by_status: dict[str, tuple[tuple[str, int], ...]] = attrs.Factory(dict)
    #: Rows the price sources skipped as bad (``on_bad_row: skip``); each is logged with its line.
    skipped_rows: int = 0
    #: Why a figure is missing (NaN), by its name: ``{"cagr": "annualised only for runs of 365 days or more"}``.
    notes: dict[str, str] = attrs.Factory(dict)
    #: Each strategy's share, and each symbol's (their `pnl` add up to the account's).
    by_strategy: dict[str, Breakdown] = attrs.Factory(dict)
    by_symbol: dict[str, Breakdown] = attrs.Factory(dict)

    @property
    def failed_share(self) -> float:
        """The share of orders that were refused at the door, rejected or expired (0 without orders)."""
        by_status = self.orders_by_status
        refused = by_status.get(REFUSED, 0)
        failed = by_status.get("rejected", 0) + by_status.get("expired", 0) + refused
        asked = self.orders + refused
        return failed / asked if asked else 0.0


_NUMBERS = re.compile(r"[-+]?\d[\d,]*(\.\d+)?|'[^']*'|[0-9a-f]{8}-[0-9a-f-]{27}")


def _general(reason: str) -> str:
    """A reason in words shared by orders alike: before its first colon, numbers and names left out."""
    text = reason.split(":", 1)[0] if ":" in reason else reason
    return _NUMBERS.sub("#", text).strip()


def reason_of(order: Order) -> str | None:
    """Why an order ended as it did, in words shared by orders alike (numbers and names left out), or None."""
    if order.reject_reason:
        return _general(order.reject_reason)
    if order.status is OrderStatus.EXPIRED:
        return f"{order.time_in_force.value} order expired"
    return None


#: The summary's name for orders refused at the door (`OrderRefused`): never recorded, counted apart.
REFUSED = "refused"


class OrderOutcomes:
    """Counts how a run's orders ended, by status and by reason, for the summary (nothing kept per order); orders
    refused at the door are counted as ``refused``."""

    def __init__(self) -> None:
        #: Orders by final status (a plain dict: compiled, its lookups and stores are native, a `Counter`'s generic).
        self.by_status: dict[str, int] = {}
        self.reasons: Counter[str] = Counter()
        self.reasons_by_status: dict[str, Counter[str]] = {}

    def add(self, order: Order) -> None:
        """Count one order, in its final status (or as it stands at the end of the run)."""
        # `_value_` is the member's own attribute: on CPython 3.11 `.value` is a Python property, and hashing a
        # member (`in` a set of members) a Python `__hash__`; a value's hash is cached
        status = order.status._value_
        by_status = self.by_status
        by_status[status] = by_status.get(status, 0) + 1
        if status in EXPLAINED_VALUES:
            self.add_reason(order, status)

    def add_reason(self, order: Order, status: str) -> None:
        """Count the reason an order ended in `status` (rejected, expired, canceled: `EXPLAINED_VALUES`), when it
        has one; `add` counts the order itself (the run's records count both in line)."""
        reason = reason_of(order)
        if reason is not None:
            self._reason(status, reason)

    def add_refusal(self, refusal: BaseException) -> None:
        """Count one order refused at the door (`OrderRefused`), by its reason in general words."""
        by_status = self.by_status
        by_status[REFUSED] = by_status.get(REFUSED, 0) + 1
        self._reason(REFUSED, _general(str(refusal)))

    def _reason(self, status: str, reason: str) -> None:
        self.reasons[reason] += 1
        counter = self.reasons_by_status.get(status)
        if counter is None:
            counter = self.reasons_by_status[status] = Counter()
        counter[reason] += 1


_EXPLAINED = frozenset({OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.CANCELED})
#: The values of the final statuses whose orders' reasons are counted (`OrderOutcomes.add_reason`).
EXPLAINED_VALUES = frozenset(member.value for member in _EXPLAINED)
#: Reasons listed in a summary.
TOP_REASONS = 5


def period_returns(
    times: Sequence[datetime], values: Sequence[float], periods_per_year: int = 252
) -> tuple[np.ndarray, float]:
    """Per-period returns of `values` sampled at `times`, and how many periods make a year (see the module
    docstring: daily closes when the samples span two dates or more, the first from the first sample; else the
    raw samples)."""
    _, returns, periods = labelled_returns(times, values, periods_per_year)
    return returns, periods


def labelled_returns(
    times: Sequence[datetime], values: Sequence[float], periods_per_year: int = 252
) -> tuple[list[str], np.ndarray, float]:
    """`period_returns` with each return's label: the date of its daily close (``2024-01-03``), or the time of
    its sample when the samples lie within one date, so that the returns of two runs can be lined up (a sweep's
    overfitting statistics do)."""
    labels: list[str]
    if len({moment.date() for moment in times}) >= 2:
        closes: dict[date, float] = {}
        for moment, value in zip(times, values, strict=True):
            closes[moment.date()] = value
        # The run's start is the close before its first day, so the first day's move counts (a first day whose
        # only sample is the start has no move of its own).
        first_day_moved = times[1].date() == times[0].date()
        labels = [day.isoformat() for day in closes]
        if first_day_moved:
            labels.insert(0, times[0].isoformat())
        series = np.array([values[0], *closes.values()] if first_day_moved else list(closes.values()), dtype=float)
        periods = float(periods_per_year)
    else:
        labels = [moment.isoformat() for moment in times]
        series = np.array(values, dtype=float)
        seconds = np.array([moment.timestamp() for moment in times], dtype=float)
        spacing = float(np.median(np.diff(seconds))) if len(seconds) > 1 else 0.0
        periods = _SECONDS_PER_YEAR / spacing if spacing > 0 else math.nan
    if len(series) < 2:
        return [], np.array([], dtype=float), periods
    previous = series[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous != 0, series[1:] / previous - 1.0, 0.0)
    return labels[1:], returns, periods


def day_numbers(curve: EquityCurve) -> np.ndarray:
    """Each sample's UTC date as an ordinal (`date.toordinal`), read one datetime at a time."""
    return np.fromiter((when.toordinal() for when in curve.moments()), np.int64, count=len(curve))


def curve_returns(
    curve: EquityCurve,
    values: np.ndarray | None = None,
    periods_per_year: int = 252,
    days: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """`period_returns` over a curve's columns (`values`: another series at the same samples, e.g. the
    benchmark's; `days`: `day_numbers` when already known): the same numbers, without a list of datetimes."""
    series = curve.values() if values is None else np.asarray(values, dtype=float)
    days = day_numbers(curve) if days is None else days
    count = len(days)
    if count and bool(np.any(days != days[0])):
        if bool(np.all(days[1:] >= days[:-1])):
            closes = series[np.flatnonzero(np.append(days[1:] != days[:-1], True))]
        else:  # out of order: each date's last sample, the dates in the order first seen (as a dict keeps them)
            last: dict[int, int] = {}
            for index, day in enumerate(days.tolist()):
                last[day] = index
            closes = series[np.fromiter(last.values(), np.int64, count=len(last))]
        # The run's start is the close before its first day, so the first day's move counts.
        series = np.concatenate((series[:1], closes)) if days[1] == days[0] else closes
        periods = float(periods_per_year)
    else:
        seconds = np.fromiter((when.timestamp() for when in curve.moments()), float, count=count)
        spacing = float(np.median(np.diff(seconds))) if count > 1 else 0.0
        periods = _SECONDS_PER_YEAR / spacing if spacing > 0 else math.nan
    if len(series) < 2:
        return np.array([], dtype=float), periods
    previous = series[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous != 0, series[1:] / previous - 1.0, 0.0)
    return returns, periods


def drawdowns(equity: Sequence[EquitySample]) -> list[float]:
    """Each sample's drawdown: equity / the running peak - 1 (<= 0; 0 while the peak is not positive)."""
    return drawdown_values(as_curve(equity).values()).tolist()


def drawdown_values(values: np.ndarray) -> np.ndarray:
    """`drawdowns` of equity `values` as a numpy array (the report's columns)."""
    peak = np.fmax.accumulate(values) if len(values) else values.copy()  # fmax: a NaN sample is no peak
    with np.errstate(divide="ignore", invalid="ignore"):
        series = values / peak
        series -= 1.0
        series[~(peak > 0)] = 0.0
    return series


def _max_drawdown(curve: EquityCurve, series: np.ndarray) -> tuple[float, float]:
    """Max drawdown (<= 0) and the longest peak-to-recovery time in days (to the end if never regained).

    Only a fall below the peak starts a drawdown: a curve that never falls has a duration of 0.
    """
    if not len(series):
        return 0.0, 0.0
    peaks = np.flatnonzero(~(series < 0.0))  # the samples at their running peak (a NaN counts, as before)
    longest = 0.0
    if len(peaks):
        falls = np.flatnonzero(np.diff(peaks) > 1)  # a peak followed by a fall, regained at the next peak
        ends = [(int(peaks[i]), int(peaks[i + 1])) for i in falls]
        if peaks[-1] != len(series) - 1:
            ends.append((int(peaks[-1]), len(series) - 1))  # never regained: to the end
        seconds = curve.seconds
        for peak, end in ends:
            longest = max(longest, (moment(seconds[end]) - moment(seconds[peak])).total_seconds())
    return float(np.fmin.reduce(series)), longest / 86_400


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
    prices: Mapping[str, float] | None = None,
    benchmark: tuple[str, Sequence[float]] | None = None,
) -> Metrics:
    """The run's metrics; `equity` must end with the final sample (its equity is the final equity). `prices` are
    the last market prices open positions are valued at in the breakdowns (default: each symbol's last fill);
    `benchmark` is the benchmark's name and its values at the equity samples' times."""
    tally = TradeTally(keep=0)
    for fill in fills:
        tally.add(fill)
    return metrics_from(
        equity,
        tally,
        len(orders),
        initial_balance,
        risk_free_rate=risk_free_rate,
        periods_per_year=periods_per_year,
        prices=prices,
        benchmark=benchmark[1] if benchmark else None,
        benchmark_name=benchmark[0] if benchmark else "",
    )


def risk_figures(
    returns: np.ndarray,
    periods: float,
    risk_free_rate: float,
    notes: dict[str, str],
    *,
    min_returns: int = MIN_RETURNS,
) -> tuple[float, float, float]:
    """Annual volatility, Sharpe and Sortino (NaN, with a note, when they cannot be computed: fewer than
    `min_returns` returns, or no spread). A sweep ranking short windows passes a smaller `min_returns`."""
    if len(returns) < max(min_returns, 2) or not math.isfinite(periods):
        why = f"needs at least {max(min_returns, 2)} returns, the run has {len(returns)}"
        notes.update(annual_volatility=why, sharpe=why, sortino=why)
        return math.nan, math.nan, math.nan
    excess = returns - risk_free_rate / periods
    deviation = float(np.std(returns, ddof=1))
    volatility = deviation * math.sqrt(periods)
    sharpe = _ratio(float(np.mean(excess)), deviation) * math.sqrt(periods)
    if math.isnan(sharpe):
        notes["sharpe"] = "the returns do not vary (zero standard deviation)"
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    sortino = _ratio(float(np.mean(excess)), downside) * math.sqrt(periods)
    if math.isnan(sortino):
        notes["sortino"] = "no return below the risk-free rate (zero downside deviation)"
    return volatility, sharpe, sortino


def _greeks(returns: np.ndarray, benchmark: np.ndarray, periods: float, notes: dict[str, str]) -> tuple[float, float]:
    """Alpha (annualised) and beta of `returns` against `benchmark` returns of the same periods."""
    if len(returns) < 2 or len(benchmark) != len(returns) or not math.isfinite(periods):
        notes["alpha"] = notes["beta"] = f"needs at least 2 returns of the run and the benchmark, has {len(returns)}"
        return math.nan, math.nan
    variance = float(np.var(benchmark, ddof=1))
    if variance <= 0:
        notes["alpha"] = notes["beta"] = "the benchmark's returns do not vary"
        return math.nan, math.nan
    beta = float(np.cov(returns, benchmark, ddof=1)[0, 1]) / variance
    if len(returns) < MIN_RETURNS:
        notes["alpha"] = f"annualised: needs at least {MIN_RETURNS} returns, the run has {len(returns)}"
        return math.nan, beta
    alpha = (float(np.mean(returns)) - beta * float(np.mean(benchmark))) * periods
    return alpha, beta


def _tails(returns: np.ndarray, notes: dict[str, str]) -> tuple[float, float, float]:
    """Skew, tail ratio and one-period value at risk of the returns (quantstats' formulas), NaN with a note
    below `MIN_RETURNS`."""
    if len(returns) < MIN_RETURNS:
        why = f"needs at least {MIN_RETURNS} returns, the run has {len(returns)}"
        notes.update(skew=why, tail_ratio=why, value_at_risk=why)
        return math.nan, math.nan, math.nan
    count = len(returns)
    mean = float(np.mean(returns))
    deviation = float(np.std(returns, ddof=1))
    if deviation > 0:
        standardized = (returns - mean) / deviation
        skew = float(np.sum(standardized**3)) * count / ((count - 1) * (count - 2))
    else:
        skew = math.nan
        notes["skew"] = "the returns do not vary (zero standard deviation)"
    low = float(np.percentile(returns, (1 - TAIL_CUTOFF) * 100))
    high = float(np.percentile(returns, TAIL_CUTOFF * 100))
    tail_ratio = abs(high / low) if low != 0 else math.nan
    if low == 0:
        notes["tail_ratio"] = "the 5th percentile return is 0"
    value_at_risk = NormalDist(mean, deviation).inv_cdf(1 - VAR_CONFIDENCE) if deviation > 0 else mean
    return skew, tail_ratio, value_at_risk


def _cagr(initial: float, final: float, span_seconds: float, notes: dict[str, str]) -> float:
    days = span_seconds / 86_400
    if days < CAGR_MIN_DAYS:
        notes["cagr"] = (
            f"annualised only for runs of {CAGR_MIN_DAYS} days or more; this one spans {days:,.1f} days "
            "(see total return)"
        )
        return math.nan
    if initial <= 0 or final <= 0:
        notes["cagr"] = "undefined when the initial or final equity is not positive"
        return math.nan
    try:
        return (final / initial) ** (_SECONDS_PER_YEAR / span_seconds) - 1.0
    except OverflowError:
        return math.inf


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
    prices: Mapping[str, float] | None = None,
    benchmark: Sequence[float] | None = None,
    benchmark_name: str = "",
) -> Metrics:
    """The run's metrics from the equity samples and a `TradeTally` fed every fill (what a run keeps), the
    orders' `outcomes` when counted, the last market `prices` (for the breakdowns' open positions) and the
    `benchmark`'s values at the equity samples' times, when there is one."""
    notes: dict[str, str] = {}
    curve = as_curve(equity)
    count = len(curve)
    final = curve.equity[-1] if count else initial_balance
    span = (curve[-1].timestamp - curve[0].timestamp).total_seconds() if count > 1 else 0.0
    total_return = final / initial_balance - 1.0 if initial_balance else math.nan
    values = curve.values()
    days = day_numbers(curve)
    returns, periods = curve_returns(curve, values, periods_per_year, days)
    volatility, sharpe, sortino = risk_figures(returns, periods, risk_free_rate, notes)
    benchmark_return = alpha = beta = math.nan
    if benchmark is not None and len(benchmark) == count and count:
        benchmark_return = benchmark[-1] / benchmark[0] - 1.0 if benchmark[0] else math.nan
        bench_returns, _ = curve_returns(curve, np.asarray(benchmark, dtype=float), periods_per_year, days)
        alpha, beta = _greeks(returns, bench_returns, periods, notes)
    max_drawdown, duration = _max_drawdown(curve, drawdown_values(values))
    skew, tail_ratio, value_at_risk = _tails(returns, notes)
    cagr = _cagr(initial_balance, final, span, notes)
    calmar = cagr / abs(max_drawdown) if math.isfinite(cagr) and max_drawdown < 0 else math.nan
    if math.isnan(calmar):
        notes["calmar"] = notes.get("cagr", "no drawdown to divide by")
    statistics = tally.statistics()
    if not tally.count:
        for name in ("win_rate", "profit_factor", "expectancy", "average_holding_hours"):
            notes[name] = "no closed round trip"
    return Metrics(
        initial_balance=initial_balance,
        final_equity=final,
        pnl=final - initial_balance,
        total_return=total_return,
        cagr=cagr,
        annual_volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_drawdown,
        max_drawdown_duration_days=duration,
        round_trips=tally.count,
        **statistics,
        time_in_market=int(np.count_nonzero(curve.values("exposure") > 0)) / count if count else 0.0,
        fees=tally.fees,
        slippage_cost=tally.slippage,
        orders=orders,
        fills=tally.fills,
        start=stamp(curve[0].timestamp) if count else "",
        end=stamp(curve[-1].timestamp) if count else "",
        benchmark=benchmark_name if benchmark is not None else "",
        benchmark_return=benchmark_return,
        alpha=alpha,
        beta=beta,
        calmar=calmar,
        skew=skew,
        tail_ratio=tail_ratio,
        value_at_risk=value_at_risk,
        returns_count=len(returns),
        returns_basis="daily" if periods == float(periods_per_year) else "per sample",
        orders_by_status=dict(sorted(outcomes.by_status.items())) if outcomes is not None else {},
        top_reasons=tuple(outcomes.reasons.most_common(TOP_REASONS)) if outcomes is not None else (),
        reasons_by_status={
            status: tuple(counter.most_common(TOP_REASONS))
            for status, counter in sorted((outcomes.reasons_by_status if outcomes is not None else {}).items())
        },
        skipped_rows=skipped_rows,
        notes=notes,
        by_strategy=tally.by_strategy(prices),
        by_symbol=tally.by_symbol(prices),
    )
