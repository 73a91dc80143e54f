"""`broker-sim serve` on a live feed (``prices.clock: realtime``): a local websocket feed pushes quotes, and
alpaca-py sees wall time on /v2/clock, the pushed quotes on the data stream and the REST latest quote, a market
order filled at the live ask plus the config's slippage, the position marked at the next quote; stopping the
server writes the report."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.models import Quote as AlpacaQuote
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from websockets.asyncio.server import ServerConnection, serve
from websockets.protocol import State

from broker_sim.clock import RealtimeClock
from broker_sim.models import Bar
from broker_sim.serve.data_stream import DataStreams

from .conftest import BASE_CONFIG, KEY, SECRET, Relay, Server, in_this_loop, running_stream, serving
from .test_bad_requests import HEADERS
from .test_stream import trading_stream

#: A safety net, in wall seconds, for waits that complete in milliseconds: a broken server fails, not hangs.
WALL_LIMIT_S = 20.0
#: How far /v2/clock may be from the wall clock read around the request (the request's own round trip is less).
CLOCK_TOLERANCE = timedelta(seconds=2)
SLIPPAGE_BPS = 5.0


class Feed:
    """A live quote feed on 127.0.0.1 (a free port): `push` sends one quote, stamped now, to the source once it
    has connected."""

    def __init__(self) -> None:
        self.url = ""
        self._connection: asyncio.Future[ServerConnection] = asyncio.get_running_loop().create_future()

    async def _serve(self, connection: ServerConnection) -> None:
        self._connection.set_result(connection)
        await connection.wait_closed()  # the server's close then finds the handler done

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Feed]:
        async with serve(self._serve, "127.0.0.1", 0) as server:
            self.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            yield self
            if self._connection.done():  # the served run, stopped first, has closed its feed connection itself
                assert self._connection.result().state is State.CLOSED

    async def push(self, bid: float, ask: float, bid_size: int = 300, ask_size: int = 200) -> dict[str, Any]:
        connection = await asyncio.wait_for(asyncio.shield(self._connection), WALL_LIMIT_S)
        quote = {
            "sym": "AAPL",
            "bp": bid,
            "ap": ask,
            "bs": bid_size,
            "as": ask_size,
            "ts": RealtimeClock().now().isoformat(),
        }
        await connection.send(json.dumps(quote))
        return quote


def live_config(feed: Feed) -> dict[str, Any]:
    source = {
        "source": "websocket",
        "url": feed.url,
        "kind": "quote",
        "symbols": ["AAPL"],
        "fields": {"symbol": "sym", "bid": "bp", "ask": "ap", "bid_size": "bs", "ask_size": "as", "timestamp": "ts"},
        "reconnect": False,
    }
    return {
        "prices": {"clock": "realtime", "sources": [source]},
        # No latency: on the real-time clock it would be a real wait. Buys pay the ask, then the slippage.
        "models": {
            "latency": {"model": "none"},
            "fill": {"model": "quote"},
            "slippage": {"model": "fixed_bps", "bps": SLIPPAGE_BPS},
        },
    }


def same_quote(heard: AlpacaQuote, pushed: dict[str, Any]) -> None:
    assert heard.symbol == pushed["sym"]
    assert heard.timestamp == datetime.fromisoformat(pushed["ts"])
    assert (heard.bid_price, heard.ask_price, heard.bid_size, heard.ask_size) == (
        pushed["bp"],
        pushed["ap"],
        pushed["bs"],
        pushed["as"],
    )


@contextlib.asynccontextmanager
async def quote_stream(server: Server) -> AsyncIterator[asyncio.Queue[AlpacaQuote]]:
    """alpaca-py's StockDataStream subscribed to AAPL's quotes; the block starts once the server has the
    subscription (a quote pushed before would reach nobody, as on Alpaca)."""
    heard: asyncio.Queue[AlpacaQuote] = asyncio.Queue()
    [hub] = [h for h in server.served.hubs if isinstance(h, DataStreams)]
    async with Relay(server) as relay:
        stream = StockDataStream(KEY, SECRET, url_override=f"{relay.ws_url}/v2/iex")
        stream.subscribe_quotes(in_this_loop(heard.put), "AAPL")
        async with running_stream(stream, relay):
            await asyncio.wait_for(hub.subscribed.wait(), WALL_LIMIT_S)
            yield heard


async def test_a_live_feed_served_in_real_time_trades_at_the_live_price(tmp_path: Path) -> None:
    async with Feed().running() as feed, serving(tmp_path, overrides=live_config(feed), report=True) as server:
        trading = TradingClient(KEY, SECRET, paper=True, url_override=server.url)
        data = StockHistoricalDataClient(KEY, SECRET, url_override=server.url)

        before = RealtimeClock().now()
        clock = await asyncio.to_thread(trading.get_clock)
        after = RealtimeClock().now()
        assert before - CLOCK_TOLERANCE <= clock.timestamp <= after + CLOCK_TOLERANCE  # wall time, not a replay's
        assert clock.is_open  # the session is `always`

        fills: asyncio.Queue[TradeUpdate] = asyncio.Queue()

        async def on_update(update: TradeUpdate) -> None:
            if update.event == "fill":
                fills.put_nowait(update)

        async with quote_stream(server) as quotes, trading_stream(server, on_update):
            first = await feed.push(bid=189.98, ask=190.02)
            same_quote(await asyncio.wait_for(quotes.get(), WALL_LIMIT_S), first)
            latest = await asyncio.to_thread(
                data.get_stock_latest_quote, StockLatestQuoteRequest(symbol_or_symbols="AAPL")
            )
            same_quote(latest["AAPL"], first)

            order = await asyncio.to_thread(
                trading.submit_order,
                MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
            )
            fill = await asyncio.wait_for(fills.get(), WALL_LIMIT_S)
            price = first["ap"] * (1 + SLIPPAGE_BPS / 10_000)  # the live ask, plus the config's slippage
            assert str(fill.order.id) == str(order.id)
            assert fill.price == pytest.approx(price) and fill.qty == 10 and fill.position_qty == 10
            filled = await asyncio.to_thread(trading.get_order_by_id, order.id)
            assert filled.status is OrderStatus.FILLED and float(filled.filled_avg_price) == pytest.approx(price)
            assert before <= filled.filled_at <= RealtimeClock().now()  # stamped on the wall clock

            # A sell limit above the market works until a live quote's bid crosses it.
            limit = await asyncio.to_thread(
                trading.submit_order,
                LimitOrderRequest(
                    symbol="AAPL", qty=4, side=OrderSide.SELL, time_in_force=TimeInForce.DAY, limit_price=190.90
                ),
            )
            working = await asyncio.to_thread(trading.get_order_by_id, limit.id)
            assert working.status is OrderStatus.NEW and fills.empty()
            second = await feed.push(bid=191.00, ask=191.04)
            same_quote(await asyncio.wait_for(quotes.get(), WALL_LIMIT_S), second)
            sold = await asyncio.wait_for(fills.get(), WALL_LIMIT_S)
            assert str(sold.order.id) == str(limit.id) and sold.qty == 4 and sold.position_qty == 6
            assert sold.price is not None and 190.90 <= sold.price <= second["bp"]  # the bid, less slippage, capped
            assert sold.timestamp >= datetime.fromisoformat(second["ts"])  # filled by the live quote, not before

            position = await asyncio.to_thread(trading.get_open_position, "AAPL")
            mid = (second["bp"] + second["ap"]) / 2  # the paper broker marks at the latest quote's mid
            assert float(position.qty) == 6 and float(position.avg_entry_price) == pytest.approx(price)
            assert float(position.current_price) == pytest.approx(mid)
            assert float(position.unrealized_pl) == pytest.approx(6 * (mid - price))
            account = await asyncio.to_thread(trading.get_account)
            cash = 100_000 - 10 * price + 4 * sold.price
            assert float(account.cash) == pytest.approx(cash)

    result = server.run.result  # type: ignore[attr-defined]
    assert [(f.side.value, f.quantity) for f in result.fills] == [("buy", 10), ("sell", 4)]
    assert [f.price for f in result.fills] == [pytest.approx(price), pytest.approx(sold.price)]
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["fills"] == 2 and summary["reason"] == "stopped before the live feed ended"
    assert summary["final_equity"] == pytest.approx(cash + 6 * mid)
    trades = (tmp_path / "report" / "trades.csv").read_text().splitlines()
    assert len(trades) == 3 and all(",AAPL," in line for line in trades[1:])


async def test_a_replay_source_served_under_the_real_time_clock_plays_live_stamped_now(tmp_path: Path) -> None:
    """`clock: realtime` with a synthetic source: its bars arrive in real time, stamped now, and trade."""
    sources = [{**BASE_CONFIG["prices"]["sources"][0], "interval": 0.05, "count": 400}]
    overrides = {
        "prices": {"clock": "realtime", "sources": sources},
        "models": {**BASE_CONFIG["models"], "latency": {"model": "none"}},
    }
    began = datetime.now(UTC)
    order = {"symbol": "AAPL", "qty": "2", "side": "buy", "type": "market", "time_in_force": "day"}
    async with (
        serving(tmp_path, overrides=overrides) as server,
        httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http,
    ):
        assets = (await http.get("/v2/assets")).json()
        assert [a["symbol"] for a in assets] == ["AAPL", "MSFT"]  # known before any bar arrives
        async with websockets.connect(f"{server.ws_url}/v2/sip") as socket:  # JSON
            await _recv(socket)
            await socket.send(json.dumps({"action": "auth", "key": KEY, "secret": SECRET}))
            await _recv(socket)
            await socket.send(json.dumps({"action": "subscribe", "bars": ["AAPL"]}))
            assert (await _recv(socket))[0]["T"] == "subscription"
            bars: list[dict[str, Any]] = []
            while len(bars) < 3:
                bars.extend(m for m in await _recv(socket) if m["T"] == "b")
        placed = await http.post("/v2/orders", json=order)
        assert placed.status_code == 200
        filled = await server.broker.wait_for(placed.json()["id"], "filled", timeout=WALL_LIMIT_S)
    ended = datetime.now(UTC)
    starts = [datetime.fromisoformat(b["t"].replace("Z", "+00:00")) for b in bars]
    assert all(began - timedelta(seconds=1) <= start <= ended for start in starts)  # a bar's start: now less 0.05 s
    assert starts == sorted(starts)
    assert began <= filled.filled_at <= ended  # type: ignore[operator]


async def _recv(socket: Any) -> list[dict[str, Any]]:
    return json.loads(await asyncio.wait_for(socket.recv(), WALL_LIMIT_S))  # type: ignore[no-any-return]


async def test_a_replay_stamped_relative_to_the_present_serves_history_a_wall_clock_client_asks_for(
    tmp_path: Path,
) -> None:
    """``serve.history_days`` under ``clock: realtime``: the replay's first day is history stamped in the wall
    clock's past (its last bar ending now), so "the last three hours" asked from the client's own clock has
    them all; the rest then plays live."""
    sources = [{**BASE_CONFIG["prices"]["sources"][0], "count": 3000}]  # minute bars
    overrides = {"prices": {"clock": "realtime", "sources": sources}, "serve": {"history_days": 1}}
    began = datetime.now(UTC)
    async with serving(tmp_path, overrides=overrides) as server:
        arrived = asyncio.Event()

        def watch(event: object) -> None:
            if getattr(event, "symbol", None) == "MSFT" and event.timestamp >= began:  # type: ignore[attr-defined]
                arrived.set()  # the history's last bar (both symbols' came before it)

        server.served.market.listeners.append(watch)
        if (
            server.served.market.latest(Bar, "MSFT") is None
            or server.served.market.latest(Bar, "MSFT").timestamp < began
        ):  # type: ignore[union-attr]
            await asyncio.wait_for(arrived.wait(), WALL_LIMIT_S)
        data = StockHistoricalDataClient(KEY, SECRET, url_override=server.url)
        now = datetime.now(UTC)
        window = StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Minute, start=now - timedelta(hours=3))
        bars = (await asyncio.to_thread(data.get_stock_bars, window)).data["AAPL"]
        history = server.served.market.series(Bar, "AAPL", None, None)
    assert len(history) >= 24 * 60  # the whole first day, at once
    assert 179 <= len(bars) <= 181  # three hours of minute bars, all in the client's window
    assert all(now - timedelta(hours=3, minutes=1) <= b.timestamp <= now for b in bars)
    assert abs(history[len(history) - 1].timestamp - began) < timedelta(minutes=2)  # the history ends now
