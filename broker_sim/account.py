"""The account state and its one door: `AccountState.apply(change)` (or, for a caller that knows the change's type,
its typed entries `apply_new_order`, `apply_status_change` and `apply_execution`, and their entries by fields
`enter_new_order`, `enter_status_change` and `enter_execution`: the same door) is the only way orders and money
change.

Each apply does three things in order:

1. **validate**: the order exists, the status change is in the state machine's table, the fill fits the order,
   and the account can carry it; a change that fails raises and changes nothing (`Refused` for a money
   refusal the caller turns into a rejection, `InvalidTransition` for a bug);
2. **record**: the change is handed to `recorder` (a journal) before anything moves;
3. **change, then emit**: orders, reservations, cash and positions move together, then the order events go out
   (observers, listeners, `events()`), so whoever hears of a change sees all of it. A pending_new, new or fill
   event's parts are offered first (`offer`): when only a run's strategies would read the event, they keep the
   parts and the event is not made (`EventFanout.offer`).

Recovery applies recorded changes again through `AccountState.replay`: the same validation, except the money
checks, which depend on market prices a journal does not keep.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final, overload

from broker_sim._members import (
    _C_OCO,
    _E_FILL,
    _E_NEW,
    _E_ORDER_REPLACE_REJECTED,
    _E_PARTIAL_FILL,
    _E_PENDING_NEW,
    _E_PENDING_REPLACE,
    _E_REJECTED,
    _E_REPLACED,
    _S_CANCELED,
    _S_EXPIRED,
    _S_FILLED,
    _S_HELD,
    _S_NEW,
    _S_PARTIALLY_FILLED,
    _S_PENDING_CANCEL,
    _S_PENDING_NEW,
    _S_PENDING_REPLACE,
    _S_REJECTED,
    _S_REPLACED,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.activities import AccountEvent, AccountEventType, Activity, charge_event
from broker_sim.changes import (
    AccountSnapshot,
    Amendment,
    Change,
    Charge,
    Execution,
    MarginCall,
    MarginCallEnd,
    NewOrder,
    Notice,
    OrderChange,
    Replacement,
    ReplaceRefused,
    ReplaceRequest,
    SessionClose,
    StatusChange,
    execution_record,
    new_order_record,
    status_change_record,
)
from broker_sim.errors import BrokerError, InvalidTransition
from broker_sim.ledger import FillRefused, Ledger, Reservation
from broker_sim.models import (
    FINAL_STATUSES,
    EventType,
    Fill,
    Order,
    OrderEvent,
    OrderStatus,
    unchecked_event,
)
from broker_sim.orders import amend, transition, transitioner

#: Enum members as module globals, for the order path: on CPython 3.11 reading a member off its Enum class goes
#: through `EnumType.__getattr__` (~900 instructions a read); a global is a cached load.
_AE_LIQUIDATION: Final = AccountEventType.LIQUIDATION
_AE_MARGIN_CALL: Final = AccountEventType.MARGIN_CALL
_AE_MARGIN_CALL_MET: Final = AccountEventType.MARGIN_CALL_MET

__all__ = ["AccountChange", "AccountSnapshot", "AccountState", "OrderChange", "Refused"]

_S = OrderStatus
#: The changes to the account alone (no order): `AccountState.apply` returns None for them.
AccountChange = SessionClose | Charge | MarginCall | MarginCallEnd
#: Statuses in which an order can fill (it is at the venue and working).
_FILLABLE: Final = frozenset({_S_NEW, _S_PARTIALLY_FILLED, _S_PENDING_CANCEL, _S_PENDING_REPLACE})
#: Statuses that a fill leaves as they are (the request on its way still travels).
_KEPT_BY_FILLS: Final = frozenset({_S_PENDING_CANCEL, _S_PENDING_REPLACE})
#: The event a new order is announced with; a `held` exit is recorded silently (held is a status on Alpaca, not
#: a trade_updates event).
_FIRST_EVENT: Final = {_S_PENDING_NEW: _E_PENDING_NEW, _S_REJECTED: _E_REJECTED}
_FINAL_TIME_FIELD: Final = {_S_CANCELED: "canceled_at", _S_EXPIRED: "expired_at", _S_REJECTED: "failed_at"}
#: What a fill that completes an order changes (`transition` with these fields, on every order's path).
_fill_completes: Final = transitioner("filled_quantity", "filled_avg_price", "filled_at")
#: What a fill that leaves some of the order changes.
_fill_partly: Final = transitioner("filled_quantity", "filled_avg_price")
#: A status change that sets no other field (an order starts working, or waits accepted).
_move: Final = transitioner()


def _ignore(event: OrderEvent | AccountEvent) -> None:
    """The emitter while replaying: events were delivered when the changes were first applied."""


class Refused(BrokerError):
    """The account cannot take a change (not enough buying power, shorting disabled); nothing was changed.

    `reason` is the text for the order's `reject_reason`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AccountState:
    """One account's orders, fills and money (a `Ledger`), changed only through `apply`.

    `emit` receives every order event after its change is complete, `emit_account` every account event (margin
    calls, charges). `history`, when given, bounds how many closed orders and fills stay in memory (the oldest
    are forgotten). `recorder`, when set, is called with each validated change before it is applied (a
    journal); if it raises, nothing changes.
    """

    def __init__(
        self,
        ledger: Ledger,
        emit: Callable[[OrderEvent], None],
        *,
        history: int | None = None,
        emit_account: Callable[[AccountEvent], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.history = history
        self.recorder: Callable[[Change], None] | None = None
        #: The account at the last session close (None before the first): Alpaca's last_equity.
        self.last_close: SessionClose | None = None
        #: Called with each fill and the symbol's position before it, once booked (replays included): counters
        #: the rules keep (day trades) follow the fills through them.
        self.fill_observers: list[Callable[[Fill, float], object]] = []
        #: The handlers read `_emit` into a local before they call it: CPython 3.11 reads an instance attribute fast
        #: as an attribute, not as a method (``self._emit(event)`` is a slow, generic method lookup).
        self._emit = emit
        #: When set, offered the order, fill and type of a pending_new, new, fill or partial_fill event before the
        #: event is made: True says it took them, and no one would read the event (`EventFanout.offer`), which is
        #: then not made.
        self.offer: Callable[[Order, Fill | None, EventType], bool] | None = None
        self._emit_account: Callable[[AccountEvent], None] = emit_account or _ignore
        #: The non-trade activities booked (borrow fees, margin interest), oldest first.
        self.activities: list[Activity] = []
        #: The open margin call (made at a close, not yet met or liquidated), if any.
        self.margin_call: MarginCall | None = None
        self._orders: dict[str, Order] = {}
        self._client_ids: dict[str, str] = {}
        self._replaces: dict[str, ReplaceRequest] = {}
        self._fills: list[Fill] | deque[Fill] = [] if history is None else deque(maxlen=history)
        self._closed: deque[str] = deque()
        #: The ids of the open orders of each symbol, oldest first (the rules read them on every new order). A
        #: `defaultdict`: an order joins or leaves its symbol's with one subscript (``get`` still answers None).
        self._open_by_symbol: defaultdict[str, dict[str, None]] = defaultdict(dict)
        #: ``open_order_ids(symbol)``: the ids of the symbol's open orders, oldest first, as keys (empty or None when
        #: it has none; read it, never change it). The dict's own ``get``: the door asks it for every new order.
        self.open_order_ids: Callable[[str], Mapping[str, None] | None] = self._open_by_symbol.get
        #: ``order(order_id)``: the latest snapshot of the order, or None (unknown, or forgotten from a bounded
        #: history). The dict's own ``get``: the venue asks it for every working order on every market event.
        self.order: Callable[[str], Order | None] = self._orders.get
        #: ``client_order_id_taken(client_order_id)``: whether an order in memory has that client order id (the
        #: dict's own ``__contains__``: the broker asks it for every order a strategy sends).
        self.client_order_id_taken: Callable[[str], bool] = self._client_ids.__contains__
        self._handlers: dict[type, Callable[[Any, bool], Any]] = {
            NewOrder: self.apply_new_order,
            StatusChange: self.apply_status_change,
            Execution: self.apply_execution,
            Amendment: self._amendment,
            ReplaceRequest: self._replace_request,
            Replacement: self._replacement,
            ReplaceRefused: self._replace_refused,
            Notice: self._notice,
            SessionClose: self._session_close,
            Charge: self._charge,
            MarginCall: self._margin_call,
            MarginCallEnd: self._margin_call_end,
        }

    # -- reading --------------------------------------------------------------------------------------------

    def by_client_id(self, client_order_id: str) -> Order | None:
        """The order with this client order id, or None."""
        order_id = self._client_ids.get(client_order_id)
        return None if order_id is None else self._orders[order_id]

    def orders(self) -> Iterator[Order]:
        """Every order still in memory, oldest first."""
        return iter(self._orders.values())

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """The orders that are not final (in `symbol`, when given), oldest first."""
        if symbol is not None:
            working = self._open_by_symbol.get(symbol)
            if not working:
                return []  # the common case on an order's path: nothing open in the symbol, no comprehension
            orders = self._orders
            return [orders[order_id] for order_id in working]
        return [order for order in self._orders.values() if order.status.is_open]

    def symbols_with_open_orders(self) -> list[str]:
        """The symbols that have open orders."""
        return [symbol for symbol, working in self._open_by_symbol.items() if working]

    def pending_replace(self, order_id: str) -> ReplaceRequest | None:
        """The replace on its way for `order_id`, if any."""
        return self._replaces.get(order_id)

    @property
    def fills(self) -> list[Fill]:
        """The fills in memory, in execution order (a copy)."""
        return list(self._fills)

    # -- the door -------------------------------------------------------------------------------------------

    @overload
    def apply(self, change: AccountChange) -> None: ...

    @overload
    def apply(self, change: OrderChange) -> Order: ...

    def apply(self, change: Change) -> Order | None:
        """Validate, record, apply and announce one change; returns the snapshot of the order it changed (for a
        replace, of the successor), or None for a change to the account alone (a session close, a charge, a
        margin call). Raises `Refused` or `InvalidTransition` with nothing changed.

        One positional argument and no keyword (recovery goes through `replay`): CPython 3.11 specializes only
        such calls, and every change of every order comes through here. `type()` of one argument is a
        specialized call too, where ``change.__class__`` is a generic attribute read. The three changes of every
        order are called as methods, by their entries by fields (`enter_new_order`, ...: the typed entries' bodies;
        compiled, a direct call; from the handler table, a generic one), the rest through the table. The paper
        venue, which makes those three changes on a market order's path and knows which it makes, calls those
        entries itself with the changes' fields (``enter_new_order(order, reservation, False, None)``,
        ``enter_status_change``, ``enter_execution``): the same door (validate, record, change, announce) without
        this dispatch's frame, and without making the change records, which only a recorder (a journal) reads."""
        if type(change) is Execution:
            return self.enter_execution(change.fill, False, change)
        if type(change) is StatusChange:
            return self.enter_status_change(
                change.order_id, change.status, change.timestamp, change.event, change.reject_reason, change
            )
        if type(change) is NewOrder:
            return self.enter_new_order(change.order, change.reservation, False, change)
        return self._handlers[type(change)](change, False)

    def _session_close(self, change: SessionClose, replaying: bool) -> None:
        if self.recorder is not None:
            self.recorder(change)
        self.last_close = change

    def replay(self, changes: Iterable[Change]) -> int:
        """Apply recorded changes again, in order, to rebuild the state they made (recovery from a journal).

        The same validation as `apply` except the money checks; nothing is recorded or emitted again. Returns
        how many changes were applied.
        """
        emit, emit_account, recorder, offer = self._emit, self._emit_account, self.recorder, self.offer
        self._emit, self._emit_account, self.recorder, self.offer = _ignore, _ignore, None, None
        count = 0
        handlers = self._handlers
        try:
            for change in changes:
                handlers[type(change)](change, True)  # `apply`, without the money checks
                count += 1
        finally:
            self._emit, self._emit_account, self.recorder, self.offer = emit, emit_account, recorder, offer
        return count

    def _get(self, order_id: str) -> Order:
        order = self._orders.get(order_id)
        if order is None:
            raise InvalidTransition(f"no order {order_id!r} in this account")
        return order

    def _store_open(self, order: Order) -> None:
        """`_store` for an order's first snapshot: an open one joins its symbol's open orders."""
        if order.status.is_open:
            self._open_by_symbol[order.symbol][order.id] = None
        self._store(order)

    def _store(self, order: Order) -> None:
        self._orders[order.id] = order
        if order.status in FINAL_STATUSES:
            working = self._open_by_symbol.get(order.symbol)
            if working is not None:
                working.pop(order.id, None)
            self.ledger.release(order.id)
            history = self.history
            if history is not None:  # it joins the closed orders; the oldest beyond the bound are forgotten
                closed = self._closed
                closed.append(order.id)
                if len(closed) > history:
                    self._forget_beyond(history)

    def _forget_beyond(self, history: int) -> None:
        """Under a bounded history: forget the oldest closed orders beyond `history` of them (the closing paths
        add each closed order to `_closed` themselves, and call this only when it is over the bound)."""
        closed = self._closed
        while len(closed) > history:
            forgotten = self._orders.pop(closed.popleft(), None)
            if forgotten is not None:
                self._client_ids.pop(forgotten.client_order_id, None)

    def _check_new(self, order: Order) -> None:
        if order.id in self._orders:
            raise InvalidTransition(f"order id {order.id!r} is already taken")
        if order.client_order_id in self._client_ids:
            raise InvalidTransition(f"client_order_id {order.client_order_id!r} is already taken")

    def apply_new_order(self, change: NewOrder, replaying: bool) -> Order:
        """`apply` for a `NewOrder`: the door's typed entry (the same checks, record, change and event), for a
        caller that knows the change's type. Callers pass `replaying` False; only `replay` passes True (no
        money checks)."""
        return self.enter_new_order(change.order, change.reservation, replaying, change)

    def enter_new_order(
        self, order: Order, reservation: Reservation | None, replaying: bool, change: NewOrder | None
    ) -> Order:
        """`apply_new_order` for the change's fields: the same door. `change` is its record when the caller has one;
        None, it is made only if a recorder takes it (the paper venue enters every new order so: no record is made
        where no journal is kept). By position (every order's path)."""
        order_id, client_order_id = order.id, order.client_order_id
        if order_id in self._orders or client_order_id in self._client_ids:
            self._check_new(order)  # raises, naming which id is taken
        status = order.status
        recorder = self.recorder
        held = False  # whether the reservation is held already (checked and held in one pass)
        if status is _S_PENDING_NEW and reservation is not None:  # (the usual new order: whether it is an exit
            if reservation.order_id != order_id:  # matters only to one without a reservation)
                raise InvalidTransition(f"a pending_new order ({order_id}) needs its own reservation")
            if not replaying:
                # With nothing to record between the check and the hold (no journal), both in one pass.
                held = recorder is None
                refusal = self.ledger.hold_new(reservation, order, held)
                if refusal is not None:
                    raise Refused(refusal)
        elif status is _S_PENDING_NEW and order.parent_id is None and order.order_class is not _C_OCO:
            raise InvalidTransition(f"a pending_new order ({order.id}) needs its own reservation")
        elif status is _S_HELD:
            if order.parent_id is None or reservation is not None:
                raise InvalidTransition(f"a held order ({order.id}) is an exit of a parent order and holds nothing")
        elif status not in (_S_REJECTED, _S_PENDING_NEW) or reservation is not None:
            raise InvalidTransition(f"a new order starts pending_new with a reservation, or rejected; got {order}")
        if recorder is not None:
            recorder(change if change is not None else new_order_record(order, reservation))
        self._client_ids[client_order_id] = order_id
        if reservation is not None and not held:
            self.ledger.hold(reservation)
        if status is not _S_REJECTED:  # (pending_new or held) it joins its symbol's open orders
            self._open_by_symbol[order.symbol][order_id] = None
            self._orders[order_id] = order  # (`_store` for an open order, without its call)
        else:
            self._store(order)
        if status is _S_PENDING_NEW:
            offer = self.offer  # (read, then called: see `__init__`)
            if offer is None or not offer(order, None, _E_PENDING_NEW):
                emit = self._emit
                emit(unchecked_event(_E_PENDING_NEW, order, order.created_at))
            return order
        first = _FIRST_EVENT.get(status)
        if first is not None:
            emit = self._emit  # (read, then called: see `__init__`)
            emit(unchecked_event(first, order, order.created_at))
        return order

    def apply_status_change(self, change: StatusChange, replaying: bool) -> Order:
        """`apply` for a `StatusChange`: the door's typed entry (the same checks, record, change and event), for a
        caller that knows the change's type. Callers pass `replaying` False; only `replay` passes True (no
        money checks)."""
        return self.enter_status_change(
            change.order_id, change.status, change.timestamp, change.event, change.reject_reason, change
        )

    def enter_status_change(
        self,
        order_id: str,
        status: OrderStatus,
        timestamp: datetime,
        event: EventType,
        reject_reason: str | None,
        change: StatusChange | None,
    ) -> Order:
        """`apply_status_change` for the change's fields: the same door (no money checks to skip: `replaying` does
        not matter). `change` is its record when the caller has one; None, it is made only if a recorder takes it
        (as `enter_new_order`). By position."""
        order = self._orders.get(order_id) or self._get(order_id)  # (`_get` raises for an unknown id)
        final = status in FINAL_STATUSES
        stamp = _FINAL_TIME_FIELD.get(status) if final else None  # (the final statuses alone have a time field)
        if stamp is None and reject_reason is None:
            updated = _move(order, status, timestamp)  # (the common case: no other field changes)
        else:
            fields: dict[str, Any] = {}
            if reject_reason is not None:
                fields["reject_reason"] = reject_reason
            if stamp is not None:
                fields[stamp] = timestamp
            updated = transition(order, status, timestamp, **fields)
        recorder = self.recorder
        if recorder is not None:
            if change is None:
                change = status_change_record(order_id, status, timestamp, event, reject_reason)
            recorder(change)
        if final:
            self._store(updated)
        else:
            self._orders[order_id] = updated  # (`_store` for an order that stays open, without its call)
            offer = self.offer  # (an order starting to work: whoever takes it)
            if offer is not None and status is _S_NEW and event is _E_NEW and offer(updated, None, _E_NEW):
                return updated
        emit = self._emit  # (read, then called: see `__init__`)
        emit(unchecked_event(event, updated, timestamp))
        return updated

    def apply_execution(self, change: Execution, replaying: bool) -> Order:
        """`apply` for an `Execution`: the door's typed entry (the same checks, record, change and event), for a
        caller that knows the change's type. Callers pass `replaying` False; only `replay` passes True (no
        money checks)."""
        return self.enter_execution(change.fill, replaying, change)

    def enter_execution(self, fill: Fill, replaying: bool, change: Execution | None) -> Order:
        """`apply_execution` for the change's fill: the same door. `change` is its record when the caller has one;
        None, it is made only if a recorder takes it (as `enter_new_order`). By position."""
        # (The order's and the fill's fields are read once each: this is on every fill's path.)
        order_id = fill.order_id
        order = self._orders.get(order_id) or self._get(order_id)  # (`_get` raises for an unknown id)
        status = order.status
        if status not in _FILLABLE:
            raise InvalidTransition(f"order {order_id} cannot fill while {status.value}")
        quantity = fill.quantity
        ordered = order.quantity
        filled_before = order.filled_quantity
        remaining = ordered - filled_before
        if fill.symbol != order.symbol or fill.side is not order.side or not 0.0 < quantity < remaining + QTY_EPSILON:
            raise InvalidTransition(f"fill {fill} does not fit order {order_id} ({remaining:g} remaining)")
        left = remaining - quantity
        if not left > 0.0:  # max(0.0, left), without the builtin's call (~750 instructions on CPython 3.11)
            left = 0.0
        ledger = self.ledger
        recorder = self.recorder
        # Whether the booking checks the fill: with nothing to record between the check and the booking (no
        # journal), both in one pass (`book_fill`'s `check`; nothing before the booking changes anything).
        checked = not replaying
        if checked and recorder is not None:  # the journal records it once checked, before it is booked
            checked = False
            reason = ledger.fill_refusal(fill, order_id, left)
            if reason is not None:
                raise Refused(reason)
        filled = filled_before + quantity
        price = fill.price
        when = fill.timestamp
        earlier = order.filled_avg_price
        if earlier is None or not filled_before:
            average = price  # the first fill: its own price (``price * quantity / quantity`` may differ by an ulp)
        else:
            average = (earlier * filled_before + price * quantity) / filled
        if filled > ordered - QTY_EPSILON:  # `qty_at_least`, without its call (on every fill's path)
            updated = _fill_completes(order, _S_FILLED, when, ordered, average, when)
            event = _E_FILL
        else:
            status = status if status in _KEPT_BY_FILLS else _S_PARTIALLY_FILLED
            updated = _fill_partly(order, status, when, filled, average)
            event = _E_PARTIAL_FILL
        if recorder is not None:
            recorder(change if change is not None else execution_record(fill))
        try:
            before, after = ledger.book_fill(fill, order_id, left, checked)
        except FillRefused as exc:
            raise Refused(exc.reason) from None
        for observer in self.fill_observers:
            observer(fill, before)
        self._fills.append(fill)
        self._orders[order_id] = updated  # (`_store`, written out: a call less on every fill)
        if event is _E_FILL:  # the order is done
            self._open_by_symbol[order.symbol].pop(order_id, None)
            if left > QTY_EPSILON:  # (else `book_fill` used the reservation up and dropped it)
                ledger.release(order_id)
            history = self.history
            if history is not None:  # (`_store`'s bounded history, written out)
                closed = self._closed
                closed.append(order_id)
                if len(closed) > history:  # (`_forget_beyond` for the one order over the bound, written out)
                    forgotten = self._orders.pop(closed.popleft(), None)
                    if forgotten is not None:
                        self._client_ids.pop(forgotten.client_order_id, None)
                    if len(closed) > history:  # (the bound was lowered meanwhile)
                        self._forget_beyond(history)
        offer = self.offer  # (read, then called: see `__init__`)
        if offer is None or not offer(updated, fill, event):
            emit = self._emit
            emit(unchecked_event(event, updated, when, fill, after))
        return updated

    def _amendment(self, change: Amendment, replaying: bool) -> Order:
        order = self._get(change.order_id)
        if not order.status.is_open:
            raise InvalidTransition(f"order {order.id} is {order.status.value}: it cannot be amended")
        fields = {
            name: value
            for name, value in (
                ("stop_price", change.stop_price),
                ("hwm", change.hwm),
                ("triggered_at", change.triggered_at),
                ("quantity", change.quantity),
            )
            if value is not None
        }
        if change.quantity is not None and change.quantity < order.filled_quantity - QTY_EPSILON:
            raise InvalidTransition(f"order {order.id} cannot shrink below the {order.filled_quantity:g} it filled")
        updated = amend(order, change.timestamp, **fields)
        if self.recorder is not None:
            self.recorder(change)
        self._orders[order.id] = updated
        return updated

    def _replace_request(self, change: ReplaceRequest, replaying: bool) -> Order:
        old = self._get(change.order_id)
        successor = change.successor
        self._check_new(successor)
        if successor.status is not _S_PENDING_NEW or successor.replaces != old.id:
            raise InvalidTransition(f"a replacement starts pending_new and names the order it replaces: {successor}")
        if old.id in self._replaces:
            raise InvalidTransition(f"order {old.id} already has a replace on its way")
        if change.held != (old.status is _S_HELD):
            raise InvalidTransition(f"a replace of order {old.id} says held={change.held} but it is {old.status.value}")
        pending = transition(old, _S_PENDING_REPLACE, change.timestamp)
        if self.recorder is not None:
            self.recorder(change)
        self._replaces[old.id] = change
        self._client_ids[successor.client_order_id] = successor.id
        self._store(pending)
        self._store_open(successor)
        self._emit(OrderEvent(_E_PENDING_REPLACE, pending, change.timestamp))
        self._emit(OrderEvent(_E_PENDING_NEW, successor, change.timestamp))
        return successor

    def _replacement(self, change: Replacement, replaying: bool) -> Order:
        request = self._replaces.get(change.order_id)
        if request is None or request.successor.id != change.successor_id:
            raise InvalidTransition(f"no replace of order {change.order_id} by {change.successor_id} is on its way")
        old, successor = self._get(change.order_id), self._get(change.successor_id)
        reservation = change.reservation
        if reservation is None:
            if old.parent_id is None and old.order_class is not _C_OCO:
                raise InvalidTransition(f"replacement {successor.id} of {old.id} holds no reservation: only exits may")
        elif reservation.order_id != successor.id:
            raise InvalidTransition(f"the reservation of replacement {successor.id} names {reservation.order_id}")
        elif not replaying:
            refusal = self.ledger.hold_refusal(reservation, old.id)
            if refusal is not None:
                raise Refused(refusal)
        when = change.timestamp
        replaced = transition(old, _S_REPLACED, when, replaced_by=successor.id, replaced_at=when)
        status = _S_HELD if request.held else _S_NEW
        working = transition(successor, status, when, quantity=change.quantity)
        if old.parent_id is not None or old.legs:  # its group as it is now (a member replaced meanwhile moved it)
            working = amend(working, when, parent_id=old.parent_id, legs=old.legs)
        if self.recorder is not None:
            self.recorder(change)
        del self._replaces[old.id]
        self._store(replaced)
        if reservation is not None:
            self.ledger.hold(reservation)
        self._store(working)
        self._regroup(old, working, when)
        self._emit(OrderEvent(_E_REPLACED, replaced, when))
        if status is _S_NEW:
            self._emit(OrderEvent(_E_NEW, working, when))
        return working

    def _regroup(self, old: Order, successor: Order, when: datetime) -> None:
        """`successor` takes `old`'s place in its bracket, oto or oco: the parent lists it among its legs, the
        legs name it as their parent (snapshots amended without an event, as the group's membership moved)."""
        orders = self._orders
        parent = orders.get(old.parent_id) if old.parent_id is not None else None
        if parent is not None:
            legs = tuple(successor.id if leg_id == old.id else leg_id for leg_id in parent.legs)
            orders[parent.id] = amend(parent, when, legs=legs)
        for leg_id in old.legs:
            leg = orders.get(leg_id)
            if leg is not None:
                orders[leg_id] = amend(leg, when, parent_id=successor.id)

    def _replace_refused(self, change: ReplaceRefused, replaying: bool) -> Order:
        request = self._replaces.get(change.order_id)
        if request is None or request.successor.id != change.successor_id:
            raise InvalidTransition(f"no replace of order {change.order_id} by {change.successor_id} is on its way")
        successor = self._get(change.successor_id)
        when = change.timestamp
        rejected = transition(successor, _S_REJECTED, when, reject_reason=change.reason, failed_at=when)
        old = self._orders.get(change.order_id)
        back = old
        if old is not None and old.status is _S_PENDING_REPLACE:
            working = _S_PARTIALLY_FILLED if old.filled_quantity > QTY_EPSILON else _S_NEW
            back = transition(old, _S_HELD if request.held else working, when)
        if self.recorder is not None:
            self.recorder(change)
        del self._replaces[change.order_id]
        if back is not None and back is not old:
            self._store(back)
        self._store(rejected)
        if back is not None:
            self._emit(OrderEvent(_E_ORDER_REPLACE_REJECTED, back, when))
        self._emit(OrderEvent(_E_REJECTED, rejected, when))
        return rejected

    def _notice(self, change: Notice, replaying: bool) -> Order:
        order = self._get(change.order_id)
        if self.recorder is not None:
            self.recorder(change)
        self._emit(OrderEvent(change.event, order, change.timestamp))
        return order

    def _charge(self, change: Charge, replaying: bool) -> None:
        activity = change.activity
        if not activity.amount > 0:
            raise InvalidTransition(f"a charge takes a positive amount, got {activity.amount!r} ({activity.id})")
        if self.recorder is not None:
            self.recorder(change)
        self.ledger.charge(activity.amount)
        self.activities.append(activity)
        self._emit_account(charge_event(activity))

    def _margin_call(self, change: MarginCall, replaying: bool) -> None:
        if self.margin_call is not None:
            raise InvalidTransition(f"a margin call is open already (made {self.margin_call.timestamp.isoformat()})")
        if self.recorder is not None:
            self.recorder(change)
        self.margin_call = change
        text = (
            f"margin call: equity {change.equity:,.2f} is below the maintenance requirement "
            f"{change.requirement:,.2f}; due {change.due.isoformat()}"
        )
        self._emit_account(
            AccountEvent(_AE_MARGIN_CALL, change.timestamp, change.amount, text, change.equity, change.requirement)
        )

    def _margin_call_end(self, change: MarginCallEnd, replaying: bool) -> None:
        call = self.margin_call
        if call is None:
            raise InvalidTransition("no margin call is open")
        if change.outcome not in (_AE_MARGIN_CALL_MET, _AE_LIQUIDATION):
            raise InvalidTransition(f"a margin call ends met or liquidated, not {change.outcome.value}")
        if self.recorder is not None:
            self.recorder(change)
        self.margin_call = None
        deficit = max(0.0, change.requirement - change.equity)
        if change.outcome is _AE_MARGIN_CALL_MET:
            text = f"margin call met: equity {change.equity:,.2f} covers the requirement {change.requirement:,.2f}"
        else:
            text = (
                f"margin call not met when due: equity {change.equity:,.2f} is {deficit:,.2f} below the "
                f"requirement {change.requirement:,.2f}; positions are liquidated"
            )
        self._emit_account(
            AccountEvent(change.outcome, change.timestamp, deficit, text, change.equity, change.requirement)
        )

    # -- snapshots ------------------------------------------------------------------------------------------

    def snapshot(self) -> AccountSnapshot:
        """What the account holds now, for a journal's snapshot (recovery restores it, then replays what came
        after it, instead of every change since the account opened)."""
        return AccountSnapshot(
            ledger=self.ledger.snapshot(),
            orders=tuple(self._orders.values()),
            replaces=tuple(self._replaces.values()),
            fills=tuple(self._fills),
            closed=tuple(self._closed),
            last_close=self.last_close,
            activities=tuple(self.activities),
            margin_call=self.margin_call,
        )

    def restore(self, snapshot: AccountSnapshot) -> None:
        """Rebuild this new, empty account from `snapshot` (recovery from a journal); nothing is emitted. Raises
        `BrokerError` if the account has orders already."""
        if self._orders:
            raise BrokerError("restore() rebuilds a new account; this one has orders already")
        self.ledger.restore(snapshot.ledger)
        for order in snapshot.orders:
            self._orders[order.id] = order
            if order.status.is_open:
                self._open_by_symbol[order.symbol][order.id] = None
            self._client_ids[order.client_order_id] = order.id
        self._replaces = {request.order_id: request for request in snapshot.replaces}
        self._fills.extend(snapshot.fills)
        self._closed.extend(snapshot.closed)
        self.last_close = snapshot.last_close
        self.activities = list(snapshot.activities)
        self.margin_call = snapshot.margin_call
