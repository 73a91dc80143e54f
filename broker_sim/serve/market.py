"""The market data the served replay has delivered so far, per symbol: what the market data REST answers from.

A sync subscriber of the run's `PriceStreamManager`: the replay publishes each event after the broker saw it, so
the history never runs ahead of the simulated clock. Each symbol keeps its latest `keep` bars, quotes and trades.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from broker_sim.models import Bar, MarketData, Quote, Trade

__all__ = ["MarketHistory"]

#: Events of each kind kept per symbol.
DEFAULT_KEEP = 200_000


class MarketHistory:
    """Bars, quotes and trades per symbol, in time order, as the replay delivered them."""

    def __init__(self, symbols: Iterable[str] = (), keep: int = DEFAULT_KEEP) -> None:
        self.keep = keep
        #: Every symbol the config's sources declare or the replay has delivered.
        self.symbols: set[str] = set(symbols)
        self._series: dict[tuple[type, str], deque[MarketData]] = {}
        #: Called with each event after it is recorded (the data stream's fan-out).
        self.listeners: list[Callable[[MarketData], None]] = []

    def __call__(self, event: MarketData) -> None:
        """Record one delivered event (the `PriceStreamManager` subscriber)."""
        key = (event.__class__, event.symbol)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = deque(maxlen=self.keep)
            self.symbols.add(event.symbol)
        series.append(event)
        for listener in self.listeners:
            listener(event)

    def series(
        self, kind: type[Bar] | type[Quote] | type[Trade], symbol: str, start: datetime | None, end: datetime | None
    ) -> list[MarketData]:
        """The events of `kind` for `symbol` with `start` <= timestamp <= `end` (either open), oldest first."""
        items = self._series.get((kind, symbol))
        if not items:
            return []
        events = list(items)
        stamps = [_stamp(e) for e in events]
        low = 0 if start is None else bisect.bisect_left(stamps, start)
        high = len(events) if end is None else bisect.bisect_right(stamps, end)
        return events[low:high]

    def newest_first(self, kind: type[Bar] | type[Quote] | type[Trade], symbol: str) -> Iterator[MarketData]:
        """The events of `kind` for `symbol`, newest first (lazily: a reader may stop early)."""
        return reversed(self._series.get((kind, symbol), ()))

    def latest(self, kind: type[Bar] | type[Quote] | type[Trade], symbol: str) -> MarketData | None:
        """The latest event of `kind` for `symbol`, or None."""
        items = self._series.get((kind, symbol))
        return items[-1] if items else None


def _stamp(event: MarketData) -> datetime:
    """When an event begins, as Alpaca stamps it: a bar at its start, quotes and trades at their time."""
    return event.start if isinstance(event, Bar) else event.timestamp
