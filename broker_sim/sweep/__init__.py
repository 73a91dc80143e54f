"""Sweeps: one simulation per point of a parameter grid or a search, on every core or a Ray cluster, with the
overfitting statistics that say how much of the best result is luck.

``broker_sim.sweep(config, grid={...})`` returns the results table as a pandas DataFrame (the ``[sweep]``
extra); ``broker-sim sweep CONFIG --grid KEY=VALUES ...`` is the same from the shell. The parts: `space`
(parameters and grids), `search` (grid, optuna), `data` (market data read once and shared), `worker` (one
point), `executors` (serial, process pool, Ray), `results` (the sweep's folder), `stats` (DSR, PBO),
`walkforward`, `best` (best.yaml), `page` and `charts` (sweep.html), `driver` (the loop).

The package is callable: ``broker_sim.sweep(...)`` works whether ``broker_sim.sweep`` was reached as the
package's public function or as this package (importing a submodule binds the package on ``broker_sim``).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from broker_sim.errors import ConfigError
from broker_sim.simulation import ConfigSource
from broker_sim.sweep.driver import ReportChoice, SweepInterrupted, SweepOptions, SweepProgress, run_sweep
from broker_sim.sweep.search import Direction, SearchKind
from broker_sim.sweep.space import params_from
from broker_sim.wiring import resolve_config

__all__ = ["SweepInterrupted", "SweepProgress", "sweep"]


def _choice(kind: type[Any], name: str, value: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{name} must be one of {', '.join(k.value for k in kind)}, got {value!r}") from None


def sweep(
    config: ConfigSource,
    *,
    grid: Mapping[str, Any] | Iterable[str] | None = None,
    search: str = "grid",
    trials: int = 100,
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
    (the best point, ``pbo``, ``sr0``, the walk-forward's folds and out-of-sample figures).

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
    Raises `ConfigError` before anything runs for a bad option, key or value; `SweepInterrupted` on Ctrl-C
    (the finished points are kept)."""
    options = SweepOptions(
        params=tuple(params_from(grid)),
        search=_choice(SearchKind, "search", search),
        trials=trials,
        objective=objective,
        direction=_choice(Direction, "direction", direction),
        executor=executor,
        workers=workers,
        address=address,
        out=Path(out) if out is not None else None,
        resume=resume,
        reports=_choice(ReportChoice, "reports", reports),
        walk_forward=walk_forward,
        overrides=dict(overrides or {}),
    )
    return run_sweep(resolve_config(config, overrides=overrides), options, progress)


class _CallableModule(types.ModuleType):
    """This package, callable as `sweep`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
