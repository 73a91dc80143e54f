"""The order state machine: the one table of allowed status changes, and the only function that changes one.

Adapters never build a changed `Order` by hand; they call `transition`, which refuses any change the table does
not allow with `InvalidTransition` (always a bug in the adapter, never a user error).
"""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Any

import attrs

from broker_sim.errors import InvalidTransition
from broker_sim.models import Order, OrderStatus

__all__ = ["ALLOWED_TRANSITIONS", "amend", "can_transition", "transition"]

_S = OrderStatus

#: status -> the statuses it may move to. A status missing on the left is final.
#: Fills may race a cancel or a replace on the way to the venue, as on a real venue, hence the fill targets
#: from the pending states. `rejected` after acceptance covers a fill the account cannot pay for.
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.NEW: frozenset({_S.ACCEPTED, _S.REJECTED, _S.CANCELED, _S.PENDING_CANCEL}),
    _S.ACCEPTED: frozenset(
        {
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.CANCELED,
            _S.EXPIRED,
            _S.REJECTED,
            _S.PENDING_CANCEL,
            _S.PENDING_REPLACE,
        }
    ),
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED, _S.PENDING_CANCEL, _S.PENDING_REPLACE}
    ),
    _S.PENDING_CANCEL: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED}),
    _S.PENDING_REPLACE: frozenset({_S.ACCEPTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.REPLACED, _S.CANCELED, _S.EXPIRED}),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.REPLACED: frozenset(),
}


_FIELDS = tuple(field.name for field in attrs.fields(Order))
_VALUES = operator.attrgetter(*_FIELDS)


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    """Whether the table allows moving an order from `current` to `new`."""
    return new in ALLOWED_TRANSITIONS[current]


def transition(order: Order, status: OrderStatus, when: datetime, **changes: Any) -> Order:
    """Return a new snapshot of `order` in `status` at `when`, with `changes` applied to its other fields.

    Raises `InvalidTransition` if the table does not allow the change; the old snapshot is untouched either way.
    """
    if status not in ALLOWED_TRANSITIONS[order.status]:
        raise InvalidTransition(
            f"order {order.id} ({order.symbol}) cannot go from {order.status.value} to {status.value}; "
            f"allowed: {', '.join(sorted(s.value for s in ALLOWED_TRANSITIONS[order.status])) or 'none'}"
        )
    values = dict(zip(_FIELDS, _VALUES(order), strict=True))
    values.update(changes, status=status, updated_at=when)
    return Order(**values)


def amend(order: Order, when: datetime, **changes: Any) -> Order:
    """A new snapshot of `order` with `changes` to fields other than its status (a trailing stop's stop price)."""
    if "status" in changes:
        raise InvalidTransition(f"amend cannot change the status of order {order.id}; use transition")
    values = dict(zip(_FIELDS, _VALUES(order), strict=True))
    values.update(changes, updated_at=when)
    return Order(**values)
