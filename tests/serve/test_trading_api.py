"""The official alpaca-py TradingClient against `broker-sim serve`: every answer parses with alpaca-py's models and
says what the paper broker behind it says."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, OrderType, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetCalendarRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from broker_sim.models import Order

from .conftest import KEY, SECRET, Server, serving
from .test_bad_requests import HEADERS

#: Simulated seconds a test waits for an order at most (the server's clock: ~0.1 s of wall time at speed 600).
WAIT_S = 60.0


def client(server: Server) -> TradingClient:
    return TradingClient(KEY, SECRET, paper=True, url_override=server.url)


async def call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """alpaca-py's client is synchronous: run it in a thread while the server serves in this loop."""
    return await asyncio.to_thread(function, *args, **kwargs)


def same_order(answer: Any, order: Order) -> None:
    """An alpaca-py `Order` says what the broker's snapshot says."""
    assert str(answer.id) == order.id
    assert answer.client_order_id == order.client_order_id
    assert answer.symbol == order.symbol
    assert answer.side.value == order.side.value
    assert answer.type.value == order.type.value
    assert answer.time_in_force.value == order.time_in_force.value
    assert answer.status.value == order.status.value
    assert float(answer.qty) == pytest.approx(order.quantity)
    assert float(answer.filled_qty) == pytest.approx(order.filled_quantity)
    if order.filled_avg_price is None:
        assert answer.filled_avg_price is None
    else:
        assert float(answer.filled_avg_price) == pytest.approx(order.filled_avg_price, rel=1e-9)
    for name in ("limit_price", "stop_price", "trail_price", "trail_percent", "hwm"):
        value = getattr(order, name)
        assert (
            (getattr(answer, name) is None) if value is None else float(getattr(answer, name)) == pytest.approx(value)
        )
    assert answer.created_at == order.created_at


async def test_account_says_what_the_paper_broker_says(server: Server) -> None:
    answer = await call(client(server).get_account)
    account = await server.broker.get_account()
    assert answer.status.value == "ACTIVE"
    assert float(answer.cash) == pytest.approx(account.cash) == 100_000
    assert float(answer.buying_power) == pytest.approx(account.buying_power)
    assert float(answer.equity) == pytest.approx(account.equity)
    assert answer.shorting_enabled is False


async def test_market_order_fills_through_the_paper_broker(server: Server) -> None:
    trading = client(server)
    submitted = await call(
        trading.submit_order,
        MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
    )
    assert submitted.status is OrderStatus.PENDING_NEW  # 1 s of latency before the venue sees it
    filled = await server.broker.wait_for(str(submitted.id), "filled", timeout=WAIT_S)
    answer = await call(trading.get_order_by_id, submitted.id)
    same_order(answer, filled)
    assert answer.status is OrderStatus.FILLED
    assert answer.filled_at == filled.filled_at
    position = await call(trading.get_open_position, "AAPL")
    held = await server.broker.get_position("AAPL")
    assert held is not None
    assert float(position.qty) == held.quantity == 10
    assert float(position.avg_entry_price) == pytest.approx(held.avg_price)
    assert float(position.cost_basis) == pytest.approx(held.cost_basis)
    account = await call(trading.get_account)
    assert float(account.cash) == pytest.approx((await server.broker.get_account()).cash)


async def test_limit_order_works_is_found_by_client_id_replaced_and_canceled(server: Server) -> None:
    trading = client(server)
    price = (await server.broker.get_account()).cash  # far below any price: the order rests
    request = LimitOrderRequest(
        symbol="MSFT",
        qty=3,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.GTC,
        limit_price=1.25,
        client_order_id="bot-1",
    )
    assert price > 1.25
    submitted = await call(trading.submit_order, request)
    working = await server.broker.wait_for(str(submitted.id), "new", timeout=WAIT_S)
    same_order(await call(trading.get_order_by_client_id, "bot-1"), working)
    again = await call(trading.submit_order, request)  # a repeated client order id is the same order
    assert again.id == submitted.id

    replaced = await call(trading.replace_order_by_id, submitted.id, ReplaceOrderRequest(qty=5, limit_price=1.5))
    assert str(replaced.replaces) == working.id
    new = await server.broker.wait_for(str(replaced.id), "new", timeout=WAIT_S)
    old = await server.broker.get_order(working.id)
    assert old.status.value == "replaced" and old.replaced_by == new.id
    same_order(await call(trading.get_order_by_id, replaced.id), new)
    assert float((await call(trading.get_order_by_id, replaced.id)).limit_price) == 1.5

    await call(trading.cancel_order_by_id, replaced.id)
    canceled = await server.broker.wait_for(new.id, "canceled", timeout=WAIT_S)
    same_order(await call(trading.get_order_by_id, replaced.id), canceled)
    assert (await server.broker.get_account()).buying_power == pytest.approx(100_000)


async def test_stop_and_trailing_stop_orders_carry_their_prices(server: Server) -> None:
    trading = client(server)
    stop = await call(
        trading.submit_order,
        StopOrderRequest(symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, stop_price=10_000),
    )
    trailing = await call(
        trading.submit_order,
        TrailingStopOrderRequest(
            symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, trail_percent=50
        ),
    )
    assert stop.type is OrderType.STOP and float(stop.stop_price) == 10_000
    assert trailing.type is OrderType.TRAILING_STOP and float(trailing.trail_percent) == 50
    for submitted in (stop, trailing):
        await server.broker.wait_for(str(submitted.id), "new", timeout=WAIT_S)
        # A trailing stop's stop and hwm follow the served prices: compare the answer with the broker's snapshot
        # when no market update moved the order while the request was on its way (a loaded machine's race).
        for _ in range(20):
            before = await server.broker.get_order(str(submitted.id))
            answer = await call(trading.get_order_by_id, submitted.id)
            if await server.broker.get_order(str(submitted.id)) == before:
                break
        same_order(answer, before)
    assert (await server.broker.get_order(str(trailing.id))).hwm is not None


async def test_bracket_order_nests_its_legs(server: Server) -> None:
    trading = client(server)
    submitted = await call(
        trading.submit_order,
        MarketOrderRequest(
            symbol="AAPL",
            qty=5,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=1_000),
            stop_loss=StopLossRequest(stop_price=10),
        ),
    )
    assert submitted.order_class is OrderClass.BRACKET
    entry = await server.broker.wait_for(str(submitted.id), "filled", timeout=WAIT_S)
    assert submitted.legs is not None and [str(leg.id) for leg in submitted.legs] == list(entry.legs)
    nested = await call(trading.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True))
    assert [str(o.id) for o in nested] == [entry.id]
    legs = {str(leg.id): leg for leg in nested[0].legs}
    for leg_id in entry.legs:
        same_order(legs[leg_id], await server.broker.get_order(leg_id))
    flat = await call(trading.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL))
    assert {str(o.id) for o in flat} == {entry.id, *entry.legs}


async def test_an_oco_in_alpacas_documented_shape_is_taken_and_cancel_all_takes_its_held_stop_loss(
    server: Server,
) -> None:
    trading = client(server)
    bought = await call(
        trading.submit_order,
        MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
    )
    await server.broker.wait_for(str(bought.id), "filled", timeout=WAIT_S)
    # alpaca-py sends Alpaca's documented oco body: type limit, the prices in take_profit and stop_loss only.
    request = LimitOrderRequest(
        symbol="AAPL",
        qty=10,
        side=OrderSide.SELL,
        time_in_force=TimeInForce.GTC,
        order_class=OrderClass.OCO,
        take_profit=TakeProfitRequest(limit_price=1_000),
        stop_loss=StopLossRequest(stop_price=10, limit_price=9.5),
    )
    assert "limit_price" not in request.to_request_fields()
    oco = await call(trading.submit_order, request)
    assert oco.order_class is OrderClass.OCO and float(oco.limit_price) == 1_000
    working = await server.broker.wait_for(str(oco.id), "new", timeout=WAIT_S)
    (stop_id,) = working.legs
    nested = await call(trading.get_order_by_id, str(oco.id), GetOrderByIdRequest(nested=True))
    assert [leg.status for leg in nested.legs] == [OrderStatus.HELD]
    answers = await call(trading.cancel_orders)
    assert {str(a.id): a.status for a in answers} == {str(oco.id): 200, stop_id: 200}
    await server.broker.wait_for(stop_id, "canceled", timeout=WAIT_S)
    assert await server.broker.list_orders("open") == []


async def test_closing_all_positions_with_cancel_orders_cancels_a_brackets_working_exits(server: Server) -> None:
    trading = client(server)
    submitted = await call(
        trading.submit_order,
        MarketOrderRequest(
            symbol="AAPL",
            qty=5,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=1_000),
            stop_loss=StopLossRequest(stop_price=10),
        ),
    )
    entry = await server.broker.wait_for(str(submitted.id), "filled", timeout=WAIT_S)
    take_id, stop_id = entry.legs
    await server.broker.wait_for(take_id, "new", timeout=WAIT_S)
    assert (await server.broker.get_order(stop_id)).status.value == "held"
    closed = await call(trading.close_all_positions, cancel_orders=True)
    assert [c.symbol for c in closed] == ["AAPL"]
    await server.broker.wait_for(str(closed[0].order_id), "filled", timeout=WAIT_S)
    for leg_id in entry.legs:
        assert (await server.broker.wait_for(leg_id, "canceled", timeout=WAIT_S)).status.value == "canceled"
    assert await server.broker.list_orders("open") == [] and await server.broker.get_positions() == []


async def test_order_list_filters_by_status_symbols_side_time_and_limit(server: Server) -> None:
    trading = client(server)
    ids = []
    for symbol, side in (("AAPL", OrderSide.BUY), ("MSFT", OrderSide.BUY), ("AAPL", OrderSide.BUY)):
        order = await call(
            trading.submit_order,
            LimitOrderRequest(symbol=symbol, qty=1, side=side, time_in_force=TimeInForce.GTC, limit_price=1),
        )
        ids.append(str(order.id))
        await server.broker.wait_for(ids[-1], "new", timeout=WAIT_S)
    await call(trading.cancel_order_by_id, ids[0])
    await server.broker.wait_for(ids[0], "canceled", timeout=WAIT_S)

    def listed(**filters: Any) -> list[str]:
        return [str(o.id) for o in trading.get_orders(GetOrdersRequest(**filters))]

    assert await call(listed) == [ids[2], ids[1]]  # open, newest first
    assert await call(listed, status=QueryOrderStatus.CLOSED) == [ids[0]]
    assert await call(listed, status=QueryOrderStatus.ALL, direction="asc") == ids
    assert await call(listed, status=QueryOrderStatus.ALL, symbols=["AAPL"]) == [ids[2], ids[0]]
    assert await call(listed, status=QueryOrderStatus.ALL, limit=1) == [ids[2]]
    assert await call(listed, status=QueryOrderStatus.ALL, side=OrderSide.SELL) == []
    second = await server.broker.get_order(ids[1])
    assert second.submitted_at is not None
    after = await call(listed, status=QueryOrderStatus.ALL, after=second.submitted_at - timedelta(microseconds=1))
    assert after == [ids[2], ids[1]]
    until = await call(listed, status=QueryOrderStatus.ALL, until=second.submitted_at)
    assert until == [ids[0]]


async def test_cancel_all_answers_per_order(server: Server) -> None:
    trading = client(server)
    for _ in range(2):
        order = await call(
            trading.submit_order,
            LimitOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=1),
        )
        await server.broker.wait_for(str(order.id), "new", timeout=WAIT_S)
    answers = await call(trading.cancel_orders)
    assert [a.status for a in answers] == [200, 200]
    for answer in answers:
        canceled = await server.broker.wait_for(str(answer.id), "canceled", timeout=WAIT_S)
        assert canceled.status.value == "canceled"
    assert await server.broker.list_orders("open") == []


async def test_positions_close_by_quantity_percentage_and_all(server: Server) -> None:
    trading = client(server)
    for symbol in ("AAPL", "MSFT"):
        order = await call(
            trading.submit_order,
            MarketOrderRequest(symbol=symbol, qty=20, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
        )
        await server.broker.wait_for(str(order.id), "filled", timeout=WAIT_S)
    positions = await call(trading.get_all_positions)
    assert sorted((p.symbol, float(p.qty)) for p in positions) == [("AAPL", 20.0), ("MSFT", 20.0)]

    by_qty = await call(trading.close_position, "AAPL", ClosePositionRequest(qty="5"))
    assert by_qty.side is OrderSide.SELL and float(by_qty.qty) == 5
    await server.broker.wait_for(str(by_qty.id), "filled", timeout=WAIT_S)
    by_share = await call(trading.close_position, "AAPL", ClosePositionRequest(percentage="20"))
    assert float(by_share.qty) == pytest.approx(3)
    await server.broker.wait_for(str(by_share.id), "filled", timeout=WAIT_S)
    assert (await server.broker.get_position("AAPL")).quantity == pytest.approx(12)  # type: ignore[union-attr]

    with pytest.raises(APIError) as too_many:
        await call(trading.close_position, "AAPL", ClosePositionRequest(qty="100"))
    assert too_many.value.status_code == 403 and "insufficient qty" in too_many.value.message

    # Shares an open sell holds cannot be closed again: 403 at once, and no order is made (Alpaca's answer).
    held = await call(
        trading.submit_order,
        LimitOrderRequest(
            symbol="AAPL", qty=10, side=OrderSide.SELL, limit_price=10_000, time_in_force=TimeInForce.GTC
        ),
    )
    await server.broker.wait_for(str(held.id), "new", timeout=WAIT_S)
    orders_before = len(await server.broker.list_orders("all"))
    with pytest.raises(APIError) as taken:
        await call(trading.close_position, "AAPL")
    assert taken.value.status_code == 403
    assert "insufficient qty available for order (requested: 12, available: 2)" in taken.value.message
    assert len(await server.broker.list_orders("all")) == orders_before
    await call(trading.cancel_order_by_id, held.id)
    await server.broker.wait_for(str(held.id), "canceled", timeout=WAIT_S)

    closed = await call(trading.close_all_positions)
    assert sorted(c.symbol for c in closed) == ["AAPL", "MSFT"] and {c.status for c in closed} == {200}
    for answer in closed:
        await server.broker.wait_for(str(answer.order_id), "filled", timeout=WAIT_S)
    assert await call(trading.get_all_positions) == []
    with pytest.raises(APIError) as flat:
        await call(trading.get_open_position, "AAPL")
    assert flat.value.status_code == 404


async def test_clock_reports_the_simulated_time(server: Server) -> None:
    answer = await call(client(server).get_clock)
    now = server.broker.clock.now()
    assert answer.is_open is True  # the session is `always`
    # The replay began 2024-01-02 14:30 UTC; at speed 600 the clock is minutes past it, never the wall's year.
    assert answer.timestamp.year == 2024
    assert abs((answer.timestamp - now).total_seconds()) < 600
    assert answer.next_close > answer.timestamp


async def test_calendar_and_assets_follow_the_config(tmp_path: Path) -> None:
    async with serving(tmp_path, overrides={"broker": {"session": "us_equity", "allow_short": True}}) as server:
        trading = client(server)
        days = await call(trading.get_calendar, GetCalendarRequest(start="2024-01-05", end="2024-01-08"))
        assert [(str(d.date), f"{d.open:%H:%M}", f"{d.close:%H:%M}") for d in days] == [
            ("2024-01-05", "09:30", "16:00"),
            ("2024-01-08", "09:30", "16:00"),
        ]
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:  # the JS SDK sends timestamps
            stamped = await http.get(
                "/v2/calendar", params={"start": "2024-01-05T00:00:00.000Z", "end": "2024-01-08T23:59:00-05:00"}
            )
        assert [d["date"] for d in stamped.json()] == ["2024-01-05", "2024-01-08"]
        assets = await call(trading.get_all_assets)
        assert [a.symbol for a in assets] == ["AAPL", "MSFT"] and all(a.shortable for a in assets)
        assert (await call(trading.get_asset, "MSFT")).symbol == "MSFT"
        with pytest.raises(APIError) as unknown:
            await call(trading.get_asset, "ZZZZ")
        assert unknown.value.status_code == 404


async def test_the_v3_clock_and_calendar_tell_the_served_market(tmp_path: Path) -> None:
    """The JS SDK 4.x's clock() and calendar() call /v3: one market, the config's session, named by serve.exchange."""
    async with (
        serving(tmp_path, overrides={"broker": {"session": "us_equity"}}) as server,
        httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http,
    ):
        clock = (await http.get("/v3/clock", params={"markets": "NYSE"})).json()["clocks"]
        legacy = (await http.get("/v2/clock")).json()
        calendar = (await http.get("/v3/calendar/NYSE", params={"start": "2024-01-05", "end": "2024-01-08"})).json()
    assert len(clock) == 1 and clock[0]["market"]["acronym"] == "NASDAQ"
    assert clock[0]["market"]["timezone"] == "America/New_York"
    assert clock[0]["next_market_open"] == legacy["next_open"] and clock[0]["next_market_close"] == legacy["next_close"]
    assert clock[0]["phase"] == ("core" if legacy["is_open"] else "closed")
    assert [(d["date"], d["core_start"], d["core_end"]) for d in calendar["calendar"]] == [
        ("2024-01-05", "2024-01-05T09:30:00-05:00", "2024-01-05T16:00:00-05:00"),
        ("2024-01-08", "2024-01-08T09:30:00-05:00", "2024-01-08T16:00:00-05:00"),
    ]
