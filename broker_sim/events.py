"""Fan-out of order events to listeners, `events()` iterators and `wait_for` waiters, shared by every adapter.

Policy: nothing is dropped and nobody stalls the broker. Sync listeners are called in order, at once; each async
listener gets its own unbounded queue drained by its own task, so it sees every event in order however slow it
is; `events()` iterators read unbounded queues. A listener that raises is logged with its name and keeps
receiving events.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from broker_sim.models import Order, OrderEvent, OrderStatus

__all__ = ["EventHub", "Listener", "is_async_callable"]

log = logging.getLogger(__name__)

Listener = Callable[[OrderEvent], Awaitable[None] | None]

_CLOSED: Any = object()


def is_async_callable(callback: object) -> bool:
    """Whether calling `callback` gives a coroutine: an ``async def`` or an object with an async ``__call__``."""
    return inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
        getattr(callback, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


def _name(callback: object) -> str:
    return getattr(callback, "__qualname__", None) or repr(callback)


class _AsyncListener:
    """An async listener with its own queue and task, so it sees every event in order without blocking."""

    __slots__ = ("callback", "queue", "task")

    def __init__(self, callback: Callable[[OrderEvent], Awaitable[None]]) -> None:
        self.callback = callback
        self.queue: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def deliver(self, event: OrderEvent) -> None:
        self.queue.put_nowait(event)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._drain(), name=f"listener {_name(self.callback)}")

    async def _drain(self) -> None:
        while True:
            event = await self.queue.get()
            if event is _CLOSED:
                return
            try:
                await self.callback(event)
            except Exception:
                log.exception("order event listener %s failed on %s", _name(self.callback), event.type.value)

    def stop(self) -> None:
        if self.task is not None:
            self.queue.put_nowait(_CLOSED)


class EventHub:
    """Delivers each `OrderEvent` to every listener, iterator and waiter, in publication order. A broker keeps a
    second hub for its `AccountEvent`s (no waiters: `waiter` is for orders).

    When all `publish` would do is call one sync listener (a run's strategies, on the hot path), `sole_listener`
    is that listener: a publisher may call it itself and spare `publish`'s frame (then `publish_rest` if it changed
    meanwhile)."""

    def __init__(self) -> None:
        self._sync: list[Callable[[OrderEvent], Any]] = []
        self._async: list[_AsyncListener] = []
        self._queues: list[asyncio.Queue[OrderEvent]] = []
        self._waiters: dict[str, list[tuple[frozenset[OrderStatus], asyncio.Future[Order]]]] = {}
        self._closed = False
        #: The only one who hears an event when that is a single sync listener (no other listener, iterator or
        #: waiter); else None. Kept current by every change of who listens.
        self.sole_listener: Callable[[OrderEvent], Any] | None = None

    def _recount(self) -> None:
        """Find `sole_listener` again after a change of who listens."""
        only = len(self._sync) == 1 and not (self._async or self._queues or self._waiters)
        self.sole_listener = self._sync[0] if only else None

    def add_listener(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(event)` for every event (a coroutine function runs in its own task); returns unsubscribe."""
        if not callable(callback):
            raise TypeError(f"listener must be callable, got {callback!r}")
        if is_async_callable(callback):
            entry = _AsyncListener(callback)  # type: ignore[arg-type]
            self._async.append(entry)
            self._recount()

            def unsubscribe_async() -> None:
                if entry in self._async:
                    self._async.remove(entry)
                    self._recount()
                    entry.stop()

            return unsubscribe_async
        self._sync.append(callback)
        self._recount()

        def unsubscribe() -> None:
            if callback in self._sync:
                self._sync.remove(callback)
                self._recount()

        return unsubscribe

    async def iterate(self) -> AsyncIterator[OrderEvent]:
        """Yield every event published from now on, in order, until the hub is closed."""
        queue: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self._queues.append(queue)
        self._recount()
        try:
            while True:
                event = await queue.get()
                if event is _CLOSED:
                    return
                yield event
        finally:
            if queue in self._queues:
                self._queues.remove(queue)
                self._recount()

    def waiter(self, order_id: str, statuses: frozenset[OrderStatus]) -> asyncio.Future[Order]:
        """A future resolved with the order's snapshot once it is in one of `statuses` or in a final status."""
        future: asyncio.Future[Order] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(order_id, []).append((statuses, future))
        self.sole_listener = None
        return future

    def drop_waiter(self, order_id: str, future: asyncio.Future[Order]) -> None:
        """Forget a waiter (after it resolved or timed out)."""
        entries = self._waiters.get(order_id)
        if entries:
            entries[:] = [entry for entry in entries if entry[1] is not future]
            if not entries:
                del self._waiters[order_id]
                if not self._waiters:
                    self._recount()

    def publish(self, event: OrderEvent) -> None:
        """Deliver `event` to waiters, sync listeners, async listeners and iterators, in that order."""
        if self._waiters:
            order = event.order
            entries = self._waiters.get(order.id)
            if entries:
                for statuses, future in entries:
                    if not future.done() and (order.status in statuses or order.status.is_final):
                        future.set_result(order)
        sync = self._sync
        if sync:  # (a copy to iterate: a listener may unsubscribe while it is called)
            for callback in tuple(sync):
                try:
                    callback(event)
                except Exception:
                    self.listener_failed(callback, event)
        if self._async or self._queues:
            self.publish_rest(event)

    def publish_rest(self, event: OrderEvent) -> None:
        """What `publish` does after its sync listeners, for a publisher that called `sole_listener` itself and
        finds it changed since: async listeners and iterators added meanwhile hear `event` too, as in `publish`."""
        for entry in self._async:
            entry.deliver(event)
        for queue in self._queues:
            queue.put_nowait(event)

    def listener_failed(self, callback: Callable[[OrderEvent], Any], event: OrderEvent) -> None:
        """Log the exception `callback` raised on `event` (it keeps receiving events)."""
        log.exception("order event listener %s failed on %s", _name(callback), event.type.value)

    def close(self) -> None:
        """End every `iterate()` loop and stop the async listeners' tasks once they have drained."""
        if self._closed:
            return
        self._closed = True
        for queue in self._queues:
            queue.put_nowait(_CLOSED)
        for entry in self._async:
            entry.stop()
