"""`benchmarks/storm.py` (in `make bench`) runs end to end at a tiny size: each part reports its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BARS = 300


def test_order_storm_benchmark_fills_every_order_in_each_part_and_prints_the_ratio() -> None:
    command = [sys.executable, str(ROOT / "benchmarks/storm.py"), "--bars", str(BARS)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    report = json.loads(done.stdout)
    assert report["bars"] == BARS
    ours, theirs, plain = report["ours"], report["backtrader"], report["plain"]
    assert ours["orders"] == BARS  # one market order per bar, each filled and recorded
    assert ours["round_trips"] == BARS // 2  # a buy then a sell of the same quantity
    assert theirs["orders"] == BARS - 1  # backtrader fills the last bar's order on no bar
    assert plain["orders"] >= 100
    assert min(ours["orders_per_s"], theirs["orders_per_s"], plain["orders_per_s"]) > 0
    assert report["ours_vs_backtrader"] == round(ours["cpu_orders_per_s"] / theirs["cpu_orders_per_s"], 2)
