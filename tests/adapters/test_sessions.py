"""Sessions and bar timestamps: one rule for when orders work, which data judges them and when day orders end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from broker_sim import Bar, OrderStatus, PaperBroker, SimulatedClock, Trade, run_simulation
from broker_sim.wiring import parse_config
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[2]
MONDAY_EVENING = T0.replace(hour=22)  # 17:00 New York: after the close


def _broker(start: datetime = T0, **settings: Any) -> PaperBroker:
    settings.setdefault("latency", "none")
    settings.setdefault("slippage", "none")
    return PaperBroker(100_000, clock=SimulatedClock(start), **settings)


async def _bar_at(broker: PaperBroker, when: datetime, price: float, interval: float = 60.0) -> None:
    await broker.clock.advance_to(when, events_pending=True)  # type: ignore[attr-defined] # as a replay does
    await broker.update_market(Bar("AAPL", when, price, price, price, price, 1e6, interval))


async def test_an_order_sent_after_the_close_is_accepted_and_works_from_the_next_open() -> None:
    broker = _broker(MONDAY_EVENING)
    await _bar_at(broker, MONDAY_EVENING, 100.0)
    order = await broker.buy("AAPL", 10)
    assert order.status is OrderStatus.ACCEPTED  # at the venue, queued for the session (Alpaca's meaning)
    await _bar_at(broker, MONDAY_EVENING + timedelta(hours=2), 101.0)  # still after hours: not judged
    assert (await broker.get_order(order.id)).status is OrderStatus.ACCEPTED
    tuesday_open = T0 + timedelta(days=1)
    await _bar_at(broker, tuesday_open + timedelta(minutes=1), 102.0)
    filled = await broker.get_order(order.id)
    assert filled.status is OrderStatus.FILLED and filled.filled_avg_price == 102.0


async def test_after_hours_data_does_not_judge_orders_unless_they_allow_extended_hours() -> None:
    broker = _broker(fill={"model": "bar"})
    await _bar_at(broker, T0 + timedelta(minutes=1), 100.0)
    regular = await broker.buy("AAPL", 1, type="limit", limit_price=95.0, time_in_force="gtc")
    extended = await broker.buy("AAPL", 1, type="limit", limit_price=95.0, extended_hours=True)
    await _bar_at(broker, T0.replace(hour=23), 94.0)  # 18:00 New York: extended hours
    assert (await broker.get_order(regular.id)).status is OrderStatus.NEW
    assert (await broker.get_order(extended.id)).status is OrderStatus.FILLED


async def test_a_day_order_is_offered_the_bar_stamped_at_the_close_then_expires_at_the_close() -> None:
    broker = _broker(fill={"model": "bar"})
    await _bar_at(broker, T0 + timedelta(minutes=1), 100.0)
    order = await broker.buy("AAPL", 1, type="limit", limit_price=95.0)
    close = T0.replace(hour=21, minute=0)  # 16:00 New York
    await _bar_at(broker, close, 94.0)  # the session's last bar, stamped at the close
    assert (await broker.get_order(order.id)).status is OrderStatus.FILLED

    other = await _broker_with_order(close)
    await _bar_at(other, close + timedelta(minutes=1), 90.0)  # after the close: too late
    expired = await other.get_order((await other.list_orders("all"))[0].id)
    assert expired.status is OrderStatus.EXPIRED and expired.expired_at == close


async def _broker_with_order(close: datetime) -> PaperBroker:
    broker = _broker(fill={"model": "bar"})
    await _bar_at(broker, T0 + timedelta(minutes=1), 100.0)
    await broker.buy("AAPL", 1, type="limit", limit_price=95.0)
    await _bar_at(broker, close, 96.0)
    return broker


async def test_an_always_session_trades_on_weekends_and_day_orders_live_until_midnight_utc() -> None:
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    broker = _broker(saturday, session="always")
    await broker.update_market(Trade("BTC", saturday, 60_000.0, 1.0))
    assert (await broker.buy("BTC", 0.5)).status is OrderStatus.FILLED
    resting = await broker.buy("BTC", 0.1, type="limit", limit_price=50_000.0)
    await broker.clock.advance_to(datetime(2026, 3, 8, 0, 0, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    expired = await broker.get_order(resting.id)
    assert expired.status is OrderStatus.EXPIRED and expired.expired_at == datetime(2026, 3, 8, tzinfo=UTC)


async def test_a_custom_session_is_its_own_rule() -> None:
    session = {"open": "08:00", "close": "16:30", "timezone": "Europe/London", "days": ["mon", "tue"]}
    broker = _broker(datetime(2026, 3, 4, 10, 0, tzinfo=UTC), session=session)  # a Wednesday
    await broker.update_market(Trade("VOD", broker.clock.now(), 70.0))
    order = await broker.buy("VOD", 10)
    assert order.status is OrderStatus.ACCEPTED  # Wednesday is not a session day here


async def test_an_exchange_calendar_knows_holidays_and_early_closes() -> None:
    christmas_eve = datetime(2024, 12, 24, 17, 0, tzinfo=UTC)  # 12:00 New York: an early close at 13:00
    broker = _broker(christmas_eve, session="XNYS")
    await broker.update_market(Trade("AAPL", christmas_eve, 250.0))
    order = await broker.buy("AAPL", 1, type="limit", limit_price=240.0)
    assert order.status is OrderStatus.NEW
    await broker.clock.advance_to(datetime(2024, 12, 24, 18, 0, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    assert (await broker.get_order(order.id)).status is OrderStatus.EXPIRED  # expired at 13:00, not 16:00
    late = await broker.buy("AAPL", 1)
    assert late.status is OrderStatus.ACCEPTED
    await broker.clock.advance_to(datetime(2024, 12, 25, 15, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    await broker.update_market(Trade("AAPL", broker.clock.now(), 251.0))  # Christmas: no session
    assert (await broker.get_order(late.id)).status is OrderStatus.ACCEPTED
    await broker.clock.advance_to(datetime(2024, 12, 26, 14, 31, tzinfo=UTC))  # type: ignore[attr-defined]
    await broker.update_market(Trade("AAPL", broker.clock.now(), 252.0))
    assert (await broker.get_order(late.id)).filled_avg_price == 252.0


async def test_latency_longer_than_a_bar_fills_on_the_bar_the_order_arrived_in() -> None:
    broker = _broker(fill={"model": "bar"}, latency={"model": "constant", "seconds": 90.0})
    start = T0 + timedelta(minutes=10)
    await _bar_at(broker, start, 100.0)
    order = await broker.buy("AAPL", 1)  # arrives 90 s later, during the second bar after this one
    for minute, price in ((1, 101.0), (2, 102.0), (3, 103.0)):
        await _bar_at(broker, start + timedelta(minutes=minute), price)
    filled = await broker.get_order(order.id)
    assert filled.filled_avg_price == 102.0  # the bar of +1..+2 min, in which it arrived (+1.5), at its open


def _daily(tmp_path: Path, time_in_force: str) -> list[tuple[str, str, float, float]]:
    text = f"""
broker: {{adapter: paper, initial_balance: 100000, seed: 42}}
models: {{fill: {{model: bar}}}}
prices: {{sources: [{{source: csv, path: {ROOT}/data/sample/AAPL_1d.csv, symbol: AAPL}}]}}
strategy:
  class: {ROOT}/examples/sma_cross.py:SmaCross
  params: {{fast: 10, slow: 30, quantity: 100, time_in_force: {time_in_force}}}
"""
    result = run_simulation(parse_config(text, base_dir=tmp_path))
    return [(f.timestamp.isoformat(), f.side.value, f.quantity, f.price) for f in result.fills]


def test_daily_bars_with_default_day_orders_trade_as_gtc_orders_do(tmp_path: Path) -> None:
    day, gtc = _daily(tmp_path, "day"), _daily(tmp_path, "gtc")
    assert len(day) == 15 and day == gtc
    delivered = datetime.fromisoformat(day[0][0]).astimezone(ZoneInfo("America/New_York"))
    assert (delivered.hour, delivered.minute) == (16, 0)  # each daily bar arrives at its session's close


@pytest.mark.parametrize("stamp", ["start", "end"])
def test_a_start_stamped_bar_is_delivered_when_it_is_complete(tmp_path: Path, stamp: str) -> None:
    from broker_sim.streams.csv_source import CsvSource

    path = tmp_path / "bars.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2026-03-02T14:30:00Z,100,101,99,100.5,10\n2026-03-02T14:31:00Z,100.5,102,100,101.5,10\n"
    )
    pairs = list(CsvSource(str(path), symbol="AAPL", bar_timestamp=stamp).timed_events())
    shift = 60 if stamp == "start" else 0
    assert [seconds for seconds, _ in pairs] == [T0.timestamp() + shift, T0.timestamp() + 60 + shift]
    assert all(bar.interval == 60 for _, bar in pairs)  # type: ignore[union-attr]
