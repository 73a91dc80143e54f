"""Bad requests get Alpaca's status code and error body, change nothing in the account, and the server serves on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient

from .conftest import KEY, SECRET, Server, serving

HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
MARKET_BUY = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as client:
        yield client


async def unchanged(server: Server, http: httpx.AsyncClient) -> None:
    """Nothing happened to the account, and the server still answers."""
    assert await server.broker.list_orders("all") == []
    account = await server.broker.get_account()
    assert account.cash == account.buying_power == 100_000
    answer = await http.get("/v2/account")
    assert answer.status_code == 200 and answer.json()["cash"] == "100000"


def error(answer: httpx.Response, status: int, code: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    assert words in body["message"], body["message"]


@pytest.mark.parametrize(
    ("headers", "what"),
    [({}, "no keys"), ({"APCA-API-KEY-ID": KEY}, "no secret"), ({**HEADERS, "APCA-API-SECRET-KEY": "nope"}, "wrong")],
)
async def test_requests_without_the_right_keys_are_unauthorized(
    server: Server, http: httpx.AsyncClient, headers: dict[str, str], what: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as bare:
        for method, path in (("GET", "/v2/account"), ("POST", "/v2/orders"), ("DELETE", "/v2/positions")):
            answer = await bare.request(method, path, headers=headers, json=MARKET_BUY)
            error(answer, 401, 40110000, "not authorized")
    await unchanged(server, http)


async def test_the_official_client_with_wrong_keys_gets_401(server: Server, http: httpx.AsyncClient) -> None:
    trading = TradingClient("wrong", "keys", paper=True, url_override=server.url)
    with pytest.raises(APIError) as refused:
        await asyncio.to_thread(trading.get_account)
    assert refused.value.status_code == 401 and refused.value.code == 40110000
    await unchanged(server, http)


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        (b"{not json", 400, 40010000, "not JSON"),
        (b"[1, 2]", 422, 40010001, "must be a JSON object"),
        ({**MARKET_BUY, "colour": "red"}, 422, 40010001, "unknown field 'colour'"),
        ({**MARKET_BUY, "qty": "0"}, 422, 40010001, "qty must be > 0"),
        ({**MARKET_BUY, "qty": -5}, 422, 40010001, "qty must be > 0"),
        ({**MARKET_BUY, "qty": "ten"}, 422, 40010001, "invalid qty"),
        ({**MARKET_BUY, "qty": "NaN"}, 422, 40010001, "qty"),
        ({**MARKET_BUY, "symbol": "ZZZZ"}, 422, 40010001, 'asset "ZZZZ" not found'),
        ({**MARKET_BUY, "type": "limit"}, 422, 40010001, "limit_price is required"),
        ({**MARKET_BUY, "side": "sideways"}, 422, 40010001, "side must be one of buy, sell"),
        ({**MARKET_BUY, "time_in_force": "forever"}, 422, 40010001, "time_in_force must be one of"),
        ({k: v for k, v in MARKET_BUY.items() if k != "symbol"}, 422, 40010001, "symbol is required"),
        ({**MARKET_BUY, "order_class": "bracket"}, 422, 40010001, "needs both take_profit and stop_loss"),
        ({**MARKET_BUY, "qty": "1000000"}, 403, 40310000, "insufficient buying power"),
    ],
)
async def test_bad_orders_are_refused_and_change_nothing(
    server: Server, http: httpx.AsyncClient, body: Any, status: int, code: int, words: str
) -> None:
    if isinstance(body, bytes):
        answer = await http.post("/v2/orders", content=body, headers={"content-type": "application/json"})
    else:
        answer = await http.post("/v2/orders", json=body)
    error(answer, status, code, words)
    await unchanged(server, http)  # a refusal (403) records nothing either, as on Alpaca


async def test_an_oversize_body_is_refused(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, overrides={"serve": {"max_body_bytes": 1024}}) as server,
        httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http,
    ):
        padded = {**MARKET_BUY, "client_order_id": "x" * 2000}
        error(await http.post("/v2/orders", json=padded), 413, 41310000, "larger than 1024 bytes")

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it arrives
            for _ in range(4):
                yield b" " * 512

        error(await http.post("/v2/orders", content=chunks()), 413, 41310000, "larger than 1024 bytes")
        await unchanged(server, http)


async def test_unknown_orders_and_positions_are_not_found(server: Server, http: httpx.AsyncClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    error(await http.get(f"/v2/orders/{missing}"), 404, 40410000, "order not found")
    error(await http.delete(f"/v2/orders/{missing}"), 404, 40410000, "order not found")
    error(await http.patch(f"/v2/orders/{missing}", json={"qty": "2"}), 404, 40410000, "order not found")
    error(await http.get("/v2/orders:by_client_order_id", params={"client_order_id": "nope"}), 404, 40410000, "order")
    error(await http.get("/v2/positions/AAPL"), 404, 40410000, "position does not exist")
    error(await http.delete("/v2/positions/AAPL"), 404, 40410000, "position does not exist")
    error(await http.get("/v2/nowhere"), 404, 40410000, "not found")
    await unchanged(server, http)


async def test_bad_queries_name_the_parameter(server: Server, http: httpx.AsyncClient) -> None:
    error(await http.get("/v2/orders", params={"status": "sleeping"}), 422, 40010001, "status must be one of")
    error(await http.get("/v2/orders", params={"limit": "many"}), 422, 40010001, "limit must be an integer")
    error(await http.get("/v2/orders", params={"direction": "up"}), 422, 40010001, "direction must be one of asc, desc")
    error(await http.get("/v2/orders", params={"after": "yesterday"}), 422, 40010001, "after must be an RFC 3339")
    error(await http.get("/v2/calendar", params={"start": "soon"}), 422, 40010001, "start must be a date")
    await unchanged(server, http)


async def test_a_replace_that_is_malformed_leaves_the_order_working(server: Server, http: httpx.AsyncClient) -> None:
    placed = await http.post(
        "/v2/orders", json={**MARKET_BUY, "type": "limit", "limit_price": "1", "time_in_force": "gtc"}
    )
    assert placed.status_code == 200
    order_id = placed.json()["id"]
    working = await server.broker.wait_for(order_id, "new", timeout=60)
    error(await http.patch(f"/v2/orders/{order_id}", json={"qty": "-1"}), 422, 40010001, "qty must be > 0")
    error(await http.patch(f"/v2/orders/{order_id}", json={"colour": 1}), 422, 40010001, "unknown field")
    error(
        await http.patch(f"/v2/orders/{order_id}", content=b"{", headers={"content-type": "application/json"}),
        400,
        40010000,
        "not JSON",
    )
    assert await server.broker.get_order(order_id) == working
    assert (await http.delete(f"/v2/orders/{order_id}")).status_code == 204
    await server.broker.wait_for(order_id, "canceled", timeout=60)
    error(await http.delete(f"/v2/orders/{order_id}"), 422, 42210000, "already canceled")


async def test_past_the_request_rate_the_answer_is_429_with_retry_after(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, overrides={"serve": {"rate_limit": 3}}) as server,
        httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http,
    ):
        statuses = [(await http.get("/v2/clock")).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = await http.get("/v2/clock")
        error(limited, 429, 42910000, "rate limit exceeded")
        assert int(limited.headers["retry-after"]) >= 1


async def test_an_empty_id_is_a_404_never_a_redirect_to_the_collection(server: Server, http: httpx.AsyncClient) -> None:
    """A plain-`requests` bot with an empty id (`DELETE /v2/orders/`) followed a 307 to `DELETE /v2/orders`,
    cancelling every order; every path with a trailing slash is a 404 now, nothing cancelled or sold."""
    import requests

    bought = (await http.post("/v2/orders", json={"symbol": "AAPL", "qty": "2", "side": "buy", "type": "market",
                                                   "time_in_force": "day"})).json()  # fmt: skip
    await server.broker.wait_for(bought["id"], "filled", timeout=60)
    resting = (await http.post("/v2/orders", json={"symbol": "MSFT", "qty": "1", "side": "buy", "type": "limit",
                                                    "limit_price": "1", "time_in_force": "gtc"})).json()  # fmt: skip
    await server.broker.wait_for(resting["id"], "new", timeout=60)
    for method, path in (("DELETE", "/v2/orders/"), ("DELETE", "/v2/positions/"), ("GET", "/v2/orders/")):
        answer = await asyncio.to_thread(requests.request, method, server.url + path, headers=HEADERS, timeout=30)
        assert answer.status_code == 404 and not answer.history, (method, path, answer.history)
        assert answer.json() == {"code": 40410000, "message": "endpoint not found"}
    assert (await server.broker.get_order(resting["id"])).status.value == "new"
    position = await server.broker.get_position("AAPL")
    assert position is not None and position.quantity == 2


@pytest.mark.parametrize("levels", [40, 2000])
async def test_a_body_nested_deeply_is_a_422_not_a_500(http: httpx.AsyncClient, levels: int) -> None:
    body = '{"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day", "x": '
    body += "[" * levels + "]" * levels + "}"
    assert len(body) < 4200
    answer = await http.post("/v2/orders", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json() == {"code": 40010001, "message": "the body nests deeper than 32 levels (an order nests 2)"}
