"""Built-in fill models: whether a working order fills now, how much, and at what price before slippage."""

from __future__ import annotations

import attrs

from broker_sim.hookspecs import NO_FILL, FillDecision, HookContext, hookimpl
from broker_sim.models import MarketData, Order, OrderType, Side

__all__ = ["ImmediateFill"]


@attrs.frozen(slots=True)
class ImmediateFill:
    """Market orders fill whole at the last price; limit orders rest and fill whole once the last price reaches
    their limit (a buy at or below it, a sell at or above it), at that last price.

    The last price is a bar's close, a trade's price or a quote's mid; with no market data yet, the order's
    `reference_price`. It looks at one price per update, not at a bar's high and low.
    """

    #: The order types this model can fill; the paper adapter refuses the others at submission.
    order_types = frozenset({OrderType.MARKET, OrderType.LIMIT})

    @hookimpl
    def broker_sim_fill(self, order: Order, market: MarketData | None, ctx: HookContext) -> FillDecision | None:
        price = market.price if market is not None else order.reference_price
        if price is None:
            return NO_FILL
        if order.type is OrderType.MARKET:
            return FillDecision(order.remaining_quantity, price)
        limit = order.limit_price
        assert limit is not None  # OrderRequest guarantees it for limit orders
        marketable = price <= limit if order.side is Side.BUY else price >= limit
        return FillDecision(order.remaining_quantity, price) if marketable else NO_FILL
