"""A strategy's own order helpers: `order_target` sends what brings its holding to the target."""

from __future__ import annotations

from broker_sim import Bar, OrderStatus, OrderType, PaperBroker, SimulatedClock, Strategy, TimeInForce
from broker_sim.strategy_book import StrategyBook
from broker_sim.strategy_broker import StrategyBroker
from tests.conftest import T0


async def _strategy_on_a_view() -> Strategy:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none", allow_short=True)
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    strategy = Strategy()
    strategy.name = "alpha"
    strategy.book = StrategyBook("alpha")
    strategy.broker = StrategyBroker(broker, "alpha", strategy.book)
    return strategy


async def test_order_target_sends_the_same_market_day_order_whether_day_is_named_or_not() -> None:
    strategy = await _strategy_on_a_view()
    sent = []
    for fields in ({}, {"time_in_force": "day"}, {"time_in_force": TimeInForce.DAY}, {"time_in_force": "DAY"}):
        awaitable = strategy.order_target("AAPL", 2, **fields)
        assert awaitable is not None
        sent.append(await awaitable)
    assert [order.client_order_id for order in sent] == ["alpha-1", "alpha-2", "alpha-3", "alpha-4"]
    assert all(order.time_in_force is TimeInForce.DAY and order.type is OrderType.MARKET for order in sent)
    assert all(order.quantity == 2 and order.status is OrderStatus.FILLED for order in sent)


async def test_order_target_passes_on_every_other_field_and_counts_the_open_orders() -> None:
    strategy = await _strategy_on_a_view()
    resting = strategy.order_target("AAPL", 1, type="limit", limit_price=50.0, time_in_force="gtc")
    assert resting is not None
    bid = await resting
    assert bid.time_in_force is TimeInForce.GTC and bid.type is OrderType.LIMIT and bid.status is OrderStatus.NEW
    limited = strategy.order_target("AAPL", 2, type="limit", limit_price=150.0, time_in_force="day")
    assert limited is not None
    bought = await limited  # the resting bid counts towards the target: one more
    assert (bought.type, bought.time_in_force, bought.quantity) == (OrderType.LIMIT, TimeInForce.DAY, 1)
    further = strategy.order_target("AAPL", 3, time_in_force="day")  # the bid still counts (the book had no fill)
    assert further is not None
    market = await further
    assert (market.side.value, market.quantity, market.type) == ("buy", 2, OrderType.MARKET)
    assert market.time_in_force is TimeInForce.DAY and market.client_order_id == "alpha-3"


async def test_order_target_on_a_broker_that_is_no_strategy_view_sends_a_day_order() -> None:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none", allow_short=True)
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    strategy = Strategy()
    strategy.broker = broker
    awaitable = strategy.order_target("AAPL", -3, time_in_force="day")
    assert awaitable is not None
    order = await awaitable
    assert (order.side.value, order.quantity, order.time_in_force) == ("sell", 3, TimeInForce.DAY)
    assert strategy.order_target("AAPL", 0.0) is None  # (its own book: it holds nothing, so nothing to do)
