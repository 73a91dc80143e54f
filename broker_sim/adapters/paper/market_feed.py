"""The paper broker's market update: the call a replay makes into the broker for every bar, quote and trade.

It lives apart from `PaperBroker` (which stays pure Python: see CONTRIBUTING, "The compiled build") so that the
compiled build compiles it: the broker hands the replay `MarketFeed.update` as its `update_market_nowait`.
"""

from __future__ import annotations

from typing import Final

from broker_sim.errors import InvalidMarketData
from broker_sim.models import Bar, MarketData, Quote, Trade

from .venue import Venue

__all__ = ["MarketFeed"]

# (Final: the compiled build keeps them in C variables, not looked up in the module's dict per event)
_BAR: Final = Bar
_QUOTE: Final = Quote
_TRADE: Final = Trade


class MarketFeed:
    """Keeps the latest market event per symbol and offers each event to the orders resting on its symbol."""

    def __init__(self, market: dict[str, MarketData], venue: Venue) -> None:
        #: The latest event per symbol (the broker's own dict: its marks, quotes and the venue read it).
        self.market = market
        self.venue = venue
        self.book = venue.book

    def update(self, event: MarketData) -> None:
        """`PaperBroker.update_market_nowait`: with no working order for the symbol this is two dict operations:
        no hook call, no logging. It does not move the clock; a replay moves it to the event's time first.

        A replay does a bar's update itself while `book` is empty (`bar_store_in_line`): change both together, and
        never rebind `market` or `book`."""
        kind = type(event)
        if kind is not _BAR and kind is not _QUOTE and kind is not _TRADE:
            raise InvalidMarketData(f"update_market takes a Bar, Quote or Trade, got {type(event).__name__}")
        symbol = event.symbol
        self.market[symbol] = event
        book = self.book
        # (a test, not ``.get``: no call on the replay's every bar while nothing rests; and none at all while no order
        # ever rested, as market orders under the immediate fill model: compiled, a dict's size is read in line, a
        # lookup is a call. A symbol stays in the book once an order rested on it.)
        if book and symbol in book:
            resting = book[symbol]
            if resting:
                self.venue.offer_resting(resting, event)

    def bar_store_in_line(self, update: object) -> tuple[dict[str, MarketData], dict[str, dict[str, None]]] | None:
        """What a replay may do in place of `update` itself (`broker_sim.run.loop.market_in_line`): when `update` is
        this feed's own `update` (the paper broker's `update_market_nowait` in a replay), the market dict and the
        book: while the book is empty (no order ever rested on any symbol), `update` of a bar is the store
        ``market[bar.symbol] = bar`` alone, which the replay then does without the call (every bar of a run of
        market orders). None for any other `update` (a subclass's, a wrapper's): it is then called."""
        if type(self) is not MarketFeed or update != self.update:
            return None
        return self.market, self.book
