"""A server restart under a connected `AlpacaBroker`: `broker-sim serve` with a journal goes away and comes back on
the same port with the same account; the adapter's stream reconnects and resyncs, and every fill reaches the
strategy exactly once — none lost while the server was down, none repeated by the resync."""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from pathlib import Path

from broker_sim import Fill, OrderEvent, OrderStatus
from broker_sim.adapters.alpaca import AlpacaBroker
from tests.serve.conftest import KEY, SECRET, serving

WAIT_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_server_restart_loses_and_repeats_no_fill(tmp_path: Path) -> None:
    port = free_port()
    overrides = {
        "broker": {"journal": str(tmp_path / "acct.db")},
        "serve": {"key_id": KEY, "secret_key": SECRET, "port": port},
    }
    heard: list[Fill] = []
    #: Set when the adapter has heard an order's last fill: `wait_for` may answer from the REST API first.
    completed: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def hear(event: OrderEvent) -> None:
        if event.fill is not None:
            heard.append(event.fill)
            if event.order.status is OrderStatus.FILLED:
                completed[event.order.id].set()

    broker: AlpacaBroker | None = None
    try:
        async with serving(tmp_path, overrides=overrides) as first:
            broker = AlpacaBroker(
                base_url=first.url, key_id=KEY, secret_key=SECRET, reconnect_backoff=0.05, max_reconnect_backoff=0.2
            )
            broker.add_listener(hear)
            await broker.connect()
            bought = await broker.buy("AAPL", 10)
            await broker.wait_for(bought.id, "filled", timeout=WAIT_S)
            # A gtc limit far above the market: still working when the server goes away.
            resting = await broker.sell("AAPL", 4, type="limit", limit_price=10_000.0, time_in_force="gtc")
            await broker.wait_for(resting.id, "new", timeout=WAIT_S)
        async with serving(tmp_path, overrides=overrides) as second:
            assert second.url == first.url  # the same address: the adapter does not know the server restarted
            # The account came back with the working order; replaced to a marketable limit, it fills.
            successor = await broker.replace_order(resting.id, limit_price=1.0)
            await broker.wait_for(successor.id, "filled", timeout=WAIT_S)
            sold = await broker.sell("AAPL", 6)
            await broker.wait_for(sold.id, "filled", timeout=WAIT_S)
            # Stop the server only once the adapter has heard both fills (they come by the stream, or the resync).
            for order_id in (successor.id, sold.id):
                await asyncio.wait_for(completed[order_id].wait(), WAIT_S)
            venue_fills = {fill.execution_id: fill for fill in second.broker.fills}
    finally:
        if broker is not None:
            await broker.close()
    executions = [fill.execution_id for fill in heard]
    assert len(executions) == len(set(executions)), f"a fill was delivered twice: {executions}"
    assert set(executions) == set(venue_fills), "the adapter heard a different set of fills than the venue made"
    assert sorted((f.order_id, f.side.value, f.quantity) for f in heard) == sorted(
        (f.order_id, f.side.value, f.quantity) for f in venue_fills.values()
    )
    position = sum(f.quantity if f.side.value == "buy" else -f.quantity for f in heard)
    assert position == 0.0
