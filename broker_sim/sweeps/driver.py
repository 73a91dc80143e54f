"""The sweep itself: the points a searcher asks for, run on an executor and recorded as they finish; then the
table, the summary and the sweep's files.

`sweep` is the Python API (``broker_sim.sweep``), `run_sweep` what it and ``broker-sim sweep`` call. A plain
sweep is one group of points over all the data; a walk-forward sweep is one group per fold over its training
window, then each fold's winner over its test window.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from broker_sim.clock import RealtimeClock
from broker_sim.config import Config
from broker_sim.errors import ConfigError
from broker_sim.interrupts import RunInterrupted, StopSignals
from broker_sim.simulation import ConfigSource
from broker_sim.sweeps.data import SharedData, SharedFile
from broker_sim.sweeps.executors import PointExecutor, make_executor
from broker_sim.sweeps.options import DEFAULT_TRIALS, ReportChoice, SweepOptions, check_options
from broker_sim.sweeps.outputs import write_outputs
from broker_sim.sweeps.records import Records, columns_for, key_of, pandas, ranking, record_of
from broker_sim.sweeps.results import SweepFolder
from broker_sim.sweeps.search import GridSearch, OptunaSearch, Searcher, SearchKind
from broker_sim.sweeps.space import Point, Span
from broker_sim.sweeps.walkforward import Fold, WalkForward, folds, out_of_sample, parse_walk_forward, stitch
from broker_sim.sweeps.worker import PointResult, PointStatus, PointTask, run_point
from broker_sim.wiring import parse_config, resolve_config

__all__ = ["SweepInterrupted", "SweepProgress", "run_sweep", "sweep"]

#: Elapsed times (points/s, a point's seconds) are read from the wall clock object.
_WALL = RealtimeClock()
#: Parameter keys that change the market data a point replays (its sources, the seed of synthetic data).
_DATA_KEYS = ("prices.", "broker.seed", "plugins")
#: The best point's report folder in the sweep's folder (``--reports best``).
_BEST = "best-report"

log = logging.getLogger(__name__)


class SweepInterrupted(RunInterrupted):
    """The sweep was stopped (Ctrl-C, SIGTERM): the finished points are kept, ``--resume`` goes on."""


class _Recording:
    """Holds back a stop that arrives while a finished point is being recorded (in memory, points.jsonl and
    results.csv): the stop is raised once the point is in all three, so the kept table and points.jsonl always
    hold the same points."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: str | None = None

    def stop(self, reason: str) -> None:
        """The stop handler: raise `SweepInterrupted` now, or when the recording in progress ends."""
        if self.depth:
            self.pending = reason
            return
        raise SweepInterrupted(reason)

    def __enter__(self) -> None:
        self.depth += 1

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.depth -= 1
        if not self.depth and self.pending is not None and kind is None:
            reason, self.pending = self.pending, None
            raise SweepInterrupted(reason)


@attrs.frozen(slots=True)
class SweepProgress:
    """Where a sweep stands, for a progress bar: points done (failed among them) of `total`, and the last one."""

    done: int
    total: int
    failed: int
    last: PointResult | None


def sweep(
    config: ConfigSource,
    *,
    grid: Mapping[str, Any] | Iterable[str] | None = None,
    search: str = "grid",
    trials: int = DEFAULT_TRIALS,
    objective: str = "sharpe",
    direction: str = "max",
    executor: str = "process",
    workers: int | None = None,
    address: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    reports: str = "best",
    walk_forward: str | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
) -> Any:
    """Run one simulation per point and return the table: a DataFrame with a row per point (its parameters,
    ``status``, ``error``, ``seed``, every summary figure, ``psr`` and ``dsr``); ``.attrs`` holds the summary
    (the best point, ``pbo``, ``sr0``, ``ranking``: the rows best first, the walk-forward's folds and
    out-of-sample figures).

    `grid`: ``{dotted key: values}`` (a list, a range, a ``(low, high[, step])`` tuple or a ``"5,10,20"`` /
    ``"30:90:10"`` string) or ``--grid`` strings. `search`: ``grid`` (every point) or ``optuna`` (`trials`
    points chosen by optuna's TPE sampler, seeded from the config's seed; the ``[optuna]`` extra).
    `objective` is a figure (``sharpe``, ``total_return``, ``calmar``, ...), `direction` ``max`` or ``min``.
    `executor`: ``process`` (a local pool of `workers` processes, default every core), ``serial`` (this
    process) or ``ray`` (`address` ``auto`` or ``ray://...``, none: a local Ray instance; the ``[ray]`` extra).
    `out`: the sweep's folder (results.csv and .parquet written as points finish, sweep.html, best.yaml,
    summary.json; `reports`: ``best``, ``all`` or ``none`` full reports); None writes nothing. `resume` goes
    on with the sweep in `out`. `walk_forward`: ``"train=6M,test=1M"`` or in bars ``"train=5000,test=1000"``.
    `overrides` apply to every point (as ``--set``); `progress(SweepProgress)` hears each finished point.

    Every point runs with its own ``broker.seed`` (the config's, unless the point sets it): the same seed for
    every point by default (common random numbers), never one that depends on the worker or the order.
    Raises `ConfigError` before anything runs for a bad option, key or value; `SweepInterrupted` on Ctrl-C
    (the finished points are kept)."""
    options = SweepOptions(
        params=grid,
        search=search,
        trials=trials,
        objective=objective,
        direction=direction,
        executor=executor,
        workers=workers,
        address=address,
        out=out,
        resume=resume,
        reports=reports,
        walk_forward=walk_forward,
        overrides=overrides,
    )
    return run_sweep(resolve_config(config, overrides=overrides), options, progress)


def run_sweep(config: Config, options: SweepOptions, progress: Callable[[SweepProgress], None] | None = None) -> Any:
    """Run the sweep `options` describe over `config` (checked, with the sweep's overrides applied) and return
    the table as a DataFrame (its ``attrs`` hold the sweep's summary); see `sweep`."""
    pandas()
    check_options(config, options)
    first = {p.key: (p.low if isinstance(p, Span) else p.grid()[0]) for p in options.params}
    parse_config(config.text, base_dir=config.base_dir, overrides=first)  # a misspelt key stops the sweep here
    shared = SharedData()  # in the system's temp folder (TMPDIR), removed at the end
    stop = StopSignals()
    recording = _Recording()

    def interrupted() -> None:
        recording.stop(stop.requested or "SIGINT")

    stop.on_stop = interrupted  # SIGTERM too stops the sweep as Ctrl-C does, its workers with it
    try:
        with stop:
            return _Sweep(config, options, shared, progress, recording).run()
    finally:
        shared.close()


@attrs.frozen(slots=True)
class _Group:
    """Points chosen together: the whole sweep, or one walk-forward fold's training window."""

    fold: Fold | None
    searcher: Searcher
    total: int


#: A point to run: the point, its fold (None outside a walk-forward) and its window ("", "train" or "test").
_Planned = tuple[Point, Fold | None, str]


class _Sweep:
    """One sweep's state while it runs."""

    def __init__(
        self,
        config: Config,
        options: SweepOptions,
        shared: SharedData,
        progress: Callable[[SweepProgress], None] | None,
        recording: _Recording | None = None,
    ) -> None:
        self.config = config
        #: Entered while a point is recorded: a stop waits until it is recorded everywhere.
        self.recording = recording if recording is not None else _Recording()
        self.options = options
        self.shared = shared
        self.progress = progress
        self.keys = [param.key for param in options.params]
        self.walk = parse_walk_forward(options.walk_forward) if options.walk_forward is not None else None
        columns = columns_for(self.keys, walk_forward=self.walk is not None)
        self.folder = (
            SweepFolder(options.out, self._definition(), columns, options.resume) if options.out is not None else None
        )
        recorded = self.folder.records if self.folder is not None else {}
        self.records = Records(columns, options.objective, options.direction, recorded)
        self._base_files: dict[int, SharedFile] | None = None
        self._executor_instance: PointExecutor | None = None
        self.started = _WALL.time()

    def _definition(self) -> dict[str, Any]:
        """What makes two runs the same sweep (``--resume`` goes on only with the same)."""
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
        if not any(key.startswith(_DATA_KEYS) for key in params):
            if self._base_files is None:
                self._base_files = self.shared.share(self.config)
            return self._base_files
        point = parse_config(self.config.text, base_dir=self.config.base_dir, overrides=params)
        return self.shared.share(point)

    def _task(
        self, key: str, point: Point, window: tuple[float, float | None] | None, out: Path | None = None
    ) -> PointTask:
        return PointTask(
            key,
            self.config.text,
            str(self.config.base_dir),
            str(self.config.path) if self.config.path is not None else None,
            {**point.params},
            self._files(point.params),
            window,
            str(out) if out is not None else None,
        )

    def _report_folder(self, key: str) -> Path | None:
        if self.options.reports is ReportChoice.ALL and self.folder is not None:
            return self.folder.path / "reports" / key.replace("/", "-")
        return None

    def _run_batch(self, batch: Sequence[_Planned], total: int) -> list[dict[str, Any]]:
        """Run the points of `batch` not recorded yet; return every point's record, in the batch's order."""
        tasks: dict[str, tuple[PointTask, Point, Fold | None, str]] = {}
        for point, fold, window in batch:
            key = key_of(fold, window, point.index)
            recorded = self.records.get(key)
            if recorded is not None:
                if recorded.get("params") != json.loads(json.dumps(point.params, default=str)):
                    raise ConfigError(f"--resume: point {key} was run with other parameters; give another --out")
                continue
            bounds = None if fold is None else (fold.train if window == "train" else fold.test)
            tasks[key] = (self._task(key, point, bounds, self._report_folder(key)), point, fold, window)
        if tasks:
            executor = self._executor()
            try:
                for result in executor.run(task for task, _, _, _ in tasks.values()):
                    if result.status is PointStatus.INTERRUPTED:
                        raise SweepInterrupted(result.error or "SIGINT")
                    _, point, fold, window = tasks[result.key]
                    self._add(record_of(result, point, fold, window), total, result)
            except KeyboardInterrupt:
                raise SweepInterrupted("SIGINT") from None
        return [self.records.by_key[key_of(fold, window, point.index)] for point, fold, window in batch]

    def _executor(self) -> PointExecutor:
        if self._executor_instance is None:
            self._executor_instance = make_executor(self.options.executor, self.options.workers, self.options.address)
        return self._executor_instance

    def _close_executor(self) -> None:
        if self._executor_instance is not None:
            self._executor_instance.close()
            self._executor_instance = None

    def _add(self, record: dict[str, Any], total: int, result: PointResult) -> None:
        with self.recording:
            self.records.add(record)
            if self.folder is not None:
                self.folder.add(record, lambda: self.records.table(with_stats=False))
        if self.progress is not None:
            self.progress(SweepProgress(len(self.records), total, self.records.failed, result))

    def _search(self, groups: list[_Group], total: int) -> None:
        """Ask every group's searcher for its next batch, run them all at once, tell each its results."""
        while True:
            batch: list[_Planned] = []
            owners: list[_Group] = []
            for group in groups:
                for point in group.searcher.ask():
                    batch.append((point, group.fold, "train" if group.fold is not None else ""))
                    owners.append(group)
            if not batch:
                return
            records = self._run_batch(batch, total)
            for (point, _, _), group, record in zip(batch, owners, records, strict=True):
                group.searcher.tell(point, self.records.objective(record))

    # -- the sweep --------------------------------------------------------------------------------------------

    def run(self) -> Any:
        curve: list[tuple[float, float, int]] = []
        try:
            if self.walk is None:
                searcher, total = self._searcher()
                self._search([_Group(None, searcher, total)], total)
                summary = self.records.summary(None, _WALL.time() - self.started)
            else:
                summary, curve = self._walk_forward(self.walk)
            if self.folder is not None and self.options.reports is ReportChoice.BEST:
                self._best_report(summary)
        except SweepInterrupted:
            self._close_executor()
            if self.folder is not None:
                self.folder.write_table(self.records.table(with_stats=False))
                self.folder.close()
            raise
        self._close_executor()
        table = self.records.table(with_stats=True)
        summary["ranking"] = ranking(table, self.options.objective, self.options.direction.value)
        table.attrs.update(summary)
        if self.folder is not None:
            write_outputs(
                self.folder,
                config=self.config,
                overrides=self.options.overrides,
                table=table,
                summary=summary,
                keys=self.keys,
                curve=curve,
            )
            self.folder.close()
        return table

    def _best_report(self, summary: Mapping[str, Any]) -> None:
        """The best point's full report (``--reports best``) over all the data, run here from the shared files:
        the report lands in the sweep's folder even when the points ran on a cluster."""
        assert self.folder is not None
        best = summary.get("best")
        if best is None:
            return
        result = run_point(self._task("best", Point(best["point"], best["params"]), None, self.folder.path / _BEST))
        if result.status is PointStatus.INTERRUPTED:
            raise SweepInterrupted(result.error or "SIGINT")
        if result.status is PointStatus.FAILED:
            log.warning("the best point's report could not be written: %s", result.error)

    def _walk_forward(self, walk: WalkForward) -> tuple[dict[str, Any], list[tuple[float, float, int]]]:
        """Search each fold's training window, run each winner on its test window; the summary and the stitched
        out-of-sample equity."""
        fold_list = folds(walk, self.shared.times(self._files({})))
        groups = []
        total = 0
        for fold in fold_list:
            searcher, count = self._searcher()
            groups.append(_Group(fold, searcher, count))
            total += count + 1
        self._search(groups, total)
        tests: list[_Planned] = []
        for fold in fold_list:
            best = self.records.best(fold)
            if best is not None:
                tests.append((Point(best["point"], best["params"]), fold, "test"))
        records = self._run_batch(tests, total)
        pieces = [(r["fold"], [tuple(pair) for pair in r.get("equity", [])]) for r in records if r["status"] == "ok"]
        curve = stitch(pieces)
        summary = self.records.summary(fold_list[-1], _WALL.time() - self.started)
        summary["walk_forward"] = self.records.walk_forward_summary(fold_list, records, str(walk), out_of_sample(curve))
        return summary, curve
