"""Account activities (the served account's fills, borrow fees and margin interest) page as Alpaca pages them:
`page_size` at a time, the next page after the activity whose id is `page_token`, or one exchange-time `date`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .conftest import Server, serving
from .test_bad_requests import HEADERS

BUY = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}


async def _fills(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    answer = await http.get("/v2/account/activities/FILL", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_activities_page_by_their_ids_in_either_direction_and_by_date(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        for _ in range(5):
            placed = await http.post("/v2/orders", json=BUY)
            await server.broker.wait_for(placed.json()["id"], "filled", timeout=60)
        for direction in ("asc", "desc"):
            whole = await _fills(http, direction=direction)
            assert len(whole) == 5
            paged: list[dict[str, Any]] = []
            page = await _fills(http, direction=direction, page_size=2)
            while page:
                assert len(page) <= 2
                paged.extend(page)
                page = await _fills(http, direction=direction, page_size=2, page_token=page[-1]["id"])
            assert paged == whole
        times = [datetime.fromisoformat(a["transaction_time"].replace("Z", "+00:00")) for a in whole]
        assert times == sorted(times, reverse=True)  # the last listing was newest first
        day = times[0].astimezone(server.served.session.timezone).date()  # type: ignore[attr-defined]
        assert await _fills(http, date=day.isoformat()) == whole
        assert await _fills(http, date=f"{day.isoformat()}T00:00:00.000Z") == whole  # as the JS SDK sends a date
        assert await _fills(http, date="2001-01-01") == []
        assert len(await _fills(http, page_size=1000)) == 5  # a page is at most 100: all five fit


async def test_borrow_fees_and_margin_interest_are_fee_and_int_activities(tmp_path: Path) -> None:
    overrides = {
        "broker": {"account": "margin", "allow_short": True},
        "models": {"borrow_fee": {"model": "annual_rate", "rate": 0.36}, "fill": {"model": "immediate"}},
        "prices": {
            "clock": "simulated",
            "sources": [
                {
                    "source": "synthetic",
                    "symbols": ["AAPL", "MSFT"],
                    # 20 minutes before the (always) session's close: 2 s of wall time at the served speed, time
                    # enough to place both orders before it on a loaded machine
                    "start": "2024-01-02T23:40:00Z",
                    "interval": 60,
                    "count": 10_000,
                    "start_price": {"AAPL": 190.0, "MSFT": 410.0},
                }
            ],
        },
    }
    async with (
        serving(tmp_path, overrides=overrides) as server,
        httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http,
    ):
        for order in (
            {"symbol": "AAPL", "qty": "100", "side": "sell", "type": "market", "time_in_force": "day"},
            {"symbol": "MSFT", "qty": "300", "side": "buy", "type": "market", "time_in_force": "day"},
        ):
            placed = await http.post("/v2/orders", json=order)
            assert placed.status_code == 200, placed.text
            await server.broker.wait_for(placed.json()["id"], "filled", timeout=60)
        midnight = datetime(2024, 1, 3, tzinfo=UTC).timestamp()
        assert server.broker.clock.time() < midnight  # both positions are held at the close
        await server.broker.clock.sleep(midnight + 120 - server.broker.clock.time())  # past midnight UTC: the close
        answer = await http.get("/v2/account/activities", params={"activity_types": "FEE,INT", "direction": "asc"})
        assert answer.status_code == 200, answer.text
        charges = answer.json()
        assert [c["activity_type"] for c in charges] == ["FEE", "INT"]
        fee, interest = charges
        booked = server.broker.state.activities
        assert float(fee["net_amount"]) == -booked[0].amount and fee["symbol"] == "AAPL" and fee["qty"] == "100"
        assert float(interest["net_amount"]) == -booked[1].amount and interest["symbol"] is None
        assert fee["date"] == interest["date"] and fee["status"] == "executed"
        everything = await http.get("/v2/account/activities", params={"direction": "asc"})
        assert [a["activity_type"] for a in everything.json()] == ["FILL", "FILL", "FEE", "INT"]
        only_int = await http.get("/v2/account/activities/INT")
        assert [a["id"] for a in only_int.json()] == [interest["id"]]
