"""The latest market and snapshots, by symbol and for many: a replay of bars only still answers the latest trade
and quote (derived from the last bar), as the SDKs' get_latest_trade/quote/bar and get_snapshot ask for them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockLatestQuoteRequest, StockLatestTradeRequest, StockSnapshotRequest

from broker_sim.models import Bar

from .conftest import KEY, SECRET, Server, serving
from .test_bad_requests import HEADERS, error

#: 3,000 minute bars from 2024-01-02 14:30 UTC: the replay ends on 2024-01-04 at 16:30, three UTC days.
SHORT_REPLAY = {
    "sources": [
        {
            "source": "synthetic",
            "symbols": ["AAPL", "MSFT"],
            "start": "2024-01-02T14:30:00Z",
            "interval": 60,
            "count": 3000,
            "start_price": {"AAPL": 190.0, "MSFT": 410.0},
        }
    ]
}


async def _replayed(server: Server) -> list[Bar]:
    await asyncio.wait_for(server.run.replayed.wait(), 60)
    return server.served.market.series(Bar, "AAPL", None, None)  # type: ignore[return-value]


async def test_a_bar_only_replay_answers_the_latest_trade_and_quote_from_its_last_bar(tmp_path: Path) -> None:
    async with serving(tmp_path, speed="max", overrides={"prices": SHORT_REPLAY}) as server:
        last = (await _replayed(server))[-1]
        data = StockHistoricalDataClient(KEY, SECRET, url_override=server.url)
        quote = await asyncio.to_thread(data.get_stock_latest_quote, StockLatestQuoteRequest(symbol_or_symbols="AAPL"))
        trade = await asyncio.to_thread(data.get_stock_latest_trade, StockLatestTradeRequest(symbol_or_symbols="AAPL"))
        assert (quote["AAPL"].bid_price, quote["AAPL"].ask_price, quote["AAPL"].timestamp) == (
            last.close,
            last.close,
            last.timestamp,
        )
        assert (trade["AAPL"].price, trade["AAPL"].timestamp) == (last.close, last.timestamp)
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
            one = await http.get("/v2/stocks/AAPL/quotes/latest")
            assert one.json() == {
                "symbol": "AAPL",
                "quote": {**one.json()["quote"], "ap": last.close, "bp": last.close},
            }
            assert (await http.get("/v2/stocks/AAPL/trades/latest")).json()["trade"]["p"] == last.close
            bar = (await http.get("/v2/stocks/AAPL/bars/latest")).json()
            assert bar["symbol"] == "AAPL" and bar["bar"]["c"] == last.close
            for kind in ("bars", "quotes", "trades"):
                error(await http.get(f"/v2/stocks/ZZZZ/{kind}/latest"), 404, 40410000, "no data found for ZZZZ")
            error(await http.get("/v2/stocks/ZZZZ/snapshot"), 404, 40410000, "no data found for ZZZZ")


async def test_snapshots_hold_the_last_bar_and_the_last_two_days(tmp_path: Path) -> None:
    async with serving(tmp_path, speed="max", overrides={"prices": SHORT_REPLAY}) as server:
        bars = await _replayed(server)
        data = StockHistoricalDataClient(KEY, SECRET, url_override=server.url)
        snapshots = await asyncio.to_thread(
            data.get_stock_snapshot, StockSnapshotRequest(symbol_or_symbols=["AAPL", "MSFT", "ZZZZ"])
        )
        assert set(snapshots) == {"AAPL", "MSFT"}  # a symbol without data is left out
        snapshot = snapshots["AAPL"]
        today = [b for b in bars if b.start.date() == bars[-1].start.date()]  # the session is UTC's day
        yesterday = [b for b in bars if b.start.date() == bars[-1].start.date() - timedelta(days=1)]
        assert snapshot.minute_bar is not None and snapshot.minute_bar.close == bars[-1].close
        for day, merged in ((today, snapshot.daily_bar), (yesterday, snapshot.previous_daily_bar)):
            assert merged is not None
            assert merged.timestamp == datetime.combine(day[0].start.date(), datetime.min.time(), UTC)
            assert (merged.open, merged.close) == (day[0].open, day[-1].close)
            assert (merged.high, merged.low) == (max(b.high for b in day), min(b.low for b in day))
            assert merged.volume == sum(b.volume for b in day)
        assert snapshot.latest_trade is not None and snapshot.latest_trade.price == bars[-1].close
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
            one = (await http.get("/v2/stocks/AAPL/snapshot")).json()
            many = (await http.get("/v2/stocks/snapshots", params={"symbols": "AAPL"})).json()
        assert one == {"symbol": "AAPL", **many["AAPL"]}


async def test_one_symbols_quotes_and_trades_come_in_alpacas_single_symbol_shape(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
        for kind in ("quotes", "trades"):
            answer = (await http.get(f"/v2/stocks/AAPL/{kind}")).json()
            assert answer == {kind: [], "symbol": "AAPL", "next_page_token": None}  # bars only: none recorded
