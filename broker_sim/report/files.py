"""The report's files: summary.json, trades.csv, orders.csv, equity.csv, account_events.csv, equity.png and a
self-contained report.html (`report.html`: the charts embedded as data URIs, inline CSS, nothing fetched from
anywhere), and with ``tearsheet=True`` quantstats' own tearsheet.html (the ``[tearsheet]`` extra).

CSV numbers are written with ``repr`` (shortest round-trip form), so identical runs give byte-identical files.
"""

from __future__ import annotations

import json
import math
import warnings
from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from broker_sim.activities import AccountEvent
from broker_sim.errors import ConfigError
from broker_sim.models import Fill, Order, Side
from broker_sim.report import charts
from broker_sim.report.account_events import ACCOUNT_EVENT_COLUMNS, account_event_row, account_summary
from broker_sim.report.curve import EquityCurve, EquitySample, as_curve, moment
from broker_sim.report.html import render_html
from broker_sim.report.metrics import Metrics, TradeTally, day_numbers, drawdown_values
from broker_sim.report.spool import FILL_COLUMNS, ORDER_CSV_COLUMNS, Spool, fill_row, order_row, write_rows
from broker_sim.report.target import MARKER, check_target, marker_text
from broker_sim.report.tearsheet import (
    DrawdownPeriod,
    curve_chart_returns,
    drawdown_periods,
    excursions,
    monthly_returns,
    rolling_figures,
)
from broker_sim.report.workdir import Workdir

__all__ = ["HTML_TRADES", "check_target", "json_value", "write_report"]

#: Closed trades shown in report.html's table (trades.csv has every fill); a run keeps no more than these.
HTML_TRADES = 500


def json_value(value: Any) -> Any:
    """`value` for JSON: NaN and inf as null, attrs classes as objects, tuples as lists, all the way down."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if attrs.has(type(value)):
        return {k: json_value(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


def write_report(
    out_dir: str | Path,
    *,
    metrics: Metrics,
    equity: Sequence[EquitySample],
    fills: Iterable[Fill],
    orders: Iterable[Order],
    title: str = "broker-sim report",
    config_text: str | None = None,
    tally: TradeTally | None = None,
    complete: bool = True,
    reason: str | None = None,
    prices: Sequence[Mapping[str, float]] = (),
    benchmark: tuple[str, Sequence[float]] | None = None,
    tearsheet: bool = False,
    workdir: Workdir | None = None,
    account_events: Sequence[AccountEvent] = (),
) -> dict[str, Path]:
    """Write summary.json, trades.csv, orders.csv, equity.csv, account_events.csv, equity.png and report.html
    into `out_dir`; returns their paths by name.

    The files are written into a working folder beside `out_dir` (the run's `workdir`, else one made for the
    call) and moved into place whole, so an interrupted write never leaves a folder that mixes two runs; the
    marker (`MARKER`) written last makes it a folder a later report may replace. Only a new or empty folder, or
    one holding an earlier report, is replaced (`check_target`: else `ReportFolderError`, nothing touched).

    A run that stopped early passes ``complete=False`` and the `reason`: summary.json and the page say so.
    `tally` (the run's `TradeTally`, keeping `HTML_TRADES` trades) saves going through the fills again for the
    closed-trades table. `prices` are the last market prices at each equity sample (for the trades'
    excursions), `benchmark` the benchmark's name and values at the samples; `tearsheet` adds quantstats'
    tearsheet.html (needs the ``[tearsheet]`` extra). `account_events` (margin calls, borrow fees, margin
    interest) go to account_events.csv, and their counts and totals to summary.json's ``account``."""
    target = check_target(out_dir)
    own = workdir is None
    work = Workdir.create(target) if workdir is None else workdir
    try:
        staged = work.staging()
        with charts.drawing():
            _write_files(
                staged,
                metrics,
                equity,
                fills,
                orders,
                _Page(title, config_text, tally, complete, reason, prices, benchmark, tuple(account_events)),
            )
        if tearsheet:
            write_tearsheet(staged / "tearsheet.html", equity, benchmark, title)
        written = [entry.name for entry in staged.iterdir()]
        (staged / MARKER).write_text(marker_text(written), encoding="utf-8")
        work.publish(target)
    finally:
        if own:
            work.close()
    return {name: target / path.name for name, path in _paths(target).items()}


def _paths(out_dir: Path) -> dict[str, Path]:
    return {
        name: out_dir / file
        for name, file in (
            ("summary", "summary.json"),
            ("trades", "trades.csv"),
            ("orders", "orders.csv"),
            ("equity", "equity.csv"),
            ("account_events", "account_events.csv"),
            ("plot", "equity.png"),
            ("html", "report.html"),
        )
    }


@attrs.frozen
class _Page:
    """What the page needs beyond the metrics, the equity and the fills."""

    title: str
    config_text: str | None
    tally: TradeTally | None
    complete: bool
    reason: str | None
    prices: Sequence[Mapping[str, float]]
    benchmark: tuple[str, Sequence[float]] | None
    account_events: tuple[AccountEvent, ...] = ()


def _write_files(
    out_dir: Path,
    metrics: Metrics,
    equity: Sequence[EquitySample],
    fills: Iterable[Fill],
    orders: Iterable[Order],
    page: _Page,
) -> None:
    paths = _paths(out_dir)
    summary = {"title": page.title, "complete": page.complete, "reason": page.reason, **json_value(metrics)}
    summary["account"] = account_summary(page.account_events)
    paths["summary"].write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    write_rows(paths["account_events"], ACCOUNT_EVENT_COLUMNS, map(account_event_row, page.account_events))
    write_rows(paths["trades"], FILL_COLUMNS, fills.rows() if isinstance(fills, Spool) else map(fill_row, fills))
    write_rows(
        paths["orders"], ORDER_CSV_COLUMNS, orders.rows() if isinstance(orders, Spool) else map(order_row, orders)
    )
    curve = as_curve(equity, page.prices)
    _write_equity_csv(paths["equity"], equity, curve)
    worst = drawdown_periods(curve)
    # The passes over the whole curve come before the first chart, and the equity and exposure charts keep only the
    # points drawn: drawing is when a report's memory peaks, and those columns' copies (8 bytes a sample each) are
    # gone by then (issue 25). The returns series the later charts draw are computed here too and kept.
    equity_points = _equity_points(curve, page)
    exposure_points = _exposure_points(curve) if len(curve) else None
    returns, periods, basis, closes = _chart_returns(curve)
    window, volatility, sharpe = rolling_figures(returns, periods)
    image = _equity_chart(curve, page, worst, equity_points)
    paths["plot"].write_bytes(image)
    tally = page.tally
    if tally is None:
        tally = TradeTally(keep=HTML_TRADES)
        for fill in fills:
            tally.add(fill)
    rolling = basis == "daily" and len(returns) >= 2 * window
    shown_trades = tally.trades[:HTML_TRADES]
    pnl_groups = [
        (heading, [(name, b.pnl) for name, b in rows.items()])
        for heading, rows in (("by strategy", metrics.by_strategy), ("by symbol", metrics.by_symbol))
        if rows
    ]
    html = render_html(
        title=page.title,
        metrics=metrics,
        charts={
            "equity": image,
            "histogram": charts.returns_histogram(returns, basis),
            "rolling": _rolling_chart(curve, closes, volatility, sharpe, window, basis) if rolling else None,
            "pnl": charts.pnl_chart(pnl_groups) if pnl_groups else None,
            "exposure": charts.exposure_chart(*exposure_points) if exposure_points is not None else None,
            "trades": _trades_chart(metrics, fills, curve),
        },
        monthly=monthly_returns(curve, metrics.initial_balance),
        drawdowns=worst,
        trades=shown_trades,
        trade_count=tally.count,
        excursions=excursions(shown_trades, curve),
        returns_count=len(returns),
        basis=basis,
        config_text=page.config_text,
        complete=page.complete,
        reason=page.reason,
    )
    paths["html"].write_text(html, encoding="utf-8")


#: The deepest drawdowns shaded on the equity chart (the table lists five).
SHADED_DRAWDOWNS = 3
#: Symbols whose prices and fills the report charts (the most traded), and the most markers drawn per symbol.
CHARTED_SYMBOLS = 4
MARKERS_PER_SYMBOL = 2_000


def _trades_chart(metrics: Metrics, fills: Iterable[Fill], curve: EquityCurve) -> bytes | None:
    """Each of the most traded symbols' sampled price (thinned to its extremes past `charts.CHART_POINTS`) with
    its fills marked (every n-th fill past `MARKERS_PER_SYMBOL`), or None when no symbol has both prices and
    fills."""
    counts = {symbol: b.fills for symbol, b in metrics.by_symbol.items() if b.fills}
    symbols = sorted(counts, key=lambda symbol: -counts[symbol])[:CHARTED_SYMBOLS]
    strides = {symbol: max(1, -(-counts[symbol] // MARKERS_PER_SYMBOL)) for symbol in symbols}
    seen = dict.fromkeys(symbols, 0)
    marks: dict[str, list[tuple[Any, float, bool]]] = {symbol: [] for symbol in symbols}
    for fill in fills:
        symbol = fill.symbol
        if symbol in seen:
            if seen[symbol] % strides[symbol] == 0:
                marks[symbol].append((fill.timestamp, fill.price, fill.side is Side.BUY))
            seen[symbol] += 1
    panels = []
    for symbol in symbols:
        prices = curve.price_column(symbol)
        sampled = np.flatnonzero(~np.isnan(prices))
        if len(sampled) and marks[symbol]:
            kept = sampled[charts.extreme_indices([prices[sampled]])]
            panels.append((symbol, list(curve.moments(kept)), prices[kept].tolist(), marks[symbol]))
    return charts.trades_chart(panels) if panels else None


def _write_equity_csv(path: Path, equity: Sequence[EquitySample], curve: EquityCurve) -> None:
    """equity.csv: each sample's time, equity, gross exposure and drawdown (floats as ``repr``)."""
    series = array("d", drawdown_values(curve.values()).tobytes())
    write_rows(
        path,
        ("timestamp", "equity", "gross_exposure", "drawdown"),
        (
            [s.timestamp.isoformat(), repr(s.equity), repr(s.exposure), repr(d)]
            for s, d in zip(equity, series, strict=True)
        ),
    )


def _equity_chart(curve: EquityCurve, page: _Page, worst: Sequence[DrawdownPeriod], points: tuple[Any, ...]) -> bytes:
    """equity.png: equity (and the benchmark) over the drawdown, the deepest drawdowns shaded, at the `points`
    `_equity_points` chose (the extremes of each series past `charts.CHART_POINTS` samples)."""
    end = moment(curve.seconds[-1])
    shaded = [(d.peak, d.recovery or end) for d in worst[:SHADED_DRAWDOWNS]]
    times, values, series, benchmark = points
    return charts.equity_chart(times, values, series, page.title, benchmark, shaded)


def _equity_points(curve: EquityCurve, page: _Page) -> tuple[list[datetime], Any, Any, tuple[str, Any] | None]:
    """The equity chart's points: the times, equity, drawdown and benchmark (its name and values) of the samples
    it draws; the whole columns go when this returns."""
    values = curve.values()
    series = drawdown_values(values)
    benchmark = page.benchmark if page.benchmark is not None and len(page.benchmark[1]) == len(curve) else None
    bench = np.array(benchmark[1], dtype=float) if benchmark is not None else None
    shown = charts.extreme_indices([values, series] + ([bench] if bench is not None else []))
    drawn = (benchmark[0], bench[shown]) if benchmark is not None and bench is not None else None
    return list(curve.moments(shown)), values[shown], series[shown], drawn


def _exposure_points(curve: EquityCurve) -> tuple[list[datetime], list[float], list[float]]:
    """The exposure chart's points (`charts.exposure_chart`'s arguments): the times, exposure and equity of the
    samples it draws, thinned to the extremes of the exposure's share of equity."""
    values, exposure = curve.values(), curve.values("exposure")
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(values > 0, exposure / values, 0.0)
    shown = charts.extreme_indices([share])
    return list(curve.moments(shown)), exposure[shown].tolist(), values[shown].tolist()


def _rolling_chart(
    curve: EquityCurve, closes: np.ndarray | None, volatility: np.ndarray, sharpe: np.ndarray, window: int, basis: str
) -> bytes:
    """The rolling chart at its returns' ends (`closes`: the sample of each daily close; None: each sample's
    return ends at the next sample), thinned to extremes."""
    ends = closes if closes is not None else np.arange(1, len(volatility) + 1)
    shown = charts.extreme_indices([volatility, sharpe])
    return charts.rolling_chart(list(curve.moments(ends[shown])), volatility[shown], sharpe[shown], window, basis)


def _chart_returns(curve: EquityCurve) -> tuple[np.ndarray, float, str, np.ndarray | None]:
    """The returns the charts use, periods per year, their basis, and for daily returns the sample of each
    return's close (None for per-sample returns)."""
    days = day_numbers(curve)
    returns, periods, basis = curve_chart_returns(curve, days)
    closes = _close_indices(days)[-len(returns) :] if basis == "daily" and len(returns) else None
    return returns, periods, basis, closes


def _close_indices(days: np.ndarray) -> np.ndarray:
    """The index of the last sample of each date, the dates in the order first seen."""
    if len(days) and bool(np.all(days[1:] >= days[:-1])):
        return np.flatnonzero(np.append(days[1:] != days[:-1], True))
    last: dict[int, int] = {}
    for index, day in enumerate(days.tolist()):
        last[day] = index
    return np.fromiter(last.values(), np.int64, count=len(last))


def write_tearsheet(
    path: Path, equity: Sequence[EquitySample], benchmark: tuple[str, Sequence[float]] | None, title: str
) -> None:
    """quantstats' HTML tearsheet of the run's daily returns (and the benchmark's), at `path`. Raises
    `ConfigError` naming the extra when quantstats is not installed."""
    try:
        import pandas as pd
        import quantstats as qs
    except ImportError as exc:
        raise ConfigError(f"report.tearsheet needs quantstats: pip install 'broker-sim[tearsheet]' ({exc})") from exc
    index = pd.DatetimeIndex([s.timestamp for s in equity]).tz_convert(None)

    def daily_returns(values: Sequence[float]) -> Any:
        """Daily returns, the first day's from the run's first sample (as the report's metrics)."""
        closes = pd.Series(list(values), index=index).resample("1D").last().dropna()
        if len(index) > 1 and index[1].date() == index[0].date():  # the first day moved from the start
            closes = pd.concat([pd.Series([values[0]], index=[closes.index[0] - pd.Timedelta(days=1)]), closes])
        return closes.pct_change().dropna()

    returns = daily_returns([s.equity for s in equity])
    bench = daily_returns(list(benchmark[1])).rename(benchmark[0]) if benchmark is not None else None
    with warnings.catch_warnings():  # quantstats' own deprecation noise is not the user's to act on
        warnings.simplefilter("ignore")
        qs.reports.html(returns, benchmark=bench, output=str(path), title=title, download_filename=str(path))
