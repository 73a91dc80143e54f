"""The latest market of a symbol as Alpaca's latest and snapshot endpoints tell it, from what the replay delivered.

A source of bars only has no trades or quotes, yet bots and frameworks ask for the "last price" through the
latest trade or quote. The trade is the last bar's close at the bar's end when that bar is newer than the last
trade (the price the paper broker marks positions at); a symbol without any quote gets one with the last
close on both sides (no spread: a bar says nothing of the book; a fill model's slippage applies when an order
fills) and `DERIVED_QUOTE_SIZE` on each side. Daily bars aggregate the exchange day's bars.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from broker_sim.models import Bar, Quote, Trade

from .market import MarketHistory

__all__ = ["DERIVED_QUOTE_SIZE", "daily_bars", "latest_bar", "latest_quote", "latest_trade"]

#: The size (in round lots, as Alpaca counts quote sizes) on each side of a quote derived from a bar.
DERIVED_QUOTE_SIZE = 1.0
_DAY_S = 86_400.0


def latest_bar(market: MarketHistory, symbol: str) -> Bar | None:
    """The symbol's last delivered bar, or None."""
    bar = market.latest(Bar, symbol)
    return bar if isinstance(bar, Bar) else None


def latest_trade(market: MarketHistory, symbol: str) -> Trade | None:
    """The last trade, or the last bar's close at its end when that bar is newer (or there are no trades)."""
    trade = market.latest(Trade, symbol)
    bar = latest_bar(market, symbol)
    if bar is not None and (trade is None or bar.timestamp > trade.timestamp):
        return Trade(symbol, bar.timestamp, bar.close, 0.0)
    return trade if isinstance(trade, Trade) else None


def latest_quote(market: MarketHistory, symbol: str) -> Quote | None:
    """The last quote; for a symbol with no quotes at all, one with the last bar's close on both sides at its
    end (a real quote, even an older one, keeps its spread: a bar says nothing of the book)."""
    quote = market.latest(Quote, symbol)
    if isinstance(quote, Quote):
        return quote
    bar = latest_bar(market, symbol)
    if bar is None:
        return None
    return Quote(symbol, bar.timestamp, bar.close, bar.close, DERIVED_QUOTE_SIZE, DERIVED_QUOTE_SIZE)


def daily_bars(market: MarketHistory, symbol: str, zone: tzinfo | None, days: int = 2) -> list[Bar]:
    """The last `days` exchange days' bars (oldest first), each the day's delivered bars merged, stamped at the
    day's midnight in `zone` as Alpaca stamps daily bars. The latest day may still be going on."""
    by_day: dict[date, list[Bar]] = {}
    for bar in market.newest_first(Bar, symbol):
        assert isinstance(bar, Bar)
        day = bar.start.astimezone(zone or UTC).date()
        if day not in by_day and len(by_day) == days:
            break
        by_day.setdefault(day, []).append(bar)
    return [_merge(symbol, day, reversed(bars), zone or UTC) for day, bars in sorted(by_day.items())]


def _merge(symbol: str, day: date, bars: Iterable[Bar], zone: tzinfo) -> Bar:
    chosen = list(bars)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    return Bar(
        symbol,
        start + timedelta(seconds=_DAY_S),
        chosen[0].open,
        max(b.high for b in chosen),
        min(b.low for b in chosen),
        chosen[-1].close,
        sum(b.volume for b in chosen),
        _DAY_S,
    )
