"""Per-update cost of the built-in indicators (`broker_sim.indicators`) against talipp's, when installed.

    python benchmarks/indicators.py [--updates N]

Feeds the same seeded random walk, one value at a time as a strategy's `on_bar` would, to SMA(30), EMA(30) and
RSI(14) of each library, and prints JSON: microseconds per update (best of 3) and the largest difference between
the two libraries' values (they must agree).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from typing import Any

from broker_sim import indicators


def _walk(count: int) -> list[float]:
    draw = random.Random(11)
    price, values = 100.0, []
    for _ in range(count):
        price *= 1 + draw.gauss(0, 0.002)
        values.append(price)
    return values


def _time(make: Callable[[], Any], feed: Callable[[Any, float], Any], values: list[float]) -> tuple[float, list]:
    best = float("inf")
    out: list = []
    for _ in range(3):
        indicator, out = make(), []
        start = time.perf_counter()
        for value in values:
            out.append(feed(indicator, value))
        best = min(best, time.perf_counter() - start)
    return best / len(values) * 1e6, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200_000)
    values = _walk(parser.parse_args().updates)
    result: dict[str, Any] = {"benchmark": "broker_sim.indicators", "updates": len(values)}
    ours = {
        "SMA(30)": (lambda: indicators.SMA(30), lambda i, v: i.update(v)),
        "EMA(30)": (lambda: indicators.EMA(30), lambda i, v: i.update(v)),
        "RSI(14)": (lambda: indicators.RSI(14), lambda i, v: i.update(v)),
    }
    try:
        from talipp.indicators import EMA, RSI, SMA
    except ImportError:
        theirs = {}
    else:

        def talipp_feed(indicator: Any, value: float) -> Any:
            indicator.add(value)
            return indicator[-1]

        theirs = {
            "SMA(30)": (lambda: SMA(30), talipp_feed),
            "EMA(30)": (lambda: EMA(30), talipp_feed),
            "RSI(14)": (lambda: RSI(14), talipp_feed),
        }
    for name, (make, feed) in ours.items():
        micro, out = _time(make, feed, values)
        row: dict[str, Any] = {"broker_sim_us": round(micro, 3)}
        if name in theirs:
            their_micro, their_out = _time(*theirs[name], values)
            diffs = [abs(a - b) for a, b in zip(out, their_out, strict=True) if a is not None and b is not None]
            row.update(talipp_us=round(their_micro, 3), max_difference=max(diffs, default=0.0))
        result[name] = row
    print(json.dumps(result))


if __name__ == "__main__":
    main()
