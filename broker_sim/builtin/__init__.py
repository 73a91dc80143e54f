"""The built-in models, price sources and the paper adapter, registered through `broker_sim_register` exactly
like a third-party plugin's.

The models are small and imported here; the sources and the adapter are registered by ``"module:Class"``
reference and imported only when a config selects them, so this package imports no adapter and no source
(and neither pyarrow nor websockets).
"""

from __future__ import annotations

from broker_sim.builtin.commission import BpsCommission, FixedCommission, NoCommission, PerShareCommission
from broker_sim.builtin.fill import BarFill, ImmediateFill, QuoteFill, VolumeLimitedFill
from broker_sim.builtin.financing import AnnualBorrowRate, AnnualMarginRate, NoBorrowFee, NoMarginInterest
from broker_sim.builtin.latency import ConstantLatency, LognormalLatency, NoLatency, PerActionLatency, UniformLatency
from broker_sim.builtin.slippage import (
    FixedAmountSlippage,
    FixedBpsSlippage,
    NoSlippage,
    SpreadSlippage,
    VolumeShareSlippage,
)
from broker_sim.hookspecs import hookimpl
from broker_sim.registry import Registry


@hookimpl
def broker_sim_register(registry: Registry) -> None:
    """Register the built-in models, the csv/synthetic/dataframe/websocket/arrow price sources and the paper adapter."""
    registry.add("slippage", "none", NoSlippage)
    registry.add("slippage", "fixed_bps", FixedBpsSlippage)
    registry.add("slippage", "fixed", FixedAmountSlippage)
    registry.add("slippage", "spread", SpreadSlippage)
    registry.add("slippage", "volume_share", VolumeShareSlippage)
    registry.add("latency", "none", NoLatency)
    registry.add("latency", "constant", ConstantLatency)
    registry.add("latency", "uniform", UniformLatency)
    registry.add("latency", "lognormal", LognormalLatency)
    registry.add("latency", "per_action", PerActionLatency)
    registry.add("fill", "immediate", ImmediateFill)
    registry.add("fill", "bar", BarFill)
    registry.add("fill", "quote", QuoteFill)
    registry.add("fill", "volume_limited", VolumeLimitedFill)
    registry.add("commission", "none", NoCommission)
    registry.add("commission", "per_share", PerShareCommission)
    registry.add("commission", "bps", BpsCommission)
    registry.add("commission", "fixed", FixedCommission)
    registry.add("borrow_fee", "none", NoBorrowFee)
    registry.add("borrow_fee", "annual_rate", AnnualBorrowRate)
    registry.add("margin_interest", "none", NoMarginInterest)
    registry.add("margin_interest", "annual_rate", AnnualMarginRate)
    registry.add("source", "csv", "broker_sim.streams.csv_source:CsvSource")
    registry.add("source", "synthetic", "broker_sim.streams.synthetic:SyntheticSource")
    registry.add("source", "dataframe", "broker_sim.streams.dataframe:DataFrameSource", extra="dataframes")
    registry.add("source", "websocket", "broker_sim.streams.websocket:WebSocketSource")
    registry.add("source", "arrow", "broker_sim.streams.arrow_source:ArrowSource")
    registry.add("source", "alpaca", "broker_sim.adapters.alpaca.data:AlpacaDataSource", extra="alpaca")
    registry.add("adapter", "paper", "broker_sim.adapters.paper:PaperBroker")
    registry.add("adapter", "alpaca", "broker_sim.adapters.alpaca:AlpacaBroker", extra="alpaca")
