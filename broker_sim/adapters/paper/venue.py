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

`Venue` keeps the book, the door and the order path (arrival, the fills); its parts live beside it as functions
that take the venue first, which the paper broker calls as they are (``submission.submit(venue, request)``; not
as methods, so that `make compiled` can compile them and the venue alike): `submission.py` (an order's way in),
`timers.py` (timers and sessions), `groups.py` (brackets, oto, oco), `cancel_replace.py`, `recovery.py`
(`resume`) and `working.py` (per-order state, trailing stops).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Final

import attrs

from broker_sim._members import (
    _C_OCO,
    _C_SIMPLE,
    _E_ACCEPTED,
    _E_CANCELED,
    _E_NEW,
    _E_REJECTED,
    _S_ACCEPTED,
    _S_CANCELED,
    _S_HELD,
    _S_NEW,
    _S_PENDING_CANCEL,
    _S_PENDING_NEW,
    _S_REJECTED,
    _SIDE_BUY,
    _T_LIMIT,
    _T_MARKET,
    _T_STOP,
    _T_STOP_LIMIT,
    _T_TRAILING_STOP,
    _TIF_DAY,
    _TIF_FOK,
    _TIF_IOC,
    _TIF_OPG,
)
from broker_sim._numeric import QTY_EPSILON, qty_at_least
from broker_sim.account import AccountState, Refused
from broker_sim.calendar import Session
from broker_sim.changes import (
    Amendment,
    OrderChange,
    StatusChange,
    status_change_record,
)
from broker_sim.clock import Clock, SimulatedClock, TimerHandle
from broker_sim.errors import ModelError
from broker_sim.hookspecs import FillDecision
from broker_sim.ids import IdSource
from broker_sim.models import (
    FINAL_STATUSES,
    Bar,
    MarketData,
    Order,
    unchecked_bar,
    unchecked_fill,
)
from broker_sim.rules import RuleSettings

from . import timers
from .groups import activate_exits, sync_group
from .model_set import ModelSet
from .order_classes import exits_work
from .working import PLAIN_TIMES_IN_FORCE, PLAIN_TYPES, Working, by_time, first_snapshot, size_notional, trail

__all__ = ["Venue", "first_snapshot"]

_ONE_SHOT: Final = frozenset({_TIF_IOC, _TIF_FOK, _TIF_OPG})
#: A time before any market data (the session window before the first event).
_NEVER: Final = math.inf
#: What a stop order becomes once triggered.
_TRIGGERED_AS: Final = {
    _T_STOP: _T_MARKET,
    _T_TRAILING_STOP: _T_MARKET,
    _T_STOP_LIMIT: _T_LIMIT,
}


def _nothing() -> None:
    """The default `Venue.on_fill`."""


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
        #: The clock when it is exactly a `SimulatedClock` (None otherwise): the order path then reads its time as
        #: attributes (`_now`, and `_now_datetime` while it is current), as its `time` and `now` would tell it.
        self._simulated: SimulatedClock | None = clock if type(clock) is SimulatedClock else None
        self.session = session
        self.ids = ids
        self.market = market
        self.book: dict[str, dict[str, None]] = {}
        self._working: dict[str, Working] = {}
        self._timers: set[TimerHandle] = set()
        #: The orders on their way here (latency), by id: their arrival timers, which `timers.close` cancels.
        self._arriving: dict[str, TimerHandle] = {}
        #: Called after each fill is booked (the broker watches the session close from then on).
        self.on_fill: Callable[[], None] = _nothing
        #: Each bracket, oto or oco parent's legs (its exits), by parent id.
        self._children: dict[str, list[str]] = {}
        #: What the orders a group member replaced had filled, by the member's id (`groups.regroup`): the member's
        #: own `filled_quantity` starts again at 0, and its siblings are sized by what the group sold in all.
        self._carried: dict[str, float] = {}
        #: The bounds of the last session market data was seen in: data stamped within is in session.
        self._in_session_window: tuple[float, float] = (_NEVER, _NEVER)

    def start_working(self, order: Order) -> None:
        """`order` starts working here (`timers.start_working`, for `groups`, which `timers` imports; what became of
        the order is not needed there)."""
        timers.start_working(self, order)

    # -- the door -------------------------------------------------------------------------------------------

    def _apply(self, change: OrderChange) -> Order:
        """Apply `change` through the account's door; an order that ended leaves the book."""
        order = self.state.apply(change)
        # (empty while no order rests: a market order the immediate fill model fills reads none of this)
        working = self._working
        if working and order.status in FINAL_STATUSES and order.id in working:
            self._retire(order.id, order.symbol)
        if order.legs or order.parent_id is not None:
            sync_group(self, order)
            return self.state.order(order.id) or order
        return order

    def _retire(self, order_id: str, symbol: str | None = None) -> None:
        """The order stops working: its expiry timer is canceled and it leaves the book (of `symbol`, its
        symbol, when the caller knows it)."""
        working = self._working.pop(order_id, None)
        if working is None:
            return
        if working.expiry is not None:
            working.expiry.cancel()
            self._timers.discard(working.expiry)
        if symbol is not None:
            resting = self.book.get(symbol)
            if resting is not None:
                resting.pop(order_id, None)
            return
        for resting in self.book.values():
            if resting.pop(order_id, 0) is None:
                break

    def _fail(self, order: Order, reason: str) -> Order:
        """End an order the venue cannot go on with: rejected, or canceled if part of it filled already."""
        now = self.clock.now()
        if order.filled_quantity > QTY_EPSILON:
            return self._apply(StatusChange(order.id, _S_CANCELED, now, _E_CANCELED, reject_reason=reason))
        return self._apply(StatusChange(order.id, _S_REJECTED, now, _E_REJECTED, reject_reason=reason))

    # -- working --------------------------------------------------------------------------------------------

    def _arrive(self, order_id: str) -> Order | None:
        """The venue sees the order: it works at once during a session (`new`), else it waits `accepted` for the
        next open (an opg order always does). Called at once (no latency), or by the order's arrival timer, which
        is forgotten first."""
        arriving = self._arriving
        if arriving:
            arriving.pop(order_id, None)
        order = self.state.order(order_id)  # None: forgotten from a bounded history
        if order is None or order.status in FINAL_STATUSES or order_id in self._working:
            return order
        if order.status is _S_PENDING_NEW:
            simulated = self._simulated
            now = simulated._now if simulated is not None else self.clock.time()
            session = self.session
            low, high = self._in_session_window
            # Strictly inside the session market data was last seen in is trading there, without `trading`'s call
            # (sessions do not overlap; at an open itself, `trading` may ask the session that closes then).
            waits = order.time_in_force is _TIF_OPG or not (
                low < now < high or session.trading(now) or (order.extended_hours and session.extended(now))
            )
            if (
                not waits
                and order.type in PLAIN_TYPES
                and order.time_in_force in PLAIN_TIMES_IN_FORCE
                and order.order_class is _C_SIMPLE  # no bracket, oto or oco around it
                and not order.legs
                and order.parent_id is None
            ):
                return self._arrive_plain(order_id, True)
            status, event = (_S_ACCEPTED, _E_ACCEPTED) if waits else (_S_NEW, _E_NEW)
            order = self._apply(status_change_record(order_id, status, self.clock.now(), event))
        started = timers.start_working(self, order)
        if order.legs and order.order_class is _C_OCO and exits_work(started):
            activate_exits(self, started)  # an oco's stop-loss works beside it
        return started

    def _arrive_plain(self, order_id: str, checked: bool = False) -> Order | None:
        """`_arrive` for an order of `PLAIN_TYPES` and `PLAIN_TIMES_IN_FORCE`, simple (no legs, no parent; none of
        these ever changes), fused with `timers.start_working`, `timers.begin`, `_offer`, `_ask` and `_act` for the
        orders most arrive as: reaching the venue in a session still `pending_new` (`checked`: `_arrive` found it so;
        anything else goes the general way, `_arrive`), it goes `new`, is judged once on the market in force, and rests
        if anything is left; the same changes, events, answers and random draws as the general path, with fewer
        calls (a market order's hot path: one call from its submission to its fill's `_execute`). A market order
        the immediate fill model fills is filled at `ModelSet.market_price` without the fill hook's call."""
        arriving = self._arriving
        if arriving:
            arriving.pop(order_id, None)
        order = self.state.order(order_id)
        if order is None or order.status is not _S_PENDING_NEW or order_id in self._working:
            return self._arrive(order_id)
        simulated = self._simulated
        if not checked:
            at = simulated._now if simulated is not None else self.clock.time()
            low, high = self._in_session_window  # (strictly inside: `_arrive` says why)
            if not (low < at < high or self.session.trading(at)):
                return self._arrive(order_id)
        if simulated is not None:  # `now()`, as attributes: the clock's datetime of its time, while it is current
            seconds = simulated._now
            moment, now = simulated._now_datetime
            if moment != seconds:
                now = simulated.now()
        else:
            seconds = _NEVER
            now = self.clock.now()
        # (`apply` for a `StatusChange`, without its frame, `AccountState.apply` says why; by fields: the record is
        # made only for a journal)
        order = self.state.enter_status_change(order_id, _S_NEW, now, _E_NEW, None, None)
        # The same moment, unless a listener of `new` moved the clock (a simulated clock's time tells).
        since = now if simulated is not None and simulated._now == seconds else self.clock.now()
        # Its `Working` is made only if it rests (most market orders fill here first): nothing in between reads it.
        evaluated = False
        market = self.market.get(order.symbol)
        low, high = self._in_session_window  # (data of the last session seen: eligible without `eligible`'s call)
        if market is None or low <= market.seconds <= high or timers.eligible(self, order, market):
            models = self.models
            # A market order the fill model fills whole at the last price, without its call (`market_price`):
            # the decision ``FillDecision(remaining, price)`` it would answer, carried out as below.
            price = models.market_price(order, market) if order.type is _T_MARKET else 0.0
            if price:
                evaluated = True
                quantity = order.quantity - order.filled_quantity
                if quantity > QTY_EPSILON:
                    when = since if simulated is not None and simulated._now == seconds else None
                    order = self._execute(order, quantity, price, when)
            else:
                try:
                    decision = models.fill(order, market, since)
                except ModelError as exc:
                    self._fail(order, str(exc))
                    decision = None
                else:
                    if decision is None:  # nobody decided: left alone, it would work forever without a word
                        self._fail(order, models.declined(order))
                if decision is None:
                    order = self.state.order(order_id) or order
                else:
                    evaluated = not decision.wait
                    quantity = decision.quantity
                    if quantity > QTY_EPSILON:
                        remaining = order.quantity - order.filled_quantity
                        if remaining < quantity:  # min(), without the builtin's call
                            quantity = remaining
                        if order.time_in_force is not _TIF_FOK or qty_at_least(quantity, remaining):
                            # Stamped `since` while the simulated clock has not moved (the fill model may move it):
                            # what `_execute`'s `now()` would read.
                            when = since if simulated is not None and simulated._now == seconds else None
                            order = self._execute(order, quantity, decision.price, when)
            if evaluated and order.time_in_force in _ONE_SHOT and order.status not in FINAL_STATUSES:
                order = self._cancel_unfilled(order_id)  # `_offer_once`: an ioc or fok order judged once
        if order.status not in FINAL_STATUSES:
            working = self._working[order_id] = Working()
            working.since = since
            working.evaluated = evaluated
            self._rest(order)
        return order

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
            working.expiry = timers.at(self, close, timers.expire, self, order.id, after_events=True)

    def offer_resting(self, resting: dict[str, None], event: MarketData) -> None:
        """Offer `event` to every order resting on its symbol (the broker calls this on each market update).
        Orders are judged only on data inside a session, extended hours for the orders that allow them."""
        stamp = event.seconds
        low, high = self._in_session_window
        in_session = low <= stamp <= high or timers.data_in_session(self, stamp)
        if len(resting) > 1 and type(event) is Bar:
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
        judged.sort(key=by_time)
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
                return self._cancel_unfilled(order.id)
        return order

    def _cancel_unfilled(self, order_id: str) -> Order:
        """Cancel what an ioc, fok or opg order did not fill on its one evaluated offer."""
        return self._apply(StatusChange(order_id, _S_CANCELED, self.clock.now(), _E_CANCELED))

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
        if kind not in PLAIN_TYPES and order.triggered_at is not None:
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
        if decision.triggered and kind not in PLAIN_TYPES and order.triggered_at is None:
            if order.status is _S_HELD:  # a stop-loss exit reached its stop: released to the market
                order = self._apply(StatusChange(order.id, _S_NEW, self.clock.now(), _E_NEW))
            order = self._apply(Amendment(order.id, self.clock.now(), triggered_at=self.clock.now()))
        if decision.quantity <= QTY_EPSILON:
            if fresh and kind is _T_TRAILING_STOP and order.triggered_at is None:
                return trail(self, order, market)
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

    def _execute(self, order: Order, quantity: float, price: float, when: datetime | None = None) -> Order:
        """Turn a fill decision into a fill: slippage, the limit cap, the fee, then the account's door. The fill is
        stamped now, or `when` (an opg fill: the open of the bar that made it; a plain order: the time `_arrive_plain`
        read, which it re-reads if the clock moved).

        A fill that would take the position through zero (orders on their way crossed: a sell filled first,
        then a buy larger than the short it left) fills only what closes the position, and the rest of the
        order is canceled, unless the rules let one order flip a position (``position_flip_check: false``)."""
        symbol, side = order.symbol, order.side
        holding = self.state.ledger.holding(symbol)  # (`Ledger.quantity`, without its frame)
        held = holding.quantity if holding is not None else 0.0
        after = held + quantity if side is _SIDE_BUY else held - quantity
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
                executed = min(executed, limit) if side is _SIDE_BUY else max(executed, limit)
            if order.notional is not None:
                order, quantity = size_notional(self, order, quantity, executed)
            execution_id = self.ids.next()
            order_id = order.id
            fill = unchecked_fill(order_id, symbol, side, quantity, executed, 0.0, now, price, execution_id)
            fee = self.models.fee(order, fill)
        except ModelError as exc:
            return self._fail(order, str(exc))
        if fee:
            fill = unchecked_fill(order_id, symbol, side, quantity, executed, fee, now, price, execution_id)
        try:
            # `_apply`, written out, and `AccountState.apply` for an `Execution` without its frame (a call less each),
            # by its fill (the record is made only for a journal)
            executed_order = self.state.enter_execution(fill, False, None)
            working = self._working
            if working and executed_order.status in FINAL_STATUSES and order_id in working:
                self._retire(order_id, symbol)
            if executed_order.legs or executed_order.parent_id is not None:
                sync_group(self, executed_order)
                executed_order = self.state.order(order_id) or executed_order
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
