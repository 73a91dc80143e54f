"""Built-in latency models: how long a submit, cancel or replace takes to reach the simulated venue."""

from __future__ import annotations

import attrs

from broker_sim.builtin._params import number
from broker_sim.hookspecs import Action, HookContext, hookimpl
from broker_sim.models import Order

__all__ = ["ConstantLatency", "NoLatency", "UniformLatency"]


@attrs.frozen(slots=True)
class NoLatency:
    """No latency: the venue sees every request at once."""

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

    @hookimpl
    def broker_sim_latency(self, order: Order, action: Action, ctx: HookContext) -> float | None:
        return ctx.rng.uniform(self.low, self.high)
