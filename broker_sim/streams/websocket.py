"""The `websocket` price source: live bars, quotes or trades from a JSON websocket feed, reconnecting on drops.

A message is a JSON object or an array of objects, one event each. `fields` maps our field names to the
message's keys (``{symbol: S, price: p, timestamp: t}``); fields not mapped are read from the same-named key.
Timestamps are ISO-8601 (an offset, or `timezone` when there is none) or epoch numbers (`timestamp_unit`: s,
ms, us, ns, or auto by magnitude). Sizes and volume are optional (then 0).

A malformed message (bad JSON, a missing key, a non-finite or negative number, an impossible bar or quote) is
skipped with a warning naming the feed, the reason and the message, and counted in ``stats["bad_messages"]``:
one bad print must not end a live session. Connection drops are retried with exponential backoff on the
source's clock, so tests on a `SimulatedClock` spend no wall time waiting.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedOK, WebSocketException

from broker_sim.clock import Clock, RealtimeClock
from broker_sim.errors import ConfigError, DataError
from broker_sim.models import Bar, MarketData, Quote, Trade
from broker_sim.streams._parse import (
    PRICE_FIELDS,
    check_timestamp_unit,
    parse_number,
    parse_timestamp,
    timezone_named,
)

__all__ = ["WebSocketSource"]

log = logging.getLogger(__name__)

#: Per kind: the event class, its value fields in constructor order, and which of them may be missing (then 0).
_KINDS: dict[str, tuple[type[Bar] | type[Quote] | type[Trade], tuple[str, ...], frozenset[str]]] = {
    "bar": (Bar, ("open", "high", "low", "close", "volume"), frozenset({"volume"})),
    "quote": (Quote, ("bid", "ask", "bid_size", "ask_size"), frozenset({"bid_size", "ask_size"})),
    "trade": (Trade, ("price", "size"), frozenset({"size"})),
}
#: How much of a bad message a warning quotes.
_LOGGED_MESSAGE_CHARS = 200
#: Each backoff wait is scaled by a uniform draw in [1 - j, 1 + j], so many clients don't reconnect in step.
_BACKOFF_JITTER = 0.1
#: Failures that mean "the connection is gone or could not be made", as opposed to bugs in our code.
_CONNECTION_ERRORS = (OSError, WebSocketException)


class _BadMessage(Exception):
    """One message (or one object of an array) cannot become an event; the text says why."""


def _check_backoff(name: str, value: object, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{name} must be a finite number >= {minimum:g}, got {value!r}")
    return float(value)


class WebSocketSource:
    """Market data from a websocket feed of JSON messages, consumed with ``async for``.

    `stats` counts ``messages`` received, ``events`` yielded, ``bad_messages`` skipped (each bad object of an
    array counts once) and ``reconnects`` (connections re-established after a drop).

    Reconnection (`reconnect=True`): after a drop or a failed connect, wait `backoff_initial` seconds on `clock`,
    then `backoff_factor` times longer after each further failure in a row, at most `backoff_max`, each wait
    jittered by +-10%. A connection that delivered a message resets the backoff. After `max_retries` failures
    in a row (connections that failed or delivered nothing) iteration raises `DataError`. With
    `reconnect=False` iteration ends when the server closes normally and raises `DataError` on any other
    connection failure.
    """

    def __init__(
        self,
        url: str,
        *,
        kind: str = "trade",
        fields: Mapping[str, str] | None = None,
        symbols: Sequence[str] | None = None,
        symbol: str | None = None,
        subscribe: Any = None,
        timestamp_unit: str = "auto",
        timezone: str = "UTC",
        reconnect: bool = True,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        backoff_factor: float = 2.0,
        max_retries: int | None = None,
        clock: Clock | None = None,
        base_dir: Any = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme.lower() not in ("ws", "wss") or not urlsplit(url).netloc:
            raise ConfigError(f"url must be a ws:// or wss:// address, got {url!r}")
        if kind not in _KINDS:
            raise ConfigError(f"kind must be one of {', '.join(_KINDS)}; got {kind!r}")
        check_timestamp_unit(timestamp_unit)
        self.timezone = timezone_named(timezone)
        known = {"symbol", "timestamp", *_KINDS[kind][1]}
        fields = dict(fields or {})
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ConfigError(
                f"fields: unknown field {', '.join(map(repr, unknown))}; valid: {', '.join(sorted(known))}"
            )
        bad_keys = {field: key for field, key in fields.items() if not isinstance(key, str) or not key}
        if bad_keys:
            raise ConfigError(f"fields: each JSON key must be a non-empty string, got {bad_keys!r}")
        if symbol is not None and (not isinstance(symbol, str) or not symbol):
            raise ConfigError(f"symbol must be a non-empty string, got {symbol!r}")
        if isinstance(symbols, str):
            symbols = [symbols]
        if symbols is not None and not all(isinstance(s, str) and s for s in symbols):
            raise ConfigError(f"symbols must be a list of non-empty strings, got {symbols!r}")
        if subscribe is not None:
            try:
                json.dumps(subscribe)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"subscribe must be JSON-serialisable ({exc}), got {subscribe!r}") from None
        self.backoff_initial = _check_backoff("backoff_initial", backoff_initial, 0.0)
        self.backoff_max = _check_backoff("backoff_max", backoff_max, 0.0)
        self.backoff_factor = _check_backoff("backoff_factor", backoff_factor, 1.0)
        if max_retries is not None and (isinstance(max_retries, bool) or not isinstance(max_retries, int)):
            raise ConfigError(f"max_retries must be an integer >= 1 or None (retry forever), got {max_retries!r}")
        if max_retries is not None and max_retries < 1:
            raise ConfigError(f"max_retries must be >= 1 or None (retry forever), got {max_retries!r}")

        self.url = url
        self.kind = kind
        self.fields = fields
        self.symbols = frozenset(symbols) if symbols is not None else None
        self.symbol = symbol
        self.subscribe = subscribe
        self.timestamp_unit = timestamp_unit
        self.reconnect = bool(reconnect)
        self.max_retries = max_retries
        self.name = f"websocket {url}"
        self.stats: dict[str, int] = {"messages": 0, "events": 0, "bad_messages": 0, "reconnects": 0}
        self._clock: Clock = clock if clock is not None else RealtimeClock()
        self._rng = random.Random(f"{seed}:websocket")
        event_class, value_fields, optional = _KINDS[kind]
        self._event_class = event_class
        # (field, JSON key, optional) per value field, resolved once rather than per message.
        self._value_keys = [(field, fields.get(field, field), field in optional) for field in value_fields]
        self._symbol_key = fields.get("symbol", "symbol")
        self._timestamp_key = fields.get("timestamp", "timestamp")

    # -- iteration ------------------------------------------------------------------------------------------

    async def __aiter__(self) -> AsyncIterator[MarketData]:
        """Yield events as they arrive; reconnect, end or raise `DataError` as the constructor's policy says."""
        failures = 0  # connections in a row that failed or delivered nothing: counted against max_retries
        waits = 0  # backoff waits since the last connection that delivered a message
        connected_before = False
        while True:
            delivered = False
            error: BaseException | None = None
            connection: ClientConnection | None = None
            try:
                connection = await connect(self.url)
            except _CONNECTION_ERRORS as exc:
                error = exc
            if connection is not None:
                if connected_before:
                    self.stats["reconnects"] += 1
                connected_before = True
                try:
                    if self.subscribe is not None:
                        await connection.send(json.dumps(self.subscribe))
                    while True:
                        try:
                            raw = await connection.recv()
                        except ConnectionClosedOK:
                            break
                        self.stats["messages"] += 1
                        delivered = True
                        for event in self._events_from(raw):
                            yield event
                except _CONNECTION_ERRORS as exc:
                    error = exc
                finally:
                    await connection.close()

            if not self.reconnect:
                if error is None:
                    return
                raise DataError(f"{self.name}: connection failed: {_describe(error)}") from error
            if delivered:
                failures = waits = 0
            else:
                failures += 1
                if self.max_retries is not None and failures >= self.max_retries:
                    last = _describe(error) if error is not None else "the server closed without sending a message"
                    raise DataError(
                        f"{self.name}: gave up after {failures} failed connection(s) in a row; last error: {last}"
                    ) from error
            delay = self._backoff(waits)
            waits += 1
            log.info("%s: connection lost (%s); reconnecting in %.2f s", self.name, _describe(error), delay)
            await self._clock.sleep(delay)

    def _backoff(self, waits: int) -> float:
        """Seconds to wait before the next connect, after `waits` waits with no message in between."""
        # Stop multiplying once at the cap, so a long outage cannot overflow.
        base = self.backoff_initial
        for _ in range(waits):
            base *= self.backoff_factor
            if base >= self.backoff_max:
                break
        base = min(base, self.backoff_max)
        return base * self._rng.uniform(1.0 - _BACKOFF_JITTER, 1.0 + _BACKOFF_JITTER)

    # -- messages -------------------------------------------------------------------------------------------

    def _events_from(self, raw: str | bytes) -> list[MarketData]:
        """The events in one message, after the symbols filter; bad parts are logged, counted and skipped."""
        try:
            payload = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            self._skip(raw, f"not JSON: {exc}")
            return []
        items = payload if isinstance(payload, list) else [payload]
        events: list[MarketData] = []
        for item in items:
            try:
                event = self._event(item)
            except _BadMessage as exc:
                self._skip(raw if item is payload else json.dumps(item), str(exc))
                continue
            if self.symbols is None or event.symbol in self.symbols:
                events.append(event)
        self.stats["events"] += len(events)
        return events

    def _event(self, item: object) -> MarketData:
        if not isinstance(item, dict):
            raise _BadMessage(f"expected a JSON object, got {type(item).__name__}")
        try:
            symbol = item.get(self._symbol_key, self.symbol)
            if symbol is None:
                raise _BadMessage(f"missing key {self._symbol_key!r} (the symbol) and no fixed symbol is set")
            if self._timestamp_key not in item:
                raise _BadMessage(f"missing key {self._timestamp_key!r} (the timestamp)")
            seconds = parse_timestamp(item[self._timestamp_key], unit=self.timestamp_unit, timezone=self.timezone)
            timestamp = datetime.fromtimestamp(seconds, UTC)
            values = []
            for field, key, optional in self._value_keys:
                if key not in item or item[key] is None:
                    if optional:
                        values.append(0.0)
                        continue
                    raise _BadMessage(f"missing key {key!r} ({field})")
                values.append(parse_number(item[key], field, positive=field in PRICE_FIELDS))
            return self._event_class(symbol, timestamp, *values)
        except _BadMessage:
            raise
        except (ValueError, TypeError, OverflowError, OSError) as exc:  # InvalidMarketData is a ValueError
            raise _BadMessage(str(exc)) from exc

    def _skip(self, raw: str | bytes, reason: str) -> None:
        self.stats["bad_messages"] += 1
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if len(text) > _LOGGED_MESSAGE_CHARS:
            text = text[:_LOGGED_MESSAGE_CHARS] + "..."
        log.warning("%s: skipped a bad message (%s): %s", self.name, reason, text)


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "closed by the server"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
