"""Memory benchmark: peak RSS of a config-driven replay with its report written, at two sizes, and how much it grows.

    python benchmarks/memory.py [--bars 1000000,10000000] [--parts sma,empty] [--equity-interval 3600]
                                [--tree PATH] [--no-report]

Runs `benchmarks/replay.py`'s config (the SMA crossover, and the empty strategy `benchmarks/idle.py`) through
`run_simulation` with the report written (summary, CSVs, charts, report.html), each size and strategy in a
process of its own, and prints one JSON object: each run's peak RSS (``ru_maxrss``), the RSS once the modules
are imported and before the first bar, its equity samples and fills, and per strategy the growth from the
smallest size to the largest (issue 25's targets: <= 200 MB at 1M bars, <= +10 MB from 1M to 10M). Equity is
sampled every hour of market time by default (the config's default), so 10M one-minute bars give ~167k samples.

The CSVs (seeded, `replay.py`'s generator) are made once into a cache under the system's temp folder
(``$TMPDIR/broker-sim-bench``; a 10M-bar file is ~0.8 GB and takes a few minutes to write); ``--bars 100000``
gives a quick check. Progress goes to stderr. ``--tree`` measures another checkout of broker-sim.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from harness import compiled  # noqa: E402
from replay import config_text, generate  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "broker-sim-bench"
PARTS = ("sma", "empty")


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MB (Linux reports ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """This process's resident set size now, in MB (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child(part: str, csv: Path, tree: Path, interval: float, report: bool) -> dict[str, object]:
    """One run in this process: the `part`'s config on `csv`, its report written to a temporary folder."""
    from broker_sim import run_simulation
    from broker_sim.wiring import parse_config

    imported = current_rss_mb()
    with tempfile.TemporaryDirectory(prefix="broker-sim-memory-") as tmp:
        out = f"out: '{Path(tmp) / 'report'}', " if report else ""
        text = config_text(csv, tree, idle=part == "empty", report=f"{{{out}equity_interval: {interval}}}")
        config = parse_config(text, base_dir=tree)
        started = time.process_time()
        result = run_simulation(config)
        cpu = time.process_time() - started
        figures = {
            "bars": result.events,
            "equity_samples": len(result.equity),
            "fills": len(result.fills),
            "report_files": sorted(p.name for p in (Path(tmp) / "report").iterdir()) if report else [],
            "rss_after_imports_mb": round(imported, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "cpu_seconds": round(cpu, 1),
            "compiled": compiled(),
        }
        result.close()
    return figures


def csv_of(bars: int) -> Path:
    """The cached CSV of `bars` one-minute bars, written once (seeded: the same bars as `replay.py`'s)."""
    path = CACHE / f"bars_{bars}.csv"
    if not path.exists():
        print(f"generating {bars:,} bars into {path} (once) ...", file=sys.stderr, flush=True)
        generate(path, bars)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--bars", default="1000000,10000000", help="comma-separated sizes, smallest first")
    parser.add_argument("--parts", default=",".join(PARTS), help="sma, empty")
    parser.add_argument("--equity-interval", type=float, default=3600.0, help="seconds between equity samples")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the broker-sim checkout to measure")
    parser.add_argument("--no-report", action="store_true", help="run without writing the report")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    tree = args.tree.resolve()
    if args.part:  # a child process: one run, its JSON on stdout
        print(json.dumps(child(args.part, args.csv, tree, args.equity_interval, not args.no_report)))
        return
    sizes = sorted(int(size) for size in args.bars.split(","))
    report: dict[str, object] = {
        "benchmark": "broker_sim.memory",
        "tree": str(tree),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": platform.machine(),
        "equity_interval_s": args.equity_interval,
        "report_written": not args.no_report,
    }
    # The tree first on the path, after `make compiled`'s build when this runs on it (`benchmarks/targets.py`).
    first = [os.environ.get("BROKER_SIM_COMPILED"), str(tree), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, first))}
    for part in args.parts.split(","):
        runs: dict[str, object] = {}
        for bars in sizes:
            path = csv_of(bars)
            print(f"{part}: {bars:,} bars ...", file=sys.stderr, flush=True)
            command = [sys.executable, __file__, "--part", part, "--csv", str(path), "--tree", str(tree)]
            command += ["--equity-interval", str(args.equity_interval)] + (["--no-report"] if args.no_report else [])
            done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
            if done.returncode != 0:
                runs[str(bars)] = {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
                continue
            runs[str(bars)] = figures = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{part}: {bars:,} bars: peak RSS {figures['peak_rss_mb']} MB", file=sys.stderr, flush=True)
        small, large = runs.get(str(sizes[0])), runs.get(str(sizes[-1]))
        if len(sizes) > 1 and isinstance(small, dict) and isinstance(large, dict) and "peak_rss_mb" in large:
            runs[f"growth_mb_{sizes[0]}_to_{sizes[-1]}"] = round(large["peak_rss_mb"] - small["peak_rss_mb"], 1)
        report[part] = runs
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
