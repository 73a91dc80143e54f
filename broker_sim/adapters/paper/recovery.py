"""The paper venue after a restart: its book, groups and timers rebuilt from the account state once a journal's
changes were replayed (`resume`, a function of the `Venue` in `venue.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker_sim._members import (
    _S_ACCEPTED,
    _S_HELD,
    _S_PENDING_CANCEL,
    _S_PENDING_NEW,
    _S_PENDING_REPLACE,
    _TIF_CLS,
)

from .cancel_replace import cancel_arrives, replace_arrives
from .groups import sync_group
from .order_classes import exits_work, stays_held
from .timers import start_working
from .working import Working

if TYPE_CHECKING:
    from .venue import Venue


__all__ = ["resume"]


def resume(venue: Venue) -> None:
    """Rebuild the venue's book and timers from the account state (after a journal's changes were replayed):
    orders on their way arrive, requests on their way are seen, now; working orders work again."""
    state = venue.state
    children = venue._children
    carried = venue._carried
    for order in state.orders():
        if order.legs and order.id not in children:
            children[order.id] = list(order.legs)
        if order.replaces is not None and order.id not in carried:  # (`groups.regroup`'s, for a group member)
            before, prior = 0.0, state.order(order.replaces)
            while prior is not None:
                before += prior.filled_quantity
                prior = state.order(prior.replaces) if prior.replaces is not None else None
            if before > 0.0 and (order.parent_id is not None or order.legs):
                carried[order.id] = before
    for order in state.open_orders():
        if order.id in venue._working:
            continue
        if order.status is _S_HELD:
            head = state.order(order.parent_id) if order.parent_id is not None else None
            if head is not None and exits_work(head) and stays_held(order):
                working = venue._working[order.id] = Working()  # a stop-loss that works while held
                working.since = venue.clock.now()
                venue._rest(order)
            continue
        if order.status is _S_PENDING_NEW:
            if order.replaces is None or state.pending_replace(order.replaces) is None:
                venue._arrive(order.id)  # a replacement arrives with its replace request instead
            continue
        if order.status is _S_ACCEPTED or order.time_in_force is _TIF_CLS:
            start_working(venue, order)
        else:
            working = venue._working[order.id] = Working()
            working.since = venue.clock.now()
            venue._rest(order)
        if order.status is _S_PENDING_CANCEL:
            cancel_arrives(venue, order.id)
        elif order.status is _S_PENDING_REPLACE:
            replace_arrives(venue, order.id)
    # A process that died between a group member's change and the changes that keep its exits in step (an
    # entry filled, its exits still held) is put in step now.
    for parent_id in list(children):
        parent = state.order(parent_id)
        legs = [leg for i in children[parent_id] if (leg := state.order(i)) is not None]
        if parent is not None and any(leg.status.is_open for leg in legs):
            sync_group(venue, parent)
