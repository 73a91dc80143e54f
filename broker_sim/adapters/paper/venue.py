"""The simulated venue: orders on their way, the book of working orders, triggers, trailing stops, expiry, and the
races between fills and cancel/replace requests. It changes nothing itself: every change is a record applied
through the account's door (`AccountState.apply`); the venue only keeps what it needs to decide (the latest
market event per symbol, which orders rest on which symbol, its timers).

Life of an order: `submit` checks and prices it, then records it `pending_new` holding its reservation (or
`rejected`), and it reaches the venue after the latency model's delay on the clock. There it starts working
(`new`; an opg order waits `accepted` for the open) and is offered to the fill model; what does not fill rests
(day, gtc) or is canceled (ioc, fok) and is offered again on every market update for its symbol. A cancel or
replace travels with its own latency; a fill that reaches the venue first wins, and the late request is refused
with an `order_cancel_rejected` or `order_replace_rejected` event.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from broker_sim._numeric import QTY_EPSILON, qty_at_least
from broker_sim.account import AccountState, Refused
from broker_sim.calendar import Session
from broker_sim.changes import (
    Amendment,
    NewOrder,
    Notice,
    OrderChange,
    Replacement,
    ReplaceRefused,
    ReplaceRequest,
    StatusChange,
    execution_record,
    new_order_record,
    status_change_record,
)
from broker_sim.clock import Clock, TimerHandle
from broker_sim.errors import ModelError
from broker_sim.hookspecs import Action, FillDecision
from broker_sim.ids import IdSource
from broker_sim.ledger import Reservation
from broker_sim.models import (
    FINAL_STATUSES,
    Bar,
    EventType,
    MarketData,
    Order,
    OrderClass,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    unchecked_bar,
    unchecked_fill,
    unchecked_order,
)
from broker_sim.rules import RuleSettings
from broker_sim.rules.buying_power import order_value

from .model_set import ModelSet
from .order_classes import exits_work, is_exit, legs_of, stays_held
from .refusals import refusal_for_reason

#: Enum members as module globals, for the order path: on CPython 3.11 reading a member off its Enum class goes
#: through `EnumType.__getattr__` (~900 instructions a read); a global is a cached load.
_A_CANCEL = Action.CANCEL
_A_REPLACE = Action.REPLACE
_A_SUBMIT = Action.SUBMIT
_C_OCO = OrderClass.OCO
_C_SIMPLE = OrderClass.SIMPLE
_E_ACCEPTED = EventType.ACCEPTED
_E_CANCELED = EventType.CANCELED
_E_EXPIRED = EventType.EXPIRED
_E_NEW = EventType.NEW
_E_ORDER_CANCEL_REJECTED = EventType.ORDER_CANCEL_REJECTED
_E_PENDING_CANCEL = EventType.PENDING_CANCEL
_E_REJECTED = EventType.REJECTED
_SIDE_BUY = Side.BUY
_SIDE_SELL = Side.SELL
_S_ACCEPTED = OrderStatus.ACCEPTED
_S_CANCELED = OrderStatus.CANCELED
_S_EXPIRED = OrderStatus.EXPIRED
_S_HELD = OrderStatus.HELD
_S_NEW = OrderStatus.NEW
_S_PENDING_CANCEL = OrderStatus.PENDING_CANCEL
_S_PENDING_NEW = OrderStatus.PENDING_NEW
_S_PENDING_REPLACE = OrderStatus.PENDING_REPLACE
_S_REJECTED = OrderStatus.REJECTED
_S_REPLACED = OrderStatus.REPLACED
_TIF_CLS = TimeInForce.CLS
_TIF_DAY = TimeInForce.DAY
_TIF_FOK = TimeInForce.FOK
_TIF_GTC = TimeInForce.GTC
_TIF_IOC = TimeInForce.IOC
_TIF_OPG = TimeInForce.OPG
_T_LIMIT = OrderType.LIMIT
_T_MARKET = OrderType.MARKET
_T_STOP = OrderType.STOP
_T_STOP_LIMIT = OrderType.STOP_LIMIT
_T_TRAILING_STOP = OrderType.TRAILING_STOP

__all__ = ["Venue", "first_snapshot"]

log = logging.getLogger(__name__)

_S = OrderStatus
_ONE_SHOT = frozenset({_TIF_IOC, _TIF_FOK, _TIF_OPG})
#: A time before any market data (the session window before the first event).
_NEVER = math.inf
_PLAIN_TYPES = frozenset({_T_MARKET, _T_LIMIT})
#: The times in force of the orders `Venue._work_plain` takes (not opg or cls: they wait for an auction).
_PLAIN_TIF = frozenset({_TIF_DAY, _TIF_GTC, _TIF_IOC, _TIF_FOK})
#: What a stop order becomes once triggered.
_TRIGGERED_AS = {
    _T_STOP: _T_MARKET,
    _T_TRAILING_STOP: _T_MARKET,
    _T_STOP_LIMIT: _T_LIMIT,
}


def _nothing() -> None:
    """The default `Venue.on_fill`."""


def first_snapshot(
    order_id: str,
    client_order_id: str,
    request: OrderRequest,
    quantity: float,
    now: Any,
    replaces: str | None = None,
) -> Order:
    """An order's first snapshot (`pending_new`) from its request.

    Built with positional arguments, in `Order`'s field order (a call per order: keywords cost a name match
    each); `tests/adapters/test_venue_parts.py` checks it against `Order` built by keyword."""
    return unchecked_order(
        order_id, client_order_id, request.symbol, request.side, quantity, request.type, request.time_in_force,
        request.limit_price, request.stop_price, _S_PENDING_NEW, 0.0, None, None, now, now,
        request.reference_price, request.trail_price, request.trail_percent, replaces, None, now,
        None, None, None, None, None, None, request.order_class, (), None, request.extended_hours, request.notional,
    )  # fmt: skip


def _by_time(judged: tuple[float, int, Order, FillDecision]) -> tuple[float, int]:
    """Sort key of a bar's fill decisions: when in the bar, then arrival order."""
    return judged[0], judged[1]


def _trailing_stop(order: Order, mark: float) -> float:
    """A trailing stop's stop for high-water mark `mark`: below it for sells, above it for buys."""
    offset = order.trail_price if order.trail_price is not None else mark * (order.trail_percent or 0.0) / 100
    return mark + offset if order.side is _SIDE_BUY else mark - offset


class _Working:
    """What the venue tracks about a working order besides its snapshot."""

    __slots__ = ("evaluated", "expiry", "since")

    def __init__(self) -> None:
        #: Whether the fill model has judged the order at least once (answered something other than NOT_YET).
        self.evaluated = False
        self.expiry: TimerHandle | None = None
        #: When the order started working (None while it waits `accepted`): the fill hook's `working_since`.
        self.since: datetime | None = None


class Venue:
    """The simulated venue of one paper account. `market` is shared with the broker (the latest event per
    symbol); `book` maps each symbol to the ids of the orders resting on it, in arrival order."""

    def __init__(
        self,
        state: AccountState,
        models: ModelSet,
        clock: Clock,
        session: Session,
        ids: IdSource,
        market: dict[str, MarketData],
        *,
        rules: RuleSettings | None = None,
    ) -> None:
        self.state = state
        #: The rules in force (`broker_sim.rules`): whether orders are valued as Alpaca's buying power check values
        #: them, and whether a fill may take a position through zero. The broker sets them again when its rules
        #: change at runtime.
        self.rules = rules if rules is not None else RuleSettings()
        self.models = models
        self.clock = clock
        self.session = session
        self.ids = ids
        self.market = market
        self.book: dict[str, dict[str, None]] = {}
        self._working: dict[str, _Working] = {}
        self._timers: set[TimerHandle] = set()
        #: Called after each fill is booked (the broker watches the session close from then on).
        self.on_fill: Callable[[], None] = _nothing
        #: Each bracket, oto or oco parent's legs (its exits), by parent id.
        self._children: dict[str, list[str]] = {}
        #: The bounds of the last session market data was seen in: data stamped within is in session.
        self._in_session_window: tuple[float, float] = (_NEVER, _NEVER)

    # -- timers ---------------------------------------------------------------------------------------------

    def _at(self, when: float, callback: Callable[..., object], *args: Any, after_events: bool = False) -> TimerHandle:
        """Run `callback(*args)` at clock time `when` (`after_events`: after the market data stamped `when`),
        remembered so `close` can cancel it."""
        timers = self._timers
        handle: TimerHandle | None = None

        def fire() -> None:
            nonlocal handle
            timers.discard(handle)
            # The handle holds `fire` and `fire` holds the handle: a fired timer breaks that cycle, so it is freed
            # at once instead of waiting for the garbage collector (one per order on the replay's path).
            handle = None
            callback(*args)

        handle = (self.clock.call_after if after_events else self.clock.call_at)(when, fire)
        timers.add(handle)
        return handle

    def at_each_close(self, callback: Callable[[], object]) -> None:
        """Call `callback` at every session close from now on, after the market data stamped at the close."""

        def fire() -> None:
            callback()
            self._at(self.session.next_close(self.clock.time()), fire, after_events=True)

        self._at(self.session.next_close(self.clock.time()), fire, after_events=True)

    def close(self) -> None:
        """Cancel every timer: nothing arrives, expires or fills any more."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    # -- the door -------------------------------------------------------------------------------------------

    def _apply(self, change: OrderChange) -> Order:
        """Apply `change` through the account's door; an order that ended leaves the book."""
        order = self.state.apply(change)
        if order.status in FINAL_STATUSES:
            self._retire(order.id)
        if order.legs or order.parent_id is not None:
            self._sync_group(order)
            return self.state.order(order.id) or order
        return order

    def _retire(self, order_id: str) -> None:
        working = self._working.pop(order_id, None)
        if working is None:
            return
        if working.expiry is not None:
            working.expiry.cancel()
            self._timers.discard(working.expiry)
        for resting in self.book.values():
            if resting.pop(order_id, 0) is None:
                break

    def _fail(self, order: Order, reason: str) -> Order:
        """End an order the venue cannot go on with: rejected, or canceled if part of it filled already."""
        now = self.clock.now()
        if order.filled_quantity > QTY_EPSILON:
            return self._apply(StatusChange(order.id, _S_CANCELED, now, _E_CANCELED, reject_reason=reason))
        return self._apply(StatusChange(order.id, _S_REJECTED, now, _E_REJECTED, reject_reason=reason))

    # -- submission -----------------------------------------------------------------------------------------

    def estimate_price(self, request: OrderRequest) -> float | None:
        """The price a reservation is sized at: the limit, else the stop, else the last or reference price."""
        if request.limit_price is not None:
            return request.limit_price
        if request.stop_price is not None:
            return request.stop_price
        market = self.market.get(request.symbol)
        if market is not None:
            return market.price
        return request.reference_price

    def submit(
        self, request: OrderRequest, *, announce: tuple[EventType, str] | None = None, refuse: bool = False
    ) -> Order:
        """Check, price and record a new order, and send it on its way; returns its snapshot.

        Everything that can fail is asked before anything is recorded: the price estimate, the slippage and
        commission estimates, the reservation, the latency. A failure records the order `rejected` with the
        reason (a model's nonsense names the model). With `refuse` (an order at the broker's door), what the
        account cannot carry (buying power, shares other orders hold) is raised as the `OrderRefused` Alpaca
        answers instead, and nothing is recorded.
        """
        now = self.clock.now()
        order_id = self.ids.next()
        client_order_id = request.client_order_id or self.ids.next()
        price = self.estimate_price(request)
        quantity = request.quantity
        if quantity is None and price is not None:
            quantity = round(request.notional / price, 9)  # type: ignore[operator]
        order = first_snapshot(order_id, client_order_id, request, quantity or 0.0, now)
        if price is None or not quantity:
            reason = f"no market price known for {request.symbol} and no reference_price given"
            return self._reject_new(order, reason, now)
        exits = request.order_class is _C_OCO
        if exits:
            refusal = self._closes_position(request)
            if refusal is not None:
                return self._reject_new(order, refusal, now)
            order = attrs.evolve(order, legs=(self.ids.next(),))
        elif request.order_class is not _C_SIMPLE:
            order = attrs.evolve(order, legs=tuple(self.ids.next() for _ in legs_of(request)))
        plan: Reservation | None = None  # the exits of a position hold nothing: the position pays for them
        try:
            if not exits:
                market = self.market.get(order.symbol)
                per_unit = self.models.cost_per_unit(order, price, market)
                if self.rules.buying_power_collar:
                    value = order_value(order, price, market)
                    if value > per_unit:  # max(), without the builtin's call (~750 instructions on CPython 3.11)
                        per_unit = value
                planned = self.state.ledger.plan_reservation(
                    order_id,
                    order.symbol,
                    order.side,
                    quantity,
                    per_unit,
                    check_power=False,  # the door checks it when the order is recorded
                )
                if isinstance(planned, str):
                    if refuse:
                        raise refusal_for_reason(planned)
                    return self._reject_new(order, planned, now)
                plan = planned
            delay = self.models.latency(order, _A_SUBMIT)
        except ModelError as exc:
            return self._reject_new(order, str(exc), now)
        try:
            self.state.apply(new_order_record(order, plan))
        except Refused as exc:
            if refuse:
                raise refusal_for_reason(exc.reason) from None
            return self._reject_new(order, exc.reason, now)
        if order.legs:
            self._record_legs(order, request, now)
        if announce is not None:
            self.state.apply(Notice(order_id, announce[0], now, announce[1]))
        if delay:
            self._at(self.clock.time() + delay, self._arrive, order_id)
            return order
        return self._arrive(order_id) or order

    def _closes_position(self, request: OrderRequest) -> str | None:
        """Why an oco order (the two exits of a position) cannot be placed: there must be a position it closes."""
        held = self.state.ledger.quantity(request.symbol)
        closable = held if request.side is _SIDE_SELL else -held
        if closable + QTY_EPSILON < (request.quantity or 0.0):
            side = "long" if request.side is _SIDE_SELL else "short"
            return (
                f"an oco order closes a position: {request.quantity:g} {request.symbol} to "
                f"{request.side.value} but the {side} position is {max(closable, 0.0):g}"
            )
        return None

    def _record_legs(self, parent: Order, request: OrderRequest, now: Any) -> None:
        """Record a bracket's, oto's or oco's exits `held` (Alpaca's): until the entry fills, or, for an oco's
        stop-loss, while it waits for its stop (`order_classes`). Exits hold no reservation."""
        self._children[parent.id] = list(parent.legs)
        for leg_id, leg_request in zip(parent.legs, legs_of(request), strict=True):
            leg = first_snapshot(leg_id, self.ids.next(), leg_request, parent.quantity, now)
            leg = attrs.evolve(leg, status=_S_HELD, parent_id=parent.id, order_class=parent.order_class)
            self.state.apply(NewOrder(leg, None))

    def _reject_new(self, order: Order, reason: str, now: Any) -> Order:
        rejected = attrs.evolve(order, status=_S_REJECTED, reject_reason=reason, failed_at=now, legs=())
        return self.state.apply(NewOrder(rejected, None))

    # -- working --------------------------------------------------------------------------------------------

    def _arrive(self, order_id: str) -> Order | None:
        """The venue sees the order: it works at once during a session (`new`), else it waits `accepted` for the
        next open (an opg order always does)."""
        order = self.state.order(order_id)  # None: forgotten from a bounded history
        if order is None or order.status in FINAL_STATUSES or order_id in self._working:
            return order
        if order.status is _S_PENDING_NEW:
            now = self.clock.time()
            session = self.session
            waits = order.time_in_force is _TIF_OPG or not (
                session.trading(now) or (order.extended_hours and session.extended(now))
            )
            if (
                not waits
                and order.type in _PLAIN_TYPES
                and order.time_in_force in _PLAIN_TIF
                and order.order_class is _C_SIMPLE  # no bracket, oto or oco around it
                and not order.legs
                and order.parent_id is None
            ):
                return self._work_plain(order)
            status, event = (_S_ACCEPTED, _E_ACCEPTED) if waits else (_S_NEW, _E_NEW)
            order = self._apply(status_change_record(order_id, status, self.clock.now(), event))
        started = self._start_working(order)
        if order.legs and order.order_class is _C_OCO and exits_work(started):
            self._activate_exits(started)  # an oco's stop-loss works beside it
        return started

    def _work_plain(self, order: Order) -> Order:
        """`_arrive` fused with `_start_working`, `_begin`, `_offer`, `_ask` and `_act` for the orders most arrive
        as: a simple market or limit order (day, gtc, ioc or fok) that reaches the venue in a session. It goes
        `new`, is judged once on the market in force, and rests if anything is left; the same changes, events,
        hook calls and random draws as the general path, with fewer calls (a market order's hot path)."""
        order_id = order.id
        clock = self.clock
        now = clock.now()
        order = self.state.apply(status_change_record(order_id, _S_NEW, now, _E_NEW))
        working = self._working[order_id] = _Working()
        since = working.since = clock.now()  # (the same moment, unless a listener of `new` moved the clock)
        market = self.market.get(order.symbol)
        if self._eligible(order, market):
            try:
                decision = self.models.fill(order, market, since)
            except ModelError as exc:
                self._fail(order, str(exc))
                decision = None
            else:
                if decision is None:  # nobody decided: left alone, it would work forever without a word
                    self._fail(order, self.models.declined(order))
            if decision is None:
                order = self.state.order(order_id) or order
            else:
                if not decision.wait:
                    working.evaluated = True
                quantity = decision.quantity
                if quantity > QTY_EPSILON:
                    remaining = order.quantity - order.filled_quantity
                    if remaining < quantity:  # min(), without the builtin's call
                        quantity = remaining
                    if order.time_in_force is not _TIF_FOK or qty_at_least(quantity, remaining):
                        order = self._execute(order, quantity, decision.price)
            if order.time_in_force in _ONE_SHOT:
                order = self._offer_once(order)
        if order.status not in FINAL_STATUSES:
            self._rest(order)
        return order

    def _eligible(self, order: Order, market: MarketData | None) -> bool:
        """Whether `order` may be judged on `market`: data stamped inside a session (or in extended hours, for
        an order that allows them). Without market data the order's reference price stands in: always."""
        if market is None:
            return True
        stamp = market.seconds
        low, high = self._in_session_window
        if low <= stamp <= high or self._data_in_session(stamp):
            return True
        return order.extended_hours and self.session.extended(stamp)

    def _data_in_session(self, posix: float) -> bool:
        """Whether market data stamped `posix` (seconds) is inside a session; remembers that session's bounds, so
        the next events of the same session are two float comparisons, with no call."""
        if not self.session.in_session(posix):
            return False
        bounds = getattr(self.session, "bounds", None)
        if bounds is not None:
            open_, close = bounds(posix)
            if math.isfinite(open_) and math.isfinite(close):
                self._in_session_window = (open_, close)
        return True

    def _start_working(self, order: Order) -> Order:
        """Track an order at the venue: an `accepted` one waits for the next open, a working one begins."""
        self._working[order.id] = _Working()
        if order.status is _S_ACCEPTED:
            self._at(self.session.next_open(self.clock.time()), self._open, order.id)
            return order
        return self._begin(order)

    def _begin(self, order: Order) -> Order:
        """An order starts working: judged now on the market in force (if eligible), then rests on the book; a
        cls order waits for the close, an opg order for the session's first event."""
        working = self._working[order.id]
        working.since = self.clock.now()
        if order.time_in_force is _TIF_CLS:
            self._at(self.session.next_close(self.clock.time()), self._at_close, order.id, after_events=True)
            return order
        if order.type is _T_TRAILING_STOP and order.hwm is None:
            order = self._start_trail(order)
        if order.time_in_force is not _TIF_OPG and self._eligible(order, self.market.get(order.symbol)):
            order = self._offer(order)
            if order.time_in_force in _ONE_SHOT:
                order = self._offer_once(order)
        if order.status not in FINAL_STATUSES:
            self._rest(order)
        return order

    def _start_trail(self, order: Order) -> Order:
        """A trailing stop starts working: its high-water mark is the price in force now (Alpaca's rule), the last
        market price or, without one, the order's reference price; its stop trails that by the trail."""
        market = self.market.get(order.symbol)
        price = market.price if market is not None else order.reference_price
        if price is None:
            return order
        return self._apply(Amendment(order.id, self.clock.now(), stop_price=_trailing_stop(order, price), hwm=price))

    def _open(self, order_id: str) -> None:
        """An accepted order at the session open: it works from now on."""
        order = self.state.order(order_id)
        if order is None or not order.status.is_open or order_id not in self._working:
            return
        if order.status is _S_ACCEPTED:
            order = self._apply(StatusChange(order_id, _S_NEW, self.clock.now(), _E_NEW))
        order = self._begin(order)
        if order.legs and order.order_class is _C_OCO and exits_work(order):
            self._activate_exits(order)

    def _rest(self, order: Order) -> None:
        """Put a working order on the book: offered on every market update of its symbol from now on. A day
        order expires at the close of its session, after the market data stamped at the close."""
        working = self._working.get(order.id)
        if working is None:
            return
        self.book.setdefault(order.symbol, {})[order.id] = None
        if order.time_in_force is _TIF_DAY and working.expiry is None:
            now = self.clock.time()
            close = self.session.extended_end(now) if order.extended_hours else self.session.next_close(now)
            working.expiry = self._at(close, self._expire, order.id, after_events=True)

    def _at_close(self, order_id: str) -> None:
        """A cls order at the session close: one offer at the last price seen, the rest canceled."""
        order = self.state.order(order_id)
        if order is None or not order.status.is_open:
            return
        market = self.market.get(order.symbol)
        if market is not None:
            price = market.price
            volume = market.volume if isinstance(market, Bar) else 0.0
            order = self._offer(
                order, unchecked_bar(order.symbol, market.timestamp, price, price, price, price, volume)
            )
        if order.status.is_open:
            self._apply(StatusChange(order_id, _S_CANCELED, self.clock.now(), _E_CANCELED))

    def _expire(self, order_id: str) -> None:
        order = self.state.order(order_id)
        if order is not None and order.status.is_open and order.status is not _S_PENDING_NEW:
            self._apply(StatusChange(order_id, _S_EXPIRED, self.clock.now(), _E_EXPIRED))

    def offer_resting(self, resting: dict[str, None], event: MarketData) -> None:
        """Offer `event` to every order resting on its symbol (the broker calls this on each market update).
        Orders are judged only on data inside a session, extended hours for the orders that allow them."""
        stamp = event.seconds
        low, high = self._in_session_window
        in_session = low <= stamp <= high or self._data_in_session(stamp)
        if len(resting) > 1 and event.__class__ is Bar:
            self._offer_bar(resting, event, in_session)
            return
        get = self.state.order
        extended: bool | None = None
        for order_id in tuple(resting):
            order = get(order_id)
            if order is None or order.status in FINAL_STATUSES:
                continue
            if not in_session:
                if not order.extended_hours:
                    continue
                if extended is None:
                    extended = self.session.extended(stamp)
                if not extended:
                    continue
            order = self._offer(order, event, fresh=True)
            if order.time_in_force in _ONE_SHOT:
                self._offer_once(order)

    def _offer_bar(self, resting: dict[str, None], bar: MarketData, in_session: bool) -> None:
        """Offer a bar to several resting orders: each is judged, then the fills execute in the order the fill
        model says the bar reached them (`FillDecision.at`, ties in arrival order), so a bar that crossed a
        bracket's two exits fills the one it reached first and the other is canceled before its turn."""
        get = self.state.order
        extended = in_session or self.session.extended(bar.seconds)
        judged: list[tuple[float, int, Order, FillDecision]] = []
        for order_id in tuple(resting):
            order = get(order_id)
            if order is None or order.status in FINAL_STATUSES or not (in_session or order.extended_hours):
                continue
            if not extended:
                continue
            decision = self._ask(order, bar)
            if decision is not None:
                judged.append((decision.at, len(judged), order, decision))
        judged.sort(key=_by_time)
        for _, _, order, decision in judged:
            current = get(order.id)
            if current is None or current.status in FINAL_STATUSES:
                continue  # ended by an earlier fill of this bar (a sibling exit)
            current = self._act(current, bar, decision, fresh=True)
            if current.time_in_force in _ONE_SHOT:
                self._offer_once(current)

    def _offer_once(self, order: Order) -> Order:
        """An ioc, fok or opg order gets one evaluated offer (not a NOT_YET): what did not fill then is canceled."""
        if order.time_in_force in _ONE_SHOT and order.status not in FINAL_STATUSES:
            working = self._working.get(order.id)
            if working is not None and working.evaluated:
                return self._apply(StatusChange(order.id, _S_CANCELED, self.clock.now(), _E_CANCELED))
        return order

    def _offer(self, order: Order, market: MarketData | None = None, *, fresh: bool = False) -> Order:
        """Ask the fill model about `order` and execute what it decides; returns the latest snapshot.

        `market` defaults to the latest event of the symbol. `fresh` says the event came after the order started
        working: only such events move a trailing stop (after it was judged on them)."""
        if market is None:
            market = self.market.get(order.symbol)
        decision = self._ask(order, market)
        if decision is None:
            return self.state.order(order.id) or order
        return self._act(order, market, decision, fresh=fresh)

    def _ask(self, order: Order, market: MarketData | None) -> FillDecision | None:
        """The fill model's decision on `order` for `market` (None: the order failed, and ended). An opg order
        sees only the event's open price; a triggered stop is offered as what it became."""
        kind = order.type
        view = order
        if order.time_in_force is _TIF_OPG and isinstance(market, Bar):
            first = market.open
            market = unchecked_bar(order.symbol, market.timestamp, first, first, first, first, market.volume)
        if kind not in _PLAIN_TYPES and order.triggered_at is not None:
            view = attrs.evolve(order, type=_TRIGGERED_AS[kind])
        working = self._working.get(order.id)
        since = working.since if working is not None and working.since is not None else order.created_at
        try:
            decision = self.models.fill(view, market, since)
        except ModelError as exc:
            self._fail(order, str(exc))
            return None
        if decision is None:  # nobody decided: left alone, it would work forever without a word
            self._fail(order, self.models.declined(view))
            return None
        return decision

    def _act(self, order: Order, market: MarketData | None, decision: FillDecision, *, fresh: bool) -> Order:
        """Carry out a fill decision on `order`: remember a trigger, move a trailing stop, execute a fill."""
        kind = order.type
        working = self._working.get(order.id)
        if working is not None and not decision.wait:
            working.evaluated = True
        if decision.triggered and kind not in _PLAIN_TYPES and order.triggered_at is None:
            if order.status is _S_HELD:  # a stop-loss exit reached its stop: released to the market
                order = self._apply(StatusChange(order.id, _S_NEW, self.clock.now(), _E_NEW))
            order = self._apply(Amendment(order.id, self.clock.now(), triggered_at=self.clock.now()))
        if decision.quantity <= QTY_EPSILON:
            if fresh and kind is _T_TRAILING_STOP and order.triggered_at is None:
                return self._trail(order, market)
            return order
        if order.status is _S_HELD:  # a fill model that fills a held stop-loss without saying it triggered
            order = self._apply(StatusChange(order.id, _S_NEW, self.clock.now(), _E_NEW))
        # Cap the decision to what remains (all or nothing for fok) and execute it.
        remaining = order.quantity - order.filled_quantity
        quantity = min(decision.quantity, remaining)
        if order.time_in_force is _TIF_FOK and not qty_at_least(quantity, remaining):
            return order
        when = None
        if order.time_in_force is _TIF_OPG and isinstance(market, Bar) and market.interval:
            # An opg order fills in the opening auction: stamped at the open of the (daily) bar that made it.
            when = max(market.start, working.since) if working is not None and working.since else market.start
        return self._execute(order, quantity, decision.price, when)

    def _trail(self, order: Order, market: MarketData | None) -> Order:
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
        return self._apply(Amendment(order.id, self.clock.now(), stop_price=_trailing_stop(order, best), hwm=best))

    def _execute(self, order: Order, quantity: float, price: float, when: datetime | None = None) -> Order:
        """Turn a fill decision into a fill: slippage, the limit cap, the fee, then the account's door. The fill is
        stamped now, or `when` (an opg fill: the open of the bar that made it).

        A fill that would take the position through zero (orders on their way crossed: a sell filled first,
        then a buy larger than the short it left) fills only what closes the position, and the rest of the
        order is canceled, unless the rules let one order flip a position (``position_flip_check: false``)."""
        symbol = order.symbol
        held = self.state.ledger.quantity(symbol)
        after = held + quantity if order.side is _SIDE_BUY else held - quantity
        to_flat = held * after < 0 and abs(after) > QTY_EPSILON and self.rules.position_flip_check
        if to_flat:
            quantity = abs(held)
        market = self.market.get(symbol)
        now = self.clock.now() if when is None else when
        try:
            executed = self.models.execution_price(order, price, market, quantity)
            if order.limit_price is not None:
                # A limit order never executes beyond its limit, whatever the slippage model says.
                limit = order.limit_price
                executed = min(executed, limit) if order.side is _SIDE_BUY else max(executed, limit)
            if order.notional is not None:
                order, quantity = self._size_notional(order, quantity, executed)
            execution_id = self.ids.next()
            fill = unchecked_fill(order.id, symbol, order.side, quantity, executed, 0.0, now, price, execution_id)
            fee = self.models.fee(order, fill)
        except ModelError as exc:
            return self._fail(order, str(exc))
        if fee:
            fill = unchecked_fill(order.id, symbol, order.side, quantity, executed, fee, now, price, execution_id)
        try:
            executed_order = self._apply(execution_record(fill))
        except Refused as exc:
            return self._fail(order, exc.reason)
        if to_flat and executed_order.status not in FINAL_STATUSES and executed_order.status is not _S_PENDING_CANCEL:
            reason = (
                f"the rest would take the {symbol} position through zero in one order; Alpaca closes a position "
                "before it opens the other side"
            )
            executed_order = self._apply(StatusChange(order.id, _S_CANCELED, self.clock.now(), _E_CANCELED, reason))
        self.on_fill()
        return executed_order

    def _size_notional(self, order: Order, quantity: float, executed: float) -> tuple[Order, float]:
        """A notional order is sized at its fill price, as Alpaca does: its quantity becomes what the cash not yet
        spent buys (or sells) at `executed`; returns the amended order and the quantity this fill executes."""
        spent = order.filled_quantity * (order.filled_avg_price or 0.0)
        total = order.filled_quantity + round((order.notional - spent) / executed, 9)  # type: ignore[operator]
        rest = qty_at_least(quantity, order.quantity - order.filled_quantity)
        if abs(total - order.quantity) > QTY_EPSILON:
            order = self._apply(Amendment(order.id, self.clock.now(), quantity=total))
        remaining = order.quantity - order.filled_quantity
        return order, remaining if rest else min(quantity, remaining)

    # -- order classes ------------------------------------------------------------------------------------------

    def _sync_group(self, order: Order) -> None:
        """Keep a bracket's, oto's or oco's exits in step after `order` (a member) changed: a bracket/oto entry
        that ended activates its exits for what it filled (or cancels them if it filled nothing); an exit's fill
        shrinks its sibling, and cancels it once the position they shared is closed (`order_classes`)."""
        if order.status is _S_REPLACED:
            return  # its successor carries the group on
        get = self.state.order
        if order.order_class is _C_OCO:
            head = order if order.parent_id is None else get(order.parent_id)
            if head is None:
                return
            members = [head, *(o for i in self._children.get(head.id, ()) if (o := get(i)) is not None)]
            # The exits share one quantity: each is sized to it less what the others filled, so the member that
            # just changed (its quantity untouched by its own fill or cancel) still tells it.
            self._share(members, order.quantity + sum(m.filled_quantity for m in members if m.id != order.id))
            return
        if order.parent_id is None:  # a bracket or oto entry
            if order.status not in FINAL_STATUSES:
                return  # its exits stay held until it has filled completely
            legs = [o for i in self._children.get(order.id, ()) if (o := get(i)) is not None]
            if order.filled_quantity <= QTY_EPSILON:
                for leg in legs:
                    leg = get(leg.id) or leg  # an earlier cancel may have canceled its sibling already
                    if leg.status is _S_HELD:
                        self._apply(
                            StatusChange(
                                leg.id, _S_CANCELED, self.clock.now(), _E_CANCELED,
                                reject_reason="its entry did not fill",
                            )
                        )  # fmt: skip
                return
            self._share(legs, order.filled_quantity)
            self._activate_exits(order)
            return
        parent = get(order.parent_id)
        if parent is not None and exits_work(parent):
            legs = [o for i in self._children.get(parent.id, ()) if (o := get(i)) is not None]
            self._share(legs, parent.filled_quantity)

    def _activate_exits(self, parent: Order) -> None:
        """The held exits of `parent` start working: a take-profit (or an oto's only exit) goes `new`; a bracket's
        or oco's stop-loss works while it stays `held`, until its stop is reached."""
        get = self.state.order
        for leg_id in self._children.get(parent.id, ()):
            leg = get(leg_id)
            if leg is None or leg.status is not _S_HELD or leg_id in self._working:
                continue
            if not stays_held(leg):
                leg = self._apply(StatusChange(leg_id, _S_NEW, self.clock.now(), _E_NEW))
                if leg.status is not _S_NEW:
                    continue
            self._start_working(leg)

    def _share(self, members: list[Order], total: float) -> None:
        """Size each open exit of a group to `total` less what its siblings filled; cancel one left with nothing."""
        filled = sum(member.filled_quantity for member in members)
        get = self.state.order
        for member in members:
            member = get(member.id) or member  # changes made while syncing an earlier member may have ended it
            if member.status in FINAL_STATUSES:
                continue
            target = total - (filled - member.filled_quantity)
            if target <= member.filled_quantity + QTY_EPSILON:
                reason = "its sibling exit filled" if filled > QTY_EPSILON else "its entry did not fill"
                self._apply(StatusChange(member.id, _S_CANCELED, self.clock.now(), _E_CANCELED, reject_reason=reason))
            elif abs(target - member.quantity) > QTY_EPSILON:
                self._apply(Amendment(member.id, self.clock.now(), quantity=target))

    # -- the venue's own cancels ----------------------------------------------------------------------------

    def cancel_symbol(self, symbol: str, reason: str) -> None:
        """Cancel every open order in `symbol` at once, as the venue does before it liquidates a position (their
        reservations and the shares they hold are freed); each is ``canceled`` with `reason`."""
        now = self.clock.now()
        for order in self.state.open_orders():
            current = self.state.order(order.id)
            if order.symbol == symbol and current is not None and current.status.is_open:
                self._apply(StatusChange(order.id, _S_CANCELED, now, _E_CANCELED, reject_reason=reason))

    # -- cancel and replace ---------------------------------------------------------------------------------

    def request_cancel(self, order: Order) -> Order:
        """Send a cancel for a cancelable order, and with it for every open member of its bracket, oto or oco (the
        exits first, then the entry): canceled at once without latency, else `pending_cancel` until the venue
        sees it. Returns `order`'s snapshot. Raises `ModelError` (nothing changed) if the latency model answers
        nonsense."""
        delay = self.models.latency(order, _A_CANCEL)
        now = self.clock.now()
        for member in self.group_of(order):
            if member.status is _S_PENDING_CANCEL or not member.status.is_open:
                continue
            if not delay:
                self._apply(StatusChange(member.id, _S_CANCELED, now, _E_CANCELED))
                continue
            self._apply(StatusChange(member.id, _S_PENDING_CANCEL, now, _E_PENDING_CANCEL))
            self._at(self.clock.time() + delay, self._cancel_arrives, member.id, member.id != order.id)
        return self.state.order(order.id) or order

    def group_of(self, order: Order) -> list[Order]:
        """`order` and the other members of its bracket, oto or oco, as they are now: the exits, then the entry (or
        the oco order); just `order` when it is a plain order."""
        get = self.state.order
        head = get(order.parent_id) if order.parent_id is not None else order
        if head is None or not head.legs:
            return [order]
        legs = [leg for i in self._children.get(head.id, head.legs) if (leg := get(i)) is not None]
        return [*legs, get(head.id) or head]

    def _cancel_arrives(self, order_id: str, cascaded: bool = False) -> None:
        order = self.state.order(order_id)
        if order is None:
            return
        now = self.clock.now()
        if order.status.is_open:
            self._apply(StatusChange(order_id, _S_CANCELED, now, _E_CANCELED))
        elif not cascaded:  # a member canceled with another ended on its own meanwhile: nothing to refuse
            reason = f"order {order_id} is already {order.status.value}"
            self._apply(Notice(order_id, _E_ORDER_CANCEL_REJECTED, now, reason))

    def request_replace(self, order: Order, request: OrderRequest, client_order_id: str | None) -> Order:
        """Send a replace: the old order goes `pending_replace` and its successor is recorded `pending_new` (and
        returned). When the venue sees it, the successor takes over, or is rejected if the old order ended
        first or the account cannot carry it. The successor of a member of a bracket, oto or oco takes its place
        in the group (and a held exit's comes back held). Raises `ModelError` (nothing changed) for a nonsense
        latency."""
        delay = self.models.latency(order, _A_REPLACE)
        now = self.clock.now()
        remaining = request.quantity - order.filled_quantity  # type: ignore[operator]
        successor = first_snapshot(
            self.ids.next(), client_order_id or self.ids.next(), request, remaining, now, replaces=order.id
        )
        if order.parent_id is not None or order.legs:
            successor = attrs.evolve(
                successor, parent_id=order.parent_id, legs=order.legs, order_class=order.order_class
            )
        held = order.status is _S_HELD
        successor = self.state.apply(ReplaceRequest(order.id, successor, request, now, held))
        if delay:
            self._at(self.clock.time() + delay, self._replace_arrives, order.id)
            return successor
        return self._replace_arrives(order.id) or successor

    def _replace_arrives(self, order_id: str) -> Order | None:
        pending = self.state.pending_replace(order_id)
        if pending is None:
            return None
        successor = pending.successor
        old = self.state.order(order_id)
        now = self.clock.now()

        def refuse(reason: str) -> Order:
            return self._apply(ReplaceRefused(order_id, successor.id, reason, now))

        if old is None or not old.status.is_open:
            return refuse(f"order {order_id} is already {old.status.value if old else 'forgotten'}")
        request = pending.request
        remaining = request.quantity - old.filled_quantity  # type: ignore[operator]
        if remaining <= QTY_EPSILON:
            return refuse(
                f"the new quantity {request.quantity:g} is not above the {old.filled_quantity:g} already filled"
            )
        plan: Reservation | None = None  # an exit holds nothing: the position pays for it
        if not is_exit(old):
            price = self.estimate_price(request)
            if price is None:
                return refuse(f"no market price known for {old.symbol} and no reference_price")
            sized = attrs.evolve(successor, quantity=remaining)
            market = self.market.get(old.symbol)
            try:
                per_unit = self.models.cost_per_unit(sized, price, market)
            except ModelError as exc:
                return refuse(str(exc))
            if self.rules.buying_power_collar:
                per_unit = max(per_unit, order_value(sized, price, market))
            planned = self.state.ledger.plan_reservation(
                successor.id, old.symbol, old.side, remaining, per_unit, releasing=order_id
            )
            if isinstance(planned, str):
                return refuse(f"replace refused: {planned}")
            plan = planned
        try:
            working = self.state.apply(Replacement(order_id, successor.id, remaining, plan, now))
        except Refused as exc:
            return refuse(f"replace refused: {exc.reason}")
        self._retire(order_id)
        self._regroup(old, working)
        if working.type is _T_TRAILING_STOP and old.hwm is not None and working.hwm is None:
            # The high-water mark is the market's, not the order's: a new trail applies to the mark reached so far.
            stop = _trailing_stop(working, old.hwm)
            working = self._apply(Amendment(working.id, now, stop_price=stop, hwm=old.hwm))
        if working.status is _S_HELD:
            head = self.state.order(working.parent_id) if working.parent_id is not None else None
            if head is None or not exits_work(head):
                return working  # an exit still waiting for its entry: it starts working with its siblings
        return self._start_working(working)

    def _regroup(self, old: Order, successor: Order) -> None:
        """The venue's record of groups follows a replaced member: its successor takes its place."""
        children = self._children
        if old.parent_id is not None:
            siblings = children.get(old.parent_id)
            if siblings is not None:
                children[old.parent_id] = [successor.id if i == old.id else i for i in siblings]
        if old.id in children:
            children[successor.id] = children.pop(old.id)

    # -- recovery -------------------------------------------------------------------------------------------

    def resume(self) -> None:
        """Rebuild the venue's book and timers from the account state (after a journal's changes were replayed):
        orders on their way arrive, requests on their way are seen, now; working orders work again."""
        state = self.state
        for order in state.orders():
            if order.legs and order.id not in self._children:
                self._children[order.id] = list(order.legs)
        for order in state.open_orders():
            if order.id in self._working:
                continue
            if order.status is _S_HELD:
                head = state.order(order.parent_id) if order.parent_id is not None else None
                if head is not None and exits_work(head) and stays_held(order):
                    working = self._working[order.id] = _Working()  # a stop-loss that works while held
                    working.since = self.clock.now()
                    self._rest(order)
                continue
            if order.status is _S_PENDING_NEW:
                if order.replaces is None or state.pending_replace(order.replaces) is None:
                    self._arrive(order.id)  # a replacement arrives with its replace request instead
                continue
            if order.status is _S_ACCEPTED or order.time_in_force is _TIF_CLS:
                self._start_working(order)
            else:
                working = self._working[order.id] = _Working()
                working.since = self.clock.now()
                self._rest(order)
            if order.status is _S_PENDING_CANCEL:
                self._cancel_arrives(order.id)
            elif order.status is _S_PENDING_REPLACE:
                self._replace_arrives(order.id)
        # A process that died between a group member's change and the changes that keep its exits in step (an
        # entry filled, its exits still held) is put in step now.
        for parent_id in list(self._children):
            parent = state.order(parent_id)
            legs = [leg for i in self._children[parent_id] if (leg := state.order(i)) is not None]
            if parent is not None and any(leg.status.is_open for leg in legs):
                self._sync_group(parent)
