"""Alpaca's REST API over httpx: keys on every request, Alpaca's errors as ours, retries where they are safe.

Only calls that are safe to repeat are retried here (`retry=True`: reads); `AlpacaBroker.submit_order`
runs its own retry, which first asks whether the order already exists under its client order id. Waits between
tries (jittered exponential backoff, or the 429's ``Retry-After``) go through the broker's clock.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from broker_sim.errors import (
    BrokerError,
    DuplicateClientOrderId,
    InvalidOrder,
    InvalidRequest,
    OrderNotCancelable,
    OrderNotFound,
    OrderNotReplaceable,
    PositionNotFound,
    TransientError,
)
from broker_sim.rules.refusals import refusal_for

from .errors import AlpacaError, Forbidden, RateLimited, Unauthorized, VenueUnavailable
from .settings import AlpacaSettings

__all__ = ["AlpacaHttp", "Context", "error_for"]

#: What a request is about, for errors that mean different things on different routes.
Context = str  # "order", "position", "cancel", "replace", "submit", "other"
_CODE_INVALID = 40010001


def error_for(status: int, body: object, context: Context = "other", retry_after: float = 0.0) -> BrokerError:
    """Our error for Alpaca's answer `status` with `body` ({"code": ..., "message": ...}) to a `context` call."""
    code = body.get("code") if isinstance(body, Mapping) else None
    message = str(body.get("message")) if isinstance(body, Mapping) and body.get("message") else ""
    message = message or (str(body) if body else f"HTTP {status}")
    if status == 401:
        return Unauthorized(f"Alpaca refused the keys: {message}", status=status, code=code)
    if context in ("submit", "replace"):
        refusal = refusal_for(status, message)
        if refusal is not None:  # refused at the door: the same error the paper broker raises
            return refusal
    if status == 403:
        return Forbidden(message, status=status, code=code)
    if status == 404:
        if context == "position":
            return PositionNotFound(message)
        return OrderNotFound(message)
    if status == 422 or status == 400:
        lowered = message.lower()
        if "client_order_id" in lowered and ("already" in lowered or "unique" in lowered):
            return DuplicateClientOrderId(message)
        if code != _CODE_INVALID and context == "cancel":
            return OrderNotCancelable(message)
        if code != _CODE_INVALID and context == "replace":
            return OrderNotReplaceable(message)
        if context in ("submit", "replace"):
            return InvalidOrder(message)
        return InvalidRequest(message)
    if status == 429:
        return RateLimited(message, status=status, code=code, retry_after=retry_after)
    if status >= 500:
        return VenueUnavailable(f"Alpaca answered {status}: {message}", status=status, code=code)
    return AlpacaError(f"Alpaca answered {status}: {message}", status=status, code=code)


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else 0.0
    except ValueError:
        return 0.0


class AlpacaHttp:
    """An async client for one account's Trading API: `request` returns the decoded JSON or raises our error."""

    def __init__(
        self,
        settings: AlpacaSettings,
        *,
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._rng = rng
        self._client = httpx.AsyncClient(
            base_url=settings.base_url,
            headers={"APCA-API-KEY-ID": settings.key_id, "APCA-API-SECRET-KEY": settings.secret_key},
            timeout=timeout,
            transport=transport,
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def delay(self, attempt: int) -> float:
        """The jittered exponential backoff before try `attempt` + 1 (full jitter, seconds)."""
        return self.backoff * (2**attempt) * (0.5 + self._rng.random() / 2)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        context: Context = "other",
        retry: bool = False,
    ) -> Any:
        """One call to the API; `retry` repeats it on 429 (after Retry-After), 5xx, timeouts and dropped
        connections up to `retries` times. Raises our error for Alpaca's answer, with Alpaca's message."""
        attempt = 0
        while True:
            try:
                response = await self._client.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                error: BrokerError = VenueUnavailable(f"{method} {path}: no answer from Alpaca ({type(exc).__name__})")
                wait = self.delay(attempt)
            else:
                if response.status_code < 300:
                    return response.json() if response.content else None
                try:
                    body = response.json()
                except ValueError:
                    body = response.text
                retry_after = _retry_after(response)
                error = error_for(response.status_code, body, context, retry_after)
                if not isinstance(error, TransientError):  # the venue answered: asking again cannot help
                    raise error
                wait = retry_after if isinstance(error, RateLimited) and retry_after else self.delay(attempt)
            if not retry or attempt >= self.retries:
                raise error
            attempt += 1
            await self._sleep(wait)
