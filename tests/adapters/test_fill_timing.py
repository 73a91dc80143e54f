"""When bars fill orders: an order that starts working inside a bar is judged on that bar (latency shorter than
the bar costs no bar), at its open or along its path; ioc and fok are judged once, at arrival."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker_sim import Bar, ConfigError, OrderStatus, PaperBroker, SimulatedClock
from tests.conftest import T0


def _broker(latency: Any = 1.0, **models: Any) -> PaperBroker:
    models.setdefault("slippage", "none")
    models.setdefault("fill", "bar")
    spec = "none" if latency is None else {"model": "constant", "seconds": latency}
    return PaperBroker(100_000, clock=SimulatedClock(T0), latency=spec, **models)


async def _bar(broker: PaperBroker, minute: int, o: float, h: float, low: float, c: float) -> None:
    """A one-minute bar stamped at its end, T0 + `minute` minutes, delivered as a replay does."""
    when = T0 + timedelta(minutes=minute)
    await broker.clock.advance_to(when, events_pending=True)  # type: ignore[attr-defined]
    await broker.update_market(Bar("AAPL", when, o, h, low, c, 1e6, 60.0))


async def test_a_market_order_with_latency_shorter_than_the_bar_fills_at_the_next_bars_open() -> None:
    broker = _broker(latency=1.5)
    await _bar(broker, 0, 100, 100, 100, 100)
    order = await broker.buy("AAPL", 10)  # sent at 14:30:00, working at 14:30:01.5, inside the next bar
    await _bar(broker, 1, 101, 103, 100.5, 102)  # covers 14:30-14:31: the order is judged on it, at its open
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED and filled.filled_avg_price == 101.0
    assert filled.filled_at == T0 + timedelta(minutes=1)  # when that bar was complete, not a bar later


async def test_a_protective_stop_placed_with_latency_is_judged_on_the_very_next_bar() -> None:
    broker = _broker(latency=2.0)
    await _bar(broker, 0, 100, 100, 100, 100)
    await broker.buy("AAPL", 10)
    await _bar(broker, 1, 100, 100, 100, 100)
    stop = await broker.sell("AAPL", 10, type="stop", stop_price=95.0, time_in_force="gtc")
    await _bar(broker, 2, 99, 99, 80, 82)  # the crash right after the stop was placed: stopped at 95
    stopped = await broker.get_order(stop.id)
    assert stopped.status is OrderStatus.FILLED and stopped.filled_avg_price == 95.0


async def test_an_order_whose_latency_outlasts_a_bar_is_judged_on_the_bar_it_arrived_in() -> None:
    broker = _broker(latency=90.0)
    await _bar(broker, 0, 100, 100, 100, 100)
    order = await broker.buy("AAPL", 10)  # working from 14:31:30
    await _bar(broker, 1, 101, 101, 101, 101)  # 14:30-14:31: over before the order worked
    assert (await broker.get_order(order.id)).status is OrderStatus.PENDING_NEW
    await _bar(broker, 2, 102, 104, 101, 103)  # 14:31-14:32: the order arrived in it, judged from its open
    assert (await broker.get_order(order.id)).filled_avg_price == 102.0


async def test_arrival_along_the_path_prices_a_late_order_where_the_bar_was_then() -> None:
    broker = _broker(latency=30.0, fill={"model": "bar", "arrival": "path", "intrabar": "ohlc"})
    await _bar(broker, 0, 100, 100, 100, 100)
    order = await broker.buy("AAPL", 10)  # working half-way through the next bar
    await _bar(broker, 1, 100, 106, 97, 103)
    # O-H-L-C in thirds: 100 at 0, 106 at 1/3, 97 at 2/3, 103 at 1. At 1/2: 106 + (97 - 106) x 0.5 = 101.5
    assert (await broker.get_order(order.id)).filled_avg_price == pytest.approx(101.5)


async def test_arrival_along_the_path_judges_a_late_limit_only_on_what_traded_after_it() -> None:
    broker = _broker(latency=50.0, fill={"model": "bar", "arrival": "path", "intrabar": "ohlc"})
    await _bar(broker, 0, 100, 100, 100, 100)
    order = await broker.buy("AAPL", 10, type="limit", limit_price=99.0, time_in_force="gtc")
    # Working at 50/60 of the bar: the path is then on its last leg, 97 -> 103 (at 5/6: 100), so the low of 97
    # came before the order worked and the limit at 99 does not fill.
    await _bar(broker, 1, 100, 106, 97, 103)
    assert (await broker.get_order(order.id)).status is OrderStatus.NEW


def test_arrival_along_the_path_needs_a_bar_path() -> None:
    with pytest.raises(ConfigError, match="arrival: path needs a bar path: set intrabar to ohlc or adaptive"):
        _broker(fill={"model": "bar", "arrival": "path"})


def test_unknown_arrival_and_intrabar_values_are_refused_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="arrival must be one of open, path; got 'late'"):
        _broker(fill={"model": "bar", "arrival": "late"})
    with pytest.raises(ConfigError, match="intrabar must be one of stop_first, ohlc, adaptive; got 'random'"):
        _broker(fill={"model": "volume_limited", "intrabar": "random"})


# -- ioc and fok: once, at arrival ------------------------------------------------------------------------------


@pytest.mark.parametrize("tif", ["ioc", "fok"])
async def test_a_non_marketable_ioc_or_fok_limit_is_judged_at_the_open_it_arrives_at_and_canceled(tif: str) -> None:
    broker = _broker(latency=1.0)
    await _bar(broker, 0, 100, 100, 100, 100)
    order = await broker.buy("AAPL", 10, type="limit", limit_price=99.0, time_in_force=tif)
    await _bar(broker, 1, 100, 100.5, 98, 99.5)  # opens at 100, above the limit; the low of 98 came later
    ended = await broker.get_order(order.id)
    assert ended.status is OrderStatus.CANCELED and ended.filled_quantity == 0


async def test_a_marketable_ioc_limit_fills_at_the_open_it_arrives_at() -> None:
    broker = _broker(latency=1.0)
    await _bar(broker, 0, 100, 100, 100, 100)
    order = await broker.buy("AAPL", 10, type="limit", limit_price=101.0, time_in_force="ioc")
    await _bar(broker, 1, 100.5, 102, 100, 101)
    assert (await broker.get_order(order.id)).filled_avg_price == 100.5


async def test_an_ioc_on_daily_bars_is_judged_at_the_next_sessions_open_not_over_the_whole_day() -> None:
    broker = _broker(latency=1.0)
    close = T0.replace(hour=21, minute=0)  # 16:00 New York: the order is sent at the close
    day = 6.5 * 3600
    await broker.clock.advance_to(close, events_pending=True)  # type: ignore[attr-defined]
    await broker.update_market(Bar("AAPL", close, 100, 100, 100, 100, 1e6, day))
    order = await broker.buy("AAPL", 10, type="limit", limit_price=95.0, time_in_force="ioc")
    assert order.status is OrderStatus.PENDING_NEW
    tomorrow = close + timedelta(days=1)
    await broker.clock.advance_to(tomorrow, events_pending=True)  # type: ignore[attr-defined]
    await broker.update_market(Bar("AAPL", tomorrow, 99, 100, 90, 92, 1e6, day))  # low 90: later that day
    ended = await broker.get_order(order.id)
    assert ended.status is OrderStatus.CANCELED and ended.filled_quantity == 0


async def test_an_ioc_limit_on_quotes_takes_the_quote_in_force_when_it_arrives() -> None:
    from broker_sim import Quote

    broker = _broker(latency=None, fill="quote")
    await broker.update_market(Quote("AAPL", T0, 99.0, 100.0, 100, 100))
    at_the_ask = await broker.buy("AAPL", 10, type="limit", limit_price=100.0, time_in_force="ioc")
    below = await broker.buy("AAPL", 10, type="limit", limit_price=99.5, time_in_force="ioc")
    assert at_the_ask.status is OrderStatus.FILLED and at_the_ask.filled_avg_price == 100.0  # marketable
    assert below.status is OrderStatus.CANCELED and below.filled_quantity == 0
