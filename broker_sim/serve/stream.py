"""The trade_updates websocket (``/stream``), as Alpaca's: authenticate, listen, then every order event.

Messages in: ``{"action": "authenticate", "data": {"key_id": ..., "secret_key": ...}}`` (or Alpaca's shorter
``{"action": "auth", "key": ..., "secret": ...}``), then ``{"action": "listen", "data": {"streams":
["trade_updates"]}}``. Out: ``{"stream": "authorization", ...}``, ``{"stream": "listening", ...}`` and
``{"stream": "trade_updates", "data": {"event": ..., "order": {...}, "timestamp": ..., "price", "qty",
"position_qty", "execution_id"}}``. Each listener has its own unbounded queue: no event is ever dropped; at
``--speed max`` the replay waits for the slowest listener (`TradeUpdates.backlog`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from broker_sim._text import unencodable_at
from broker_sim.models import EventType, OrderEvent

from .settings import ServeSettings
from .state import Served
from .translate import trade_update_json

__all__ = ["TradeUpdates", "check_keys", "receive_before", "routes"]

_STREAM = "trade_updates"
#: The engine's events Alpaca never sends (https://docs.alpaca.markets/docs/websocket-streaming#trade-updates
#: lists the events it does): a bracket's exit legs wait `held` without a word, and are first heard of when they
#: go `new`; a margin call's liquidation order is heard of by its own order events (``pending_new``, ``new``,
#: ``fill``), not by the engine's ``margin_call`` notice that announces it.
UNSENT_EVENTS = frozenset({EventType.HELD, EventType.MARGIN_CALL})


def check_keys(settings: ServeSettings, key: object, secret: object) -> bool:
    """Whether `key` and `secret` are the server's keys (compared in constant time)."""
    if not isinstance(key, str) or not isinstance(secret, str):
        return False
    return hmac.compare_digest(key.encode(), settings.key_id.encode()) & hmac.compare_digest(
        secret.encode(), settings.secret_key.encode()
    )


async def receive_before(websocket: WebSocket, deadline: float | None) -> Mapping[str, Any]:
    """The client's next message; before it authenticated (`deadline`, loop time), only until the deadline:
    `TimeoutError` then."""
    if deadline is None:
        return await websocket.receive()
    async with asyncio.timeout_at(deadline):
        return await websocket.receive()


def drop_slow(websocket: WebSocket, sender: asyncio.Task[None] | None, unsent: int) -> None:
    """Drop a client that leaves more than `unsent` messages unread: its sender stops, and it is closed (1008,
    "slow client") as soon as its connection can take the close frame."""
    if sender is not None:
        sender.cancel()

    async def close() -> None:
        with contextlib.suppress(Exception):
            await websocket.close(code=1008, reason=f"slow client: more than {unsent} messages unread")

    asyncio.get_running_loop().create_task(close())


class TradeUpdates:
    """The listeners of trade_updates: the broker's events fanned out to one queue per listening socket. A
    listener that leaves more than `ServeSettings.max_unsent` events unread is dropped (its `on_slow` called)."""

    def __init__(self, served: Served) -> None:
        self._queues: dict[asyncio.Queue[OrderEvent], Callable[[], None]] = {}
        self._max_unsent = served.settings.max_unsent
        self._sent = asyncio.Event()
        #: Set whenever a client starts listening (tests and monitors wait on it).
        self.joined = asyncio.Event()
        served.broker.add_listener(self._publish)

    def _publish(self, event: OrderEvent) -> None:
        if event.type in UNSENT_EVENTS:
            return
        slow = []
        for queue in self._queues:
            queue.put_nowait(event)
            if queue.qsize() > self._max_unsent:
                slow.append(queue)
        for queue in slow:
            self._queues.pop(queue)()
            while not queue.empty():  # what it would never read goes now
                queue.get_nowait()

    @property
    def listeners(self) -> int:
        """How many clients listen now."""
        return len(self._queues)

    def backlog(self) -> int:
        """The most events any listener has yet to be sent."""
        return max((queue.qsize() for queue in self._queues), default=0)

    async def drained(self, limit: int) -> None:
        """Return once no listener has more than `limit` events unsent (the replay's back-pressure at max speed)."""
        while self.backlog() > limit:
            self._sent.clear()
            await self._sent.wait()

    def sent(self) -> None:
        """A listener sent an event (wakes `drained`)."""
        self._sent.set()

    def listen(self, on_slow: Callable[[], None] = lambda: None) -> asyncio.Queue[OrderEvent]:
        """A new queue that receives every event from now on, until `forget`, or until it holds more than
        `max_unsent` (then `on_slow()` is called and it is forgotten)."""
        queue: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self._queues[queue] = on_slow
        self.joined.set()
        return queue

    def forget(self, queue: asyncio.Queue[OrderEvent]) -> None:
        """Stop feeding `queue`."""
        self._queues.pop(queue, None)


def _authorization(status: str) -> str:
    return json.dumps({"stream": "authorization", "data": {"action": "authenticate", "status": status}})


async def trade_updates(websocket: WebSocket) -> None:
    """One client of ``/stream``: auth first, then listen; events flow until it disconnects."""
    served: Served = websocket.app.state.served
    hub: TradeUpdates = websocket.app.state.trade_updates
    await websocket.accept()
    authorized = False
    queue: asyncio.Queue[OrderEvent] | None = None
    sender: asyncio.Task[None] | None = None
    deadline: float | None = asyncio.get_running_loop().time() + served.settings.auth_timeout

    def slow() -> None:
        drop_slow(websocket, sender, served.settings.max_unsent)

    try:
        while True:
            try:
                raw = await receive_before(websocket, None if authorized else deadline)
            except TimeoutError:
                await websocket.close(code=1008, reason="auth timeout")
                return
            message = _parse(raw)
            action = message.get("action")
            if action in ("authenticate", "auth"):
                data = message.get("data")
                data = data if isinstance(data, dict) else {}
                key = data.get("key_id", message.get("key"))
                authorized = check_keys(served.settings, key, data.get("secret_key", message.get("secret")))
                await websocket.send_text(_authorization("authorized" if authorized else "unauthorized"))
                if not authorized:
                    await websocket.close(code=1008)
                    return
            elif action == "listen" and authorized:
                data = message.get("data")
                streams = data.get("streams") if isinstance(data, dict) else None
                wanted = [s for s in streams if s == _STREAM] if isinstance(streams, list) else []
                if wanted and queue is None:
                    queue = hub.listen(slow)
                    sender = asyncio.create_task(_send_events(websocket, queue, hub))
                elif not wanted and queue is not None:
                    hub.forget(queue)
                    queue = None
                    if sender is not None:
                        sender.cancel()
                        sender = None
                await websocket.send_text(json.dumps({"stream": "listening", "data": {"streams": wanted}}))
            elif action == "listen":
                await websocket.send_text(_authorization("unauthorized"))
            else:
                await websocket.send_text(
                    json.dumps({"stream": "listening", "data": {"error": "invalid message: expected an action"}})
                )
    except WebSocketDisconnect:
        return
    finally:
        if queue is not None:
            hub.forget(queue)
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender


async def _send_events(websocket: WebSocket, queue: asyncio.Queue[OrderEvent], hub: TradeUpdates) -> None:
    while True:
        event = await queue.get()
        await websocket.send_text(json.dumps({"stream": _STREAM, "data": trade_update_json(event)}))
        hub.sent()


def _parse(message: Mapping[str, Any]) -> dict[str, Any]:
    """A client's message (text or binary JSON) as a mapping; empty if it is not one. Raises
    `WebSocketDisconnect` when the client has gone."""
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text, data = message.get("text"), message.get("bytes")
    raw: str | bytes = text if isinstance(text, str) else data if isinstance(data, bytes) else b""
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    # A message with a string that is not valid text (a lone surrogate) is answered as an invalid one.
    return parsed if isinstance(parsed, dict) and unencodable_at(parsed) is None else {}


def routes() -> list[WebSocketRoute]:
    """The trade_updates websocket routes: ``/stream`` and ``/stream/`` (the older Python SDK,
    alpaca-trade-api, adds the slash)."""
    return [WebSocketRoute("/stream", trade_updates), WebSocketRoute("/stream/", trade_updates)]
