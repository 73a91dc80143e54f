"""The sweep page's pictures, as PNG bytes (matplotlib, imported when a chart is drawn): the objective as a
heatmap over two parameters, as a line over one, as parallel coordinates over more; the CSCV logits; the
walk-forward's stitched out-of-sample equity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from broker_sim.report.charts import figure_axes, png_bytes

__all__ = ["heatmap", "line", "logits_histogram", "oos_chart", "parallel_coordinates"]

_BLUE, _GREY, _RED = "#1f5fa8", "#888888", "#c0392b"


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def heatmap(x: Sequence[Any], y: Sequence[Any], values: Sequence[float], x_name: str, y_name: str, what: str) -> bytes:
    """`what` at each (x, y) point as a coloured grid, each cell labelled (blank: the point failed)."""
    columns = sorted(set(x), key=_order)
    rows = sorted(set(y), key=_order)
    grid = np.full((len(rows), len(columns)), np.nan)
    for a, b, value in zip(x, y, values, strict=True):
        grid[rows.index(b), columns.index(a)] = value if value is not None else np.nan
    figure, axes = figure_axes(min(14, 2 + 0.7 * len(columns)), min(10, 1.5 + 0.45 * len(rows)))
    masked = np.ma.masked_invalid(grid)
    image = axes.imshow(masked, cmap="RdYlGn", aspect="auto", origin="lower")
    axes.set_xticks(range(len(columns)), [_label(c) for c in columns], rotation=45 if len(columns) > 10 else 0)
    axes.set_yticks(range(len(rows)), [_label(r) for r in rows])
    axes.set_xlabel(x_name)
    axes.set_ylabel(y_name)
    if len(rows) * len(columns) <= 400:
        for i in range(len(rows)):
            for j in range(len(columns)):
                if not math.isnan(grid[i, j]):
                    axes.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=axes, label=what)
    return png_bytes(figure)


def line(x: Sequence[Any], values: Sequence[float], x_name: str, what: str) -> bytes:
    """`what` against one parameter."""
    pairs = sorted(((a, v) for a, v in zip(x, values, strict=True) if v is not None), key=lambda p: _order(p[0]))
    figure, axes = figure_axes(9, 4)
    labels = [_label(a) for a, _ in pairs]
    axes.plot(range(len(pairs)), [v for _, v in pairs], marker="o", color=_BLUE)
    axes.set_xticks(range(len(pairs)), labels, rotation=45 if len(pairs) > 12 else 0)
    axes.set_xlabel(x_name)
    axes.set_ylabel(what)
    axes.grid(alpha=0.3)
    return png_bytes(figure)


def parallel_coordinates(
    columns: Sequence[Sequence[Any]], names: Sequence[str], values: Sequence[float], what: str
) -> bytes:
    """One line per point across the parameters (each axis scaled to its range), coloured by `what`."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    kept = [i for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    scaled = []
    for column in columns:
        ordered = sorted(set(column), key=_order)
        positions = [ordered.index(value) for value in column]
        top = max(len(ordered) - 1, 1)
        scaled.append([positions[i] / top for i in kept])
    shown = [values[i] for i in kept]
    figure, axes = figure_axes(max(7, 2.2 * len(names)), 4.5)
    norm = Normalize(min(shown, default=0), max(shown, default=1))
    cmap = colormaps["RdYlGn"]
    for index in np.argsort(shown):
        axes.plot(range(len(names)), [axis[index] for axis in scaled], color=cmap(norm(shown[index])), alpha=0.7)
    axes.set_xticks(range(len(names)), names)
    axes.set_yticks([0, 1], ["low", "high"])
    axes.grid(alpha=0.3, axis="x")
    from matplotlib.cm import ScalarMappable

    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, label=what)
    return png_bytes(figure)


def logits_histogram(logits: Sequence[float]) -> bytes:
    """CSCV's logits: the mass at or left of 0 is the PBO."""
    figure, axes = figure_axes(8, 3.5)
    finite = [v for v in logits if math.isfinite(v)]
    axes.hist(finite, bins=min(40, max(5, len(set(finite)))), color=_BLUE, alpha=0.8)
    axes.axvline(0, color=_RED, linewidth=1.2)
    axes.set_xlabel("logit of the in-sample winner's out-of-sample rank (<= 0: overfit)")
    axes.set_ylabel("splits")
    axes.grid(alpha=0.3)
    return png_bytes(figure)


def oos_chart(curve: Sequence[tuple[float, float, int]]) -> bytes:
    """The walk-forward's stitched out-of-sample equity, the folds' starts marked."""
    figure, axes = figure_axes(11, 4)
    times = [datetime.fromtimestamp(seconds, UTC) for seconds, _, _ in curve]
    axes.plot(times, [equity for _, equity, _ in curve], color=_BLUE, linewidth=1.2)
    starts = [times[i] for i in range(len(curve)) if i == 0 or curve[i][2] != curve[i - 1][2]]
    for start in starts:
        axes.axvline(start, color=_GREY, linewidth=0.6, linestyle="--")
    axes.set_ylabel("out-of-sample equity")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return png_bytes(figure)


def _order(value: Any) -> tuple[int, Any]:
    """Numbers in numeric order, then anything else by its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))
