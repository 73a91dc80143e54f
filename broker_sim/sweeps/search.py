"""Which points a sweep runs: every point of a grid, or the points a search asks for (optuna, the ``[optuna]``
extra).

A searcher hands out points in batches (`ask`) and hears each point's objective (`tell`, None for a failed
point). The sweep runs a batch on its executor and tells every result before the next `ask`, in point order,
so a search asks for the same points whichever executor ran them and however many workers it had: optuna's
sampler is seeded from the config's seed and sees the results in the same order every time.
"""

from __future__ import annotations

import enum
import importlib
import math
from collections.abc import Sequence
from typing import Any, Protocol

from broker_sim.errors import ConfigError
from broker_sim.sweeps.space import Param, Point, Span, Values, grid_points

__all__ = ["BATCH_TRIALS", "Direction", "GridSearch", "OptunaSearch", "SearchKind", "Searcher"]

#: Trials an optuna search asks for at once (fixed, whatever the worker count: the same sweep asks the same).
BATCH_TRIALS = 8


class SearchKind(enum.StrEnum):
    """How the points are chosen (``--search``)."""

    GRID = "grid"
    OPTUNA = "optuna"


class Direction(enum.StrEnum):
    """Whether the objective is better high or low (``--direction``)."""

    MAX = "max"
    MIN = "min"


class Searcher(Protocol):
    """Hands out points in batches and hears their objectives."""

    def ask(self) -> list[Point]:
        """The next batch of points to run ([] when the search is over)."""
        ...

    def tell(self, point: Point, value: float | None) -> None:
        """`point`'s objective (None: it failed, or its objective is not a number)."""
        ...


class GridSearch:
    """Every point of the grid, in one batch."""

    def __init__(self, params: Sequence[Param]) -> None:
        self.points = grid_points(params)
        self._asked = False

    @property
    def total(self) -> int:
        return len(self.points)

    def ask(self) -> list[Point]:
        if self._asked:
            return []
        self._asked = True
        return list(self.points)

    def tell(self, point: Point, value: float | None) -> None:
        pass


class OptunaSearch:
    """`trials` points chosen by optuna's TPE sampler (seeded with `seed`), `BATCH_TRIALS` at a time.

    A `Values` parameter is a categorical choice, a `Span` an integer or float range (its step and log scale
    kept)."""

    def __init__(self, params: Sequence[Param], trials: int, direction: Direction, seed: int | None) -> None:
        try:
            optuna: Any = importlib.import_module("optuna")
        except ImportError:
            raise ConfigError("--search optuna needs optuna: pip install 'broker-sim[optuna]'") from None
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ConfigError(f"--trials must be an integer >= 1, got {trials!r}")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self.total = trials
        self._params = list(params)
        self._distributions = {param.key: _distribution(optuna, param) for param in params}
        sampler = optuna.samplers.TPESampler(seed=seed if seed is not None else 0)
        self._study = optuna.create_study(
            direction="maximize" if direction is Direction.MAX else "minimize", sampler=sampler
        )
        self._open: dict[int, Any] = {}
        self._told: dict[int, float | None] = {}
        self._asked = 0

    def ask(self) -> list[Point]:
        self._flush()
        batch: list[Point] = []
        while self._asked < self.total and len(batch) < BATCH_TRIALS:
            trial = self._study.ask(self._distributions)
            self._open[trial.number] = trial
            batch.append(Point(trial.number, {p.key: _decode(p, trial.params[p.key]) for p in self._params}))
            self._asked += 1
        return batch

    def tell(self, point: Point, value: float | None) -> None:
        self._told[point.index] = value

    def _flush(self) -> None:
        """Tell optuna the finished batch, in trial order (the order it hears them shapes what it asks next)."""
        for number in sorted(self._told):
            value = self._told[number]
            trial = self._open.pop(number)
            if value is None or not math.isfinite(value):
                self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
            else:
                self._study.tell(trial, value)
        self._told.clear()


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _distribution(optuna: Any, param: Param) -> Any:
    distributions = optuna.distributions
    if isinstance(param, Values):
        choices = param.values if all(_scalar(v) for v in param.values) else tuple(range(len(param.values)))
        return distributions.CategoricalDistribution(choices)
    if isinstance(param, Span) and param.integer and not param.log:
        return distributions.IntDistribution(int(param.low), int(param.high), step=int(param.step or 1))
    if isinstance(param, Span) and param.integer:
        return distributions.IntDistribution(int(param.low), int(param.high), log=True)
    return distributions.FloatDistribution(float(param.low), float(param.high), step=param.step, log=param.log)


def _decode(param: Param, value: Any) -> Any:
    """A sampled value as the config takes it (a categorical of non-scalar values samples their index)."""
    if isinstance(param, Values) and not all(_scalar(v) for v in param.values):
        return param.values[int(value)]
    return value
