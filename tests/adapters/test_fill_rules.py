"""The fill rules a quant checks first: trailing stops from acceptance, same_bar_close on later bars, commission
minimums per order, orders nobody decides, replace returning the new order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest

from broker_sim import Bar, FillDecision, OrderRequest, OrderStatus, PaperBroker, SimulatedClock, hookimpl
from broker_sim.adapters.paper.venue import first_snapshot
from broker_sim.builtin.fill import ImmediateFill
from broker_sim.builtin.fill_rules import FillRules
from broker_sim.plugins import create_plugin_manager
from tests.conftest import T0, collect_fills


def _broker(cash: float = 100_000, **models: Any) -> PaperBroker:
    models.setdefault("latency", "none")
    models.setdefault("slippage", "none")
    return PaperBroker(cash, clock=SimulatedClock(T0), **models)


async def _bar(broker: PaperBroker, minute: int, open_: float, high: float, low: float, close: float) -> None:
    when = T0 + timedelta(minutes=minute)
    await broker.clock.advance_to(when)  # type: ignore[attr-defined]
    await broker.update_market(Bar("AAPL", when, open_, high, low, close, 1e6))


async def test_a_trailing_stop_starts_from_the_price_in_force_at_acceptance_not_the_bar_before() -> None:
    broker = _broker()
    await _bar(broker, 0, 100, 110, 99, 100)
    await broker.buy("AAPL", 10)
    stop = await broker.sell("AAPL", 10, type="trailing_stop", trail_price=2.0, time_in_force="gtc")
    assert stop.status is OrderStatus.NEW and stop.hwm == 100 and stop.stop_price == 98  # not 110 - 2
    await _bar(broker, 1, 100, 101, 98.5, 99)  # judged on the old stop (98), then the mark moves to 101
    working = await broker.get_order(stop.id)
    assert working.status is OrderStatus.NEW and working.hwm == 101 and working.stop_price == 99
    await _bar(broker, 2, 99.5, 99.5, 98.9, 99)  # reaches 99: triggered, fills as a market order
    assert (await broker.get_order(stop.id)).status is OrderStatus.FILLED


async def test_a_buy_trailing_stop_follows_the_lows() -> None:
    broker = _broker(allow_short=True)
    await _bar(broker, 0, 50, 51, 49, 50)
    stop = await broker.buy("AAPL", 5, type="trailing_stop", trail_percent=10.0, time_in_force="gtc")
    assert (stop.hwm, stop.stop_price) == (50, pytest.approx(55.0))
    await _bar(broker, 1, 50, 50, 40, 41)
    moved = await broker.get_order(stop.id)
    assert (moved.hwm, moved.stop_price) == (40, pytest.approx(44.0))


async def test_replacing_a_trailing_stops_trail_keeps_its_high_water_mark() -> None:
    broker = _broker()
    await _bar(broker, 0, 100, 100, 100, 100)
    await broker.buy("AAPL", 10)
    stop = await broker.sell("AAPL", 10, type="trailing_stop", trail_price=2.0, time_in_force="gtc")
    await _bar(broker, 1, 100, 105, 103.5, 103.5)  # the mark moves to 105, the stop to 103
    replaced = await broker.replace_order(stop.id, trail=1.0)  # tighten the trail while the price is 103.5
    assert (replaced.hwm, replaced.stop_price) == (105, 104)  # 105 - 1, not 103.5 - 1 = 102.5 (looser than 103)
    await _bar(broker, 2, 104.5, 104.5, 103.8, 104)  # reaches 104: stopped out
    assert (await broker.get_order(replaced.id)).status is OrderStatus.FILLED


async def test_same_bar_close_judges_a_resting_limit_on_the_full_range_of_later_bars() -> None:
    broker = _broker(fill={"model": "bar", "timing": "same_bar_close"})
    await _bar(broker, 0, 100, 101, 99.5, 100)
    order = await broker.buy("AAPL", 1, type="limit", limit_price=99.0, time_in_force="gtc")
    assert order.status is OrderStatus.NEW  # the signal bar's close (100) is above the limit
    await _bar(broker, 1, 100, 104, 98, 100)  # the range reaches 99 even though it closes at 100
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED and filled.filled_avg_price == 99.0


async def test_a_market_order_under_same_bar_close_takes_the_signal_bars_close() -> None:
    broker = _broker(fill={"model": "bar", "timing": "same_bar_close"})
    await _bar(broker, 0, 100, 110, 90, 105)
    assert (await broker.buy("AAPL", 1)).filled_avg_price == 105


async def test_commission_minimum_is_per_order_across_partial_fills() -> None:
    broker = _broker(
        1e9,
        fill={"model": "volume_limited", "volume_limit": 1.0},
        commission={"model": "per_share", "rate": 0.005, "minimum": 1.0},
    )
    fills = collect_fills(broker)
    await _bar(broker, 0, 10, 10, 10, 10)
    order = await broker.buy("AAPL", 10_000, type="limit", limit_price=11.0, time_in_force="gtc")
    for minute in range(1, 101):  # 100 bars of 100 shares each: 100 partial fills
        when = T0 + timedelta(minutes=minute)
        await broker.clock.advance_to(when)  # type: ignore[attr-defined]
        await broker.update_market(Bar("AAPL", when, 10, 10, 10, 10, 100))
    assert (await broker.get_order(order.id)).status is OrderStatus.FILLED
    assert len(fills) == 100
    assert sum(f.fee for f in fills) == pytest.approx(50.0)  # 10,000 x 0.005, not 100 x the 1.00 minimum
    assert fills[0].fee == pytest.approx(1.0) and fills[1].fee == pytest.approx(0.0)


async def test_commission_cap_is_per_order() -> None:
    broker = _broker(commission={"model": "per_share", "rate": 0.01, "minimum": 0.0, "maximum": 5.0})
    await _bar(broker, 0, 10, 10, 10, 10)
    first = await broker.buy("AAPL", 600)
    second = await broker.buy("AAPL", 600)
    account = await broker.get_account()
    assert account.fees == pytest.approx(10.0)  # each order capped at 5.00
    assert first.status is second.status is OrderStatus.FILLED


class _StopsAreNotMine:
    """A fill model that only decides market and limit orders and answers None (not mine) for stops."""

    @hookimpl
    def broker_sim_fill(self, order: Any, market: Any) -> FillDecision | None:
        if order.type.value in ("market", "limit"):
            return FillDecision(order.remaining_quantity, market.price)
        return None


class _Registers:
    @hookimpl
    def broker_sim_register(self, registry: Any) -> None:
        registry.add("fill", "not_stops", _StopsAreNotMine)


async def test_an_order_no_fill_model_decides_is_rejected_naming_the_models() -> None:
    manager = create_plugin_manager()
    manager.register(_Registers())
    broker = PaperBroker(
        100_000, clock=SimulatedClock(T0), plugin_manager=manager, fill={"model": "not_stops"}, latency="none"
    )
    await _bar(broker, 0, 100, 100, 100, 100)
    stop = await broker.buy("AAPL", 1, type="stop", stop_price=110.0, time_in_force="gtc")
    assert stop.status is OrderStatus.REJECTED
    assert "no fill model decides stop orders: asked fill model 'not_stops'" in (stop.reject_reason or "")
    assert await broker.list_orders("open") == []
    assert (await broker.buy("AAPL", 1)).status is OrderStatus.FILLED  # the model still decides what it knows


async def test_replace_returns_the_new_order_with_and_without_latency() -> None:
    for latency in ("none", {"model": "constant", "seconds": 1.0}):
        broker = _broker(latency=latency)
        await _bar(broker, 0, 100, 100, 100, 100)
        order = await broker.buy("AAPL", 1, type="limit", limit_price=90.0, time_in_force="gtc")
        await broker.clock.advance(2)  # type: ignore[attr-defined]
        new = await broker.replace_order(order.id, limit_price=91.0)
        assert new.id != order.id and new.replaces == order.id and new.limit_price == 91.0
        await broker.clock.advance(2)  # type: ignore[attr-defined]
        assert (await broker.get_order(order.id)).replaced_by == new.id


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("stop", [None, 100.0, 106.0])
@pytest.mark.parametrize("buy_stop_limit", [True, False])
def test_the_immediate_model_answers_a_market_order_as_the_shared_fill_rules_do(
    side: str, stop: float | None, buy_stop_limit: bool
) -> None:
    model = ImmediateFill(buy_stop_limit=buy_stop_limit)
    order = first_snapshot("o1", "c1", OrderRequest("AAPL", side, 10, reference_price=110.0), 10.0, T0)
    if stop is not None:  # a triggered stop, as the venue offers it: a market order that keeps its stop
        order = attrs.evolve(order, stop_price=stop, triggered_at=T0)
    rules = FillRules(model.limit_fill, model.touch_probability, model.buy_stop_limit)
    assert model.broker_sim_fill(order, None, None) == rules.decide_at(order, 110.0, 10.0, None)  # type: ignore[arg-type]
