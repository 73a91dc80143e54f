"""The Broker contract: what every adapter must do, written against the `Broker` interface only.

Fills are collected from order events, never read from an adapter's internals. Each test runs once per harness
in `tests/contract/harness.py` that has the capabilities it needs.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from broker_sim import (
    Broker,
    DuplicateClientOrderId,
    EventType,
    InsufficientBuyingPower,
    InvalidOrder,
    InvalidRequest,
    Order,
    OrderEvent,
    OrderNotCancelable,
    OrderNotFound,
    OrderNotReplaceable,
    OrderRefused,
    OrderRequest,
    OrderStatus,
    OrderTimeout,
    PositionNotFound,
    Side,
)
from broker_sim.orders import REACHABLE
from tests.contract.harness import INITIAL_BALANCE, Harness, fills_of

MONEY = 1e-6


async def _visible_state(broker: Broker) -> tuple[object, ...]:
    """Everything a strategy can see of the account, to check that a refused call changed nothing."""
    return await broker.get_account(), await broker.get_positions(), await broker.list_orders("all")


async def _filled(harness: Harness, order: Order) -> Order:
    await harness.settle()
    return await harness.broker.wait_for(order.id, "filled", timeout=30)


def _events_of(harness: Harness, order_id: str) -> list[OrderEvent]:
    return [event for event in harness.events if event.order.id == order_id]


# -- submit and fill ------------------------------------------------------------------------------------------


@pytest.mark.needs("prices")
async def test_a_market_buy_fills_and_is_reported_by_events_in_order(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    order = await broker.buy("AAPL", 10)
    assert order.symbol == "AAPL" and order.side is Side.BUY and order.quantity == 10
    filled = await _filled(harness, order)
    assert filled.status is OrderStatus.FILLED and filled.filled_quantity == 10
    assert filled.filled_avg_price == pytest.approx(100.0, rel=0.01)
    types = [event.type for event in _events_of(harness, order.id)]
    assert types[-1] is EventType.FILL and EventType.NEW in types
    statuses = [event.order.status for event in _events_of(harness, order.id)]
    for before, after in itertools.pairwise(statuses):
        assert after is before or after in REACHABLE[before], (before, after)  # never backwards
    fills = fills_of(harness)
    assert [f.order_id for f in fills] == [order.id] and fills[0].quantity == 10
    assert fills[0].execution_id


@pytest.mark.needs("prices")
async def test_fills_move_cash_and_the_position_by_exactly_what_they_say(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 50.0)
    await _filled(harness, await broker.buy("AAPL", 20))
    await _filled(harness, await broker.sell("AAPL", 5))
    fills = fills_of(harness)
    account = await broker.get_account()
    spent = sum(f.signed_quantity * f.price + f.fee for f in fills)
    assert account.cash == pytest.approx(INITIAL_BALANCE - spent, abs=MONEY)
    position = await broker.get_position("AAPL")
    assert position is not None and position.quantity == 15
    assert position.avg_price == pytest.approx(fills[0].price, abs=MONEY)  # selling keeps the average price
    assert account.equity == pytest.approx(account.cash + position.market_value, abs=MONEY)
    assert len({f.execution_id for f in fills}) == len(fills)


@pytest.mark.needs("prices")
async def test_orders_are_listed_by_state_and_symbol_and_found_by_either_id(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    await harness.set_price("MSFT", 200.0)
    done = await broker.buy("AAPL", 1, client_order_id="contract-done")
    resting = await broker.buy("MSFT", 1, type="limit", limit_price=100.0, time_in_force="gtc")
    await _filled(harness, done)
    await harness.settle()
    assert [o.id for o in await broker.list_orders("open")] == [resting.id]
    assert [o.id for o in await broker.list_orders("closed")] == [done.id]
    assert {o.id for o in await broker.list_orders("all")} == {done.id, resting.id}
    assert [o.id for o in await broker.list_orders("all", symbols=["AAPL"])] == [done.id]
    assert [o.id for o in await broker.list_orders("all", symbols="AAPL")] == [done.id]  # one symbol as a string
    assert await broker.list_orders("all", symbols=[]) == []  # a filter naming no symbol selects nothing
    assert (await broker.get_order(done.id)).status is OrderStatus.FILLED
    assert (await broker.get_order_by_client_id("contract-done")).id == done.id
    with pytest.raises(OrderNotFound):
        await broker.get_order("no-such-order")
    with pytest.raises(OrderNotFound):
        await broker.get_order_by_client_id("no-such-client-id")
    with pytest.raises(InvalidRequest, match="status must be one of open, closed, all"):
        await broker.list_orders("pending")


# -- client order ids ---------------------------------------------------------------------------------------


@pytest.mark.needs("prices")
async def test_resubmitting_the_same_client_order_id_returns_the_same_order(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    request = OrderRequest("AAPL", "buy", 3, client_order_id="retry-1")
    first = await broker.submit_order(request)
    again = await broker.submit_order(request)
    assert again.id == first.id
    await harness.settle()
    assert len(await broker.list_orders("all")) == 1
    assert sum(f.quantity for f in fills_of(harness)) == 3


@pytest.mark.needs("prices")
async def test_a_client_order_id_used_for_another_request_is_refused_and_changes_nothing(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    await broker.submit_order(OrderRequest("AAPL", "buy", 3, client_order_id="taken"))
    await harness.settle()
    before = await _visible_state(broker)
    with pytest.raises(DuplicateClientOrderId, match="'taken' is already used"):
        await broker.submit_order(OrderRequest("AAPL", "buy", 4, client_order_id="taken"))
    assert await _visible_state(broker) == before


# -- cancel and replace -------------------------------------------------------------------------------------


@pytest.mark.needs("prices")
async def test_a_working_order_can_be_canceled_once(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    order = await broker.buy("AAPL", 10, type="limit", limit_price=50.0, time_in_force="gtc")
    await harness.settle()
    assert (await broker.get_order(order.id)).status is OrderStatus.NEW
    await broker.cancel_order(order.id)
    await harness.settle()
    canceled = await broker.wait_for(order.id, "canceled", timeout=30)
    assert canceled.status is OrderStatus.CANCELED and canceled.filled_quantity == 0
    assert _events_of(harness, order.id)[-1].type is EventType.CANCELED
    account = await broker.get_account()
    assert account.buying_power == pytest.approx(account.cash, abs=MONEY)  # nothing is held any more
    with pytest.raises(OrderNotCancelable, match="already canceled"):
        await broker.cancel_order(order.id)
    with pytest.raises(OrderNotFound):
        await broker.cancel_order("no-such-order")


@pytest.mark.needs("prices")
async def test_replace_gives_a_new_linked_order_and_ends_the_old_one_replaced(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    order = await broker.buy("AAPL", 10, type="limit", limit_price=50.0, time_in_force="gtc")
    await harness.settle()
    new = await broker.replace_order(order.id, quantity=12, limit_price=55.0)
    assert new.id != order.id and new.replaces == order.id
    await harness.settle()
    old = await broker.get_order(order.id)
    assert old.status is OrderStatus.REPLACED and old.replaced_by == new.id
    current = await broker.get_order(new.id)
    assert (current.status, current.quantity, current.limit_price) == (OrderStatus.NEW, 12, 55.0)
    assert [o.id for o in await broker.list_orders("open")] == [new.id]


@pytest.mark.needs("prices")
async def test_final_orders_cannot_be_replaced_and_empty_replaces_are_invalid(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    done = await _filled(harness, await broker.buy("AAPL", 1))
    with pytest.raises(OrderNotReplaceable, match="is filled"):
        await broker.replace_order(done.id, quantity=2)
    resting = await broker.buy("AAPL", 1, type="limit", limit_price=50.0, time_in_force="gtc")
    await harness.settle()
    before = await _visible_state(broker)
    with pytest.raises(InvalidOrder, match="changes nothing"):
        await broker.replace_order(resting.id)
    with pytest.raises(InvalidOrder, match="limit_price must be > 0"):
        await broker.replace_order(resting.id, limit_price=-1.0)
    assert await _visible_state(broker) == before


# -- positions and account ------------------------------------------------------------------------------------


@pytest.mark.needs("prices")
async def test_close_position_flattens_it_and_a_flat_symbol_has_none(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    await _filled(harness, await broker.buy("AAPL", 7))
    closing = await broker.close_position("AAPL")
    assert closing.side is Side.SELL and closing.quantity == 7
    await _filled(harness, closing)
    assert await broker.get_position("AAPL") is None
    assert await broker.get_positions() == []
    with pytest.raises(PositionNotFound):
        await broker.close_position("AAPL")


async def test_a_fresh_account_holds_its_initial_balance(harness: Harness) -> None:
    account = await harness.broker.get_account()
    assert account.cash == account.equity == pytest.approx(INITIAL_BALANCE)
    assert account.buying_power > 0
    assert await harness.broker.get_positions() == []
    assert await harness.broker.list_orders("all") == []


# -- bad input changes nothing ------------------------------------------------------------------------------


async def test_malformed_calls_raise_and_change_nothing(harness: Harness) -> None:
    broker = harness.broker
    before = await _visible_state(broker)
    with pytest.raises(InvalidOrder, match="takes an OrderRequest"):
        await broker.submit_order({"symbol": "AAPL"})  # type: ignore[arg-type]
    with pytest.raises(InvalidOrder, match="quantity must be > 0"):
        await broker.buy("AAPL", 0)
    with pytest.raises(InvalidOrder, match="limit_price is required"):
        await broker.buy("AAPL", 1, type="limit")
    with pytest.raises(InvalidOrder, match="side must be one of buy, sell"):
        await broker.submit_order(OrderRequest("AAPL", "hold", 1))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="unknown order status 'done'"):
        await broker.wait_for("whatever", "done")
    assert await _visible_state(broker) == before


@pytest.mark.needs("prices")
async def test_an_order_the_account_cannot_pay_for_is_refused_and_creates_nothing(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    await harness.settle()
    before = await _visible_state(broker)
    with pytest.raises(InsufficientBuyingPower, match="insufficient buying power") as caught:
        await broker.buy("AAPL", 5_000, client_order_id="too-big")  # 500,000 against 100,000
    assert isinstance(caught.value, OrderRefused) and caught.value.status == 403
    await harness.settle()
    assert await _visible_state(broker) == before and fills_of(harness) == []
    with pytest.raises(OrderNotFound):
        await broker.get_order_by_client_id("too-big")  # no order, and its client order id is still free
    order = await broker.buy("AAPL", 5, client_order_id="too-big")
    assert (await _filled(harness, order)).filled_quantity == 5


@pytest.mark.needs("prices")
async def test_wait_for_times_out_with_the_status_it_saw(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    order = await broker.buy("AAPL", 1, type="limit", limit_price=10.0, time_in_force="gtc")
    await harness.settle()
    with pytest.raises(OrderTimeout, match=r"is still new after 1\.0 s; waited for filled"):
        await broker.wait_for(order.id, "filled", timeout=1.0)


@pytest.mark.needs("prices")
async def test_concurrent_submissions_never_spend_the_same_cash_twice(harness: Harness) -> None:
    broker = harness.broker
    await harness.set_price("AAPL", 100.0)
    answers = await asyncio.gather(*(broker.buy("AAPL", 100) for _ in range(15)), return_exceptions=True)
    # 15 x 10,000 > 100,000. What the account cannot pay for is refused at once, as Alpaca answers 403: it never
    # spends cash.
    refused = [a for a in answers if not isinstance(a, Order)]
    assert refused and all(isinstance(a, InsufficientBuyingPower) for a in refused), refused
    orders = [a for a in answers if isinstance(a, Order)]
    await harness.settle()
    final = [await broker.get_order(o.id) for o in orders]
    filled = sum(o.filled_quantity for o in final)
    assert filled <= 1000
    account = await broker.get_account()
    assert account.cash >= -MONEY


# -- the seed engine's four behaviours ----------------------------------------------------------------------


@pytest.mark.needs("seed_models")
async def test_seed_order_submission_tracks_status_until_filled(harness: Harness) -> None:
    order = await harness.broker.buy("AAPL", 10, reference_price=150.0)
    assert order.status is OrderStatus.PENDING_NEW
    filled = await harness.broker.wait_for(order.id, "filled")
    latency = (filled.updated_at - order.created_at).total_seconds()
    assert filled.status is OrderStatus.FILLED and 0.5 <= latency <= 2.0


@pytest.mark.needs("seed_models")
async def test_seed_fill_applies_5_bps_slippage_and_updates_the_balance(harness: Harness) -> None:
    order = await harness.broker.buy("AAPL", 10, reference_price=150.0)
    filled = await harness.broker.wait_for(order.id, "filled")
    assert filled.filled_avg_price == pytest.approx(150.0 * 1.0005, abs=1e-9)
    assert (await harness.broker.get_account()).cash == pytest.approx(INITIAL_BALANCE - 10 * 150.075, abs=1e-9)


@pytest.mark.needs("seed_models")
async def test_seed_insufficient_funds_refuse_the_order(harness: Harness) -> None:
    with pytest.raises(InsufficientBuyingPower):
        await harness.broker.buy("AAPL", 1000, reference_price=150.0)
    assert (await harness.broker.get_account()).cash == INITIAL_BALANCE


@pytest.mark.needs("seed_models")
async def test_seed_positions_accumulate_at_average_price(harness: Harness) -> None:
    first = await harness.broker.buy("AAPL", 10, reference_price=100.0)
    second = await harness.broker.buy("AAPL", 30, reference_price=200.0)
    await harness.broker.wait_for(first.id, "filled")
    await harness.broker.wait_for(second.id, "filled")
    position = await harness.broker.get_position("AAPL")
    assert position is not None and position.quantity == 40
    assert position.avg_price == pytest.approx((10 * 100.05 + 30 * 200.1) / 40, abs=1e-9)
