"""The Alpaca adapter: the `Broker` interface over Alpaca's Trading API v2 and its trade_updates stream.

Registered as adapter ``alpaca`` by reference (``broker_sim.adapters.alpaca:AlpacaBroker``) with the extra
``[alpaca]`` (httpx), so nothing here is imported unless a config selects it.
"""

from __future__ import annotations

from .broker import AlpacaBroker
from .errors import AlpacaError, Forbidden, RateLimited, Unauthorized, VenueUnavailable
from .settings import LIVE_URL, PAPER_URL, AlpacaSettings

__all__ = [
    "LIVE_URL",
    "PAPER_URL",
    "AlpacaBroker",
    "AlpacaError",
    "AlpacaSettings",
    "Forbidden",
    "RateLimited",
    "Unauthorized",
    "VenueUnavailable",
]
