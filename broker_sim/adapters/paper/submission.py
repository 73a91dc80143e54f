"""An order's way into the paper venue: checked, priced and recorded `pending_new` holding its reservation (or
`rejected`), then sent on its way to arrive after the latency model's delay (`Venue._arrive`, `venue.py`).
Functions taking the `Venue` first, called as such (``submission.submit(venue, request)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import attrs

from broker_sim._members import (
    _C_OCO,
    _C_SIMPLE,
    _S_REJECTED,
)
from broker_sim.account import Refused
from broker_sim.changes import NewOrder, Notice
from broker_sim.clock import TimerHandle
from broker_sim.errors import ModelError
from broker_sim.hookspecs import Action
from broker_sim.ledger import Reservation
from broker_sim.models import Bar, EventType, Order, OrderRequest
from broker_sim.rules.buying_power import order_value

from .groups import closes_position, record_legs
from .order_classes import legs_of
from .refusals import refusal_for_reason
from .working import PLAIN_TIMES_IN_FORCE, PLAIN_TYPES, first_snapshot

if TYPE_CHECKING:
    from .venue import Venue

#: Enum members as module globals, for the order path: on CPython 3.11 reading a member off its Enum class goes
#: through `EnumType.__getattr__` (~900 instructions a read); a global is a cached load.
_A_SUBMIT: Final = Action.SUBMIT

__all__ = ["estimate_price", "reject_new", "submit"]


def estimate_price(venue: Venue, request: OrderRequest) -> float | None:
    """The price a reservation is sized at: the limit, else the stop, else the last or reference price."""
    if request.limit_price is not None:
        return request.limit_price
    if request.stop_price is not None:
        return request.stop_price
    market = venue.market.get(request.symbol)
    if market is not None:
        return market.price
    return request.reference_price


def submit(
    venue: Venue, request: OrderRequest, announce: tuple[EventType, str] | None = None, refuse: bool = False
) -> Order:
    """Check, price and record a new order, and send it on its way; returns its snapshot.

    Everything that can fail is asked before anything is recorded: the price estimate, the slippage and
    commission estimates, the reservation, the latency. A failure records the order `rejected` with the
    reason (a model's nonsense names the model). With `refuse` (an order at the broker's door), what the
    account cannot carry (buying power, shares other orders hold) is raised as the `OrderRefused` Alpaca
    answers instead, and nothing is recorded. (`announce` and `refuse` may be passed by position: the broker's
    door does, as a call with keywords costs CPython 3.11 a generic call on every order.)
    """
    simulated = venue._simulated
    if simulated is not None:  # `now()`, as attributes (`Venue._arrive_plain` reads it so too)
        moment, now = simulated._now_datetime
        if moment != simulated._now:
            now = simulated.now()
    else:
        now = venue.clock.now()
    ids = venue.ids
    order_id = ids.next()
    client_order_id = request.client_order_id or ids.next()
    market = venue.market.get(request.symbol)
    price = request.limit_price  # `estimate_price`, inline: this is on every order's path
    if price is None:
        price = request.stop_price
        if price is None:
            if market is None:
                price = request.reference_price
            elif type(market) is Bar:  # `market.price`, without the property's call for a bar (its close)
                price = market.close
            else:
                price = market.price
    quantity = request.quantity
    if quantity is None and price is not None:
        quantity = round(request.notional / price, 9)  # type: ignore[operator]
    order = first_snapshot(order_id, client_order_id, request, quantity or 0.0, now)
    if price is None or not quantity:
        reason = f"no market price known for {request.symbol} and no reference_price given"
        return reject_new(venue, order, reason, now)
    order_class = request.order_class
    exits = order_class is _C_OCO
    if exits:
        refusal = closes_position(venue, request)
        if refusal is not None:
            return reject_new(venue, order, refusal, now)
        order = attrs.evolve(order, legs=(ids.next(),))
    elif order_class is not _C_SIMPLE:
        order = attrs.evolve(order, legs=tuple(ids.next() for _ in legs_of(request)))
    plan: Reservation | None = None  # the exits of a position hold nothing: the position pays for them
    try:
        if not exits:
            per_unit = venue.models.cost_per_unit(order, price, market)
            if venue.rules.buying_power_collar:
                value = order_value(order, price, market)
                if value > per_unit:  # max(), without the builtin's call (~750 instructions on CPython 3.11)
                    per_unit = value
            # Releasing nothing, and no buying power check (the account's door makes it when the order is
            # recorded); by position, as on every order's path.
            planned = venue.state.ledger.plan_reservation(
                order_id, order.symbol, order.side, quantity, per_unit, None, False
            )
            if isinstance(planned, str):
                if refuse:
                    raise refusal_for_reason(planned)
                return reject_new(venue, order, planned, now)
            plan = planned
        delay = venue.models.latency(order, _A_SUBMIT)
    except ModelError as exc:
        return reject_new(venue, order, str(exc), now)
    try:
        # (`apply` for a `NewOrder`, without its dispatch: the door's entry by fields, which makes the record only
        # for a journal)
        venue.state.enter_new_order(order, plan, False, None)
    except Refused as exc:
        if refuse:
            raise refusal_for_reason(exc.reason) from None
        return reject_new(venue, order, exc.reason, now)
    if order.legs:
        record_legs(venue, order, request, now)
    if announce is not None:
        venue.state.apply(Notice(order_id, announce[0], now, announce[1]))
    # The venue sees it: the way most orders arrive when they are of the kinds it takes that way (`_arrive_plain`).
    plain = order_class is _C_SIMPLE and order.type in PLAIN_TYPES and order.time_in_force in PLAIN_TIMES_IN_FORCE
    if delay:  # on its way: the arrival forgets the timer when it runs, `timers.close` cancels it before
        arrive = venue._arrive_plain if plain else venue._arrive
        timer: TimerHandle
        if simulated is not None:  # `call_later`, without its frame (`delay` is finite and positive)
            timer = simulated._schedule(simulated._now + delay, 0, arrive, (order_id,))
        else:
            timer = venue.clock.call_later(delay, arrive, order_id)
        venue._arriving[order_id] = timer
        return order
    # Called as methods, not through a bound method in a variable: compiled, a direct call.
    arrived = venue._arrive_plain(order_id) if plain else venue._arrive(order_id)
    return order if arrived is None else arrived


def reject_new(venue: Venue, order: Order, reason: str, now: Any) -> Order:
    """Record `order` rejected for `reason` as it is first recorded (no reservation, no legs)."""
    rejected = attrs.evolve(order, status=_S_REJECTED, reject_reason=reason, failed_at=now, legs=())
    return venue.state.apply(NewOrder(rejected, None))
