"""The refusal contract: what Alpaca refuses at the door raises the same `OrderRefused` on every adapter (the paper
broker itself, and `AlpacaBroker` against `broker-sim serve`), creates no order and no event, and leaves the
client order id free for a retry. Each harness account is a $100,000 cash account with Alpaca's rules on."""

from __future__ import annotations

from typing import Any

import pytest

from broker_sim import (
    Broker,
    InsufficientQuantity,
    InvalidOrder,
    OrderNotAccepted,
    OrderNotFound,
    OrderRefused,
    ShortSaleRefused,
    WashTradeRefused,
)
from tests.contract.harness import Harness, fills_of


async def _visible(broker: Broker) -> tuple[object, ...]:
    account = await broker.get_account()
    return account.cash, account.buying_power, await broker.get_positions(), await broker.list_orders("all")


async def _refused(harness: Harness, kind: type[OrderRefused], words: str, side: str, **order: Any) -> OrderRefused:
    """Submit an order that must be refused: the error, nothing changed, no event, the client order id free."""
    broker = harness.broker
    await harness.settle()
    before, heard = await _visible(broker), len(harness.events)
    quantity = order.pop("quantity", 1)
    with pytest.raises(kind, match=words) as caught:
        await (broker.buy if side == "buy" else broker.sell)("AAPL", quantity, client_order_id="refused", **order)
    await harness.settle()
    assert await _visible(broker) == before and len(harness.events) == heard
    with pytest.raises(OrderNotFound):
        await broker.get_order_by_client_id("refused")
    return caught.value


async def _hold(harness: Harness, quantity: float) -> None:
    await harness.set_price("AAPL", 100.0)
    order = await harness.broker.buy("AAPL", quantity)
    await harness.settle()
    await harness.broker.wait_for(order.id, "filled", timeout=30)


@pytest.mark.needs("prices")
async def test_selling_more_than_the_position_is_refused_not_flipped(harness: Harness) -> None:
    await _hold(harness, 10)
    refusal = await _refused(
        harness, InsufficientQuantity, r"insufficient qty available for order \(requested: 15, available: 10\)",
        "sell", quantity=15,
    )  # fmt: skip
    assert refusal.status == 403
    order = await harness.broker.sell("AAPL", 10, client_order_id="refused")  # the id was never taken
    await harness.settle()
    assert (await harness.broker.wait_for(order.id, "filled", timeout=30)).filled_quantity == 10
    account = await harness.broker.get_account()  # a round trip in one day: one day trade, on every adapter
    assert account.daytrade_count == 1 and account.pattern_day_trader is False


@pytest.mark.needs("prices")
async def test_a_cash_account_cannot_sell_short(harness: Harness) -> None:
    await harness.set_price("AAPL", 100.0)
    await _refused(harness, ShortSaleRefused, "not allowed to short", "sell", quantity=5)


@pytest.mark.needs("prices")
async def test_an_order_that_could_trade_against_an_own_open_order_is_a_wash_trade(harness: Harness) -> None:
    await _hold(harness, 10)
    await harness.broker.sell("AAPL", 5, type="limit", limit_price=150.0, time_in_force="gtc")
    await _refused(harness, WashTradeRefused, "potential wash trade detected", "buy", quantity=1)
    assert fills_of(harness)  # the first buy filled; nothing else did


@pytest.mark.needs("prices")
async def test_extended_hours_on_a_market_order_is_not_accepted(harness: Harness) -> None:
    await harness.set_price("AAPL", 100.0)
    refusal = await _refused(harness, OrderNotAccepted, "extended hours", "buy", extended_hours=True)
    assert refusal.status == 422 and isinstance(refusal, InvalidOrder)


@pytest.mark.needs("prices")
async def test_a_fractional_gtc_order_is_not_accepted(harness: Harness) -> None:
    await harness.set_price("AAPL", 100.0)
    await _refused(harness, OrderNotAccepted, "fractional orders must be", "buy", quantity=0.5, time_in_force="gtc")
