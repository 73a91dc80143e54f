"""The report's files: summary.json, trades.csv, orders.csv, equity.csv, equity.png and a self-contained
report.html (`report.html`: the charts embedded as data URIs, inline CSS, nothing fetched from anywhere), and
with ``tearsheet=True`` quantstats' own tearsheet.html (the ``[tearsheet]`` extra).

CSV numbers are written with ``repr`` (shortest round-trip form), so identical runs give byte-identical files.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from broker_sim.errors import ConfigError
from broker_sim.models import Fill, Order
from broker_sim.report import charts
from broker_sim.report.html import render_html
from broker_sim.report.metrics import EquitySample, Metrics, TradeTally, drawdowns
from broker_sim.report.spool import FILL_COLUMNS, ORDER_CSV_COLUMNS, Spool, fill_row, order_row, write_rows
from broker_sim.report.tearsheet import chart_returns, drawdown_periods, excursions, monthly_returns, rolling_figures

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


def check_target(out_dir: str | Path) -> Path:
    """`out_dir` as a report folder, refused with a `ConfigError` before a run if it cannot be one (it is a
    file, or inside one)."""
    target = Path(out_dir)
    for place in (target, *target.parents):
        if place.exists() and not place.is_dir():
            raise ConfigError(f"report folder {target}: {place} is a file, not a folder")
    return target


def _swap_into(staging: Path, target: Path) -> None:
    """Put the finished `staging` folder where `target` is, so `target` is always one whole run: the old folder
    is moved aside first and removed last."""
    aside = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(aside)
    staging.rename(target)
    if aside.exists():
        shutil.rmtree(aside, ignore_errors=True)


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
) -> dict[str, Path]:
    """Write summary.json, trades.csv, orders.csv, equity.csv, equity.png and report.html into `out_dir`;
    returns their paths by name.

    The files are written into a folder beside `out_dir` and moved into place whole, so an interrupted write
    never leaves a folder that mixes two runs. A run that stopped early passes ``complete=False`` and the
    `reason`: summary.json and the page say so. `tally` (the run's `TradeTally`, keeping `HTML_TRADES` trades)
    saves going through the fills again for the closed-trades table. `prices` are the last market prices at each
    equity sample (for the trades' excursions), `benchmark` the benchmark's name and values at the samples;
    `tearsheet` adds quantstats' tearsheet.html (needs the ``[tearsheet]`` extra)."""
    target = check_target(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    out_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        _write_files(
            out_dir,
            metrics,
            equity,
            fills,
            orders,
            _Page(title, config_text, tally, complete, reason, prices, benchmark),
        )
        if tearsheet:
            write_tearsheet(out_dir / "tearsheet.html", equity, benchmark, title)
        _swap_into(out_dir, target)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    return {name: target / path.name for name, path in _paths(target).items()}


def _paths(out_dir: Path) -> dict[str, Path]:
    return {
        name: out_dir / file
        for name, file in (
            ("summary", "summary.json"),
            ("trades", "trades.csv"),
            ("orders", "orders.csv"),
            ("equity", "equity.csv"),
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
    paths["summary"].write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    write_rows(paths["trades"], FILL_COLUMNS, fills.rows() if isinstance(fills, Spool) else map(fill_row, fills))
    write_rows(
        paths["orders"], ORDER_CSV_COLUMNS, orders.rows() if isinstance(orders, Spool) else map(order_row, orders)
    )
    series = drawdowns(equity)
    write_rows(
        paths["equity"],
        ("timestamp", "equity", "gross_exposure", "drawdown"),
        (
            [s.timestamp.isoformat(), repr(s.equity), repr(s.exposure), repr(d)]
            for s, d in zip(equity, series, strict=True)
        ),
    )
    times = [s.timestamp for s in equity]
    values = [s.equity for s in equity]
    image = charts.equity_chart(times, values, series, page.title, page.benchmark)
    paths["plot"].write_bytes(image)
    tally = page.tally
    if tally is None:
        tally = TradeTally(keep=HTML_TRADES)
        for fill in fills:
            tally.add(fill)
    returns, periods, basis = chart_returns(times, values)
    window, volatility, sharpe = rolling_figures(returns, periods)
    return_times = _return_times(times, len(returns), basis)
    shown_trades = tally.trades[:HTML_TRADES]
    prices = page.prices if len(page.prices) == len(times) else [{} for _ in times]
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
            "rolling": charts.rolling_chart(return_times, volatility, sharpe, window, basis)
            if len(returns) >= window
            else None,
            "pnl": charts.pnl_chart(pnl_groups) if pnl_groups else None,
        },
        monthly=monthly_returns(equity, metrics.initial_balance),
        drawdowns=drawdown_periods(equity),
        trades=shown_trades,
        trade_count=tally.count,
        excursions=excursions(shown_trades, times, prices),
        returns_count=len(returns),
        basis=basis,
        config_text=page.config_text,
        complete=page.complete,
        reason=page.reason,
    )
    paths["html"].write_text(html, encoding="utf-8")


def _return_times(times: Sequence[Any], count: int, basis: str) -> list[Any]:
    """When each charted return ends: the last sample of each date for daily returns, else each sample."""
    if basis == "daily":
        last: dict[Any, Any] = {}
        for moment in times:
            last[moment.date()] = moment
        return list(last.values())[1 : count + 1]
    return list(times[1 : count + 1])


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
    closes = pd.Series([s.equity for s in equity], index=index).resample("1D").last().dropna()
    returns = closes.pct_change().dropna()
    bench = None
    if benchmark is not None:
        bench_closes = pd.Series(list(benchmark[1]), index=index).resample("1D").last().dropna()
        bench = bench_closes.pct_change().dropna().rename(benchmark[0])
    with warnings.catch_warnings():  # quantstats' own deprecation noise is not the user's to act on
        warnings.simplefilter("ignore")
        qs.reports.html(returns, benchmark=bench, output=str(path), title=title, download_filename=str(path))
