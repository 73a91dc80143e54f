"""The figures behind the report's sections, from the equity samples and the prices sampled with them: the
benchmark curve, monthly and yearly returns, the worst drawdown periods, rolling volatility and Sharpe, and
each round trip's excursions. Plain numpy; the pictures are `report.charts`, the page `report.html`.

The rules:

* The **benchmark** is bought at the first equity sample and held: one symbol when the config names it
  (``report.benchmark``), else an equal-weight basket of every symbol with prices, each weight bought at that
  symbol's first sampled price (held as cash until then). Its curve starts at the run's initial balance.
* **Monthly** (and yearly) returns chain the equity at the last sample of each calendar month (year, UTC),
  starting from the initial balance.
* A **drawdown period** runs from a peak to the first sample back at that peak (its recovery; none if the run
  ended below it); periods are ranked by depth.
* **Rolling** volatility and Sharpe use daily returns over a window sized to the run: a quarter of its daily
  returns, at least `ROLLING_MIN` and at most `ROLLING_DAYS`, annualised like the headline figures; a run with
  fewer than two windows of daily returns gets none (intraday sample returns annualised over short windows
  swing from -60 to +20 and say nothing).
* A round trip's **MAE**/**MFE** (maximum adverse / favourable excursion) is the worst / best unrealized P&L
  of its quantity between entry and exit, read from the entry and exit prices and the prices sampled with the
  equity between them (every ``report.equity_interval``): a coarser interval can miss an intrabar extreme.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs
import numpy as np

from broker_sim.report.curve import EquityCurve, EquitySample, as_curve, moment
from broker_sim.report.metrics import curve_returns, period_returns
from broker_sim.report.trades import ClosedTrade

__all__ = [
    "DAILY_MIN",
    "ROLLING_DAYS",
    "ROLLING_MIN",
    "DrawdownPeriod",
    "Excursion",
    "benchmark_curve",
    "benchmark_of",
    "chart_returns",
    "curve_chart_returns",
    "drawdown_periods",
    "excursions",
    "monthly_returns",
    "rolling_figures",
]

#: Fewer daily returns than this and the charts use the raw samples' returns instead.
DAILY_MIN = 20
#: The longest rolling window, in daily returns (a quarter of trading days).
ROLLING_DAYS = 63
#: The shortest rolling window: fewer daily returns than this make a rolling Sharpe swing with every day.
ROLLING_MIN = 20
_SECONDS_PER_YEAR = 365.25 * 86_400


@attrs.frozen(slots=True)
class DrawdownPeriod:
    """A fall from a peak: its depth (<= 0), when it began, bottomed and recovered (None: not by the end)."""

    depth: float
    peak: datetime
    trough: datetime
    recovery: datetime | None
    days: float


@attrs.frozen(slots=True)
class Excursion:
    """The worst (`mae`, <= 0) and best (`mfe`, >= 0) unrealized P&L of a round trip while it was open."""

    mae: float
    mfe: float


def benchmark_curve(
    times: Sequence[datetime],
    prices: Sequence[Mapping[str, float]],
    initial: float,
    symbol: str | None = None,
) -> tuple[str, list[float]] | None:
    """The benchmark's name and value at each sample (see the module docstring), or None without prices (or
    without any for `symbol`)."""
    symbols = [symbol] if symbol else sorted({name for sample in prices for name in sample})
    first: dict[str, float] = {}
    for sample in prices:
        for name in symbols:
            price = sample.get(name)
            if name not in first and price is not None and price > 0:
                first[name] = price
    if not first or len(prices) != len(times):
        return None
    weight = initial / len(symbols)
    values = []
    started: dict[str, float] = {}
    last: dict[str, float] = {}
    for sample in prices:
        total = 0.0
        for name in symbols:
            price = sample.get(name)
            if price is not None and price > 0:
                last[name] = price
                started.setdefault(name, price)
            total += weight * (last[name] / started[name]) if name in started else weight
        values.append(total)
    name = symbol if symbol else ("equal-weight " + ", ".join(symbols) if len(symbols) > 1 else symbols[0])
    return f"buy and hold {name}", values


def benchmark_of(curve: EquityCurve, initial: float, symbol: str | None = None) -> tuple[str, array[float]] | None:
    """`benchmark_curve` over a curve's price columns: the same values (as an ``array('d')``), without a dict per
    sample."""
    symbols = [symbol] if symbol else sorted(curve.symbols)
    count = len(curve)
    total = np.zeros(count)
    weight = initial / len(symbols) if symbols else 0.0
    started_any = False
    for name in symbols:
        prices = curve.price_column(name)
        with np.errstate(invalid="ignore"):
            known = prices > 0  # NaN (no price) is not
        if not bool(np.any(known)):
            total += weight
            continue
        started_any = True
        start = int(np.argmax(known))  # held as cash (the weight) until its first price
        first = prices[start]
        if not bool(np.all(known[start:])):  # a gap: each sample takes the last price known by then
            latest = np.where(known, np.arange(count), 0)
            np.maximum.accumulate(latest, out=latest)
            prices = prices[latest]
        # In place (a 10M-bar run has 167k samples): weight * (price / first), as `benchmark_curve` computes it.
        np.divide(prices, first, out=prices)
        np.multiply(weight, prices, out=prices)
        prices[:start] = weight
        total += prices
    if not started_any:
        return None
    name = symbol if symbol else ("equal-weight " + ", ".join(symbols) if len(symbols) > 1 else symbols[0])
    values = array("d")
    values.frombytes(total.data.cast("B"))
    return f"buy and hold {name}", values


def chart_returns(times: Sequence[datetime], values: Sequence[float]) -> tuple[np.ndarray, float, str]:
    """The returns the charts use, periods per year, and what one period is ("daily" or "per sample")."""
    returns, periods = period_returns(times, values)
    if len(returns) >= DAILY_MIN and periods == 252:
        return returns, periods, "daily"
    series = np.array(values, dtype=float)
    if len(series) < 2:
        return np.array([], dtype=float), math.nan, "per sample"
    seconds = np.array([t.timestamp() for t in times], dtype=float)
    spacing = float(np.median(np.diff(seconds)))
    previous = series[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        sample_returns = np.where(previous != 0, series[1:] / previous - 1.0, 0.0)
    return sample_returns, (_SECONDS_PER_YEAR / spacing if spacing > 0 else math.nan), "per sample"


def curve_chart_returns(curve: EquityCurve, days: np.ndarray | None = None) -> tuple[np.ndarray, float, str]:
    """`chart_returns` over a curve's columns (`days`: its `day_numbers`, when already known)."""
    returns, periods = curve_returns(curve, days=days)
    if len(returns) >= DAILY_MIN and periods == 252:
        return returns, periods, "daily"
    series = curve.values()
    if len(series) < 2:
        return np.array([], dtype=float), math.nan, "per sample"
    seconds = np.fromiter((when.timestamp() for when in curve.moments()), float, count=len(curve))
    spacing = float(np.median(np.diff(seconds)))
    previous = series[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        sample_returns = np.where(previous != 0, series[1:] / previous - 1.0, 0.0)
    return sample_returns, (_SECONDS_PER_YEAR / spacing if spacing > 0 else math.nan), "per sample"


def rolling_figures(returns: np.ndarray, periods: float) -> tuple[int, np.ndarray, np.ndarray]:
    """The window (in returns: a quarter of them, from `ROLLING_MIN` to `ROLLING_DAYS`) and the rolling annual
    volatility and Sharpe at each return from the window's end on (NaN before, and where the deviation is zero).
    With fewer than two windows of returns, every value is NaN."""
    window = min(ROLLING_DAYS, max(ROLLING_MIN, len(returns) // 4))
    volatility = np.full(len(returns), np.nan)
    sharpe = np.full(len(returns), np.nan)
    if len(returns) < 2 * window or not math.isfinite(periods):
        return window, volatility, sharpe
    windows = np.lib.stride_tricks.sliding_window_view(returns, window)
    deviation = windows.std(axis=1, ddof=1)
    mean = windows.mean(axis=1)
    scale = math.sqrt(periods)
    volatility[window - 1 :] = deviation * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe[window - 1 :] = np.where(deviation > 0, mean / deviation * scale, np.nan)
    return window, volatility, sharpe


def monthly_returns(equity: Sequence[EquitySample], initial: float) -> dict[int, dict[int, float]]:
    """Each calendar month's return by year and month (1-12), and the year's under key 0."""
    curve = as_curve(equity)
    month_end: dict[tuple[int, int], float] = {}
    for when, value in zip(curve.moments(), curve.equity, strict=True):
        month_end[(when.year, when.month)] = value
    table: dict[int, dict[int, float]] = {}
    previous = initial
    year_start: dict[int, float] = {}
    for (year, month), value in month_end.items():
        year_start.setdefault(year, previous)
        table.setdefault(year, {})[month] = value / previous - 1.0 if previous else math.nan
        previous = value
        table[year][0] = value / year_start[year] - 1.0 if year_start[year] else math.nan
    return table


def drawdown_periods(equity: Sequence[EquitySample], top: int = 5) -> list[DrawdownPeriod]:
    """The `top` deepest drawdown periods, deepest first."""
    curve = as_curve(equity)
    seconds = curve.seconds
    periods: list[DrawdownPeriod] = []
    peak_value = -math.inf
    peak_at: int | None = None
    trough_value, trough_at = math.inf, None
    for index, value in enumerate(curve.equity):
        if value >= peak_value:
            if trough_at is not None and peak_at is not None and peak_value > 0:
                when = moment(seconds[index])
                periods.append(
                    _period(peak_value, moment(seconds[peak_at]), trough_value, moment(seconds[trough_at]), when, when)
                )
            peak_value, peak_at = value, index
            trough_value, trough_at = math.inf, None
        elif value < trough_value:
            trough_value, trough_at = value, index
    if trough_at is not None and peak_at is not None and peak_value > 0:
        end = moment(seconds[-1])
        periods.append(
            _period(peak_value, moment(seconds[peak_at]), trough_value, moment(seconds[trough_at]), end, None)
        )
    periods.sort(key=lambda p: p.depth)
    return periods[:top]


def _period(
    peak: float, peak_time: datetime, trough: float, trough_time: datetime, until: datetime, recovery: datetime | None
) -> DrawdownPeriod:
    """A drawdown period lasting from `peak_time` to `until` (its recovery, or the end of the run)."""
    days = (until - peak_time).total_seconds() / 86_400
    return DrawdownPeriod(trough / peak - 1.0, peak_time, trough_time, recovery, days)


def excursions(
    trades: Sequence[ClosedTrade],
    times: Sequence[datetime] | EquityCurve,
    prices: Sequence[Mapping[str, float]] = (),
) -> list[Excursion]:
    """Each round trip's MAE and MFE (see the module docstring): at the sampled `prices` (one mapping per sample
    at `times`), or at an `EquityCurve`'s price columns."""
    curve = times if isinstance(times, EquityCurve) else None
    result = []
    seconds = None  # the samples' times to the microsecond, as their datetimes compare
    if curve is not None:
        seconds = np.fromiter((when.timestamp() for when in curve.moments()), float, count=len(curve))
    columns: dict[str, np.ndarray] = {}
    for trade in trades:
        seen = [trade.entry_price, trade.exit_price]
        if curve is not None and seconds is not None:
            lo = int(np.searchsorted(seconds, trade.entry_time.timestamp(), "left"))
            hi = int(np.searchsorted(seconds, trade.exit_time.timestamp(), "right"))
            if trade.symbol not in columns:
                columns[trade.symbol] = curve.price_column(trade.symbol)
            window = columns[trade.symbol][lo:hi]
            seen.extend(window[~np.isnan(window)].tolist())
        else:
            assert not isinstance(times, EquityCurve)
            lo = bisect.bisect_left(times, trade.entry_time)
            hi = bisect.bisect_right(times, trade.exit_time)
            seen.extend(p for sample in prices[lo:hi] if (p := sample.get(trade.symbol)) is not None)
        direction = 1.0 if trade.side == "long" else -1.0
        moves = [direction * (price - trade.entry_price) * trade.quantity for price in seen]
        result.append(Excursion(min(0.0, *moves), max(0.0, *moves)))
    return result
