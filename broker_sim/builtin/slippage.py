"""Built-in slippage models: how far an execution price moves against the order. Buys pay more, sells get less."""

from __future__ import annotations

from typing import ClassVar

import attrs

from broker_sim.builtin._params import number
from broker_sim.hookspecs import HookContext, hookimpl
from broker_sim.models import Bar, MarketData, Order, Quote, Side

#: Enum members as module globals, for the order path: on CPython 3.11 reading a member off its Enum class goes
#: through `EnumType.__getattr__` (~900 instructions a read); a global is a cached load.
_SIDE_BUY = Side.BUY

__all__ = ["FixedAmountSlippage", "FixedBpsSlippage", "NoSlippage", "SpreadSlippage", "VolumeShareSlippage"]


@attrs.frozen(slots=True)
class NoSlippage:
    """No slippage: orders execute at the fill model's price."""

    #: Its answer depends on the hook's arguments alone (`ModelSet`): a fill at its estimate's price is not asked again.
    deterministic: ClassVar[bool] = True

    @hookimpl
    def broker_sim_slippage(
        self, order: Order, price: float, market: MarketData | None, ctx: HookContext
    ) -> float | None:
        return price


@attrs.frozen(slots=True)
class FixedBpsSlippage:
    """A fixed cost in basis points per side: buys fill `bps` higher, sells `bps` lower (default 5, the seed's)."""

    #: Its answer depends on the hook's arguments alone (`ModelSet`): a fill at its estimate's price is not asked again.
    deterministic: ClassVar[bool] = True

    #: Its answer is ``price * (1.0 ± bps / 10_000.0)`` whatever else it is asked: while it is the hook's one
    #: implementation, the paper broker works that out without the call (`bps_factor` in
    #: `broker_sim.adapters.paper.model_set`). A subclass that overrides `broker_sim_slippage` does not inherit this.
    slips_fixed_bps: ClassVar[bool] = True

    bps: float = attrs.field(default=5.0, validator=number(minimum=0))

    @hookimpl
    def broker_sim_slippage(
        self, order: Order, price: float, market: MarketData | None, ctx: HookContext
    ) -> float | None:
        factor = self.bps / 10_000.0
        return price * (1.0 + factor) if order.side is _SIDE_BUY else price * (1.0 - factor)


@attrs.frozen(slots=True)
class FixedAmountSlippage:
    """A fixed amount of currency per share: buys pay `amount` more, sells receive `amount` less (not below 0)."""

    #: Its answer depends on the hook's arguments alone (`ModelSet`): a fill at its estimate's price is not asked again.
    deterministic: ClassVar[bool] = True

    amount: float = attrs.field(validator=number(minimum=0))

    @hookimpl
    def broker_sim_slippage(
        self, order: Order, price: float, market: MarketData | None, ctx: HookContext
    ) -> float | None:
        return price + self.amount if order.side is _SIDE_BUY else max(0.0, price - self.amount)


@attrs.frozen(slots=True)
class SpreadSlippage:
    """Cross the quoted spread: buys pay half the bid-ask spread above the price, sells half below it.

    Without a quote for the symbol, `default_bps` (the full spread, in basis points) stands in for it.
    """

    #: Its answer depends on the hook's arguments alone (`ModelSet`): a fill at its estimate's price is not asked again.
    deterministic: ClassVar[bool] = True

    default_bps: float = attrs.field(default=0.0, validator=number(minimum=0))

    @hookimpl
    def broker_sim_slippage(
        self, order: Order, price: float, market: MarketData | None, ctx: HookContext
    ) -> float | None:
        quoted = isinstance(market, Quote)
        half = (market.ask - market.bid) / 2 if quoted else price * self.default_bps / 20_000.0  # type: ignore[union-attr]
        return price + half if order.side is _SIDE_BUY else max(0.0, price - half)


@attrs.frozen(slots=True)
class VolumeShareSlippage:
    """Impact grows with the fill's share of the bar's volume, as zipline's VolumeShareSlippage:
    ``price x price_impact x share^2``, the share capped at `volume_limit`; no bar volume, no impact."""

    #: Its answer depends on the hook's arguments alone (`ModelSet`): a fill at its estimate's price is not asked again.
    deterministic: ClassVar[bool] = True

    price_impact: float = attrs.field(default=0.1, validator=number(minimum=0))
    volume_limit: float = attrs.field(default=0.025, validator=number(above=0))

    @hookimpl
    def broker_sim_slippage(
        self, order: Order, price: float, market: MarketData | None, quantity: float
    ) -> float | None:
        if not isinstance(market, Bar) or market.volume <= 0:
            return price
        share = min(quantity / market.volume, self.volume_limit)
        impact = price * self.price_impact * share * share
        return price + impact if order.side is _SIDE_BUY else max(0.0, price - impact)
