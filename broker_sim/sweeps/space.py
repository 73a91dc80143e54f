"""What a sweep varies: each parameter is a dotted config key (any key ``--set`` takes) with its values.

``KEY=5,10,20`` lists values (each read as YAML, as ``--set`` reads one); ``KEY=30:90:10`` is a range with a
step, both ends included when the step lands on them; ``KEY=0.01:1:log`` a log-scaled range (search only);
``KEY=[{model: none}, {model: fixed_bps, bps: 5}]`` a YAML list of any values (models, lists). A grid is the
cartesian product of the values, the last key varying fastest; a search (`broker_sim.sweeps.search`) draws from
the same specs.
"""

from __future__ import annotations

import itertools
import json
import math
import shlex
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import yaml

from broker_sim._numeric import STEP_TOLERANCE
from broker_sim.errors import ConfigError

__all__ = [
    "MAX_POINTS",
    "Param",
    "Point",
    "Span",
    "Values",
    "grid_points",
    "params_from",
    "params_label",
    "parse_param",
    "set_options",
    "span",
]

#: A grid larger than this is refused (a typo in a range, not a plan).
MAX_POINTS = 100_000


@attrs.frozen(slots=True)
class Values:
    """A parameter's listed values, in the order given."""

    key: str
    values: tuple[Any, ...]

    def grid(self) -> tuple[Any, ...]:
        return self.values


@attrs.frozen(slots=True)
class Span:
    """A numeric range, `low` to `high` inclusive; `step` None means any value (a search), `log` a log scale."""

    key: str
    low: float
    high: float
    step: float | None = None
    log: bool = False

    @property
    def integer(self) -> bool:
        """Whether the range holds integers (both ends and the step are integers)."""
        return all(isinstance(v, int) for v in (self.low, self.high, self.step if self.step is not None else 1))

    def grid(self) -> tuple[Any, ...]:
        """The range's values on a grid: from `low` by `step` up to `high` (integers step 1 by default)."""
        if self.log:
            raise ConfigError(f"--grid {self.key}: a log range has no grid; give values, or use --search optuna")
        step = self.step if self.step is not None else (1 if self.integer else None)
        if step is None:
            raise ConfigError(
                f"--grid {self.key}={self.low}:{self.high}: a range of decimals needs a step, "
                f"e.g. {self.low}:{self.high}:0.5"
            )
        count = math.floor((self.high - self.low) / step + STEP_TOLERANCE) + 1
        if count > MAX_POINTS:
            raise ConfigError(f"--grid {self.key}: {count:,} values; a sweep takes at most {MAX_POINTS:,} points")
        if self.integer:
            return tuple(int(self.low + i * step) for i in range(count))
        places = max(_decimals(self.low), _decimals(step))
        return tuple(round(self.low + i * step, places) for i in range(count))


Param = Values | Span


@attrs.frozen(slots=True)
class Point:
    """One run of a sweep: its number (`index`) and the parameters' values by dotted key."""

    index: int
    params: dict[str, Any]

    @property
    def label(self) -> str:
        """The point's parameters as ``key=value`` pairs, for messages."""
        return params_label(self.params)


def params_label(params: Mapping[str, Any] | None) -> str:
    """Parameters as ``key=value, ...`` for people (messages, the page, best.yaml's header); ``-`` for none."""
    if not params:
        return "-"
    return ", ".join(f"{key}={_text(value)}" for key, value in params.items())


def set_options(params: Mapping[str, Any]) -> str:
    """Parameters as ``--set`` options, to run one point alone: ``--set strategy.params.fast=5 ...`` (each quoted
    for a POSIX shell where it needs to be: a model's JSON has spaces and quotes)."""
    return " ".join(f"--set {shlex.quote(f'{key}={_text(value)}')}" for key, value in params.items())


def _decimals(value: float) -> int:
    try:
        exponent = Decimal(str(value)).as_tuple().exponent
    except InvalidOperation:
        return 12
    return max(0, -int(exponent)) if isinstance(exponent, int) else 12


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _yaml_value(text: str, key: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError as exc:
        raise ConfigError(f"--grid {key}: {text!r} is not a YAML value: {str(exc).splitlines()[0]}") from None


def parse_param(item: str) -> Param:
    """One ``KEY=VALUES`` (the ``--grid`` syntax, see the module docstring) as a `Values` or `Span`."""
    key, sign, text = item.partition("=")
    key = key.strip()
    if not sign or not key or not text.strip():
        raise ConfigError(f"--grid takes KEY=VALUES (e.g. strategy.params.fast=5,10,20 or ...=30:90:10), got {item!r}")
    text = text.strip()
    if text.startswith("["):
        values = _yaml_value(text, key)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"--grid {key}: {text!r} must be a non-empty YAML list")
        return Values(key, tuple(values))
    parts = text.split(":")
    if len(parts) in (2, 3) and all(p.strip() for p in parts):
        low, high = _number(parts[0]), _number(parts[1])
        last = parts[2].strip() if len(parts) == 3 else None
        if low is not None and high is not None:
            if last == "log":
                return span(key, low, high, None, log=True)
            step = _number(last) if last is not None else None
            if last is None or step is not None:
                return span(key, low, high, step)
        if low is not None or high is not None:
            raise ConfigError(
                f"--grid {key}: {text!r} is not a range; give LOW:HIGH, LOW:HIGH:STEP or LOW:HIGH:log with numbers"
            )
    return Values(key, tuple(_yaml_value(part, key) for part in text.split(",")))


def span(key: str, low: float, high: float, step: float | None = None, *, log: bool = False) -> Span:
    """A checked `Span`: finite ends, low <= high, a positive step, positive ends on a log scale."""
    if not low <= high:
        raise ConfigError(f"--grid {key}: the range must go up, got {low}:{high}")
    if step is not None and not step > 0:
        raise ConfigError(f"--grid {key}: the step must be > 0, got {step}")
    if log and not low > 0:
        raise ConfigError(f"--grid {key}: a log range needs LOW > 0, got {low}")
    return Span(key, low, high, step, log)


def params_from(grid: Mapping[str, Any] | Iterable[str] | None) -> list[Param]:
    """The sweep's parameters from the Python API's `grid`: ``{key: values}`` (a list or range of values, a
    ``(low, high[, step])`` tuple, or a ``"VALUES"`` string in the ``--grid`` syntax), or ``--grid`` strings."""
    if grid is None:
        return []
    if isinstance(grid, Mapping):
        params: list[Param] = []
        for key, spec in grid.items():
            if isinstance(spec, str):
                params.append(parse_param(f"{key}={spec}"))
            elif isinstance(spec, tuple) and len(spec) in (2, 3) and all(_is_number(v) for v in spec):
                params.append(span(str(key), *spec))
            elif isinstance(spec, Iterable) and not isinstance(spec, Mapping):
                values = tuple(spec)
                if not values:
                    raise ConfigError(f"grid {key}: give at least one value")
                params.append(Values(str(key), values))
            else:
                params.append(Values(str(key), (spec,)))
        return _unique(params)
    return _unique([parse_param(item) for item in grid])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _unique(params: list[Param]) -> list[Param]:
    seen: set[str] = set()
    for param in params:
        if param.key in seen:
            raise ConfigError(f"--grid {param.key} is given twice; give its values once")
        seen.add(param.key)
    return params


def grid_points(params: Sequence[Param]) -> list[Point]:
    """Every combination of the parameters' grid values, numbered from 0 (the last key varies fastest)."""
    axes = [param.grid() for param in params]
    total = math.prod(len(axis) for axis in axes)
    if total > MAX_POINTS:
        raise ConfigError(f"the grid has {total:,} points; a sweep takes at most {MAX_POINTS:,}")
    keys = [param.key for param in params]
    return [
        Point(index, dict(zip(keys, values, strict=True)))
        for index, values in enumerate(itertools.product(*axes) if axes else [()])
    ]
