"""Cancel and replace at the paper venue: a request travels with its own latency, and when the venue sees it the
order is canceled or its successor takes over, or the late request is refused (a fill won the race). Also the
venue's own cancels (`cancel_symbol`). Functions taking the `Venue` (`venue.py`) first, called as such
(``request_cancel(venue, order)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from broker_sim._members import (
    _E_CANCELED,
    _E_ORDER_CANCEL_REJECTED,
    _E_PENDING_CANCEL,
    _S_CANCELED,
    _S_HELD,
    _S_PENDING_CANCEL,
    _T_TRAILING_STOP,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.account import Refused
from broker_sim.changes import Amendment, Notice, Replacement, ReplaceRefused, ReplaceRequest, StatusChange
from broker_sim.errors import ModelError
from broker_sim.hookspecs import Action
from broker_sim.ledger import Reservation
from broker_sim.models import Order, OrderRequest
from broker_sim.rules.buying_power import order_value

from .groups import group_of, regroup
from .order_classes import exits_work, is_exit
from .submission import estimate_price
from .timers import at, start_working
from .working import first_snapshot, trailing_stop

if TYPE_CHECKING:
    from .venue import Venue

#: Enum members as module globals, for the order path: on CPython 3.11 reading a member off its Enum class goes
#: through `EnumType.__getattr__` (~900 instructions a read); a global is a cached load.
_A_CANCEL = Action.CANCEL
_A_REPLACE = Action.REPLACE

__all__ = ["cancel_arrives", "cancel_symbol", "replace_arrives", "request_cancel", "request_replace"]


def cancel_symbol(venue: Venue, symbol: str, reason: str) -> None:
    """Cancel every open order in `symbol` at once, as the venue does before it liquidates a position (their
    reservations and the shares they hold are freed); each is ``canceled`` with `reason`."""
    now = venue.clock.now()
    for order in venue.state.open_orders():
        current = venue.state.order(order.id)
        if order.symbol == symbol and current is not None and current.status.is_open:
            venue._apply(StatusChange(order.id, _S_CANCELED, now, _E_CANCELED, reject_reason=reason))


def request_cancel(venue: Venue, order: Order) -> Order:
    """Send a cancel for a cancelable order, and with it for every open member of its bracket, oto or oco (the
    exits first, then the entry): canceled at once without latency, else `pending_cancel` until the venue
    sees it. Returns `order`'s snapshot. Raises `ModelError` (nothing changed) if the latency model answers
    nonsense."""
    delay = venue.models.latency(order, _A_CANCEL)
    now = venue.clock.now()
    for member in group_of(venue, order):
        if member.status is _S_PENDING_CANCEL or not member.status.is_open:
            continue
        if not delay:
            venue._apply(StatusChange(member.id, _S_CANCELED, now, _E_CANCELED))
            continue
        venue._apply(StatusChange(member.id, _S_PENDING_CANCEL, now, _E_PENDING_CANCEL))
        at(venue, venue.clock.time() + delay, cancel_arrives, venue, member.id, member.id != order.id)
    return venue.state.order(order.id) or order


def cancel_arrives(venue: Venue, order_id: str, cascaded: bool = False) -> None:
    """The venue sees a cancel: the order is canceled if still open, else the cancel is refused (unless it came
    with another member's, `cascaded`)."""
    order = venue.state.order(order_id)
    if order is None:
        return
    now = venue.clock.now()
    if order.status.is_open:
        venue._apply(StatusChange(order_id, _S_CANCELED, now, _E_CANCELED))
    elif not cascaded:  # a member canceled with another ended on its own meanwhile: nothing to refuse
        reason = f"order {order_id} is already {order.status.value}"
        venue._apply(Notice(order_id, _E_ORDER_CANCEL_REJECTED, now, reason))


def request_replace(venue: Venue, order: Order, request: OrderRequest, client_order_id: str | None) -> Order:
    """Send a replace: the old order goes `pending_replace` and its successor is recorded `pending_new` (and
    returned). When the venue sees it, the successor takes over, or is rejected if the old order ended
    first or the account cannot carry it. The successor of a member of a bracket, oto or oco takes its place
    in the group as the group is when the replace arrives (another member may have been replaced meanwhile),
    and a held exit's comes back held. Raises `ModelError` (nothing changed) for a nonsense
    latency."""
    delay = venue.models.latency(order, _A_REPLACE)
    now = venue.clock.now()
    remaining = request.quantity - order.filled_quantity  # type: ignore[operator]
    successor = first_snapshot(
        venue.ids.next(), client_order_id or venue.ids.next(), request, remaining, now, replaces=order.id
    )
    if order.parent_id is not None or order.legs:
        successor = attrs.evolve(successor, parent_id=order.parent_id, legs=order.legs, order_class=order.order_class)
    held = order.status is _S_HELD
    successor = venue.state.apply(ReplaceRequest(order.id, successor, request, now, held))
    if delay:
        at(venue, venue.clock.time() + delay, replace_arrives, venue, order.id)
        return successor
    return replace_arrives(venue, order.id) or successor


def replace_arrives(venue: Venue, order_id: str) -> Order | None:
    """The venue sees a replace: the successor takes over (priced and reserved now), or is refused."""
    pending = venue.state.pending_replace(order_id)
    if pending is None:
        return None
    successor = pending.successor
    old = venue.state.order(order_id)
    now = venue.clock.now()

    def refuse(reason: str) -> Order:
        return venue._apply(ReplaceRefused(order_id, successor.id, reason, now))

    if old is None or not old.status.is_open:
        return refuse(f"order {order_id} is already {old.status.value if old else 'forgotten'}")
    request = pending.request
    remaining = request.quantity - old.filled_quantity  # type: ignore[operator]
    if remaining <= QTY_EPSILON:
        return refuse(f"the new quantity {request.quantity:g} is not above the {old.filled_quantity:g} already filled")
    plan: Reservation | None = None  # an exit holds nothing: the position pays for it
    if not is_exit(old):
        price = estimate_price(venue, request)
        if price is None:
            return refuse(f"no market price known for {old.symbol} and no reference_price")
        sized = attrs.evolve(successor, quantity=remaining)
        market = venue.market.get(old.symbol)
        try:
            per_unit = venue.models.cost_per_unit(sized, price, market)
        except ModelError as exc:
            return refuse(str(exc))
        if venue.rules.buying_power_collar:
            per_unit = max(per_unit, order_value(sized, price, market))
        planned = venue.state.ledger.plan_reservation(
            successor.id, old.symbol, old.side, remaining, per_unit, releasing=order_id
        )
        if isinstance(planned, str):
            return refuse(f"replace refused: {planned}")
        plan = planned
    try:
        working = venue.state.apply(Replacement(order_id, successor.id, remaining, plan, now))
    except Refused as exc:
        return refuse(f"replace refused: {exc.reason}")
    venue._retire(order_id)
    regroup(venue, old, working)
    if working.type is _T_TRAILING_STOP and old.hwm is not None and working.hwm is None:
        # The high-water mark is the market's, not the order's: a new trail applies to the mark reached so far.
        stop = trailing_stop(working, old.hwm)
        working = venue._apply(Amendment(working.id, now, stop_price=stop, hwm=old.hwm))
    if working.status is _S_HELD:
        head = venue.state.order(working.parent_id) if working.parent_id is not None else None
        if head is None or not exits_work(head):
            return working  # an exit still waiting for its entry: it starts working with its siblings
    return start_working(venue, working)
