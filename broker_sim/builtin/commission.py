"""Built-in commission models: the fee charged for one fill, in cash."""

from __future__ import annotations

from typing import ClassVar

import attrs

from broker_sim.builtin._params import number
from broker_sim.hookspecs import HookContext, hookimpl
from broker_sim.models import Fill, Order

__all__ = ["BpsCommission", "FixedCommission", "NoCommission", "PerShareCommission"]


@attrs.frozen(slots=True)
class NoCommission:
    """No fees (the default, as on Alpaca)."""

    #: Its `broker_sim_commission` answers 0.0 whatever it is asked: while it is the hook's only implementation,
    #: the paper broker uses the answer without the call (`broker_sim.adapters.paper.model_set.constant_answer`).
    constant_answer: ClassVar[float] = 0.0

    @hookimpl
    def broker_sim_commission(self, order: Order, fill: Fill, ctx: HookContext) -> float | None:
        return 0.0


@attrs.frozen(slots=True)
class PerShareCommission:
    """`rate` per share, at least `minimum` and at most `maximum` per order (cash; None = no cap).

    The minimum and the cap apply to the whole order, as brokers charge them: an order filled in many partial
    fills pays ``max(minimum, rate x shares)`` in all, the first fill carrying the minimum."""

    rate: float = attrs.field(default=0.005, validator=number(minimum=0))
    minimum: float = attrs.field(default=0.0, validator=number(minimum=0))
    maximum: float | None = attrs.field(default=None, validator=number(minimum=0))

    def _total(self, shares: float) -> float:
        fee = max(self.minimum, self.rate * shares)
        return fee if self.maximum is None else min(fee, self.maximum)

    @hookimpl
    def broker_sim_commission(self, order: Order, fill: Fill) -> float | None:
        before = order.filled_quantity
        charged = self._total(before) if before > 0 else 0.0
        return max(0.0, self._total(before + fill.quantity) - charged)


@attrs.frozen(slots=True)
class BpsCommission:
    """`bps` basis points of each fill's notional value."""

    bps: float = attrs.field(validator=number(minimum=0))

    @hookimpl
    def broker_sim_commission(self, order: Order, fill: Fill, ctx: HookContext) -> float | None:
        return fill.quantity * fill.price * self.bps / 10_000.0


@attrs.frozen(slots=True)
class FixedCommission:
    """A flat `amount` per fill."""

    amount: float = attrs.field(validator=number(minimum=0))

    @hookimpl
    def broker_sim_commission(self, order: Order, fill: Fill, ctx: HookContext) -> float | None:
        return self.amount
