"""Alpaca's Market Data API v2 for stocks, from what the served replay has delivered so far: bars (aggregated to
the asked timeframe), quotes, trades and their ``latest`` forms. Nothing after the simulated now is ever served.

Bars are stamped at their start, as Alpaca stamps them. A source without trades still answers the latest
trade: the last bar's close at the bar's end, the price the paper broker marks positions at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgpack
from starlette.requests import Request
from starlette.routing import Route

from broker_sim.models import Bar, MarketData, Quote, Trade

from . import query
from .errors import ApiError
from .routing import resource
from .state import Served
from .translate import timestamp

__all__ = ["TIMEFRAME", "bar_json", "quote_json", "routes", "trade_json"]

#: Alpaca's default and largest page of market data.
DEFAULT_LIMIT, MAX_LIMIT = 1000, 10_000
#: Alpaca's timeframes the simulator aggregates to: 1-59 minutes, 1-23 hours, or one day.
TIMEFRAME = re.compile(r"([1-9]|[1-5][0-9])(Min|T)|([1-9]|1[0-9]|2[0-3])(Hour|H)|(1)(Day|D)")
_UNIT_SECONDS = {"Min": 60, "T": 60, "Hour": 3600, "H": 3600, "Day": 86400, "D": 86400}
#: The tape (Alpaca's ``z``) and exchange codes reported for simulated data.
_TAPE, _EXCHANGE = "C", "V"


def _time(value: datetime, packed: bool) -> Any:
    return msgpack.Timestamp.from_datetime(value) if packed else timestamp(value)


def bar_json(bar: Bar, *, packed: bool = False) -> dict[str, Any]:
    """A bar as Alpaca's market data sends it (`packed`: the timestamp as msgpack's Timestamp)."""
    return {
        "t": _time(bar.start, packed),
        "o": bar.open,
        "h": bar.high,
        "l": bar.low,
        "c": bar.close,
        "v": bar.volume,
        "n": 0,
        "vw": (bar.high + bar.low + bar.close) / 3.0,
    }


def quote_json(quote: Quote, *, packed: bool = False) -> dict[str, Any]:
    """A quote as Alpaca's market data sends it."""
    return {
        "t": _time(quote.timestamp, packed),
        "ax": _EXCHANGE,
        "ap": quote.ask,
        "as": quote.ask_size,
        "bx": _EXCHANGE,
        "bp": quote.bid,
        "bs": quote.bid_size,
        "c": [],
        "z": _TAPE,
    }


def trade_json(trade: Trade, *, packed: bool = False, number: int = 0) -> dict[str, Any]:
    """A trade as Alpaca's market data sends it."""
    return {
        "t": _time(trade.timestamp, packed),
        "x": _EXCHANGE,
        "p": trade.price,
        "s": trade.size,
        "c": [],
        "i": number,
        "z": _TAPE,
    }


def _symbols(request: Request) -> list[str]:
    chosen = query.symbols(request.query_params)
    if chosen is None:
        raise ApiError.invalid("symbols is required")
    return chosen


def _timeframe(text: str | None) -> float:
    if not text:
        raise ApiError.invalid("timeframe is required")
    match = TIMEFRAME.fullmatch(text)
    if match is None:
        raise ApiError.invalid(
            f"invalid timeframe {text!r}: the simulator serves 1-59 Min (or T), 1-23 Hour (or H) and 1 Day (or D) bars"
        )
    count, unit = (group for group in match.groups() if group is not None)
    return float(int(count) * _UNIT_SECONDS[unit])


def _aggregate(bars: Iterable[MarketData], seconds: float) -> list[Bar]:
    """Bars of `seconds` each (by their start, aligned to the epoch) from finer bars; a bar as long or longer
    is kept as it is."""
    merged: list[Bar] = []
    for bar in bars:
        assert isinstance(bar, Bar)
        if bar.interval >= seconds:
            merged.append(bar)
            continue
        begin = bar.start.timestamp() // seconds * seconds
        last = merged[-1] if merged else None
        if last is not None and last.start.timestamp() == begin and last.interval == seconds:
            merged[-1] = Bar(
                bar.symbol,
                last.timestamp,
                last.open,
                max(last.high, bar.high),
                min(last.low, bar.low),
                bar.close,
                last.volume + bar.volume,
                seconds,
            )
        else:
            start = datetime.fromtimestamp(begin, bar.timestamp.tzinfo)
            end = start.timestamp() + seconds
            merged.append(
                Bar(
                    bar.symbol,
                    datetime.fromtimestamp(end, bar.timestamp.tzinfo),
                    bar.open,
                    bar.high,
                    bar.low,
                    bar.close,
                    bar.volume,
                    seconds,
                )
            )
    return merged


def _page(request: Request, series: dict[str, list[Any]]) -> tuple[dict[str, list[Any]], str | None]:
    """One page of `series` (by symbol, then time): `limit` items from `page_token`, and the next token."""
    params = request.query_params
    limit = query.integer(params, "limit", DEFAULT_LIMIT, high=MAX_LIMIT)
    offset = query.integer(params, "page_token", 0, low=0)
    sort = query.choice(params, "sort", ("asc", "desc"), "asc")
    ordered = {symbol: items if sort == "asc" else items[::-1] for symbol, items in series.items()}
    flat = [(symbol, item) for symbol in sorted(ordered) for item in ordered[symbol]]
    chosen = flat[offset : offset + limit]
    page: dict[str, list[Any]] = {}
    for symbol, item in chosen:
        page.setdefault(symbol, []).append(item)
    following = offset + limit
    return page, (str(following) if following < len(flat) else None)


def _window(request: Request) -> tuple[datetime | None, datetime | None]:
    params = request.query_params
    start, end = query.moment(params, "start"), query.moment(params, "end")
    if start is not None and end is not None and end < start:
        raise ApiError.invalid("end should not be before start")
    return start, end


async def get_bars(request: Request, served: Served) -> Any:
    page, token = _bars_page(request, served, _symbols(request))
    return {"bars": page, "next_page_token": token}


async def get_symbol_bars(request: Request, served: Served) -> Any:
    """One symbol's bars, in Alpaca's single-symbol shape: the list itself, and the symbol."""
    symbol = request.path_params["symbol"]
    page, token = _bars_page(request, served, [symbol])
    return {"bars": page.get(symbol, []), "symbol": symbol, "next_page_token": token}


def _bars_page(request: Request, served: Served, symbols: list[str]) -> tuple[dict[str, list[Any]], str | None]:
    seconds = _timeframe(request.query_params.get("timeframe"))
    start, end = _window(request)
    series = {}
    for symbol in symbols:
        bars = _aggregate(served.market.series(Bar, symbol, None, end), seconds)
        series[symbol] = [bar_json(b) for b in bars if start is None or b.start >= start]
    return _page(request, series)


async def get_quotes(request: Request, served: Served) -> Any:
    start, end = _window(request)
    series = {s: [quote_json(q) for q in served.market.series(Quote, s, start, end)] for s in _symbols(request)}  # type: ignore[arg-type]
    page, token = _page(request, series)
    return {"quotes": page, "next_page_token": token}


async def get_trades(request: Request, served: Served) -> Any:
    start, end = _window(request)
    series = {
        s: [trade_json(t, number=i) for i, t in enumerate(served.market.series(Trade, s, start, end))]  # type: ignore[arg-type]
        for s in _symbols(request)
    }
    page, token = _page(request, series)
    return {"trades": page, "next_page_token": token}


async def latest_bars(request: Request, served: Served) -> Any:
    found = {s: bar for s in _symbols(request) if (bar := served.market.latest(Bar, s)) is not None}
    return {"bars": {s: bar_json(bar) for s, bar in found.items()}}  # type: ignore[arg-type]


async def latest_quotes(request: Request, served: Served) -> Any:
    found = {s: quote for s in _symbols(request) if (quote := served.market.latest(Quote, s)) is not None}
    return {"quotes": {s: quote_json(quote) for s, quote in found.items()}}  # type: ignore[arg-type]


async def latest_trades(request: Request, served: Served) -> Any:
    answer = {}
    for symbol in _symbols(request):
        trade = served.market.latest(Trade, symbol)
        bar = served.market.latest(Bar, symbol)
        if bar is not None and (trade is None or bar.timestamp > trade.timestamp):
            trade = Trade(symbol, bar.timestamp, bar.close, 0.0)  # type: ignore[union-attr]
        if trade is not None:
            answer[symbol] = trade_json(trade)  # type: ignore[arg-type]
    return {"trades": answer}


def routes() -> list[Route]:
    """The stock market data routes."""
    return [
        resource("/v2/stocks/bars", {"GET": get_bars}),
        resource("/v2/stocks/bars/latest", {"GET": latest_bars}),
        resource("/v2/stocks/quotes", {"GET": get_quotes}),
        resource("/v2/stocks/quotes/latest", {"GET": latest_quotes}),
        resource("/v2/stocks/trades", {"GET": get_trades}),
        resource("/v2/stocks/trades/latest", {"GET": latest_trades}),
        resource("/v2/stocks/{symbol}/bars", {"GET": get_symbol_bars}),
    ]
