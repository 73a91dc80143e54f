"""The trading session: day orders expire at the next regular close, skipping weekends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from broker_sim import ConfigError, TradingSession


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_next_close_is_today_before_the_close() -> None:
    session = TradingSession()
    assert session.next_close(_utc(2026, 3, 2, 15, 0)) == _utc(2026, 3, 2, 21, 0)


def test_next_close_after_the_close_is_the_next_trading_day() -> None:
    session = TradingSession()
    friday_evening = _utc(2026, 3, 6, 22, 0)
    assert session.next_close(friday_evening) == _utc(2026, 3, 9, 20, 0)  # Monday, after the DST change


def test_session_in_another_zone() -> None:
    session = TradingSession(close="16:30", timezone="Europe/London")
    assert session.next_close(_utc(2026, 1, 5, 9, 0)) == _utc(2026, 1, 5, 16, 30)


@pytest.mark.parametrize(
    ("field", "value", "message"), [("close", "4pm", "HH:MM"), ("timezone", "Mars/Base", "unknown time zone")]
)
def test_bad_session_settings_are_config_errors(field: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TradingSession(**{field: value})  # type: ignore[arg-type]
