"""sweep.html: one self-contained page (charts embedded as data URIs, inline CSS, no script, nothing fetched)
with the best point, the objective over the parameters, the walk-forward, the top points, the failed ones and
the overfitting statistics with their definitions and sources. The template is ``sweep.html.j2`` beside it."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import jinja2

from broker_sim.report.html import shown
from broker_sim.sweeps.charts import heatmap, line, logits_histogram, oos_chart, parallel_coordinates
from broker_sim.sweeps.space import params_label

__all__ = ["render_page"]

_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_TEMPLATE = _ENV.from_string(resources.files("broker_sim.sweeps").joinpath("sweep.html.j2").read_text("utf-8"))
#: Points listed in the page's table (the files have every one).
TOP_POINTS = 20
_TOP_FIGURES = ("total_return", "sharpe", "max_drawdown", "round_trips", "psr", "dsr")


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode("ascii") if data else None


def _value(value: Any) -> Any:
    """A table cell as the page shows it: NaN as None (a missing figure)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _chart(table: Any, keys: Sequence[str], objective: str) -> bytes | None:
    """The objective over the parameters: a line for one, a heatmap for two, parallel coordinates for more."""
    rows = table[table["window"].isna() | (table["window"] == "train")] if "window" in table else table
    if "fold" in rows and rows["fold"].notna().any():
        rows = rows[rows["fold"] == rows["fold"].max()]
    if rows.empty:
        return None
    values = [_value(v) for v in rows[objective].tolist()]
    columns = [[_value(v) for v in rows[key].tolist()] for key in keys]
    if len(keys) == 1:
        return line(columns[0], values, keys[0], objective)
    if len(keys) == 2:
        return heatmap(columns[0], columns[1], values, keys[0], keys[1], objective)
    return parallel_coordinates(columns, keys, values, objective)


def render_page(
    *,
    title: str,
    table: Any,
    keys: Sequence[str],
    summary: Mapping[str, Any],
    curve: Sequence[tuple[float, float, int]] = (),
) -> str:
    """The page, from the sweep's final table and summary (`driver`)."""
    objective = str(summary["objective"])
    best = summary.get("best")
    ranked = table.loc[list(summary.get("ranking", []))]
    figures = [f for f in (objective, *_TOP_FIGURES) if f in table]
    figures = list(dict.fromkeys(figures))
    top_columns = ["point", *(["fold"] if "fold" in table else []), *keys, *figures]
    top_rows = [
        [
            shown(c, _value(v)) if c in figures else ("-" if _value(v) is None else v)
            for c, v in zip(top_columns, row, strict=True)
        ]
        for row in ranked[top_columns].head(TOP_POINTS).itertuples(index=False)
    ]
    failures = [
        (row["point"], params_label({key: _value(row[key]) for key in keys}), row["error"])
        for row in table[table["status"] == "failed"].to_dict("records")
    ]
    best_dsr = None
    if best is not None:
        match = table[(table["point"] == best["point"]) & ((table["window"] != "test") if "window" in table else True)]
        if "fold" in table and table["fold"].notna().any():
            match = match[match["fold"] == table["fold"].max()]
        best_dsr = _value(match["dsr"].iloc[0]) if len(match) else None
    walk = summary.get("walk_forward")
    walk_view = None
    if walk:
        walk_view = {
            "spec": walk["spec"],
            "oos": {k: shown(k, v) for k, v in walk["out_of_sample"].items()},
            "folds": [
                {
                    **f,
                    "params_text": params_label(f["params"]),
                    "train_text": _number(f["train_objective"]),
                    "test_text": _number(f["test_objective"]),
                }
                for f in walk["folds"]
            ],
        }
    logits = summary.get("logits") or []
    return _TEMPLATE.render(
        title=title,
        summary=summary,
        best_params=params_label(best["params"]) if best else "",
        best_objective=_number(best["objective"] if best else None),
        best_dsr=_number(best_dsr),
        pbo=_number(summary.get("pbo")),
        oos_loss=_number(summary.get("oos_loss")),
        sr0=_number(summary.get("sr0"), 4),
        chart=_b64(_chart(table, keys, objective)),
        walk=walk_view,
        oos_chart=_b64(oos_chart(curve)) if curve else None,
        logits_chart=_b64(logits_histogram(logits)) if logits else None,
        top_columns=top_columns,
        top_rows=top_rows,
        failures=failures,
    )
