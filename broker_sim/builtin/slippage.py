"""Built-in slippage models: how far an execution price moves against the order. Buys pay more, sells get less."""

from __future__ import annotations

import attrs

from broker_sim.builtin._params import number
from broker_sim.hookspecs import HookContext, hookimpl
from broker_sim.models import MarketData, Order, Side

__all__ = ["FixedAmountSlippage", "FixedBpsSlippage", "NoSlippage"]


@attrs.frozen(slots=True)
class NoSlippage:
    """No slippage: orders execute at the fill model's price."""

    @hookimpl
    def broker_sim_slippage(
        self, order: Order, price: float, market: MarketData | None, ctx: HookContext
    ) -> float | None:
        return price


@attrs.frozen(slots=True)
class FixedBpsSlippage:
    """A fixed cost in basis points per side: buys fill `bps` higher, sells `bps` lower (default 5, the seed's)."""

    bps: float = attrs.field(default=5.0, validator=number(minimum=0))

    @hookimpl
    def broker_sim_slippage(
        self, order: Order, price: float, market: MarketData | None, ctx: HookContext
    ) -> float | None:
        factor = self.bps / 10_000.0
        return price * (1.0 + factor) if order.side is Side.BUY else price * (1.0 - factor)


@attrs.frozen(slots=True)
class FixedAmountSlippage:
    """A fixed amount of currency per share: buys pay `amount` more, sells receive `amount` less (not below 0)."""

    amount: float = attrs.field(validator=number(minimum=0))

    @hookimpl
    def broker_sim_slippage(
        self, order: Order, price: float, market: MarketData | None, ctx: HookContext
    ) -> float | None:
        return price + self.amount if order.side is Side.BUY else max(0.0, price - self.amount)
