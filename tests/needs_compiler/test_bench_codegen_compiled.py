"""`benchmarks/codegen_compiled.py` (CONTRIBUTING's compiled build: why generated functions stay interpreted) runs at
a tiny size, and each generated function compiled by mypyc gives what the exec'd one gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BARS = 2_100  # two batches of the spools: their `lines` run


def test_codegen_benchmark_times_each_generated_function_both_ways_with_equal_results() -> None:
    command = [sys.executable, str(ROOT / "benchmarks/codegen_compiled.py"), "--bars", str(BARS)]
    # mypyc's C at -O0: a quicker build; the figures are not what this checks
    environment = {**os.environ, "MYPYC_OPT_LEVEL": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT, env=environment)
    report = json.loads(done.stdout)
    purposes = {entry["purpose"] for entry in report["functions"]}
    assert {"first snapshot Order", "Fill csv lines", "_OrderCsv csv lines", "unchecked OrderEvent"} <= purposes
    assert any(purpose.startswith("copy Order") for purpose in purposes)
    assert all(entry["same"] for entry in report["functions"])
    assert all(entry["exec_ns"] > 0 and entry["compiled_ns"] > 0 for entry in report["functions"])
