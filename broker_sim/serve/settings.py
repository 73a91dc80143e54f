"""The server's settings: where it listens, how fast the replay runs, the keys it accepts, its limits.

They come from the config's ``serve:`` section (values may be ``${ENV}``), then the environment
(``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY`` when the section names no keys), then the command line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from broker_sim.config import Config
from broker_sim.errors import ConfigError

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
    "history_days",
)


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
    exchange reported for assets and positions; `account` the account number. `history_days` (with
    ``prices.clock: realtime`` only) serves the replay's first days at once as history stamped in the wall
    clock's past, then plays the rest live, so clients that ask from their own clock find history. With
    `wait_for_client` the replay starts when the first client subscribes to the data stream, so a bot sees every
    bar from the first.
    """

    key_id: str
    secret_key: str
    host: str = "127.0.0.1"
    port: int = 8000
    speed: float = DEFAULT_SPEED
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rate_limit: float | None = None
    exchange: str = "NASDAQ"
    account: str = "PA-BROKER-SIM"
    wait_for_client: bool = False
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
        return cls(key_id=key_id, secret_key=secret, **values)


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
