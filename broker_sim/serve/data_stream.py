"""Alpaca's real-time stock data stream (websocket ``/v2/iex`` and ``/v2/sip``) over the served replay: bars,
quotes and trades reach their subscribers as the clock passes them, in time order, never dropped.

Protocol as Alpaca's: on connect ``[{"T": "success", "msg": "connected"}]``; ``{"action": "auth", "key": ...,
"secret": ...}``; ``{"action": "subscribe", "bars": [...], "quotes": [...], "trades": [...]}`` (``"*"`` for every
symbol) answered by ``[{"T": "subscription", ...}]``; then arrays of ``{"T": "b"|"q"|"t", "S": symbol, ...}``.
A client that connects with ``Content-Type: application/msgpack`` (alpaca-py does) is answered in msgpack, with
timestamps as msgpack Timestamps; any other client in JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import msgpack
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from broker_sim._text import unencodable_at
from broker_sim.models import Bar, MarketData, Quote

from .market_data import bar_json, quote_json, trade_json
from .state import Served
from .stream import check_keys, drop_slow, receive_before

__all__ = ["DataStreams", "routes"]

#: The channels a client may subscribe to, and the message type of each.
CHANNELS = {"trades": "t", "quotes": "q", "bars": "b"}
#: Channels alpaca-py (and Alpaca) name in a subscription answer that the simulator never fills.
_EMPTY_CHANNELS = ("updatedBars", "dailyBars", "statuses", "lulds", "corrections", "cancelErrors")
#: The feeds a client may name in the stream's path; each is the served replay.
FEEDS = ("iex", "sip", "delayed_sip")
#: Messages sent in one frame at most.
MAX_BATCH = 1000


class _Client:
    """One connected client: its subscriptions, its unsent events, its encoding."""

    def __init__(self, packed: bool) -> None:
        self.packed = packed
        self.channels: dict[str, set[str]] = {channel: set() for channel in CHANNELS}
        self.queue: asyncio.Queue[MarketData] = asyncio.Queue()
        #: Called when the client leaves too many events unread (it is dropped).
        self.on_slow: Callable[[], None] = lambda: None

    def wants(self, event: MarketData) -> bool:
        channel = "bars" if event.__class__ is Bar else "quotes" if event.__class__ is Quote else "trades"
        symbols = self.channels[channel]
        return event.symbol in symbols or "*" in symbols


class DataStreams:
    """The data stream's clients: each delivered event goes to every client subscribed to it."""

    def __init__(self, served: Served) -> None:
        self._clients: set[_Client] = set()
        self._max_unsent = served.settings.max_unsent
        self._sent = asyncio.Event()
        #: Set when a client first subscribes (a replay told to wait for its client starts then).
        self.subscribed = asyncio.Event()
        served.market.listeners.append(self._publish)

    def _publish(self, event: MarketData) -> None:
        slow = []
        for client in self._clients:
            if client.wants(event):
                client.queue.put_nowait(event)
                if client.queue.qsize() > self._max_unsent:
                    slow.append(client)
        for client in slow:  # a client that never reads is dropped, not fed without bound
            self._clients.discard(client)
            while not client.queue.empty():
                client.queue.get_nowait()
            client.on_slow()

    def backlog(self) -> int:
        """The most events any client has yet to be sent."""
        return max((client.queue.qsize() for client in self._clients), default=0)

    async def drained(self, limit: int) -> None:
        """Return once no client has more than `limit` events unsent (the replay's back-pressure at max speed)."""
        while self.backlog() > limit:
            self._sent.clear()
            await self._sent.wait()

    async def serve(self, websocket: WebSocket) -> None:
        """One client, from connect to disconnect."""
        served: Served = websocket.app.state.served
        packed = "msgpack" in (websocket.headers.get("content-type") or "")
        client = _Client(packed)
        await websocket.accept()
        sender: asyncio.Task[None] | None = None
        settings = served.settings
        client.on_slow = lambda: drop_slow(websocket, sender, settings.max_unsent)
        deadline = asyncio.get_running_loop().time() + settings.auth_timeout
        try:
            await _send(websocket, packed, [{"T": "success", "msg": "connected"}])
            authorized = False
            while True:
                try:
                    raw = await receive_before(websocket, None if authorized else deadline)
                except TimeoutError:  # Alpaca's error 404
                    await _send(websocket, packed, [{"T": "error", "code": 404, "msg": "auth timeout"}])
                    await websocket.close(code=1008, reason="auth timeout")
                    return
                message = _decode(raw)
                action = message.get("action")
                if action == "auth":
                    if not check_keys(served.settings, message.get("key"), message.get("secret")):
                        await _send(websocket, packed, [{"T": "error", "code": 402, "msg": "auth failed"}])
                        await websocket.close(code=1008)
                        return
                    authorized = True
                    await _send(websocket, packed, [{"T": "success", "msg": "authenticated"}])
                elif action in ("subscribe", "unsubscribe"):
                    if not authorized:
                        await _send(websocket, packed, [{"T": "error", "code": 401, "msg": "not authenticated"}])
                        continue
                    error = _change(client, message, subscribe=action == "subscribe", limit=settings.max_symbols)
                    if error is not None:
                        await _send(websocket, packed, [{"T": "error", "code": error[0], "msg": error[1]}])
                        continue
                    if sender is None:
                        self._clients.add(client)
                        sender = asyncio.create_task(self._send_events(websocket, client))
                    self.subscribed.set()
                    answer = {"T": "subscription", **{c: sorted(s) for c, s in client.channels.items()}}
                    await _send(websocket, packed, [{**answer, **{c: [] for c in _EMPTY_CHANNELS}}])
                else:
                    await _send(websocket, packed, [{"T": "error", "code": 400, "msg": "invalid syntax"}])
        except WebSocketDisconnect:
            return
        finally:
            self._clients.discard(client)
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender

    async def _send_events(self, websocket: WebSocket, client: _Client) -> None:
        while True:
            batch = [await client.queue.get()]
            while not client.queue.empty() and len(batch) < MAX_BATCH:
                batch.append(client.queue.get_nowait())
            await _send(websocket, client.packed, [_message(event, client.packed) for event in batch])
            self._sent.set()


def _message(event: MarketData, packed: bool) -> dict[str, Any]:
    if event.__class__ is Bar:
        body = bar_json(event, packed=packed)
    elif event.__class__ is Quote:
        body = quote_json(event, packed=packed)
    else:
        body = trade_json(event, packed=packed)  # type: ignore[arg-type]
    kind = CHANNELS["bars" if event.__class__ is Bar else "quotes" if event.__class__ is Quote else "trades"]
    return {"T": kind, "S": event.symbol, **body}


def _change(client: _Client, message: Mapping[str, Any], *, subscribe: bool, limit: int) -> tuple[int, str] | None:
    """Apply a (un)subscribe message to `client`; Alpaca's error code and text if it is malformed (400) or would
    take the client past `limit` symbols over its channels (405), then nothing changes."""
    changes: dict[str, list[str]] = {}
    for channel in CHANNELS:
        symbols = message.get(channel)
        if symbols is None:
            continue
        if not isinstance(symbols, list) or not all(isinstance(s, str) and s for s in symbols):
            return 400, f"{channel} must be a list of symbols"
        changes[channel] = symbols
    if subscribe:
        held = sum(len(client.channels[c] | set(changes.get(c, ()))) for c in CHANNELS)
        if held > limit:
            return 405, "symbol limit exceeded"
    for channel, symbols in changes.items():
        if subscribe:
            client.channels[channel].update(symbols)
        else:
            client.channels[channel].difference_update(symbols)
    return None


async def _send(websocket: WebSocket, packed: bool, messages: list[dict[str, Any]]) -> None:
    if packed:
        await websocket.send_bytes(msgpack.packb(messages, datetime=False))
    else:
        await websocket.send_text(json.dumps(messages))


def _decode(message: Mapping[str, Any]) -> dict[str, Any]:
    """A client's message (JSON or msgpack, text or binary) as a mapping; empty if it is not one. Raises
    `WebSocketDisconnect` when the client has gone."""
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text, data = message.get("text"), message.get("bytes")
    parsed: Any = None
    if isinstance(text, str):
        with contextlib.suppress(ValueError, RecursionError):
            parsed = json.loads(text)
    elif isinstance(data, bytes):
        try:
            parsed = msgpack.unpackb(data)
        except Exception:  # not msgpack: maybe JSON in a binary frame
            with contextlib.suppress(ValueError, UnicodeDecodeError, RecursionError):
                parsed = json.loads(data)
    # A message with a string that is not valid text (a lone surrogate) is answered as an invalid one.
    return parsed if isinstance(parsed, dict) and unencodable_at(parsed) is None else {}


async def _serve(websocket: WebSocket) -> None:
    await websocket.app.state.data_streams.serve(websocket)


def routes() -> list[WebSocketRoute]:
    """The data stream routes: ``/v2/iex``, ``/v2/sip`` and ``/v2/delayed_sip`` (one feed: the replay), with or
    without a trailing slash."""
    return [WebSocketRoute(f"/v2/{feed}{slash}", _serve) for feed in FEEDS for slash in ("", "/")]
