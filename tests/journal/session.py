"""A paper session for the crash tests, run as a process: ``python session.py JOURNAL SEED BARS``.

A seeded strategy trades one symbol on a simulated clock through a journaled `PaperBroker`: every bar it may send
market, limit, stop and bracket orders, cancel and replace working ones, each with a client order id made from the
bar, so a bar delivered again (at-least-once after a restart) sends nothing twice. Its decisions come from the bar
alone (a `random.Random` seeded from the seed and the bar's index), never from memory, so a restarted process makes
the same ones. It prints what the strategy is told, one line at a time and flushed, so a test that kills it knows
what was announced: ``O <order id> <client order id>`` for each new order, ``F <execution id>`` for each fill,
``B <index>`` after each bar, ``DONE`` at the end. Started again on the same journal it recovers the account and
goes on from the bar of its journal's last change.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import sys
from datetime import UTC, datetime

from broker_sim import (
    Bar,
    BrokerError,
    EventType,
    OrderEvent,
    OrderRefused,
    OrderRequest,
    PaperBroker,
    SimulatedClock,
)

#: 2024-01-02 14:30 UTC; bar `i` is stamped START + 60 i.
START = 1_704_205_800.0
SYMBOL = "X"


def price_at(index: int) -> float:
    """The bar's close: a wave, so limit and stop orders both fill and wait."""
    return 100.0 * (1.0 + 0.05 * math.sin(index / 9.0)) + 0.5 * math.sin(index * 1.7)


def say(*words: object) -> None:
    """One line on stdout in one write: a pipe takes it whole (a kill -9 never leaves half a line)."""
    os.write(1, (" ".join(map(str, words)) + "\n").encode())


def told(event: OrderEvent) -> None:
    """What the strategy hears, printed at once (a kill -9 loses nothing already printed)."""
    if event.type is EventType.PENDING_NEW or event.type is EventType.HELD:
        say("O", event.order.id, event.order.client_order_id)
    if event.fill is not None:
        say("F", event.fill.execution_id)


async def trade(broker: PaperBroker, index: int, seed: int) -> None:
    """The strategy's decisions on bar `index`."""
    rng = random.Random(f"{seed}:{index}")
    price = price_at(index)
    tag = f"b{index}"
    requests = [
        OrderRequest(SYMBOL, rng.choice(("buy", "sell")), rng.randint(1, 20), client_order_id=f"{tag}-m"),
    ]
    if rng.random() < 0.4:
        side = rng.choice(("buy", "sell"))
        limit = round(price * (1 - 0.01 * rng.random() if side == "buy" else 1 + 0.01 * rng.random()), 2)
        tif = rng.choice(("day", "gtc"))
        requests.append(
            OrderRequest(SYMBOL, side, rng.randint(1, 10), "limit", tif, limit_price=limit, client_order_id=f"{tag}-l")
        )
    if rng.random() < 0.15:
        side = rng.choice(("buy", "sell"))
        stop = round(price * (1.01 if side == "buy" else 0.99), 2)
        requests.append(
            OrderRequest(SYMBOL, side, rng.randint(1, 5), "stop", "gtc", stop_price=stop, client_order_id=f"{tag}-s")
        )
    if rng.random() < 0.1:
        requests.append(
            OrderRequest(
                SYMBOL,
                "buy",
                rng.randint(1, 5),
                "limit",
                "gtc",
                limit_price=round(price * 1.001, 2),
                order_class="bracket",
                take_profit={"limit_price": round(price * 1.02, 2)},
                stop_loss={"stop_price": round(price * 0.98, 2)},
                client_order_id=f"{tag}-x",
            )
        )
    for request in requests:
        with contextlib.suppress(OrderRefused):  # Alpaca's rules refuse some random orders: nothing is recorded
            await broker.submit_order(request)
    open_orders = sorted(await broker.list_orders("open"), key=lambda o: o.client_order_id)
    if open_orders and rng.random() < 0.3:
        with contextlib.suppress(BrokerError):  # already ending, or an exit that its entry holds
            await broker.cancel_order(rng.choice(open_orders).id)
    limits = [o for o in open_orders if o.limit_price is not None and o.parent_id is None and not o.legs]
    if limits and rng.random() < 0.2:
        order = rng.choice(limits)
        with contextlib.suppress(BrokerError):  # not replaceable now
            await broker.replace_order(
                order.id, limit_price=round(order.limit_price * (1 + rng.uniform(-0.005, 0.005)), 2)
            )


async def main(path: str, seed: int, bars: int) -> None:
    clock = SimulatedClock(START, auto_advance=False)
    broker = PaperBroker(
        1_000_000,
        seed=seed,
        journal=path,
        clock=clock,
        allow_short=True,
        session="always",
        latency={"model": "uniform", "low": 0.0, "high": 90.0},
        slippage={"model": "fixed_bps", "bps": 5},
        commission={"model": "per_share", "rate": 0.005, "minimum": 1.0},
    )
    broker.add_listener(told)
    async with broker:
        last, _ = broker.resume_point()
        first = 0 if last is None else math.ceil((last - START) / 60.0)  # the bar of the last change comes again
        for index in range(first, bars):
            moment = START + 60.0 * index
            if moment > clock.time():
                await clock.advance_to(moment)
            close = price_at(index)
            await broker.update_market(
                Bar(SYMBOL, datetime.fromtimestamp(moment, UTC), close, close * 1.002, close * 0.998, close, 1e6, 60.0)
            )
            await trade(broker, index, seed)
            say("B", index)
        await clock.advance(120.0)
    say("DONE")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
