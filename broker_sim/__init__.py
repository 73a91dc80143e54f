"""broker-sim: run one trading strategy unchanged against a simulated broker and a real one.

The public names are imported from their modules on first use (PEP 562), so ``import broker_sim.models`` does
not load the paper adapter, the runner, pyarrow or matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker_sim._imports import lazy_exports

if TYPE_CHECKING:
    from broker_sim.activities import AccountEvent, AccountEventType, Activity, ActivityType
    from broker_sim.adapters.paper import PaperBroker
    from broker_sim.broker import Broker, MarketDataConsumer
    from broker_sim.calendar import TradingSession
    from broker_sim.clock import Clock, RealtimeClock, SimulatedClock
    from broker_sim.config import Config
    from broker_sim.errors import (
        BrokerError,
        ConfigError,
        DataError,
        DayTradeRefused,
        DuplicateClientOrderId,
        InsufficientBuyingPower,
        InsufficientQuantity,
        InvalidMarketData,
        InvalidOrder,
        InvalidRequest,
        InvalidTransition,
        JournalError,
        ModelError,
        OrderNotAccepted,
        OrderNotCancelable,
        OrderNotFound,
        OrderNotReplaceable,
        OrderRefused,
        OrderTimeout,
        PluginError,
        PositionNotFound,
        ShortSaleRefused,
        TradingSuspended,
        WashTradeRefused,
    )
    from broker_sim.hookspecs import NO_FILL, NOT_YET, Action, FillDecision, HookContext, hookimpl
    from broker_sim.models import (
        Account,
        Bar,
        EventType,
        Fill,
        MarketData,
        Order,
        OrderClass,
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
    from broker_sim.strategy_book import StrategyPosition
    from broker_sim.streams import PriceStreamManager
    from broker_sim.sweeps import sweep
    from broker_sim.wiring import build_broker, load_config

__version__ = "0.1.0"

__all__ = [
    "NOT_YET",
    "NO_FILL",
    "Account",
    "AccountEvent",
    "AccountEventType",
    "Action",
    "Activity",
    "ActivityType",
    "Bar",
    "Broker",
    "BrokerError",
    "Clock",
    "Config",
    "ConfigError",
    "DataError",
    "DayTradeRefused",
    "DuplicateClientOrderId",
    "EventType",
    "Fill",
    "FillDecision",
    "HookContext",
    "InsufficientBuyingPower",
    "InsufficientQuantity",
    "InvalidMarketData",
    "InvalidOrder",
    "InvalidRequest",
    "InvalidTransition",
    "JournalError",
    "MarketData",
    "MarketDataConsumer",
    "ModelError",
    "Order",
    "OrderClass",
    "OrderEvent",
    "OrderNotAccepted",
    "OrderNotCancelable",
    "OrderNotFound",
    "OrderNotReplaceable",
    "OrderRefused",
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
    "ShortSaleRefused",
    "Side",
    "SimulatedClock",
    "Strategy",
    "StrategyPosition",
    "TimeInForce",
    "Trade",
    "TradingSession",
    "TradingSuspended",
    "WashTradeRefused",
    "__version__",
    "arun_simulation",
    "build_broker",
    "hookimpl",
    "load_config",
    "run_simulation",
    "sweep",
]

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "broker_sim.activities": ("AccountEvent", "AccountEventType", "Activity", "ActivityType"),
        "broker_sim.adapters.paper": ("PaperBroker",),
        "broker_sim.broker": ("Broker", "MarketDataConsumer"),
        "broker_sim.calendar": ("TradingSession",),
        "broker_sim.clock": ("Clock", "RealtimeClock", "SimulatedClock"),
        "broker_sim.config": ("Config",),
        "broker_sim.errors": (
            "BrokerError",
            "ConfigError",
            "DataError",
            "DayTradeRefused",
            "DuplicateClientOrderId",
            "InsufficientBuyingPower",
            "InsufficientQuantity",
            "InvalidMarketData",
            "InvalidOrder",
            "InvalidRequest",
            "InvalidTransition",
            "JournalError",
            "ModelError",
            "OrderNotAccepted",
            "OrderNotCancelable",
            "OrderNotFound",
            "OrderNotReplaceable",
            "OrderRefused",
            "OrderTimeout",
            "PluginError",
            "PositionNotFound",
            "ShortSaleRefused",
            "TradingSuspended",
            "WashTradeRefused",
        ),
        "broker_sim.hookspecs": ("NO_FILL", "NOT_YET", "Action", "FillDecision", "HookContext", "hookimpl"),
        "broker_sim.models": (
            "Account",
            "Bar",
            "EventType",
            "Fill",
            "MarketData",
            "Order",
            "OrderClass",
            "OrderEvent",
            "OrderRequest",
            "OrderStatus",
            "OrderType",
            "Position",
            "Quote",
            "Side",
            "TimeInForce",
            "Trade",
        ),
        "broker_sim.simulation": ("Result", "arun_simulation", "run_simulation"),
        "broker_sim.strategy": ("Strategy",),
        "broker_sim.strategy_book": ("StrategyPosition",),
        "broker_sim.streams": ("PriceStreamManager",),
        "broker_sim.sweeps": ("sweep",),
        "broker_sim.wiring": ("build_broker", "load_config"),
    },
)
