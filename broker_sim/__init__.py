"""broker-sim: run one trading strategy unchanged against a simulated broker and a real one."""

from broker_sim.adapters.paper import PaperBroker
from broker_sim.broker import Broker
from broker_sim.calendar import TradingSession
from broker_sim.clock import Clock, RealtimeClock, SimulatedClock
from broker_sim.config import Config
from broker_sim.errors import (
    BrokerError,
    ConfigError,
    DataError,
    InvalidMarketData,
    InvalidOrder,
    InvalidRequest,
    InvalidTransition,
    OrderNotCancelable,
    OrderNotFound,
    OrderNotReplaceable,
    OrderTimeout,
    PluginError,
    PositionNotFound,
)
from broker_sim.hookspecs import NO_FILL, NOT_YET, Action, FillDecision, HookContext, hookimpl
from broker_sim.models import (
    Account,
    Bar,
    EventType,
    Fill,
    MarketData,
    Order,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
    Trade,
)
from broker_sim.simulation import Result, arun_simulation, run_simulation
from broker_sim.strategy import Strategy
from broker_sim.streams import PriceStreamManager
from broker_sim.wiring import build_broker, load_config

__version__ = "0.1.0"

__all__ = [
    "NOT_YET",
    "NO_FILL",
    "Account",
    "Action",
    "Bar",
    "Broker",
    "BrokerError",
    "Clock",
    "Config",
    "ConfigError",
    "DataError",
    "EventType",
    "Fill",
    "FillDecision",
    "HookContext",
    "InvalidMarketData",
    "InvalidOrder",
    "InvalidRequest",
    "InvalidTransition",
    "MarketData",
    "Order",
    "OrderEvent",
    "OrderNotCancelable",
    "OrderNotFound",
    "OrderNotReplaceable",
    "OrderRequest",
    "OrderStatus",
    "OrderTimeout",
    "OrderType",
    "PaperBroker",
    "PluginError",
    "Position",
    "PositionNotFound",
    "PriceStreamManager",
    "Quote",
    "RealtimeClock",
    "Result",
    "Side",
    "SimulatedClock",
    "Strategy",
    "TimeInForce",
    "Trade",
    "TradingSession",
    "__version__",
    "arun_simulation",
    "build_broker",
    "hookimpl",
    "load_config",
    "run_simulation",
]
