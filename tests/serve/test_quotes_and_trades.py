"""Quotes and trades from the served replay: alpaca-py's StockDataStream receives them, interleaved with the bars,
in the order the replay delivers them (bars once they are complete), each value what the config's sources say;
StockHistoricalDataClient's quotes, trades and latest forms agree with what the stream delivered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.models import Bar as AlpacaBar
from alpaca.data.models import Quote as AlpacaQuote
from alpaca.data.models import Trade as AlpacaTrade
from alpaca.data.requests import (
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockQuotesRequest,
    StockTradesRequest,
)

from broker_sim.models import Bar, MarketData, Quote, Trade

from .conftest import KEY, SECRET, Relay, Server, in_this_loop, running_stream, serving

WALL_LIMIT_S = 20.0
#: The synthetic bars: one a minute, the first ending (and delivered) at START + 1 minute.
START = datetime(2024, 1, 2, 14, 29, tzinfo=UTC)
BARS, BAR_S = 8, 60
#: CSV quotes every 20 s from 14:29:10, trades every 30 s from 14:29:25: never at the same instant as a bar's end,
#: and the trades go on a little past the last bar (so the latest trade is a trade, not a bar's close).
QUOTES, QUOTE_FIRST, QUOTE_S = 24, timedelta(seconds=10), 20
TRADES, TRADE_FIRST, TRADE_S = 18, timedelta(seconds=25), 30


def write_quotes(path: Path, rng: random.Random) -> None:
    mid, rows = 190.0, ["timestamp,bid,ask,bid_size,ask_size"]
    for index in range(QUOTES):
        mid += rng.uniform(-0.2, 0.2)
        spread = rng.choice((0.01, 0.02, 0.05))
        when = START + QUOTE_FIRST + timedelta(seconds=index * QUOTE_S)
        sizes = rng.randint(1, 9) * 100, rng.randint(1, 9) * 100
        rows.append(f"{when.isoformat()},{mid - spread:.2f},{mid + spread:.2f},{sizes[0]},{sizes[1]}")
    path.write_text("\n".join(rows) + "\n")


def write_trades(path: Path, rng: random.Random) -> None:
    rows = ["timestamp,price,size"]
    for index in range(TRADES):
        when = START + TRADE_FIRST + timedelta(seconds=index * TRADE_S)
        rows.append(f"{when.isoformat()},{190 + rng.uniform(-1, 1):.2f},{rng.randint(1, 50)}")
    path.write_text("\n".join(rows) + "\n")


def overrides(tmp_path: Path) -> dict[str, Any]:
    """AAPL bars (synthetic), quotes and trades (CSV files in tmp_path); the replay starts when a client
    subscribes, so the client hears all of it."""
    rng = random.Random(12)
    write_quotes(tmp_path / "quotes.csv", rng)
    write_trades(tmp_path / "trades.csv", rng)
    sources = [
        {
            "source": "synthetic",
            "symbols": ["AAPL"],
            "start": (START + timedelta(seconds=BAR_S)).isoformat(),
            "interval": BAR_S,
            "count": BARS,
            "start_price": 190.0,
        },
        {"source": "csv", "path": "quotes.csv", "kind": "quote", "symbol": "AAPL"},
        {"source": "csv", "path": "trades.csv", "kind": "trade", "symbol": "AAPL"},
    ]
    return {"prices": {"clock": "simulated", "sources": sources}, "serve": {"wait_for_client": True}}


def seen(event: AlpacaBar | AlpacaQuote | AlpacaTrade) -> tuple[Any, ...]:
    """What a client was told, comparable with `replayed`."""
    if isinstance(event, AlpacaBar):
        return ("bar", event.symbol, event.timestamp, event.open, event.high, event.low, event.close, event.volume)
    if isinstance(event, AlpacaQuote):
        return (
            "quote",
            event.symbol,
            event.timestamp,
            event.bid_price,
            event.ask_price,
            event.bid_size,
            event.ask_size,
        )
    return ("trade", event.symbol, event.timestamp, event.price, event.size)


def replayed(event: MarketData) -> tuple[Any, ...]:
    """What a source replayed, as a client is told it (a bar stamped at its start, as Alpaca stamps bars)."""
    if isinstance(event, Bar):
        return ("bar", event.symbol, event.start, event.open, event.high, event.low, event.close, event.volume)
    if isinstance(event, Quote):
        return ("quote", event.symbol, event.timestamp, event.bid, event.ask, event.bid_size, event.ask_size)
    assert isinstance(event, Trade)
    return ("trade", event.symbol, event.timestamp, event.price, event.size)


def known_at(told: tuple[Any, ...]) -> datetime:
    """When what a client was told became known: a bar once it ends, a quote or a trade at its time."""
    return told[2] + timedelta(seconds=BAR_S) if told[0] == "bar" else told[2]


@contextlib.asynccontextmanager
async def data_stream(server: Server, handler: Any, **channels: bool) -> Any:
    """alpaca-py's StockDataStream on the served /v2/iex, subscribed to AAPL's bars, quotes and/or trades."""
    async with Relay(server) as relay:
        stream = StockDataStream(KEY, SECRET, url_override=f"{relay.ws_url}/v2/iex")
        for channel, wanted in channels.items():
            if wanted:
                getattr(stream, f"subscribe_{channel}")(in_this_loop(handler), "AAPL")
        async with running_stream(stream, relay):
            yield stream


@pytest.mark.parametrize("speed", [1200, "max"])
async def test_the_data_stream_delivers_quotes_trades_and_bars_interleaved_in_time_order(
    tmp_path: Path, speed: float | str
) -> None:
    async with serving(tmp_path, speed=speed, overrides=overrides(tmp_path)) as server:
        sources = [replayed(event) for _, event in server.run.streams.replay()]  # the sources' own events, afresh
        assert len(sources) == BARS + QUOTES + TRADES
        heard: list[tuple[Any, ...]] = []
        everything = asyncio.Event()

        async def on_event(event: AlpacaBar | AlpacaQuote | AlpacaTrade) -> None:
            heard.append(seen(event))
            if len(heard) == len(sources):
                everything.set()

        async with data_stream(server, on_event, bars=True, quotes=True, trades=True):
            await asyncio.wait_for(everything.wait(), WALL_LIMIT_S)
        assert heard == sources  # every event, each value as the source has it, in the replay's order
        moments = [known_at(told) for told in heard]
        assert moments == sorted(moments)  # in time order: a bar comes once complete, after the quotes it spans
        kinds = [told[0] for told in heard]
        assert kinds.index("bar") < len(kinds) - 1 - kinds[::-1].index("quote")  # really interleaved
        assert server.broker.clock.now() >= max(moments)  # nothing was delivered ahead of the clock

        # The replay has ended (its last event was heard): the REST market data says what the stream said.
        quotes = [told for told in heard if told[0] == "quote"]
        trades = [told for told in heard if told[0] == "trade"]
        data = StockHistoricalDataClient(KEY, SECRET, url_override=server.url)
        history = await asyncio.to_thread(
            data.get_stock_quotes, StockQuotesRequest(symbol_or_symbols="AAPL", start=START)
        )
        assert [seen(q) for q in history.data["AAPL"]] == quotes
        window = StockQuotesRequest(symbol_or_symbols="AAPL", start=quotes[3][2], end=quotes[7][2])
        part = await asyncio.to_thread(data.get_stock_quotes, window)
        assert [seen(q) for q in part.data["AAPL"]] == quotes[3:8]
        latest = await asyncio.to_thread(data.get_stock_latest_quote, StockLatestQuoteRequest(symbol_or_symbols="AAPL"))
        assert seen(latest["AAPL"]) == quotes[-1]
        tape = await asyncio.to_thread(data.get_stock_trades, StockTradesRequest(symbol_or_symbols="AAPL", start=START))
        assert [seen(t) for t in tape.data["AAPL"]] == trades
        last = await asyncio.to_thread(data.get_stock_latest_trade, StockLatestTradeRequest(symbol_or_symbols="AAPL"))
        assert seen(last["AAPL"]) == trades[-1]  # the last print came after the last bar's close


async def test_a_json_quotes_subscriber_hears_only_quotes_with_alpacas_fields(tmp_path: Path) -> None:
    async with serving(tmp_path, speed="max", overrides=overrides(tmp_path)) as server:
        quotes = [e for _, e in server.run.streams.replay() if isinstance(e, Quote)]
        async with websockets.connect(f"{server.ws_url}/v2/sip") as socket:  # no msgpack header: JSON
            await recv(socket)
            await socket.send(json.dumps({"action": "auth", "key": KEY, "secret": SECRET}))
            await recv(socket)
            await socket.send(json.dumps({"action": "subscribe", "quotes": ["AAPL"]}))
            assert (await recv(socket))[0]["T"] == "subscription"
            messages: list[dict[str, Any]] = []
            while len(messages) < len(quotes):
                messages.extend(await recv(socket))
    assert {m["T"] for m in messages} == {"q"}  # the bars and trades replayed in between are not sent
    for message, quote in zip(messages, quotes, strict=True):
        assert message["S"] == quote.symbol
        assert datetime.fromisoformat(message["t"].replace("Z", "+00:00")) == quote.timestamp
        assert (message["bp"], message["ap"], message["bs"], message["as"]) == (
            quote.bid,
            quote.ask,
            quote.bid_size,
            quote.ask_size,
        )


async def recv(socket: Any) -> list[dict[str, Any]]:
    return json.loads(await asyncio.wait_for(socket.recv(), WALL_LIMIT_S))  # type: ignore[no-any-return]
