"""Adapter harnesses for the Broker contract suite: each gives a `Broker` plus what the suite needs around it.

A harness is how the suite drives a venue it does not own: move a symbol's price, let requests in flight
arrive, and say what the adapter can do (`capabilities`). The suite itself only calls the `Broker` interface and
collects fills from order events. To run the suite against another adapter, write a harness like
`PaperHarness` and add its factory to `HARNESSES` (see CONTRIBUTING.md).

Capabilities (a test marked ``@pytest.mark.needs("name")`` runs only on the harnesses that have it):

* ``prices``: the harness can set a symbol's price, and market orders fill at about that price.
* ``seed_models``: the seed engine's models: 5 bps slippage per side and 0.5-2 s latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import attrs

from broker_sim import Broker, Fill, OrderEvent, OrderStatus, PaperBroker, SimulatedClock, Trade
from broker_sim.clock import Clock

#: A Monday, 14:30 UTC (09:30 New York): the regular session is open.
START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
INITIAL_BALANCE = 100_000.0


class Harness(Protocol):
    """What the contract suite needs besides the `Broker` itself."""

    name: str
    capabilities: frozenset[str]
    broker: Broker
    #: Every order event the broker published since the harness was made, in order.
    events: list[OrderEvent]

    async def set_price(self, symbol: str, price: float) -> None:
        """Make `price` the market price of `symbol` at the venue."""
        ...

    async def settle(self) -> None:
        """Let every request on its way reach the venue (and what follows from it happen)."""
        ...

    async def close(self) -> None:
        """Close the broker and whatever the harness started."""
        ...


class PaperHarness:
    """The paper adapter on a simulated clock, with the seed's models (or none of the latency)."""

    name = "paper"
    capabilities = frozenset({"prices", "seed_models"})

    def __init__(self, *, latency: bool = True) -> None:
        self.clock = SimulatedClock(START)
        self.paper = PaperBroker(
            INITIAL_BALANCE, seed=11, clock=self.clock, latency=None if latency else "none", symbols=None
        )
        self.broker: Broker = self.paper
        self.events: list[OrderEvent] = []
        self.broker.add_listener(self.events.append)
        if not latency:
            self.name = "paper-instant"
            self.capabilities = frozenset({"prices"})

    async def set_price(self, symbol: str, price: float) -> None:
        await self.paper.update_market(Trade(symbol, self.clock.now(), price, 100.0))

    async def settle(self) -> None:
        await self.clock.advance(5.0)

    async def close(self) -> None:
        await self.broker.close()


class AlpacaHarness:
    """`AlpacaBroker` talking to `broker-sim serve` on 127.0.0.1: a served paper account (no slippage, no fees,
    1 s latency) whose clock a synthetic feed for an unrelated symbol keeps moving at 600x.

    `set_price` hands the served paper broker a trade, as the venue's own market would; `settle` lets 5 simulated
    seconds pass at the venue and then waits until the adapter has heard, over trade_updates, every order status
    the venue holds. Capabilities: ``prices`` only (the seed's models are the paper adapter's).
    """

    name = "alpaca"
    capabilities = frozenset({"prices"})

    def __init__(self, *, clock: Clock | None = None, stream_url: Callable[[str], str] | None = None) -> None:
        self._clock = clock
        #: Makes the trade_updates URL from the server's ws:// base (tests put a proxy in between).
        self._stream_url = stream_url
        self._stack = contextlib.AsyncExitStack()
        self.events: list[OrderEvent] = []
        self._heard = asyncio.Event()

    async def start(self) -> AlpacaHarness:
        from broker_sim.adapters.alpaca import AlpacaBroker
        from tests.serve.conftest import KEY, SECRET, serving

        directory = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
        overrides: dict[str, Any] = {
            "broker": {"initial_balance": INITIAL_BALANCE, "symbols": ["AAPL", "MSFT"]},
            "models": {
                "slippage": {"model": "none"},
                "latency": {"model": "constant", "seconds": 1.0},
                "fill": {"model": "immediate"},
                "commission": {"model": "none"},
            },
            "prices": {
                "clock": "simulated",
                "sources": [
                    {
                        "source": "synthetic",
                        "symbols": ["ZZZ"],
                        "start": START.isoformat(),
                        "interval": 60,
                        "count": 200_000,
                    }
                ],
            },
        }
        self.server = await self._stack.enter_async_context(serving(directory, overrides=overrides))
        self.broker: Broker = AlpacaBroker(
            base_url=self.server.url,
            key_id=KEY,
            secret_key=SECRET,
            reconnect_backoff=0.01,
            seed=3,
            clock=self._clock,
            stream_url=self._stream_url(self.server.ws_url) if self._stream_url else None,
        )
        self.broker.add_listener(self._hear)
        await self.broker.connect()
        self._stack.push_async_callback(self.broker.close)
        return self

    def _hear(self, event: OrderEvent) -> None:
        self.events.append(event)
        self._heard.set()

    async def set_price(self, symbol: str, price: float) -> None:
        paper = self.server.broker
        await paper.update_market(Trade(symbol, paper.clock.now(), price, 100.0))

    async def settle(self) -> None:
        await self.server.broker.clock.sleep(5.0)
        while True:
            venue = {o.id: (o.status, o.filled_quantity) for o in await self.server.broker.list_orders("all")}
            heard = {e.order.id: (e.order.status, e.order.filled_quantity) for e in self.events}
            # A held exit has nothing to be heard: held is a status, not a trade_updates event.
            if all(heard.get(i) == state or state[0] is OrderStatus.HELD for i, state in venue.items()):
                return
            self._heard.clear()
            await asyncio.wait_for(self._heard.wait(), 10.0)

    async def close(self) -> None:
        await self._stack.aclose()


@attrs.frozen
class HarnessSpec:
    """A harness the suite runs against: how to make a fresh one, and what its adapter can do."""

    factory: Callable[[], Awaitable[Harness]]
    capabilities: frozenset[str]


async def _paper() -> Harness:
    return PaperHarness()


async def _paper_instant() -> Harness:
    return PaperHarness(latency=False)


async def _alpaca() -> Harness:
    return await AlpacaHarness().start()


#: name -> harness; every contract test runs once per entry that has the capabilities it needs.
HARNESSES: dict[str, HarnessSpec] = {
    "paper": HarnessSpec(_paper, PaperHarness.capabilities),
    "paper-instant": HarnessSpec(_paper_instant, frozenset({"prices"})),
    "alpaca": HarnessSpec(_alpaca, AlpacaHarness.capabilities),
}


def fills_of(harness: Harness) -> list[Fill]:
    """The fills the broker reported in its events (the suite's only source of fills)."""
    return [event.fill for event in harness.events if event.fill is not None]
