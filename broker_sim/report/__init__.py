"""The run's report: metrics from the equity curve and the fills (`metrics`), the files a run writes
(`files`: summary.json, CSVs, the plot, report.html) and the on-disk record of fills and orders (`spool`).

Names are imported from their modules on first use, so ``import broker_sim.report.metrics`` does not load
matplotlib or jinja2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker_sim._imports import lazy_exports

if TYPE_CHECKING:
    from broker_sim.report.files import write_report
    from broker_sim.report.metrics import (
        Breakdown,
        ClosedTrade,
        EquitySample,
        Metrics,
        TradeTally,
        closed_trades,
        compute_metrics,
        metrics_from,
    )

__all__ = [
    "Breakdown",
    "ClosedTrade",
    "EquitySample",
    "Metrics",
    "TradeTally",
    "closed_trades",
    "compute_metrics",
    "metrics_from",
    "write_report",
]

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "broker_sim.report.files": ("write_report",),
        "broker_sim.report.metrics": (
            "Breakdown",
            "ClosedTrade",
            "EquitySample",
            "Metrics",
            "TradeTally",
            "closed_trades",
            "compute_metrics",
            "metrics_from",
        ),
    },
)
