"""The paper venue's order classes in motion: a bracket's, oto's or oco's exits recorded with their entry, kept in
step as members fill, end or are replaced (`sync_group`), and a group as it is now (`group_of`). What the rules
are is `order_classes.py`'s; these functions of the `Venue` (`venue.py`) carry them out through its door."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from broker_sim._members import (
    _C_OCO,
    _E_CANCELED,
    _E_NEW,
    _S_CANCELED,
    _S_HELD,
    _S_NEW,
    _S_REPLACED,
    _SIDE_SELL,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.changes import Amendment, NewOrder, StatusChange
from broker_sim.models import FINAL_STATUSES, Order, OrderRequest

from .order_classes import exits_work, legs_of, stays_held
from .working import first_snapshot

if TYPE_CHECKING:
    from .venue import Venue


__all__ = ["activate_exits", "closes_position", "group_of", "record_legs", "regroup", "share", "sync_group"]


def closes_position(venue: Venue, request: OrderRequest) -> str | None:
    """Why an oco order (the two exits of a position) cannot be placed: there must be a position it closes."""
    held = venue.state.ledger.quantity(request.symbol)
    closable = held if request.side is _SIDE_SELL else -held
    if closable + QTY_EPSILON < (request.quantity or 0.0):
        side = "long" if request.side is _SIDE_SELL else "short"
        return (
            f"an oco order closes a position: {request.quantity:g} {request.symbol} to "
            f"{request.side.value} but the {side} position is {max(closable, 0.0):g}"
        )
    return None


def record_legs(venue: Venue, parent: Order, request: OrderRequest, now: Any) -> None:
    """Record a bracket's, oto's or oco's exits `held` (Alpaca's): until the entry fills, or, for an oco's
    stop-loss, while it waits for its stop (`order_classes`). Exits hold no reservation."""
    venue._children[parent.id] = list(parent.legs)
    for leg_id, leg_request in zip(parent.legs, legs_of(request), strict=True):
        leg = first_snapshot(leg_id, venue.ids.next(), leg_request, parent.quantity, now)
        leg = attrs.evolve(leg, status=_S_HELD, parent_id=parent.id, order_class=parent.order_class)
        venue.state.apply(NewOrder(leg, None))


def sync_group(venue: Venue, order: Order) -> None:
    """Keep a bracket's, oto's or oco's exits in step after `order` (a member) changed: a bracket/oto entry
    that ended activates its exits for what it filled (or cancels them if it filled nothing); an exit's fill
    shrinks its sibling, and cancels it once the position they shared is closed (`order_classes`)."""
    if order.status is _S_REPLACED:
        return  # its successor carries the group on
    get = venue.state.order
    children = venue._children
    if order.order_class is _C_OCO:
        head = order if order.parent_id is None else get(order.parent_id)
        if head is None:
            return
        members = [head, *(o for i in children.get(head.id, ()) if (o := get(i)) is not None)]
        # The exits share one quantity: each is sized to it less what the others filled, so the member that
        # just changed (its quantity untouched by its own fill or cancel; what it replaced filled is carried)
        # still tells it.
        carried = venue._carried
        total = order.quantity + carried.get(order.id, 0.0)
        share(venue, members, total + sum(exited(carried, m) for m in members if m.id != order.id))
        return
    if order.parent_id is None:  # a bracket or oto entry
        if order.status not in FINAL_STATUSES:
            return  # its exits stay held until it has filled completely
        legs = [o for i in children.get(order.id, ()) if (o := get(i)) is not None]
        entered = exited(venue._carried, order)  # (an entry replaced while partly filled carries those fills)
        if entered <= QTY_EPSILON:
            for leg in legs:
                leg = get(leg.id) or leg  # an earlier cancel may have canceled its sibling already
                if leg.status is _S_HELD:
                    venue._apply(
                        StatusChange(
                            leg.id, _S_CANCELED, venue.clock.now(), _E_CANCELED,
                            reject_reason="its entry did not fill",
                        )
                    )  # fmt: skip
            return
        share(venue, legs, entered)
        activate_exits(venue, order)
        return
    parent = get(order.parent_id)
    if parent is not None and exits_work(parent):
        legs = [o for i in children.get(parent.id, ()) if (o := get(i)) is not None]
        share(venue, legs, exited(venue._carried, parent))


def activate_exits(venue: Venue, parent: Order) -> None:
    """The held exits of `parent` start working: a take-profit (or an oto's only exit) goes `new`; a bracket's
    or oco's stop-loss works while it stays `held`, until its stop is reached."""
    get = venue.state.order
    for leg_id in venue._children.get(parent.id, ()):
        leg = get(leg_id)
        if leg is None or leg.status is not _S_HELD or leg_id in venue._working:
            continue
        if not stays_held(leg):
            leg = venue._apply(StatusChange(leg_id, _S_NEW, venue.clock.now(), _E_NEW))
            if leg.status is not _S_NEW:
                continue
        venue.start_working(leg)


def exited(carried: dict[str, float], member: Order) -> float:
    """What a group member filled, with what the orders it replaced filled (`Venue._carried`)."""
    return member.filled_quantity + carried.get(member.id, 0.0)


def share(venue: Venue, members: list[Order], total: float) -> None:
    """Size each open exit of a group to `total` less what its siblings filled (a replaced sibling's fills
    included); cancel one left with nothing. An exit that replaced a partly filled one is sized to what is left
    of `total` less what it replaced filled, as its own fills count from 0."""
    carried = venue._carried
    filled = sum(exited(carried, member) for member in members)
    get = venue.state.order
    for member in members:
        member = get(member.id) or member  # changes made while syncing an earlier member may have ended it
        if member.status in FINAL_STATUSES:
            continue
        own_carried = carried.get(member.id, 0.0)
        target = total - (filled - member.filled_quantity - own_carried) - own_carried
        if target <= member.filled_quantity + QTY_EPSILON:
            reason = "its sibling exit filled" if filled > QTY_EPSILON else "its entry did not fill"
            venue._apply(StatusChange(member.id, _S_CANCELED, venue.clock.now(), _E_CANCELED, reject_reason=reason))
        elif abs(target - member.quantity) > QTY_EPSILON:
            venue._apply(Amendment(member.id, venue.clock.now(), quantity=target))


def group_of(venue: Venue, order: Order) -> list[Order]:
    """`order` and the other members of its bracket, oto or oco, as they are now: the exits, then the entry (or
    the oco order); just `order` when it is a plain order."""
    get = venue.state.order
    head = get(order.parent_id) if order.parent_id is not None else order
    if head is None or not head.legs:
        return [order]
    legs = [leg for i in venue._children.get(head.id, head.legs) if (leg := get(i)) is not None]
    return [*legs, get(head.id) or head]


def regroup(venue: Venue, old: Order, successor: Order) -> None:
    """The venue's record of groups follows a replaced member: its successor takes its place."""
    children = venue._children
    carried = venue._carried
    before = carried.pop(old.id, 0.0) + old.filled_quantity
    if before > 0.0 and (old.parent_id is not None or old.id in children):  # a group's member
        carried[successor.id] = before
    if old.parent_id is not None:
        siblings = children.get(old.parent_id)
        if siblings is not None:
            children[old.parent_id] = [successor.id if i == old.id else i for i in siblings]
    if old.id in children:
        children[successor.id] = children.pop(old.id)
