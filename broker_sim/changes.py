"""Change records: every change to an account's orders and money, as a small value passed to one door.

`AccountState.apply(change)` (in `account.py`) is the only way anything in an account changes. Each record says
what happened, not how to compute it: the reservation a new order holds is planned before the record is made,
a fill carries its price and fee. So a journal can write each record before it is applied, and recovery can
apply the same records again, in order, to rebuild the same state without asking any model or market price.
`AccountSnapshot`, the whole account at one moment, is here beside them: a journal writes it every so many
records and recovery starts from it (it is a value type cattrs reads, so it stays in this pure-Python module while
`account.py` may be compiled: CONTRIBUTING, "The compiled build").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from broker_sim.activities import AccountEventType, Activity
from broker_sim.ledger import LedgerSnapshot, Reservation
from broker_sim.models import EventType, Fill, Order, OrderRequest, OrderStatus, unchecked_constructor

__all__ = [
    "AccountSnapshot",
    "Amendment",
    "Change",
    "Charge",
    "Execution",
    "MarginCall",
    "MarginCallEnd",
    "NewOrder",
    "Notice",
    "OrderChange",
    "ReplaceRefused",
    "ReplaceRequest",
    "Replacement",
    "SessionClose",
    "StatusChange",
    "execution_record",
    "new_order_record",
    "status_change_record",
]


@attrs.frozen(slots=True)
class NewOrder:
    """An order is recorded: `order` is its first snapshot, `pending_new` holding `reservation`, or `rejected`
    (then `reservation` is None). The exits of a bracket, oto or oco hold none and start `held` (Alpaca's): a
    status, not an event, so a held exit is recorded silently (its parent's `legs` name it). Emits `pending_new`
    or `rejected`."""

    order: Order
    reservation: Reservation | None


@attrs.frozen(slots=True)
class StatusChange:
    """`order_id` moves to `status` at `timestamp`, emitting `event`.

    Moving to a final status frees what the order holds. `reject_reason` says why an order was rejected,
    canceled or expired by the venue.
    """

    order_id: str
    status: OrderStatus
    timestamp: datetime
    event: EventType
    reject_reason: str | None = None


@attrs.frozen(slots=True)
class Execution:
    """`fill` is booked: cash, position and the order's reservation, filled quantity, average price and status
    (`filled` when complete; `partially_filled`, or still `pending_cancel`/`pending_replace`, otherwise)."""

    fill: Fill


@attrs.frozen(slots=True)
class Amendment:
    """A working order's fields move without an event: a trailing stop's `hwm` and `stop_price`, the moment a
    stop order's stop was reached (`triggered_at`), or an exit's `quantity` following its entry's fills and its
    sibling's. Fields left None are unchanged."""

    order_id: str
    timestamp: datetime
    stop_price: float | None = None
    hwm: float | None = None
    triggered_at: datetime | None = None
    quantity: float | None = None


@attrs.frozen(slots=True)
class ReplaceRequest:
    """A replace is on its way: `order_id` goes `pending_replace` and its `successor` is recorded `pending_new`.

    `request` is the replacement as asked for; its `quantity` is the new total, of which the successor carries
    what the old order has not filled when the venue sees the request. `held`: the old order is a held exit (a
    stop-loss not yet reached, or an exit waiting for its entry), so its successor is held too, and a refused
    replace puts it back to held.
    """

    order_id: str
    successor: Order
    request: OrderRequest
    timestamp: datetime
    held: bool = False


@attrs.frozen(slots=True)
class Replacement:
    """The venue saw the replace: `order_id` ends `replaced`, its successor starts working (`new`, or `held` for a
    held exit) for `quantity`, holding `reservation` instead of the old order's (None for an exit: exits hold
    nothing). The successor of an order in a bracket, oto or oco takes its place in the group: a leg's parent
    lists the successor among its `legs`, and a parent's legs name the successor as their parent."""

    order_id: str
    successor_id: str
    quantity: float
    reservation: Reservation | None
    timestamp: datetime


@attrs.frozen(slots=True)
class ReplaceRefused:
    """The venue refused the replace (the old order ended first, or the account cannot carry the successor): the
    successor is rejected with `reason`; the old order, if still open, goes back to working
    (`order_replace_rejected`)."""

    order_id: str
    successor_id: str
    reason: str
    timestamp: datetime


@attrs.frozen(slots=True)
class Notice:
    """An event about an order that changes nothing (`order_cancel_rejected`: the cancel came too late)."""

    order_id: str
    event: EventType
    timestamp: datetime
    reason: str


@attrs.frozen(slots=True)
class SessionClose:
    """A session closed with the account at `equity` and `maintenance_margin`: what Alpaca calls `last_equity` and
    `last_maintenance_margin` until the next close (pattern day trader protection reads the equity). Changes no
    order and emits nothing."""

    timestamp: datetime
    equity: float
    maintenance_margin: float


@attrs.frozen(slots=True)
class Charge:
    """A non-trade activity is booked (a borrow fee, `FEE`, or margin interest, `INT`): `activity.amount` is taken
    from cash and counted in the account's `fees`. Emits a ``fee`` or ``interest`` account event."""

    activity: Activity


@attrs.frozen(slots=True)
class MarginCall:
    """At the session close at `timestamp` the equity (`equity`) was below the maintenance requirement
    (`requirement`): a margin call for the difference, due at `due`. Changes no money; emits ``margin_call``."""

    timestamp: datetime
    equity: float
    requirement: float
    due: datetime

    @property
    def amount(self) -> float:
        """What the call asks for: how far the equity was below the requirement."""
        return max(0.0, self.requirement - self.equity)


@attrs.frozen(slots=True)
class MarginCallEnd:
    """The open margin call ends at `timestamp`: met (``margin_call_met``: the equity covers the requirement) or
    not met when due (``liquidation``: the venue closes positions next). Changes no money; emits `outcome`."""

    timestamp: datetime
    outcome: AccountEventType
    equity: float
    requirement: float


#: The changes that change an order (`AccountState.apply` returns its snapshot).
OrderChange = NewOrder | StatusChange | Execution | Amendment | ReplaceRequest | Replacement | ReplaceRefused | Notice
#: Everything `AccountState.apply` takes: the changes to an order, and those to the account alone.
Change = OrderChange | SessionClose | Charge | MarginCall | MarginCallEnd


#: Generated constructors of the records the order path makes for every order (`NewOrder(order, reservation)`,
#: `StatusChange(order_id, status, timestamp, event)`, `Execution(fill)`): the same arguments and defaults,
#: without attrs' generic setattr (the records have no validators).
new_order_record: Any = unchecked_constructor(NewOrder)
status_change_record: Any = unchecked_constructor(StatusChange)
execution_record: Any = unchecked_constructor(Execution)


@attrs.frozen(slots=True)
class AccountSnapshot:
    """Everything an `AccountState` holds at one moment, for a journal's snapshot: the ledger, the orders in
    memory (oldest first), the replaces on their way, the fills in memory and, under a bounded history, the
    closed orders in the order they closed. `AccountState.restore` rebuilds exactly that state."""

    ledger: LedgerSnapshot
    orders: tuple[Order, ...]
    replaces: tuple[ReplaceRequest, ...]
    fills: tuple[Fill, ...]
    closed: tuple[str, ...]
    #: The account at the last session close (None before the first, and in snapshots written before it was kept).
    last_close: SessionClose | None = None
    #: The non-trade activities booked so far (borrow fees, margin interest), oldest first.
    activities: tuple[Activity, ...] = ()
    #: The margin call open at that moment, if any.
    margin_call: MarginCall | None = None
