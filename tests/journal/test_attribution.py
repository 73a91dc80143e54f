"""A journaled account's reports tell who traded, across sessions: `broker-sim account --export` keeps each fill's
and order's strategy, and a resumed run's report covers every session of the account, not only the last."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from broker_sim import Strategy, run_simulation
from broker_sim.journal import read_account

ROOT = Path(__file__).resolve().parents[2]


class OwnIds(Strategy):
    """Buys on every 20th bar with client order ids of its own choosing (its ids say nothing of its name)."""

    def __init__(self) -> None:
        self.bars = 0

    async def on_bar(self, bar):  # type: ignore[no-untyped-def]
        self.bars += 1
        if self.bars % 20 == 0:
            await self.broker.buy(bar.symbol, 1, client_order_id=f"mine-{bar.timestamp.timestamp():.0f}")


def _config(tmp_path: Path, count: int) -> dict[str, object]:
    return {
        "broker": {"adapter": "paper", "seed": 3, "session": "always", "journal": str(tmp_path / "account.db")},
        "models": {"latency": "none"},
        "prices": {"sources": [{"source": "synthetic", "symbols": ["X", "Y"], "interval": 60, "count": count}]},
        "strategies": [
            {"name": "sma", "class": f"{ROOT}/examples/sma_cross.py:SmaCross", "symbols": ["X"],
             "params": {"fast": 3, "slow": 8, "quantity": 1}},
            {"name": "own", "class": "tests.journal.test_attribution:OwnIds", "symbols": ["Y"]},
        ],
    }  # fmt: skip


def _strategies(path: Path) -> dict[str, str]:
    """execution id -> strategy, from a report's trades.csv."""
    with path.open() as handle:
        return {row["execution_id"]: row["strategy"] for row in csv.DictReader(handle)}


def test_export_keeps_each_fills_strategy_and_a_resumed_runs_report_covers_every_session(tmp_path: Path) -> None:
    first = run_simulation(_config(tmp_path, 300), out=tmp_path / "first")
    assert {fill.strategy for fill in first.fills} == {"sma", "own"}
    ran = _strategies(tmp_path / "first" / "trades.csv")
    second = run_simulation(_config(tmp_path, 600), out=tmp_path / "second")  # resumes the account
    whole = _strategies(tmp_path / "second" / "trades.csv")
    assert ran.items() <= whole.items() and len(whole) > len(ran)  # both sessions, attributed alike
    summary = json.loads((tmp_path / "second" / "summary.json").read_text())
    stored = read_account(tmp_path / "account.db")
    assert summary["fills"] == len(stored.fills) == len(whole)
    assert summary["orders"] == len(stored.orders)
    assert summary["final_equity"] == second.metrics.final_equity
    process = subprocess.run(
        [sys.executable, "-m", "broker_sim", "account", "account.db", "--export", "export"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert _strategies(tmp_path / "export" / "trades.csv") == whole
    exported = json.loads((tmp_path / "export" / "summary.json").read_text())
    assert set(exported["by_strategy"]) == {"sma", "own"}
    with (tmp_path / "export" / "orders.csv").open() as handle:
        assert {row["strategy"] for row in csv.DictReader(handle)} == {"sma", "own"}
