"""Text that UTF-8 cannot encode (a lone surrogate, ``"\\udc00zz"``) never gets in: a body holding it is a 422 that
names the field and creates nothing, a stream message holding it is an invalid message, and a fuzz of strings
with surrogates and control characters leaves every listing, the report and the journal readable."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker_sim.journal import read_account
from broker_sim.report.account import export_account

from .conftest import KEY, SECRET, serving
from .test_bad_requests import HEADERS
from .test_stream import ledger_is_whole

JSON = {"content-type": "application/json"}
EXAMPLES = 60
ORDER = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}

#: Strings a hostile client sends: lone surrogates, control characters, and the rest of Unicode.
texts = st.text(
    alphabet=st.one_of(
        st.characters(codec=None, categories=("Cs",)),  # lone surrogates
        st.characters(categories=("Cc",)),  # control characters: NUL, ESC, line breaks
        st.characters(),
    ),
    min_size=1,
    max_size=12,
)


async def test_a_lone_surrogate_in_client_order_id_is_a_422_and_changes_nothing(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, report=True) as server,
        httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http,
    ):
        body = json.dumps({**ORDER, "client_order_id": "\udc00zz"})  # json writes it as the escape \udc00
        answer = await http.post("/v2/orders", content=body, headers=JSON)
        assert answer.status_code == 422
        assert answer.json()["code"] == 40010001
        assert answer.json()["message"].startswith("client_order_id is not valid text: it holds a lone surrogate")
        assert await server.broker.list_orders("all") == []
        listed = await http.get("/v2/orders", params={"status": "all"})
        assert listed.status_code == 200 and listed.json() == []
    assert (tmp_path / "report" / "summary.json").is_file()


async def test_a_stream_message_with_a_lone_surrogate_is_an_invalid_message(tmp_path: Path) -> None:
    async with serving(tmp_path) as server, websockets.connect(f"{server.ws_url}/stream") as stream:
        await stream.send(json.dumps({"action": "auth", "key": KEY, "secret": "\udc00"}))
        reply = json.loads(await stream.recv())
        assert "invalid message" in json.dumps(reply)
        await stream.send(json.dumps({"action": "auth", "key": KEY, "secret": SECRET}))
        assert "authorized" in await stream.recv()


def _fuzz(url: str) -> None:
    with httpx.Client(base_url=url, headers=HEADERS) as http:

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(field=st.sampled_from(["client_order_id", "symbol", "side", "type", "time_in_force", "qty"]), text=texts)
        def strange_text_never_breaks_the_server(field: str, text: str) -> None:
            answer = http.post("/v2/orders", content=json.dumps({**ORDER, field: text}), headers=JSON)
            assert answer.status_code in (200, 403, 404, 422), answer.text
            if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
                assert answer.status_code == 422 and field in answer.json()["message"]
            listed = http.get("/v2/orders", params={"status": "all", "limit": 500})
            assert listed.status_code == 200
            json.loads(listed.text)

        strange_text_never_breaks_the_server()


async def test_fuzzed_text_leaves_the_listings_the_report_and_the_journal_readable(tmp_path: Path) -> None:
    overrides: dict[str, Any] = {"broker": {"journal": str(tmp_path / "account.db")}}
    async with serving(tmp_path, overrides=overrides, report=True) as server:
        await asyncio.to_thread(_fuzz, server.url)
        ledger_is_whole(server)
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["orders"] >= 0
    stored = read_account(tmp_path / "account.db")
    export_account(stored, tmp_path / "export")
    (tmp_path / "export" / "orders.csv").read_text(encoding="utf-8")
