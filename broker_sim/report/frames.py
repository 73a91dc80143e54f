"""A run's results as pandas DataFrames, for a notebook: fills, round trips, orders, the equity curve, returns.

pandas is an optional extra (``pip install 'broker-sim[dataframes]'``); importing this module without it raises
`ImportError` naming the extra. `broker_sim.simulation.Result` has one method per frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

try:
    import pandas as pd
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"Result DataFrames need pandas: pip install 'broker-sim[dataframes]' ({exc})") from exc

import attrs

from broker_sim.models import Fill, Order
from broker_sim.report.metrics import EquitySample, drawdowns
from broker_sim.report.spool import FILL_COLUMNS, ORDER_CSV_COLUMNS, Spool, fill_row, order_row
from broker_sim.report.trades import closed_trades

__all__ = ["equity_frame", "fills_frame", "orders_frame", "returns_series", "trades_frame"]

_FILL_NUMBERS = ("quantity", "price", "reference_price", "fee")
_ORDER_NUMBERS = (
    "quantity", "limit_price", "stop_price", "filled_quantity", "filled_avg_price", "reference_price",
    "trail_price", "trail_percent", "hwm", "notional",
)  # fmt: skip
_ORDER_TIMES = (
    "created_at", "updated_at", "submitted_at", "filled_at", "canceled_at", "expired_at", "failed_at",
    "replaced_at", "triggered_at",
)  # fmt: skip


def _typed(frame: pd.DataFrame, numbers: Iterable[str], times: Iterable[str]) -> pd.DataFrame:
    for column in numbers:
        frame[column] = pd.to_numeric(frame[column].replace("", None), errors="coerce")
    for column in times:
        frame[column] = pd.to_datetime(frame[column].replace("", None), utc=True, format="ISO8601")
    return frame


def fills_frame(fills: Sequence[Fill]) -> pd.DataFrame:
    """Every fill, as trades.csv has them (with the strategy), one row each, times as UTC timestamps."""
    rows = fills.rows() if isinstance(fills, Spool) else map(fill_row, fills)
    return _typed(pd.DataFrame(list(rows), columns=list(FILL_COLUMNS)), _FILL_NUMBERS, ("timestamp",))


def orders_frame(orders: Sequence[Order]) -> pd.DataFrame:
    """Every order in its final status (as orders.csv has them, with the strategy that submitted it)."""
    rows = orders.rows() if isinstance(orders, Spool) else map(order_row, orders)
    frame = pd.DataFrame(list(rows), columns=list(ORDER_CSV_COLUMNS))
    frame["extended_hours"] = frame["extended_hours"] == "true"
    return _typed(frame, _ORDER_NUMBERS, _ORDER_TIMES)


def trades_frame(fills: Iterable[Fill]) -> pd.DataFrame:
    """Every round trip (FIFO within a strategy and symbol): gross and net P&L, fees, holding time."""
    trades = closed_trades(fills)
    columns = [field.name for field in attrs.fields(type(trades[0]))] if trades else None
    frame = pd.DataFrame([attrs.astuple(trade, recurse=False) for trade in trades], columns=columns)
    if frame.empty:
        frame = pd.DataFrame(
            columns=[
                "symbol", "side", "quantity", "entry_time", "exit_time", "entry_price", "exit_price", "pnl", "fees",
                "strategy",
            ]
        )  # fmt: skip
    frame["net_pnl"] = frame["pnl"] - frame["fees"]
    frame["holding"] = frame["exit_time"] - frame["entry_time"]
    return frame


def equity_frame(equity: Sequence[EquitySample], benchmark: tuple[str, Sequence[float]] | None = None) -> pd.DataFrame:
    """The equity curve indexed by time: equity, gross_exposure (cash held in positions), drawdown, and the
    benchmark's value when the run had one."""
    frame = pd.DataFrame(
        {
            "equity": [s.equity for s in equity],
            "gross_exposure": [s.exposure for s in equity],
            "drawdown": drawdowns(equity),
        },
        index=pd.DatetimeIndex([s.timestamp for s in equity], name="timestamp"),
    )
    if benchmark is not None and len(benchmark[1]) == len(frame):
        frame["benchmark"] = list(benchmark[1])
    return frame


def returns_series(equity: Sequence[EquitySample], daily: bool = True) -> pd.Series:
    """The equity's returns: daily (last sample of each UTC date, as the metrics use; the first day's from the
    run's first sample) or per sample."""
    curve = equity_frame(equity)["equity"]
    if daily and len(curve) > 1:
        start = curve.iloc[0]
        first_day_moved = curve.index[1].date() == curve.index[0].date()
        curve = curve.groupby(curve.index.date).last()
        curve.index = pd.DatetimeIndex(curve.index, name="date")
        returns = curve.pct_change()
        if first_day_moved:
            returns.iloc[0] = curve.iloc[0] / start - 1.0 if start else 0.0
        return returns.dropna().rename("returns")
    return curve.pct_change().dropna().rename("returns")
