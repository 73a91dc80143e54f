"""What a sweep is asked to do: the options `broker_sim.sweep` and ``broker-sim sweep`` take, read into one
`SweepOptions`, and the checks a config and its options must pass before any point runs."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from broker_sim.config import Config
from broker_sim.errors import ConfigError
from broker_sim.sweeps.executors import check_executor
from broker_sim.sweeps.search import Direction, SearchKind
from broker_sim.sweeps.space import Param, params_from
from broker_sim.sweeps.worker import METRICS

__all__ = ["DEFAULT_TRIALS", "OBJECTIVES", "ReportChoice", "SweepOptions", "check_options"]

#: Figures an objective may name (numbers only).
OBJECTIVES = tuple(name for name in METRICS if name not in ("start", "end", "benchmark"))
#: Points an optuna search runs unless told (``--trials``).
DEFAULT_TRIALS = 100

_Choice = TypeVar("_Choice", bound=enum.Enum)


class ReportChoice(enum.StrEnum):
    """Which points get a full report (``--reports``): the best one, every one, none."""

    BEST = "best"
    ALL = "all"
    NONE = "none"


def _choice(kind: type[_Choice], name: str, value: Any) -> _Choice:
    """`value` as the enum `kind`; anything else is a `ConfigError` naming the option and its choices."""
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{name} must be one of {', '.join(k.value for k in kind)}, got {value!r}") from None


def _search(value: Any) -> SearchKind:
    return _choice(SearchKind, "search", value)


def _direction(value: Any) -> Direction:
    return _choice(Direction, "direction", value)


def _reports(value: Any) -> ReportChoice:
    return _choice(ReportChoice, "reports", value)


def _params(grid: Mapping[str, Any] | Iterable[str] | None) -> tuple[Param, ...]:
    return tuple(params_from(grid))


def _path(value: str | Path | None) -> Path | None:
    return Path(value) if value is not None else None


def _overrides(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@attrs.frozen(slots=True)
class SweepOptions:
    """Everything `run_sweep` takes besides the config: `broker_sim.sweep`'s arguments (see there), read as they
    are given (`params` from a ``grid``, the choices from their names); a `ConfigError` names a bad one."""

    params: tuple[Param, ...] = attrs.field(converter=_params)
    search: SearchKind = attrs.field(default=SearchKind.GRID, converter=_search)
    trials: int = DEFAULT_TRIALS
    objective: str = "sharpe"
    direction: Direction = attrs.field(default=Direction.MAX, converter=_direction)
    executor: str = "process"
    workers: int | None = None
    address: str | None = None
    out: Path | None = attrs.field(default=None, converter=_path)
    resume: bool = False
    reports: ReportChoice = attrs.field(default=ReportChoice.BEST, converter=_reports)
    walk_forward: str | Mapping[str, Any] | None = None
    #: The overrides the whole sweep runs with (``--set``), kept apart from the parameters for best.yaml.
    overrides: dict[str, Any] = attrs.field(factory=dict, converter=_overrides)


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
    if options.search is SearchKind.GRID and options.trials != DEFAULT_TRIALS:
        raise ConfigError("--trials is for --search optuna; a grid runs every point")
    check_executor(options.executor, options.workers, options.address)
    if options.out is None and options.reports is ReportChoice.ALL:
        raise ConfigError("--reports all needs a sweep folder (--out)")
