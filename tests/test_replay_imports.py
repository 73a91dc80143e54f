"""What a config-driven replay loads (issue 25, memory flat): pandas (~40 MB) never, with or without the report
(it is the ``[dataframes]`` extra's, for a notebook); the Alpaca adapter's httpx and websockets not for a paper
run; nor arrow's compute functions for a file whose times carry their offset. Each run is in a fresh interpreter, so
what an earlier test imported does not count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, sys
from broker_sim import run_simulation
from broker_sim.wiring import parse_config
config = parse_config(sys.argv[1], base_dir=sys.argv[2])
result = run_simulation(config)
modules = sorted(name for name in sys.modules if "." not in name)
print(json.dumps({"events": result.events, "modules": modules, "compute": "pyarrow.compute" in sys.modules}))
"""

CONFIG = """
broker: {{adapter: paper, initial_balance: 1000000, seed: 42, session: always}}
models: {{latency: {{model: uniform, low: 0.5, high: 2.0}}}}
prices:
  clock: simulated
  sources: [{{source: csv, path: '{csv}', symbol: BENCH}}]
strategy: {{class: examples.sma_cross:SmaCross, params: {{fast: 5, slow: 20, quantity: 10}}}}
report: {{equity_interval: 3600{out}}}
"""


def _bars(path: Path, count: int = 3_000) -> Path:
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(count):
        close = 100 + (i % 50) - (i % 7)
        lines.append(f"2024-01-{1 + i // 1440:02d}T{i % 1440 // 60:02d}:{i % 60:02d}:00+00:00,{close},{close + 1},"
                     f"{close - 1},{close},{100 + i}")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("report", [False, True], ids=["no report", "report"])
def test_a_replay_imports_neither_pandas_nor_the_alpaca_adapter(tmp_path: Path, report: bool) -> None:
    root = Path(__file__).resolve().parents[1]
    out = f", out: '{tmp_path / 'report'}'" if report else ""
    config = CONFIG.format(csv=_bars(tmp_path / "bars.csv"), out=out)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, config, str(root)], capture_output=True, text=True, check=True, cwd=root
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["events"] == 3_000
    assert "pyarrow" in found["modules"]  # the CSV was read by the fast reader
    assert not found["compute"]  # (its times carry their offset: arrow's compute functions are not needed)
    assert ("matplotlib" in found["modules"]) is report
    assert not {"pandas", "httpx", "websockets"} & set(found["modules"])
    assert (tmp_path / "report" / "report.html").exists() is report
