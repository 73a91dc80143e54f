"""The trade_updates stream against `broker-sim serve`: a dropped connection is re-established (re-auth,
re-listen) after a backoff on the adapter's clock, and what happened meanwhile is read back with no fill missed
or delivered twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from broker_sim import EventType, OrderEvent, OrderStatus, SimulatedClock
from broker_sim.adapters.alpaca import AlpacaBroker
from tests.adapters.alpaca.feed import TradeUpdatesFeed
from tests.adapters.alpaca.test_payloads import ORDER
from tests.contract.harness import START, AlpacaHarness, fills_of


class Cable:
    """A TCP relay on 127.0.0.1 between the adapter and the server's stream that the test can cut, as a network
    fault or a server going away would: the sockets close with no websocket close frame."""

    def __init__(self) -> None:
        self.target_port = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture(params=["client-drop", "cut-cable"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[tuple[AlpacaHarness, SimulatedClock]]:
    clock = SimulatedClock(START, auto_advance=False)  # the reconnect backoff waits until the test moves it
    cable = Cable()
    port = await cable.start()

    def through_cable(ws_url: str) -> str:
        cable.target_port = int(ws_url.rsplit(":", 1)[1])
        return f"ws://127.0.0.1:{port}/stream"

    made = await AlpacaHarness(clock=clock, stream_url=through_cable).start()
    made.drop = cable.cut if request.param == "cut-cable" else None  # type: ignore[attr-defined]
    try:
        yield made, clock
    finally:
        await made.close()
        await cable.close()


async def test_a_dropped_stream_reconnects_and_no_fill_is_missed_or_repeated(
    harness: tuple[AlpacaHarness, SimulatedClock],
) -> None:
    made, clock = harness
    broker = made.broker
    assert isinstance(broker, AlpacaBroker) and broker.stream is not None
    await made.set_price("AAPL", 100.0)
    first = await broker.buy("AAPL", 1)
    await made.settle()
    if made.drop is None:  # type: ignore[attr-defined]
        await broker.stream.drop()  # the adapter's side closes
    else:
        made.drop()  # type: ignore[attr-defined]  # the connection is cut under it
    # the connection is gone; reconnecting waits for the backoff on the adapter's clock
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


async def test_a_repeated_trade_update_is_delivered_once() -> None:
    working = {**ORDER, "status": "new"}
    filled = {**ORDER, "status": "filled", "filled_qty": ORDER["qty"], "filled_avg_price": "172.0999"}
    new_event = {"event": "new", "order": working, "timestamp": ORDER["updated_at"]}
    fill_event = {
        "event": "fill",
        "order": filled,
        "timestamp": "2021-03-16T18:38:02Z",
        "price": "172.0999",
        "qty": ORDER["qty"],
        "position_qty": ORDER["qty"],
        "execution_id": "exec-1",
    }
    async with TradeUpdatesFeed(ORDER).running() as feed:
        broker = AlpacaBroker(base_url="http://venue.test", key_id="k", secret_key="s", stream_url=feed.url)
        heard: list[OrderEvent] = []
        broker.add_listener(lambda event: heard.append(event) if event.order.id == ORDER["id"] else None)
        await broker.connect()
        await feed.tell(broker, new_event, fill_event)
        assert [e.type for e in heard] == [EventType.NEW, EventType.FILL]
        await feed.tell(broker, fill_event, new_event)  # the fill again, then a stale report after it
        assert [e.type for e in heard] == [EventType.NEW, EventType.FILL]
        await broker.close()
