"""Where and as whom the Alpaca adapter connects: URLs and keys from the config, gaps filled from Alpaca's
environment variables, and the guard that keeps a typo from trading real money."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from broker_sim.errors import ConfigError
from broker_sim.redact import shown

__all__ = ["LIVE_URL", "PAPER_URL", "AlpacaSettings"]

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
_LIVE_HOSTS = frozenset({"api.alpaca.markets"})


@attrs.frozen(slots=True)
class AlpacaSettings:
    """The resolved connection settings (build with `resolve`). `stream_url` is the trade_updates websocket."""

    base_url: str
    key_id: str = attrs.field(repr=lambda value: str(shown("key_id", value)))
    secret_key: str = attrs.field(repr=False)
    stream_url: str
    live: bool

    @classmethod
    def resolve(
        cls,
        *,
        base_url: str | None = None,
        key_id: str | None = None,
        secret_key: str | None = None,
        stream_url: str | None = None,
        live: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> AlpacaSettings:
        """Settings from config values; APCA_API_KEY_ID, APCA_API_SECRET_KEY and APCA_API_BASE_URL fill the
        gaps; `base_url` defaults to the paper endpoint. Raises `ConfigError` naming what is missing or wrong."""
        env = os.environ if env is None else env
        if not isinstance(live, bool):
            raise ConfigError(f"broker.live must be true or false, got {live!r}")
        base = _text("base_url", base_url) or env.get("APCA_API_BASE_URL") or PAPER_URL
        base = base.rstrip("/")
        if base.endswith("/v2"):
            base = base[: -len("/v2")]
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"broker.base_url must be an http(s) URL, got {base!r}")
        key = _text("key_id", key_id) or env.get("APCA_API_KEY_ID")
        secret = _text("secret_key", secret_key) or env.get("APCA_API_SECRET_KEY")
        missing = [name for name, value in (("key_id", key), ("secret_key", secret)) if not value]
        if missing:
            variables = {"key_id": "APCA_API_KEY_ID", "secret_key": "APCA_API_SECRET_KEY"}
            raise ConfigError(
                f"adapter 'alpaca' needs {' and '.join('broker.' + m for m in missing)} "
                f"(or the environment variable {' and '.join(variables[m] for m in missing)})"
            )
        is_live_host = parts.hostname in _LIVE_HOSTS
        if is_live_host and not live:
            raise ConfigError(
                f"broker.base_url {base!r} is Alpaca's live endpoint: set broker.live: true to trade real money"
            )
        if live and not is_live_host:
            raise ConfigError(
                f"broker.live is true but broker.base_url {base!r} is not Alpaca's live endpoint ({LIVE_URL})"
            )
        stream = _text("stream_url", stream_url) or _derive_stream(base)
        if urlsplit(stream).scheme not in ("ws", "wss"):
            raise ConfigError(f"broker.stream_url must be a ws(s) URL, got {stream!r}")
        return cls(base, key, secret, stream, live)  # type: ignore[arg-type]


def _text(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"broker.{name} must be a string, got {shown(name, value)!r}")
    return value


def _derive_stream(base: str) -> str:
    """Alpaca's trade_updates stream lives at ``/stream`` on the API host, over ws(s)."""
    scheme, rest = base.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/stream"
