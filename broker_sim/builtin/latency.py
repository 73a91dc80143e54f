"""Built-in latency models: how long a submit, cancel or replace takes to reach the simulated venue."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from broker_sim.builtin._params import number
from broker_sim.hookspecs import Action, HookContext, hookimpl
from broker_sim.models import Order

__all__ = ["ConstantLatency", "LognormalLatency", "NoLatency", "PerActionLatency", "UniformLatency"]


@attrs.frozen(slots=True)
class NoLatency:
    """No latency: the venue sees every request at once."""

    #: Its `broker_sim_latency` answers 0.0 whatever it is asked: while it is the hook's only implementation,
    #: the paper broker uses the answer without the call (`broker_sim.adapters.paper.model_set.constant_answer`).
    constant_answer: ClassVar[float] = 0.0

    @hookimpl
    def broker_sim_latency(self, order: Order, action: Action, ctx: HookContext) -> float | None:
        return 0.0


@attrs.frozen(slots=True)
class ConstantLatency:
    """The same delay, in seconds, for every request."""

    seconds: float = attrs.field(validator=number(minimum=0))

    @hookimpl
    def broker_sim_latency(self, order: Order, action: Action, ctx: HookContext) -> float | None:
        return self.seconds


def _check_range(instance: UniformLatency, attribute: attrs.Attribute[float], high: float) -> None:
    if high < instance.low:
        raise ValueError(f"high must be >= low, got low={instance.low!r} high={high!r}")


@attrs.frozen(slots=True)
class UniformLatency:
    """A delay drawn uniformly between `low` and `high` seconds (default 0.5-2.0, the seed's)."""

    low: float = attrs.field(default=0.5, validator=number(minimum=0))
    high: float = attrs.field(default=2.0, validator=[number(minimum=0), _check_range])

    #: Its `broker_sim_latency` answers ``low + (high - low) * ctx.rng.random()``: while it is the hook's only
    #: implementation, the paper broker makes that draw itself, without the call
    #: (`broker_sim.adapters.paper.model_set.uniform_draw`). Change both together.
    draws_uniform: ClassVar[bool] = True

    @hookimpl
    def broker_sim_latency(self, order: Order, action: Action, ctx: HookContext) -> float | None:
        # `ctx.rng.uniform(low, high)`, inline (its very arithmetic and draw): called once per order under latency.
        low = self.low
        return low + (self.high - low) * ctx.rng.random()


@attrs.frozen(slots=True)
class LognormalLatency:
    """A delay drawn from a log-normal distribution with the given `median` (seconds) and `sigma` (of its log):
    mostly near the median, with the occasional long tail real venues show."""

    median: float = attrs.field(default=0.5, validator=number(above=0))
    sigma: float = attrs.field(default=0.5, validator=number(minimum=0))

    @hookimpl
    def broker_sim_latency(self, order: Order, action: Action, ctx: HookContext) -> float | None:
        return ctx.rng.lognormvariate(math.log(self.median), self.sigma)


_SIMPLE = {"none": NoLatency, "constant": ConstantLatency, "uniform": UniformLatency, "lognormal": LognormalLatency}


def _per_action_model(value: object) -> object:
    """A number (constant seconds) or a mapping like ``{model: uniform, low: 0.1, high: 0.3}``."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ConstantLatency(float(value))
    if isinstance(value, Mapping):
        spec = dict(value)
        name = spec.pop("model", None)
        factory = _SIMPLE.get(name)
        if factory is None:
            raise ValueError(f"per-action latency model must be one of {', '.join(_SIMPLE)}, got {name!r}")
        try:
            return factory(**spec)
        except TypeError as exc:
            raise ValueError(f"latency model {name!r}: {exc}") from None
    raise ValueError(f"a per-action latency is seconds or {{model: ..., ...}}, got {value!r}")


@attrs.frozen(slots=True)
class PerActionLatency:
    """Separate latencies for submit, cancel and replace; each is seconds or ``{model: name, ...}`` of the
    none/constant/uniform/lognormal models; an action left out takes `submit`'s."""

    submit: Any = attrs.field(default=None, converter=_per_action_model)
    cancel: Any = attrs.field(default=None, converter=_per_action_model)
    replace: Any = attrs.field(default=None, converter=_per_action_model)

    def __attrs_post_init__(self) -> None:
        if self.submit is None:
            raise ValueError("submit is required: the latency of new orders")

    @hookimpl
    def broker_sim_latency(self, order: Order, action: Action, ctx: HookContext) -> float | None:
        model = getattr(self, action.value) or self.submit
        return model.broker_sim_latency(order, action, ctx)
