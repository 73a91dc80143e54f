"""Property-based fuzzing of the order endpoints: whatever JSON a client sends, the server answers with a 2xx
or an Alpaca error (400/403/404/422), never a 5xx, and the ledger stays whole."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker_sim.serve.translate import ORDER_FIELDS, REPLACE_FIELDS

from .conftest import Server
from .test_bad_requests import HEADERS
from .test_stream import ledger_is_whole

#: Examples per endpoint: enough to reach every field's branches, bounded so the suite stays fast.
EXAMPLES = 150
ALLOWED = {200, 204, 400, 403, 404, 422}
#: Python's json writes NaN and Infinity as JavaScript does; the server must cope with them too.
JSON = {"content-type": "application/json"}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "AAPL",
            "MSFT",
            "buy",
            "sell",
            "market",
            "limit",
            "stop",
            "stop_limit",
            "trailing_stop",
            "day",
            "gtc",
            "ioc",
            "fok",
            "opg",
            "cls",
            "bracket",
            "oco",
            "oto",
            "simple",
            "1",
            "0.5",
            "-1",
            "1e400",
            "NaN",
            "",
        ]
    ),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def bodies(fields: frozenset[str]) -> st.SearchStrategy[Any]:
    known = st.dictionaries(st.sampled_from(sorted(fields)), values, max_size=len(fields))
    return st.one_of(known, known.map(lambda d: {**d, "extra": 1}), values)


def fuzz(url: str, order_id: str) -> None:
    with httpx.Client(base_url=url, headers=HEADERS) as http:

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(body=bodies(ORDER_FIELDS), patch=bodies(REPLACE_FIELDS))
        def requests_never_fail_the_server(body: Any, patch: Any) -> None:
            placed = http.post("/v2/orders", content=json.dumps(body), headers=JSON)
            assert placed.status_code in ALLOWED, placed.text
            if placed.status_code >= 400:
                assert set(placed.json()) == {"code", "message"}
            replaced = http.patch(f"/v2/orders/{order_id}", content=json.dumps(patch), headers=JSON)
            assert replaced.status_code in ALLOWED, replaced.text

        requests_never_fail_the_server()


async def test_fuzzed_orders_and_replaces_never_get_a_5xx(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        resting = {
            "symbol": "AAPL",
            "qty": "1",
            "side": "buy",
            "type": "limit",
            "limit_price": "1",
            "time_in_force": "gtc",
        }
        order_id = (await http.post("/v2/orders", json=resting)).json()["id"]
    await server.broker.wait_for(order_id, "new", timeout=60)
    await asyncio.to_thread(fuzz, server.url, order_id)
    for order in await server.broker.list_orders("open"):
        await server.broker.cancel_order(order.id)
    ledger_is_whole(server)
