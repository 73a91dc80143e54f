"""No order takes a position from long to short (or back) in one go: Alpaca's "insufficient qty available", on the
paper broker itself (issue 20 item 14). Refused orders create nothing and leave the client order id free."""

from __future__ import annotations

import pytest

from broker_sim import InsufficientQuantity, OrderRefused, PaperBroker, SimulatedClock, Trade
from tests.conftest import T0


async def _long(quantity: float, **kwargs: object) -> PaperBroker:
    broker = PaperBroker(100_000, seed=3, clock=SimulatedClock(T0), latency="none", allow_short=True, **kwargs)  # type: ignore[arg-type]
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    await broker.buy("AAPL", quantity)
    return broker


async def _visible(broker: PaperBroker) -> tuple[object, ...]:
    return await broker.get_account(), await broker.get_positions(), await broker.list_orders("all")


async def test_selling_more_than_the_long_position_is_refused_with_alpacas_words() -> None:
    broker = await _long(10)
    before = await _visible(broker)
    with pytest.raises(InsufficientQuantity) as caught:
        await broker.sell("AAPL", 15, client_order_id="flip")
    assert str(caught.value) == "insufficient qty available for order (requested: 15, available: 10)"
    assert caught.value.rule == "position_flip_check" and caught.value.status == 403
    assert isinstance(caught.value, OrderRefused)
    assert await _visible(broker) == before  # no order, no event, nothing held
    sold = await broker.sell("AAPL", 10, client_order_id="flip")  # the refused client order id is free
    assert sold.status.value == "filled"


async def test_closing_a_position_twice_never_opens_the_other_side() -> None:
    slow = PaperBroker(100_000, seed=3, clock=SimulatedClock(T0), allow_short=True)  # latency: the close travels
    await slow.update_market(Trade("AAPL", T0, 100.0, 100))
    bought = await slow.buy("AAPL", 5)
    await slow.wait_for(bought.id, "filled")
    first = await slow.close_position("AAPL")
    assert first.status.value == "pending_new"
    with pytest.raises(InsufficientQuantity, match=r"requested: 5, available: 0\)"):
        await slow.close_position("AAPL")  # a retry while the first close travels
    await slow.wait_for(first.id, "filled")
    assert await slow.get_position("AAPL") is None


async def test_buying_more_than_the_short_position_is_refused() -> None:
    broker = PaperBroker(100_000, seed=3, clock=SimulatedClock(T0), latency="none", account="margin", allow_short=True)
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    await broker.sell("AAPL", 10)
    with pytest.raises(InsufficientQuantity, match=r"requested: 12, available: 10\)"):
        await broker.buy("AAPL", 12)
    assert (await broker.get_position("AAPL")).quantity == -10  # type: ignore[union-attr]


async def test_relaxed_the_flip_goes_through_as_before() -> None:
    broker = await _long(10, rules={"position_flip_check": False})
    await broker.sell("AAPL", 15)
    assert (await broker.get_position("AAPL")).quantity == -5  # type: ignore[union-attr]
