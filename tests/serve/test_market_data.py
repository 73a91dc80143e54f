"""Market data from the served replay: alpaca-py's StockHistoricalDataClient reads bars up to the simulated now,
and its StockDataStream receives the replayed bars in time order as the clock passes them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
import websockets
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.models import Bar as AlpacaBar
from alpaca.data.requests import StockBarsRequest, StockLatestBarRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame

from broker_sim.models import Bar

from .conftest import KEY, SECRET, Relay, Server, in_this_loop, running_stream, serving
from .test_bad_requests import HEADERS, error

WALL_LIMIT_S = 20.0
#: The replay's first bar covers 14:29-14:30; bars are stamped at their start, as Alpaca stamps them.
START = datetime(2024, 1, 2, 14, 29, tzinfo=UTC)


def history(server: Server, symbol: str) -> list[Bar]:
    return server.served.market.series(Bar, symbol, None, None)  # type: ignore[return-value]


async def test_historical_bars_are_the_replayed_bars_up_to_now(server: Server) -> None:
    data = StockHistoricalDataClient(KEY, SECRET, url_override=server.url)
    bars = await asyncio.to_thread(
        data.get_stock_bars, StockBarsRequest(symbol_or_symbols=["AAPL", "MSFT"], timeframe=TimeFrame.Minute)
    )
    replayed = history(server, "AAPL")
    served = bars.data["AAPL"]
    assert len(served) >= 1 and len(replayed) >= len(served)
    for answer, bar in zip(served, replayed, strict=False):
        assert answer.timestamp == bar.start
        assert (answer.open, answer.high, answer.low, answer.close, answer.volume) == (
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            bar.volume,
        )
    assert served[-1].timestamp <= server.broker.clock.now()
    assert len(bars.data["MSFT"]) >= 1


async def test_bars_aggregate_to_coarser_timeframes_and_page(tmp_path: Path) -> None:
    async with serving(tmp_path, speed=60 * 60) as server:  # an hour of bars per second
        http = httpx.AsyncClient(base_url=server.url, headers=HEADERS)
        async with http:
            minute = history(server, "AAPL")
            while len(minute) < 12:
                await server.broker.clock.sleep(60)  # the simulated clock: replayed bars arrive as it passes
                minute = history(server, "AAPL")
            # The first bar covers 14:29-14:30; the ten from 14:30 to 14:40 make two 5-minute bars.
            window = {"start": "2024-01-02T14:30:00Z", "end": "2024-01-02T14:39:00Z"}
            answer = await http.get("/v2/stocks/bars", params={"symbols": "AAPL", "timeframe": "5Min", **window})
            five = answer.json()["bars"]["AAPL"]
            assert [b["t"] for b in five] == ["2024-01-02T14:30:00Z", "2024-01-02T14:35:00Z"]
            first = minute[1:6]
            assert five[0]["o"] == first[0].open and five[0]["c"] == first[-1].close
            assert five[0]["h"] == max(b.high for b in first) and five[0]["l"] == min(b.low for b in first)
            assert five[0]["v"] == sum(b.volume for b in first)
            paged = await http.get("/v2/stocks/bars", params={"symbols": "AAPL", "timeframe": "1Min", "limit": 4})
            assert len(paged.json()["bars"]["AAPL"]) == 4 and paged.json()["next_page_token"] == "4"
            error(
                await http.get("/v2/stocks/bars", params={"symbols": "AAPL", "timeframe": "1Fortnight"}),
                422,
                40010001,
                "invalid timeframe",
            )
            error(await http.get("/v2/stocks/bars", params={"timeframe": "1Min"}), 422, 40010001, "symbols is required")


async def test_latest_bar_and_trade_are_the_last_replayed(server: Server) -> None:
    data = StockHistoricalDataClient(KEY, SECRET, url_override=server.url)
    latest = await asyncio.to_thread(data.get_stock_latest_bar, StockLatestBarRequest(symbol_or_symbols="MSFT"))
    replayed = history(server, "MSFT")
    assert latest["MSFT"].timestamp <= replayed[-1].start  # the replay may have gone on since
    assert latest["MSFT"].timestamp >= START
    trade = await asyncio.to_thread(data.get_stock_latest_trade, StockLatestTradeRequest(symbol_or_symbols="MSFT"))
    assert trade["MSFT"].price == pytest.approx(
        next(b.close for b in reversed(history(server, "MSFT")) if b.timestamp == trade["MSFT"].timestamp)
    )


async def test_the_data_stream_delivers_replayed_bars_in_time_order(server: Server) -> None:
    heard: list[AlpacaBar] = []
    enough = asyncio.Event()

    async def on_bar(bar: AlpacaBar) -> None:
        heard.append(bar)
        if len(heard) >= 6:
            enough.set()

    async with Relay(server) as relay:
        stream = StockDataStream(KEY, SECRET, url_override=f"{relay.ws_url}/v2/iex")
        stream.subscribe_bars(in_this_loop(on_bar), "AAPL", "MSFT")
        async with running_stream(stream, relay):
            await asyncio.wait_for(enough.wait(), WALL_LIMIT_S)
    stamps = [b.timestamp for b in heard]
    assert stamps == sorted(stamps)
    replayed = {(b.symbol, b.start): b for s in ("AAPL", "MSFT") for b in history(server, s)}
    for bar in heard:
        source = replayed[(bar.symbol, bar.timestamp)]
        assert (bar.open, bar.high, bar.low, bar.close) == (source.open, source.high, source.low, source.close)


async def recv(socket: Any, packed: bool) -> Any:
    raw = await asyncio.wait_for(socket.recv(), WALL_LIMIT_S)
    return msgpack.unpackb(raw) if packed else json.loads(raw)


@pytest.mark.parametrize("packed", [False, True])
async def test_the_data_stream_speaks_json_and_msgpack(server: Server, packed: bool) -> None:
    headers = {"Content-Type": "application/msgpack"} if packed else {}
    encode = msgpack.packb if packed else json.dumps
    async with websockets.connect(f"{server.ws_url}/v2/sip", additional_headers=headers) as socket:
        assert await recv(socket, packed) == [{"T": "success", "msg": "connected"}]
        await socket.send(encode({"action": "subscribe", "bars": ["AAPL"]}))
        assert (await recv(socket, packed))[0]["T"] == "error"  # not authenticated yet
        await socket.send(encode({"action": "auth", "key": KEY, "secret": SECRET}))
        assert await recv(socket, packed) == [{"T": "success", "msg": "authenticated"}]
        await socket.send(encode({"action": "subscribe", "bars": ["AAPL"], "quotes": ["*"]}))
        subscription = (await recv(socket, packed))[0]
        assert subscription["T"] == "subscription"
        assert subscription["bars"] == ["AAPL"] and subscription["quotes"] == ["*"] and subscription["trades"] == []
        bars = [m for m in await recv(socket, packed) if m["T"] == "b"]
        assert bars and all(m["S"] == "AAPL" for m in bars)
        stamp = bars[0]["t"]
        when = stamp.to_datetime() if packed else datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert START <= when <= server.broker.clock.now()


async def test_the_data_stream_refuses_wrong_keys(server: Server) -> None:
    async with websockets.connect(f"{server.ws_url}/v2/iex") as socket:
        await recv(socket, False)
        await socket.send(json.dumps({"action": "auth", "key": KEY, "secret": "wrong"}))
        assert await recv(socket, False) == [{"T": "error", "code": 402, "msg": "auth failed"}]
        with pytest.raises(websockets.ConnectionClosed):
            await recv(socket, False)


async def test_history_never_runs_past_the_simulated_now(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        later = (START + timedelta(days=30)).isoformat()
        answer = await http.get("/v2/stocks/bars", params={"symbols": "AAPL", "timeframe": "1Min", "end": later})
        bars = answer.json()["bars"]["AAPL"]
        now = server.broker.clock.now()
        assert bars and datetime.fromisoformat(bars[-1]["t"].replace("Z", "+00:00")) <= now


async def test_at_max_speed_a_subscriber_receives_every_bar_in_order(tmp_path: Path) -> None:
    count = 2000
    source = {
        "source": "synthetic",
        "symbols": ["AAPL", "MSFT"],
        "start": "2024-01-02T14:30:00Z",
        "interval": 60,
        "count": count,
    }
    overrides = {"prices": {"clock": "simulated", "sources": [source]}, "serve": {"wait_for_client": True}}
    async with serving(tmp_path, speed="max", overrides=overrides) as server:
        async with websockets.connect(f"{server.ws_url}/v2/iex") as socket:
            await recv(socket, False)
            await socket.send(json.dumps({"action": "auth", "key": KEY, "secret": SECRET}))
            await recv(socket, False)
            await socket.send(json.dumps({"action": "subscribe", "bars": ["*"]}))
            bars: list[dict[str, Any]] = []
            while len(bars) < 2 * count:
                bars.extend(m for m in await recv(socket, False) if m["T"] == "b")
        assert len(bars) == 2 * count  # none dropped, however far the replay could have run ahead
        for symbol in ("AAPL", "MSFT"):
            stamps = [b["t"] for b in bars if b["S"] == symbol]
            assert len(stamps) == count and stamps == sorted(stamps) and len(set(stamps)) == count


async def test_a_symbols_own_bars_come_in_alpacas_single_symbol_shape(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        params = {"timeframe": "1Min", "limit": 2, "end": server.broker.clock.now().isoformat()}
        played = (await http.get("/v2/stocks/bars", params={**params, "symbols": "AAPL"})).json()
        assert played["bars"]["AAPL"]  # the replay has begun
        # Both asked up to a bar already played: the replay moving on between the two requests changes neither.
        params["end"] = played["bars"]["AAPL"][-1]["t"]
        several = (await http.get("/v2/stocks/bars", params={**params, "symbols": "AAPL"})).json()
        one = (await http.get("/v2/stocks/AAPL/bars", params=params)).json()
    assert one == {"bars": several["bars"]["AAPL"], "symbol": "AAPL", "next_page_token": several["next_page_token"]}
