"""What a journal costs: the order-storm replay with and without one, and start-up on a large journal.

    python benchmarks/journal.py [--bars 30000] [--repeats 3] [--startup-changes 100000]

Prints one JSON object:

* the order storm: a strategy that sends one market order per bar (buy, sell, buy...; uniform 0.5-2 s latency,
  so each fill is three journaled changes: the order, it working, its fill) through `run_simulation` on
  synthetic one-minute bars, without a journal, with one (``journal_sync: normal``) and with
  ``journal_sync: full`` (fewer bars: each commit waits for the disk). Fills/s and microseconds per fill, wall
  clock and process CPU, best of `--repeats` runs taken in turn, and the journal's speed as a share of none.
* start-up: a journal of about `--startup-changes` changes (written by the same storm), opened by a new
  `PaperBroker`: recovery time from its last snapshot (what a restart does) and from every change (a journal
  whose snapshots could not be read), and the file's size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STRATEGY = '''
from broker_sim import Bar, Strategy


class Storm(Strategy):
    """One market order per bar, alternating buy and sell, so the position stays flat."""

    def __init__(self) -> None:
        self.bars = 0

    async def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        await (self.broker.buy if self.bars % 2 else self.broker.sell)(bar.symbol, 1)
'''


def _config(folder: Path, bars: int, journal: Path | None, sync: str) -> str:
    journaled = f", journal: '{journal}', journal_sync: {sync}" if journal is not None else ""
    return f"""
broker: {{adapter: paper, initial_balance: 1000000000, seed: 42, session: always{journaled}}}
models:
  slippage: {{model: fixed_bps, bps: 5}}
  latency: {{model: uniform, low: 0.5, high: 2.0}}
  fill: {{model: immediate}}
prices:
  clock: simulated
  sources: [{{source: synthetic, symbols: [STORM], interval: 60, count: {bars}}}]
strategy: {{class: '{folder / "storm.py"}:Storm'}}
report: {{equity_interval: 86400}}
"""


def storm(folder: Path, bars: int, journal: Path | None, sync: str = "normal") -> dict[str, float]:
    """One order-storm run; a journal is created afresh."""
    from broker_sim import run_simulation
    from broker_sim.wiring import parse_config

    if journal is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{journal}{suffix}").unlink(missing_ok=True)
    config = parse_config(_config(folder, bars, journal, sync), base_dir=folder)
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_simulation(config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"fills": len(result.fills), "wall_s": wall, "cpu_s": cpu}


def _rates(runs: list[dict[str, float]]) -> dict[str, float]:
    best_wall = min(r["wall_s"] for r in runs)
    best_cpu = min(r["cpu_s"] for r in runs)
    fills = runs[0]["fills"]
    return {
        "fills": fills,
        "fills_per_s": round(fills / best_wall),
        "us_per_fill": round(best_wall / fills * 1e6, 1),
        "cpu_fills_per_s": round(fills / best_cpu),
        "cpu_us_per_fill": round(best_cpu / fills * 1e6, 1),
    }


async def _recover(path: Path, *, drop_snapshots: bool) -> float:
    from broker_sim import PaperBroker, SimulatedClock

    if drop_snapshots:
        with contextlib.closing(sqlite3.connect(path)) as connection, connection:
            connection.execute("DELETE FROM snapshots")
    broker = PaperBroker(1_000_000_000, seed=42, session="always", journal=path, clock=SimulatedClock(0.0))
    started = time.perf_counter()
    await broker.connect()
    elapsed = time.perf_counter() - started
    assert broker.journal is not None and broker.journal.position > 0
    broker.journal.snapshot_source = None  # leave the file as it is for the next measurement
    await broker.close()
    return elapsed


def startup(folder: Path, changes: int) -> dict[str, float]:
    """Write a journal of about `changes` changes with the storm, then time a restart on it."""
    journal = folder / "startup.db"
    storm(folder, changes // 3, journal)
    with contextlib.closing(sqlite3.connect(journal)) as connection:  # closed: the broker locks the file for itself
        count = connection.execute("SELECT count(*) FROM changes").fetchone()[0]
        snapshot = connection.execute("SELECT max(seq) FROM snapshots").fetchone()[0]
    size = journal.stat().st_size
    from_snapshot = min(asyncio.run(_recover(journal, drop_snapshots=False)) for _ in range(3))
    from_scratch = asyncio.run(_recover(journal, drop_snapshots=True))
    return {
        "changes": count,
        "latest_snapshot_at": snapshot,
        "file_mb": round(size / 1e6, 1),
        "restart_from_snapshot_s": round(from_snapshot, 3),
        "restart_replaying_every_change_s": round(from_scratch, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bars", type=int, default=30_000, help="bars (= fills) per storm run")
    parser.add_argument("--full-bars", type=int, default=2_000, help="bars per run with journal_sync: full")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startup-changes", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="broker-sim-bench-") as name:
        folder = Path(name)
        (folder / "storm.py").write_text(STRATEGY)
        journal = folder / "storm.db"
        runs: dict[str, list[dict[str, float]]] = {"none": [], "normal": []}
        for _ in range(args.repeats):  # taken in turn, so a busy moment of the machine hits both alike
            runs["none"].append(storm(folder, args.bars, None))
            runs["normal"].append(storm(folder, args.bars, journal))
        full = [storm(folder, args.full_bars, journal, "full") for _ in range(args.repeats)]
        none, normal = _rates(runs["none"]), _rates(runs["normal"])
        report = {
            "benchmark": "broker_sim.journal",
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "sqlite": sqlite3.sqlite_version,
            "machine": platform.machine(),
            "storm": "one market order per bar, 0.5-2 s uniform latency, 3 journaled changes per fill",
            "best_of": args.repeats,
            "without_journal": none,
            "journal_sync_normal": normal,
            "journal_sync_full": _rates(full),
            "normal_vs_none_wall": round(normal["fills_per_s"] / none["fills_per_s"], 3),
            "normal_vs_none_cpu": round(normal["cpu_fills_per_s"] / none["cpu_fills_per_s"], 3),
            "journal_us_per_fill": round(normal["us_per_fill"] - none["us_per_fill"], 1),
            "startup": startup(folder, args.startup_changes),
        }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
