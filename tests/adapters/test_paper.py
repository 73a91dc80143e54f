"""PaperBroker: the seed engine's behaviour, order types and time in force, risk checks, events, determinism."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from broker_sim import (
    Bar,
    EventType,
    Fill,
    InsufficientBuyingPower,
    InvalidMarketData,
    InvalidOrder,
    InvalidRequest,
    OrderEvent,
    OrderNotCancelable,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    OrderTimeout,
    PaperBroker,
    PositionNotFound,
    ShortSaleRefused,
    Side,
    SimulatedClock,
    Trade,
)
from tests.conftest import T0


async def _state(broker: PaperBroker) -> tuple[object, ...]:
    """Everything a user can see of the account, to check that a refused call changed nothing."""
    return (
        await broker.get_account(),
        await broker.get_positions(),
        await broker.list_orders("all"),
        broker.fills,
    )


def _bar(symbol: str, price: float, when: object = T0, low: float | None = None, high: float | None = None) -> Bar:
    return Bar(
        symbol,
        when,
        price,
        high if high is not None else price,
        low if low is not None else price,
        price,
        1e6,
    )  # type: ignore[arg-type]


# -- the seed's four tests ----------------------------------------------------------------------------------


async def test_order_submission_tracks_status_until_filled(broker: PaperBroker) -> None:
    order = await broker.buy("AAPL", 10, reference_price=150.0)
    assert order.status is OrderStatus.PENDING_NEW
    assert (await broker.get_order(order.id)).status is OrderStatus.PENDING_NEW
    filled = await broker.wait_for(order.id, "filled")
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_quantity == 10
    latency = (filled.updated_at - order.created_at).total_seconds()
    assert 0.5 <= latency <= 2.0


async def test_fill_applies_slippage_and_updates_balance(broker: PaperBroker) -> None:
    order = await broker.buy("AAPL", 10, reference_price=150.0)
    filled = await broker.wait_for(order.id, "filled")
    assert filled.filled_avg_price == pytest.approx(150.0 * 1.0005, abs=1e-12)
    account = await broker.get_account()
    assert account.cash == pytest.approx(100_000 - 10 * 150.075, abs=1e-9)


async def test_insufficient_funds_refuse_the_order_and_record_nothing(broker: PaperBroker) -> None:
    with pytest.raises(InsufficientBuyingPower, match="insufficient buying power: buy 1000 AAPL"):
        await broker.buy("AAPL", 1000, reference_price=150.0)
    assert await broker.list_orders("all") == []
    account = await broker.get_account()
    assert account.cash == 100_000
    assert account.buying_power == 100_000
    assert await broker.get_positions() == []


async def test_positions_accumulate_at_average_price(instant: PaperBroker) -> None:
    await instant.buy("AAPL", 10, reference_price=100.0)
    await instant.buy("AAPL", 30, reference_price=200.0)
    position = await instant.get_position("AAPL")
    assert position is not None
    assert position.quantity == 40
    expected = (10 * 100.0 * 1.0005 + 30 * 200.0 * 1.0005) / 40
    assert position.avg_price == pytest.approx(expected, abs=1e-9)


# -- slippage and P&L ---------------------------------------------------------------------------------------


async def test_buys_fill_5_bps_higher_and_sells_5_bps_lower_by_default(instant: PaperBroker) -> None:
    buy = await instant.buy("AAPL", 10, reference_price=100.0)
    sell = await instant.sell("AAPL", 10, reference_price=100.0)
    assert buy.filled_avg_price == pytest.approx(100.05, abs=1e-9)
    assert sell.filled_avg_price == pytest.approx(99.95, abs=1e-9)
    assert (await instant.get_account()).realized_pnl == pytest.approx(-1.0, abs=1e-9)


async def test_market_orders_fill_at_the_last_market_price(instant: PaperBroker) -> None:
    await instant.update_market(Trade("AAPL", T0, 120.0, 100))
    order = await instant.buy("AAPL", 1, reference_price=100.0)
    assert order.filled_avg_price == pytest.approx(120.0 * 1.0005, abs=1e-9)


async def test_realized_and_unrealized_pnl(clock: SimulatedClock) -> None:
    broker = PaperBroker(100_000, clock=clock, latency="none", slippage="none")
    await broker.update_market(_bar("AAPL", 100.0))
    await broker.buy("AAPL", 10)
    await broker.update_market(_bar("AAPL", 110.0))
    position = await broker.get_position("AAPL")
    assert position is not None
    assert position.unrealized_pnl == pytest.approx(100.0)
    assert position.market_value == pytest.approx(1100.0)
    await broker.sell("AAPL", 4)
    account = await broker.get_account()
    assert account.realized_pnl == pytest.approx(40.0)
    assert account.unrealized_pnl == pytest.approx(60.0)
    assert account.equity == pytest.approx(100_100.0)


async def test_fill_through_zero_closes_the_long_and_opens_a_short(clock: SimulatedClock) -> None:
    # Alpaca refuses such an order (the position_flip_check rule); relaxed, the ledger books it as a flip.
    broker = PaperBroker(
        100_000, clock=clock, latency="none", slippage="none", allow_short=True, rules={"position_flip_check": False}
    )
    await broker.update_market(_bar("AAPL", 100.0))
    await broker.buy("AAPL", 10)
    await broker.update_market(_bar("AAPL", 120.0))
    await broker.sell("AAPL", 25)
    position = await broker.get_position("AAPL")
    assert position is not None
    assert position.quantity == -15
    assert position.avg_price == 120.0
    assert position.realized_pnl == pytest.approx(200.0)
    await broker.update_market(_bar("AAPL", 110.0))
    position = await broker.get_position("AAPL")
    assert position is not None and position.unrealized_pnl == pytest.approx(150.0)


async def test_short_sale_is_refused_when_shorting_is_disabled(instant: PaperBroker) -> None:
    with pytest.raises(ShortSaleRefused, match="account is not allowed to short"):
        await instant.sell("AAPL", 5, reference_price=100.0)
    assert await instant.list_orders("all") == []


# -- concurrency --------------------------------------------------------------------------------------------


async def test_concurrent_orders_never_spend_more_than_the_cash(broker: PaperBroker) -> None:
    # 20 orders of 10 000 each against 100 000: at most 9 can be paid for (each valued at Alpaca's 2.5 % collar);
    # the other 11 are refused at the door.
    answers = await asyncio.gather(
        *(broker.buy("AAPL", 100, reference_price=100.0) for _ in range(20)), return_exceptions=True
    )
    assert sum(isinstance(answer, InsufficientBuyingPower) for answer in answers) == 11
    orders = [answer for answer in answers if not isinstance(answer, BaseException)]
    cash_seen = [100_000.0]

    def follow_cash(event: OrderEvent) -> None:
        if event.fill is not None:
            fill = event.fill
            cash_seen.append(cash_seen[-1] - fill.signed_quantity * fill.price - fill.fee)

    broker.add_listener(follow_cash)
    final = [await broker.wait_for(order.id) for order in orders]
    filled = [o for o in final if o.status is OrderStatus.FILLED]
    assert len(filled) == 9 == len(final)
    account = await broker.get_account()
    assert account.cash >= 0
    assert len(cash_seen) == 10 and min(cash_seen) >= 0
    assert account.cash == pytest.approx(cash_seen[-1], abs=1e-6)
    assert account.cash == pytest.approx(100_000 - 9 * 100 * 100.05, abs=1e-6)


async def test_a_fill_the_account_cannot_pay_after_a_price_jump_is_rejected(broker: PaperBroker) -> None:
    await broker.update_market(_bar("AAPL", 100.0))
    order = await broker.buy("AAPL", 960, reference_price=100.0)  # 960 x 102.50 (the collar) fits in 100,000
    assert order.status is OrderStatus.PENDING_NEW
    await broker.update_market(_bar("AAPL", 200.0))  # the price doubles while the order is on its way
    final = await broker.wait_for(order.id)
    assert final.status is OrderStatus.REJECTED
    assert final.reject_reason is not None and "insufficient buying power at fill" in final.reject_reason
    account = await broker.get_account()
    assert account.cash == 100_000
    assert account.buying_power == 100_000


# -- limit orders, cancel, time in force ----------------------------------------------------------------------


async def test_limit_buy_rests_until_the_market_reaches_it(instant: PaperBroker) -> None:
    await instant.update_market(_bar("AAPL", 100.0))
    order = await instant.buy("AAPL", 10, type="limit", limit_price=95.0, time_in_force="gtc")
    assert order.status is OrderStatus.NEW
    assert (await instant.get_account()).buying_power == pytest.approx(100_000 - 10 * 95.0)
    await instant.update_market(_bar("AAPL", 96.0, T0 + timedelta(minutes=1)))
    assert (await instant.get_order(order.id)).status is OrderStatus.NEW
    await instant.update_market(_bar("AAPL", 94.0, T0 + timedelta(minutes=2)))
    filled = await instant.get_order(order.id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == pytest.approx(94.0 * 1.0005)


async def test_limit_order_never_fills_beyond_its_limit_after_slippage(instant: PaperBroker) -> None:
    await instant.update_market(_bar("AAPL", 100.0))
    order = await instant.buy("AAPL", 10, type="limit", limit_price=100.0)
    assert order.status is OrderStatus.FILLED
    assert order.filled_avg_price == 100.0


async def test_cancel_releases_the_reservation(instant: PaperBroker) -> None:
    await instant.update_market(_bar("AAPL", 100.0))
    order = await instant.buy("AAPL", 100, type="limit", limit_price=90.0, time_in_force="gtc")
    assert (await instant.get_account()).buying_power == pytest.approx(91_000)
    canceled = await instant.cancel_order(order.id)
    assert canceled.status is OrderStatus.CANCELED
    assert (await instant.get_account()).buying_power == pytest.approx(100_000)


async def test_cancel_under_latency_races_the_fill(broker: PaperBroker) -> None:
    await broker.update_market(_bar("AAPL", 100.0))
    order = await broker.buy("AAPL", 10, type="limit", limit_price=90.0, time_in_force="gtc")
    await broker.clock.advance(3)
    pending = await broker.cancel_order(order.id)
    assert pending.status is OrderStatus.PENDING_CANCEL
    await broker.update_market(_bar("AAPL", 89.0))  # the market reaches the limit before the cancel arrives
    final = await broker.wait_for(order.id, "canceled")
    assert final.status is OrderStatus.FILLED


async def test_cancel_of_unknown_or_filled_order_raises_and_changes_nothing(instant: PaperBroker) -> None:
    order = await instant.buy("AAPL", 10, reference_price=100.0)
    before = await _state(instant)
    with pytest.raises(OrderNotFound, match="no order with id 'nope'"):
        await instant.cancel_order("nope")
    with pytest.raises(OrderNotCancelable, match="is already filled"):
        await instant.cancel_order(order.id)
    assert await _state(instant) == before


async def test_day_order_expires_at_the_session_close(broker: PaperBroker) -> None:
    await broker.update_market(_bar("AAPL", 100.0))
    order = await broker.buy("AAPL", 10, type="limit", limit_price=50.0)  # day is the default
    expired = await broker.wait_for(order.id, timeout=86_400)
    assert expired.status is OrderStatus.EXPIRED
    assert expired.updated_at == T0.replace(hour=21, minute=0)  # 16:00 New York in March (EST) is 21:00 UTC
    assert (await broker.get_account()).buying_power == 100_000


async def test_gtc_order_outlives_the_session(broker: PaperBroker) -> None:
    await broker.update_market(_bar("AAPL", 100.0))
    order = await broker.buy("AAPL", 10, type="limit", limit_price=50.0, time_in_force="gtc")
    await broker.clock.advance(3 * 86_400)
    assert (await broker.get_order(order.id)).status is OrderStatus.NEW


async def test_ioc_limit_that_cannot_fill_is_canceled(instant: PaperBroker) -> None:
    await instant.update_market(_bar("AAPL", 100.0))
    order = await instant.buy("AAPL", 10, type="limit", limit_price=99.0, time_in_force="ioc")
    assert order.status is OrderStatus.CANCELED
    assert (await instant.get_account()).buying_power == 100_000


async def test_fok_market_order_fills_whole(instant: PaperBroker) -> None:
    await instant.update_market(_bar("AAPL", 100.0))
    order = await instant.buy("AAPL", 10, time_in_force="fok")
    assert order.status is OrderStatus.FILLED


async def test_client_order_id_is_idempotent(instant: PaperBroker) -> None:
    first = await instant.buy("AAPL", 10, reference_price=100.0, client_order_id="mine-1")
    again = await instant.buy("AAPL", 10, reference_price=100.0, client_order_id="mine-1")
    assert again.id == first.id
    assert len(instant.fills) == 1
    assert (await instant.get_order_by_client_id("mine-1")).id == first.id
    with pytest.raises(OrderNotFound):
        await instant.get_order_by_client_id("other")


async def test_market_order_without_any_price_is_rejected(instant: PaperBroker) -> None:
    order = await instant.buy("AAPL", 10)
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == "no market price known for AAPL and no reference_price given"


# -- bad input changes nothing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_or_bad", "message"),
    [
        ("not a request", "submit_order takes an OrderRequest"),
        (OrderRequest("MSFT", Side.BUY, 1, reference_price=1.0), "unknown symbol 'MSFT'"),
    ],
)
async def test_malformed_submission_raises_and_changes_nothing(
    clock: SimulatedClock, request_or_bad: object, message: str
) -> None:
    broker = PaperBroker(100_000, clock=clock, latency="none", symbols=["AAPL"])
    await broker.buy("AAPL", 10, reference_price=100.0)
    before = await _state(broker)
    with pytest.raises(InvalidOrder, match=message):
        await broker.submit_order(request_or_bad)  # type: ignore[arg-type]
    assert await _state(broker) == before


async def test_malformed_convenience_order_raises_and_changes_nothing(instant: PaperBroker) -> None:
    before = await _state(instant)
    with pytest.raises(InvalidOrder, match="quantity must be > 0, got -5"):
        await instant.buy("AAPL", -5, reference_price=100.0)
    with pytest.raises(InvalidOrder, match="limit_price is required"):
        await instant.sell("AAPL", 5, type="limit")
    assert await _state(instant) == before


async def test_update_market_refuses_what_is_not_market_data(instant: PaperBroker) -> None:
    with pytest.raises(InvalidMarketData, match="takes a Bar, Quote or Trade, got dict"):
        await instant.update_market({"symbol": "AAPL", "price": 1.0})  # type: ignore[arg-type]


async def test_list_orders_by_state_and_symbol(instant: PaperBroker) -> None:
    await instant.update_market(_bar("AAPL", 100.0))
    filled = await instant.buy("AAPL", 1)
    resting = await instant.buy("AAPL", 1, type="limit", limit_price=50.0)
    other = await instant.buy("MSFT", 1, reference_price=10.0)
    assert [o.id for o in await instant.list_orders()] == [resting.id]
    assert [o.id for o in await instant.list_orders("closed")] == [filled.id, other.id]
    assert [o.id for o in await instant.list_orders("all", symbols=["MSFT"])] == [other.id]
    with pytest.raises(InvalidRequest, match="status must be one of open, closed, all"):
        await instant.list_orders("pending")


async def test_an_order_on_its_way_never_arrives_once_the_broker_is_closed(broker: PaperBroker) -> None:
    heard: list[EventType] = []
    broker.add_listener(lambda event: heard.append(event.type))
    await broker.buy("AAPL", 1, reference_price=10.0)
    await broker.close()
    assert broker.clock.next_timer() is None
    await broker.clock.advance(10.0)
    assert heard == [EventType.PENDING_NEW]
    assert broker.fills == []


async def test_close_position_flattens(instant: PaperBroker) -> None:
    await instant.buy("AAPL", 10, reference_price=100.0)
    order = await instant.close_position("AAPL")
    assert order.side is Side.SELL and order.status is OrderStatus.FILLED
    assert await instant.get_positions() == []
    with pytest.raises(PositionNotFound, match="no open position in 'AAPL'"):
        await instant.close_position("AAPL")


# -- events ----------------------------------------------------------------------------------------------------


async def test_events_arrive_in_order_to_listeners_and_iterators(broker: PaperBroker) -> None:
    seen: list[EventType] = []
    heard_async: list[EventType] = []
    unsubscribe = broker.add_listener(lambda event: seen.append(event.type))

    async def slow(event: OrderEvent) -> None:
        await asyncio.sleep(0)
        heard_async.append(event.type)

    broker.add_listener(slow)
    iterated: list[EventType] = []

    async def consume() -> None:
        async for event in broker.events():
            iterated.append(event.type)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    order = await broker.buy("AAPL", 1, reference_price=10.0)
    await broker.wait_for(order.id)
    unsubscribe()
    await broker.buy("AAPL", 1, reference_price=10.0)
    await broker.close()
    await consumer
    expected = [EventType.PENDING_NEW, EventType.NEW, EventType.FILL]
    assert seen == expected
    assert iterated[:3] == expected
    assert heard_async[:3] == expected


async def test_a_raising_listener_does_not_stop_the_broker(
    instant: PaperBroker, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: OrderEvent) -> None:
        raise RuntimeError("dashboard down")

    instant.add_listener(broken)
    order = await instant.buy("AAPL", 1, reference_price=10.0)
    assert order.status is OrderStatus.FILLED
    assert "broken failed" in caplog.text


async def test_a_single_listener_hears_every_event_straight_from_the_broker(instant: PaperBroker) -> None:
    """One sync listener and nothing else: the broker calls it without the hub's `publish` (its sole listener),
    and a second listener, a waiter or an unsubscription puts the hub's `publish` back in between."""
    hub = instant._hub
    first: list[EventType] = []
    unsubscribe = instant.add_listener(lambda event: first.append(event.type))
    assert hub.sole_listener is not None
    await instant.buy("AAPL", 1, reference_price=10.0)
    assert first == [EventType.PENDING_NEW, EventType.NEW, EventType.FILL]
    second: list[EventType] = []
    unsubscribe_second = instant.add_listener(lambda event: second.append(event.type))
    assert hub.sole_listener is None
    await instant.buy("AAPL", 1, reference_price=10.0)
    assert len(first) == 6 and second == first[3:]
    unsubscribe_second()
    assert hub.sole_listener is not None
    unsubscribe()
    assert hub.sole_listener is None
    await instant.buy("AAPL", 1, reference_price=10.0)
    assert len(first) == 6 and len(second) == 3


async def test_the_sole_listener_and_a_waiter_both_hear_the_order(broker: PaperBroker) -> None:
    seen: list[EventType] = []
    broker.add_listener(lambda event: seen.append(event.type))
    order = await broker.buy("AAPL", 1, reference_price=10.0)
    assert broker._hub.sole_listener is not None
    filled = await broker.wait_for(order.id, "filled")
    assert filled.status is OrderStatus.FILLED
    assert seen == [EventType.PENDING_NEW, EventType.NEW, EventType.FILL]
    assert broker._hub.sole_listener is not None  # the waiter is gone again


async def test_a_listener_added_by_the_sole_listener_hears_the_event_it_was_added_on(instant: PaperBroker) -> None:
    """As `publish` delivers: async listeners and iterators added by a sync listener hear the event at hand; sync
    listeners added meanwhile hear the next one."""
    heard_async: list[EventType] = []
    heard_sync: list[EventType] = []

    async def late_async(event: OrderEvent) -> None:
        heard_async.append(event.type)

    def first(event: OrderEvent) -> None:
        if event.type is EventType.NEW:
            instant.add_listener(late_async)
            instant.add_listener(lambda later: heard_sync.append(later.type))

    instant.add_listener(first)
    await instant.buy("AAPL", 1, reference_price=10.0)
    await asyncio.sleep(0)
    assert heard_async == [EventType.NEW, EventType.FILL]
    assert heard_sync == [EventType.FILL]
    await instant.close()


async def test_fill_events_carry_the_fill(instant: PaperBroker) -> None:
    events: list[OrderEvent] = []
    instant.add_listener(events.append)
    await instant.buy("AAPL", 3, reference_price=10.0)
    fill_event = events[-1]
    assert fill_event.type is EventType.FILL
    assert fill_event.fill is not None
    assert fill_event.fill.quantity == 3
    assert fill_event.fill.reference_price == 10.0
    assert fill_event.fill.price == pytest.approx(10.005)


async def test_wait_for_times_out_on_simulated_time(instant: PaperBroker) -> None:
    await instant.update_market(_bar("AAPL", 100.0))
    order = await instant.buy("AAPL", 1, type="limit", limit_price=50.0, time_in_force="gtc")
    start = instant.clock.time()
    with pytest.raises(OrderTimeout, match="still new after 30 s"):
        await instant.wait_for(order.id, "filled", timeout=30)
    assert instant.clock.time() == start + 30


async def test_wait_for_rejects_unknown_status(instant: PaperBroker) -> None:
    order = await instant.buy("AAPL", 1, reference_price=1.0)
    with pytest.raises(InvalidRequest, match="unknown order status 'done'"):
        await instant.wait_for(order.id, "done")


async def test_broker_works_as_an_async_context_manager(clock: SimulatedClock) -> None:
    async with PaperBroker(1_000, clock=clock, latency="none") as broker:
        order = await broker.buy("AAPL", 1, reference_price=10.0)
        assert order.status is OrderStatus.FILLED


# -- determinism -----------------------------------------------------------------------------------------------


async def _run(seed: int) -> list[tuple[object, ...]]:
    broker = PaperBroker(100_000, seed=seed, clock=SimulatedClock(T0))
    fills: list[Fill] = []
    broker.add_listener(lambda event: fills.append(event.fill) if event.fill is not None else None)
    orders = [await broker.buy("AAPL", 1, reference_price=100.0 + i) for i in range(10)]
    for order in orders:
        await broker.wait_for(order.id)
    position = {order.id: index for index, order in enumerate(orders)}
    return [(position[f.order_id], f.price, f.timestamp, f.order_id, f.execution_id) for f in fills]


async def test_same_seed_same_fills_and_ids_other_seed_other_latencies() -> None:
    first, again, other = await _run(1), await _run(1), await _run(2)
    assert first == again  # ids included: they come from the seed too
    assert [f[2] for f in first] != [f[2] for f in other]
    assert {f[3] for f in first}.isdisjoint(f[3] for f in other)
    # Latency changes when orders fill, not at what price (no market moves here).
    assert sorted(f[:2] for f in first) == sorted(f[:2] for f in other)


async def test_a_python_subclass_of_paper_broker_trades_and_its_overrides_are_called(clock: SimulatedClock) -> None:
    # PaperBroker is compiled in the optional build: Python code must still be able to subclass it and override
    # what the broker itself calls (`update_market` calls `update_market_nowait`).
    class Counting(PaperBroker):
        def __init__(self) -> None:
            super().__init__(100_000, clock=clock, latency="none", slippage="none")
            self.updates = 0

        def update_market_nowait(self, event: Bar | Trade) -> None:  # type: ignore[override]
            self.updates += 1
            super().update_market_nowait(event)

    broker = Counting()
    await broker.update_market(Trade("AAPL", T0, 100.0, 10))
    order = await broker.buy("AAPL", 5)
    assert broker.updates == 1
    assert (await broker.get_order(order.id)).status is OrderStatus.FILLED
    position = await broker.get_position("AAPL")
    assert position is not None and position.quantity == 5
