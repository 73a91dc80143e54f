"""The trade_updates websocket: authenticate, listen, hand each update on; reconnect after any drop.

`TradeUpdatesStream.run` keeps one connection alive until `stop`: after a drop it waits a jittered, growing
backoff on the broker's clock, connects again, re-authenticates, re-listens and then calls `on_gap` (the broker
re-reads its orders and fills there) before reading new updates, so nothing that happened in between is missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import websockets
from websockets.exceptions import WebSocketException

from broker_sim.clock import Clock

from .errors import Unauthorized, VenueUnavailable
from .settings import AlpacaSettings

__all__ = ["TradeUpdatesStream"]

_STREAM = "trade_updates"
log = logging.getLogger(__name__)


class TradeUpdatesStream:
    """One account's trade_updates stream; `on_update` gets each update's ``data``, `on_gap` runs after a
    reconnect. `connections` counts successful (authorized, listening) connections."""

    def __init__(
        self,
        settings: AlpacaSettings,
        *,
        clock: Clock,
        rng: random.Random,
        on_update: Callable[[Mapping[str, Any]], Awaitable[None]],
        on_gap: Callable[[], Awaitable[None]],
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.open_timeout = open_timeout
        self.connections = 0
        self._rng = rng
        self._on_update = on_update
        self._on_gap = on_gap
        self._stopped = False
        self._socket: Any = None
        self._listening: asyncio.Future[None] | None = None

    def delay(self, attempt: int) -> float:
        """The wait before reconnect number `attempt` + 1: exponential, capped, with jitter in [50 %, 100 %]."""
        return min(self.backoff * 2**attempt, self.max_backoff) * (0.5 + self._rng.random() / 2)

    async def start(self) -> asyncio.Task[None]:
        """Connect, authenticate and listen (raising `Unauthorized` or `VenueUnavailable` if the first try
        fails), then keep the stream alive in a task."""
        loop = asyncio.get_running_loop()
        self._listening = loop.create_future()
        task = asyncio.create_task(self.run(), name="alpaca-trade-updates")
        try:
            await asyncio.shield(self._listening)
        except BaseException:
            task.cancel()
            raise
        return task

    def stop(self) -> None:
        """End `run` after the current connection (cancel its task to close that connection at once)."""
        self._stopped = True

    async def drop(self) -> None:
        """Close the current connection as a network fault would (the stream reconnects)."""
        if self._socket is not None:
            await self._socket.close()

    async def run(self) -> None:
        """Read updates until `stop`, reconnecting after every drop."""
        attempt = 0
        while not self._stopped:
            try:
                async with websockets.connect(
                    self.settings.stream_url, open_timeout=self.open_timeout, max_size=2**24
                ) as socket:
                    self._socket = socket
                    await self._handshake(socket)
                    attempt = 0
                    self.connections += 1
                    if self.connections > 1:
                        await self._on_gap()
                    self._ready(None)
                    async for raw in socket:
                        await self._handle(raw)
            except Unauthorized as exc:
                if not self._ready(exc):
                    log.error("%s; the stream stays closed (fix the keys and reconnect)", exc)
                return
            except (OSError, TimeoutError, WebSocketException, VenueUnavailable) as exc:
                failure = VenueUnavailable(f"trade_updates stream {self.settings.stream_url}: {exc!r}")
                if self._ready(failure):
                    return
            finally:
                self._socket = None
            if self._stopped:
                return
            await self.clock.sleep(self.delay(attempt))
            attempt += 1

    def _ready(self, error: BaseException | None) -> bool:
        """Resolve `start`'s wait (with `error` if the first connection failed); True if this resolved it."""
        future = self._listening
        if future is None or future.done():
            return False
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
        return True

    async def _handshake(self, socket: Any) -> None:
        auth = {"action": "auth", "key": self.settings.key_id, "secret": self.settings.secret_key}
        await socket.send(json.dumps(auth))
        reply = await self._control(socket, "authorization")
        if reply.get("status") != "authorized":
            raise Unauthorized(f"the trade_updates stream refused the keys: {reply!r}", status=401)
        await socket.send(json.dumps({"action": "listen", "data": {"streams": [_STREAM]}}))
        reply = await self._control(socket, "listening")
        if _STREAM not in (reply.get("streams") or ()):
            raise VenueUnavailable(f"the stream did not listen to {_STREAM}: {reply!r}")

    async def _control(self, socket: Any, stream: str) -> Mapping[str, Any]:
        """Wait for the control message of `stream` (updates that come first are handled in order)."""
        while True:
            message = _decode(await asyncio.wait_for(socket.recv(), self.open_timeout))
            if message.get("stream") == stream:
                data = message.get("data")
                return data if isinstance(data, Mapping) else {}
            await self._dispatch(message)

    async def _handle(self, raw: str | bytes) -> None:
        await self._dispatch(_decode(raw))

    async def _dispatch(self, message: Mapping[str, Any]) -> None:
        if message.get("stream") == _STREAM and isinstance(message.get("data"), Mapping):
            await self._on_update(message["data"])


def _decode(raw: str | bytes) -> Mapping[str, Any]:
    """A stream message (Alpaca sends JSON as text or binary frames)."""
    try:
        message = json.loads(raw)
    except ValueError:
        raise VenueUnavailable(f"the trade_updates stream sent something that is not JSON: {raw[:200]!r}") from None
    return message if isinstance(message, Mapping) else {}
