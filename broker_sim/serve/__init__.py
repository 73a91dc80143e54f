"""`broker-sim serve`: an Alpaca-compatible server (Trading API v2, trade_updates, market data) over the paper
broker, so a bot written against Alpaca runs unchanged on the simulator. Needs the ``[serve]`` extra."""

from broker_sim.serve.app import create_app
from broker_sim.serve.clock import MAX_SPEED, PacedClock
from broker_sim.serve.runner import ServeRun, aserve, serve
from broker_sim.serve.settings import ServeSettings, parse_speed
from broker_sim.serve.state import Served

__all__ = [
    "MAX_SPEED",
    "PacedClock",
    "ServeRun",
    "ServeSettings",
    "Served",
    "aserve",
    "create_app",
    "parse_speed",
    "serve",
]
