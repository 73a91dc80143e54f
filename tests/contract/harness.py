"""Adapter harnesses for the Broker contract suite: each gives a `Broker` plus what the suite needs around it.

A harness is how the suite drives a venue it does not own: move a symbol's price, let requests in flight
arrive, and say what the adapter can do (`capabilities`). The suite itself only calls the `Broker` interface and
collects fills from order events. To run the suite against another adapter, write a harness like
`PaperHarness` and add its factory to `HARNESSES` (see CONTRIBUTING.md).

Capabilities (a test marked ``@pytest.mark.needs("name")`` runs only on the harnesses that have it):

* ``prices``: the harness can set a symbol's price, and market orders fill at about that price.
* ``risk_rejection``: an order the account cannot pay for comes back `rejected` with a `reject_reason`
  (rather than an error).
* ``seed_models``: the seed engine's models: 5 bps slippage per side and 0.5-2 s latency.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

import attrs

from broker_sim import Broker, Fill, OrderEvent, PaperBroker, SimulatedClock, Trade

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
    capabilities = frozenset({"prices", "risk_rejection", "seed_models"})

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
            self.capabilities = frozenset({"prices", "risk_rejection"})

    async def set_price(self, symbol: str, price: float) -> None:
        await self.paper.update_market(Trade(symbol, self.clock.now(), price, 100.0))

    async def settle(self) -> None:
        await self.clock.advance(5.0)

    async def close(self) -> None:
        await self.broker.close()


@attrs.frozen
class HarnessSpec:
    """A harness the suite runs against: how to make a fresh one, and what its adapter can do."""

    factory: Callable[[], Awaitable[Harness]]
    capabilities: frozenset[str]


async def _paper() -> Harness:
    return PaperHarness()


async def _paper_instant() -> Harness:
    return PaperHarness(latency=False)


#: name -> harness; every contract test runs once per entry that has the capabilities it needs.
HARNESSES: dict[str, HarnessSpec] = {
    "paper": HarnessSpec(_paper, PaperHarness.capabilities),
    "paper-instant": HarnessSpec(_paper_instant, frozenset({"prices", "risk_rejection"})),
}


def fills_of(harness: Harness) -> list[Fill]:
    """The fills the broker reported in its events (the suite's only source of fills)."""
    return [event.fill for event in harness.events if event.fill is not None]
