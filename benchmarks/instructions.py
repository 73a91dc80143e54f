"""Instruction counts of the hot paths, for comparing two versions on a busy machine where wall time is noise.

    python benchmarks/instructions.py [--tree PATH] [--compiled]

Runs each workload under valgrind's callgrind (``valgrind`` must be installed) at two sizes and prints, as one
JSON object, the CPU instructions per unit of the larger run beyond the smaller one (start-up cancels out):
per market order (latency none, and uniform 0.5-2.0 s), per market update with one resting limit order, per
replayed bar of the SMA crossover (`benchmarks/replay.py`'s config), and per market order in a run (a market order
on every bar through `run_simulation`, recorded: `benchmarks/storm.py`'s workload, with latency none and with
uniform 0.5-2.0 s: each order then arrives by a timer between two bars). ``--tree`` points
at another checkout of broker-sim (e.g. a ``git worktree`` of an older commit) to measure that one instead;
``--compiled`` measures its `make compiled` build (``build/compiled`` first on the import path). The
order and update counts repeat to about 1 % (hash seed fixed), so a 10 % budget can be checked on a shared 2-core
machine; the replayed-bar count varies by 2-3 % from run to run (when collections fall, library threads): take a
few. Each counted run follows the same run outside valgrind, which caches its bytecode in the run's temporary
folder (whatever PYTHONDONTWRITEBYTECODE says), so compiling is never counted. ``--only storm`` (or
``orders``, ``resting``, ``replay``, comma-separated) counts some of the workloads only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

ORDERS = """
import asyncio, sys
from datetime import UTC, datetime
from broker_sim import Bar, PaperBroker, SimulatedClock
START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
async def run(n, latency):
    broker = PaperBroker(1e12, seed=42, clock=SimulatedClock(START), latency=latency)
    await broker.update_market(Bar("AAPL", START, 100, 100.1, 99.9, 100, 1000.0))
    for i in range(n):
        order = await (broker.buy("AAPL", 1) if i % 2 == 0 else broker.sell("AAPL", 1))
        if latency != "none":
            await broker.wait_for(order.id, "filled")
latency = "none" if sys.argv[1] == "none" else {"model": "uniform", "low": 0.5, "high": 2.0}
asyncio.run(run(int(sys.argv[2]), latency))
"""

RESTING = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from broker_sim import Bar, PaperBroker, SimulatedClock
START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
bars = [Bar("AAPL", START + timedelta(seconds=i), 100.0, 100.1, 99.9, 100.0, 1000.0) for i in range(1000)]
async def run(n):
    broker = PaperBroker(1e12, seed=42, clock=SimulatedClock(START), latency="none")
    await broker.update_market(bars[0])
    await broker.buy("AAPL", 1, type="limit", limit_price=1.0, time_in_force="gtc")
    update = broker.update_market_nowait
    for _ in range(n // 1000):
        for bar in bars:
            update(bar)
asyncio.run(run(int(sys.argv[1])))
"""

REPLAY = """
import sys
from pathlib import Path
from broker_sim import run_simulation
try:
    from broker_sim.wiring import parse_config
except ImportError:  # versions before the core reshape
    from broker_sim.config import parse_config
from broker_sim.errors import ConfigError
text, root = Path(sys.argv[1]).read_text(), Path(sys.argv[2])
try:
    config = parse_config(text, base_dir=root)
except ConfigError:  # versions before sessions traded every bar
    config = parse_config(text.replace(", session: always", ""), base_dir=root)
run_simulation(config)
"""


STORM = """
from broker_sim import Strategy
class Storm(Strategy):
    def __init__(self):
        self.bars = 0
    def on_bar(self, bar):
        self.bars += 1
        return (self.broker.buy if self.bars % 2 else self.broker.sell)(bar.symbol, 100)
"""


#: Where the measured runs cache their bytecode (`main` sets a folder of its own; None: Python's default).
PYCACHE: str | None = None


def instructions(path: str, script: Path, *args: str) -> int:
    """CPU instructions of one run of `script` with `path` (the tree, or its compiled build and the tree) first on
    the import path."""
    # One arrow thread of each kind: arrow's thread pools otherwise add a load-dependent count (their threads'
    # waiting is counted too), and the same tree measured 170k or 291k instructions per order in a run.
    env = {**os.environ, "PYTHONPATH": path, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "ARROW_IO_THREADS": "1"}
    # Bytecode cached (in the run's own folder, not the tree) by a run outside valgrind first: with
    # PYTHONDONTWRITEBYTECODE, or a tree edited since it last ran, the runs would count compiling its modules, and
    # the smaller run of a pair may compile what the larger one finds cached.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if PYCACHE is not None:
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, check=False)
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, str(script), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_unit(path: str, script: Path, small: int, large: int, *args: str, size_first: bool = False) -> int:
    """Instructions per unit of work: the difference between a run of `large` units and one of `small`."""

    def sized(n: int) -> list[str]:
        return [str(n), *args] if size_first else [*args, str(n)]

    difference = instructions(path, script, *sized(large)) - instructions(path, script, *sized(small))
    return round(difference / (large - small))


#: The workloads `--only` picks from: bare market orders, updates with a resting limit, the SMA replay, the storm.
WORKLOADS = ("orders", "resting", "replay", "storm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the broker-sim checkout to measure")
    parser.add_argument("--orders", type=int, default=2000, help="orders beyond the smaller run")
    parser.add_argument("--bars", type=int, default=20000, help="replayed bars beyond the smaller run")
    parser.add_argument("--compiled", action="store_true", help="measure the tree's `make compiled` build")
    parser.add_argument(
        "--only",
        default=",".join(WORKLOADS),
        help=f"the workloads to count, comma-separated (of {', '.join(WORKLOADS)}; all by default)",
    )
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if not only or only - set(WORKLOADS):
        parser.error(f"--only takes workloads of {', '.join(WORKLOADS)}, got {args.only!r}")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt install valgrind)")
    tree = args.tree.resolve()
    path = str(tree)
    if args.compiled:
        if not (tree / "build/compiled/.built").exists():
            raise SystemExit(f"{tree} has no compiled build: run `make compiled` there first")
        path = os.pathsep.join([str(tree / "build/compiled"), path])
    global PYCACHE
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        PYCACHE = str(work / "pycache")
        scripts = {}
        for name, source in (("orders", ORDERS), ("resting", RESTING), ("replay", REPLAY), ("storm", STORM)):
            scripts[name] = work / f"{name}.py"
            scripts[name].write_text(textwrap.dedent(source))
        sys.path.insert(0, str(HERE))
        from replay import config_text, generate  # the replay benchmark's seeded bars and its config

        result: dict[str, object] = {
            "benchmark": "broker_sim.instructions",
            "tree": str(tree),
            "compiled": args.compiled,
            "python": sys.version.split()[0],
        }
        if "orders" in only:
            for name in ("none", "uniform"):
                result[f"per_market_order_latency_{name}"] = per_unit(
                    path, scripts["orders"], 500, 500 + args.orders, name
                )
        if "resting" in only:
            result["per_update_resting_limit"] = per_unit(path, scripts["resting"], 10000, 60000, size_first=True)
        if "replay" in only:
            small_bars, large_bars = 5000, 5000 + args.bars
            replay = []
            for n in (small_bars, large_bars):
                csv, config = work / f"bars_{n}.csv", work / f"replay_{n}.yaml"
                generate(csv, n)
                config.write_text(config_text(csv, tree))
                replay.append(instructions(path, scripts["replay"], str(config), str(tree)))
            result["per_replayed_bar"] = round((replay[1] - replay[0]) / args.bars)
        if "storm" in only:
            storm = f"class: '{scripts['storm']}:Storm'"
            storm_runs: dict[str, list[int]] = {"none": [], "uniform": []}
            for n in (1000, 1000 + args.orders):  # a market order on every bar, recorded as a run records it
                csv = work / f"storm_{n}.csv"
                generate(csv, n)
                for name, latency in (("none", "{model: none}"), ("uniform", "{model: uniform, low: 0.5, high: 2.0}")):
                    config = work / f"storm_{name}_{n}.yaml"
                    config.write_text(config_text(csv, tree, strategy=storm, latency=latency))
                    storm_runs[name].append(instructions(path, scripts["replay"], str(config), str(tree)))
            result["per_market_order_in_a_run"] = round((storm_runs["none"][1] - storm_runs["none"][0]) / args.orders)
            result["per_market_order_latency_uniform_in_a_run"] = round(
                (storm_runs["uniform"][1] - storm_runs["uniform"][0]) / args.orders
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
