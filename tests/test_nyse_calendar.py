"""The default session knows NYSE's holidays and early closes (by rule, no extra); one calendar serves the broker
and every source; an order sent at the close instant works from the next open."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from broker_sim import Bar, ConfigError, OrderStatus, PaperBroker, SimulatedClock, run_simulation
from broker_sim.calendar import TradingSession, session_from
from broker_sim.nyse_calendar import early_close, is_holiday
from broker_sim.wiring import parse_config

ROOT = Path(__file__).resolve().parents[1]
NEW_YORK = ZoneInfo("America/New_York")


def _ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


def test_the_rules_know_the_2024_holidays_and_early_closes() -> None:
    assert is_holiday(date(2024, 7, 4)) and is_holiday(date(2024, 3, 29))  # Independence Day, Good Friday
    assert is_holiday(date(2022, 6, 20))  # Juneteenth on a Sunday, observed on Monday
    assert not is_holiday(date(2021, 12, 31))  # New Year's Day 2022 was a Saturday: not observed
    assert early_close(date(2024, 7, 3)) and early_close(date(2024, 11, 29)) and early_close(date(2024, 12, 24))
    assert not early_close(date(2026, 7, 2))  # July 4 2026 is a Saturday: July 3 is the holiday instead
    session = TradingSession.us_equity()
    assert session.close_on(date(2024, 7, 4)) is None
    assert session.close_on(date(2024, 11, 29)) == (_ny(date(2024, 11, 29), 9, 30).timestamp(),
                                                    _ny(date(2024, 11, 29), 13).timestamp())  # fmt: skip


def test_the_rules_agree_with_exchange_calendars_xnys_from_2000_to_2035() -> None:
    xc = pytest.importorskip("exchange_calendars", reason="exchange_calendars (the [calendars] extra) is absent")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schedule = xc.get_calendar("XNYS", start="2000-01-01", end="2035-12-31").schedule
    closes = {
        d.date(): c.tz_convert(NEW_YORK).time().hour for d, c in zip(schedule.index, schedule["close"], strict=True)
    }
    day, differences = date(2000, 1, 1), []
    while day <= date(2035, 12, 31):
        ours = day.weekday() < 5 and not is_holiday(day)
        if ours != (day in closes) or (ours and early_close(day) != (closes[day] == 13)):
            differences.append(day)
        day += timedelta(days=1)
    assert differences == []


def test_a_day_order_queued_before_a_holiday_works_on_the_next_session_instead_of_expiring_unjudged() -> None:
    async def scenario() -> None:
        july_3 = date(2024, 7, 3)
        after_close = _ny(july_3, 13, 30)  # an early close: 13:00
        broker = PaperBroker(100_000, clock=SimulatedClock(after_close), latency="none", slippage="none", fill="bar")
        await broker.update_market(Bar("AAPL", after_close, 100, 100, 100, 100, 1e6, 60))
        order = await broker.buy("AAPL", 10, type="limit", limit_price=99.0)
        assert order.status is OrderStatus.ACCEPTED
        for when, low in ((_ny(date(2024, 7, 4), 10), 90.0), (_ny(date(2024, 7, 5), 9, 31), 98.0)):
            await broker.clock.advance_to(when, events_pending=True)  # type: ignore[attr-defined]
            await broker.update_market(Bar("AAPL", when, 100, 100, low, 99, 1e6, 60))
            if when.day == 4:  # the holiday's prints (after hours, a bad tick) judge nothing, expire nothing
                assert (await broker.get_order(order.id)).status is OrderStatus.ACCEPTED
        filled = await broker.get_order(order.id)
        assert filled.status is OrderStatus.FILLED and filled.filled_avg_price == 99.0

    import asyncio

    asyncio.run(scenario())


def _daily_csv(tmp_path: Path) -> Path:
    """Daily bars stamped at the regular close (16:00 New York) around Thanksgiving 2024."""
    rows = ["timestamp,open,high,low,close,volume"]
    prices = {26: 100.0, 27: 101.0, 29: 102.0, 2: 103.0}
    for day, price in prices.items():
        month = 12 if day == 2 else 11
        rows.append(f"2024-{month:02d}-{day:02d}T16:00:00-05:00,{price},{price + 1},{price - 1},{price},1000000")
    path = tmp_path / "daily.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _run(tmp_path: Path, session: str | None) -> list[tuple[str, float]]:
    broker = "{adapter: paper, initial_balance: 100000, seed: 42" + (f", session: {session}" if session else "") + "}"
    text = f"""
broker: {broker}
models: {{fill: {{model: bar}}}}
prices: {{sources: [{{source: csv, path: {_daily_csv(tmp_path)}, symbol: AAPL}}]}}
strategy:
  class: {ROOT}/examples/buy_and_hold.py:BuyAndHold
"""
    result = run_simulation(parse_config(text, base_dir=tmp_path), out=False, progress=False)
    return [(f.timestamp.astimezone(NEW_YORK).isoformat(), f.reference_price) for f in result.fills]


@pytest.mark.parametrize("session", [None, "XNYS"])
def test_a_day_order_sent_at_the_close_on_16_00_daily_bars_fills_at_the_next_sessions_open(
    tmp_path: Path, session: str | None
) -> None:
    # BuyAndHold buys (a day order) on the first bar, at 16:00 on the 26th: outside the session, so it works
    # from the 27th's open and fills at it (101), on the 27th's bar, instead of expiring the moment it is sent.
    assert _run(tmp_path, session) == [("2024-11-27T16:00:00-05:00", 101.0)]


def test_daily_bars_on_an_early_close_day_are_delivered_at_13_00(tmp_path: Path) -> None:
    from broker_sim.streams.csv_source import CsvSource

    source = CsvSource(str(_daily_csv(tmp_path)), symbol="AAPL", session="XNYS")
    delivered = [datetime.fromtimestamp(t, NEW_YORK).strftime("%m-%d %H:%M") for t, _ in source.timed_events()]
    assert delivered == ["11-26 16:00", "11-27 16:00", "11-29 13:00", "12-02 16:00"]


def test_a_source_naming_another_calendar_than_the_brokers_is_refused(tmp_path: Path) -> None:
    text = f"""
broker: {{adapter: paper, session: always}}
prices: {{sources: [{{source: csv, path: {_daily_csv(tmp_path)}, symbol: AAPL, session: XNYS}}]}}
strategy: {{class: {ROOT}/examples/buy_and_hold.py:BuyAndHold}}
"""
    with pytest.raises(ConfigError, match=r"differs from broker\.session 'always'; one calendar serves the broker"):
        run_simulation(parse_config(text, base_dir=tmp_path), out=False, progress=False)


def test_an_unknown_holiday_rule_is_refused_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="session holidays must be one of nyse or null, got 'lse'"):
        session_from({"open": "08:00", "close": "16:30", "timezone": "Europe/London", "holidays": "lse"})
