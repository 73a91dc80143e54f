"""Wash-trade prevention: an order that could execute against the account's own open order on the other side is
refused (Alpaca's "potential wash trade detected. use complex orders"); order classes are Alpaca's way around it."""

from __future__ import annotations

import pytest

from broker_sim import PaperBroker, SimulatedClock, Trade, WashTradeRefused
from tests.conftest import T0


async def _holding(**kwargs: object) -> PaperBroker:
    options: dict[str, object] = {"seed": 2, "clock": SimulatedClock(T0), "latency": "none", "slippage": "none"}
    options.update(kwargs)
    broker = PaperBroker(100_000, **options)  # type: ignore[arg-type]
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    await broker.buy("AAPL", 100)
    return broker


async def test_a_market_buy_while_a_sell_limit_works_is_refused_as_alpaca_does() -> None:
    broker = await _holding()
    await broker.sell("AAPL", 50, type="limit", limit_price=110.0, time_in_force="gtc")
    before = await broker.list_orders("all")
    with pytest.raises(WashTradeRefused, match=r"potential wash trade detected\. use complex orders") as caught:
        await broker.buy("AAPL", 10)
    assert caught.value.rule == "wash_trade" and caught.value.status == 403
    assert await broker.list_orders("all") == before


@pytest.mark.parametrize(
    ("limit", "refused"),
    [(99.0, False), (110.0, True), (115.0, True)],
)
async def test_limits_wash_only_when_they_cross(limit: float, refused: bool) -> None:
    broker = await _holding()
    await broker.sell("AAPL", 50, type="limit", limit_price=110.0, time_in_force="gtc")
    if refused:
        with pytest.raises(WashTradeRefused):
            await broker.buy("AAPL", 10, type="limit", limit_price=limit, time_in_force="gtc")
    else:
        order = await broker.buy("AAPL", 10, type="limit", limit_price=limit, time_in_force="gtc")
        assert order.status.value == "new"


async def test_a_stop_counts_as_a_market_order_and_a_stop_limit_at_its_limit() -> None:
    broker = await _holding()
    await broker.sell("AAPL", 50, type="stop", stop_price=90.0, time_in_force="gtc")
    with pytest.raises(WashTradeRefused):
        await broker.buy("AAPL", 10, type="limit", limit_price=80.0, time_in_force="gtc")
    other = await _holding()
    await other.sell("AAPL", 50, type="stop_limit", stop_price=90.0, limit_price=89.0, time_in_force="gtc")
    assert (await other.buy("AAPL", 10, type="limit", limit_price=80.0, time_in_force="gtc")).status.value == "new"


async def test_a_bracket_is_alpacas_way_around_it_and_its_held_exits_block_nothing() -> None:
    broker = await _holding()
    await broker.sell("AAPL", 50, type="limit", limit_price=110.0, time_in_force="gtc")
    bracket = await broker.buy(
        "AAPL",
        10,
        order_class="bracket",
        type="limit",
        limit_price=95.0,
        take_profit={"limit_price": 120.0},
        stop_loss={"stop_price": 90.0},
        time_in_force="gtc",
    )
    assert bracket.status.value == "new"  # a complex order is not checked; its exits wait (held)
    await broker.buy("AAPL", 5, type="limit", limit_price=96.0, time_in_force="gtc", client_order_id="x")


async def test_replacing_an_order_is_checked_against_the_others_only() -> None:
    broker = await _holding()
    sell = await broker.sell("AAPL", 50, type="limit", limit_price=110.0, time_in_force="gtc")
    replaced = await broker.replace_order(sell.id, limit_price=105.0)
    assert replaced.status.value == "new"


async def test_relaxed_both_sides_may_work_at_once() -> None:
    broker = await _holding(rules={"wash_trade": False})
    await broker.sell("AAPL", 50, type="limit", limit_price=110.0, time_in_force="gtc")
    assert (await broker.buy("AAPL", 10)).status.value == "filled"
