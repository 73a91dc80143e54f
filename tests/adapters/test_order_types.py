"""Order types, time in force, fill models, partial fills and replace on the paper adapter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker_sim import (
    Bar,
    InsufficientBuyingPower,
    InvalidOrder,
    OrderNotReplaceable,
    OrderRequest,
    OrderStatus,
    PaperBroker,
    Quote,
    Side,
    SimulatedClock,
)
from tests.conftest import T0


def _broker(**models: Any) -> PaperBroker:
    models.setdefault("latency", "none")
    models.setdefault("slippage", "none")
    return PaperBroker(100_000, clock=SimulatedClock(T0, auto_advance=True), **models)


class Tape:
    """Feeds one-minute bars, moving the simulated clock to each bar's time first (as a replay does)."""

    def __init__(self, broker: PaperBroker) -> None:
        self.broker = broker
        self.minute = 0

    async def bar(self, open_: float, high: float, low: float, close: float, volume: float = 1e6) -> Bar:
        when = T0 + timedelta(minutes=self.minute)
        self.minute += 1
        await self.broker.clock.advance_to(when)  # type: ignore[attr-defined]
        bar = Bar("AAPL", when, open_, high, low, close, volume)
        await self.broker.update_market(bar)
        return bar


# -- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "stop_limit", "stop_price": 10.0}, "limit_price is required for a stop_limit order"),
        ({"type": "stop_limit", "limit_price": 10.0}, "stop_price is required for a stop_limit order"),
        ({"type": "trailing_stop"}, "needs exactly one of trail_price, trail_percent"),
        ({"type": "trailing_stop", "trail_price": 1.0, "trail_percent": 1.0}, "needs exactly one of"),
        ({"type": "trailing_stop", "trail_price": -1.0}, "trail_price must be > 0, got -1.0"),
        ({"type": "trailing_stop", "trail_percent": 150.0}, "trail_percent must be < 100"),
        ({"type": "trailing_stop", "trail_price": 1.0, "stop_price": 5.0}, "stop_price is not allowed"),
        ({"type": "stop", "stop_price": 5.0, "limit_price": 4.0}, "limit_price is not allowed on a stop order"),
        ({"trail_price": 1.0}, "trail_price and trail_percent are only for trailing_stop orders"),
    ],
)
def test_malformed_stop_orders_are_invalid(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidOrder, match=message):
        OrderRequest("AAPL", Side.SELL, 10, **fields)


# -- stops --------------------------------------------------------------------------------------------------


async def test_stop_triggers_when_the_bar_reaches_it() -> None:
    broker = _broker(fill={"model": "bar"})
    tape = Tape(broker)
    await tape.bar(100, 101, 99, 100)
    order = await broker.buy("AAPL", 10, type="stop", stop_price=103.0, time_in_force="gtc")
    await tape.bar(100, 102, 99, 101)
    assert (await broker.get_order(order.id)).status is OrderStatus.NEW
    await tape.bar(101, 104, 100, 103.5)
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == 103.0


async def test_a_stop_that_gaps_through_fills_at_the_open() -> None:
    broker = _broker(fill={"model": "bar"})
    tape = Tape(broker)
    await tape.bar(100, 101, 99, 100)
    await broker.buy("AAPL", 10)  # so the sell stop closes a long; fills at the next bar's open
    await tape.bar(100, 101, 99, 100)
    order = await broker.sell("AAPL", 10, type="stop", stop_price=95.0, time_in_force="gtc")
    await tape.bar(90, 91, 88, 89)  # opens below the stop
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == 90.0


async def test_stop_limit_triggers_then_waits_as_a_limit() -> None:
    broker = _broker(fill={"model": "bar"})
    tape = Tape(broker)
    await tape.bar(100, 101, 99, 100)
    order = await broker.buy("AAPL", 10, type="stop_limit", stop_price=102.0, limit_price=102.5, time_in_force="gtc")
    await tape.bar(103, 104, 102.8, 103.5)  # gaps above the limit: triggered, not filled
    assert (await broker.get_order(order.id)).status is OrderStatus.NEW
    await tape.bar(103, 103, 101.5, 102)  # back through the limit (and below the stop): fills as a limit
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == 102.5


async def test_trailing_stop_follows_the_high_and_triggers() -> None:
    broker = _broker(fill={"model": "bar"})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100)
    await broker.buy("AAPL", 10)
    await tape.bar(100, 100, 100, 100)
    order = await broker.sell("AAPL", 10, type="trailing_stop", trail_price=2.0, time_in_force="gtc")
    assert order.stop_price == 98.0
    for high in (101, 103, 106):
        await tape.bar(high - 1, high, high - 1.5, high - 0.5)
    trailing = await broker.get_order(order.id)
    assert trailing.status is OrderStatus.NEW
    assert trailing.stop_price == 104.0  # 106 - 2: it followed the high, never down
    await tape.bar(105, 105.5, 103, 103.5)
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == 104.0


async def test_trailing_percent_on_a_buy_follows_the_low() -> None:
    broker = _broker(allow_short=True)
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    order = await broker.buy("AAPL", 1, type="trailing_stop", trail_percent=5.0, time_in_force="gtc")
    assert order.stop_price == pytest.approx(105.0)
    await broker.update_market(Bar("AAPL", T0, 90, 90, 90, 90))
    assert (await broker.get_order(order.id)).stop_price == pytest.approx(94.5)
    await broker.update_market(Bar("AAPL", T0, 95, 95, 95, 95))
    assert (await broker.get_order(order.id)).status is OrderStatus.FILLED


# -- fill models ---------------------------------------------------------------------------------------------


async def test_next_bar_market_order_fills_at_the_next_open_never_the_submission_bar() -> None:
    broker = _broker(fill={"model": "bar", "timing": "next_bar"})
    tape = Tape(broker)
    submitted_on = await tape.bar(100, 110, 90, 105)
    order = await broker.buy("AAPL", 1)
    assert order.status is OrderStatus.NEW  # nothing from the bar it was seen in
    await tape.bar(107, 108, 106, 107.5)
    filled = await broker.get_order(order.id)
    assert filled.filled_avg_price == 107
    assert broker.fills[0].timestamp > submitted_on.timestamp


async def test_same_bar_close_fills_at_the_submission_bars_close() -> None:
    broker = _broker(fill={"model": "bar", "timing": "same_bar_close"})
    await Tape(broker).bar(100, 110, 90, 105)
    order = await broker.buy("AAPL", 1)
    assert order.filled_avg_price == 105


async def test_a_resting_limit_touched_but_not_crossed_does_not_fill_in_quote_mode_with_limit_fill_through() -> None:
    broker = _broker(fill={"model": "quote", "limit_fill": "through"})
    await broker.update_market(Quote("AAPL", T0, 99.0, 100.0))
    order = await broker.buy("AAPL", 1, type="limit", limit_price=99.5, time_in_force="gtc")
    later = T0 + timedelta(seconds=1)
    await broker.clock.advance_to(later)  # type: ignore[attr-defined]
    await broker.update_market(Quote("AAPL", later, 99.0, 99.5))  # ask touches the limit
    assert (await broker.get_order(order.id)).status is OrderStatus.NEW
    await broker.update_market(Quote("AAPL", later, 99.0, 99.4))  # ask crosses it
    filled = await broker.get_order(order.id)
    assert filled.filled_avg_price == 99.4


async def test_quote_market_orders_take_the_far_side() -> None:
    broker = _broker(fill="quote")
    await broker.update_market(Quote("AAPL", T0, 99.0, 100.0))
    buy = await broker.buy("AAPL", 1)
    sell = await broker.sell("AAPL", 1)
    assert (buy.filled_avg_price, sell.filled_avg_price) == (100.0, 99.0)


async def test_partial_fills_over_several_bars_add_up_at_the_volume_weighted_price() -> None:
    broker = _broker(fill={"model": "volume_limited", "volume_limit": 0.1})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=1000)
    order = await broker.buy("AAPL", 250, type="limit", limit_price=110.0, time_in_force="gtc")
    reserved_before = 100_000 - (await broker.get_account()).buying_power
    events = []
    broker.add_listener(lambda e: events.append(e.type.value))
    await tape.bar(101, 101, 101, 101, volume=1000)  # 100 fill
    partial = await broker.get_order(order.id)
    assert partial.status is OrderStatus.PARTIALLY_FILLED and partial.filled_quantity == 100
    held = 100_000 - (await broker.get_account()).buying_power - partial.filled_quantity * 101
    assert held < reserved_before  # the reservation shrinks as the order fills
    await tape.bar(102, 102, 102, 102, volume=1000)  # 100 more
    await tape.bar(103, 103, 103, 103, volume=1000)  # the last 50
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED
    assert sum(f.quantity for f in broker.fills) == 250
    assert filled.filled_avg_price == pytest.approx((100 * 101 + 100 * 102 + 50 * 103) / 250)
    assert events == ["partial_fill", "partial_fill", "fill"]


async def test_fok_that_cannot_fill_whole_is_canceled_with_nothing_filled() -> None:
    broker = _broker(fill={"model": "volume_limited", "volume_limit": 0.01})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=1000)
    order = await broker.buy("AAPL", 50, time_in_force="fok")
    await tape.bar(100, 100, 100, 100, volume=1000)
    final = await broker.get_order(order.id)
    assert final.status is OrderStatus.CANCELED and final.filled_quantity == 0
    assert broker.fills == []
    assert (await broker.get_account()).buying_power == 100_000


async def test_ioc_fills_part_and_cancels_the_rest() -> None:
    broker = _broker(fill={"model": "volume_limited", "volume_limit": 0.01})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=1000)
    order = await broker.buy("AAPL", 50, time_in_force="ioc")
    await tape.bar(100, 100, 100, 100, volume=1000)
    final = await broker.get_order(order.id)
    assert final.status is OrderStatus.CANCELED and final.filled_quantity == 10
    assert (await broker.get_account()).buying_power == pytest.approx(100_000 - 10 * 100)


# -- slippage and latency models -----------------------------------------------------------------------------


async def test_spread_slippage_crosses_half_the_quoted_spread() -> None:
    broker = _broker(slippage="spread")
    await broker.update_market(Quote("AAPL", T0, 99.0, 101.0))
    order = await broker.buy("AAPL", 1)
    assert order.filled_avg_price == 101.0  # mid 100 + half of 2


async def test_volume_share_slippage_is_zipline_quadratic_impact() -> None:
    broker = _broker(slippage={"model": "volume_share", "price_impact": 0.1, "volume_limit": 0.25})
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100, 1000))
    order = await broker.buy("AAPL", 100)
    assert order.filled_avg_price == pytest.approx(100 * (1 + 0.1 * 0.1**2))


async def test_per_action_latency_times_submit_and_cancel_separately() -> None:
    latency = {"model": "per_action", "submit": 2.0, "cancel": {"model": "constant", "seconds": 0.25}}
    broker = _broker(latency=latency)
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    order = await broker.buy("AAPL", 1, type="limit", limit_price=50.0, time_in_force="gtc")
    accepted = await broker.wait_for(order.id, "new")
    assert (accepted.updated_at - T0).total_seconds() == 2.0
    await broker.cancel_order(order.id)
    canceled = await broker.wait_for(order.id, "canceled")
    assert (canceled.updated_at - accepted.updated_at).total_seconds() == 0.25


async def test_lognormal_latency_is_seeded_and_positive() -> None:
    def draws(seed: int) -> list[float]:
        from broker_sim.builtin.latency import LognormalLatency
        from broker_sim.hookspecs import Action, HookContext

        ctx = HookContext("latency", "lognormal", seed, lambda: 0.0, lambda: None)  # type: ignore[arg-type,return-value]
        model = LognormalLatency(median=0.5, sigma=0.4)
        return [model.broker_sim_latency(None, Action.SUBMIT, ctx) for _ in range(200)]  # type: ignore[arg-type]

    first = draws(1)
    assert first == draws(1) and first != draws(2)
    assert all(d > 0 for d in first)
    assert sorted(first)[100] == pytest.approx(0.5, rel=0.15)


# -- replace -------------------------------------------------------------------------------------------------


async def test_replace_a_working_order() -> None:
    broker = _broker()
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    order = await broker.buy("AAPL", 10, type="limit", limit_price=90.0, time_in_force="gtc")
    new = await broker.replace_order(order.id, quantity=20, limit_price=95.0)
    old = await broker.get_order(order.id)
    assert old.status is OrderStatus.REPLACED and old.replaced_by == new.id
    assert new.replaces == order.id and new.id != order.id
    assert (new.quantity, new.limit_price, new.status) == (20, 95.0, OrderStatus.NEW)
    assert (await broker.get_account()).buying_power == pytest.approx(100_000 - 20 * 95.0)
    await broker.update_market(Bar("AAPL", T0, 94, 94, 94, 94))
    assert (await broker.get_order(new.id)).status is OrderStatus.FILLED


async def test_replace_of_a_filled_order_is_refused() -> None:
    broker = _broker()
    order = await broker.buy("AAPL", 10, reference_price=100.0)
    with pytest.raises(OrderNotReplaceable, match="is filled: it cannot be replaced"):
        await broker.replace_order(order.id, quantity=5)


async def test_replace_below_the_filled_quantity_is_invalid_and_changes_nothing() -> None:
    broker = _broker(fill={"model": "volume_limited", "volume_limit": 0.01})
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=1000)
    order = await broker.buy("AAPL", 50, type="limit", limit_price=101.0, time_in_force="gtc")
    await tape.bar(100, 100, 100, 100, volume=1000)
    before = (await broker.get_order(order.id), await broker.get_account())
    with pytest.raises(InvalidOrder, match="quantity 5 is not above the 10 already filled"):
        await broker.replace_order(order.id, quantity=5)
    assert (await broker.get_order(order.id), await broker.get_account()) == before


async def test_a_replace_racing_a_fill_under_latency_loses_to_the_fill() -> None:
    broker = _broker(latency={"model": "constant", "seconds": 1.0})
    events: list[tuple[str, str]] = []
    broker.add_listener(lambda event: events.append((event.type.value, event.order.id)))
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    order = await broker.buy("AAPL", 10, type="limit", limit_price=95.0, time_in_force="gtc")
    await broker.clock.advance(1.5)  # type: ignore[attr-defined]
    successor = await broker.replace_order(order.id, limit_price=90.0)
    assert successor.status is OrderStatus.PENDING_NEW and successor.replaces == order.id
    assert (await broker.get_order(order.id)).status is OrderStatus.PENDING_REPLACE
    await broker.update_market(Bar("AAPL", T0, 94, 94, 94, 94))  # fills before the replace arrives
    await broker.clock.advance(2.0)  # type: ignore[attr-defined]
    final = await broker.get_order(order.id)
    assert final.status is OrderStatus.FILLED and final.replaced_by is None
    refused = await broker.get_order(successor.id)
    assert refused.status is OrderStatus.REJECTED and "already filled" in (refused.reject_reason or "")
    assert events[-2:] == [("order_replace_rejected", order.id), ("rejected", successor.id)]
    assert broker.reservations() == {}


async def test_a_replace_under_latency_ends_replaced_and_links_the_successor() -> None:
    broker = _broker(latency={"model": "constant", "seconds": 1.0})
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    order = await broker.buy("AAPL", 10, type="limit", limit_price=95.0, time_in_force="gtc")
    await broker.clock.advance(1.5)  # type: ignore[attr-defined]
    await broker.replace_order(order.id, limit_price=90.0)
    replaced = await broker.wait_for(order.id, "replaced")
    successor = await broker.get_order(replaced.replaced_by or "")
    assert successor.limit_price == 90.0 and successor.status is OrderStatus.NEW


# -- opg, cls, day, margin -----------------------------------------------------------------------------------


async def _bar_at(broker: PaperBroker, when: Any, open_: float, close: float) -> None:
    await broker.clock.advance_to(when)  # type: ignore[attr-defined]
    await broker.update_market(Bar("AAPL", when, open_, max(open_, close), min(open_, close), close, 1e6))


async def test_opg_fills_at_the_next_sessions_opening_bar_open() -> None:
    broker = _broker(fill={"model": "bar"})
    evening = T0 + timedelta(hours=11)  # 20:30 New York: past 19:00, an opg order queues for the next open
    await _bar_at(broker, evening, 100, 101)
    order = await broker.buy("AAPL", 10, time_in_force="opg")
    await _bar_at(broker, evening + timedelta(minutes=30), 101, 102)  # same session: not yet
    assert (await broker.get_order(order.id)).status is OrderStatus.ACCEPTED  # at the venue, not yet working
    next_open = T0 + timedelta(days=1)  # 09:30 New York next day
    await _bar_at(broker, next_open, 104, 106)
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED and filled.filled_avg_price == 104


async def test_opg_limit_not_reached_at_the_open_is_canceled() -> None:
    broker = _broker(fill={"model": "bar"})
    await _bar_at(broker, T0 + timedelta(hours=11), 100, 101)  # 20:30 New York
    order = await broker.buy("AAPL", 10, type="limit", limit_price=99.0, time_in_force="opg")
    await _bar_at(broker, T0 + timedelta(days=1), 104, 98)  # opens above the limit (the low later doesn't count)
    final = await broker.get_order(order.id)
    assert final.status is OrderStatus.CANCELED and final.filled_quantity == 0


async def test_cls_fills_at_the_last_bar_before_the_close() -> None:
    broker = _broker(fill={"model": "bar"})
    order_time = T0.replace(hour=19)
    await _bar_at(broker, order_time, 100, 101)
    order = await broker.buy("AAPL", 10, time_in_force="cls")
    await _bar_at(broker, T0.replace(hour=20, minute=59), 102, 103.5)  # the last bar of the session
    assert (await broker.get_order(order.id)).status is OrderStatus.NEW
    await _bar_at(broker, T0.replace(hour=22), 110, 111)  # after the close: the order was judged at 16:00
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED and filled.filled_avg_price == 103.5
    assert filled.updated_at == T0.replace(hour=21, minute=0)


async def test_day_order_expires_at_the_close_in_a_replay() -> None:
    broker = _broker(fill={"model": "bar"})
    await _bar_at(broker, T0, 100, 100)
    order = await broker.buy("AAPL", 10, type="limit", limit_price=90.0)
    await _bar_at(broker, T0.replace(hour=20, minute=59), 95, 95)
    assert (await broker.get_order(order.id)).status is OrderStatus.NEW
    await _bar_at(broker, T0 + timedelta(days=1), 80, 80)  # next morning: too late, it expired at 16:00
    expired = await broker.get_order(order.id)
    assert expired.status is OrderStatus.EXPIRED and expired.updated_at == T0.replace(hour=21, minute=0)


async def test_short_sale_needs_buying_power_of_one_and_a_half_times_its_value() -> None:
    # A cash account that may short (allow_short), each short valued at its price (not Alpaca's 3 % collar).
    broker = PaperBroker(
        10_000,
        clock=SimulatedClock(T0),
        latency="none",
        slippage="none",
        allow_short=True,
        rules={"buying_power_collar": False},
    )
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    with pytest.raises(InsufficientBuyingPower):
        await broker.sell("AAPL", 70)  # needs 10,500
    short = await broker.sell("AAPL", 60)  # needs 9,000
    assert short.status is OrderStatus.FILLED
    account = await broker.get_account()
    assert account.cash == 16_000 and account.equity == 10_000
    assert account.buying_power == pytest.approx(1_000)
    await broker.update_market(Bar("AAPL", T0, 90, 90, 90, 90))  # the short gains; buying power follows
    account = await broker.get_account()
    assert account.equity == 10_600 and account.buying_power == pytest.approx(16_000 - 2.5 * 5_400)


async def test_orders_not_yet_accepted_or_pending_replace_refuse_replace_and_cancel_clearly() -> None:
    from broker_sim import OrderNotCancelable

    broker = _broker(latency={"model": "constant", "seconds": 1.0})
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    order = await broker.buy("AAPL", 10, type="limit", limit_price=95.0, time_in_force="gtc")
    with pytest.raises(OrderNotReplaceable, match="is pending_new: it cannot be replaced"):
        await broker.replace_order(order.id, limit_price=90.0)
    await broker.clock.advance(1.5)  # type: ignore[attr-defined]
    await broker.replace_order(order.id, limit_price=90.0)
    with pytest.raises(OrderNotCancelable, match="is pending_replace"):
        await broker.cancel_order(order.id)
    with pytest.raises(OrderNotReplaceable, match="is pending_replace"):
        await broker.replace_order(order.id, limit_price=91.0)
    replaced = await broker.wait_for(order.id, "replaced")
    successor = replaced.replaced_by or ""
    await broker.cancel_order(successor)
    assert (await broker.wait_for(successor, "canceled")).status is OrderStatus.CANCELED
    assert (await broker.get_account()).buying_power == 100_000


async def test_a_replace_the_account_cannot_carry_is_refused_and_the_old_order_keeps_working() -> None:
    broker = PaperBroker(1_000, clock=SimulatedClock(T0), latency="none", slippage="none")
    events: list[tuple[str, str]] = []
    broker.add_listener(lambda event: events.append((event.type.value, event.order.id)))
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    order = await broker.buy("AAPL", 10, type="limit", limit_price=95.0, time_in_force="gtc")
    held = broker.reservations()[order.id]
    successor = await broker.replace_order(order.id, quantity=100)  # 9,500 against 1,000
    assert successor.status is OrderStatus.REJECTED and successor.replaces == order.id
    assert (
        successor.reject_reason is not None and "replace refused: insufficient buying power" in successor.reject_reason
    )
    old = await broker.get_order(order.id)
    assert old.status is OrderStatus.NEW and old.replaced_by is None  # back to working, as if never replaced
    assert broker.reservations() == {order.id: held}
    assert events[-2:] == [("order_replace_rejected", order.id), ("rejected", successor.id)]
    await broker.update_market(Bar("AAPL", T0, 94, 94, 94, 94))
    assert (await broker.get_order(order.id)).status is OrderStatus.FILLED  # it still works


async def test_a_refused_replace_of_a_partly_filled_order_returns_it_to_partially_filled() -> None:
    broker = PaperBroker(
        10_000,
        clock=SimulatedClock(T0),
        latency="none",
        slippage="none",
        fill={"model": "volume_limited", "volume_limit": 0.01},
    )
    tape = Tape(broker)
    await tape.bar(100, 100, 100, 100, volume=1000)
    order = await broker.buy("AAPL", 50, type="limit", limit_price=101.0, time_in_force="gtc")
    await tape.bar(100, 100, 100, 100, volume=1000)
    assert (await broker.get_order(order.id)).status is OrderStatus.PARTIALLY_FILLED
    refused = await broker.replace_order(order.id, quantity=500)
    assert refused.status is OrderStatus.REJECTED
    back = await broker.get_order(order.id)
    assert back.status is OrderStatus.PARTIALLY_FILLED and back.filled_quantity == 10
