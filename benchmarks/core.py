"""Throughput of the paper broker's two hot paths: market updates and market orders, on the simulated clock.

Run with ``python benchmarks/core.py`` (or ``make bench``); prints one JSON object to stdout. Each figure is the
best of 3 runs, each run sized to take about 0.7 s of wall time. ``--profile`` instead prints where the time of
one market order goes (latency none), per order, from cProfile.

Measured:

* ``update_market`` calls/s for a symbol with no working order, through `update_market_nowait` (the replay hot
  path) and through ``await update_market``; then the same with one resting gtc buy limit far below the price,
  which the fill model is asked about on every update and never fills.
* market orders/s from submit to fill, alternating buy and sell so the position stays flat: with latency none
  (submit returns the order filled) and with the seed's 0.5-2.0 s uniform latency (submit, then
  ``await broker.wait_for(order.id, "filled")``, which advances the simulated clock by itself).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import platform
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import compiled

import broker_sim
from broker_sim import Bar, OrderStatus, PaperBroker, SimulatedClock

#: A Monday, 14:30 UTC: the regular session is open.
START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
SYMBOL = "AAPL"
REPO_ROOT = str(Path(__file__).resolve().parent.parent)
#: Large enough that no order in any run is rejected for buying power.
INITIAL_BALANCE = 1e12
#: Bars cycled through by the market-update measurements (pre-built, so bar construction is not measured).
BAR_COUNT = 10_000
#: Wall time each measured run aims at, in seconds.
TARGET_S = 0.7
REPEATS = 3
LATENCY_UNIFORM = {"model": "uniform", "low": 0.5, "high": 2.0}

#: A measured run: does `n` operations and returns the elapsed wall time in seconds.
Run = Callable[[int], Awaitable[float]]


def _bars(count: int = BAR_COUNT) -> list[Bar]:
    """Minute bars oscillating around 100, so a buy limit at 1.0 never becomes marketable."""
    bars = []
    for i in range(count):
        close = 100.0 + (i % 20 - 10) * 0.05
        when = START + timedelta(minutes=i)
        bars.append(Bar(SYMBOL, when, close, close + 0.1, close - 0.1, close, 1_000.0))
    return bars


BARS = _bars()


async def _broker(latency: dict[str, object] | str = "none", *, resting_limit: bool = False) -> PaperBroker:
    broker = PaperBroker(INITIAL_BALANCE, seed=42, clock=SimulatedClock(START), latency=latency)
    await broker.update_market(BARS[0])
    if resting_limit:
        order = await broker.buy(SYMBOL, 1, type="limit", limit_price=1.0, time_in_force="gtc")
        if order.status is not OrderStatus.NEW:
            raise SystemExit(f"benchmark set-up: the resting limit order is {order.status.value}, not working (new)")
    return broker


async def _check_still_resting(broker: PaperBroker, resting_limit: bool) -> None:
    if resting_limit and len(await broker.list_orders("open")) != 1:
        raise SystemExit("benchmark: the resting limit order filled or left the book; the figure is invalid")


def update_nowait(resting_limit: bool) -> Run:
    async def run(n: int) -> float:
        broker = await _broker(resting_limit=resting_limit)
        update = broker.update_market_nowait
        bars = BARS
        rounds = n // len(bars)
        gc.collect()
        start = time.perf_counter()
        for _ in range(rounds):
            for bar in bars:
                update(bar)
        elapsed = time.perf_counter() - start
        await _check_still_resting(broker, resting_limit)
        return elapsed

    return run


def update_await(resting_limit: bool) -> Run:
    async def run(n: int) -> float:
        broker = await _broker(resting_limit=resting_limit)
        update = broker.update_market
        bars = BARS
        rounds = n // len(bars)
        gc.collect()
        start = time.perf_counter()
        for _ in range(rounds):
            for bar in bars:
                await update(bar)
        elapsed = time.perf_counter() - start
        await _check_still_resting(broker, resting_limit)
        return elapsed

    return run


async def _market_orders_instant(broker: PaperBroker, n: int) -> None:
    buy, sell = broker.buy, broker.sell
    for i in range(n):
        order = await (buy if i % 2 == 0 else sell)(SYMBOL, 1, reference_price=100.0)
        if order.status is not OrderStatus.FILLED:
            raise SystemExit(f"benchmark: order {order.id} is {order.status.value}, not filled: {order}")


def market_orders_no_latency() -> Run:
    async def run(n: int) -> float:
        broker = await _broker("none")
        gc.collect()
        start = time.perf_counter()
        await _market_orders_instant(broker, n)
        return time.perf_counter() - start

    return run


def market_orders_uniform_latency() -> Run:
    async def run(n: int) -> float:
        broker = await _broker(LATENCY_UNIFORM)
        buy, sell, wait_for = broker.buy, broker.sell, broker.wait_for
        gc.collect()
        start = time.perf_counter()
        for i in range(n):
            order = await (buy if i % 2 == 0 else sell)(SYMBOL, 1, reference_price=100.0)
            order = await wait_for(order.id, "filled")
            if order.status is not OrderStatus.FILLED:
                raise SystemExit(f"benchmark: order {order.id} is {order.status.value}, not filled: {order}")
        return time.perf_counter() - start

    return run


async def _rate(run: Run, step: int) -> tuple[float, int]:
    """Best-of-`REPEATS` operations per second, with `n` (a multiple of `step`) sized to about `TARGET_S`."""
    n = step
    while (elapsed := await run(n)) < TARGET_S / 10:
        n *= 4
    n = max(step, round(n * TARGET_S / elapsed / step) * step)
    best = min([await run(n) for _ in range(REPEATS)])
    return n / best, n


async def _measure() -> dict[str, object]:
    measurements: dict[str, tuple[Run, int]] = {
        "update_market_nowait_no_order_per_s": (update_nowait(False), BAR_COUNT),
        "update_market_await_no_order_per_s": (update_await(False), BAR_COUNT),
        "update_market_nowait_resting_limit_per_s": (update_nowait(True), BAR_COUNT),
        "update_market_await_resting_limit_per_s": (update_await(True), BAR_COUNT),
        "market_orders_latency_none_per_s": (market_orders_no_latency(), 100),
        "market_orders_latency_uniform_per_s": (market_orders_uniform_latency(), 100),
    }
    rates: dict[str, int] = {}
    iterations: dict[str, int] = {}
    for name, (run, step) in measurements.items():
        rate, n = await _rate(run, step)
        rates[name] = round(rate)
        iterations[name] = n
    return {
        "benchmark": "broker_sim.core",
        "broker_sim": broker_sim.__version__,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "machine": platform.machine(),
        "compiled": compiled(),
        "best_of": REPEATS,
        **rates,
        "us_per_market_order_latency_none": round(1e6 / rates["market_orders_latency_none_per_s"], 2),
        "us_per_market_order_latency_uniform": round(1e6 / rates["market_orders_latency_uniform_per_s"], 2),
        "iterations": iterations,
    }


def _where(file: str, line: int, function: str) -> str:
    """A profile row's function, with its path shortened to the package or the repository."""
    if file == "~":
        return function
    for root in ("site-packages/", f"{REPO_ROOT}/"):
        file = file.split(root)[-1]
    return f"{file}:{line} {function}"


async def _profile(orders: int, top: int) -> None:
    """Print the `top` functions by own time per market order (latency none), then by cumulative time."""
    broker = await _broker("none")
    await _market_orders_instant(broker, 1_000)  # warm up
    profiler = cProfile.Profile()
    profiler.enable()
    await _market_orders_instant(broker, orders)
    profiler.disable()
    rows = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in rows.values())
    print(f"{orders} market orders, latency none, under cProfile: {total / orders * 1e6:.1f} us/order in total")
    for column, label in ((2, "own time"), (3, "cumulative time")):
        ranked = sorted(rows.items(), key=lambda item: item[1][column], reverse=True)[:top]
        print(f"\ntop {top} by {label} (us/order, calls/order, function)")
        for (file, line, function), numbers in ranked:
            calls, seconds = numbers[1], numbers[column]
            print(f"{seconds / orders * 1e6:8.2f}  {calls / orders:6.1f}  {_where(file, line, function)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", action="store_true", help="profile market orders (latency none) instead")
    parser.add_argument("--orders", type=int, default=50_000, help="orders to profile (with --profile)")
    parser.add_argument("--top", type=int, default=10, help="rows per profile table (with --profile)")
    args = parser.parse_args(argv)
    if args.profile:
        asyncio.run(_profile(args.orders, args.top))
        return
    result = asyncio.run(_measure())
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
