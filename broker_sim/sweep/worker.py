"""One point of a sweep, run where an executor puts it (this process, a pool worker, a Ray task).

`run_point` takes a `PointTask` (plain data: the config's YAML text, the point's overrides, the shared files)
and returns a `PointResult` (the metrics, the returns the overfitting statistics need, or the error). It runs the
point exactly as ``broker-sim run CONFIG --set KEY=VALUE ...`` would, through `run_simulation`, with the market
data read from the sweep's shared files. A point that fails is a result with its error, never an exception: the
sweep goes on.
"""

from __future__ import annotations

import enum
import json
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from broker_sim.clock import RealtimeClock
from broker_sim.errors import describe_error
from broker_sim.interrupts import RunInterrupted
from broker_sim.report.metrics import MIN_RETURNS, EquitySample, Metrics, period_returns, risk_figures
from broker_sim.simulation import run_simulation
from broker_sim.sweep.data import SharedFile, shared_overrides
from broker_sim.wiring import parse_config

__all__ = [
    "METRICS",
    "PointResult",
    "PointStatus",
    "PointTask",
    "daily_returns",
    "metric_values",
    "params_text",
    "run_point",
]

#: Elapsed times (points/s, a point's seconds) are read from the wall clock object.
_WALL = RealtimeClock()

#: The summary figures a point's row holds: every scalar figure of `Metrics` (``calmar`` among them).
METRICS: tuple[str, ...] = tuple(field.name for field in attrs.fields(Metrics) if field.type in ("float", "int", "str"))


class PointStatus(enum.StrEnum):
    """How a point ended: ``ok``, ``failed`` (its error is recorded), ``interrupted`` (not recorded: it runs again
    on ``--resume``)."""

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
    overrides = {**task.params, **shared_overrides(task.shared, task.window)}
    seed: int | None = None
    try:
        config = parse_config(task.config_text, base_dir=task.base_dir, overrides=overrides)
        if task.config_path is not None:
            config = attrs.evolve(config, path=Path(task.config_path))
        seed = config.seed
        result = run_simulation(config, out=task.out if task.out is not None else False, progress=False)
    except RunInterrupted:
        return PointResult(task.key, PointStatus.INTERRUPTED, seed=seed)
    except KeyboardInterrupt:
        return PointResult(task.key, PointStatus.INTERRUPTED, seed=seed)
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        error = describe_error(exc) or detail
        return PointResult(task.key, PointStatus.FAILED, error=error, seed=seed, elapsed_s=_WALL.time() - started)
    return PointResult(
        task.key,
        PointStatus.OK,
        metric_values(result.metrics, result.equity),
        seed=seed,
        events=result.events,
        elapsed_s=_WALL.time() - started,
        returns=daily_returns(result.equity),
        equity=tuple((sample.timestamp.timestamp(), sample.equity) for sample in result.equity),
    )


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


def daily_returns(equity: Sequence[EquitySample]) -> tuple[tuple[str, float], ...]:
    """The returns the run's Sharpe ratio is taken on, labelled so that points can be lined up: day-to-day
    returns of the daily closes (labelled with the date) when the samples span two dates or more, else
    sample-to-sample returns (labelled with the time), as `broker_sim.report.metrics` takes them."""
    closes: dict[str, float] = {}
    if len({sample.timestamp.date() for sample in equity}) >= 2:
        for sample in equity:
            closes[sample.timestamp.date().isoformat()] = sample.equity
    else:
        for sample in equity:
            closes[sample.timestamp.isoformat()] = sample.equity
    labels, values = list(closes), list(closes.values())
    return tuple(
        (label, (value / previous - 1.0) if previous != 0 else 0.0)
        for label, previous, value in zip(labels[1:], values[:-1], values[1:], strict=True)
    )


def params_text(params: Mapping[str, Any]) -> str:
    """A point's parameters as ``--set`` options, to run it alone: ``--set strategy.params.fast=5 ...``."""
    return " ".join(
        f"--set {key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in params.items()
    )
