"""The one answer to "is this the same request?", which makes a resubmitted `client_order_id` idempotent on every
adapter: the same request returns the existing order, another one is an error (Alpaca answers 422).

https://docs.alpaca.markets/reference/postorder (client_order_id: "A unique identifier for the order")
"""

from __future__ import annotations

from broker_sim._numeric import QTY_EPSILON, same_price
from broker_sim.models import Order, OrderClass, OrderRequest, OrderType

__all__ = ["same_request"]


def _same_price(known: float | None, asked: float | None) -> bool:
    if known is None or asked is None:
        return known is asked
    return same_price(known, asked)


def same_request(order: Order, request: OrderRequest) -> bool:
    """Whether `request` asks for what `order` was submitted as: the same symbol, side, type, time in force,
    quantity (or notional), prices, trail, order class and extended hours.

    A trailing stop's `stop_price` is not compared (the venue sets it from the trail), nor are a bracket's exit
    prices (the exits are orders of their own). Quantities compare within `QTY_EPSILON`, prices within a
    relative 1e-9."""
    if request.notional is not None:
        quantity_matches = _same_price(order.notional, request.notional)
    else:
        quantity_matches = request.quantity is not None and abs(order.quantity - request.quantity) <= QTY_EPSILON
    return (
        quantity_matches
        and order.symbol == request.symbol
        and order.side is request.side
        and order.type is request.type
        and order.time_in_force is request.time_in_force
        and _same_price(order.limit_price, request.limit_price)
        and (order.type is OrderType.TRAILING_STOP or _same_price(order.stop_price, request.stop_price))
        and _same_price(order.trail_price, request.trail_price)
        and _same_price(order.trail_percent, request.trail_percent)
        and (order.order_class or OrderClass.SIMPLE) is request.order_class
        and bool(order.extended_hours) == request.extended_hours
    )
