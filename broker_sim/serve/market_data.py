"""Alpaca's Market Data API v2 for stocks, from what the served replay has delivered so far: bars (aggregated to
the asked timeframe), quotes, trades and their ``latest`` forms. Nothing after the simulated now is ever served.

Bars are stamped at their start, as Alpaca stamps them. A source without trades or quotes still answers the
latest trade and quote, derived from the last bar (`latest`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import attrs
import msgpack
from starlette.requests import Request
from starlette.routing import Route

from broker_sim.alpaca_wire import timestamp
from broker_sim.models import Bar, MarketData, Quote, Trade

from . import latest, query
from .errors import ApiError
from .market import MarketHistory
from .routing import Handler, resource
from .state import Served

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


def _bars_page(request: Request, served: Served, symbols: list[str]) -> tuple[dict[str, list[Any]], str | None]:
    seconds = _timeframe(request.query_params.get("timeframe"))
    start, end = _window(request)
    series = {}
    for symbol in symbols:
        bars = _aggregate(served.market.series(Bar, symbol, None, end), seconds)
        series[symbol] = [bar_json(b) for b in bars if start is None or b.start >= start]
    return _page(request, series)


def _quotes_page(request: Request, served: Served, symbols: list[str]) -> tuple[dict[str, list[Any]], str | None]:
    start, end = _window(request)
    series = {s: [quote_json(q) for q in served.market.series(Quote, s, start, end)] for s in symbols}  # type: ignore[arg-type]
    return _page(request, series)


def _trades_page(request: Request, served: Served, symbols: list[str]) -> tuple[dict[str, list[Any]], str | None]:
    start, end = _window(request)
    series = {
        s: [trade_json(t, number=i) for i, t in enumerate(served.market.series(Trade, s, start, end))]  # type: ignore[arg-type]
        for s in symbols
    }
    return _page(request, series)


@attrs.frozen
class _Kind:
    """One kind of market data as the API serves it: its names in answers (``bars``/``bar``), a page of its history
    for some symbols, its latest item for a symbol, and its JSON."""

    plural: str
    singular: str
    page: Callable[[Request, Served, list[str]], tuple[dict[str, list[Any]], str | None]]
    latest: Callable[[MarketHistory, str], MarketData | None]
    encode: Callable[[Any], dict[str, Any]]


_BARS = _Kind("bars", "bar", _bars_page, latest.latest_bar, bar_json)
_QUOTES = _Kind("quotes", "quote", _quotes_page, latest.latest_quote, quote_json)
_TRADES = _Kind("trades", "trade", _trades_page, latest.latest_trade, trade_json)


def _history(kind: _Kind) -> tuple[Handler, Handler]:
    """The handlers of `kind`'s history: for the ``symbols`` asked, and for one symbol in Alpaca's single-symbol
    shape (the list itself, and the symbol)."""

    async def of_symbols(request: Request, served: Served) -> Any:
        page, token = kind.page(request, served, _symbols(request))
        return {kind.plural: page, "next_page_token": token}

    async def of_symbol(request: Request, served: Served) -> Any:
        symbol = request.path_params["symbol"]
        page, token = kind.page(request, served, [symbol])
        return {kind.plural: page.get(symbol, []), "symbol": symbol, "next_page_token": token}

    return of_symbols, of_symbol


def _latest(kind: _Kind) -> tuple[Handler, Handler]:
    """The handlers of `kind`'s latest item: by symbol for the ``symbols`` asked (a symbol with none is left out),
    and for one symbol (404 when it has none)."""

    async def of_symbols(request: Request, served: Served) -> Any:
        found = {s: item for s in _symbols(request) if (item := kind.latest(served.market, s)) is not None}
        return {kind.plural: {s: kind.encode(item) for s, item in found.items()}}

    async def of_symbol(request: Request, served: Served) -> Any:
        symbol = request.path_params["symbol"]
        item = kind.latest(served.market, symbol)
        _known(symbol, item)
        return {"symbol": symbol, kind.singular: kind.encode(item)}

    return of_symbols, of_symbol


def _known(symbol: str, found: object) -> None:
    """404 as Alpaca answers a single-symbol latest request with nothing to tell."""
    if found is None:
        raise ApiError.not_found(f"no data found for {symbol}")


def _snapshot(served: Served, symbol: str) -> dict[str, Any] | None:
    """Alpaca's snapshot of `symbol`: latest trade and quote, the last bar, today's and the previous day's bars;
    None when nothing was delivered for it yet."""
    trade = latest.latest_trade(served.market, symbol)
    quote = latest.latest_quote(served.market, symbol)
    bar = latest.latest_bar(served.market, symbol)
    if trade is None and quote is None and bar is None:
        return None
    days = latest.daily_bars(served.market, symbol, served.timezone)
    return {
        "latestTrade": None if trade is None else trade_json(trade),
        "latestQuote": None if quote is None else quote_json(quote),
        "minuteBar": None if bar is None else bar_json(bar),
        "dailyBar": bar_json(days[-1]) if days else None,
        "prevDailyBar": bar_json(days[-2]) if len(days) > 1 else None,
    }


async def snapshots(request: Request, served: Served) -> Any:
    """Snapshots by symbol (a symbol with no data is left out)."""
    return {s: snap for s in _symbols(request) if (snap := _snapshot(served, s)) is not None}


async def symbol_snapshot(request: Request, served: Served) -> Any:
    symbol = request.path_params["symbol"]
    snap = _snapshot(served, symbol)
    _known(symbol, snap)
    return {"symbol": symbol, **snap}  # type: ignore[dict-item]


def routes() -> list[Route]:
    """The stock market data routes."""
    found: list[Route] = []
    for kind in (_BARS, _QUOTES, _TRADES):
        history, latest_of = _history(kind), _latest(kind)
        found += [
            resource(f"/v2/stocks/{kind.plural}", {"GET": history[0]}),
            resource(f"/v2/stocks/{kind.plural}/latest", {"GET": latest_of[0]}),
            resource(f"/v2/stocks/{{symbol}}/{kind.plural}", {"GET": history[1]}),
            resource(f"/v2/stocks/{{symbol}}/{kind.plural}/latest", {"GET": latest_of[1]}),
        ]
    return [
        *found,
        resource("/v2/stocks/snapshots", {"GET": snapshots}),
        resource("/v2/stocks/{symbol}/snapshot", {"GET": symbol_snapshot}),
    ]
