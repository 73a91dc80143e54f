"""A served account with ``broker.journal`` survives a server restart: the same account, and the replay goes on
after the last bar the account had seen."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

from .conftest import KEY, SECRET, Server, serving

WAIT_S = 60.0
#: Simulated seconds per wall second (`serving`'s default speed).
SPEED = 600


async def call(function: Any, *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


async def state(server: Server) -> tuple[Any, ...]:
    """What alpaca-py says of the account: cash, positions, every order, the fills."""
    trading = TradingClient(KEY, SECRET, paper=True, url_override=server.url)
    account = await call(trading.get_account)
    positions = sorted((p.symbol, p.qty, p.avg_entry_price) for p in await call(trading.get_all_positions))
    orders = await call(trading.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))
    seen = sorted((str(o.id), o.client_order_id, o.status.value, o.filled_qty, o.filled_avg_price) for o in orders)
    fills = sorted((f.order_id, f.quantity, f.price) for f in server.broker.fills)
    return account.cash, positions, seen, fills


async def bars(server: Server) -> list[tuple[str, Any]]:
    data = StockHistoricalDataClient(KEY, SECRET, url_override=server.url)
    answer = await asyncio.to_thread(
        data.get_stock_bars, StockBarsRequest(symbol_or_symbols=["AAPL", "MSFT"], timeframe=TimeFrame.Minute)
    )
    return [(symbol, bar.timestamp) for symbol, series in answer.data.items() for bar in series]


async def test_a_served_account_survives_a_restart(tmp_path: Path) -> None:
    journal = {"broker": {"journal": str(tmp_path / "acct.db")}}
    async with serving(tmp_path, overrides=journal) as server:
        trading = TradingClient(KEY, SECRET, paper=True, url_override=server.url)
        bought = await call(
            trading.submit_order,
            MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
        )
        await server.broker.wait_for(str(bought.id), "filled", timeout=WAIT_S)
        resting = await call(
            trading.submit_order,
            LimitOrderRequest(
                symbol="MSFT", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=1.25
            ),
        )
        await server.broker.wait_for(str(resting.id), "new", timeout=WAIT_S)
        last_change = (await server.broker.get_order(str(resting.id))).updated_at.timestamp()
        before = await state(server)
        first_run = await bars(server)
        seen = server.broker.market_seen()
        stopped_at = server.broker.clock.time()
    assert first_run and seen

    began = time.monotonic()
    async with serving(tmp_path, speed=SPEED, overrides=journal, report=True) as again:
        started = again.broker.clock.time()
        elapsed = time.monotonic() - began  # the paced clock runs on meanwhile, however loaded the machine is
        # It resumes at its journal's last change (the market data after it, which a loaded machine may have
        # delivered before the stop, comes again), never before.
        assert started >= last_change
        assert started <= stopped_at + SPEED * elapsed + 1.0  # it went on from where it stopped, no further
        assert await state(again) == before
        working = await again.broker.get_order(str(resting.id))
        assert working.status.value == "new" and working.limit_price == pytest.approx(1.25)
        headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
        async with httpx.AsyncClient(base_url=again.url, headers=headers) as client:
            activities = (await client.get("/v2/account/activities")).json()
        assert [(a["order_id"], a["qty"]) for a in activities] == [(str(bought.id), "10")]  # the first session's
        await again.broker.clock.sleep(180)  # the replay goes on: three more minutes of bars
        again_bars = await bars(again)
    assert again_bars, "the restarted replay delivered no bars"
    trades = (tmp_path / "report" / "trades.csv").read_text()
    assert str(bought.id) in trades  # the report covers the account, the session before the restart included
    last_served = {symbol: max(stamp for s, stamp in first_run if s == symbol) for symbol, _ in first_run}
    for symbol, stamp in again_bars:  # bars are served by their start: each after the last served before
        assert stamp > last_served[symbol], f"{symbol} bar at {stamp} delivered again after the restart"
