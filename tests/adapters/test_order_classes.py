"""Bracket, OCO and OTO orders on the paper adapter, as Alpaca manages them: exits held until the entry fills
completely (then the take-profit new, the stop-loss held until its stop), one exit's fill shrinking or canceling
the other, a cancel of any member canceling the group, exits replaceable, no extra buying power."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker_sim import Bar, InvalidOrder, Order, OrderEvent, OrderRequest, OrderStatus, PaperBroker, SimulatedClock
from tests.conftest import T0, collect_fills


def _broker(cash: float = 100_000, **settings: Any) -> PaperBroker:
    settings.setdefault("latency", "none")
    settings.setdefault("slippage", "none")
    settings.setdefault("fill", {"model": "bar"})
    return PaperBroker(cash, clock=SimulatedClock(T0), **settings)


def collect_events(broker: PaperBroker) -> list[OrderEvent]:
    events: list[OrderEvent] = []
    broker.add_listener(events.append)
    return events


class Tape:
    def __init__(self, broker: PaperBroker) -> None:
        self.broker, self.minute = broker, 0

    async def bar(self, open_: float, high: float, low: float, close: float, volume: float = 1e6) -> None:
        self.minute += 1
        when = T0 + timedelta(minutes=self.minute)
        await self.broker.clock.advance_to(when, events_pending=True)  # type: ignore[attr-defined]
        await self.broker.update_market(Bar("AAPL", when, open_, high, low, close, volume, 60.0))


BRACKET = {"order_class": "bracket", "take_profit": {"limit_price": 110.0}, "stop_loss": {"stop_price": 95.0}}
#: Alpaca's documented oco shape: a limit order with its prices in take_profit and stop_loss, no limit_price.
OCO = {"type": "limit", "order_class": "oco", "take_profit": {"limit_price": 110.0}, "stop_loss": {"stop_price": 95.0}}


async def test_a_bracket_holds_its_exits_until_the_entry_fills_then_one_exit_cancels_the_other() -> None:
    broker = _broker()
    tape = Tape(broker)
    events = collect_events(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, **BRACKET)
    take, stop = [await broker.get_order(i) for i in entry.legs]
    assert entry.status is OrderStatus.NEW and len(entry.legs) == 2
    assert take.status is stop.status is OrderStatus.HELD and take.parent_id == stop.parent_id == entry.id
    assert (take.type.value, take.side.value, take.limit_price) == ("limit", "sell", 110.0)
    assert (stop.type.value, stop.stop_price) == ("stop", 95.0)
    assert {e.order.id for e in events} == {entry.id}  # held is a status, not an event: the legs are silent
    await tape.bar(100, 101, 99, 100)  # the entry fills at this bar's open
    assert (await broker.get_order(entry.id)).status is OrderStatus.FILLED
    # Alpaca: the take-profit goes new, the stop-loss stays held (working) until its stop is reached.
    assert (await broker.get_order(take.id)).status is OrderStatus.NEW
    assert (await broker.get_order(stop.id)).status is OrderStatus.HELD
    assert [e.type.value for e in events if e.order.id == take.id] == ["new"]
    assert [e for e in events if e.order.id == stop.id] == []
    await tape.bar(100, 112, 99, 111)  # the take-profit's limit is reached
    assert (await broker.get_order(take.id)).status is OrderStatus.FILLED
    canceled = await broker.get_order(stop.id)
    assert canceled.status is OrderStatus.CANCELED and canceled.reject_reason == "its sibling exit filled"
    assert [e.type.value for e in events if e.order.id == stop.id] == ["canceled"]
    assert await broker.get_positions() == []
    await tape.bar(100, 100, 80, 85)  # far through the stop: nothing more happens
    assert await broker.get_positions() == []


async def test_a_held_stop_loss_goes_new_when_its_stop_is_reached_then_fills_and_cancels_the_take_profit() -> None:
    broker = _broker()
    tape = Tape(broker)
    events = collect_events(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, **BRACKET)
    await tape.bar(100, 101, 99, 100)
    take_id, stop_id = entry.legs
    await tape.bar(99, 99, 94, 96)  # through the stop, not the take-profit
    stop = await broker.get_order(stop_id)
    assert stop.status is OrderStatus.FILLED and stop.filled_avg_price == 95.0
    assert [e.type.value for e in events if e.order.id == stop_id] == ["new", "fill"]
    take = await broker.get_order(take_id)
    assert take.status is OrderStatus.CANCELED and take.reject_reason == "its sibling exit filled"
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
    # two sells of the same 9 shares: both working
    assert [leg.status for leg in legs] == [OrderStatus.NEW, OrderStatus.HELD]
    assert broker.reservations() == {}


async def _part_filled_bracket(quantity: float) -> tuple[PaperBroker, Tape, Order]:
    """A gtc bracket entry (limit 101) of `quantity` with 10 of it filled (1 % of a 1,000 volume bar)."""
    broker = _broker(fill={"model": "volume_limited", "volume_limit": 0.01})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=1000)
    entry = await broker.buy("AAPL", quantity, type="limit", limit_price=101.0, time_in_force="gtc", **BRACKET)
    await tape.bar(100, 100, 100, 100, volume=1000)  # 10 fill
    return broker, tape, entry


async def test_exits_stay_held_through_partial_fills_and_work_once_the_entry_filled_completely() -> None:
    broker, tape, entry = await _part_filled_bracket(20)
    assert (await broker.get_order(entry.id)).filled_quantity == 10
    legs = [await broker.get_order(i) for i in entry.legs]
    assert [(leg.status, leg.quantity) for leg in legs] == [(OrderStatus.HELD, 20.0)] * 2
    await tape.bar(100, 100, 100, 100, volume=1000)  # the other 10
    legs = [await broker.get_order(i) for i in entry.legs]
    assert [(leg.status, leg.quantity) for leg in legs] == [(OrderStatus.NEW, 20.0), (OrderStatus.HELD, 20.0)]


async def test_an_entry_that_expires_part_filled_activates_its_exits_for_what_it_filled() -> None:
    broker = _broker(fill={"model": "volume_limited", "volume_limit": 0.01})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=1000)
    entry = await broker.buy("AAPL", 30, type="limit", limit_price=101.0, **BRACKET)  # a day order
    await tape.bar(100, 100, 100, 100, volume=1000)  # 10 of 30 fill
    await broker.clock.advance_to(T0.replace(hour=21, minute=1))  # type: ignore[attr-defined]
    assert (await broker.get_order(entry.id)).status is OrderStatus.EXPIRED
    legs = [await broker.get_order(i) for i in entry.legs]
    assert [(leg.status, leg.quantity) for leg in legs] == [(OrderStatus.NEW, 10.0), (OrderStatus.HELD, 10.0)]


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


async def test_a_partly_filled_exit_replaced_still_counts_what_it_filled_for_its_sibling() -> None:
    """A take-profit fills 10 of 30, is moved (its successor is for the 20 left), then fills those: the position
    is closed, so the stop-loss is canceled, not sized to the successor's 20 alone (which sold 20 more)."""
    broker = _broker(fill={"model": "volume_limited", "volume_limit": 0.01})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=100_000)
    entry = await broker.buy("AAPL", 30, **BRACKET)
    await tape.bar(100, 100, 100, 100, volume=100_000)
    take_id, stop_id = entry.legs
    await tape.bar(111, 112, 110, 111, volume=1000)  # the take-profit fills 10 of 30
    moved = await broker.replace_order(take_id, limit_price=109.0)
    assert moved.quantity == 20 and (await broker.get_order(stop_id)).quantity == 20
    await tape.bar(111, 112, 110, 111, volume=100_000)  # the successor fills its 20
    assert (await broker.get_order(moved.id)).status is OrderStatus.FILLED
    stop = await broker.get_order(stop_id)
    assert stop.status is OrderStatus.CANCELED and stop.filled_quantity == 0
    assert (await broker.get_position("AAPL")) is None
    await tape.bar(94, 94, 90, 90, volume=100_000)  # through the stop: nothing sells
    assert (await broker.get_position("AAPL")) is None


async def test_an_entry_replaced_part_filled_sizes_its_exits_for_all_it_filled() -> None:
    broker, tape, entry = await _part_filled_bracket(30)  # 10 of 30 filled
    moved = await broker.replace_order(entry.id, limit_price=102.0)  # its successor is for the 20 left
    await tape.bar(100, 100, 100, 100, volume=100_000)  # those fill
    assert (await broker.get_order(moved.id)).status is OrderStatus.FILLED
    legs = [await broker.get_order(i) for i in moved.legs]
    assert [(leg.status, leg.quantity) for leg in legs] == [(OrderStatus.NEW, 30.0), (OrderStatus.HELD, 30.0)]
    assert (await broker.get_position("AAPL")).quantity == 30  # type: ignore[union-attr]


async def test_an_entry_canceled_before_any_fill_cancels_its_exits() -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, type="limit", limit_price=90.0, time_in_force="gtc", **BRACKET)
    await broker.cancel_order(entry.id)
    assert [(await broker.get_order(i)).status for i in entry.legs] == [OrderStatus.CANCELED] * 2


async def test_canceling_a_part_filled_entry_cancels_its_held_exits() -> None:
    broker = _broker(fill={"model": "volume_limited", "volume_limit": 0.01})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=1000)
    entry = await broker.buy("AAPL", 30, type="limit", limit_price=101.0, time_in_force="gtc", **BRACKET)
    await tape.bar(100, 100, 100, 100, volume=1000)  # 10 of 30 fill
    await broker.cancel_order(entry.id)
    assert [(await broker.get_order(i)).status for i in (entry.id, *entry.legs)] == [OrderStatus.CANCELED] * 3
    await tape.bar(80, 120, 80, 100)  # through both exits' prices: nothing trades
    assert (await broker.get_position("AAPL")).quantity == 10  # type: ignore[union-attr]


@pytest.mark.parametrize("which", [0, 1])
async def test_canceling_one_exit_cancels_the_other(which: int) -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, **BRACKET)
    await tape.bar(100, 100, 100, 100)
    canceled = await broker.cancel_order(entry.legs[which])
    assert canceled.status is OrderStatus.CANCELED
    assert [(await broker.get_order(i)).status for i in entry.legs] == [OrderStatus.CANCELED] * 2
    assert (await broker.get_order(entry.id)).status is OrderStatus.FILLED
    await tape.bar(80, 120, 80, 100)
    assert (await broker.get_position("AAPL")).quantity == 10  # type: ignore[union-attr]


async def test_under_latency_a_cancel_takes_the_whole_group_pending_cancel_then_canceled() -> None:
    broker = _broker(latency={"model": "constant", "seconds": 1.0})
    tape = Tape(broker)
    events = collect_events(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, type="limit", limit_price=90.0, time_in_force="gtc", **BRACKET)
    await broker.clock.advance(2.0)  # type: ignore[attr-defined]
    pending = await broker.cancel_order(entry.legs[1])
    assert pending.status is OrderStatus.PENDING_CANCEL
    members = (entry.id, *entry.legs)
    assert [(await broker.get_order(i)).status for i in members] == [OrderStatus.PENDING_CANCEL] * 3
    await broker.clock.advance(2.0)  # type: ignore[attr-defined]
    assert [(await broker.get_order(i)).status for i in members] == [OrderStatus.CANCELED] * 3
    assert not [e for e in events if e.type.value == "order_cancel_rejected"]


async def test_an_oco_closes_a_position_with_two_exits_and_needs_the_position() -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    refused = await broker.sell("AAPL", 10, **OCO)
    assert refused.status is OrderStatus.REJECTED and "an oco order closes a position" in (refused.reject_reason or "")
    await broker.buy("AAPL", 10)
    await tape.bar(100, 100, 100, 100)
    events = collect_events(broker)
    oco = await broker.sell("AAPL", 10, **OCO)
    (stop_id,) = oco.legs
    assert oco.status is OrderStatus.NEW and oco.limit_price == 110.0
    assert (await broker.get_order(stop_id)).status is OrderStatus.HELD  # Alpaca: the stop-loss leg is held
    await tape.bar(100, 100, 90, 92)  # the stop triggers
    assert (await broker.get_order(stop_id)).status is OrderStatus.FILLED
    assert [e.type.value for e in events if e.order.id == stop_id] == ["new", "fill"]
    assert (await broker.get_order(oco.id)).status is OrderStatus.CANCELED
    assert await broker.get_positions() == []


async def test_an_oco_takes_alpacas_documented_shape_without_a_top_level_limit_price() -> None:
    request = OrderRequest("AAPL", "sell", 10, **OCO)
    assert request.limit_price == 110.0
    with pytest.raises(InvalidOrder, match=r"an oco order is a limit order at its take_profit\.limit_price"):
        OrderRequest("AAPL", "sell", 10, limit_price=111.0, **OCO)
    with pytest.raises(InvalidOrder, match="limit_price is required for a limit order"):
        OrderRequest("AAPL", "sell", 10, type="limit")


async def test_an_oto_attaches_one_exit() -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 5, order_class="oto", stop_loss={"stop_price": 97.0})
    await tape.bar(100, 100, 100, 100)
    (stop_id,) = entry.legs
    assert (await broker.get_order(stop_id)).status is OrderStatus.NEW  # no sibling to be held against
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


async def test_legs_are_replaceable_and_keep_their_place_and_status_in_the_group() -> None:
    broker = _broker()
    tape = Tape(broker)
    events = collect_events(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, **BRACKET)
    await tape.bar(100, 100, 100, 100)
    take_id, stop_id = entry.legs
    take = await broker.replace_order(take_id, limit_price=105.0)
    stop = await broker.replace_order(stop_id, stop_price=98.0)
    assert (take.status, take.limit_price, take.parent_id) == (OrderStatus.NEW, 105.0, entry.id)
    assert (stop.status, stop.stop_price, stop.parent_id) == (OrderStatus.HELD, 98.0, entry.id)
    assert (await broker.get_order(entry.id)).legs == (take.id, stop.id)
    assert (await broker.get_order(stop_id)).replaced_by == stop.id
    assert [e.type.value for e in events if e.order.id == stop_id] == ["pending_replace", "replaced"]
    await tape.bar(99, 99, 97, 97)  # through the new stop (98), not the old one (95)
    assert (await broker.get_order(stop.id)).status is OrderStatus.FILLED
    assert (await broker.get_order(take.id)).status is OrderStatus.CANCELED
    assert await broker.get_positions() == []


async def test_an_exit_held_for_its_entry_is_replaced_held_and_starts_with_its_siblings() -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, type="limit", limit_price=99.0, time_in_force="gtc", **BRACKET)
    take = await broker.replace_order(entry.legs[0], limit_price=108.0)
    assert take.status is OrderStatus.HELD
    await tape.bar(100, 112, 100, 111)  # above both take-profits, the entry not reached: nothing trades
    assert (await broker.get_order(take.id)).status is OrderStatus.HELD
    await tape.bar(99, 99, 98, 99)  # the entry fills
    assert (await broker.get_order(take.id)).status is OrderStatus.NEW
    await tape.bar(107, 108.5, 107, 108)
    assert (await broker.get_order(take.id)).status is OrderStatus.FILLED


async def test_an_oco_order_itself_is_replaceable_and_its_stop_loss_follows_it() -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    await broker.buy("AAPL", 10)
    await tape.bar(100, 100, 100, 100)
    oco = await broker.sell("AAPL", 10, **OCO)
    moved = await broker.replace_order(oco.id, limit_price=104.0)
    (stop_id,) = moved.legs
    assert (await broker.get_order(stop_id)).parent_id == moved.id
    await tape.bar(103, 104.5, 103, 104)
    assert (await broker.get_order(moved.id)).status is OrderStatus.FILLED
    assert (await broker.get_order(stop_id)).status is OrderStatus.CANCELED


async def _oco_with_both_members_replaced(head_first: bool) -> tuple[PaperBroker, Tape, str, str, str, str]:
    """A long position of 10 and its oco (take 110, stop 95), then a replace of the oco order (limit 104) and one
    of its stop-loss (stop 97) on their way at once, under a second's latency: the first sent arrives first."""
    broker = _broker(latency={"model": "constant", "seconds": 1.0})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    await broker.buy("AAPL", 10)
    await tape.bar(100, 100, 100, 100)
    oco = await broker.sell("AAPL", 10, **OCO)
    await broker.clock.advance(1.0)  # type: ignore[attr-defined]
    (stop_id,) = oco.legs
    if head_first:
        head = await broker.replace_order(oco.id, limit_price=104.0)
        await broker.clock.advance(0.5)  # type: ignore[attr-defined]
        stop = await broker.replace_order(stop_id, stop_price=97.0)
    else:
        stop = await broker.replace_order(stop_id, stop_price=97.0)
        await broker.clock.advance(0.5)  # type: ignore[attr-defined]
        head = await broker.replace_order(oco.id, limit_price=104.0)
    await broker.clock.advance(2.0)  # type: ignore[attr-defined]
    return broker, tape, oco.id, stop_id, head.id, stop.id


@pytest.mark.parametrize("head_first", [True, False], ids=["oco-order-replaced-first", "stop-loss-replaced-first"])
async def test_an_oco_whose_two_exits_are_replaced_at_once_stays_one_group(head_first: bool) -> None:
    """Each successor takes the group as it stands when its replace arrives, not as it stood when it was sent: a
    stop-loss replaced after its oco order names the oco order's successor as its parent (else its fill left
    the take-profit working, and both exits filled: twice the position sold)."""
    broker, tape, old_head, old_stop, head_id, stop_id = await _oco_with_both_members_replaced(head_first)
    head, stop = await broker.get_order(head_id), await broker.get_order(stop_id)
    assert [(await broker.get_order(i)).status for i in (old_head, old_stop)] == [OrderStatus.REPLACED] * 2
    assert (head.status, head.limit_price, head.legs) == (OrderStatus.NEW, 104.0, (stop_id,))
    assert (stop.status, stop.stop_price, stop.parent_id) == (OrderStatus.HELD, 97.0, head_id)
    await tape.bar(99, 99, 96, 96)  # through the new stop (97): the stop-loss fills, the take-profit is canceled
    assert (await broker.get_order(stop_id)).status is OrderStatus.FILLED
    assert (await broker.get_order(head_id)).status is OrderStatus.CANCELED
    await tape.bar(103, 105, 103, 104)  # through the take-profit's limit (104): nothing is left to trade
    assert (await broker.get_order(head_id)).filled_quantity == 0
    assert await broker.get_positions() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quantity": 5}, "its quantity follows the group"),
        ({"time_in_force": "day"}, "its time_in_force follows the group"),
        ({"stop_price": 90.0}, "stop_price is not allowed on a limit order"),
    ],
)
async def test_a_leg_replace_that_is_not_a_price_is_refused_and_changes_nothing(
    change: dict[str, Any], message: str
) -> None:
    broker = _broker()
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    entry = await broker.buy("AAPL", 10, time_in_force="gtc", **BRACKET)
    await tape.bar(100, 100, 100, 100)
    before = await broker.list_orders("all")
    with pytest.raises(InvalidOrder, match=message):
        await broker.replace_order(entry.legs[0], **change)
    assert await broker.list_orders("all") == before
