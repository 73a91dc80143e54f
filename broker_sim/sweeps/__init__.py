"""Sweeps: one simulation per point of a parameter grid or a search, on every core or a Ray cluster, with the
overfitting statistics that say how much of the best result is luck.

``broker_sim.sweep(config, grid={...})`` (`driver.sweep`) returns the results table as a pandas DataFrame (the
``[sweep]`` extra); ``broker-sim sweep CONFIG --grid KEY=VALUES ...`` is the same from the shell. The parts:
`options` (what a sweep is asked), `space` (parameters and grids), `search` (grid, optuna), `data` (market
data read once and shared), `worker` (one point), `executors` (serial, process pool, Ray), `results` (the
sweep's folder as points finish), `records` (the table, best points, statistics, summary), `stats` (DSR,
PBO), `walkforward`, `best` (best.yaml), `outputs`, `page` and `charts` (sweep.html), `driver` (the loop).

The package is named ``sweeps`` so that ``broker_sim.sweep`` stays the function whatever was imported: a
package of that name would be bound over it as ``broker_sim.sweep`` by the first import of one of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker_sim._imports import lazy_exports

if TYPE_CHECKING:
    from broker_sim.sweeps.driver import SweepInterrupted, SweepProgress, run_sweep, sweep
    from broker_sim.sweeps.options import ReportChoice, SweepOptions

__all__ = ["ReportChoice", "SweepInterrupted", "SweepOptions", "SweepProgress", "run_sweep", "sweep"]

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "broker_sim.sweeps.driver": ("SweepInterrupted", "SweepProgress", "run_sweep", "sweep"),
        "broker_sim.sweeps.options": ("ReportChoice", "SweepOptions"),
    },
)
