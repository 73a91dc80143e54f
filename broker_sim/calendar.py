"""The trading session: when the regular session opens and closes, for day expiry and opg/cls orders.

Weekends are not trading days; exchange holidays are not modelled (a day order placed on a holiday expires at
that day's nominal close).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from broker_sim.errors import ConfigError

__all__ = ["TradingSession"]


def _parse_time(value: str | time) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(f"session time must be HH:MM, got {value!r}") from None


def _zone(value: str | ZoneInfo) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"unknown time zone {value!r} (use an IANA name like America/New_York)") from None


@attrs.frozen(slots=True)
class TradingSession:
    """A regular session: `open` and `close` are wall times in `timezone` (default 09:30-16:00 New York)."""

    open: time = attrs.field(default=time(9, 30), converter=_parse_time)
    close: time = attrs.field(default=time(16, 0), converter=_parse_time)
    timezone: ZoneInfo = attrs.field(default=ZoneInfo("America/New_York"), converter=_zone)

    def next_close(self, posix_time: float) -> float:
        """POSIX time of the first session close strictly after `posix_time`, skipping weekends."""
        return self._next(self.close, posix_time)

    def next_open(self, posix_time: float) -> float:
        """POSIX time of the first session open strictly after `posix_time`, skipping weekends."""
        return self._next(self.open, posix_time)

    def _next(self, wall: time, posix_time: float) -> float:
        local = datetime.fromtimestamp(posix_time, self.timezone)
        day = local.date()
        while True:
            candidate = datetime.combine(day, wall, tzinfo=self.timezone)
            if candidate.weekday() < 5 and candidate > local:
                return candidate.timestamp()
            day += timedelta(days=1)
