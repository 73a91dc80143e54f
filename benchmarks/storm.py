"""Order-storm benchmark: a market order on every bar through `run_simulation`, recording on, against backtrader.

    python benchmarks/storm.py [--bars 100000] [--parts ours,backtrader,plain]

Prints one JSON object. `ours`: a config-driven run (`replay.py`'s config and generated one-minute CSV, latency
none, immediate fills, 5 bps slippage, ``session: always``) of `Storm`, which sends a market order on every bar,
buying and selling `QUANTITY` in turn; the run records as every run does (each fill and each ended order spooled
to the run's working folder, the trade tally; no report files written). `backtrader` (when installed, ``pip
install -e '.[bench]'``): the same orders on the same data, cheat-on-close so each fills at its bar's close.
`plain`: `benchmarks/core.py`'s market orders/s straight on a `PaperBroker` (latency none: no run, no recording),
for reference. Each part runs in its own process; market orders/s are end to end (config, CSV, engine, strategy)
in wall-clock and in process CPU time, and ``ours_vs_backtrader`` is the ratio of the CPU figures (issue 25's
targets: >= 50,000 orders/s with recording, >= 10x backtrader).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ROOT = HERE.parent

from harness import run_parts  # noqa: E402
from replay import QUANTITY, config_text, generate, peak_rss_mb  # noqa: E402

from broker_sim import Bar, Strategy  # noqa: E402

#: The default size: the `ours` part takes well under a minute.
BARS = 100_000


class Storm(Strategy):
    """A market order on every bar: buy `quantity`, then sell it, and so on, so the position stays flat."""

    def __init__(self, quantity: float = QUANTITY) -> None:
        self.quantity = quantity
        self.bars = 0

    def on_bar(self, bar: Bar) -> Awaitable[Any]:
        self.bars += 1
        send = self.broker.buy if self.bars % 2 else self.broker.sell
        return send(bar.symbol, self.quantity)


def _rates(orders: int, wall: float, cpu: float) -> dict[str, float]:
    """A part's figures: market orders filled, seconds, and orders/s in wall-clock and in CPU time."""
    return {
        "orders": orders,
        "seconds": round(wall, 3),
        "orders_per_s": round(orders / wall),
        "cpu_seconds": round(cpu, 3),
        "cpu_orders_per_s": round(orders / cpu),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def ours(path: Path) -> dict[str, float]:
    """broker-sim: the storm through `run_simulation`, every order filled and recorded."""
    from broker_sim import run_simulation
    from broker_sim.wiring import parse_config

    strategy = f"class: '{Path(__file__).resolve()}:Storm'"
    config = parse_config(config_text(path, strategy=strategy, latency="{model: none}"), base_dir=ROOT)
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_simulation(config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    fills, recorded = len(result.fills), len(result.orders)
    if not fills == recorded == result.events:
        raise SystemExit(f"storm: {fills} fills, {recorded} orders recorded on {result.events} bars; want one each")
    figures = {**_rates(fills, wall, cpu), "round_trips": result.metrics.round_trips}
    result.close()
    return figures


def backtrader_run(path: Path) -> dict[str, float]:
    """backtrader: a market order on every bar, cheat-on-close (filled at the close of the bar that sent it)."""
    import backtrader as bt

    class Storm(bt.Strategy):
        def __init__(self) -> None:
            self.bars = self.filled = 0

        def next(self) -> None:
            self.bars += 1
            (self.buy if self.bars % 2 else self.sell)(size=QUANTITY)

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                self.filled += 1

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1e9)
    cerebro.broker.set_slippage_perc(0.0005)
    cerebro.broker.set_coc(True)
    data = bt.feeds.GenericCSVData(
        dataname=str(path), dtformat="%Y-%m-%dT%H:%M:%S+00:00", timeframe=bt.TimeFrame.Minutes,
        datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1,
    )  # fmt: skip
    cerebro.adddata(data)
    cerebro.addstrategy(Storm)
    wall, cpu = time.perf_counter(), time.process_time()
    (strategy,) = cerebro.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # The last bar's order has no later bar to be filled on.
    if strategy.filled != strategy.bars - 1:
        raise SystemExit(f"storm: backtrader filled {strategy.filled} of {strategy.bars} orders")
    return _rates(strategy.filled, wall, cpu)


def plain(path: Path) -> dict[str, Any]:
    """`benchmarks/core.py`'s figure: market orders straight on a `PaperBroker` (latency none, no run, no
    recording), best of its runs; `path` is not read."""
    import core

    rate, orders = asyncio.run(core._rate(core.market_orders_no_latency(), 100))
    return {"orders": orders, "orders_per_s": round(rate), "best_of": core.REPEATS}


PARTS: dict[str, Callable[[Path], Any]] = {"ours": ours, "backtrader": backtrader_run, "plain": plain}


def main() -> None:
    report = run_parts(
        __file__,
        __doc__,
        PARTS,
        make_csv=generate,
        default="ours,backtrader,plain",
        header={
            "benchmark": "broker_sim.storm",
            "strategy": f"a market order every bar, buy and sell {QUANTITY} in turn, latency none, 5 bps",
        },
        needs={"backtrader": "backtrader"},
        bars=BARS,
    )
    if report is None:
        return
    mine, theirs = report.get("ours"), report.get("backtrader")
    if isinstance(mine, dict) and isinstance(theirs, dict) and {"cpu_orders_per_s"} <= mine.keys() & theirs.keys():
        report["ours_vs_backtrader"] = round(mine["cpu_orders_per_s"] / theirs["cpu_orders_per_s"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
