"""Alpaca's order classes on the paper venue: what a bracket, oto or oco request's exits are, and when each of
them is `held` or working. Plain functions of order snapshots; the venue (`venue.py`) acts on their answers.

Alpaca's lifecycle, which the venue follows (https://docs.alpaca.markets/docs/orders-at-alpaca, "Bracket
Orders", "OCO Orders", "OTO Orders"; the statuses as Alpaca reports them in
https://forum.alpaca.markets/t/bracket-order-exit-trades-not-executing/3697):

* A bracket's or oto's exits are recorded `held` with the entry. They stay held while the entry fills in parts;
  when it has filled completely the take-profit (and an oto's only exit) goes `new`, and a bracket's stop-loss
  stays `held` while it works, until its stop is reached (then `new`, then filled). An oco order is itself the
  take-profit (`new` once it works); its stop-loss leg is `held` the same way.
* One exit's fill shrinks its sibling, and cancels it once the position they shared is closed.
* A cancel of any member cancels the whole group (the entry and every exit still open): Alpaca cancels a
  bracket's other leg with the one canceled, and the legs with their entry.
* Exits are replaceable (a take-profit's limit, a stop-loss's stop), keeping their place and status in the group.

Where Alpaca's pages leave it open, the paper venue chooses: an entry that ends (expires, or the venue cancels its
rest) after filling only part activates its exits for what it filled, so the shares bought are protected; one
that ends with nothing filled cancels its held exits.
"""

from __future__ import annotations

from broker_sim._members import (
    _C_OCO,
    _C_OTO,
    _S_ACCEPTED,
    _S_FILLED,
    _S_PENDING_NEW,
    _S_REPLACED,
    _SIDE_BUY,
    _SIDE_SELL,
    _T_STOP,
    _T_STOP_LIMIT,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.models import FINAL_STATUSES, Order, OrderRequest, OrderStatus

__all__ = ["exits_work", "is_exit", "legs_of", "stays_held"]

_S = OrderStatus
_STOPS = frozenset({_T_STOP, _T_STOP_LIMIT})
#: An oco order waits at these before its exits work.
_NOT_YET_WORKING = frozenset({_S_PENDING_NEW, _S_ACCEPTED})


def legs_of(request: OrderRequest) -> list[OrderRequest]:
    """The exit orders of a bracket, oto or oco request, in the order of its `legs`: a take-profit limit and/or a
    stop-loss stop (stop-limit). A bracket's and oto's exits trade the other way from the entry; an oco's are
    the request's own side (the request itself is the take-profit, so only the stop-loss is a leg)."""
    oco = request.order_class is _C_OCO
    side = request.side if oco else (_SIDE_SELL if request.side is _SIDE_BUY else _SIDE_BUY)
    quantity, tif, legs = request.quantity, request.time_in_force, []
    take, stop = request.take_profit, request.stop_loss
    if take is not None and not oco:
        legs.append(OrderRequest(request.symbol, side, quantity, type="limit", limit_price=take.limit_price,
                                 time_in_force=tif))  # fmt: skip
    if stop is not None:
        kind = "stop" if stop.limit_price is None else "stop_limit"
        legs.append(OrderRequest(request.symbol, side, quantity, type=kind, stop_price=stop.stop_price,
                                 limit_price=stop.limit_price, time_in_force=tif))  # fmt: skip
    return legs


def is_exit(order: Order) -> bool:
    """Whether `order` is an exit of a group (a leg, or an oco order itself): it holds no reservation."""
    return order.parent_id is not None or order.order_class is _C_OCO


def stays_held(leg: Order) -> bool:
    """Whether a working exit is reported `held` (Alpaca's): the stop-loss of a bracket or oco, until its stop is
    reached. A take-profit, or an oto's only exit, works as `new`."""
    return leg.order_class is not _C_OTO and leg.type in _STOPS and leg.triggered_at is None


def exits_work(parent: Order) -> bool:
    """Whether the exits of `parent` (a bracket, oto or oco order) are working: an oco's once the oco order works
    at the venue; a bracket's or oto's once its entry filled completely, or ended having filled a part."""
    if parent.order_class is _C_OCO:
        return parent.status not in _NOT_YET_WORKING
    status = parent.status
    return status is _S_FILLED or (
        status in FINAL_STATUSES and status is not _S_REPLACED and parent.filled_quantity > QTY_EPSILON
    )
