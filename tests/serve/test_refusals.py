"""`broker-sim serve` answers what Alpaca refuses as Alpaca does: 403 (or 422) with Alpaca's code and message, no
order recorded, the client order id free for a retry; the account reports its day trades, the assets their flags,
the positions what open orders hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import KEY, SECRET, Server, serving

HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}


def _order(side: str, qty: str = "1", **fields: Any) -> dict[str, Any]:
    return {"symbol": "AAPL", "qty": qty, "side": side, "type": "market", "time_in_force": "day", **fields}


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    """A $10,000 margin account (under the pattern day trader minimum, over the short-selling one)."""
    overrides = {
        "broker": {"initial_balance": 10_000, "account": "margin", "assets": {"MSFT": {"easy_to_borrow": False}}}
    }
    async with (
        serving(tmp_path, overrides=overrides) as server,
        httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http,
    ):
        yield server, http


async def _filled(server: Server, http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    answer = await http.post("/v2/orders", json=body)
    assert answer.status_code == 200, answer.text
    await server.broker.wait_for(answer.json()["id"], "filled", timeout=60)
    return answer.json()


def _refused(answer: httpx.Response, status: int, code: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code and words in answer.json()["message"], answer.json()


async def test_the_fourth_day_trade_is_refused_with_403_and_the_account_counts_day_trades(
    small: tuple[Server, httpx.AsyncClient],
) -> None:
    server, http = small
    for _ in range(3):
        await _filled(server, http, _order("buy", "5"))
        await _filled(server, http, _order("sell", "5"))
    account = (await http.get("/v2/account")).json()
    assert account["daytrade_count"] == 3 and account["pattern_day_trader"] is False
    assert account["last_equity"] == "10000" and account["shorting_enabled"] is True
    await _filled(server, http, _order("buy", "5"))
    orders = await server.broker.list_orders("all")
    answer = await http.post("/v2/orders", json={**_order("sell", "5"), "client_order_id": "fourth"})
    _refused(answer, 403, 40310000, "pattern day trading protection")
    assert await server.broker.list_orders("all") == orders  # nothing recorded, no rejected order
    assert (await http.get("/v2/orders:by_client_order_id", params={"client_order_id": "fourth"})).status_code == 404


async def test_a_refused_client_order_id_places_the_order_once_the_cause_is_gone(
    small: tuple[Server, httpx.AsyncClient],
) -> None:
    server, http = small
    too_big = {**_order("buy", "1000"), "client_order_id": "retry-me"}
    assert await server.broker.list_orders("all") == []
    _refused(await http.post("/v2/orders", json=too_big), 403, 40310000, "insufficient buying power")
    placed = await http.post("/v2/orders", json={**too_big, "qty": "10"})
    assert placed.status_code == 200 and placed.json()["client_order_id"] == "retry-me"
    assert len(await server.broker.list_orders("all")) == 1  # the refusal recorded nothing


async def test_refusals_of_shorts_wash_trades_and_order_forms(small: tuple[Server, httpx.AsyncClient]) -> None:
    server, http = small
    msft = {**_order("sell", "1"), "symbol": "MSFT"}
    _refused(await http.post("/v2/orders", json=msft), 403, 40310000, "only easy-to-borrow symbols")
    await _filled(server, http, _order("buy", "10"))
    limit = _order("sell", "4", type="limit", limit_price="500", time_in_force="gtc")
    assert (await http.post("/v2/orders", json=limit)).status_code == 200
    _refused(await http.post("/v2/orders", json=_order("buy")), 403, 40310000, "potential wash trade detected")
    _refused(await http.post("/v2/orders", json=_order("sell", "7")), 403, 40310000, "(requested: 7, available: 6)")
    position = (await http.get("/v2/positions/AAPL")).json()
    assert position["qty"] == "10" and position["qty_available"] == "6"
    _refused(await http.post("/v2/orders", json=_order("buy", extended_hours=True)), 422, 40010001, "extended hours")


async def test_assets_carry_the_configs_flags(small: tuple[Server, httpx.AsyncClient]) -> None:
    _, http = small
    assets = {a["symbol"]: a for a in (await http.get("/v2/assets")).json()}
    assert assets["MSFT"]["easy_to_borrow"] is False and assets["MSFT"]["shortable"] is True
    assert assets["AAPL"]["easy_to_borrow"] is True and assets["AAPL"]["fractionable"] is True
