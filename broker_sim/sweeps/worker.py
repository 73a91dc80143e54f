"""One point of a sweep, run where an executor puts it (this process, a pool worker, a Ray task).

`run_point` takes a `PointTask` (plain data: the config's YAML text, the point's overrides, the shared files)
and returns a `PointResult` (the metrics, the returns the overfitting statistics need, or the error). It runs the
point exactly as ``broker-sim run CONFIG --set KEY=VALUE ...`` would, through `run_simulation`, with the market
data read from the sweep's shared files. A point that fails is a result with its error, never an exception: the
sweep goes on.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from broker_sim.clock import RealtimeClock
from broker_sim.config import Config, parse_text
from broker_sim.errors import describe_error
from broker_sim.interrupts import RunInterrupted
from broker_sim.report.metrics import MIN_RETURNS, EquitySample, Metrics, labelled_returns, period_returns, risk_figures
from broker_sim.simulation import run_simulation
from broker_sim.sweeps.data import SharedFile, shared_overrides
from broker_sim.wiring import parse_config

__all__ = [
    "METRICS",
    "PointResult",
    "PointStatus",
    "PointTask",
    "metric_values",
    "point_config",
    "run_point",
]

#: Elapsed times (points/s, a point's seconds) are read from the wall clock object.
_WALL = RealtimeClock()

#: The summary figures a point's row holds: every scalar figure of `Metrics` (``calmar`` among them).
METRICS: tuple[str, ...] = tuple(
    field.name for field in attrs.fields(attrs.resolve_types(Metrics)) if field.type in (float, int, str)
)


class PointStatus(enum.StrEnum):
    """How a point ended: ``ok``, ``failed`` (its error is recorded), ``interrupted`` (by the signal its `error`
    names; not recorded: it runs again on ``--resume``)."""

    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@attrs.frozen(slots=True)
class PointTask:
    """What a worker needs to run one point: plain, picklable data."""

    key: str
    config_text: str
    base_dir: str
    config_path: str | None
    params: dict[str, Any]
    #: The shared event file of each source (by index) and the window (POSIX seconds) to replay of them.
    shared: dict[int, SharedFile] = attrs.Factory(dict)
    window: tuple[float | None, float | None] | None = None
    #: Where the point writes its full report (``--reports all``), or None.
    out: str | None = None


@attrs.frozen(slots=True)
class PointResult:
    """What one point produced: its figures, its per-period returns (label, return) and equity, or its error."""

    key: str
    status: PointStatus
    metrics: dict[str, Any] = attrs.Factory(dict)
    error: str | None = None
    seed: int | None = None
    events: int = 0
    elapsed_s: float = 0.0
    #: The returns the Sharpe ratio is taken on (daily closes, or the samples within one day), with their labels.
    returns: tuple[tuple[str, float], ...] = ()
    #: The equity samples as (POSIX seconds, equity): a walk-forward test window's piece of the stitched curve.
    equity: tuple[tuple[float, float], ...] = ()


def run_point(task: PointTask) -> PointResult:
    """Run one point to the end and describe it; any failure becomes a ``failed`` result naming the error."""
    started = _WALL.time()
    seed: int | None = None
    try:
        config = point_config(task)
        seed = config.seed
        result = run_simulation(config, out=task.out if task.out is not None else False, progress=False)
    except (RunInterrupted, KeyboardInterrupt) as exc:
        signal_name = exc.signal_name if isinstance(exc, RunInterrupted) else "SIGINT"
        return PointResult(task.key, PointStatus.INTERRUPTED, error=signal_name, seed=seed)
    except Exception as exc:
        error = describe_error(exc)
        return PointResult(task.key, PointStatus.FAILED, error=error, seed=seed, elapsed_s=_WALL.time() - started)
    result.close()  # its orders' and fills' files: a pool worker ends without collecting it
    labels, returns, _ = labelled_returns(
        [sample.timestamp for sample in result.equity], [sample.equity for sample in result.equity]
    )
    return PointResult(
        task.key,
        PointStatus.OK,
        metric_values(result.metrics, result.equity),
        seed=seed,
        events=result.events,
        elapsed_s=_WALL.time() - started,
        returns=tuple(zip(labels, returns.tolist(), strict=True)),
        equity=tuple((sample.timestamp.timestamp(), sample.equity) for sample in result.equity),
    )


def point_config(task: PointTask) -> Config:
    """The config `task` runs: the sweep's, the point's parameters set, its sources read from the shared files.

    A point that writes a report shows in it the config as the user wrote it (their sources, not the shared
    files the sweep replays in their place), so that it reads as ``broker-sim run CONFIG --set ...`` would."""
    sharing = shared_overrides(task.shared, task.window)
    config = parse_config(task.config_text, base_dir=task.base_dir, overrides={**task.params, **sharing})
    if task.config_path is not None:
        config = attrs.evolve(config, path=Path(task.config_path))
    if task.out is not None and sharing:
        as_written = parse_text(task.config_text, base_dir=task.base_dir, overrides=task.params)
        config = attrs.evolve(config, text=as_written.text)
    return config


def metric_values(metrics: Metrics, equity: Sequence[EquitySample] = ()) -> dict[str, Any]:
    """A run's scalar figures by name (`METRICS`); ``calmar`` is the report's: cagr / |max_drawdown| (NaN when
    either is missing or the drawdown is 0).

    The report leaves volatility, Sharpe and Sortino out below `MIN_RETURNS` returns; a sweep ranks windows that
    short (walk-forward training windows) all the same, so its rows compute them from any 2 or more returns of
    `equity` (as the report did before issue 24), and ``returns_count`` says how many stood behind them."""
    values = {name: getattr(metrics, name) for name in METRICS}
    if equity and metrics.returns_count < MIN_RETURNS:
        returns, periods = period_returns([s.timestamp for s in equity], [s.equity for s in equity])
        volatility, sharpe, sortino = risk_figures(returns, periods, 0.0, {}, min_returns=2)
        values.update(annual_volatility=volatility, sharpe=sharpe, sortino=sortino)
    return values
