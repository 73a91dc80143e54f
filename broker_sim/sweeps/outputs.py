"""A finished sweep's own files in its folder: the final table, best.yaml, the walk-forward's out-of-sample
equity, summary.json and sweep.html (the points' files and the full reports are written as points finish)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from broker_sim.config import Config
from broker_sim.report.charts import drawing
from broker_sim.report.files import json_value
from broker_sim.sweeps.best import best_config_text
from broker_sim.sweeps.page import render_page
from broker_sim.sweeps.records import iso
from broker_sim.sweeps.results import SweepFolder

__all__ = ["write_outputs"]

#: Summary entries that are in the table's ``attrs`` but not in summary.json (long lists the page draws).
_NOT_IN_FILE = ("logits", "ranking")


def write_outputs(
    folder: SweepFolder,
    *,
    config: Config,
    overrides: Mapping[str, Any],
    table: Any,
    summary: Mapping[str, Any],
    keys: Sequence[str],
    curve: Sequence[tuple[float, float, int]] = (),
) -> None:
    """Write the sweep's files from its final `table` and `summary`; `overrides` are the sweep's ``--set``s
    (best.yaml has them with the best point's parameters); `curve` the walk-forward's stitched equity."""
    folder.write_table(table)
    best = summary.get("best")
    if best is not None:
        text = best_config_text(config, {**overrides, **best["params"]}, folder.path, summary)
        folder.write_text("best.yaml", text)
    if summary.get("walk_forward") is not None:
        rows = "".join(f"{iso(seconds)},{equity!r},{fold}\n" for seconds, equity, fold in curve)
        folder.write_text("oos_equity.csv", "timestamp,equity,fold\n" + rows)
    for_file = {key: value for key, value in summary.items() if key not in _NOT_IN_FILE}
    folder.write_text("summary.json", json.dumps(json_value(for_file), indent=2, allow_nan=False) + "\n")
    title = config.report.title or (config.path.stem if config.path else "broker-sim sweep")
    with drawing():
        page = render_page(title=title, table=table, keys=keys, summary=summary, curve=curve)
    folder.write_text("sweep.html", page)
