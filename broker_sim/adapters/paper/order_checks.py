"""The checks a `PaperBroker` makes of an order request, a cancel or a replace before the venue sees it (besides
Alpaca's rules, which the door asks): a symbol and order type it trades, a client order id not used for another
order, what a cancel or a replace may do to an order as Alpaca allows, and the request a replace turns into.
Each refusal raises and changes nothing; the venue carries out what passes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from broker_sim._members import (
    _S_ACCEPTED,
    _S_PENDING_CANCEL,
    _S_PENDING_NEW,
    _S_PENDING_REPLACE,
    _T_TRAILING_STOP,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.account import AccountState
from broker_sim.broker import ReplaceOrderRequest
from broker_sim.errors import DuplicateClientOrderId, InvalidOrder, OrderNotCancelable, OrderNotReplaceable
from broker_sim.models import Order, OrderRequest
from broker_sim.rules import same_request

from .model_set import ModelSet
from .order_classes import is_exit

__all__ = ["cancel_needed", "check_supported", "known_order", "replacement_request"]

#: Statuses an order cannot be replaced from: on its way, not yet working, or with a request already on its way.
_NOT_REPLACEABLE = frozenset({_S_PENDING_NEW, _S_ACCEPTED, _S_PENDING_CANCEL, _S_PENDING_REPLACE})


def check_supported(request: OrderRequest, symbols: frozenset[str] | None, models: ModelSet) -> None:
    """Raise `InvalidOrder` if `request`'s symbol is not among `symbols` (None: any symbol) or its type is not one
    the fill model of `models` fills."""
    if symbols is not None and request.symbol not in symbols:
        raise InvalidOrder(
            f"unknown symbol {request.symbol!r} ({request.side.value} order for {request.symbol}); "
            f"tradable: {sorted(symbols)}"
        )
    fill_types = models.fill_types
    if fill_types is not None and request.type not in fill_types:
        raise InvalidOrder(
            f"order type {request.type.value} is not supported by fill model {models.names['fill']!r} "
            f"({request.side.value} order for {request.symbol}); "
            f"supported: {', '.join(sorted(t.value for t in fill_types))}"
        )


def known_order(state: AccountState, client_order_id: str, request: OrderRequest) -> Order | None:
    """The order of `state` a repeated `client_order_id` names if `request` is the same (None if the id is new);
    raises `DuplicateClientOrderId` if it names a different order."""
    known = state.by_client_id(client_order_id)
    if known is None:
        return None
    if same_request(known, request):
        return known
    raise DuplicateClientOrderId(
        f"client_order_id {client_order_id!r} is already used by order {known.id} "
        f"({known.side.value} {known.quantity:g} {known.symbol} {known.type.value}); "
        "client order ids must be unique"
    )


def cancel_needed(order: Order, state: AccountState, group_of: Callable[[Order], Iterable[Order]]) -> bool:
    """Whether a cancel of `order` (of the account `state`; `group_of` gives its bracket, oto or oco's members) must be
    requested: False when one is already on its way. Raises `OrderNotCancelable` for an order that is final, one
    with a replace on its way (its own, its predecessor's or a group member's)."""
    order_id = order.id
    if order.status.is_final:
        raise OrderNotCancelable(f"order {order_id} ({order.symbol}) is already {order.status.value}")
    if order.status is _S_PENDING_CANCEL:
        return False
    if order.status is _S_PENDING_REPLACE:
        raise OrderNotCancelable(
            f"order {order_id} ({order.symbol}) is pending_replace: cancel its replacement once it works"
        )
    if order.replaces is not None and state.pending_replace(order.replaces) is not None:
        raise OrderNotCancelable(
            f"order {order_id} ({order.symbol}) replaces {order.replaces} and is on its way: cancel it once it works"
        )
    for member in group_of(order):
        if member.status is _S_PENDING_REPLACE:
            raise OrderNotCancelable(
                f"order {order_id} ({order.symbol}) is in a {order.order_class.value} order whose member "
                f"{member.id} is pending_replace: a cancel cancels the whole group, so cancel once it works"
            )
    return True


def replacement_request(order: Order, changes: ReplaceOrderRequest) -> OrderRequest:
    """The request that replaces `order` with `changes` (what they leave out, `order` keeps). Raises
    `OrderNotReplaceable` for an order that is final, not yet working or with a request on its way, and
    `InvalidOrder` for changes that change nothing, change what a group's exit cannot, do not fit the order's
    type, or leave no quantity beyond what is filled."""
    quantity, limit_price, stop_price = changes.quantity, changes.limit_price, changes.stop_price
    time_in_force, trail = changes.time_in_force, changes.trail
    order_id = order.id
    if not order.status.is_open or order.status in _NOT_REPLACEABLE:
        state = order.status.value
        raise OrderNotReplaceable(f"order {order_id} ({order.symbol}) is {state}: it cannot be replaced")
    if all(value is None for value in (quantity, limit_price, stop_price, time_in_force, trail)):
        raise InvalidOrder(f"replace of order {order_id} changes nothing: give quantity, prices or time_in_force")
    if is_exit(order) and (quantity is not None or time_in_force is not None):
        field = "quantity" if quantity is not None else "time_in_force"
        raise InvalidOrder(
            f"order {order_id} is an exit of a {order.order_class.value} order: its {field} follows the group; "
            "replace its limit_price or stop_price"
        )
    trailing = order.type is _T_TRAILING_STOP
    if trail is not None and not trailing:
        raise InvalidOrder(f"trail is only for trailing_stop orders; order {order_id} is {order.type.value}")
    if stop_price is not None and trailing:
        raise InvalidOrder(f"order {order_id} is a trailing_stop: change its trail, not its stop_price")
    by_price = order.trail_price is not None
    request = OrderRequest(
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity if quantity is None else quantity,
        type=order.type,
        time_in_force=order.time_in_force if time_in_force is None else time_in_force,
        limit_price=order.limit_price if limit_price is None else limit_price,
        stop_price=None if trailing else (order.stop_price if stop_price is None else stop_price),
        reference_price=order.reference_price,
        trail_price=(trail if by_price and trail is not None else order.trail_price),
        trail_percent=(trail if not by_price and trail is not None else order.trail_percent),
        client_order_id=changes.client_order_id,
        extended_hours=order.extended_hours,
    )  # a member of a bracket, oto or oco: its successor takes its place in the group (the venue sees to it)
    if not request.quantity > order.filled_quantity + QTY_EPSILON:  # type: ignore[operator]
        raise InvalidOrder(
            f"quantity {request.quantity:g} is not above the {order.filled_quantity:g} already filled "
            f"(order {order_id}, {order.symbol})"
        )
    return request
