"""Rules about the position an order leaves: Alpaca closes a position before it opens the other side, so no single
order takes a position from long to short (or short to long), and the shares open orders already promise to
sell (or buy back) are not available to another order.

https://docs.alpaca.markets/docs/orders-at-alpaca (an exit order only for the quantity of an existing position:
"Alpaca's system only accepts exit orders for existing positions")
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import attrs

from broker_sim._members import (
    _C_BRACKET,
    _C_OCO,
    _C_OTO,
    _S_HELD,
    _SIDE_BUY,
    _SIDE_SELL,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.errors import InsufficientQuantity
from broker_sim.models import Order, OrderRequest, Side

from .base import AccountView, Concern

__all__ = ["PositionFlip", "held_for_orders", "number_text", "order_quantity"]


def number_text(value: float) -> str:
    """A quantity as Alpaca writes it in messages: plain decimals, no exponent, no trailing zeros."""
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def held_for_orders(orders: Iterable[Order], side: Side, excluding: str | None = None) -> float:
    """How much of a position the open orders on `side` hold (Alpaca's ``held_for_orders``; a position's
    ``qty_available`` is its quantity less this). A bracket's or oco's exits hold their shares once, together,
    and only once they work (a `held` exit holds nothing); `excluding` is an order whose holding counts as free
    (one being replaced), with its group's when it is an exit."""
    groups: dict[str, float] = {}
    orders = list(orders)
    # An exit being replaced frees what its group holds: its siblings hold the same shares, not others.
    freed = next((order.parent_id or order.id for order in orders if order.id == excluding), None)
    for order in orders:
        if order.side is not side or order.id == excluding or order.status is _S_HELD:
            continue
        if freed is not None and (order.parent_id or order.id) == freed:
            continue
        if not order.status.is_open:
            continue
        group = order.parent_id or order.id
        if order.parent_id is None and order.order_class in (_C_BRACKET, _C_OTO):
            group = order.id  # an entry: its exits are the other side
        remaining = max(0.0, order.quantity - order.filled_quantity)
        groups[group] = max(groups.get(group, 0.0), remaining)
    return sum(groups.values())


def order_quantity(request: OrderRequest, view: AccountView) -> float | None:
    """The quantity `request` asks for: its own, or its notional at the last price (None if none is known)."""
    if request.quantity is not None:
        return request.quantity
    market = view.market(request.symbol)
    if market is None or request.notional is None:
        return None
    price = market.price or request.reference_price
    return request.notional / price if price else None


@attrs.frozen(slots=True)
class PositionFlip:
    """An order may close a position or open one, never both: a sell larger than the long position still
    available (its quantity less what open sell orders hold) is refused, as a buy larger than the short still
    available is. Alpaca answers 403 "insufficient qty available for order (requested: X, available: Y)"; the
    bot closes the position first, then opens the other side. Relaxed by ``position_flip_check: false``. Only an
    order against the position that may be more than it still has available (its `concern`) has anything to
    check."""

    concern: ClassVar[Concern] = Concern.FLIPS
    setting: str | None = "position_flip_check"

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        position = view.quantity(request.symbol)
        closing = (position > QTY_EPSILON and request.side is _SIDE_SELL) or (
            position < -QTY_EPSILON and request.side is _SIDE_BUY
        )
        if not closing or request.order_class is _C_OCO:
            return  # (an oco is the exits of a position: the venue checks it closes what is there)
        quantity = request.quantity
        if quantity is None:
            quantity = order_quantity(request, view)
            if quantity is None:
                return
        available = position if position > 0.0 else -position
        orders = view.open_orders(request.symbol)
        if orders:
            excluding = replacing.id if replacing is not None else None
            available -= held_for_orders(orders, request.side, excluding)
        if available < 0.0:
            available = 0.0
        if quantity > available + QTY_EPSILON:
            raise InsufficientQuantity(
                f"insufficient qty available for order (requested: {number_text(quantity)}, "
                f"available: {number_text(available)})",
                rule=self.setting,
            )
