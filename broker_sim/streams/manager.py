"""PriceStreamManager: fans market data out to subscribers (dashboards, recorders, strategies) and merges sources.

Delivery policy, the same for every subscriber:

* A **sync** callback is called inline, in subscription order; it must be quick. If it raises, the error is
  logged with the subscriber's name and it keeps receiving.
* An **async** callback, and each ``async for`` stream, gets its own bounded queue (`maxsize`, default 10 000)
  drained by its own task, so a slow one never stalls the engine or the others. When its queue is full the
  *oldest* event in it is dropped for that subscriber only, counted in `dropped[name]`, and a warning is logged
  once per 1 000 drops. Other subscribers lose nothing.

Replay sources are merged in time order (`replay`); live sources run concurrently (`run_live`).
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from operator import itemgetter
from typing import Any

from broker_sim.clock import Clock, RealtimeClock
from broker_sim.events import is_async_callable
from broker_sim.models import MarketData, Trade
from broker_sim.streams.base import LiveSource, ReplaySource, blocks_of, chunked

__all__ = ["DEFAULT_MAXSIZE", "PriceStreamManager", "Subscriber"]

log = logging.getLogger(__name__)

DEFAULT_MAXSIZE = 10_000
_DROP_WARNING_EVERY = 1_000
_CLOSED: Any = object()

Subscriber = Callable[[MarketData], Awaitable[None] | None]


class _Queued:
    """An async subscriber: a bounded queue drained by its own task; drops the oldest event when full."""

    __slots__ = ("callback", "manager", "name", "queue", "symbols", "task")

    def __init__(
        self,
        manager: PriceStreamManager,
        name: str,
        symbols: frozenset[str] | None,
        maxsize: int,
        callback: Callable[[MarketData], Awaitable[None]] | None,
    ) -> None:
        self.manager = manager
        self.name = name
        self.symbols = symbols
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.callback = callback
        self.task: asyncio.Task[None] | None = None

    def offer(self, event: Any) -> None:
        queue = self.queue
        if queue.full():
            queue.get_nowait()
            self.manager._count_drop(self.name)
        queue.put_nowait(event)
        if self.callback is not None and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._drain(), name=f"subscriber {self.name}")

    def close(self) -> None:
        """Stop after the events already queued (the oldest is dropped if the queue is full)."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(_CLOSED)

    async def _drain(self) -> None:
        assert self.callback is not None
        while True:
            event = await self.queue.get()
            if event is _CLOSED:
                return
            try:
                await self.callback(event)
            except Exception:
                log.exception("price subscriber %s failed on %s", self.name, type(event).__name__)


class PriceStreamManager:
    """Market data fan-out: sources in, subscribers out. Also the seed's "price stream with callbacks"."""

    def __init__(self, clock: Clock | None = None) -> None:
        #: What stamps `update_price` calls that give no time: the run's clock, or the wall clock by default.
        self.clock: Clock = clock if clock is not None else RealtimeClock()
        self._sync: list[tuple[str, frozenset[str] | None, Callable[[MarketData], Any]]] = []
        self._queued: list[_Queued] = []
        self.sources: list[ReplaySource | LiveSource] = []
        #: Events dropped per subscriber name because its queue was full.
        self.dropped: dict[str, int] = {}
        self.published = 0

    # -- subscribers ----------------------------------------------------------------------------------------

    @property
    def has_subscribers(self) -> bool:
        """Whether anybody listens (the replay skips `publish` entirely when nobody does)."""
        return bool(self._sync or self._queued)

    def subscribe(
        self,
        callback: Subscriber,
        *,
        symbols: Iterable[str] | str | None = None,
        name: str | None = None,
        maxsize: int = DEFAULT_MAXSIZE,
    ) -> Callable[[], None]:
        """Deliver every event (of `symbols`, if given) to `callback`, sync or async; returns unsubscribe."""
        if not callable(callback):
            raise TypeError(f"subscriber must be callable, got {callback!r}")
        label = name or getattr(callback, "__qualname__", None) or repr(callback)
        wanted = _symbols(symbols)
        if is_async_callable(callback):
            entry = _Queued(self, label, wanted, maxsize, callback)  # type: ignore[arg-type]
            self._queued.append(entry)

            def unsubscribe_async() -> None:
                if entry in self._queued:
                    self._queued.remove(entry)
                    entry.close()

            return unsubscribe_async
        record = (label, wanted, callback)
        self._sync.append(record)

        def unsubscribe() -> None:
            if record in self._sync:
                self._sync.remove(record)

        return unsubscribe

    async def stream(
        self, symbols: Iterable[str] | str | None = None, *, maxsize: int = DEFAULT_MAXSIZE, name: str = "stream"
    ) -> AsyncIterator[MarketData]:
        """``async for event in manager.stream(["AAPL"])``: events from now on, until the manager is closed."""
        entry = _Queued(self, name, _symbols(symbols), maxsize, None)
        self._queued.append(entry)
        try:
            while True:
                event = await entry.queue.get()
                if event is _CLOSED:
                    return
                yield event
        finally:
            if entry in self._queued:
                self._queued.remove(entry)

    def publish(self, event: MarketData) -> None:
        """Deliver one event to every subscriber whose symbols match, by the policy in the module docstring."""
        self.published += 1
        symbol = event.symbol
        for label, wanted, callback in self._sync:
            if wanted is None or symbol in wanted:
                try:
                    callback(event)
                except Exception:
                    log.exception("price subscriber %s failed on %s %s", label, type(event).__name__, symbol)
        for entry in self._queued:
            if entry.symbols is None or symbol in entry.symbols:
                entry.offer(event)

    def update_price(self, symbol: str, price: float, timestamp: datetime | None = None, size: float = 0.0) -> None:
        """Publish a price as a `Trade` (the seed's callback API); `timestamp` defaults to the manager's clock's
        now (UTC): the wall clock unless the manager was given another."""
        self.publish(Trade(symbol, timestamp or self.clock.now(), price, size))

    def _count_drop(self, name: str) -> None:
        count = self.dropped.get(name, 0) + 1
        self.dropped[name] = count
        if count % _DROP_WARNING_EVERY == 1:
            log.warning("price subscriber %s is too slow: %d events dropped so far (oldest first)", name, count)

    def close(self) -> None:
        """End every stream and stop the async subscribers once they have drained what they hold."""
        for entry in self._queued:
            entry.close()

    # -- sources --------------------------------------------------------------------------------------------

    def add_source(self, source: ReplaySource | LiveSource) -> None:
        """Add a source; replay sources are merged by `replay()`, live ones consumed by `run_live()`."""
        if not isinstance(source, ReplaySource | LiveSource):
            raise TypeError(f"{source!r} is neither a replay source (timed_events) nor a live one (__aiter__)")
        self.sources.append(source)

    @property
    def live_sources(self) -> list[LiveSource]:
        """The sources that are live only (consumed by `run_live`)."""
        return [s for s in self.sources if isinstance(s, LiveSource) and not isinstance(s, ReplaySource)]

    def replay_blocks(self) -> Iterator[list[tuple[float, MarketData]]]:
        """`replay()` in lists: a lone source's own blocks when it is a `BlockSource`, else merged and chunked."""
        replays = [s for s in self.sources if isinstance(s, ReplaySource)]
        if not replays:
            return iter(())
        if len(replays) == 1:
            return blocks_of(replays[0])
        return chunked(self.replay())

    def replay(self) -> Iterator[tuple[float, MarketData]]:
        """The replay sources' ``(posix_seconds, event)`` pairs merged in time order (stable across sources)."""
        replays = [s for s in self.sources if isinstance(s, ReplaySource)]
        if len(replays) == 1:
            return replays[0].timed_events()
        return heapq.merge(*(s.timed_events() for s in replays), key=itemgetter(0))

    async def run_live(self, on_event: Callable[[MarketData], Any] | None = None, *, publish: bool = True) -> None:
        """Consume every live source concurrently, calling `on_event` (if given) then, with `publish`, publishing
        each event to the subscribers (a caller that publishes itself passes ``publish=False``)."""
        lives = self.live_sources

        async def pump(source: LiveSource) -> None:
            async for event in source:
                if on_event is not None:
                    result = on_event(event)
                    if inspect.isawaitable(result):
                        await result
                if publish:
                    self.publish(event)

        await asyncio.gather(*(pump(s) for s in lives))


def _symbols(symbols: Iterable[str] | str | None) -> frozenset[str] | None:
    if symbols is None:
        return None
    return frozenset([symbols] if isinstance(symbols, str) else symbols)
