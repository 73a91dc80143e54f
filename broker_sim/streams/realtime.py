"""A replay source played in real time, as a live source: for a paper session (`broker-sim paper`) on data that
is not a live feed (``synthetic``, a CSV file), and for any run, served or not, with ``prices.clock: realtime``.

Each event is delivered when its offset from the first event has passed on the clock (divided by `speed`), and is
stamped with the moment it is delivered, so the account sees it as a live event of now. With `history_s`, the
replay's first `history_s` seconds are delivered at once, stamped in the wall clock's past (the last of them
now), and the rest plays live from there: a client that asks for "the last N days" from its own clock finds them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import attrs

from broker_sim.clock import Clock
from broker_sim.models import MarketData
from broker_sim.streams.base import ReplaySource

__all__ = ["RealtimeReplay"]


class RealtimeReplay:
    """`source` (a replay source) as a live one on `clock` (a real-time clock), `speed` times faster than its
    own time stamps say (1: as written)."""

    def __init__(self, source: ReplaySource, clock: Clock, *, speed: float = 1.0, history_s: float = 0.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        if not history_s >= 0:
            raise ValueError(f"history_s must be >= 0 seconds, got {history_s!r}")
        self.source = source
        self.clock = clock
        self.speed = float(speed)
        #: The replay's first seconds delivered at once as history, stamped in the past.
        self.history_s = float(history_s)
        self.name = f"{getattr(source, 'name', type(source).__name__)} (real time)"

    @property
    def symbol(self) -> object:
        """The one symbol the wrapped source says it carries (a CSV file's), if it says."""
        return getattr(self.source, "symbol", None)

    @property
    def symbols(self) -> object:
        """The symbols the wrapped source says it carries (synthetic's), if it says."""
        return getattr(self.source, "symbols", None)

    async def __aiter__(self) -> AsyncIterator[MarketData]:
        clock, speed, history = self.clock, self.speed, self.history_s
        first: float | None = None
        began = clock.time()
        for seconds, event in self.source.timed_events():
            if first is None:
                first = seconds
            offset = seconds - first
            if offset <= history:  # history: at once, as far in the past as it is before the history's end
                yield _restamped(event, datetime.fromtimestamp(began - (history - offset), UTC))
                continue
            delay = began + (offset - history) / speed - clock.time()
            if delay > 0:
                await clock.sleep(delay)
            yield _restamped(event, datetime.fromtimestamp(clock.time(), UTC))


def _restamped(event: MarketData, when: datetime) -> MarketData:
    """`event` stamped `when` instead (built by its checked constructor; market data answers `attrs.evolve`, though
    type checkers do not know it: it is not an attrs class, see `broker_sim.models`)."""
    changed: MarketData = attrs.evolve(cast(Any, event), timestamp=when)
    return changed
