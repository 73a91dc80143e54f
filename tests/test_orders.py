"""The order state machine: the simulator's strict table, and `observe` for statuses a venue reports."""

from __future__ import annotations

import itertools
from datetime import timedelta

import attrs
import pytest

from broker_sim import InvalidTransition, Order, OrderStatus, OrderType, Side, TimeInForce
from broker_sim.orders import ALLOWED_TRANSITIONS, REACHABLE, can_transition, observe, transition, transitioner
from tests.conftest import T0


def _order(status: OrderStatus) -> Order:
    return Order(
        id="o1",
        client_order_id="c1",
        symbol="AAPL",
        side=Side.BUY,
        quantity=10,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        limit_price=None,
        stop_price=None,
        status=status,
        filled_quantity=0,
        filled_avg_price=None,
        reject_reason=None,
        created_at=T0,
        updated_at=T0,
    )


def test_every_status_has_a_row() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(OrderStatus)


#: Statuses only a live venue reports; the simulator never moves an order into or out of them.
REPORTED_ONLY = {
    OrderStatus.DONE_FOR_DAY,
    OrderStatus.STOPPED,
    OrderStatus.SUSPENDED,
    OrderStatus.CALCULATED,
    OrderStatus.PENDING_REVIEW,
    OrderStatus.ACCEPTED_FOR_BIDDING,
}


def test_final_statuses_allow_nothing_and_every_status_the_simulator_uses_leads_somewhere() -> None:
    for status in OrderStatus:
        if status.is_final or status in REPORTED_ONLY:
            assert not ALLOWED_TRANSITIONS[status], status
        else:
            assert ALLOWED_TRANSITIONS[status], status


def test_the_simulator_never_enters_a_reported_only_status() -> None:
    for targets in ALLOWED_TRANSITIONS.values():
        assert not targets & REPORTED_ONLY


def test_statuses_are_alpacas() -> None:
    assert {s.value for s in OrderStatus} >= {
        "pending_new", "accepted", "new", "partially_filled", "filled", "done_for_day", "canceled", "expired",
        "replaced", "pending_cancel", "pending_replace", "rejected", "stopped", "suspended",
    }  # fmt: skip
    assert OrderStatus("NEW") is OrderStatus.NEW  # any case, as the seed's "BUY"


def test_a_fill_racing_a_cancel_or_replace_keeps_the_request_pending() -> None:
    for pending in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE):
        assert can_transition(pending, pending)  # a partial fill while the request travels
        assert can_transition(pending, OrderStatus.FILLED)
    assert can_transition(OrderStatus.PENDING_REPLACE, OrderStatus.PARTIALLY_FILLED)  # a refused replace


def test_observe_accepts_any_reachable_status_even_past_missed_events() -> None:
    working = _order(OrderStatus.NEW)
    filled = transition(_order(OrderStatus.PARTIALLY_FILLED), OrderStatus.FILLED, T0, filled_quantity=10)
    assert observe(working, filled) is filled  # the partial fills in between were missed
    assert observe(None, working) is working
    assert observe(working, _order(OrderStatus.DONE_FOR_DAY)) is not None


def test_observe_ignores_a_stale_report() -> None:
    filled = _order(OrderStatus.FILLED)
    assert observe(filled, _order(OrderStatus.NEW)) is None  # an old `new` arriving after `fill`
    assert observe(_order(OrderStatus.CANCELED), _order(OrderStatus.PENDING_CANCEL)) is None
    assert OrderStatus.NEW not in REACHABLE[OrderStatus.FILLED]


def test_observe_refuses_a_report_about_another_order() -> None:
    other = attrs.evolve(_order(OrderStatus.NEW), id="o2")
    with pytest.raises(InvalidTransition, match="cannot update order o1"):
        observe(_order(OrderStatus.NEW), other)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(OrderStatus, OrderStatus)))
def test_transition_follows_the_table(current: OrderStatus, new: OrderStatus) -> None:
    order = _order(current)
    if can_transition(current, new):
        changed = transition(order, new, T0, filled_quantity=1)
        assert changed.status is new
        assert changed.filled_quantity == 1
        assert order.status is current  # the old snapshot is untouched
    else:
        with pytest.raises(InvalidTransition, match=f"cannot go from {current.value} to {new.value}"):
            transition(order, new, T0)


def test_a_transition_changes_only_what_it_names_in_any_order() -> None:
    order = attrs.evolve(_order(OrderStatus.NEW), limit_price=9.5, type=OrderType.LIMIT, reference_price=9.4)
    later = T0 + timedelta(minutes=1)
    for changes in (
        {"filled_quantity": 10.0, "filled_avg_price": 9.5},
        {"filled_avg_price": 9.5, "filled_quantity": 10.0},
    ):
        filled = transition(order, OrderStatus.FILLED, later, filled_at=later, **changes)
        assert filled == attrs.evolve(
            order,
            status=OrderStatus.FILLED,
            updated_at=later,
            filled_at=later,
            filled_quantity=10.0,
            filled_avg_price=9.5,
        )
    with pytest.raises(TypeError, match="Order has no field 'colour'"):
        transition(order, OrderStatus.CANCELED, later, colour="red")
    assert order.status is OrderStatus.NEW


@pytest.mark.parametrize(("current", "new"), list(itertools.product(OrderStatus, OrderStatus)))
def test_a_transitioner_makes_what_transition_makes_and_refuses_what_it_refuses(
    current: OrderStatus, new: OrderStatus
) -> None:
    order = _order(current)
    move = transitioner("filled_quantity", "filled_avg_price")
    if can_transition(current, new):
        assert move(order, new, T0, 4.0, 9.5) == transition(order, new, T0, filled_quantity=4.0, filled_avg_price=9.5)
        assert order.status is current  # the old snapshot is untouched
    else:
        with pytest.raises(InvalidTransition, match=f"cannot go from {current.value} to {new.value}"):
            move(order, new, T0, 4.0, 9.5)
