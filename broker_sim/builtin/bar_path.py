"""The path a bar's price is assumed to have taken, for the rules that depend on when inside the bar a price
traded: where an order that started working mid-bar came in, and which of two orders crossed in one bar filled
first.

A bar records open, high, low and close, not their order. Like NautilusTrader's bar execution
(https://nautilustrader.io/docs/latest/concepts/backtesting/bar-execution/), the path visits the open, then
the high and the low (``ohlc``: always the high first; ``adaptive``: the extreme nearer the open first), then
the close, in three segments of equal time; the price moves linearly along each. Times are fractions of the
bar's interval: 0 is its start (the open), 1 its end (the close).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Intrabar", "Path"]

_SEGMENT = 1.0 / 3.0


class Intrabar(StrEnum):
    """Which of several prices inside one bar is taken to have traded first.

    ``stop_first`` (the default) assumes the adverse move came first: orders the open already crossed fill at
    the open, then stops, then limits (a bracket whose bar crossed both exits is stopped out). ``ohlc`` and
    ``adaptive`` follow the assumed path (`Path`): O->H->L->C, or O->L->H->C when the open is nearer the low.
    """

    STOP_FIRST = "stop_first"
    OHLC = "ohlc"
    ADAPTIVE = "adaptive"


class Path:
    """A bar's assumed path: four prices at times 0, 1/3, 2/3 and 1, straight lines between them."""

    __slots__ = ("points",)

    def __init__(self, open_: float, high: float, low: float, close: float, intrabar: Intrabar) -> None:
        low_first = intrabar is Intrabar.ADAPTIVE and open_ - low < high - open_
        self.points = (open_, low, high, close) if low_first else (open_, high, low, close)

    def price_at(self, when: float) -> float:
        """The price at time `when` (0..1)."""
        points = self.points
        if when <= 0.0:
            return points[0]
        if when >= 1.0:
            return points[3]
        index = min(int(when / _SEGMENT), 2)
        start = index * _SEGMENT
        a, b = points[index], points[index + 1]
        return a + (b - a) * (when - start) / _SEGMENT

    def extremes(self, since: float) -> tuple[float, float]:
        """(high, low) of the path from time `since` to the bar's end."""
        prices = [self.price_at(since)]
        prices.extend(p for i, p in enumerate(self.points) if i * _SEGMENT > since)
        return max(prices), min(prices)

    def reach(self, since: float, level: float, up: bool) -> float | None:
        """The first time from `since` on when the price is at or above `level` (`up`) or at or below it; None if
        the path never gets there."""
        points = self.points
        when = max(0.0, since)
        price = self.price_at(when)
        if (price >= level) if up else (price <= level):
            return when
        for index in range(min(int(when / _SEGMENT), 2), 3):
            end = (index + 1) * _SEGMENT
            target = points[index + 1]
            if (target >= level) if up else (target <= level):
                return when + (end - when) * (level - price) / (target - price)
            when, price = end, target
        return None
