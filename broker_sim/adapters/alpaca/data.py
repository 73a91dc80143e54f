"""The `alpaca` price source: bars, quotes and trades from Alpaca's real-time stock data stream, for live runs.

Protocol as Alpaca's (``wss://stream.data.alpaca.markets/v2/{feed}``): ``[{"T": "success", "msg": "connected"}]``,
then ``{"action": "auth", ...}``, then ``{"action": "subscribe", "bars": [...], ...}``; events come in arrays of
``{"T": "b"|"q"|"t", "S": symbol, ...}``. Alpaca stamps a bar with its start; our `Bar` carries its end, so a
bar's timestamp is ``t + interval``. A dropped connection is re-established after a jittered backoff on the
clock. Keys and URL come from the config or from APCA_API_KEY_ID / APCA_API_SECRET_KEY / APCA_API_DATA_URL.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.exceptions import WebSocketException

from broker_sim import alpaca_wire
from broker_sim.clock import Clock, RealtimeClock
from broker_sim.errors import ConfigError, DataError
from broker_sim.models import Bar, MarketData, Quote, Trade

from .errors import Unauthorized

__all__ = ["DATA_URL", "AlpacaDataSource"]

DATA_URL = "wss://stream.data.alpaca.markets"
_CHANNELS = ("bars", "quotes", "trades")


class AlpacaDataSource:
    """A live source of `symbols`' bars (and, if asked, quotes and trades) from Alpaca's `feed` (iex or sip);
    endless, or ending after `limit` events."""

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        bars: bool = True,
        quotes: bool = False,
        trades: bool = False,
        feed: str = "iex",
        data_url: str | None = None,
        key_id: str | None = None,
        secret_key: str | None = None,
        interval: float = 60.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        clock: Clock | None = None,
        base_dir: Any = None,
        seed: int | None = None,
        limit: int | None = None,
    ) -> None:
        if isinstance(symbols, str) or not symbols or not all(isinstance(s, str) and s for s in symbols):
            raise ConfigError(f"symbols must be a non-empty list of symbols, got {symbols!r}")
        if feed not in ("iex", "sip"):
            raise ConfigError(f"feed must be iex or sip, got {feed!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ConfigError(f"limit must be a whole number >= 1 (events before the source ends), got {limit!r}")
        self.limit = limit
        if not (bars or quotes or trades):
            raise ConfigError("subscribe to at least one of bars, quotes, trades")
        url = data_url or os.environ.get("APCA_API_DATA_URL") or DATA_URL
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise ConfigError(f"data_url must be a ws(s) URL, got {url!r}")
        self.key_id = key_id or os.environ.get("APCA_API_KEY_ID")
        self.secret_key = secret_key or os.environ.get("APCA_API_SECRET_KEY")
        if not self.key_id or not self.secret_key:
            raise ConfigError(
                "source 'alpaca' needs key_id and secret_key (or APCA_API_KEY_ID and APCA_API_SECRET_KEY)"
            )
        self.url = f"{url.rstrip('/')}/v2/{feed}"
        #: How reports and warnings name this source.
        self.name = f"alpaca {feed} {','.join(symbols)}"
        self.symbols = list(symbols)
        wanted = {"bars": bars, "quotes": quotes, "trades": trades}
        self.subscription = {channel: self.symbols for channel in _CHANNELS if wanted[channel]}
        self.interval = float(interval)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.clock = clock or RealtimeClock()
        self._rng = random.Random(seed)
        #: Connections made (authenticated and subscribed).
        self.connections = 0

    async def __aiter__(self) -> AsyncIterator[MarketData]:
        attempt = 0
        delivered = 0
        while True:
            try:
                async with websockets.connect(self.url, max_size=2**24) as socket:
                    await self._handshake(socket)
                    attempt = 0
                    self.connections += 1
                    async for raw in socket:
                        for event in self._events(raw):
                            yield event
                            delivered += 1
                            if self.limit is not None and delivered >= self.limit:
                                return
            except (OSError, TimeoutError, WebSocketException):
                pass
            delay = min(self.backoff * 2**attempt, self.max_backoff) * (0.5 + self._rng.random() / 2)
            await self.clock.sleep(delay)
            attempt += 1

    async def _handshake(self, socket: Any) -> None:
        await self._expect(socket, "success")
        await socket.send(json.dumps({"action": "auth", "key": self.key_id, "secret": self.secret_key}))
        reply = await self._expect(socket, "success", "error")
        if reply.get("T") == "error":
            raise Unauthorized(f"Alpaca's data stream refused the keys: {reply.get('msg')}", status=401)
        await socket.send(json.dumps({"action": "subscribe", **self.subscription}))
        await self._expect(socket, "subscription")

    @staticmethod
    async def _expect(socket: Any, *kinds: str) -> Mapping[str, Any]:
        while True:
            for message in _decode(await socket.recv()):
                if message.get("T") in kinds:
                    return message

    def _events(self, raw: str | bytes) -> list[MarketData]:
        events: list[MarketData] = []
        for message in _decode(raw):
            kind = message.get("T")
            if kind not in ("b", "q", "t"):
                continue
            try:
                symbol = str(message["S"])
                when = alpaca_wire.parse_time(message["t"], "t")
                if kind == "b":
                    events.append(
                        Bar(
                            symbol,
                            when + timedelta(seconds=self.interval),
                            _float(message["o"]),
                            _float(message["h"]),
                            _float(message["l"]),
                            _float(message["c"]),
                            _float(message.get("v", 0)),
                            self.interval,
                        )
                    )
                elif kind == "q":
                    events.append(
                        Quote(
                            symbol,
                            when,
                            _float(message["bp"]),
                            _float(message["ap"]),
                            _float(message.get("bs", 0)),
                            _float(message.get("as", 0)),
                        )
                    )
                else:
                    events.append(Trade(symbol, when, _float(message["p"]), _float(message.get("s", 0))))
            except (KeyError, ValueError, alpaca_wire.PayloadError) as exc:
                raise DataError(f"source 'alpaca' ({self.url}): bad {kind!r} message {message!r}: {exc}") from None
        return events


def _float(value: object) -> float:
    number = alpaca_wire.parse_number(value)
    if number is None:
        raise ValueError(f"missing number: {value!r}")
    return number


def _decode(raw: str | bytes) -> list[Mapping[str, Any]]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise DataError(f"source 'alpaca': a message that is not JSON: {raw[:200]!r}") from None
    items = data if isinstance(data, list) else [data]
    return [item for item in items if isinstance(item, Mapping)]
