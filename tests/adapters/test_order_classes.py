"""Bracket, OCO and OTO orders on the paper adapter: exits held until the entry fills, sized to what it filled,
one exit's fill shrinking or canceling the other, no extra buying power, never a new short."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker_sim import Bar, InvalidOrder, OrderNotReplaceable, OrderStatus, PaperBroker, SimulatedClock
from tests.conftest import T0, collect_fills


def _broker(cash: float = 100_000, **settings: Any) -> PaperBroker:
    settings.setdefault("latency", "none")
    settings.setdefault("slippage", "none")
    settings.setdefault("fill", {"model": "bar"})
    return PaperBroker(cash, clock=SimulatedClock(T0), **settings)


class Tape:
    def __init__(self, broker: PaperBroker) -> None:
        self.broker, self.minute = broker, 0

    async def bar(self, open_: float, high: float, low: float, close: float, volume: float = 1e6) -> None:
        self.minute += 1
        when = T0 + timedelta(minutes=self.minute)
        await self.broker.clock.advance_to(when, events_pending=True)  # type: ignore[attr-defined]
        await self.broker.update_market(Bar("AAPL", when, open_, high, low, close, volume, 60.0))


BRACKET = {"order_class": "bracket", "take_profit": {"limit_price": 110.0}, "stop_loss": {"stop_price": 95.0}}


async def test_a_bracket_holds_its_exits_until_the_entry_fills_then_one_exit_cancels_the_other() -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, **BRACKET)
    take, stop = [await broker.get_order(i) for i in entry.legs]
    assert entry.status is OrderStatus.NEW and len(entry.legs) == 2
    assert take.status is stop.status is OrderStatus.HELD and take.parent_id == stop.parent_id == entry.id
    assert (take.type.value, take.side.value, take.limit_price) == ("limit", "sell", 110.0)
    assert (stop.type.value, stop.stop_price) == ("stop", 95.0)
    await tape.bar(100, 101, 99, 100)  # the entry fills at this bar's open
    assert (await broker.get_order(entry.id)).status is OrderStatus.FILLED
    assert (await broker.get_order(take.id)).status is OrderStatus.NEW
    assert (await broker.get_order(stop.id)).status is OrderStatus.NEW
    await tape.bar(100, 112, 99, 111)  # the take-profit's limit is reached
    assert (await broker.get_order(take.id)).status is OrderStatus.FILLED
    canceled = await broker.get_order(stop.id)
    assert canceled.status is OrderStatus.CANCELED and canceled.reject_reason == "its sibling exit filled"
    assert await broker.get_positions() == []
    await tape.bar(100, 100, 80, 85)  # far through the stop: nothing more happens
    assert await broker.get_positions() == []


async def test_exits_hold_no_buying_power_and_never_count_as_new_shorts() -> None:
    broker = _broker(1_000)  # enough for the entry only; shorting disabled (the default)
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 9, **BRACKET)
    assert entry.status is OrderStatus.NEW
    assert set(broker.reservations()) == {entry.id}
    await tape.bar(100, 100, 100, 100)
    legs = [await broker.get_order(i) for i in entry.legs]
    assert all(leg.status is OrderStatus.NEW for leg in legs)  # two sells of the same 9 shares: both accepted
    assert broker.reservations() == {}


async def test_exits_follow_partial_fills_of_the_entry() -> None:
    broker = _broker(fill={"model": "volume_limited", "volume_limit": 0.01})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=1000)
    entry = await broker.buy("AAPL", 30, type="limit", limit_price=101.0, time_in_force="gtc", **BRACKET)
    await tape.bar(100, 100, 100, 100, volume=1000)  # 10 of 30 fill
    legs = [await broker.get_order(i) for i in entry.legs]
    assert [(leg.status, leg.quantity) for leg in legs] == [(OrderStatus.NEW, 10.0)] * 2
    await tape.bar(100, 100, 100, 100, volume=1000)  # 10 more
    assert [(await broker.get_order(i)).quantity for i in entry.legs] == [20.0, 20.0]


async def test_a_partial_exit_fill_shrinks_the_sibling() -> None:
    broker = _broker(fill={"model": "volume_limited", "volume_limit": 0.01})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=100_000)
    entry = await broker.buy("AAPL", 30, **BRACKET)
    await tape.bar(100, 100, 100, 100, volume=100_000)  # the entry fills whole (1,000 available)
    take_id, stop_id = entry.legs
    await tape.bar(111, 112, 110, 111, volume=1000)  # the take-profit fills 10 of 30
    assert (await broker.get_order(take_id)).filled_quantity == 10
    assert (await broker.get_order(stop_id)).quantity == 20


async def test_an_entry_canceled_before_any_fill_cancels_its_exits() -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, type="limit", limit_price=90.0, time_in_force="gtc", **BRACKET)
    await broker.cancel_order(entry.id)
    assert [(await broker.get_order(i)).status for i in entry.legs] == [OrderStatus.CANCELED] * 2


async def test_an_oco_closes_a_position_with_two_exits_and_needs_the_position() -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    refused = await broker.sell(
        "AAPL", 10, type="limit", limit_price=110.0, order_class="oco",
        take_profit={"limit_price": 110.0}, stop_loss={"stop_price": 95.0},
    )  # fmt: skip
    assert refused.status is OrderStatus.REJECTED and "an oco order closes a position" in (refused.reject_reason or "")
    await broker.buy("AAPL", 10)
    await tape.bar(100, 100, 100, 100)
    oco = await broker.sell(
        "AAPL", 10, type="limit", limit_price=110.0, order_class="oco",
        take_profit={"limit_price": 110.0}, stop_loss={"stop_price": 95.0},
    )  # fmt: skip
    (stop_id,) = oco.legs
    assert oco.status is OrderStatus.NEW and (await broker.get_order(stop_id)).status is OrderStatus.NEW
    await tape.bar(100, 100, 90, 92)  # the stop triggers
    assert (await broker.get_order(stop_id)).status is OrderStatus.FILLED
    assert (await broker.get_order(oco.id)).status is OrderStatus.CANCELED
    assert await broker.get_positions() == []


async def test_an_oto_attaches_one_exit() -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 5, order_class="oto", stop_loss={"stop_price": 97.0})
    await tape.bar(100, 100, 100, 100)
    (stop_id,) = entry.legs
    fills = collect_fills(broker)
    await tape.bar(98, 98, 96, 96)
    assert (await broker.get_order(stop_id)).status is OrderStatus.FILLED and fills[-1].quantity == 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"order_class": "bracket", "take_profit": {"limit_price": 110.0}}, "needs both take_profit and stop_loss"),
        ({"order_class": "oto"}, "exactly one of take_profit, stop_loss"),
        ({"take_profit": {"limit_price": 110.0}}, "need order_class bracket, oco or oto"),
        ({**BRACKET, "take_profit": {"limit_price": 90.0}}, "must be above stop_loss.stop_price"),
        ({**BRACKET, "time_in_force": "ioc"}, "time_in_force must be day or gtc"),
        ({**BRACKET, "take_profit": {"limit": 110.0}}, "take_profit: unknown field 'limit'"),
        ({**BRACKET, "stop_loss": {"stop_price": -1.0}}, "stop_loss.stop_price must be > 0"),
    ],
)
async def test_malformed_order_classes_are_refused_and_change_nothing(fields: dict[str, Any], message: str) -> None:
    broker = _broker()
    with pytest.raises(InvalidOrder, match=message):
        await broker.buy("AAPL", 10, reference_price=100.0, **fields)
    assert await broker.list_orders("all") == []


async def test_legs_cannot_be_replaced_by_the_paper_adapter() -> None:
    broker = _broker()
    await Tape(broker).bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, type="limit", limit_price=90.0, time_in_force="gtc", **BRACKET)
    with pytest.raises(OrderNotReplaceable, match="belongs to a bracket order"):
        await broker.replace_order(entry.legs[0], limit_price=111.0)
