"""Alpaca's buying power check values an opening order above its price: a market buy at a collar above the last
price, a short sale at 3 % above the ask (or its limit, if higher). The order's value is then checked against
the buying power left after the open orders, and held until the order ends.

https://docs.alpaca.markets/docs/orders-at-alpaca#buying-power ("In the case of market buy orders, the limit
price is 2.5% to 4% above the current market price"; "MAX(order's limit price, 3% above the current ask price)")

Alpaca leaves the market-buy collar open between 2.5 % and 4 %; we take the tiers Alpaca uses when it turns a buy
stop into a stop limit (https://docs.alpaca.markets/docs/orders-at-alpaca#stop-order): 4 % under $50, 2.5 % from
$50. Relaxed by ``buying_power_collar: false`` (orders valued at their estimated fill price, fees included).
"""

from __future__ import annotations

from typing import Final

from broker_sim._members import (
    _SIDE_BUY,
)
from broker_sim.models import MarketData, Order, Quote

__all__ = ["COLLAR_TIER_PRICE", "SHORT_COLLAR", "buy_collar", "order_value"]

#: Market buys (and buy stops) priced under this are valued at `_COLLAR_UNDER_TIER` above the price, else at
#: `_COLLAR_FROM_TIER` above it.
COLLAR_TIER_PRICE = 50.0
_COLLAR_UNDER_TIER: Final = 0.04
_COLLAR_FROM_TIER: Final = 0.025
#: An opening short is valued at least this share above the ask.
SHORT_COLLAR = 0.03
#: What a price is multiplied by for each collar (the same float ``1.0 + collar`` makes, worked out once: every
#: order is valued so).
_UNDER_TIER_FACTOR: Final = 1.0 + _COLLAR_UNDER_TIER
_FROM_TIER_FACTOR: Final = 1.0 + _COLLAR_FROM_TIER
_SHORT_FACTOR: Final = 1.0 + SHORT_COLLAR


def buy_collar(price: float) -> float:
    """The share above `price` a market buy is valued at: 4 % under $50, 2.5 % from $50."""
    return _COLLAR_UNDER_TIER if price < COLLAR_TIER_PRICE else _COLLAR_FROM_TIER


def order_value(order: Order, price: float, market: MarketData | None) -> float:
    """One unit's value for Alpaca's buying power check, for the part of `order` that opens or grows a position:
    a buy's limit price, or `price` (the last price, or the stop) plus the collar; a short sale's limit or 3 %
    above the ask, whichever is higher (the ask is the quote's, else `price`). A notional order is valued at
    `price`: its quantity was sized from it."""
    if order.notional is not None:
        return price
    if order.side is _SIDE_BUY:
        if order.limit_price is not None:
            return order.limit_price
        return price * (_UNDER_TIER_FACTOR if price < COLLAR_TIER_PRICE else _FROM_TIER_FACTOR)
    ask = market.ask if isinstance(market, Quote) and market.ask > 0 else price
    floor = ask * _SHORT_FACTOR
    return floor if order.limit_price is None else max(order.limit_price, floor)
