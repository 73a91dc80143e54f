"""Alpaca's buying power check at the door: open buys and shorts hold their value, a market buy is valued at a
collar above the price, a short at 3 % above the ask; what the account cannot carry is refused (no order)."""

from __future__ import annotations

import pytest

from broker_sim import InsufficientBuyingPower, OrderRefused, PaperBroker, Quote, SimulatedClock, Trade
from broker_sim.models import Order, Side
from broker_sim.rules.buying_power import buy_collar, order_value
from tests.conftest import T0


def _broker(balance: float = 10_000, **kwargs: object) -> PaperBroker:
    options: dict[str, object] = {"seed": 1, "clock": SimulatedClock(T0), "latency": "none", "slippage": "none"}
    options.update(kwargs)
    return PaperBroker(balance, **options)  # type: ignore[arg-type]


async def test_alpacas_example_open_orders_hold_their_value_and_the_next_order_is_refused() -> None:
    # docs.alpaca.markets/docs/orders-at-alpaca#buying-power: $10,000 of buying power, a $3,000 limit buy leaves
    # $7,000; another order worth $8,000 is then refused.
    broker = _broker(10_000)
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    first = await broker.buy("AAPL", 30, type="limit", limit_price=100.0 - 1e-9, time_in_force="gtc")
    await broker.update_market(Trade("AAPL", T0, 120.0, 100))  # the limit rests
    assert first.status.value == "new"
    assert (await broker.get_account()).buying_power == pytest.approx(7_000.0, abs=1e-4)
    before = await broker.list_orders("all")
    with pytest.raises(InsufficientBuyingPower, match=r"insufficient buying power: buy 80 AAPL needs 8000\.00"):
        await broker.buy("AAPL", 80, type="limit", limit_price=100.0, time_in_force="gtc", client_order_id="again")
    assert await broker.list_orders("all") == before  # nothing recorded
    await broker.cancel_order(first.id)
    retried = await broker.buy(
        "AAPL", 80, type="limit", limit_price=100.0, time_in_force="gtc", client_order_id="again"
    )
    assert retried.status.value == "new"  # the same client order id, once cash is free


async def test_a_market_buy_is_valued_at_the_collar_above_the_price() -> None:
    broker = _broker(10_000)
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    with pytest.raises(InsufficientBuyingPower) as caught:
        await broker.buy("AAPL", 99.9)  # 99.9 % of the cash at the last price: Alpaca values it 2.5 % higher
    assert caught.value.status == 403 and caught.value.rule is None and isinstance(caught.value, OrderRefused)
    filled = await broker.buy("AAPL", 97)  # 97 x 102.50 = 9,942.50 fits
    assert filled.status.value == "filled" and filled.filled_avg_price == 100.0


async def test_relaxed_a_market_buy_is_valued_at_its_estimated_fill() -> None:
    broker = _broker(10_000, rules={"buying_power_collar": False})
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    assert (await broker.buy("AAPL", 99.9)).status.value == "filled"


async def test_a_short_is_valued_at_three_percent_above_the_ask_or_its_limit() -> None:
    broker = _broker(10_000, account="margin")
    await broker.update_market(Quote("AAPL", T0, 99.0, 100.0, 100, 100))
    # margin account: buying power 2 x 10,000; a short of 195 is worth 195 x 103 = 20,085
    with pytest.raises(InsufficientBuyingPower):
        await broker.sell("AAPL", 195)
    short = await broker.sell("AAPL", 190, type="limit", limit_price=104.0, time_in_force="day")
    assert short.status.value == "new"  # 190 x 104 = 19,760 (the limit, above 103)
    assert (await broker.get_account()).buying_power == pytest.approx(20_000 - 19_760, abs=1e-6)


@pytest.mark.parametrize(("price", "collar"), [(10.0, 0.04), (49.99, 0.04), (50.0, 0.025), (400.0, 0.025)])
def test_the_collar_is_four_percent_under_fifty_dollars_and_two_and_a_half_from_fifty(
    price: float, collar: float
) -> None:
    assert buy_collar(price) == collar


def test_order_value_of_a_buy_limit_is_its_limit_and_of_a_short_limit_at_least_the_collar() -> None:
    order = _order(Side.BUY, limit=95.0)
    assert order_value(order, 100.0, None) == 95.0
    sell = _order(Side.SELL, limit=100.0)
    assert order_value(sell, 100.0, Quote("AAPL", T0, 99.0, 101.0)) == pytest.approx(104.03)


def _order(side: Side, limit: float | None) -> Order:
    from broker_sim.adapters.paper.venue import first_snapshot
    from broker_sim.models import OrderRequest

    request = OrderRequest("AAPL", side, 1, type="limit" if limit else "market", limit_price=limit)
    return first_snapshot("id", "cid", request, 1.0, T0)


async def test_a_sell_of_a_long_adds_no_buying_power_until_it_fills() -> None:
    broker = _broker(10_000)
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    await broker.buy("AAPL", 50, type="limit", limit_price=100.0)  # 5,000 spent
    power = (await broker.get_account()).buying_power
    sell = await broker.sell("AAPL", 50, type="limit", limit_price=110.0, time_in_force="gtc")
    assert sell.status.value == "new" and (await broker.get_account()).buying_power == pytest.approx(power)
    await broker.update_market(Trade("AAPL", T0, 111.0, 100))  # the sell fills: now the cash is back
    assert (await broker.get_account()).buying_power == pytest.approx(power + 50 * 111.0)  # sold at 111
