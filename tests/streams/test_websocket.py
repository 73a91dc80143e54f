"""The websocket price source against a real local server; backoff waits run on a simulated clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from broker_sim.clock import SimulatedClock
from broker_sim.errors import ConfigError, DataError
from broker_sim.models import Bar, MarketData, Quote, Trade
from broker_sim.streams.base import LiveSource
from broker_sim.streams.websocket import WebSocketSource

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
ISO = "2026-03-02T14:30:00Z"
TRADE = {"symbol": "AAPL", "timestamp": ISO, "price": 101.5, "size": 10}

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def feed(handler: Handler) -> AsyncIterator[str]:
    """A websocket server on a free local port running `handler` per connection; yields its URL."""
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


def sends(*messages: Any) -> Handler:
    """A handler that sends `messages` (text as is, anything else as JSON), then waits for the client to leave."""

    async def handler(ws: ServerConnection) -> None:
        for message in messages:
            await ws.send(message if isinstance(message, str) else json.dumps(message))
        await ws.wait_closed()

    return handler


async def take(source: WebSocketSource, count: int) -> list[MarketData]:
    """The first `count` events of `source`; the connection is closed afterwards."""
    async with contextlib.aclosing(source.__aiter__()) as events:  # type: ignore[type-var]
        return [await anext(events) for _ in range(count)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_trades_are_read_through_a_custom_field_mapping() -> None:
    async with asyncio.timeout(5):
        message = {"S": "MSFT", "t": ISO, "p": "400.25", "s": 3, "x": "ignored"}
        async with feed(sends(message)) as url:
            source = WebSocketSource(url, fields={"symbol": "S", "timestamp": "t", "price": "p", "size": "s"})
            assert isinstance(source, LiveSource)
            assert source.name == f"websocket {url}"
            events = await take(source, 1)
    assert events == [Trade("MSFT", T0, 400.25, 3.0)]
    assert events[0].timestamp.tzinfo is UTC
    assert source.stats == {"messages": 1, "events": 1, "bad_messages": 0, "reconnects": 0}


async def test_bars_are_read_with_volume_optional() -> None:
    async with asyncio.timeout(5):
        bars = [
            {"symbol": "AAPL", "timestamp": ISO, "open": 1, "high": 3, "low": 0.5, "close": 2, "volume": 100},
            {"symbol": "AAPL", "timestamp": "2026-03-02T09:31:00", "open": 2, "high": 2, "low": 2, "close": 2},
        ]
        async with feed(sends(*bars)) as url:
            events = await take(WebSocketSource(url, kind="bar", timezone="America/New_York"), 2)
    assert events == [
        Bar("AAPL", T0, 1.0, 3.0, 0.5, 2.0, 100.0),
        Bar("AAPL", datetime(2026, 3, 2, 14, 31, tzinfo=UTC), 2.0, 2.0, 2.0, 2.0, 0.0),
    ]


async def test_quotes_are_read_with_a_fixed_symbol_when_messages_carry_none() -> None:
    async with asyncio.timeout(5):
        quote = {"timestamp": ISO, "bid": 99.5, "ask": 100.0, "bid_size": 2, "ask_size": 5}
        async with feed(sends(quote)) as url:
            events = await take(WebSocketSource(url, kind="quote", symbol="SPY"), 1)
    assert events == [Quote("SPY", T0, 99.5, 100.0, 2.0, 5.0)]


async def test_an_array_message_yields_one_event_per_object() -> None:
    async with asyncio.timeout(5):
        batch = [TRADE, {**TRADE, "price": 102.0}, {**TRADE, "price": 103.0}]
        async with feed(sends(batch)) as url:
            source = WebSocketSource(url)
            events = await take(source, 3)
    assert [event.price for event in events] == [101.5, 102.0, 103.0]
    assert source.stats["messages"] == 1
    assert source.stats["events"] == 3


async def test_epoch_millisecond_timestamps_are_read_by_magnitude_or_unit() -> None:
    async with asyncio.timeout(5):
        millis = int(T0.timestamp() * 1000)
        async with feed(sends({**TRADE, "timestamp": millis})) as url:
            guessed = await take(WebSocketSource(url), 1)
            stated = await take(WebSocketSource(url, timestamp_unit="ms"), 1)
    assert guessed[0].timestamp == T0
    assert stated[0].timestamp == T0


async def test_only_the_listed_symbols_are_kept() -> None:
    async with asyncio.timeout(5):
        batch = [{**TRADE, "symbol": "MSFT"}, TRADE, {**TRADE, "symbol": "TSLA"}, {**TRADE, "symbol": "NVDA"}]
        async with feed(sends(batch)) as url:
            source = WebSocketSource(url, symbols=["AAPL", "NVDA"])
            events = await take(source, 2)
    assert [event.symbol for event in events] == ["AAPL", "NVDA"]
    assert source.stats["bad_messages"] == 0


async def test_the_subscribe_message_is_sent_on_every_connection() -> None:
    received: asyncio.Queue[Any] = asyncio.Queue()
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await received.put(json.loads(await ws.recv()))
        await ws.send(json.dumps({**TRADE, "price": 100.0 + connections}))
        if connections == 1:
            await ws.close()
        else:
            await ws.wait_closed()

    subscribe = {"action": "subscribe", "trades": ["AAPL"]}
    async with asyncio.timeout(5):
        async with feed(handler) as url:
            source = WebSocketSource(url, subscribe=subscribe, clock=SimulatedClock(T0))
            events = await take(source, 2)
    assert [event.price for event in events] == [101.0, 102.0]
    assert [received.get_nowait(), received.get_nowait()] == [subscribe, subscribe]
    assert source.stats["reconnects"] == 1


async def test_bad_messages_are_skipped_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    long_garbage = "x" * 500
    bad = [
        "not json",
        {"timestamp": ISO, "price": 1.0},  # no symbol
        {**TRADE, "price": "NaN"},
        {**TRADE, "price": -1},
        {**TRADE, "timestamp": "yesterday"},
        {**TRADE, "symbol": ""},  # refused by Trade itself
        [{**TRADE, "price": None}, {**TRADE, "price": 7.0}],  # one bad object in an array
        42,
        long_garbage,
    ]
    async with asyncio.timeout(5):
        async with feed(sends(*bad, {**TRADE, "price": 8.0})) as url:
            source = WebSocketSource(url)
            with caplog.at_level(logging.WARNING, logger="broker_sim.streams.websocket"):
                events = await take(source, 2)
    assert [event.price for event in events] == [7.0, 8.0]
    assert source.stats == {"messages": 10, "events": 2, "bad_messages": 9, "reconnects": 0}
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 9
    assert all(message.startswith(f"websocket {url}: skipped a bad message") for message in warnings)
    assert "not JSON" in warnings[0] and "not json" in warnings[0]
    assert "'symbol'" in warnings[1]
    assert "price must be finite" in warnings[2]
    assert "price must be >= 0" in warnings[3]
    assert "'yesterday'" in warnings[4]
    assert "symbol must be a non-empty string" in warnings[5]
    assert "'price'" in warnings[6]
    assert "expected a JSON object, got int" in warnings[7]
    assert "x" * 200 + "..." in warnings[8] and "x" * 201 not in warnings[8]


async def test_a_dropped_connection_is_reopened_after_the_initial_backoff() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.send(json.dumps({**TRADE, "price": 100.0 + connections}))
        if connections == 1:
            ws.transport.abort()  # no closing handshake: the network went away
        else:
            await ws.wait_closed()

    clock = SimulatedClock(T0)
    async with asyncio.timeout(5):
        async with feed(handler) as url:
            source = WebSocketSource(url, clock=clock, backoff_initial=2.0, seed=1)
            async with contextlib.aclosing(source.__aiter__()) as events:  # type: ignore[type-var]
                first = await anext(events)
                before = clock.time()
                second = await anext(events)
                waited = clock.time() - before
    assert (first.price, second.price) == (101.0, 102.0)
    assert 2.0 * 0.9 <= waited <= 2.0 * 1.1
    assert source.stats["reconnects"] == 1


async def test_max_retries_against_a_closed_port_raises_a_data_error_naming_the_url() -> None:
    url = f"ws://127.0.0.1:{closed_port()}"
    clock = SimulatedClock(T0)
    source = WebSocketSource(url, clock=clock, max_retries=3, backoff_initial=1.0, backoff_factor=2.0)
    async with asyncio.timeout(5):
        with pytest.raises(DataError, match=rf"websocket {url}: gave up after 3 failed connection\(s\)") as caught:
            await take(source, 1)
    assert "last error" in str(caught.value)
    # Two waits between three attempts: 1 s then 2 s, each within the jitter.
    assert 3.0 * 0.9 <= clock.time() - T0.timestamp() <= 3.0 * 1.1


async def test_without_reconnect_a_connection_error_raises_at_once() -> None:
    url = f"ws://127.0.0.1:{closed_port()}"
    async with asyncio.timeout(5):
        with pytest.raises(DataError, match=rf"websocket {url}: connection failed"):
            await take(WebSocketSource(url, reconnect=False, clock=SimulatedClock(T0)), 1)


async def test_without_reconnect_iteration_ends_when_the_server_closes_normally() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps(TRADE))
        await ws.send(json.dumps({**TRADE, "price": 102.0}))
        await ws.close()

    async with asyncio.timeout(5):
        async with feed(handler) as url:
            source = WebSocketSource(url, reconnect=False)
            events = [event async for event in source]
    assert [event.price for event in events] == [101.5, 102.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "http://example.com/feed"}, "url must be a ws:// or wss:// address, got 'http://example.com/feed'"),
        ({"url": "ws://"}, "url must be a ws:// or wss:// address"),
        ({"kind": "candle"}, "kind must be one of bar, quote, trade; got 'candle'"),
        ({"timestamp_unit": "minutes"}, "timestamp_unit must be auto, s, ms, us, ns; got 'minutes'"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
        ({"backoff_initial": -1}, "backoff_initial must be a finite number >= 0, got -1"),
        ({"backoff_max": -0.5}, "backoff_max must be a finite number >= 0, got -0.5"),
        ({"backoff_factor": 0.5}, "backoff_factor must be a finite number >= 1, got 0.5"),
        ({"max_retries": 0}, "max_retries must be >= 1 or None"),
        ({"fields": {"bid": "b"}}, "fields: unknown field 'bid'; valid: price, size, symbol, timestamp"),
        ({"subscribe": {"at": object()}}, "subscribe must be JSON-serialisable"),
    ],
)
def test_bad_settings_are_refused_naming_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"url": "ws://127.0.0.1:9"} | kwargs
    with pytest.raises(ConfigError) as caught:
        WebSocketSource(**settings)
    assert message in str(caught.value)
