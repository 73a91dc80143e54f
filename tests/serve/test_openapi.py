"""The server's OpenAPI document: it describes every HTTP route and the server keeps to it.

Schemathesis (the CLI, a separate process, as a user would run it) reads the document from the running server
and sends every operation its examples, schema-driven valid and invalid requests, and linked sequences (submit,
then get, replace, cancel). Every answer must be a documented status with a body the document allows, invalid
requests must be refused, nothing may answer 5xx, and afterwards the ledger must still be whole."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from broker_sim.models import OrderClass, OrderStatus, OrderType, Side, TimeInForce
from broker_sim.serve import openapi
from broker_sim.serve.app import create_app
from broker_sim.serve.market_data import TIMEFRAME
from broker_sim.serve.query import DECIMAL_TEXT, MOMENT
from broker_sim.serve.settings import EXCHANGES
from tests.conftest import SLOW

from .conftest import KEY, SECRET, Server, serving
from .test_bad_requests import HEADERS
from .test_stream import ledger_is_whole

#: Test cases per operation and phase: bounded in CI, larger with ``--slow``.
EXAMPLES = 200 if SLOW else 12
_METHODS = {"GET", "POST", "PATCH", "DELETE", "PUT"}


def _described() -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in openapi.document()["paths"].items()
        for method in item
        if method.upper() in _METHODS
    }


def test_the_document_describes_every_http_route_and_nothing_else(server: Server) -> None:
    app = create_app(server.served).app
    routed = {
        (route.path, method)
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or ())
        if method != "HEAD"
    }
    assert routed == _described()


def test_the_documents_patterns_are_the_servers() -> None:
    schemas = openapi.document()["components"]["schemas"]
    assert schemas["Moment"]["pattern"] == f"^{MOMENT.pattern}$"
    assert schemas["DecimalText"]["pattern"] == f"^{DECIMAL_TEXT.pattern}$"
    timeframe = openapi.document()["components"]["parameters"]["Timeframe"]["schema"]["pattern"]
    assert timeframe == f"^({TIMEFRAME.pattern})$"


def test_the_documents_closed_sets_are_the_engines() -> None:
    schemas = openapi.document()["components"]["schemas"]
    order = schemas["Order"]["properties"]
    assert set(schemas["OrderStatus"]["enum"]) == {s.value for s in OrderStatus}
    assert set(order["type"]["enum"]) == set(order["order_type"]["enum"]) == {t.value for t in OrderType}
    assert set(order["time_in_force"]["enum"]) == {t.value for t in TimeInForce}
    assert set(order["side"]["enum"]) == {s.value for s in Side}
    assert set(order["order_class"]["enum"]) == {"", *(c.value for c in OrderClass)}
    request = schemas["OrderRequest"]["properties"]
    assert set(request["type"]["enum"]) == {t.value for t in OrderType}
    assert set(request["time_in_force"]["enum"]) == {t.value for t in TimeInForce}
    assert set(request["order_class"]["oneOf"][0]["enum"]) == {c.value for c in OrderClass}
    assert set(schemas["Exchange"]["enum"]) == set(EXCHANGES)


async def test_the_served_document_names_the_symbols_and_needs_the_keys(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        refused = await http.get("/openapi.json")
        served = await http.get("/openapi.json", headers=HEADERS)
    assert refused.status_code == 401
    assert served.status_code == 200
    document: dict[str, Any] = served.json()
    assert document["openapi"].startswith("3.1")
    symbol = document["components"]["schemas"]["OrderRequest"]["properties"]["symbol"]
    assert symbol["enum"] == server.served.tradable() == ["AAPL", "MSFT"]


#: The fuzz in two shards that pytest-xdist runs side by side, each on its own server: trading (orders,
#: positions, the account) and everything else.
_TRADING = r"^/v2/(orders|positions|account)"


@pytest.mark.parametrize("shard", ["--include-path-regex", "--exclude-path-regex"], ids=["trading", "the rest"])
async def test_schemathesis_finds_no_failure_in_any_operation(tmp_path: Path, shard: str) -> None:
    async with serving(tmp_path) as server:
        command = [
            str(Path(sys.executable).with_name("st")),
            "run",
            f"{server.url}/openapi.json",
            "--header",
            f"APCA-API-KEY-ID: {KEY}",
            "--header",
            f"APCA-API-SECRET-KEY: {SECRET}",
            "--checks",
            "all",
            # A valid body can still be refused: a limit order needs its price, an order the account cannot pay.
            "--exclude-checks",
            "positive_data_acceptance",
            shard,
            _TRADING,
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "20261125",
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / "schemathesis"),
        ]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path
        )
        output, _ = await process.communicate()
        text = output.decode(errors="replace")
        assert process.returncode == 0, text
        described = _described() - {("/openapi.json", "GET")}  # schemathesis leaves the document's own out
        trading = {(path, method) for path, method in described if re.match(_TRADING, path)}
        selected = len(trading) if shard == "--include-path-regex" else len(described - trading)
        assert f"{selected} selected / {len(described)} total" in text
        assert "passed" in text and "failed" not in text
        ledger_is_whole(server)
        orders = await server.broker.list_orders("all")
    if shard == "--include-path-regex":
        assert orders, "the fuzz reached the engine: at least one order was accepted"


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/v2/orders?until=", "until must be an RFC 3339 timestamp or a date"),
        ("/v2/orders?nested=yes", "nested must be true or false"),
        ("/v2/orders?limit=+5", "limit must be an integer >= 1"),
        ("/v2/calendar?start=2024-01-02T25:00:00Z", "start must be a date (YYYY-MM-DD) or an RFC 3339"),
        ("/v2/calendar?start=2024-02-30T10:00:00Z", "start must be a date (YYYY-MM-DD) or an RFC 3339"),
        ("/v2/stocks/AAPL/bars?timeframe=57884699D", "invalid timeframe '57884699D'"),
        ("/v2/stocks/bars?symbols=AAPL&timeframe=1Min&page_token=-0", "page_token must be an integer >= 0"),
        ("/v2/account/activities/DIV?direction=up", "direction must be one of asc, desc"),
        ("/v2/orders?after=0001-01-01T00:00:00%2B05:00", "after must be an RFC 3339 timestamp"),  # before year 1
        ("/v2/stocks/bars?symbols=AAPL&timeframe=1Min&start=9999-12-31T23:00:00-05:00", "start must be an RFC"),
        ("/v2/orders?limit=" + "9" * 5000, "limit must be an integer >= 1 of at most 18 digits"),
        (
            "/v2/calendar?start=9999-12-31",
            "start must be a date (YYYY-MM-DD) or an RFC 3339 timestamp, up to 9999-11-30",
        ),
        ("/v2/orders?symbols=,,", "symbols must name at least one symbol"),
        ("/v2/account/activities?page_token=abc", "page_token 'abc' is not the id of an activity"),
    ],
)
async def test_a_given_query_parameter_must_be_valid(server: Server, path: str, answer: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        response = await http.get(path)
    assert response.status_code == 422
    assert answer in response.json()["message"]


async def test_a_method_a_path_lacks_is_405_naming_the_methods_it_takes(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        response = await http.put("/v2/orders/abc")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "PATCH", "DELETE"}
    assert response.json() == {"code": 40510000, "message": "method not allowed"}


async def test_a_numeric_string_must_be_a_plain_decimal(server: Server) -> None:
    body = {"symbol": "AAPL", "qty": "1e2", "side": "buy", "type": "market", "time_in_force": "day"}
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        refused = await http.post("/v2/orders", json=body)
        accepted = await http.post("/v2/orders", json={**body, "qty": "2.50"})
    assert refused.status_code == 422
    assert "not a number" in refused.json()["message"]
    assert accepted.status_code == 200
    assert accepted.json()["qty"] == "2.5"


async def test_a_close_takes_a_plain_decimal_qty_not_other_digits(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        bought = await http.post(
            "/v2/orders", json={"symbol": "AAPL", "qty": "5", "side": "buy", "type": "market", "time_in_force": "day"}
        )
        await server.broker.wait_for(bought.json()["id"], "filled", timeout=60)
        for qty in ("\u0663", "1e0", " 1", "1_0"):  # an Arabic-Indic three, an exponent, a space, an underscore
            refused = await http.delete("/v2/positions/AAPL", params={"qty": qty})
            assert refused.status_code == 422, qty
            assert "qty must be a number (a decimal such as 1.5)" in refused.json()["message"]
        assert (await server.broker.get_position("AAPL")).quantity == 5  # type: ignore[union-attr]
