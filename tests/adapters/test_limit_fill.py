"""Touch or trade-through: every fill model takes `limit_fill` (touch, the default, or through) and a fill
probability at the touch; the quote model fills marketable limits at once and respects the displayed size."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker_sim import Bar, ConfigError, OrderStatus, PaperBroker, Quote, SimulatedClock, Trade
from tests.conftest import T0


def _broker(fill: Any, **settings: Any) -> PaperBroker:
    return PaperBroker(100_000, clock=SimulatedClock(T0), latency="none", slippage="none", fill=fill, **settings)


async def _feed(broker: PaperBroker, minute: int, event: Any) -> None:
    await broker.clock.advance_to(T0 + timedelta(minutes=minute), events_pending=True)  # type: ignore[attr-defined]
    await broker.update_market(event)


def _bar(minute: int, o: float, h: float, low: float, c: float, volume: float = 1e6) -> Bar:
    return Bar("AAPL", T0 + timedelta(minutes=minute), o, h, low, c, volume, 60.0)


async def _limit_after(fill: Any, touch: Any, **settings: Any) -> OrderStatus:
    """A buy limit at 99 resting from a bar at 100, then `touch` (an event whose lowest price is exactly 99)."""
    broker = _broker(fill, **settings)
    await _feed(broker, 0, _bar(0, 100, 100, 100, 100))
    order = await broker.buy("AAPL", 10, type="limit", limit_price=99.0, time_in_force="gtc")
    await _feed(broker, 1, touch)
    return (await broker.get_order(order.id)).status


TOUCHES = {
    "bar": _bar(1, 100, 100.5, 99.0, 100),
    "volume_limited": _bar(1, 100, 100.5, 99.0, 100),
    "immediate": Trade("AAPL", T0 + timedelta(minutes=1), 99.0, 100),
    "quote": Quote("AAPL", T0 + timedelta(minutes=1), 98.5, 99.0, 100, 100),
}


@pytest.mark.parametrize("model", sorted(TOUCHES))
async def test_a_touch_fills_a_limit_by_default_and_never_with_limit_fill_through(model: str) -> None:
    touch = TOUCHES[model]
    assert await _limit_after({"model": model}, touch) is OrderStatus.FILLED
    assert await _limit_after({"model": model, "limit_fill": "through"}, touch) is OrderStatus.NEW


@pytest.mark.parametrize("model", sorted(TOUCHES))
async def test_a_trade_through_fills_a_limit_under_either_rule(model: str) -> None:
    through = {
        "bar": _bar(1, 100, 100.5, 98.9, 100),
        "volume_limited": _bar(1, 100, 100.5, 98.9, 100),
        "immediate": Trade("AAPL", T0 + timedelta(minutes=1), 98.9, 100),
        "quote": Quote("AAPL", T0 + timedelta(minutes=1), 98.5, 98.9, 100, 100),
    }[model]
    assert await _limit_after({"model": model, "limit_fill": "through"}, through) is OrderStatus.FILLED


async def test_the_touch_probability_fills_about_that_share_of_touches_reproducibly() -> None:
    fill = {"model": "bar", "touch_probability": 0.3}
    outcomes = [await _limit_after(fill, TOUCHES["bar"], seed=seed) for seed in range(100)]
    filled = sum(status is OrderStatus.FILLED for status in outcomes)
    assert 16 <= filled <= 44  # 30 % of 100, give or take three standard deviations
    assert outcomes == [await _limit_after(fill, TOUCHES["bar"], seed=seed) for seed in range(100)]


async def test_a_take_profit_leg_and_a_stop_limits_limit_follow_limit_fill_through() -> None:
    broker = _broker({"model": "bar", "limit_fill": "through"})
    await _feed(broker, 0, _bar(0, 100, 100, 100, 100))
    entry = await broker.buy(
        "AAPL", 10, order_class="bracket", take_profit={"limit_price": 105.0}, stop_loss={"stop_price": 90.0}
    )
    await _feed(broker, 1, _bar(1, 100, 100, 100, 100))  # the entry fills
    take = entry.legs[0]
    await _feed(broker, 2, _bar(2, 100, 105.0, 99, 101))  # touches the take-profit: not enough
    assert (await broker.get_order(take)).status is OrderStatus.NEW
    stop_limit = await broker.buy("AAPL", 1, type="stop_limit", stop_price=102.0, limit_price=101.0)
    await _feed(broker, 3, _bar(3, 103, 103, 101.0, 102))  # triggered at the open (103); the low only touches 101
    assert (await broker.get_order(stop_limit.id)).status is OrderStatus.NEW
    await _feed(broker, 4, _bar(4, 102, 105.5, 100.5, 101))  # both traded through
    assert (await broker.get_order(take)).filled_avg_price == 105.0
    assert (await broker.get_order(stop_limit.id)).filled_avg_price == 101.0


@pytest.mark.parametrize(
    ("fill", "message"),
    [
        ({"model": "bar", "limit_fill": "cross"}, "limit_fill must be one of touch, through; got 'cross'"),
        ({"model": "quote", "touch_probability": 1.5}, "touch_probability must be between 0 and 1, got 1.5"),
        ({"model": "immediate", "touch_probability": -0.1}, "touch_probability must be >= 0, got -0.1"),
        (
            {"model": "bar", "limit_fill": "through", "touch_probability": 0.5},
            "touch_probability applies to limit_fill: touch",
        ),
        ({"model": "quote", "displayed_size": "all"}, "displayed_size must be one of rest, walk, ignore; got 'all'"),
        ({"model": "quote", "tick": 0}, "tick must be > 0, got 0"),
        ({"model": "bar", "buy_stop_limit": "yes"}, "buy_stop_limit must be true or false, got 'yes'"),
        ({"model": "immediate", "buy_stop_limit": 1}, "buy_stop_limit must be true or false, got 1"),
        ({"model": "quote", "touch_probability": "1"}, "touch_probability must be a finite number, got '1'"),
    ],
)
def test_bad_limit_fill_options_are_refused_naming_the_option(fill: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        _broker(fill)


# -- the quote model ------------------------------------------------------------------------------------------


async def test_a_quote_marketable_limit_fills_at_the_quote_at_once() -> None:
    broker = _broker("quote")
    await broker.update_market(Quote("AAPL", T0, 99.0, 100.0, 500, 500))
    at_ask = await broker.buy("AAPL", 10, type="limit", limit_price=100.0)
    through = await broker.buy("AAPL", 10, type="limit", limit_price=101.0)
    assert at_ask.filled_avg_price == 100.0 and through.filled_avg_price == 100.0  # at the ask, not the limit


async def test_the_quote_model_fills_the_displayed_size_and_the_rest_waits_for_later_quotes() -> None:
    broker = _broker("quote")
    await broker.update_market(Quote("AAPL", T0, 99.0, 100.0, 100, 30))
    order = await broker.buy("AAPL", 50)
    assert (order.status, order.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 30)
    await _feed(broker, 1, Quote("AAPL", T0 + timedelta(minutes=1), 99.5, 100.5, 100, 40))
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == pytest.approx((30 * 100.0 + 20 * 100.5) / 50)


async def test_walk_fills_the_rest_one_tick_worse_and_ignore_fills_any_size_at_the_quote() -> None:
    walk = _broker({"model": "quote", "displayed_size": "walk", "tick": 0.05})
    await walk.update_market(Quote("AAPL", T0, 99.0, 100.0, 100, 30))
    walked = await walk.buy("AAPL", 50)
    assert walked.status is OrderStatus.FILLED
    assert walked.filled_avg_price == pytest.approx((30 * 100.0 + 20 * 100.05) / 50)
    ignore = _broker({"model": "quote", "displayed_size": "ignore"})
    await ignore.update_market(Quote("AAPL", T0, 99.0, 100.0, 100, 30))
    assert (await ignore.buy("AAPL", 50)).filled_avg_price == 100.0


async def test_a_walking_limit_takes_only_what_is_shown_within_its_limit() -> None:
    broker = _broker({"model": "quote", "displayed_size": "walk"})
    await broker.update_market(Quote("AAPL", T0, 99.0, 100.0, 100, 30))
    order = await broker.buy("AAPL", 50, type="limit", limit_price=100.0, time_in_force="gtc")
    assert (order.status, order.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 30)


async def test_a_quote_without_sizes_fills_any_size() -> None:
    broker = _broker("quote")
    await broker.update_market(Quote("AAPL", T0, 99.0, 100.0))
    assert (await broker.buy("AAPL", 500)).status is OrderStatus.FILLED
