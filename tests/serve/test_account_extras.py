"""What bots and dashboards call beside orders: watchlists (kept in the journal), the portfolio history (the run's
equity curve), and assets filtered by class. alpaca-py's own models parse every answer."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetClass
from alpaca.trading.requests import (
    CreateWatchlistRequest,
    GetAssetsRequest,
    GetPortfolioHistoryRequest,
    MarketOrderRequest,
    UpdateWatchlistRequest,
)

from .conftest import KEY, SECRET, Server, serving
from .test_bad_requests import HEADERS, error


def client(server: Server) -> TradingClient:
    return TradingClient(KEY, SECRET, paper=True, url_override=server.url)


async def call(function: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(function, *args, **kwargs)


async def test_watchlists_are_made_changed_and_deleted_and_survive_a_restart(tmp_path: Path) -> None:
    journal = {"broker": {"journal": str(tmp_path / "acct.db")}}
    async with serving(tmp_path, overrides=journal) as server:
        trading = client(server)
        made = await call(trading.create_watchlist, CreateWatchlistRequest(name="tech", symbols=["AAPL"]))
        assert made.name == "tech" and [a.symbol for a in made.assets] == ["AAPL"]
        added = await call(trading.add_asset_to_watchlist_by_id, made.id, "MSFT")
        assert [a.symbol for a in added.assets] == ["AAPL", "MSFT"]
        removed = await call(trading.remove_asset_from_watchlist_by_id, made.id, "AAPL")
        assert [a.symbol for a in removed.assets] == ["MSFT"]
        renamed = await call(trading.update_watchlist_by_id, made.id, UpdateWatchlistRequest(name="big tech"))
        assert renamed.name == "big tech" and renamed.updated_at >= made.updated_at
        spare = await call(trading.create_watchlist, CreateWatchlistRequest(name="spare", symbols=[]))
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
            by_name = await http.get("/v2/watchlists:by_name", params={"name": "big tech"})
            assert by_name.json()["id"] == str(made.id)
            before = (await http.get("/v2/watchlists")).json()
            # Refused: a name in use, an unknown symbol, an unknown field, an unknown id; nothing changes.
            error(await http.post("/v2/watchlists", json={"name": "spare"}), 422, 40010001, "'spare' is already used")
            error(
                await http.post(f"/v2/watchlists/{made.id}", json={"symbol": "ZZZZ"}),
                422,
                40010001,
                'asset "ZZZZ" not found',
            )
            error(await http.post("/v2/watchlists", json={"name": "x", "colour": 1}), 422, 40010001, "'colour'")
            error(await http.get("/v2/watchlists/nope"), 404, 40410000, "watchlist not found")
            assert (await http.get("/v2/watchlists")).json() == before
        await call(trading.delete_watchlist_by_id, spare.id)
        assert [w.name for w in await call(trading.get_watchlists)] == ["big tech"]
    async with serving(tmp_path, overrides=journal) as server:  # the same account, restarted
        kept = await call(client(server).get_watchlist_by_id, made.id)
        assert (kept.name, [a.symbol for a in kept.assets]) == ("big tech", ["MSFT"])


async def test_the_portfolio_history_is_the_runs_equity_curve_ending_now(tmp_path: Path) -> None:
    sampled = {"report": {"equity_interval": 60}}
    async with serving(tmp_path, speed=3600, overrides=sampled) as server:
        trading = client(server)
        order = await call(
            trading.submit_order, MarketOrderRequest(symbol="AAPL", qty=10, side="buy", time_in_force="day")
        )
        await server.broker.wait_for(str(order.id), "filled", timeout=60)
        await server.broker.clock.sleep(600)  # ten minutes of samples on the simulated clock
        history = await call(trading.get_portfolio_history, GetPortfolioHistoryRequest(period="1D", timeframe="1Min"))
        samples = list(server.run.equity)
        account = await server.broker.get_account()
    assert history.timeframe == "1Min" and history.base_value == 100_000
    assert len(history.equity) >= 10 and len(history.equity) == len(history.timestamp)
    stamps = [datetime.fromtimestamp(t, samples[0].timestamp.tzinfo) for t in history.timestamp]
    assert stamps == sorted(stamps) and stamps[0] >= samples[0].timestamp.replace(second=0, microsecond=0)
    by_minute = {int(s.timestamp.timestamp() // 60 * 60): s.equity for s in samples}
    assert all(by_minute[t] == e for t, e in zip(history.timestamp[:-1], history.equity[:-1], strict=True))
    assert history.equity[-1] == pytest.approx(account.equity, abs=1.0)  # the last point is the equity now
    assert history.profit_loss == pytest.approx([e - 100_000 for e in history.equity])
    assert history.profit_loss_pct == pytest.approx([(e - 100_000) / 100_000 for e in history.equity])


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"period": "1Y"}, "period must be a number and one of D, W, M, A"),
        ({"timeframe": "2H"}, "timeframe must be one of 1Min, 5Min, 15Min, 1H, 1D"),
        ({"start": "2024-01-03", "end": "2024-01-02"}, "is after end"),
    ],
)
async def test_a_bad_portfolio_history_request_is_named(server: Server, params: dict[str, str], words: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        error(await http.get("/v2/account/portfolio/history", params=params), 422, 40010001, words)


async def test_assets_of_another_class_are_none(server: Server) -> None:
    trading = client(server)
    equities = await call(trading.get_all_assets, GetAssetsRequest(asset_class=AssetClass.US_EQUITY))
    assert [a.symbol for a in equities] == ["AAPL", "MSFT"]
    assert await call(trading.get_all_assets, GetAssetsRequest(asset_class=AssetClass.CRYPTO)) == []
    assert await call(trading.get_all_assets, GetAssetsRequest(exchange="NYSE")) == []  # served as NASDAQ
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        error(
            await http.get("/v2/assets", params={"asset_class": "bonds"}), 422, 40010001, "asset_class must be one of"
        )


async def test_account_configurations_are_the_paper_rules_changed_at_once(tmp_path: Path) -> None:
    rules = {"broker": {"allow_short": True, "rules": {"max_margin_multiplier": 2}}}
    async with serving(tmp_path, overrides=rules) as server:
        trading = client(server)
        config = await call(trading.get_account_configurations)  # alpaca-py's model parses it
        assert (config.no_shorting, config.suspend_trade, config.max_margin_multiplier) == (False, False, "2")
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
            buy = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}
            before = (await http.get("/v2/account/configurations")).json()
            for body, words in (
                ({"pdt_check": "never"}, "pdt_check must be one of entry, exit, both"),
                ({"max_margin_multiplier": "3"}, "max_margin_multiplier must be one of 1, 2, 4"),
                ({"no_shorting": "yes"}, "no_shorting must be true or false"),
                ({"no_shorting": True, "colour": 1}, "unknown field 'colour'"),
            ):
                error(await http.patch("/v2/account/configurations", json=body), 422, 40010001, words)
            assert (await http.get("/v2/account/configurations")).json() == before  # refused: nothing changed
            assert server.broker.rules.no_shorting is False
            changed = await http.patch("/v2/account/configurations", json={"no_shorting": True, "pdt_check": "both"})
            assert changed.json() == {**before, "no_shorting": True, "pdt_check": "both"}
            assert server.broker.rules.no_shorting is True  # the paper rule's setting, at once
            assert (await http.get("/v2/account")).json()["shorting_enabled"] is False
            await http.patch("/v2/account/configurations", json={"suspend_trade": True})
            assert (await http.get("/v2/account")).json()["trade_suspended_by_user"] is True
            error(await http.post("/v2/orders", json=buy), 403, 40310000, "trading is suspended for this account")
            await http.patch("/v2/account/configurations", json={"suspend_trade": False})
            assert (await http.post("/v2/orders", json=buy)).status_code == 200
        assert len(await server.broker.list_orders("all")) == 1  # the refused order made none
