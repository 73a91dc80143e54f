"""A sweep's finished points and what is read from them: the table (a row per point, sorted by point, the same
whatever ran it), each group's best point, the overfitting statistics over each group, and the summary.

A point's record is what ``points.jsonl`` holds (its parameters, figures, returns or error; `record_of`); a
group is the points chosen together: the whole sweep, or one walk-forward fold's training points.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from broker_sim.errors import ConfigError
from broker_sim.sweeps.results import finite, table_row
from broker_sim.sweeps.search import Direction
from broker_sim.sweeps.space import Point, set_options
from broker_sim.sweeps.stats import Overfitting, deflated_sharpe_ratios, probability_of_backtest_overfitting
from broker_sim.sweeps.walkforward import Fold
from broker_sim.sweeps.worker import METRICS, PointResult, PointStatus

__all__ = ["Records", "columns_for", "iso", "key_of", "pandas", "ranking", "record_of"]

#: Where a record's window sorts: a plain sweep's points and a fold's training points, then its test point.
_WINDOW_ORDER = {"": 0, "train": 0, "test": 1}


def pandas() -> Any:
    """pandas, which the table is made with (the ``[sweep]`` extra); a `ConfigError` says how to install it."""
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise ConfigError("the sweep gives its table as a pandas DataFrame: pip install 'broker-sim[sweep]'") from None


def key_of(fold: Fold | None, window: str, index: int) -> str:
    """A point's key in the sweep's folder: its number, or ``fold/window/number`` in a walk-forward."""
    return str(index) if fold is None else f"{fold.number}/{window}/{index}"


def iso(seconds: float | None) -> str | None:
    """POSIX seconds as an ISO 8601 UTC time (None stays None: an open window's end)."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def columns_for(keys: Sequence[str], *, walk_forward: bool) -> list[str]:
    """The table's columns before the statistics: the point, its fold and window, its parameters, its figures."""
    head = ["point", *(["fold", "window", "window_start", "window_end"] if walk_forward else [])]
    return [*head, *keys, "status", "error", "seed", "events", *METRICS]


def record_of(result: PointResult, point: Point, fold: Fold | None, window: str) -> dict[str, Any]:
    """A finished point's record (plain JSON data): a walk-forward test window's keeps its equity for the
    stitched out-of-sample curve."""
    record: dict[str, Any] = {
        "key": result.key,
        "point": point.index,
        "params": point.params,
        "status": result.status.value,
        "error": result.error,
        "seed": result.seed,
        "events": result.events,
        "elapsed_s": round(result.elapsed_s, 4),
        "metrics": result.metrics,
        "returns": [list(pair) for pair in result.returns],
    }
    if fold is not None:
        start, end = fold.train if window == "train" else fold.test
        record.update(fold=fold.number, window=window, window_start=iso(start), window_end=iso(end))
        if window == "test":
            record["equity"] = [list(pair) for pair in result.equity]
    return record


class Records:
    """The finished points by key, and the table, best points, statistics and summary read from them."""

    def __init__(
        self, columns: Sequence[str], objective: str, direction: Direction, recorded: Mapping[str, dict[str, Any]]
    ) -> None:
        self.columns = list(columns)
        self.objective_name = objective
        self.direction = direction
        self.by_key: dict[str, dict[str, Any]] = dict(recorded)
        self.failed = sum(1 for r in self.by_key.values() if r.get("status") == PointStatus.FAILED)

    def __len__(self) -> int:
        return len(self.by_key)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.by_key.get(key)

    def add(self, record: dict[str, Any]) -> None:
        self.by_key[record["key"]] = record
        self.failed += record["status"] == PointStatus.FAILED

    def objective(self, record: Mapping[str, Any] | None) -> float | None:
        """The record's objective, or None when it failed or the figure is not a finite number."""
        if record is None or record.get("status") != PointStatus.OK:
            return None
        value = record.get("metrics", {}).get(self.objective_name)
        return float(value) if finite(value) else None

    def best(self, fold: Fold | None) -> dict[str, Any] | None:
        """The group's best point: the best objective among the points that ran, the first point on a tie."""
        window = "train" if fold is not None else ""
        number = fold.number if fold is not None else None
        scored = [
            (value, record["point"], record)
            for record in self.by_key.values()
            if record.get("fold") == number and record.get("window", "") == window
            for value in [self.objective(record)]
            if value is not None
        ]
        if not scored:
            return None
        sign = -1.0 if self.direction is Direction.MAX else 1.0
        return min(scored, key=lambda item: (sign * item[0], item[1]))[2]

    def _sorted(self) -> list[dict[str, Any]]:
        return sorted(
            self.by_key.values(),
            key=lambda r: (r.get("fold") or 0, _WINDOW_ORDER[r.get("window", "")], r["point"]),
        )

    def statistics(self) -> tuple[dict[str, tuple[float, float]], dict[str, Overfitting], dict[str, float]]:
        """PSR and DSR per point (by key), PBO and SR0 per group (``""``, or the fold's number as text)."""
        per_point: dict[str, tuple[float, float]] = {}
        per_group: dict[str, Overfitting] = {}
        thresholds: dict[str, float] = {}
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in self._sorted():
            if record.get("window", "") in ("", "train") and record["status"] == PointStatus.OK:
                groups.setdefault(str(record.get("fold", "")), []).append(record)
        for name, records in groups.items():
            series = [[value for _, value in r["returns"]] for r in records]
            psr, dsr, threshold = deflated_sharpe_ratios(series)
            thresholds[name] = threshold
            for record, p, d in zip(records, psr, dsr, strict=True):
                per_point[record["key"]] = (p, d)
            per_group[name] = probability_of_backtest_overfitting(_aligned(records))
        return per_point, per_group, thresholds

    def table(self, *, with_stats: bool) -> Any:
        """The results table as a DataFrame, sorted by fold, window and point; with ``psr`` and ``dsr``."""
        records = self._sorted()
        columns = list(self.columns)
        rows = [table_row(r, columns) for r in records]
        if with_stats:
            per_point, _, _ = self.statistics()
            columns += ["psr", "dsr"]
            for row, record in zip(rows, records, strict=True):
                row["psr"], row["dsr"] = per_point.get(record["key"], (math.nan, math.nan))
        frame = pandas().DataFrame(rows, columns=columns)
        for column in ("error", "window", "window_start", "window_end"):
            if column in frame:
                frame[column] = frame[column].astype(object)
        return frame

    def summary(self, last_fold: Fold | None, elapsed_s: float) -> dict[str, Any]:
        """The sweep's summary (the table's ``attrs``, summary.json): the best point and the overfitting figures of
        the whole sweep, or of the last walk-forward fold's training points."""
        best = self.best(last_fold)
        _, per_group, thresholds = self.statistics()
        group = str(last_fold.number) if last_fold is not None else ""
        overfitting = per_group.get(group, Overfitting(math.nan, note="no point ran"))
        return {
            "objective": self.objective_name,
            "direction": self.direction.value,
            "points": sum(1 for r in self.by_key.values() if r.get("window", "") != "test"),
            "failed": self.failed,
            "best": (
                {
                    "point": best["point"],
                    "params": best["params"],
                    "objective": self.objective(best),
                    "run": set_options(best["params"]),
                }
                if best is not None
                else None
            ),
            "pbo": overfitting.pbo,
            "pbo_note": overfitting.note,
            "oos_loss": overfitting.oos_loss,
            "pbo_blocks": overfitting.blocks,
            "sr0": thresholds.get(group, math.nan),
            "logits": list(overfitting.logits),
            "elapsed_s": round(elapsed_s, 3),
        }

    def walk_forward_summary(
        self, folds: Iterable[Fold], tests: Sequence[Mapping[str, Any]], spec: str, out_of_sample: dict[str, float]
    ) -> dict[str, Any]:
        """Each fold's windows, winner, its training objective and its test objective; the out-of-sample figures."""
        summary_folds = []
        for fold in folds:
            winner = self.best(fold)
            tested = next((r for r in tests if r["fold"] == fold.number), None)
            summary_folds.append(
                {
                    "fold": fold.number,
                    "train": [iso(fold.train[0]), iso(fold.train[1])],
                    "test": [iso(fold.test[0]), iso(fold.test[1])],
                    "params": winner["params"] if winner is not None else None,
                    "train_objective": self.objective(winner),
                    "test_objective": self.objective(tested),
                }
            )
        return {"spec": spec, "folds": summary_folds, "out_of_sample": out_of_sample}


def ranking(table: Any, objective: str, direction: str) -> list[int]:
    """The table's rows (index labels) that ran, best `objective` first (the first point on a tie), without the
    walk-forward's test windows: the order the page and the command list the top points in."""
    ranked = table[table["status"] == PointStatus.OK]
    if "window" in ranked:
        ranked = ranked[ranked["window"] != "test"]
    ranked = ranked.sort_values([objective, "point"], ascending=[direction == Direction.MIN, True], kind="stable")
    return [int(label) for label in ranked.index]


def _aligned(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The points' returns as a T x N matrix, rows lined up by label (only labels every point has)."""
    series = [dict((label, value) for label, value in r["returns"]) for r in records]
    if not series:
        return np.zeros((0, 0))
    common = set(series[0])
    for returns in series[1:]:
        common &= set(returns)
    labels = sorted(common)
    return np.array([[returns[label] for returns in series] for label in labels], dtype=float).reshape(
        len(labels), len(series)
    )
