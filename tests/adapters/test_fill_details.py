"""The smaller fill rules: notional orders sized at the fill price, whole-share volume caps, a stop-limit
triggered at the open filling later in the bar, Alpaca's limit on buy stops, opg fills stamped at the open."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker_sim import Bar, OrderRequest, OrderStatus, PaperBroker, SimulatedClock
from tests.conftest import T0


def _broker(fill: Any = "bar", **settings: Any) -> PaperBroker:
    settings.setdefault("latency", "none")
    return PaperBroker(100_000, clock=SimulatedClock(T0), slippage="none", fill=fill, **settings)


async def _bar(broker: PaperBroker, minute: int, o: float, h: float, low: float, c: float, volume: float = 1e6) -> None:
    when = T0 + timedelta(minutes=minute)
    await broker.clock.advance_to(when, events_pending=True)  # type: ignore[attr-defined]
    await broker.update_market(Bar("AAPL", when, o, h, low, c, volume, 60.0))


async def test_a_notional_order_is_sized_at_its_fill_price_and_spends_its_notional() -> None:
    broker = _broker()
    await _bar(broker, 0, 100, 100, 100, 100)
    order = await broker.submit_order(OrderRequest("AAPL", "buy", None, notional=500.0))
    await _bar(broker, 1, 105, 106, 104, 105)  # a 5 % move while the order traveled
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED and filled.filled_avg_price == 105.0
    assert filled.filled_quantity == pytest.approx(500 / 105)  # 4.761904762 shares, not the 5 estimated at 100
    assert (await broker.get_account()).cash == pytest.approx(100_000 - 500.0)  # not 100,000 - 525


async def test_the_volume_cap_fills_whole_shares_for_whole_share_orders_and_fractions_for_fractional_ones() -> None:
    broker = _broker({"model": "volume_limited", "volume_limit": 0.025})
    await _bar(broker, 0, 100, 100, 100, 100)
    whole = await broker.buy("AAPL", 100, time_in_force="day")
    fractional = await broker.buy("AAPL", 100.5, time_in_force="day")  # Alpaca: fractional orders are day orders
    await _bar(broker, 1, 100, 100, 100, 100, volume=1001)  # 2.5 % of 1,001 = 25.025 shares
    assert (await broker.get_order(whole.id)).filled_quantity == 25.0
    assert (await broker.get_order(fractional.id)).filled_quantity == pytest.approx(25.025)


async def test_a_stop_limit_triggered_at_the_open_fills_when_the_same_bar_later_trades_through_its_limit() -> None:
    broker = _broker()
    await _bar(broker, 0, 99, 99, 99, 99)
    order = await broker.buy("AAPL", 10, type="stop_limit", stop_price=100.0, limit_price=101.0)
    # Opens at 103: triggered (gap) above the limit; then trades down through 101 within the bar.
    await _bar(broker, 1, 103, 103.5, 100.5, 101.5)
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED and filled.filled_avg_price == 101.0


@pytest.mark.parametrize(("stop", "limit"), [(100.0, 102.5), (40.0, 41.6)])
async def test_a_buy_stop_works_as_alpacas_stop_limit_after_its_trigger(stop: float, limit: float) -> None:
    broker = _broker()
    await _bar(broker, 0, stop * 0.99, stop * 0.99, stop * 0.99, stop * 0.99)
    order = await broker.buy("AAPL", 10, type="stop", stop_price=stop, time_in_force="gtc")
    gap = stop * 1.05  # opens 5 % above the stop: beyond Alpaca's limit (2.5 % at $50 or more, 4 % under)
    await _bar(broker, 1, gap, gap, gap, gap)
    triggered = await broker.get_order(order.id)
    assert triggered.status is OrderStatus.NEW and triggered.triggered_at is not None
    await _bar(broker, 2, gap, gap, limit - 0.5, limit)  # comes back through the limit
    filled = await broker.get_order(order.id)
    assert filled.filled_avg_price == pytest.approx(limit)


async def test_buy_stop_limit_off_fills_a_gapping_buy_stop_at_the_open() -> None:
    broker = _broker({"model": "bar", "buy_stop_limit": False})
    await _bar(broker, 0, 99, 99, 99, 99)
    order = await broker.buy("AAPL", 10, type="stop", stop_price=100.0)
    await _bar(broker, 1, 105, 105, 105, 105)
    assert (await broker.get_order(order.id)).filled_avg_price == 105.0


async def test_sell_stops_are_not_converted() -> None:
    broker = _broker()
    await _bar(broker, 0, 101, 101, 101, 101)
    await broker.buy("AAPL", 10)
    await _bar(broker, 1, 101, 101, 101, 101)
    stop = await broker.sell("AAPL", 10, type="stop", stop_price=100.0)
    await _bar(broker, 2, 90, 90, 90, 90)  # 10 % gap down: a sell stop fills at the open
    assert (await broker.get_order(stop.id)).filled_avg_price == 90.0


async def test_an_opg_fill_on_daily_bars_is_stamped_at_the_open() -> None:
    close = T0.replace(hour=21, minute=0)  # Monday 16:00 New York
    broker = PaperBroker(100_000, clock=SimulatedClock(close), latency="none", slippage="none", fill="bar")
    day = 6.5 * 3600
    await broker.update_market(Bar("AAPL", close, 100, 100, 100, 100, 1e6, day))
    # Alpaca takes opg orders for the next open from 19:00 (not between 09:28 and 19:00).
    await broker.clock.advance_to(close + timedelta(hours=3))  # type: ignore[attr-defined]
    order = await broker.buy("AAPL", 10, time_in_force="opg")
    tuesday_close = close + timedelta(days=1)
    await broker.clock.advance_to(tuesday_close, events_pending=True)  # type: ignore[attr-defined]
    await broker.update_market(Bar("AAPL", tuesday_close, 101, 103, 99, 102, 1e6, day))
    filled = await broker.get_order(order.id)
    assert filled.filled_avg_price == 101.0
    assert filled.filled_at == broker.fills[0].timestamp == T0 + timedelta(days=1)  # Tuesday 09:30, its open


@pytest.mark.parametrize(("price", "quantity"), [(468.33, 13), (100.07, 100), (52.91, 7)])
async def test_an_order_filled_at_once_has_its_fills_price_as_its_average_to_the_last_bit(
    price: float, quantity: int
) -> None:
    """Alpaca's filled_avg_price of an order filled in one fill is that fill's price; ``price * quantity /
    quantity`` is not always the price in floats (468.56416499999995 * 13 / 13 is not), so the first fill's price
    is taken as it is and orders.csv agrees with trades.csv."""
    broker = PaperBroker(100_000, clock=SimulatedClock(T0), slippage={"model": "fixed_bps", "bps": 5}, latency="none")
    await _bar(broker, 0, price, price, price, price)
    order = await broker.buy("AAPL", quantity)
    [fill] = broker.fills
    assert order.status is OrderStatus.FILLED and order.filled_avg_price == fill.price
