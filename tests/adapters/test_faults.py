"""Faults that used to corrupt state: fills racing replace and cancel, unpayable partial fills, requests that
fail after being half written, models that answer nonsense."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from broker_sim import (
    Bar,
    InvalidOrder,
    OrderNotReplaceable,
    OrderStatus,
    PaperBroker,
    SimulatedClock,
    hookimpl,
)
from broker_sim.plugins import create_plugin_manager
from tests.conftest import T0


def _broker(cash: float = 100_000, **settings: Any) -> PaperBroker:
    settings.setdefault("slippage", "none")
    return PaperBroker(cash, clock=SimulatedClock(T0), **settings)


async def _bar(broker: PaperBroker, minute: int, price: float, volume: float = 1000.0) -> None:
    when = T0 + timedelta(minutes=minute)
    await broker.clock.advance_to(when, events_pending=True)  # type: ignore[attr-defined]
    await broker.update_market(Bar("AAPL", when, price, price, price, price, volume, 60.0))


async def test_a_partial_fill_while_a_replace_travels_then_the_replace_takes_the_rest() -> None:
    latency = {"model": "per_action", "submit": 0, "replace": 90}
    broker = _broker(latency=latency, fill={"model": "volume_limited", "volume_limit": 0.01})
    await _bar(broker, 0, 100.0)
    order = await broker.buy("AAPL", 50, type="limit", limit_price=101.0, time_in_force="gtc")
    await _bar(broker, 1, 100.0)  # 10 fill
    successor = await broker.replace_order(order.id, quantity=40, limit_price=100.5)
    await _bar(broker, 2, 100.0)  # 10 more fill while the replace travels (old stays pending_replace)
    old = await broker.get_order(order.id)
    assert old.status is OrderStatus.PENDING_REPLACE and old.filled_quantity == 20
    await broker.clock.advance(60)  # type: ignore[attr-defined]
    old, new = await broker.get_order(order.id), await broker.get_order(successor.id)
    assert old.status is OrderStatus.REPLACED and new.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
    assert new.quantity == 20  # the new total 40, less the 20 the old order filled
    assert set(broker.reservations()) == {new.id}


async def test_a_replace_is_refused_while_a_cancel_travels_and_changes_nothing() -> None:
    broker = _broker(latency={"model": "constant", "seconds": 5.0})
    await _bar(broker, 0, 100.0)
    order = await broker.buy("AAPL", 5, type="limit", limit_price=90.0, time_in_force="gtc")
    await broker.clock.advance(10)  # type: ignore[attr-defined]
    await broker.cancel_order(order.id)
    before = (await broker.list_orders("all"), await broker.get_account(), broker.reservations())
    with pytest.raises(OrderNotReplaceable, match="is pending_cancel"):
        await broker.replace_order(order.id, limit_price=91.0)
    assert (await broker.list_orders("all"), await broker.get_account(), broker.reservations()) == before


async def test_a_later_partial_fill_the_account_cannot_pay_cancels_the_rest_and_keeps_the_fills() -> None:
    broker = _broker(10_000, latency="none", fill={"model": "volume_limited", "volume_limit": 0.01})
    await _bar(broker, 0, 100.0)
    order = await broker.buy("AAPL", 90, time_in_force="gtc")  # holds 9,000 of the 10,000
    await _bar(broker, 1, 100.0)  # 10 fill at 100
    await _bar(broker, 2, 900.0)  # 10 more would cost 9,000 with 1,000 of cash left: refused
    final = await broker.get_order(order.id)
    assert final.status is OrderStatus.CANCELED and final.filled_quantity == 10
    assert "insufficient buying power at fill" in (final.reject_reason or "")
    assert broker.reservations() == {}


async def test_an_absurd_quantity_is_refused_before_anything_is_written() -> None:
    broker = _broker(latency="none")
    with pytest.raises(InvalidOrder, match="quantity is too large"):
        await broker.buy("AAPL", 10**400, reference_price=100.0)
    assert await broker.list_orders("all") == [] and broker.reservations() == {}


class _NaNLatency:
    @hookimpl(tryfirst=True)
    def broker_sim_latency(self, order: Any, action: Any) -> float:
        return math.nan


class _ZeroSlippage:
    @hookimpl(tryfirst=True)
    def broker_sim_slippage(self, order: Any, price: float) -> float:
        return 0.0


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (_NaNLatency(), r"latency model 'uniform' \(with plugin .*\) returned nan seconds"),
        (_ZeroSlippage(), r"slippage model 'fixed_bps' \(with plugin .*\) returned price 0.0 \(estimate\)"),
    ],
)
async def test_a_model_answering_nonsense_rejects_the_order_naming_it_and_holds_nothing(
    plugin: object, message: str
) -> None:
    manager = create_plugin_manager()
    manager.register(plugin)
    broker = PaperBroker(100_000, clock=SimulatedClock(T0), plugin_manager=manager)
    order = await broker.buy("AAPL", 10, reference_price=100.0)
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason is not None
    import re

    assert re.search(message, order.reject_reason), order.reject_reason
    assert broker.reservations() == {} and (await broker.get_account()).cash == 100_000
