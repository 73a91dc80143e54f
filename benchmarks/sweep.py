"""Sweep benchmark: a 100-point SMA grid on a generated one-minute CSV, on 1, 2 and all workers locally and on
a local Ray instance, against a single run of one point and backtrader's optstrategy on the same grid.

    python benchmarks/sweep.py [--bars 1000000] [--parts single,serial,process2,processall,ray,backtrader]

Prints one JSON object: per part the wall seconds and points/s (Ray's start-up included, and given apart);
the overhead per point (the serial sweep's time per point against a single `run_simulation` of one point, the
one-time reading of the data given apart); and backtrader's optstrategy (``pip install -e '.[bench]'``) on the
same grid, as a ratio of our points/s. The grid: fast 5..50 step 5 x slow 60..150 step 10 (every point valid).
Each part runs in its own process. The CSV is the one `benchmarks/replay.py` generates (seeded).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import run_parts  # noqa: E402
from replay import QUANTITY, ROOT, config_text, generate  # noqa: E402

FAST = list(range(5, 51, 5))
SLOW = list(range(60, 151, 10))
GRID = {"strategy.params.fast": FAST, "strategy.params.slow": SLOW}


def _config(path: Path):  # type: ignore[no-untyped-def]
    from broker_sim.wiring import parse_config

    return parse_config(config_text(path), base_dir=ROOT)


def single(path: Path) -> dict[str, float]:
    """One point (fast 10, slow 60) through run_simulation, three times (the first pays the imports): the cost a
    sweep's point is measured against is the fastest warm run."""
    from broker_sim import run_simulation

    config = _config(path)
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        result = run_simulation(config, overrides={"strategy.params.fast": 10, "strategy.params.slow": 60}, out=False)
        seconds.append(time.perf_counter() - started)
    return {"seconds": round(min(seconds[1:]), 3), "first_s": round(seconds[0], 3), "bars": result.events}


def _sweep(path: Path, executor: str, workers: int | None) -> dict[str, float]:
    import broker_sim

    config = _config(path)
    times: list[float] = []
    started = time.perf_counter()
    table = broker_sim.sweep(
        config, grid=GRID, executor=executor, workers=workers, reports="none",
        progress=lambda state: times.append(state.last.elapsed_s if state.last else 0.0),
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    points = len(table)
    return {
        "workers": workers or os.cpu_count() or 1,
        "seconds": round(elapsed, 2),
        "points": points,
        "failed": int((table["status"] != "ok").sum()),
        "points_per_s": round(points / elapsed, 3),
        "mean_point_s": round(sum(times) / len(times), 4),
    }


def ray_start(path: Path) -> dict[str, float]:
    """What starting and stopping a local Ray instance costs, for the Ray figures."""
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.shutdown()
    return {"seconds": round(time.perf_counter() - started, 2)}


def backtrader_opt(path: Path, cpus: int) -> dict[str, float]:
    import backtrader as bt

    global Cross  # optstrategy pickles the class to its worker processes: it must be found by name

    class Cross(bt.Strategy):
        params = (("fast", 10), ("slow", 30))

        def __init__(self) -> None:
            fast = bt.indicators.SMA(period=self.p.fast)
            slow = bt.indicators.SMA(period=self.p.slow)
            self.cross = bt.indicators.CrossOver(fast, slow)

        def next(self) -> None:
            if self.cross > 0:
                self.buy(size=QUANTITY)
            elif self.cross < 0 and self.position:
                self.sell(size=QUANTITY)

    Cross.__qualname__ = "Cross"
    cerebro = bt.Cerebro(stdstats=False, maxcpus=cpus, optreturn=True)
    cerebro.broker.setcash(1e9)
    cerebro.broker.set_slippage_perc(0.0005)
    data = bt.feeds.GenericCSVData(
        dataname=str(path), dtformat="%Y-%m-%dT%H:%M:%S+00:00", timeframe=bt.TimeFrame.Minutes,
        datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1,
    )  # fmt: skip
    cerebro.adddata(data)
    cerebro.optstrategy(Cross, fast=FAST, slow=SLOW)
    started = time.perf_counter()
    runs = cerebro.run()
    elapsed = time.perf_counter() - started
    points = len(runs)
    return {"workers": cpus, "seconds": round(elapsed, 2), "points": points, "points_per_s": round(points / elapsed, 3)}


PARTS = {
    "single": single,
    "serial": lambda path: _sweep(path, "serial", 1),
    "process2": lambda path: _sweep(path, "process", 2),
    "processall": lambda path: _sweep(path, "process", None),
    "ray_start": ray_start,
    "ray": lambda path: _sweep(path, "ray", 2),
    "backtrader1": lambda path: backtrader_opt(path, 1),
    "backtrader2": lambda path: backtrader_opt(path, 2),
}


def main() -> None:
    report = run_parts(
        __file__,
        __doc__,
        PARTS,
        make_csv=generate,
        default="single,serial,process2,processall,ray_start,ray,backtrader1,backtrader2",
        header={
            "benchmark": "broker_sim.sweep",
            "grid": f"{len(FAST) * len(SLOW)} points: fast {FAST[0]}..{FAST[-1]} x slow {SLOW[0]}..{SLOW[-1]}",
        },
        needs={"ray": "ray", "ray_start": "ray", "backtrader1": "backtrader", "backtrader2": "backtrader"},
    )
    if report is None:
        return
    one, serial = report.get("single"), report.get("serial")
    if isinstance(one, dict) and isinstance(serial, dict) and "mean_point_s" in serial:
        per_point = serial["seconds"] / serial["points"]
        report["overhead_per_point"] = {
            "single_run_s": one["seconds"],
            "sweep_s_per_point": round(per_point, 4),
            "share_of_a_run": round(per_point / one["seconds"] - 1, 4),
            "note": "the serial sweep's wall time per point (data read once, table, statistics) against one run",
        }
    for ours, theirs in (("serial", "backtrader1"), ("process2", "backtrader2")):
        a, b = report.get(ours), report.get(theirs)
        if isinstance(a, dict) and isinstance(b, dict) and "points_per_s" in a and "points_per_s" in b:
            report[f"{ours}_vs_{theirs}"] = round(a["points_per_s"] / b["points_per_s"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
