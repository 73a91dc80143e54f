"""What a run produced (`Result`: the account, orders, fills, equity, metrics, with DataFrames for a notebook), and
the errors that stop a run while recording or reporting it."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from broker_sim.activities import AccountEvent
from broker_sim.config import Config
from broker_sim.errors import BrokerError
from broker_sim.models import Account, Fill, Order
from broker_sim.report.metrics import EquitySample, Metrics
from broker_sim.report.spool import Spool
from broker_sim.report.workdir import Workdir

__all__ = ["RecordingError", "ReportError", "Result"]


class RecordingError(BrokerError):
    """The run could not record its fills and orders (a full disk); it stopped, and the report says so."""


class ReportError(BrokerError):
    """The report could not be written (a full disk, an unwritable folder); the message says where the run's
    fills and orders were kept instead."""


@attrs.frozen(slots=True)
class Result:
    """What a run produced: the final account, every order and fill, the equity curve, the metrics.

    With the ``[dataframes]`` extra (pandas), `fills_df`, `round_trips_df`, `orders_df`, `equity_df` and `returns`
    give them as DataFrames for a notebook."""

    account: Account
    #: Every order (in the order they ended; those still working at the end last) and every fill; both are read
    #: back from disk when iterated, so a long run's result stays small in memory.
    orders: Sequence[Order] = attrs.field(repr=lambda v: f"<{len(v)} orders>")
    fills: Sequence[Fill] = attrs.field(repr=lambda v: f"<{len(v)} fills>")
    #: The equity samples (an `EquityCurve`: columns of 8-byte numbers, each `EquitySample` built when read).
    equity: Sequence[EquitySample] = attrs.field(repr=lambda v: f"<{len(v)} samples>")
    metrics: Metrics = attrs.field(repr=False)
    report_dir: Path | None = None
    events: int = 0
    config: Config = attrs.field(repr=False, default=None)
    #: The benchmark's name and its value at each equity sample (an ``array('d')``; None without prices).
    benchmark: tuple[str, Sequence[float]] | None = attrs.field(repr=False, default=None)
    #: The account's events (margin calls made, met, liquidated; borrow fees and margin interest charged).
    account_events: tuple[AccountEvent, ...] = attrs.field(repr=lambda v: f"<{len(v)} account events>", default=())
    #: The run's working folder, which holds the files `orders` and `fills` are read back from (`close`).
    workdir: Workdir | None = attrs.field(repr=False, eq=False, default=None)

    def fills_df(self) -> Any:
        """Every fill as a pandas DataFrame (trades.csv's columns, strategy included)."""
        return _frames().fills_frame(self.fills)

    def round_trips_df(self) -> Any:
        """Every round trip (FIFO within a strategy and symbol) as a DataFrame, with net P&L and holding time."""
        return _frames().trades_frame(self.fills)

    def trades_df(self) -> Any:
        """Deprecated name of `round_trips_df` (trades.csv holds fills; fills_df gives them): kept for a release."""
        warnings.warn(
            "Result.trades_df() is now round_trips_df() (trades.csv and fills_df() hold fills); "
            "trades_df() goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.round_trips_df()

    def orders_df(self) -> Any:
        """Every order in its final status as a DataFrame (orders.csv's columns, strategy included)."""
        return _frames().orders_frame(self.orders)

    def equity_df(self) -> Any:
        """The equity curve indexed by time: equity, gross_exposure, drawdown (and benchmark, if any)."""
        return _frames().equity_frame(self.equity, self.benchmark)

    def returns(self, daily: bool = True) -> Any:
        """The equity's returns as a pandas Series: daily closes (as the metrics use) or per sample."""
        return _frames().returns_series(self.equity, daily)

    def close(self) -> None:
        """Remove the temporary files `orders` and `fills` are read back from, and their folder, now (they can no
        longer be read). Otherwise they go when the result is garbage-collected, which a process ended by
        ``os._exit`` (a process pool's worker) never does: a caller that keeps only the figures closes the result."""
        for items in (self.orders, self.fills):
            if isinstance(items, Spool):
                items.close()
        if self.workdir is not None:
            self.workdir.close()


def _frames() -> Any:
    """`broker_sim.report.frames`, imported on first use: pandas is an optional extra."""
    return importlib.import_module("broker_sim.report.frames")
