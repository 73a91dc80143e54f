"""Order classes as Alpaca manages them, on every adapter (paper, and AlpacaBroker against `serve`): a bracket's
exits held until the entry fills (then the take-profit new, the stop-loss held until its stop), a cancel of any
member canceling the group, cancel-all and close-all-positions taking the exits with them, exits replaceable, and
the oco request shape Alpaca documents. Written against the `Broker` interface only."""

from __future__ import annotations

import pytest

from broker_sim import Order, OrderRequest, OrderStatus
from tests.contract.harness import Harness

pytestmark = pytest.mark.needs("prices")

_S = OrderStatus
BRACKET = {"order_class": "bracket", "take_profit": {"limit_price": 110.0}, "stop_loss": {"stop_price": 95.0}}


async def _statuses(harness: Harness, *order_ids: str) -> list[OrderStatus]:
    return [(await harness.broker.get_order(i)).status for i in order_ids]


async def _settled(harness: Harness, order_id: str, *statuses: str) -> None:
    """Let the venue work, then wait until `order_id` is in one of `statuses` (the adapter heard it)."""
    await harness.settle()
    await harness.broker.wait_for(order_id, *statuses, timeout=30)


async def _bracket(harness: Harness) -> Order:
    """A filled bracket entry for 10 AAPL at 100, its take-profit (110) working and its stop-loss (95) held."""
    await harness.set_price("AAPL", 100.0)
    entry = await harness.broker.buy("AAPL", 10, time_in_force="gtc", **BRACKET)
    await _settled(harness, entry.legs[0], "new")  # the take-profit works once the entry filled
    assert await _statuses(harness, entry.id, *entry.legs) == [_S.FILLED, _S.NEW, _S.HELD]
    return entry


async def test_a_bracket_stop_loss_is_held_until_its_stop_then_fills_and_cancels_the_take_profit(
    harness: Harness,
) -> None:
    entry = await _bracket(harness)
    take_id, stop_id = entry.legs
    await harness.set_price("AAPL", 94.0)
    await _settled(harness, take_id, "canceled")
    assert await _statuses(harness, take_id, stop_id) == [_S.CANCELED, _S.FILLED]
    assert await harness.broker.get_positions() == []
    stop_events = [e.type.value for e in harness.events if e.order.id == stop_id]
    assert stop_events[-1] == "fill" and "held" not in stop_events


@pytest.mark.parametrize("which", [0, 1])
async def test_canceling_one_exit_cancels_the_other(harness: Harness, which: int) -> None:
    entry = await _bracket(harness)
    await harness.broker.cancel_order(entry.legs[which])
    await _settled(harness, entry.legs[1 - which], "canceled")
    assert await _statuses(harness, *entry.legs) == [_S.CANCELED, _S.CANCELED]
    await harness.set_price("AAPL", 90.0)
    await harness.settle()
    assert (await harness.broker.get_position("AAPL")).quantity == 10  # type: ignore[union-attr]


async def test_canceling_an_entry_cancels_its_held_exits(harness: Harness) -> None:
    await harness.set_price("AAPL", 100.0)
    entry = await harness.broker.buy("AAPL", 10, type="limit", limit_price=90.0, time_in_force="gtc", **BRACKET)
    await harness.settle()
    assert await _statuses(harness, *entry.legs) == [_S.HELD, _S.HELD]
    await harness.broker.cancel_order(entry.id)
    await _settled(harness, entry.id, "canceled")
    assert await _statuses(harness, entry.id, *entry.legs) == [_S.CANCELED] * 3


async def test_cancel_all_orders_cancels_the_working_exits_too(harness: Harness) -> None:
    entry = await _bracket(harness)
    canceled = await harness.broker.cancel_all_orders()
    assert {order.id for order in canceled} == set(entry.legs)
    for leg_id in entry.legs:
        await _settled(harness, leg_id, "canceled")
    assert await harness.broker.list_orders("open") == []
    await harness.set_price("AAPL", 120.0)  # through the take-profit's old limit: nothing trades
    await harness.settle()
    assert (await harness.broker.get_position("AAPL")).quantity == 10  # type: ignore[union-attr]


async def test_close_all_positions_with_cancel_orders_leaves_no_exit_to_trigger_on_a_flat_account(
    harness: Harness,
) -> None:
    entry = await _bracket(harness)
    closing = await harness.broker.close_all_positions(cancel_orders=True)
    assert [order.symbol for order in closing] == ["AAPL"]
    await _settled(harness, closing[0].id, "filled")
    assert await _statuses(harness, *entry.legs) == [_S.CANCELED, _S.CANCELED]
    assert await harness.broker.get_positions() == []
    await harness.set_price("AAPL", 90.0)  # through the stop-loss's old stop: nothing trades
    await harness.settle()
    assert await harness.broker.get_positions() == []
    assert await harness.broker.list_orders("open") == []


async def test_exits_are_replaceable_and_keep_their_status(harness: Harness) -> None:
    entry = await _bracket(harness)
    take_id, stop_id = entry.legs
    stop = await harness.broker.replace_order(stop_id, stop_price=98.0)
    take = await harness.broker.replace_order(take_id, limit_price=105.0)
    await _settled(harness, take.id, "new")
    assert await _statuses(harness, stop_id, take_id) == [_S.REPLACED, _S.REPLACED]
    assert await _statuses(harness, stop.id, take.id) == [_S.HELD, _S.NEW]
    assert set((await harness.broker.get_order(entry.id)).legs) == {stop.id, take.id}
    await harness.set_price("AAPL", 97.0)  # through the new stop, above the old one
    await _settled(harness, stop.id, "filled")
    assert await _statuses(harness, stop.id, take.id) == [_S.FILLED, _S.CANCELED]
    assert await harness.broker.get_positions() == []


async def test_an_oco_in_alpacas_documented_shape_closes_a_position_at_the_first_exit_reached(
    harness: Harness,
) -> None:
    await harness.set_price("AAPL", 100.0)
    await _settled(harness, (await harness.broker.buy("AAPL", 10)).id, "filled")
    request = OrderRequest(
        "AAPL", "sell", 10, type="limit", time_in_force="gtc", order_class="oco",
        take_profit={"limit_price": 110.0}, stop_loss={"stop_price": 95.0},
    )  # fmt: skip
    oco = await harness.broker.submit_order(request)
    await _settled(harness, oco.id, "new")
    (stop_id,) = oco.legs
    assert await _statuses(harness, oco.id, stop_id) == [_S.NEW, _S.HELD]
    assert (await harness.broker.get_order(oco.id)).limit_price == 110.0
    await harness.set_price("AAPL", 111.0)
    await _settled(harness, oco.id, "filled")
    assert await _statuses(harness, oco.id, stop_id) == [_S.FILLED, _S.CANCELED]
    assert await harness.broker.get_positions() == []
