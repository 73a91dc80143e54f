"""What the CSV benchmarks share: each part runs in a process of its own on one generated CSV, and the report
gathers the parts' JSON (or why a part did not run) under a header naming the machine.

    report = run_parts(__file__, __doc__, PARTS, make_csv=generate, default="ours,floor", header={...})

Run as a script, a benchmark's ``main`` calls `run_parts`: with ``--part NAME`` (how the parts' processes are
started) it runs that part here, prints its JSON and returns None.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run_parts(
    script: str,
    doc: str | None,
    parts: Mapping[str, Callable[[Path], Any]],
    *,
    make_csv: Callable[[Path, int], None],
    default: str,
    header: Mapping[str, Any],
    needs: Mapping[str, str] | None = None,
    bars: int = 1_000_000,
) -> dict[str, Any] | None:
    """Parse the command line (``--bars``, `bars` by default; ``--parts``), make the CSV of that many bars once
    (`make_csv`), run each part of `script` in its own process and return the report; `needs` names the module a
    part needs (a part without it is reported as not installed)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n", 1)[0])
    parser.add_argument("--bars", type=int, default=bars)
    parser.add_argument("--parts", default=default)
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:  # a child process: run one part, print its JSON
        print(json.dumps(parts[args.part](Path(args.csv))))
        return None
    path = HERE / ".data" / f"bars_{args.bars}.csv"
    if not path.exists():
        make_csv(path, args.bars)
    report: dict[str, Any] = {
        **header,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "bars": args.bars,
        "compiled": compiled(),
    }
    for part in args.parts.split(","):
        module = (needs or {}).get(part)
        if module is not None and importlib.util.find_spec(module) is None:
            report[part] = f"not installed ({module}: pip install -e '.[bench]')"
            continue
        command = [sys.executable, script, "--part", part, "--csv", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            report[part] = {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
            continue
        report[part] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def compiled() -> bool:
    """Whether this process runs `make compiled`'s mypyc-built modules (`make bench-compiled`), not pure Python."""
    spec = importlib.util.find_spec("broker_sim.ledger")
    origin = spec.origin if spec is not None else None
    return origin is not None and origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
