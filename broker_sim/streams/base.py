"""What a price source is: a replay source iterated synchronously in time order, or a live async source.

Sources are registered by name through the `broker_sim_register` hook (kind ``source``) and built from their
config mapping; the registry passes two wiring keywords besides the user's parameters: `base_dir` (the config
file's folder, for relative paths) and `seed` (the run's seed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Protocol, runtime_checkable

from broker_sim.models import MarketData

__all__ = ["BLOCK_EVENTS", "BlockSource", "LiveSource", "ReplaySource", "blocks_of", "chunked"]

#: Events per block when a replay is handed over in lists.
BLOCK_EVENTS = 4096


@runtime_checkable
class ReplaySource(Protocol):
    """A finite source replayed as fast as the CPU allows (CSV files, synthetic data)."""

    #: A short label for messages and progress ("csv data/AAPL.csv").
    name: str

    def timed_events(self) -> Iterator[tuple[float, MarketData]]:
        """Yield ``(posix_seconds, event)`` in non-decreasing time order; raises `DataError` on bad data."""
        ...


@runtime_checkable
class LiveSource(Protocol):
    """An endless source of live events (a websocket feed), consumed with ``async for``."""

    name: str

    def __aiter__(self) -> AsyncIterator[MarketData]:
        """Yield events as they arrive, reconnecting as the source's policy says."""
        ...


@runtime_checkable
class BlockSource(ReplaySource, Protocol):
    """A replay source that hands its events over in lists itself (cheaper than pair by pair)."""

    def timed_blocks(self) -> Iterator[list[tuple[float, MarketData]]]:
        """`timed_events` in lists of about `BLOCK_EVENTS`."""
        ...


def blocks_of(source: ReplaySource) -> Iterator[list[tuple[float, MarketData]]]:
    """`source`'s events in lists: its own blocks when it is a `BlockSource`, else its pairs `chunked`."""
    return source.timed_blocks() if isinstance(source, BlockSource) else chunked(source.timed_events())


def chunked(
    pairs: Iterator[tuple[float, MarketData]], size: int = BLOCK_EVENTS
) -> Iterator[list[tuple[float, MarketData]]]:
    """Group ``(posix_seconds, event)`` pairs into lists of `size`: the replay loop takes blocks, not events.

    If `pairs` raises, the pairs read before the error are delivered first, then the error.
    """
    chunk: list[tuple[float, MarketData]] = []
    try:
        for pair in pairs:
            chunk.append(pair)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    except Exception:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk
