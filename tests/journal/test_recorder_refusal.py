"""A recorder that raises (a journal that cannot write) leaves the account exactly as it was: the door records a
change before it applies it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from broker_sim import Bar, PaperBroker, SimulatedClock
from broker_sim.changes import Change

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


class DiskFull(OSError):
    pass


def refuse(change: Change) -> None:
    raise DiskFull(f"no space left to record {type(change).__name__}")


async def _seen(broker: PaperBroker) -> tuple[object, ...]:
    """Everything the door changes (the market's marks are not the door's: a refused fill still moves them)."""
    account = await broker.get_account()
    return (
        (account.cash, account.realized_pnl, account.fees),
        [(p.symbol, p.quantity, p.avg_price, p.cost_basis) for p in await broker.get_positions()],
        await broker.list_orders("all"),
        broker.reservations(),
        list(broker.fills),
    )


async def test_a_recorder_that_raises_changes_nothing() -> None:
    broker = PaperBroker(100_000, seed=3, clock=SimulatedClock(T0), latency="none", session="always")
    await broker.update_market(Bar("X", T0, 100, 101, 99, 100, 1e6, 60.0))
    await broker.buy("X", 10)
    resting = await broker.buy("X", 5, type="limit", limit_price=90.0)
    before = await _seen(broker)

    broker.state.recorder = refuse
    with pytest.raises(DiskFull, match="NewOrder"):
        await broker.sell("X", 10)
    with pytest.raises(DiskFull):
        await broker.cancel_order(resting.id)
    with pytest.raises(DiskFull):  # the bar would fill the resting limit: the execution is refused whole
        await broker.update_market(Bar("X", T0, 89, 89, 80, 85, 1e6, 60.0))
    assert await _seen(broker) == before

    broker.state.recorder = None  # the disk has room again: the same requests now go through
    await broker.cancel_order(resting.id)
    assert (await broker.get_order(resting.id)).status.value == "canceled"
