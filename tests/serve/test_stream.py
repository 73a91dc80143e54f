"""The trade_updates websocket: alpaca-py's TradingStream hears every order event the paper broker emits, with
Alpaca's fields; bad keys are refused; clients that vanish or crowd in leave the ledger whole."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from alpaca.trading.models import TradeUpdate
from alpaca.trading.stream import TradingStream

from broker_sim.changes import Notice
from broker_sim.models import EventType, OrderEvent
from broker_sim.serve.stream import TradeUpdates

from .conftest import KEY, SECRET, Relay, Server, in_this_loop, running_stream, serving
from .test_bad_requests import HEADERS, MARKET_BUY

#: A safety net, in wall seconds, for waits that complete in milliseconds: a broken server fails, not hangs.
WALL_LIMIT_S = 20.0


def hub(server: Server) -> TradeUpdates:
    [updates] = [h for h in server.served.hubs if isinstance(h, TradeUpdates)]
    return updates


@contextlib.asynccontextmanager
async def trading_stream(server: Server, handler: Any) -> AsyncIterator[TradingStream]:
    """alpaca-py's TradingStream, run in its thread, listening once the block starts; `handler` runs in this loop."""
    async with Relay(server) as relay:
        stream = TradingStream(KEY, SECRET, url_override=f"{relay.ws_url}/stream")
        stream.subscribe_trade_updates(in_this_loop(handler))
        updates = hub(server)
        updates.joined.clear()
        async with running_stream(stream, relay):
            await asyncio.wait_for(updates.joined.wait(), WALL_LIMIT_S)
            yield stream


async def test_trading_stream_hears_every_event_of_an_order(server: Server) -> None:
    heard: list[TradeUpdate] = []
    filled = asyncio.Event()
    emitted: list[OrderEvent] = []
    server.broker.add_listener(emitted.append)

    async def on_update(update: TradeUpdate) -> None:
        heard.append(update)
        if update.event == "fill":
            filled.set()

    async with trading_stream(server, on_update), httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        placed = await http.post("/v2/orders", json={**MARKET_BUY, "qty": "7"})
        assert placed.status_code == 200
        await asyncio.wait_for(filled.wait(), WALL_LIMIT_S)
    assert [u.event for u in heard] == [e.type.value for e in emitted] == ["pending_new", "new", "fill"]
    for update, event in zip(heard, emitted, strict=True):
        assert str(update.order.id) == event.order.id == placed.json()["id"]
        assert update.order.status.value == event.order.status.value
        assert update.timestamp == event.timestamp
    fill = emitted[-1].fill
    assert fill is not None
    assert str(heard[-1].execution_id) == fill.execution_id
    assert heard[-1].price == pytest.approx(fill.price)
    assert heard[-1].qty == fill.quantity == 7
    assert heard[-1].position_qty == emitted[-1].position_quantity == 7


async def test_a_brackets_held_legs_are_heard_of_only_when_they_go_new(server: Server) -> None:
    heard: list[TradeUpdate] = []
    take_profit_new = asyncio.Event()
    emitted: list[OrderEvent] = []
    server.broker.add_listener(emitted.append)

    async def on_update(update: TradeUpdate) -> None:
        heard.append(update)
        if any(u.event == "new" and u.order.id != heard[0].order.id for u in heard):
            take_profit_new.set()

    bracket = {
        **MARKET_BUY,
        "order_class": "bracket",
        "take_profit": {"limit_price": "1000"},
        "stop_loss": {"stop_price": "1"},
    }
    async with trading_stream(server, on_update), httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        answer = await http.post("/v2/orders", json=bracket)
        assert answer.status_code == 200
        await asyncio.wait_for(take_profit_new.wait(), WALL_LIMIT_S)
        take_id, stop_id = [leg["id"] for leg in answer.json()["legs"]]
        stop = (await http.get(f"/v2/orders/{stop_id}")).json()
    # The entry filled: the take-profit went new; the stop-loss waits held, silently, until its stop is reached.
    assert stop["status"] == "held"
    assert "held" not in [e.type.value for e in emitted] and "held" not in [u.event for u in heard]
    assert take_id in [str(u.order.id) for u in heard] and stop_id not in [str(u.order.id) for u in heard]


async def test_a_margin_call_notice_is_not_a_trade_update(server: Server) -> None:
    heard: list[TradeUpdate] = []
    second_new = asyncio.Event()

    async def on_update(update: TradeUpdate) -> None:
        heard.append(update)
        if sum(u.event == "fill" for u in heard) == 2:
            second_new.set()

    async with trading_stream(server, on_update), httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        first = (await http.post("/v2/orders", json=MARKET_BUY)).json()
        broker = server.broker
        # The notice the venue gives a liquidation order (Alpaca has no such event on trade_updates).
        broker.state.apply(Notice(first["id"], EventType.MARGIN_CALL, broker.clock.now(), "margin call liquidation"))
        assert (await http.post("/v2/orders", json=MARKET_BUY)).status_code == 200
        await asyncio.wait_for(second_new.wait(), WALL_LIMIT_S)
    assert "margin_call" not in [u.event for u in heard]


async def recv(socket: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), WALL_LIMIT_S))


async def test_wrong_keys_are_refused_and_listening_needs_auth(server: Server) -> None:
    async with websockets.connect(f"{server.ws_url}/stream") as socket:
        await socket.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert (await recv(socket))["data"]["status"] == "unauthorized"
        await socket.send(json.dumps({"action": "authenticate", "data": {"key_id": KEY, "secret_key": "wrong"}}))
        assert await recv(socket) == {
            "stream": "authorization",
            "data": {"action": "authenticate", "status": "unauthorized"},
        }
        with pytest.raises(websockets.ConnectionClosed):
            await recv(socket)
    assert hub(server).listeners == 0


@pytest.mark.parametrize("path", ["/stream", "/stream/"])  # alpaca-trade-api connects to /stream/
async def test_the_short_auth_form_and_binary_frames_are_understood(server: Server, path: str) -> None:
    async with websockets.connect(f"{server.ws_url}{path}") as socket:
        await socket.send(json.dumps({"action": "auth", "key": KEY, "secret": SECRET}).encode())
        assert (await recv(socket))["data"]["status"] == "authorized"
        await socket.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}).encode())
        assert await recv(socket) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
        assert hub(server).listeners == 1


def ledger_is_whole(server: Server, initial: float = 100_000) -> None:
    """Cash and positions are exactly what the fills say: nothing spent twice, nothing lost."""
    fills = server.broker.fills
    account = server.broker.state.ledger.account()
    spent = sum(f.price * f.signed_quantity + f.fee for f in fills)
    assert account.cash == pytest.approx(initial - spent)
    assert account.cash >= 0
    held: dict[str, float] = {}
    for fill in fills:
        held[fill.symbol] = held.get(fill.symbol, 0.0) + fill.signed_quantity
    positions = {p.symbol: p.quantity for p in server.broker.state.ledger.positions()}
    assert positions == pytest.approx({s: q for s, q in held.items() if q})


async def test_a_client_that_vanishes_mid_stream_leaves_the_ledger_whole(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        socket = await websockets.connect(f"{server.ws_url}/stream")
        await socket.send(json.dumps({"action": "auth", "key": KEY, "secret": SECRET}))
        await recv(socket)
        await socket.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        await recv(socket)
        ids = [(await http.post("/v2/orders", json={**MARKET_BUY, "qty": "3"})).json()["id"] for _ in range(5)]
        socket.transport.abort()  # gone without a close frame, with events still unsent
        for order_id in ids:
            await server.broker.wait_for(order_id, "filled", timeout=60)
        assert (await http.get("/v2/account")).status_code == 200
    assert hub(server).listeners == 0
    ledger_is_whole(server)
    assert (await server.broker.get_position("AAPL")).quantity == 15  # type: ignore[union-attr]


async def test_fifty_clients_at_once_never_spend_the_same_cash_twice(tmp_path: Path) -> None:
    async with serving(tmp_path, overrides={"broker": {"initial_balance": 10_000}}) as server:

        async def one_client(number: int) -> int:
            async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
                answer = await http.post("/v2/orders", json={**MARKET_BUY, "qty": "2", "client_order_id": f"c{number}"})
                return answer.status_code

        statuses = await asyncio.gather(*(one_client(n) for n in range(50)))
        # 2 shares at ~190 reserve ~380 each: about 26 fit in 10 000; the rest are refused at once (403).
        accepted = statuses.count(200)
        assert accepted + statuses.count(403) == 50 and 20 <= accepted <= 27
        for order in await server.broker.list_orders("all"):
            if order.status.value != "rejected":
                await server.broker.wait_for(order.id, "filled", timeout=60)
        assert len(server.broker.fills) == accepted
        assert (await server.broker.get_account()).buying_power >= 0
        ledger_is_whole(server, initial=10_000)
