"""The trade_updates stream against `broker-sim serve`: a dropped connection is re-established (re-auth,
re-listen) after a backoff on the adapter's clock, and what happened meanwhile is read back with no fill missed
or delivered twice."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from broker_sim import EventType, OrderStatus, SimulatedClock
from broker_sim.adapters.alpaca import AlpacaBroker
from tests.contract.harness import START, AlpacaHarness, fills_of


@pytest.fixture
async def harness() -> AsyncIterator[tuple[AlpacaHarness, SimulatedClock]]:
    clock = SimulatedClock(START, auto_advance=False)  # the reconnect backoff waits until the test moves it
    made = await AlpacaHarness(clock=clock).start()
    try:
        yield made, clock
    finally:
        await made.close()


async def test_a_dropped_stream_reconnects_and_no_fill_is_missed_or_repeated(
    harness: tuple[AlpacaHarness, SimulatedClock],
) -> None:
    made, clock = harness
    broker = made.broker
    assert isinstance(broker, AlpacaBroker) and broker.stream is not None
    await made.set_price("AAPL", 100.0)
    first = await broker.buy("AAPL", 1)
    await made.settle()
    await broker.stream.drop()  # the connection goes; reconnecting waits for the backoff on the clock
    venue = made.server.broker
    during = [await venue.buy("AAPL", 2), await venue.buy("AAPL", 3)]
    resting = await venue.buy("AAPL", 1, type="limit", limit_price=50.0, time_in_force="gtc")
    await venue.clock.sleep(5.0)
    await venue.cancel_order(resting.id)
    await venue.clock.sleep(5.0)
    assert broker.stream.connections == 1
    heard_before = len(made.events)
    assert not any(e.order.id in {o.id for o in during} for e in made.events)  # nothing heard while down

    await clock.advance(60.0)  # the backoff passes: connect, authenticate, listen, re-read
    await made.settle()
    after = await broker.buy("AAPL", 4)
    await made.settle()

    assert broker.stream.connections == 2 and len(made.events) > heard_before
    fills = fills_of(made)
    venue_executions = sorted(fill.execution_id for fill, _ in made.server.served.activities)
    assert sorted(f.execution_id for f in fills) == venue_executions and len(set(venue_executions)) == 4
    assert {f.order_id: f.quantity for f in fills} == {
        first.id: 1,
        during[0].id: 2,
        during[1].id: 3,
        after.id: 4,
    }
    assert [e.type for e in made.events if e.order.id == resting.id][-1] is EventType.CANCELED
    assert (await broker.get_order(resting.id)).status is OrderStatus.CANCELED
    position = await broker.get_position("AAPL")
    assert position is not None and position.quantity == 10

    count = len(made.events)
    await broker.resync()  # reading it all again publishes nothing twice
    assert len(made.events) == count


async def test_a_repeated_trade_update_is_delivered_once(harness: tuple[AlpacaHarness, SimulatedClock]) -> None:
    made, _ = harness
    broker = made.broker
    assert isinstance(broker, AlpacaBroker)
    await made.set_price("AAPL", 100.0)
    order = await broker.buy("AAPL", 2)
    await made.settle()
    fill_event = next(e for e in made.events if e.order.id == order.id and e.fill is not None)
    from broker_sim.serve.translate import trade_update_json

    count = len(made.events)
    await broker._on_update(trade_update_json(fill_event))
    new_event = next(e for e in made.events if e.order.id == order.id and e.type is EventType.NEW)
    await broker._on_update(trade_update_json(new_event))  # a stale report after the fill
    assert len(made.events) == count
