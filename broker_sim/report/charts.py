"""The report's pictures, as PNG bytes: equity against the benchmark with the worst drawdowns shaded and the
drawdown under it, exposure, each traded symbol's price with the fills marked, rolling volatility and Sharpe,
the returns histogram, and net P&L per strategy and per symbol.

matplotlib is imported when a chart is drawn (it costs ~0.7 s and ~30 MB): a run without a report never loads it.
"""

from __future__ import annotations

import contextlib
import gc
import io
import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np

__all__ = [
    "CHART_POINTS",
    "drawing",
    "equity_chart",
    "exposure_chart",
    "extreme_indices",
    "figure_axes",
    "png_bytes",
    "pnl_chart",
    "returns_histogram",
    "rolling_chart",
    "trades_chart",
]

_BLUE, _GREY, _RED, _GREEN = "#1f5fa8", "#888888", "#c0392b", "#2e8b57"
#: The most points a line chart draws (an 11-inch chart is 1,100 pixels wide): a longer series is drawn by the
#: extremes of its buckets (`extreme_indices`), so a 10M-bar run's chart costs what a short run's does.
CHART_POINTS = 4_000


def extreme_indices(columns: Sequence[np.ndarray], limit: int = CHART_POINTS) -> np.ndarray:
    """Which samples a chart draws, in order: every one up to `limit`; beyond, the first and the last, and in
    each of equal buckets of samples the lowest and the highest value of every column (NaN ignored), so that no
    drawdown or spike is hidden by the thinning; never more than `limit` (at least 2 + 2 per column)."""
    count = len(columns[0]) if columns else 0
    if count <= limit:
        return np.arange(count)
    buckets = max(1, (limit - 2) // (2 * len(columns)))
    edges = np.linspace(0, count, buckets + 1).astype(np.int64)
    chosen = [np.array([0, count - 1], dtype=np.int64)]
    for column in columns:
        values = np.asarray(column, dtype=float)
        lows = np.where(np.isnan(values), np.inf, values)
        highs = np.where(np.isnan(values), -np.inf, values)
        spans = list(itertools.pairwise(edges.tolist()))
        chosen.append(np.array([a + int(np.argmin(lows[a:b])) for a, b in spans], dtype=np.int64))
        chosen.append(np.array([a + int(np.argmax(highs[a:b])) for a, b in spans], dtype=np.int64))
    return np.unique(np.concatenate(chosen))


def _thousands(value: float, _position: int) -> str:
    """An axis tick in cash: thousands separated, no decimals."""
    return f"{value:,.0f}"


#: Whether a `drawing` window froze the collector's view (then each chart collects and freezes as it starts).
_FREEZING = [False]


@contextlib.contextmanager
def drawing() -> Iterator[None]:
    """While a report's charts are drawn, the collections that free each chart (a figure and its canvas hold each
    other, and the rendered pixels) walk only what is new: what is alive is frozen (``gc.freeze``), each chart
    starts by collecting the previous one and freezing what survived (matplotlib's modules and caches, made at the
    first chart), and the window ends by collecting the last one and giving everything back to the collector. A
    full collection walks every object of the process (the run's, the libraries'): ~85 ms each, 0.4 s of CPU for
    a demo run's 5 charts. A process that froze objects itself, or runs with the collector off, is left as it
    is (each chart then collects as outside a window)."""
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    _FREEZING[0] = True
    try:
        yield
    finally:
        _FREEZING[0] = False
        gc.collect()
        gc.unfreeze()


def figure_axes(width: float, height: float, rows: int = 1, **options: Any) -> tuple[Any, Any]:
    """A matplotlib figure of `width` x `height` inches (100 dpi) and its `rows` axes, stacked (matplotlib is
    imported here: only a report that draws pays for it)."""
    from matplotlib.figure import Figure

    if _FREEZING[0]:  # the previous chart is garbage now: free it, and keep what outlived it out of later walks
        gc.collect()
        gc.freeze()
    figure = Figure(figsize=(width, height), dpi=100)
    return figure, figure.subplots(rows, 1, **options)


def png_bytes(figure: Any) -> bytes:
    """`figure` as PNG bytes, without the software tag (the same chart gives the same bytes)."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    # A figure and its canvas hold each other (and the rendered pixels): clear it, and (outside a `drawing`
    # window, which collects as each chart starts) collect the previous charts' cycles now, so the report's
    # charts do not pile up until the collector happens to run.
    figure.clear()
    if not _FREEZING[0]:
        gc.collect()
    return buffer.getvalue()


def equity_chart(
    times: Sequence[datetime],
    equity: Sequence[float],
    drawdowns: Sequence[float],
    title: str,
    benchmark: tuple[str, Sequence[float]] | None = None,
    shaded: Sequence[tuple[datetime, datetime]] = (),
) -> bytes:
    """Equity (and the benchmark's curve) over time with the `shaded` periods (the worst drawdowns, from peak to
    recovery or the end) shaded, the drawdown in % below it."""
    figure, (top, bottom) = figure_axes(11, 6, 2, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for index, (begin, end) in enumerate(shaded):
        top.axvspan(begin, end, color=_RED, alpha=0.10, linewidth=0, label="worst drawdowns" if index == 0 else None)
    top.plot(times, equity, color=_BLUE, linewidth=1.2, label="strategy equity")
    if benchmark is not None:
        top.plot(times, benchmark[1], color=_GREY, linewidth=1.0, linestyle="--", label=benchmark[0])
    if benchmark is not None or shaded:
        top.legend(loc="best", fontsize=8)
    top.set_title(title)
    top.set_ylabel("equity")
    top.grid(alpha=0.3)
    bottom.fill_between(times, [d * 100 for d in drawdowns], 0, color=_RED, alpha=0.4, step="post")
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    figure.autofmt_xdate()
    return png_bytes(figure)


def exposure_chart(times: Sequence[datetime], exposure: Sequence[float], equity: Sequence[float]) -> bytes:
    """Gross exposure (the positions' absolute market value) as a share of equity, in %, over time."""
    figure, axes = figure_axes(11, 2.6)
    share = [100.0 * e / q if q > 0 else 0.0 for e, q in zip(exposure, equity, strict=True)]
    axes.fill_between(times, share, 0, color=_BLUE, alpha=0.35, step="post")
    axes.set_ylabel("gross exposure % of equity")
    axes.set_title("exposure")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return png_bytes(figure)


def trades_chart(
    panels: Sequence[tuple[str, Sequence[datetime], Sequence[float], Sequence[tuple[datetime, float, bool]]]],
) -> bytes:
    """One panel per symbol: its sampled price, buys marked ▲ (green) and sells ▼ (red) at their fill prices.
    `panels` are (symbol, times, prices, fills as (time, price, is_buy))."""
    figure, axes_list = figure_axes(11, 1.0 + 2.4 * len(panels), len(panels), sharex=True)
    for axes, (symbol, times, prices, fills) in zip(np.atleast_1d(axes_list), panels, strict=True):
        axes.plot(times, prices, color=_GREY, linewidth=0.9, label=f"{symbol} price")
        for is_buy, marker, colour, label in ((True, "^", _GREEN, "buy"), (False, "v", _RED, "sell")):
            points = [(moment, price) for moment, price, buy in fills if buy is is_buy]
            if points:
                axes.scatter(*zip(*points, strict=True), marker=marker, color=colour, s=18, label=label, zorder=3)
        axes.set_ylabel(symbol)
        axes.legend(loc="best", fontsize=8)
        axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return png_bytes(figure)


def rolling_chart(
    times: Sequence[datetime], volatility: np.ndarray, sharpe: np.ndarray, window: int, basis: str
) -> bytes:
    """Rolling annual volatility (%) and Sharpe over `window` returns of the `basis` ("daily", "per sample")."""
    figure, (top, bottom) = figure_axes(11, 4.5, 2, sharex=True)
    top.plot(times, volatility * 100, color=_BLUE, linewidth=1.0)
    top.set_ylabel("volatility %")
    top.set_title(f"rolling {window} {'days' if basis == 'daily' else 'samples'}, annualised")
    top.grid(alpha=0.3)
    bottom.plot(times, sharpe, color=_GREEN, linewidth=1.0)
    bottom.axhline(0, color=_GREY, linewidth=0.8)
    bottom.set_ylabel("Sharpe")
    bottom.grid(alpha=0.3)
    figure.autofmt_xdate()
    return png_bytes(figure)


def returns_histogram(returns: np.ndarray, basis: str) -> bytes:
    """How the `basis` returns ("daily", "per sample") are spread, in %, with their mean marked."""
    figure, axes = figure_axes(5.5, 3.6)
    values = returns * 100
    axes.hist(values, bins=min(50, max(5, len(values) // 4)), color=_BLUE, alpha=0.75)
    if len(values):
        axes.axvline(float(np.mean(values)), color=_RED, linewidth=1.0, label=f"mean {np.mean(values):.3f} %")
        axes.legend(fontsize=8)
    axes.set_title(f"{basis} returns (%)")
    axes.set_ylabel("count")
    axes.grid(alpha=0.3)
    return png_bytes(figure)


def pnl_chart(groups: Sequence[tuple[str, Sequence[tuple[str, float]]]]) -> bytes:
    """Horizontal bars of net P&L, one panel per grouping (by strategy, by symbol)."""
    figure, panels = figure_axes(5.5, 1.2 + 0.35 * sum(len(rows) + 2 for _, rows in groups), len(groups))
    for axes, (heading, rows) in zip(np.atleast_1d(panels), groups, strict=True):
        names = [name or "(none)" for name, _ in rows]
        values = [value for _, value in rows]
        axes.barh(names, values, color=[_GREEN if v >= 0 else _RED for v in values])
        axes.axvline(0, color=_GREY, linewidth=0.8)
        axes.set_title(f"net P&L {heading}", fontsize=10)
        axes.locator_params(axis="x", nbins=4)
        axes.xaxis.set_major_formatter(_thousands)
        axes.invert_yaxis()
        axes.grid(alpha=0.3, axis="x")
    return png_bytes(figure)
