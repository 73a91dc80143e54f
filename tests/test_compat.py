"""The seed engine's day-23 API keeps working on PaperBroker with the wall clock (these tests wait for real)."""

from __future__ import annotations

import pytest

from broker_sim import InvalidOrder
from broker_sim.builtin.latency import UniformLatency
from broker_sim.compat import PaperTradingEngine

#: The seed's latency is real: keep these tests few and run the orders concurrently.
FAST = {"model": "uniform", "low": 0.01, "high": 0.05}


async def test_seed_defaults_fill_within_half_a_second_to_two_seconds() -> None:
    engine = PaperTradingEngine()
    assert engine.slippage_bps == 5
    assert engine.balance == 100000.0
    assert engine.broker.models["latency"] == UniformLatency(low=0.5, high=2.0)  # the seed's 0.5-2 s
    order_id = await engine.submit_order("AAPL", "BUY", 150.0, 10)
    assert engine.orders[order_id].status == "pending"
    order = await engine.wait(order_id, timeout=5)
    assert order.fill_time is not None
    assert (order.fill_time - order.timestamp).total_seconds() >= 0.5  # never before the latency has passed
    assert order.status == "filled"
    assert order.fill_price == pytest.approx(150.075)
    assert engine.balance == pytest.approx(100000.0 - 1500.75)
    assert engine.positions == {"AAPL": {"quantity": 10, "avg_price": pytest.approx(150.075)}}
    assert engine.trades_executed == 1
    assert engine.trade_log[0]["fill_price"] == pytest.approx(150.075)


async def test_orders_fill_with_slippage_and_accumulate_positions() -> None:
    engine = PaperTradingEngine(50000.0, latency=FAST, seed=3)
    ids = [
        await engine.submit_order("MSFT", "BUY", 100.0, 10),
        await engine.submit_order("MSFT", "BUY", 200.0, 30),
    ]
    for order_id in ids:
        await engine.wait(order_id, timeout=5)
    position = engine.positions["MSFT"]
    assert position["quantity"] == 40
    assert position["avg_price"] == pytest.approx((10 * 100.05 + 30 * 200.1) / 40)
    sell_id = await engine.submit_order("MSFT", "SELL", 210.0, 40)
    sold = await engine.wait(sell_id, timeout=5)
    assert sold.fill_price == pytest.approx(210.0 * 0.9995)
    assert "MSFT" not in engine.positions
    assert engine.trades_executed == 3


async def test_insufficient_funds_cancel_the_order() -> None:
    engine = PaperTradingEngine(1000.0, latency=FAST)
    order_id = await engine.submit_order("AAPL", "BUY", 150.0, 10)
    order = engine.orders[order_id]
    assert order.status == "cancelled"
    assert order.reason is not None and "insufficient buying power" in order.reason
    assert engine.balance == 1000.0
    assert engine.positions == {}


async def test_changing_slippage_bps_takes_effect() -> None:
    engine = PaperTradingEngine(latency=FAST)
    engine.slippage_bps = 10
    order = await engine.wait(await engine.submit_order("AAPL", "SELL", 100.0, 1), timeout=5)
    assert order.status == "cancelled"  # no shares to sell: shorting is off, as in the seed
    await engine.wait(await engine.submit_order("AAPL", "BUY", 100.0, 1), timeout=5)
    assert engine.trade_log[-1]["fill_price"] == pytest.approx(100.10)


async def test_malformed_order_raises() -> None:
    engine = PaperTradingEngine(latency=FAST)
    with pytest.raises(InvalidOrder, match="quantity must be > 0"):
        await engine.submit_order("AAPL", "BUY", 150.0, 0)
    with pytest.raises(InvalidOrder, match="side must be one of buy, sell"):
        await engine.submit_order("AAPL", "HOLD", 150.0, 1)
    assert engine.orders == {}
