"""The paper venue's clock and sessions: its timers (`at`; the session close it watches, an order that waits
`accepted` for the open, a cls order at the close, a day order's expiry), whether market data is in a session
(`eligible`), and how an order starts working (`start_working`, `begin`). Functions taking the `Venue`
(`venue.py`) first, called as such (``timers.at(venue, when, callback)``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from broker_sim._members import (
    _C_OCO,
    _E_CANCELED,
    _E_EXPIRED,
    _E_NEW,
    _S_ACCEPTED,
    _S_CANCELED,
    _S_EXPIRED,
    _S_NEW,
    _S_PENDING_NEW,
    _T_TRAILING_STOP,
    _TIF_CLS,
    _TIF_OPG,
)
from broker_sim.changes import StatusChange
from broker_sim.clock import TimerHandle
from broker_sim.models import (
    FINAL_STATUSES,
    Bar,
    MarketData,
    Order,
    TimeInForce,
    unchecked_bar,
)

from .groups import activate_exits
from .order_classes import exits_work
from .working import Working, start_trail

if TYPE_CHECKING:
    from .venue import Venue

_ONE_SHOT = frozenset({TimeInForce.IOC, TimeInForce.FOK, _TIF_OPG})

__all__ = [
    "at",
    "at_close",
    "at_each_close",
    "begin",
    "close",
    "data_in_session",
    "eligible",
    "expire",
    "open_accepted",
    "start_working",
]


def at(
    venue: Venue, when: float, callback: Callable[..., object], *args: Any, after_events: bool = False
) -> TimerHandle:
    """Run `callback(*args)` at clock time `when` (`after_events`: after the market data stamped `when`),
    remembered so `close` can cancel it."""
    timers = venue._timers
    handle: TimerHandle | None = None

    def fire() -> None:
        nonlocal handle
        timers.discard(handle)
        # The handle holds `fire` and `fire` holds the handle: a fired timer breaks that cycle, so it is freed
        # at once instead of waiting for the garbage collector (one per order on the replay's path).
        handle = None
        callback(*args)

    handle = (venue.clock.call_after if after_events else venue.clock.call_at)(when, fire)
    timers.add(handle)
    return handle


def eligible(venue: Venue, order: Order, market: MarketData | None) -> bool:
    """Whether `order` may be judged on `market`: data stamped inside a session (or in extended hours, for
    an order that allows them). Without market data the order's reference price stands in: always."""
    if market is None:
        return True
    stamp = market.seconds
    low, high = venue._in_session_window
    if low <= stamp <= high or data_in_session(venue, stamp):
        return True
    return order.extended_hours and venue.session.extended(stamp)


def data_in_session(venue: Venue, posix: float) -> bool:
    """Whether market data stamped `posix` (seconds) is inside a session; remembers that session's bounds, so
    the next events of the same session are two float comparisons, with no call."""
    if not venue.session.in_session(posix):
        return False
    bounds = getattr(venue.session, "bounds", None)
    if bounds is not None:
        open_, close = bounds(posix)
        if math.isfinite(open_) and math.isfinite(close):
            venue._in_session_window = (open_, close)
    return True


def at_each_close(venue: Venue, callback: Callable[[], object]) -> None:
    """Call `callback` at every session close from now on, after the market data stamped at the close."""

    def fire() -> None:
        callback()
        at(venue, venue.session.next_close(venue.clock.time()), fire, after_events=True)

    at(venue, venue.session.next_close(venue.clock.time()), fire, after_events=True)


def close(venue: Venue) -> None:
    """Cancel every timer: nothing arrives, expires or fills any more."""
    for handle in venue._timers:
        handle.cancel()
    venue._timers.clear()
    for handle in venue._arriving.values():
        handle.cancel()
    venue._arriving.clear()


def start_working(venue: Venue, order: Order) -> Order:
    """Track an order at the venue: an `accepted` one waits for the next open, a working one begins."""
    venue._working[order.id] = Working()
    if order.status is _S_ACCEPTED:
        at(venue, venue.session.next_open(venue.clock.time()), open_accepted, venue, order.id)
        return order
    return begin(venue, order)


def begin(venue: Venue, order: Order) -> Order:
    """An order starts working: judged now on the market in force (if eligible), then rests on the book; a
    cls order waits for the close, an opg order for the session's first event."""
    working = venue._working[order.id]
    working.since = venue.clock.now()
    if order.time_in_force is _TIF_CLS:
        at(venue, venue.session.next_close(venue.clock.time()), at_close, venue, order.id, after_events=True)
        return order
    if order.type is _T_TRAILING_STOP and order.hwm is None:
        order = start_trail(venue, order)
    if order.time_in_force is not _TIF_OPG and eligible(venue, order, venue.market.get(order.symbol)):
        order = venue._offer(order)
        if order.time_in_force in _ONE_SHOT:
            order = venue._offer_once(order)
    if order.status not in FINAL_STATUSES:
        venue._rest(order)
    return order


def open_accepted(venue: Venue, order_id: str) -> None:
    """An accepted order at the session open: it works from now on."""
    order = venue.state.order(order_id)
    if order is None or not order.status.is_open or order_id not in venue._working:
        return
    if order.status is _S_ACCEPTED:
        order = venue._apply(StatusChange(order_id, _S_NEW, venue.clock.now(), _E_NEW))
    order = begin(venue, order)
    if order.legs and order.order_class is _C_OCO and exits_work(order):
        activate_exits(venue, order)


def at_close(venue: Venue, order_id: str) -> None:
    """A cls order at the session close: one offer at the last price seen, the rest canceled."""
    order = venue.state.order(order_id)
    if order is None or not order.status.is_open:
        return
    market = venue.market.get(order.symbol)
    if market is not None:
        price = market.price
        volume = market.volume if isinstance(market, Bar) else 0.0
        order = venue._offer(order, unchecked_bar(order.symbol, market.timestamp, price, price, price, price, volume))
    if order.status.is_open:
        venue._apply(StatusChange(order_id, _S_CANCELED, venue.clock.now(), _E_CANCELED))


def expire(venue: Venue, order_id: str) -> None:
    """A day order at the end of its session: expired, unless it ended or has not reached the venue."""
    order = venue.state.order(order_id)
    if order is not None and order.status.is_open and order.status is not _S_PENDING_NEW:
        venue._apply(StatusChange(order_id, _S_EXPIRED, venue.clock.now(), _E_EXPIRED))
