"""The order state machine allows exactly the table's transitions."""

from __future__ import annotations

import itertools

import pytest

from broker_sim import InvalidTransition, Order, OrderStatus, OrderType, Side, TimeInForce
from broker_sim.orders import ALLOWED_TRANSITIONS, can_transition, transition
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


def test_final_statuses_allow_nothing() -> None:
    for status in OrderStatus:
        assert (not ALLOWED_TRANSITIONS[status]) == status.is_final


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
