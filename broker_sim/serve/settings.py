"""The server's settings: where it listens, how fast the replay runs, the keys it accepts, its limits.

They come from the config's ``serve:`` section (values may be ``${ENV}``), then the environment
(``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY`` when the section names no keys), then the command line.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from typing import Any

import attrs

from broker_sim.config import Config
from broker_sim.errors import ConfigError
from broker_sim.redact import HIDDEN, shown

from .clock import MAX_SPEED

__all__ = ["DEFAULT_SPEED", "EXCHANGES", "ServeSettings", "parse_speed"]

#: Simulated seconds per wall second unless told otherwise: a minute of market per second.
DEFAULT_SPEED = 60.0
#: The largest request body accepted (bytes): an order is a few hundred.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
_KEYS = (
    "host",
    "port",
    "speed",
    "key_id",
    "secret_key",
    "max_body_bytes",
    "rate_limit",
    "exchange",
    "account",
    "wait_for_client",
    "auth_timeout",
    "max_unsent",
    "max_symbols",
    "history_days",
)
#: Seconds a stream client has to authenticate before it is disconnected (Alpaca's: 10).
DEFAULT_AUTH_TIMEOUT_S = 10.0
#: Messages a stream client may leave unread before it is dropped as a slow client.
DEFAULT_MAX_UNSENT = 10_000
#: Symbols one data-stream client may subscribe to, over every channel.
DEFAULT_MAX_SYMBOLS = 10_000


def parse_speed(value: object) -> float:
    """`--speed` / ``serve.speed``: a number > 0 of simulated seconds per wall second, or ``max``."""
    if isinstance(value, str):
        if value.strip().lower() == "max":
            return MAX_SPEED
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"speed must be a number > 0 or max, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (value > 0 and not math.isnan(value)):
        raise ConfigError(f"speed must be a number > 0 or max, got {value!r}")
    return float(value)


@attrs.frozen(slots=True)
class ServeSettings:
    """What `broker-sim serve` needs besides the run's config.

    `rate_limit` is requests per minute per key (None: unlimited; Alpaca's own is 200); `exchange` is the
    exchange reported for assets and positions; `account` the account number. `auth_timeout`, `max_unsent` and
    `max_symbols` bound what a websocket client may hold (frames are bounded by `max_body_bytes`, as bodies are).
    `history_days` (with ``prices.clock: realtime`` only) serves the replay's first days at once as history
    stamped in the wall clock's past, then plays the rest live, so clients that ask from their own clock find
    history. With `wait_for_client` the replay starts when the first client subscribes to the data stream, so a
    bot sees every bar from the first.
    """

    key_id: str = attrs.field(repr=lambda value: str(shown("key_id", value)))
    secret_key: str = attrs.field(repr=lambda value: HIDDEN)
    host: str = "127.0.0.1"
    port: int = 8000
    speed: float = DEFAULT_SPEED
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rate_limit: float | None = None
    exchange: str = "NASDAQ"
    account: str = "PA-BROKER-SIM"
    wait_for_client: bool = False
    #: Seconds a stream client has to authenticate (then it is closed, 1008 "auth timeout").
    auth_timeout: float = DEFAULT_AUTH_TIMEOUT_S
    #: Messages a stream client may leave unread before it is dropped (closed, 1008 "slow client").
    max_unsent: int = DEFAULT_MAX_UNSENT
    #: Symbols one data-stream client may subscribe to (beyond: Alpaca's error 405, "symbol limit exceeded").
    max_symbols: int = DEFAULT_MAX_SYMBOLS
    history_days: float = 0.0

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        env: Mapping[str, str],
        host: str | None = None,
        port: int | None = None,
        speed: object = None,
    ) -> ServeSettings:
        """The settings of `config`'s ``serve:`` section, the keys from `env` when it names none, and the
        command line's `host`, `port` and `speed` over both. Raises `ConfigError` at the key and line."""
        section: Mapping[str, Any] = config.serve or {}
        for key in section:
            if key not in _KEYS:
                raise config.error_at(("serve", key), f"unknown key {key!r}; valid keys: {', '.join(_KEYS)}")
        values: dict[str, Any] = {}
        try:
            values["host"] = _text(host if host is not None else section.get("host", "127.0.0.1"), "host")
            values["port"] = _port(port if port is not None else section.get("port", 8000))
            values["speed"] = parse_speed(speed if speed is not None else section.get("speed", DEFAULT_SPEED))
            body = section.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)
            values["max_body_bytes"] = _positive_int(body, "max_body_bytes")
            rate = section.get("rate_limit")
            if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0):
                raise ConfigError(f"rate_limit must be a number > 0 of requests per minute (or null), got {rate!r}")
            values["rate_limit"] = None if rate is None else float(rate)
            exchange = _text(section.get("exchange", "NASDAQ"), "exchange")
            if exchange not in EXCHANGES:
                raise ConfigError(f"exchange must be one of Alpaca's {', '.join(EXCHANGES)}; got {exchange!r}")
            values["exchange"] = exchange
            values["account"] = _text(section.get("account", "PA-BROKER-SIM"), "account")
            wait = section.get("wait_for_client", False)
            if not isinstance(wait, bool):
                raise ConfigError(f"wait_for_client must be true or false, got {wait!r}")
            values["wait_for_client"] = wait
            timeout = section.get("auth_timeout", DEFAULT_AUTH_TIMEOUT_S)
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < math.inf:
                raise ConfigError(f"auth_timeout must be a number of seconds > 0, got {timeout!r}")
            values["auth_timeout"] = float(timeout)
            values["max_unsent"] = _positive_int(section.get("max_unsent", DEFAULT_MAX_UNSENT), "max_unsent")
            values["max_symbols"] = _positive_int(section.get("max_symbols", DEFAULT_MAX_SYMBOLS), "max_symbols")
            days = section.get("history_days", 0.0)
            if isinstance(days, bool) or not isinstance(days, int | float) or not 0 <= days < math.inf:
                raise ConfigError(f"history_days must be a number of days >= 0, got {days!r}")
            if days and config.prices.clock != "realtime":
                raise ConfigError(
                    "history_days serves a replay stamped relative to the present: it needs prices.clock: realtime"
                )
            values["history_days"] = float(days)
        except ConfigError as exc:
            bad = next((k for k in _KEYS if str(exc).startswith(k)), None)
            raise config.error_at(("serve", bad) if bad and bad in section else ("serve",), str(exc)) from None
        key_id = section.get("key_id") or env.get("APCA_API_KEY_ID")
        secret = section.get("secret_key") or env.get("APCA_API_SECRET_KEY")
        if not key_id or not secret or not isinstance(key_id, str) or not isinstance(secret, str):
            raise config.error_at(
                ("serve",),
                "no API keys: set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment, or serve.key_id and "
                "serve.secret_key (e.g. ${MY_KEY}) in the config",
            )
        if (key_id, secret) in DEFAULT_KEYS and not _loopback(values["host"]):
            raise config.error_at(
                ("serve", "host") if "host" in section else ("serve",),
                f"serving on {values['host']}, which other machines can reach, with the shipped default keys "
                f"({key_id}/…): anyone there could trade this account; set your own keys (APCA_API_KEY_ID and "
                "APCA_API_SECRET_KEY, or serve.key_id and serve.secret_key), or serve on 127.0.0.1",
            )
        return cls(key_id=key_id, secret_key=secret, **values)


#: Keys the shipped configs fall back to (``${APCA_API_KEY_ID:-broker-sim}``): fine on this machine only.
DEFAULT_KEYS = frozenset({("broker-sim", "broker-sim")})


def _loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: it may well resolve to a public address
        return False


#: The exchanges Alpaca names for US equities (what alpaca-py's `AssetExchange` accepts).
EXCHANGES = ("AMEX", "ARCA", "ASCX", "BATS", "NYSE", "NASDAQ", "NYSEARCA", "OTC")


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ConfigError(f"port must be an integer from 0 to 65535, got {value!r}")
    return value


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return value
