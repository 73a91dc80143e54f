"""The shipped SMA crossover's `on_order_event`: an order on its way or working changes nothing, a rejection stops
the strategy until the next crossing, and an order that ends otherwise goes on towards the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from broker_sim import Bar, EventType, Order, OrderEvent, OrderStatus, PaperBroker, SimulatedClock
from broker_sim.strategy import load_strategy_class
from broker_sim.strategy_book import StrategyBook
from broker_sim.strategy_broker import StrategyBroker
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[1]


async def _crossed_up() -> tuple[Any, PaperBroker]:
    """The example (fast 1, slow 2) on a strategy view of a paper broker, after a rising bar made it want 10."""
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none")
    example: Any = load_strategy_class(f"{ROOT}/examples/sma_cross.py:SmaCross")
    strategy = example(fast=1, slow=2, quantity=10)
    strategy.name = "sma"
    strategy.book = StrategyBook("sma")
    strategy.broker = StrategyBroker(broker, "sma", strategy.book)
    for close in (100.0, 99.0):
        bar = Bar("AAPL", T0, close, close, close, close)
        await broker.update_market(bar)
        assert strategy.on_bar(bar) is None  # the slow average first, then below it: no holding wanted
    return strategy, broker


def _event(order: Order, status: OrderStatus, kind: EventType) -> OrderEvent:
    return OrderEvent(kind, attrs.evolve(order, status=status), T0)


async def test_an_order_on_its_way_or_working_changes_nothing_and_a_rejection_waits_for_the_next_crossing() -> None:
    strategy, broker = await _crossed_up()
    rising = Bar("AAPL", T0, 101.0, 101.0, 101.0, 101.0)
    await broker.update_market(rising)
    sent = strategy.on_bar(rising)
    assert sent is not None
    order = await sent
    assert (order.side.value, order.quantity, order.status) == ("buy", 10, OrderStatus.FILLED)
    state = strategy._state["AAPL"]
    for status, kind in ((OrderStatus.PENDING_NEW, EventType.PENDING_NEW), (OrderStatus.NEW, EventType.NEW)):
        assert strategy.on_order_event(_event(order, status, kind)) is None
        assert state.retry and state.long
    assert strategy.on_order_event(_event(order, OrderStatus.REJECTED, EventType.REJECTED)) is None
    assert not state.retry  # no order again until the next crossing, whatever ends meanwhile
    assert strategy.on_order_event(_event(order, OrderStatus.CANCELED, EventType.CANCELED)) is None
    falling = Bar("AAPL", T0, 90.0, 90.0, 90.0, 90.0)
    await broker.update_market(falling)
    # The next crossing wants nothing held; the book (kept by the runner, absent here) holds nothing: no order
    assert strategy.on_bar(falling) is None
    assert state.retry and state.long is False


async def test_an_order_that_ends_unfilled_is_followed_by_one_towards_the_target() -> None:
    strategy, broker = await _crossed_up()
    strategy._state["AAPL"].long = True  # wants 10, holds nothing, has nothing open
    ended = await broker.buy("AAPL", 1)  # an order of the symbol, as the example's would be, told as expired
    follow = strategy.on_order_event(_event(ended, OrderStatus.EXPIRED, EventType.EXPIRED))
    assert follow is not None
    order = await follow
    assert (order.side.value, order.quantity, order.client_order_id) == ("buy", 10, "sma-1")
    assert strategy.on_order_event(_event(order, OrderStatus.NEW, EventType.NEW)) is None  # working: no more
    unknown = await broker.buy("MSFT", 1)  # a symbol the strategy never saw a bar of: nothing to go on with
    assert strategy.on_order_event(_event(unknown, OrderStatus.FILLED, EventType.FILL)) is None
