"""A trade_updates stream on 127.0.0.1 for the adapter's tests: Alpaca's handshake (auth, listen), then the updates
a test tells it, when the test chooses (before a REST answer, twice, after a resync). The adapter hears them over
its ordinary connection, as it would hear Alpaca's stream; the REST side is httpx's `MockTransport`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from broker_sim import OrderEvent
from broker_sim.adapters.alpaca import AlpacaBroker

#: A safety net, in wall seconds, for waits that complete in milliseconds: a broken adapter fails, not hangs.
WALL_LIMIT_S = 20.0


class TradeUpdatesFeed:
    """The venue's side of one trade_updates stream. `tell` sends updates to every listening connection and
    returns once the adapter has handled them."""

    def __init__(self, marker_order: Mapping[str, Any]) -> None:
        #: An order entity the feed copies (with a fresh id) for the `new` update that ends each `tell`.
        self.marker_order = dict(marker_order)
        self.url = ""
        self._listening: set[ServerConnection] = set()
        self._markers = itertools.count()

    async def _serve(self, connection: ServerConnection) -> None:
        async for raw in connection:
            message = json.loads(raw)
            if message.get("action") == "auth":
                await connection.send(json.dumps({"stream": "authorization", "data": {"status": "authorized"}}))
            elif message.get("action") == "listen":
                streams = message["data"]["streams"]
                self._listening.add(connection)  # before the answer: the adapter may be told things at once
                await connection.send(json.dumps({"stream": "listening", "data": {"streams": streams}}))
        self._listening.discard(connection)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TradeUpdatesFeed]:
        """Serve on a free port (`url`) until the block ends."""
        async with serve(self._serve, "127.0.0.1", 0) as server:
            self.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/stream"
            yield self

    async def tell(self, broker: AlpacaBroker, *updates: Mapping[str, Any]) -> None:
        """Send `updates` (trade_updates ``data``) in order, then a `new` update of an order of the feed's own, and
        wait until `broker` publishes that one: the stream is handled in order, so every update before it was
        handled too (published, or dropped as a repeat or a stale report)."""
        marker_id = f"feed-marker-{next(self._markers)}"
        marker = {**self.marker_order, "id": marker_id, "client_order_id": marker_id, "status": "new"}
        heard: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def hear(event: OrderEvent) -> None:
            if event.order.id == marker_id and not heard.done():
                heard.set_result(None)

        unsubscribe = broker.add_listener(hear)
        try:
            messages = [*updates, {"event": "new", "order": marker, "timestamp": marker["updated_at"]}]
            for data in messages:
                for connection in tuple(self._listening):
                    await connection.send(json.dumps({"stream": "trade_updates", "data": data}))
            await asyncio.wait_for(heard, WALL_LIMIT_S)
        finally:
            unsubscribe()
