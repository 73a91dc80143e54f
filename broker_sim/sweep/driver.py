"""The sweep itself: the points a searcher asks for, run on an executor, recorded as they finish, then the
table, the overfitting statistics, the best config, the page and the reports.

`run_sweep` is what `broker_sim.sweep.sweep` (and ``broker-sim sweep``) calls. A plain sweep is one group of
points over all the data; a walk-forward sweep is one group per fold over its training window, then each
fold's winner over its test window.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from broker_sim.clock import RealtimeClock
from broker_sim.config import Config
from broker_sim.errors import ConfigError
from broker_sim.interrupts import RunInterrupted
from broker_sim.simulation import run_simulation
from broker_sim.sweep.best import best_config_text
from broker_sim.sweep.data import SharedData, SharedFile
from broker_sim.sweep.executors import PointExecutor, check_executor, make_executor
from broker_sim.sweep.page import render_page
from broker_sim.sweep.results import SweepFolder, finite, table_row
from broker_sim.sweep.search import Direction, GridSearch, OptunaSearch, Searcher, SearchKind
from broker_sim.sweep.space import Param, Point, Span
from broker_sim.sweep.stats import Overfitting, deflated_sharpe_ratios, probability_of_backtest_overfitting
from broker_sim.sweep.walkforward import Fold, folds, out_of_sample, parse_walk_forward, stitch
from broker_sim.sweep.worker import METRICS, PointResult, PointStatus, PointTask, params_text
from broker_sim.wiring import parse_config

__all__ = ["ReportChoice", "SweepInterrupted", "SweepOptions", "SweepProgress", "run_sweep"]

#: Elapsed times (points/s, a point's seconds) are read from the wall clock object.
_WALL = RealtimeClock()

#: Figures an objective may name (numbers only).
OBJECTIVES = tuple(name for name in METRICS if name not in ("start", "end", "benchmark"))


class ReportChoice(enum.StrEnum):
    """Which points get a full report (``--reports``): the best one, every one, none."""

    BEST = "best"
    ALL = "all"
    NONE = "none"


class SweepInterrupted(RunInterrupted):
    """The sweep was stopped (Ctrl-C, SIGTERM): the finished points are kept, ``--resume`` goes on."""


@attrs.frozen(slots=True)
class SweepProgress:
    """Where a sweep stands, for a progress bar: points done (failed among them) of `total`, and the last one."""

    done: int
    total: int
    failed: int
    last: PointResult | None


@attrs.frozen(slots=True)
class SweepOptions:
    """Everything `run_sweep` takes besides the config (the Python API's and the CLI's arguments, checked)."""

    params: tuple[Param, ...]
    search: SearchKind = SearchKind.GRID
    trials: int = 100
    objective: str = "sharpe"
    direction: Direction = Direction.MAX
    executor: str = "process"
    workers: int | None = None
    address: str | None = None
    out: Path | None = None
    resume: bool = False
    reports: ReportChoice = ReportChoice.BEST
    walk_forward: str | Mapping[str, Any] | None = None
    #: The overrides the whole sweep runs with (``--set``), kept apart from the parameters for best.yaml.
    overrides: dict[str, Any] = attrs.Factory(dict)


@attrs.frozen(slots=True)
class _Group:
    """Points chosen together: the whole sweep, or one walk-forward fold's training window."""

    fold: Fold | None
    searcher: Searcher
    total: int


def _key(fold: Fold | None, window: str, index: int) -> str:
    return str(index) if fold is None else f"{fold.number}/{window}/{index}"


def _pandas() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise ConfigError("the sweep gives its table as a pandas DataFrame: pip install 'broker-sim[sweep]'") from None


def check_options(config: Config, options: SweepOptions) -> None:
    """Refuse a sweep that cannot run, before anything is written (each message names the option)."""
    if config.prices.clock != "simulated":
        raise config.error_at(("prices", "clock"), "a sweep replays on the simulated clock; got realtime")
    if config.broker.get("journal"):
        raise config.error_at(("broker", "journal"), "a sweep's points cannot share one journal; remove it")
    if not options.params:
        raise ConfigError("give the parameters to sweep: --grid KEY=VALUES (e.g. strategy.params.fast=5,10,20)")
    if options.objective not in OBJECTIVES:
        raise ConfigError(f"--objective {options.objective!r} is not a figure; valid: {', '.join(OBJECTIVES)}")
    if options.search is SearchKind.GRID and options.trials != 100:
        raise ConfigError("--trials is for --search optuna; a grid runs every point")
    check_executor(options.executor, options.workers, options.address)
    if options.out is None and options.reports is ReportChoice.ALL:
        raise ConfigError("--reports all needs a sweep folder (--out)")


def run_sweep(config: Config, options: SweepOptions, progress: Callable[[SweepProgress], None] | None = None) -> Any:
    """Run the sweep `options` describe over `config` (checked, with the sweep's overrides applied) and return
    the table as a DataFrame (its ``attrs`` hold the sweep's summary); see `broker_sim.sweep.sweep`."""
    pd = _pandas()
    check_options(config, options)
    first = _first_point(options.params)
    parse_config(config.text, base_dir=config.base_dir, overrides=first)  # a misspelt key stops the sweep here
    shared = SharedData()  # in the system's temp folder (TMPDIR), removed at the end
    try:
        return _Sweep(config, options, shared, pd, progress).run()
    finally:
        shared.close()


def _first_point(params: Sequence[Param]) -> dict[str, Any]:
    return {p.key: (p.low if isinstance(p, Span) else p.grid()[0]) for p in params}


class _Sweep:
    """One sweep's state while it runs."""

    def __init__(
        self,
        config: Config,
        options: SweepOptions,
        shared: SharedData,
        pd: Any,
        progress: Callable[[SweepProgress], None] | None,
    ) -> None:
        self.config = config
        self.options = options
        self.shared = shared
        self.pd = pd
        self.progress = progress
        self.keys = [param.key for param in options.params]
        self.walk = parse_walk_forward(options.walk_forward) if options.walk_forward is not None else None
        head = ["point"] + (["fold", "window", "window_start", "window_end"] if self.walk else [])
        self.columns = [*head, *self.keys, "status", "error", "seed", "events", *METRICS]
        self.folder = (
            SweepFolder(options.out, self._definition(), self.columns, options.resume)
            if options.out is not None
            else None
        )
        self.records: dict[str, dict[str, Any]] = dict(self.folder.records) if self.folder is not None else {}
        self.done = len(self.records)
        self.failed = sum(1 for r in self.records.values() if r.get("status") == PointStatus.FAILED)
        self._base_files: dict[int, SharedFile] | None = None
        self._executor_instance: PointExecutor | None = None
        #: The walk-forward's stitched out-of-sample equity: (POSIX seconds, equity, fold).
        self.curve: list[tuple[float, float, int]] = []
        self.started = _WALL.time()

    def _definition(self) -> dict[str, Any]:
        options = self.options
        return {
            "config": hashlib.sha256(self.config.text.encode()).hexdigest()[:20],
            "parameters": [repr(param) for param in options.params],
            "search": options.search.value,
            "trials": options.trials if options.search is SearchKind.OPTUNA else None,
            "objective": options.objective,
            "direction": options.direction.value,
            "walk_forward": str(self.walk) if self.walk is not None else None,
        }

    # -- the points -------------------------------------------------------------------------------------------

    def _searcher(self) -> tuple[Searcher, int]:
        options = self.options
        if options.search is SearchKind.OPTUNA:
            search = OptunaSearch(options.params, options.trials, options.direction, self.config.seed)
            return search, search.total
        grid = GridSearch(options.params)
        return grid, grid.total

    def _files(self, params: Mapping[str, Any]) -> dict[int, SharedFile]:
        """The shared data of a point: the base config's, unless its parameters change the sources."""
        if not any(key.startswith(("prices.", "broker.seed", "plugins")) for key in params):
            if self._base_files is None:
                self._base_files = self.shared.share(self.config)
            return self._base_files
        point = parse_config(self.config.text, base_dir=self.config.base_dir, overrides=params)
        return self.shared.share(point)

    def _task(self, key: str, point: Point, window: tuple[float, float | None] | None) -> PointTask:
        out = None
        if self.options.reports is ReportChoice.ALL and self.folder is not None:
            out = str(self.folder.path / "reports" / key.replace("/", "-"))
        return PointTask(
            key,
            self.config.text,
            str(self.config.base_dir),
            str(self.config.path) if self.config.path is not None else None,
            {**point.params},
            self._files(point.params),
            window,
            out,
        )

    def _record(self, result: PointResult, point: Point, fold: Fold | None, window: str) -> dict[str, Any]:
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
            bounds = fold.train if window == "train" else fold.test
            record.update(fold=fold.number, window=window, window_start=_iso(bounds[0]), window_end=_iso(bounds[1]))
            if window == "test":
                record["equity"] = [list(pair) for pair in result.equity]
        return record

    def _run_batch(self, batch: Sequence[tuple[Point, Fold | None, str]], total: int) -> list[dict[str, Any]]:
        """Run the points of `batch` not recorded yet; return every point's record, in the batch's order."""
        tasks: dict[str, tuple[PointTask, Point, Fold | None, str]] = {}
        for point, fold, window in batch:
            key = _key(fold, window, point.index)
            recorded = self.records.get(key)
            if recorded is not None:
                if recorded.get("params") != json.loads(json.dumps(point.params, default=str)):
                    raise ConfigError(f"--resume: point {key} was run with other parameters; give another --out")
                continue
            bounds = None if fold is None else (fold.train if window == "train" else fold.test)
            tasks[key] = (self._task(key, point, bounds), point, fold, window)
        if tasks:
            executor = self._executor()
            try:
                for result in executor.run(task for task, _, _, _ in tasks.values()):
                    if result.status is PointStatus.INTERRUPTED:
                        raise SweepInterrupted("SIGINT")
                    _, point, fold, window = tasks[result.key]
                    self._add(self._record(result, point, fold, window), total, result)
            except KeyboardInterrupt:
                raise SweepInterrupted("SIGINT") from None
        return [self.records[_key(fold, window, point.index)] for point, fold, window in batch]

    def _executor(self) -> PointExecutor:
        if self._executor_instance is None:
            self._executor_instance = make_executor(self.options.executor, self.options.workers, self.options.address)
        return self._executor_instance

    def _add(self, record: dict[str, Any], total: int, result: PointResult) -> None:
        self.records[record["key"]] = record
        self.done += 1
        self.failed += record["status"] == PointStatus.FAILED
        if self.folder is not None:
            self.folder.add(record, lambda: self._table(with_stats=False))
        if self.progress is not None:
            self.progress(SweepProgress(self.done, total, self.failed, result))

    def _objective(self, record: Mapping[str, Any]) -> float | None:
        value = record.get("metrics", {}).get(self.options.objective)
        return float(value) if record.get("status") == PointStatus.OK and finite(value) else None

    def _search(self, groups: list[_Group], total: int) -> None:
        """Ask every group's searcher for its next batch, run them all at once, tell each its results."""
        while True:
            batch: list[tuple[Point, Fold | None, str]] = []
            owners: list[_Group] = []
            for group in groups:
                for point in group.searcher.ask():
                    batch.append((point, group.fold, "train" if group.fold is not None else ""))
                    owners.append(group)
            if not batch:
                return
            records = self._run_batch(batch, total)
            for (point, _, _), group, record in zip(batch, owners, records, strict=True):
                group.searcher.tell(point, self._objective(record))

    def _best(self, fold: Fold | None) -> dict[str, Any] | None:
        """The group's best point: the best objective among the points that ran, the first point on a tie."""
        window = "train" if fold is not None else ""
        candidates = [
            r
            for r in self.records.values()
            if (r.get("fold") == (fold.number if fold else None)) and r.get("window", "") == window
        ]
        scored: list[tuple[float, int, dict[str, Any]]] = []
        for record in candidates:
            value = self._objective(record)
            if value is not None:
                scored.append((value, record["point"], record))
        if not scored:
            return None
        sign = -1.0 if self.options.direction is Direction.MAX else 1.0
        return min(scored, key=lambda item: (sign * item[0], item[1]))[2]

    # -- the sweep --------------------------------------------------------------------------------------------

    def run(self) -> Any:
        try:
            if self.walk is None:
                searcher, total = self._searcher()
                self._search([_Group(None, searcher, total)], total)
                summary = self._summary_plain()
            else:
                summary = self._walk_forward()
        except SweepInterrupted:
            self._close_executor()
            if self.folder is not None:
                self.folder.write_table(self._table(with_stats=False))
                self.folder.close()
            raise
        self._close_executor()
        table = self._table(with_stats=True)
        table.attrs.update(summary)
        if self.folder is not None:
            self._write_outputs(table, summary)
        return table

    def _close_executor(self) -> None:
        if self._executor_instance is not None:
            self._executor_instance.close()
            self._executor_instance = None

    def _walk_forward(self) -> dict[str, Any]:
        assert self.walk is not None
        times = self.shared.times(self._files({}))
        fold_list = folds(self.walk, times)
        groups = []
        total = 0
        for fold in fold_list:
            searcher, count = self._searcher()
            groups.append(_Group(fold, searcher, count))
            total += count + 1
        self._search(groups, total)
        tests: list[tuple[Point, Fold | None, str]] = []
        winners: dict[int, dict[str, Any]] = {}
        for fold in fold_list:
            best = self._best(fold)
            if best is not None:
                winners[fold.number] = best
                tests.append((Point(best["point"], best["params"]), fold, "test"))
        records = self._run_batch(tests, total)
        pieces = [(r["fold"], [tuple(pair) for pair in r.get("equity", [])]) for r in records if r["status"] == "ok"]
        curve = stitch(pieces)
        summary = self._summary_plain(last_fold=fold_list[-1])
        summary["walk_forward"] = {
            "spec": str(self.walk),
            "folds": [
                {
                    "fold": fold.number,
                    "train": [_iso(fold.train[0]), _iso(fold.train[1])],
                    "test": [_iso(fold.test[0]), _iso(fold.test[1])],
                    "params": winners[fold.number]["params"] if fold.number in winners else None,
                    "train_objective": self._objective(winners[fold.number]) if fold.number in winners else None,
                    "test_objective": next((self._objective(r) for r in records if r["fold"] == fold.number), None),
                }
                for fold in fold_list
            ],
            "out_of_sample": out_of_sample(curve),
        }
        self.curve = curve
        return summary

    def _groups_stats(self) -> tuple[dict[str, tuple[float, float]], dict[str, Overfitting], dict[str, float]]:
        """PSR and DSR per point, PBO and SR0 per group (the whole sweep, or each fold's training points)."""
        per_point: dict[str, tuple[float, float]] = {}
        per_group: dict[str, Overfitting] = {}
        thresholds: dict[str, float] = {}
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in self.records.values():
            if record.get("window", "") in ("", "train") and record["status"] == PointStatus.OK:
                groups.setdefault(str(record.get("fold", "")), []).append(record)
        for name, records in groups.items():
            records.sort(key=lambda r: r["point"])
            series = [[value for _, value in r["returns"]] for r in records]
            psr, dsr, threshold = deflated_sharpe_ratios(series)
            thresholds[name] = threshold
            for record, p, d in zip(records, psr, dsr, strict=True):
                per_point[record["key"]] = (p, d)
            per_group[name] = probability_of_backtest_overfitting(_aligned(records))
        return per_point, per_group, thresholds

    def _table(self, *, with_stats: bool) -> Any:
        order = {"": 0, "train": 0, "test": 1}
        records = sorted(
            self.records.values(), key=lambda r: (r.get("fold") or 0, order[r.get("window", "")], r["point"])
        )
        columns = list(self.columns)
        rows = [table_row(r, columns) for r in records]
        if with_stats:
            per_point, _, _ = self._groups_stats()
            columns += ["psr", "dsr"]
            for row, record in zip(rows, records, strict=True):
                row["psr"], row["dsr"] = per_point.get(record["key"], (math.nan, math.nan))
        frame = self.pd.DataFrame(rows, columns=columns)
        for column in ("error", "window", "window_start", "window_end"):
            if column in frame:
                frame[column] = frame[column].astype(object)
        return frame

    def _summary_plain(self, last_fold: Fold | None = None) -> dict[str, Any]:
        best = self._best(last_fold)
        _, per_group, thresholds = self._groups_stats()
        group = str(last_fold.number) if last_fold is not None else ""
        overfitting = per_group.get(group, Overfitting(math.nan, note="no point ran"))
        return {
            "objective": self.options.objective,
            "direction": self.options.direction.value,
            "points": sum(1 for r in self.records.values() if r.get("window", "") != "test"),
            "failed": self.failed,
            "best": (
                {
                    "point": best["point"],
                    "params": best["params"],
                    "objective": self._objective(best),
                    "run": params_text(best["params"]),
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
            "elapsed_s": round(_WALL.time() - self.started, 3),
        }

    def _write_outputs(self, table: Any, summary: dict[str, Any]) -> None:
        assert self.folder is not None
        folder = self.folder
        folder.write_table(table)
        best = summary.get("best")
        if best is not None:
            text = best_config_text(self.config, {**self.options.overrides, **best["params"]}, folder.path, summary)
            folder.write_text("best.yaml", text)
            if self.options.reports is ReportChoice.BEST:
                run_simulation(self.config, overrides=best["params"], out=folder.path / "best-report", progress=False)
        if self.walk is not None:
            rows = [(_iso(s), e, f) for s, e, f in self.curve]
            folder.write_text(
                "oos_equity.csv", "timestamp,equity,fold\n" + "".join(f"{t},{e!r},{f}\n" for t, e, f in rows)
            )
        summary_for_file = {k: v for k, v in summary.items() if k != "logits"}
        folder.write_text("summary.json", json.dumps(_json_safe(summary_for_file), indent=2) + "\n")
        folder.write_text(
            "sweep.html",
            render_page(
                title=self.config.report.title or (self.config.path.stem if self.config.path else "broker-sim sweep"),
                table=table,
                keys=self.keys,
                summary=summary,
                curve=self.curve,
            ),
        )
        folder.close()


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


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
