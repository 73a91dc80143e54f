"""`run_simulation`, `arun_simulation`, `Result` and the run's errors, where they have always been imported from;
the run itself is the `broker_sim.run` package."""

from __future__ import annotations

from broker_sim.run import (
    ConfigSource,
    RecordingError,
    ReportError,
    Result,
    StrategyError,
    arun_simulation,
    run_simulation,
)

__all__ = [
    "ConfigSource",
    "RecordingError",
    "ReportError",
    "Result",
    "StrategyError",
    "arun_simulation",
    "run_simulation",
]
