"""Price streams: the `PriceStreamManager` and the built-in price sources (csv, synthetic, websocket)."""

from broker_sim.streams.base import LiveSource, ReplaySource
from broker_sim.streams.manager import PriceStreamManager

__all__ = ["LiveSource", "PriceStreamManager", "ReplaySource"]
