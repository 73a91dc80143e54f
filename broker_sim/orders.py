"""The order state machine: the one table of allowed status changes, and the functions that make a changed snapshot.

Two ways in. The simulator drives orders itself and uses `transition`, which refuses any change the strict table
does not allow with `InvalidTransition` (always a bug in the adapter, never a user error). An adapter that only
*reports* what a venue said (a stream can miss events) uses `observe`, which accepts any status reachable from
the current one and ignores a stale report.

The statuses and their meanings are Alpaca's (see `OrderStatus`). A fill that reaches the venue while a cancel
or replace is on its way leaves the order `pending_cancel`/`pending_replace` (the fill wins, the request still
travels); a refused replace returns the order to `new` or `partially_filled`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from broker_sim._codegen import compile_function, plain_fields, writable_twin
from broker_sim.errors import InvalidTransition
from broker_sim.models import Order, OrderStatus

__all__ = ["ALLOWED_TRANSITIONS", "REACHABLE", "amend", "can_transition", "observe", "transition", "transitioner"]

_S = OrderStatus


def _table(entries: Mapping[OrderStatus, set[OrderStatus]]) -> dict[OrderStatus, frozenset[OrderStatus]]:
    return {status: frozenset(entries.get(status, ())) for status in OrderStatus}


#: status -> the statuses the simulator may move it to. A status with no entry (or an empty one) is final or is
#: never produced by the simulator. `rejected` after `new` covers a fill the account cannot pay for. `held` is an
#: exit of a bracket, oto or oco (Alpaca's): waiting for its entry to fill, or a stop-loss working until its stop
#: is reached (then `new`); a held exit's replacement comes back `held` (`pending_new` -> `held`).
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = _table(
    {
        _S.PENDING_NEW: {_S.NEW, _S.ACCEPTED, _S.HELD, _S.REJECTED, _S.CANCELED, _S.PENDING_CANCEL},
        _S.ACCEPTED: {_S.NEW, _S.CANCELED, _S.EXPIRED, _S.REJECTED, _S.PENDING_CANCEL, _S.PENDING_REPLACE},
        _S.HELD: {_S.NEW, _S.ACCEPTED, _S.CANCELED, _S.EXPIRED, _S.REJECTED, _S.PENDING_CANCEL, _S.PENDING_REPLACE},
        _S.NEW: {
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.CANCELED,
            _S.EXPIRED,
            _S.REJECTED,
            _S.PENDING_CANCEL,
            _S.PENDING_REPLACE,
        },
        _S.PARTIALLY_FILLED: {
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.CANCELED,
            _S.EXPIRED,
            _S.PENDING_CANCEL,
            _S.PENDING_REPLACE,
        },
        _S.PENDING_CANCEL: {_S.PENDING_CANCEL, _S.FILLED, _S.CANCELED, _S.EXPIRED, _S.REJECTED},
        _S.PENDING_REPLACE: {
            _S.PENDING_REPLACE,
            _S.HELD,
            _S.NEW,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.REPLACED,
            _S.CANCELED,
            _S.EXPIRED,
            _S.REJECTED,
        },
    }
)

#: Moves a live venue may report besides the simulator's own (statuses the simulator never produces).
_REPORTED_ONLY: dict[OrderStatus, set[OrderStatus]] = {
    _S.PENDING_NEW: {_S.PENDING_REVIEW, _S.ACCEPTED_FOR_BIDDING},
    _S.PENDING_REVIEW: {_S.NEW, _S.ACCEPTED, _S.REJECTED, _S.CANCELED},
    _S.ACCEPTED_FOR_BIDDING: {_S.NEW, _S.CANCELED, _S.REJECTED},
    _S.ACCEPTED: {_S.PENDING_NEW},
    _S.NEW: {_S.DONE_FOR_DAY, _S.STOPPED, _S.SUSPENDED, _S.CALCULATED},
    _S.PARTIALLY_FILLED: {_S.DONE_FOR_DAY, _S.STOPPED, _S.SUSPENDED, _S.CALCULATED},
    _S.DONE_FOR_DAY: {_S.NEW, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED, _S.PENDING_CANCEL},
    _S.STOPPED: {_S.FILLED, _S.CANCELED, _S.EXPIRED},
    _S.SUSPENDED: {_S.NEW, _S.PARTIALLY_FILLED, _S.CANCELED, _S.EXPIRED},
    _S.CALCULATED: {_S.FILLED},
}


def _closure(edges: Mapping[OrderStatus, frozenset[OrderStatus]]) -> dict[OrderStatus, frozenset[OrderStatus]]:
    reach: dict[OrderStatus, frozenset[OrderStatus]] = {}
    for start in OrderStatus:
        seen: set[OrderStatus] = set()
        stack = list(edges[start])
        while stack:
            status = stack.pop()
            if status not in seen:
                seen.add(status)
                stack.extend(edges[status])
        reach[start] = frozenset(seen)
    return reach


#: status -> every status a venue may report after it (through any number of moves, missed events included).
REACHABLE: dict[OrderStatus, frozenset[OrderStatus]] = _closure(
    {status: ALLOWED_TRANSITIONS[status] | _REPORTED_ONLY.get(status, set()) for status in OrderStatus}
)


def _make_copier(changed: tuple[str, ...], *, checked: bool = False) -> Callable[..., Order]:
    """A function ``copy(order, *values)`` that copies an `Order` field by field with the fields named in
    `changed` set to `values`, without running `__init__` (straight-line code, as attrs generates its own
    methods): an order changes three or four times in its life, so this is on the order path. The other values
    are copied from a valid snapshot, so there is nothing to check. Raises `TypeError` for an unknown field.

    `checked` makes ``move(order, status, when, *values)`` instead: the table's check of the status change, then
    the copy with `status` and ``updated_at`` set too (`transitioner`'s function, in one call)."""
    names = [field.name for field in plain_fields(Order, purpose="copier")]
    unknown = [name for name in changed if name not in names]
    if unknown:
        raise TypeError(f"Order has no field {unknown[0]!r}")
    given = {name: f"value{index}" for index, name in enumerate(changed)}
    # Filled as Order's writable twin by plain stores, then made an `Order` (`writable_twin` says why).
    namespace: dict[str, Any] = {"Order": Order, "Writable": writable_twin(Order)}
    if checked:
        given.update(status="status", updated_at="when")
        namespace.update(allowed=ALLOWED_TRANSITIONS, refuse=transition)
        lines = [
            f"def copy(order, status, when{''.join(f', value{index}' for index in range(len(changed)))}):",
            "    if status not in allowed[order.status]:",
            "        refuse(order, status, when)  # raises, naming what the table allows",
            "    twin = Writable()",
        ]
    else:
        lines = [f"def copy(order{''.join(f', {value}' for value in given.values())}):", "    twin = Writable()"]
    for name in names:
        lines.append(f"    twin.{name} = {given.get(name, f'order.{name}')}")
    lines.append("    twin.__class__ = Order")
    lines.append("    return twin\n")
    moved = ("status", "updated_at") if checked else ()
    purpose = f"copy Order ({', '.join((*changed, *moved)) or 'nothing changed'})"
    return compile_function("\n".join(lines), "copy", namespace, purpose=purpose)


#: A copier per set of changed fields (in the order given): the order path changes a handful of sets. It pays
#: (benchmarks/instructions.py, issue 27): one copier of every field then a setter per change costs 1.1-7 % more
#: instructions per market order with latency none (445,882-472,452 against 440,999) and 1.0-1.1 % with latency
#: uniform (521,291-521,949 against 516,046).
_COPIERS: dict[tuple[str, ...], Callable[..., Order]] = {}
#: More distinct sets than this (never on the engine's own paths) are made without keeping their copier.
_MAX_COPIERS = 256


def _changed(order: Order, changes: dict[str, Any]) -> Order:
    names = tuple(changes)
    copier = _COPIERS.get(names)
    if copier is None:
        copier = _make_copier(names)
        if len(_COPIERS) < _MAX_COPIERS:
            _COPIERS[names] = copier
    return copier(order, *changes.values())


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    """Whether the simulator's table allows moving an order from `current` to `new`."""
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
    changes["status"] = status
    changes["updated_at"] = when
    return _changed(order, changes)


def transitioner(*changed: str) -> Callable[..., Order]:
    """`transition` for a hot path that changes the same fields every time: ``move(order, status, when, *values)``
    with `values` for the fields `changed`, in that order. The same check and the same snapshot, in one generated
    function without keyword arguments to gather (the account books every fill with one)."""
    if "status" in changed or "updated_at" in changed:
        raise TypeError("a transitioner sets status and updated_at itself; name only the other fields")
    return _make_copier(changed, checked=True)


def amend(order: Order, when: datetime, **changes: Any) -> Order:
    """A new snapshot of `order` with `changes` to fields other than its status (a trailing stop's stop price)."""
    if "status" in changes:
        raise InvalidTransition(f"amend cannot change the status of order {order.id}; use transition")
    changes["updated_at"] = when
    return _changed(order, changes)


def observe(current: Order | None, reported: Order) -> Order | None:
    """What an adapter should keep when a venue reports `reported` for an order it knew as `current`.

    Returns `reported` when it is news (a first sight, the same status with other fields, or a status reachable
    from the current one, even through events that were missed), and None when it is stale (an older report
    arriving after a newer one, e.g. `new` after `filled`). Raises `InvalidTransition` if the ids differ.
    """
    if current is None:
        return reported
    if current.id != reported.id:
        raise InvalidTransition(f"a report for order {reported.id} cannot update order {current.id}")
    if reported.status is current.status:
        return reported if reported.filled_quantity >= current.filled_quantity else None
    return reported if reported.status in REACHABLE[current.status] else None
