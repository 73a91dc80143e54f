"""The ASGI app: the Trading API and the streams behind one guard (keys, body size, request rate).

`create_app(served)` is what `broker-sim serve` hands to uvicorn; tests and notebooks can serve it themselves.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from broker_sim.clock import RealtimeClock

from . import configurations, data_stream, history, market_data, markets, openapi, stream, trading, watchlists
from .errors import CODE_RATE_LIMIT, CODE_TOO_LARGE, CODE_UNAUTHORIZED, ApiError
from .state import Served

__all__ = ["create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_KEY_HEADER = b"apca-api-key-id"
_SECRET_HEADER = b"apca-api-secret-key"


class Guard:
    """ASGI middleware in front of every HTTP request: the API keys (401), the body size (413) and the request
    rate per key (429 with Retry-After). Websockets check their keys in their auth message instead."""

    def __init__(self, app: ASGIApp, served: Served, *, wall: RealtimeClock | None = None) -> None:
        self.app = app
        self.settings = served.settings
        self.wall = wall or RealtimeClock()
        #: Token buckets per key: (tokens, last refill, wall seconds).
        self._buckets: dict[bytes, tuple[float, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key, secret = headers.get(_KEY_HEADER), headers.get(_SECRET_HEADER)
        if not self._authorized(key, secret):
            await _answer(send, 401, {"code": CODE_UNAUTHORIZED, "message": "request is not authorized"})
            return
        retry_after = self._throttle(key or b"")
        if retry_after is not None:
            await _answer(
                send,
                429,
                {"code": CODE_RATE_LIMIT, "message": "rate limit exceeded"},
                ((b"retry-after", str(retry_after).encode()),),
            )
            return
        limit = self.settings.max_body_bytes
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _answer(send, 413, _too_large(limit))
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # a body without a length, larger than it may be: the route answers 413
                raise ApiError(413, CODE_TOO_LARGE, _too_large(limit)["message"])
            return message

        await self.app(scope, limited, send)

    def _authorized(self, key: bytes | None, secret: bytes | None) -> bool:
        if key is None or secret is None:
            return False
        return hmac.compare_digest(key, self.settings.key_id.encode()) & hmac.compare_digest(
            secret, self.settings.secret_key.encode()
        )

    def _throttle(self, key: bytes) -> int | None:
        """None if the request may go on, else the seconds to wait (a token bucket of `rate_limit` per minute)."""
        rate = self.settings.rate_limit
        if rate is None:
            return None
        now = self.wall.time()
        tokens, last = self._buckets.get(key, (rate, now))
        tokens = min(rate, tokens + (now - last) * rate / 60.0)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return max(1, int((1.0 - tokens) * 60.0 / rate + 0.999))
        self._buckets[key] = (tokens - 1.0, now)
        return None


def _too_large(limit: int) -> dict[str, Any]:
    return {"code": CODE_TOO_LARGE, "message": f"request body is larger than {limit} bytes"}


async def _answer(send: Send, status: int, body: dict[str, Any], headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        body = ApiError.not_found("endpoint not found").body
    elif exc.status_code == 405:
        body = {"code": 40510000, "message": "method not allowed"}
    else:
        body = {"code": exc.status_code * 100000, "message": str(exc.detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"code": 50010000, "message": "internal server error"}, status_code=500)


def create_app(served: Served) -> Any:
    """The ASGI app serving `served`: the Trading API, trade_updates (/stream), market data and its OpenAPI
    document (/openapi.json)."""
    app = Starlette(
        routes=[
            *trading.routes(),
            *history.routes(),
            *configurations.routes(),
            *markets.routes(),
            *watchlists.routes(),
            *stream.routes(),
            *market_data.routes(),
            *data_stream.routes(),
            *openapi.routes(),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    # Starlette answers a path with a trailing slash by a 307 to the path without it, and clients follow a 307
    # with the same method: `DELETE /v2/orders/{id}` with an empty id would cancel every order. Alpaca answers
    # such a path 404, and so does this server: no redirect, for any method.
    app.router.redirect_slashes = False
    app.state.served = served
    app.state.trade_updates = stream.TradeUpdates(served)
    app.state.data_streams = data_stream.DataStreams(served)
    app.state.watchlists = watchlists.Watchlists(served)
    app.state.configurations = configurations.Configurations(served)
    served.hubs.extend((app.state.trade_updates, app.state.data_streams))
    return Guard(app, served)
