"""What the paper venue keeps about each working order besides its snapshot, an order's first snapshot, and the
trailing stop's arithmetic: the small parts `venue.py` and its timers share (`Venue` keeps the book itself)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from broker_sim._codegen import compile_function, plain_fields, writable_twin
from broker_sim._members import (
    _S_PENDING_NEW,
    _SIDE_BUY,
    _T_LIMIT,
    _T_MARKET,
    _TIF_DAY,
    _TIF_FOK,
    _TIF_GTC,
    _TIF_IOC,
)
from broker_sim._numeric import QTY_EPSILON, qty_at_least
from broker_sim.changes import Amendment
from broker_sim.clock import TimerHandle
from broker_sim.hookspecs import FillDecision
from broker_sim.models import Bar, MarketData, Order

if TYPE_CHECKING:
    from .venue import Venue


__all__ = [
    "PLAIN_TIMES_IN_FORCE",
    "PLAIN_TYPES",
    "Working",
    "by_time",
    "first_snapshot",
    "size_notional",
    "start_trail",
    "trail",
    "trailing_stop",
]

#: The order types and times in force of the orders most arrive as, which `Venue._arrive_plain` takes (a simple
#: order of these, reaching the venue in a session); not opg or cls: they wait for an auction.
PLAIN_TYPES: Final = frozenset({_T_MARKET, _T_LIMIT})
PLAIN_TIMES_IN_FORCE: Final = frozenset({_TIF_DAY, _TIF_GTC, _TIF_IOC, _TIF_FOK})


#: An order's first snapshot's fields, as expressions of `first_snapshot`'s parameters (the rest keep `Order`'s
#: defaults): built from its request, `pending_new` at `now`.
_FIRST_FIELDS = {
    "id": "order_id",
    "client_order_id": "client_order_id",
    "symbol": "request.symbol",
    "side": "request.side",
    "quantity": "quantity",
    "type": "request.type",
    "time_in_force": "request.time_in_force",
    "limit_price": "request.limit_price",
    "stop_price": "request.stop_price",
    "status": "pending_new",
    "filled_quantity": "0.0",
    "filled_avg_price": "None",
    "reject_reason": "None",
    "created_at": "now",
    "updated_at": "now",
    "reference_price": "request.reference_price",
    "trail_price": "request.trail_price",
    "trail_percent": "request.trail_percent",
    "replaces": "replaces",
    "submitted_at": "now",
    "order_class": "request.order_class",
    "extended_hours": "request.extended_hours",
    "notional": "request.notional",
}


def _first_snapshot_maker() -> Any:
    """`first_snapshot`, generated: the `Order` filled field by field as its writable twin (`writable_twin` says
    why), in one call per order."""
    namespace: dict[str, Any] = {
        "Order": Order,
        "Writable": writable_twin(Order),
        "pending_new": _S_PENDING_NEW,
    }
    lines = ["def first_snapshot(order_id, client_order_id, request, quantity, now, replaces=None):"]
    lines.append("    order = Writable()")
    for index, field in enumerate(plain_fields(Order, purpose="first snapshot")):
        value = _FIRST_FIELDS.get(field.name)
        if value is None:
            if field.default is attrs.NOTHING:
                raise TypeError(f"first_snapshot sets no value for Order's field {field.name!r}")
            namespace[f"default{index}"] = field.default
            value = f"default{index}"
        lines.append(f"    order.{field.name} = {value}")
    lines.append("    order.__class__ = Order")
    lines.append("    return order\n")
    return compile_function("\n".join(lines), "first_snapshot", namespace, purpose="first snapshot Order")


#: ``first_snapshot(order_id, client_order_id, request, quantity, now, replaces=None)``: an order's first snapshot
#: (`pending_new`) from its request, `quantity` its size (a notional order's estimate). Generated code (one call
#: per order); `tests/adapters/test_venue_parts.py` checks it against `Order` built by keyword.
first_snapshot: Any = _first_snapshot_maker()


def by_time(judged: tuple[float, int, Order, FillDecision]) -> tuple[float, int]:
    """Sort key of a bar's fill decisions: when in the bar, then arrival order."""
    return judged[0], judged[1]


def trailing_stop(order: Order, mark: float) -> float:
    """A trailing stop's stop for high-water mark `mark`: below it for sells, above it for buys."""
    offset = order.trail_price if order.trail_price is not None else mark * (order.trail_percent or 0.0) / 100
    return mark + offset if order.side is _SIDE_BUY else mark - offset


class Working:
    """What the venue tracks about a working order besides its snapshot."""

    __slots__ = ("evaluated", "expiry", "since")

    def __init__(self) -> None:
        #: Whether the fill model has judged the order at least once (answered something other than NOT_YET).
        self.evaluated = False
        self.expiry: TimerHandle | None = None
        #: When the order started working (None while it waits `accepted`): the fill hook's `working_since`.
        self.since: datetime | None = None


def start_trail(venue: Venue, order: Order) -> Order:
    """A trailing stop starts working: its high-water mark is the price in force now (Alpaca's rule), the last
    market price or, without one, the order's reference price; its stop trails that by the trail."""
    market = venue.market.get(order.symbol)
    price = market.price if market is not None else order.reference_price
    if price is None:
        return order
    return venue._apply(Amendment(order.id, venue.clock.now(), stop_price=trailing_stop(order, price), hwm=price))


def trail(venue: Venue, order: Order, market: MarketData | None) -> Order:
    """Move a trailing stop's high-water mark (`hwm`) and stop after the best price of an event that came
    after it started working (a bar's high for sells, low for buys). The event that moves the mark was
    judged against the old stop first, so the new stop applies from the next event."""
    if market is None:
        return order
    buy = order.side is _SIDE_BUY
    best = (market.low if buy else market.high) if isinstance(market, Bar) else market.price
    mark = order.hwm
    if mark is not None and not (best < mark if buy else best > mark):
        return order
    return venue._apply(Amendment(order.id, venue.clock.now(), stop_price=trailing_stop(order, best), hwm=best))


def size_notional(venue: Venue, order: Order, quantity: float, executed: float) -> tuple[Order, float]:
    """A notional order is sized at its fill price, as Alpaca does: its quantity becomes what the cash not yet
    spent buys (or sells) at `executed`; returns the amended order and the quantity this fill executes."""
    spent = order.filled_quantity * (order.filled_avg_price or 0.0)
    total = order.filled_quantity + round((order.notional - spent) / executed, 9)  # type: ignore[operator]
    rest = qty_at_least(quantity, order.quantity - order.filled_quantity)
    if abs(total - order.quantity) > QTY_EPSILON:
        order = venue._apply(Amendment(order.id, venue.clock.now(), quantity=total))
    remaining = order.quantity - order.filled_quantity
    return order, remaining if rest else min(quantity, remaining)
