"""Trading sessions: when orders work, which market data they are judged on, when day orders expire.

One rule for fills, expiry, opg and cls (`Session`):

* an order works during a session, from its open up to (not including) its close; an order that reaches the
  venue outside a session is `accepted` and starts working at the next open (Alpaca queues it the same way);
* it is judged on market data stamped inside a session, open and close included (a bar stamped at the close
  is the session's last bar); `extended_hours` orders also work and are judged in the extended window;
* a day order expires at the close of the session it works in, after the market data stamped at the close was
  offered to it; an opg order is judged at the next open, a cls order at the close.

Sessions: `us_equity` (09:30-16:00 New York, Monday to Friday, extended 04:00-20:00, without NYSE's holidays
and with its 13:00 early closes, by rule: `broker_sim.nyse_calendar`; the default), `always`
(every day, 24 hours, UTC: a day order lives until midnight), a mapping ``{open, close, timezone, days}``, or an
exchange calendar code such as ``XNYS`` (holidays and early closes from the `exchange_calendars` package, the
extra ``[calendars]``).
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from broker_sim.errors import ConfigError
from broker_sim.nyse_calendar import EARLY_CLOSE, early_close, is_holiday

__all__ = ["ExchangeSession", "Session", "TradingSession", "session_from"]

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: How long after-hours trading runs past an early close (13:00-17:00 New York).
_AFTER_HOURS_S = 4 * 3600
#: The bounds of one session: (open, close) in POSIX seconds.
Bounds = tuple[float, float]


@runtime_checkable
class Session(Protocol):
    """What the venue asks of a trading calendar. Times are POSIX seconds."""

    def bounds(self, posix_time: float) -> Bounds:
        """(open, close) of the first session whose close is at or after `posix_time`."""
        ...

    def extended(self, posix_time: float) -> bool:
        """Whether `posix_time` is inside the extended-hours window of a session day."""
        ...

    def extended_end(self, posix_time: float) -> float:
        """When a day order with extended hours working at `posix_time` expires."""
        ...

    def close_on(self, day: date) -> Bounds | None:
        """(open, close) of the session on the local date `day`, or None when it is not a session day. The same
        answer every time it is asked for a day (the day-trade count remembers it)."""
        ...

    def trading(self, posix_time: float) -> bool:
        """Whether an order reaching the venue now works at once (open <= t < close)."""
        ...

    def in_session(self, posix_time: float) -> bool:
        """Whether market data stamped `posix_time` is inside a session (open <= t <= close)."""
        ...

    def next_open(self, posix_time: float) -> float:
        """The first session open strictly after `posix_time`."""
        ...

    def next_close(self, posix_time: float) -> float:
        """The first session close strictly after `posix_time`."""
        ...


class _Rules:
    """What every session derives from `bounds`: working now, in session, next open and close."""

    __slots__ = ()

    def bounds(self, posix_time: float) -> Bounds:  # pragma: no cover - implemented by the sessions
        raise NotImplementedError

    def trading(self, posix_time: float) -> bool:
        """Whether an order reaching the venue now works at once (open <= t < close)."""
        open_, close = self.bounds(posix_time)
        return open_ <= posix_time < close

    def in_session(self, posix_time: float) -> bool:
        """Whether market data stamped `posix_time` is inside a session (open <= t <= close)."""
        return self.bounds(posix_time)[0] <= posix_time

    def next_open(self, posix_time: float) -> float:
        """The first session open strictly after `posix_time`."""
        open_, close = self.bounds(posix_time)
        return open_ if open_ > posix_time else self.bounds(math.nextafter(close, math.inf))[0]

    def next_close(self, posix_time: float) -> float:
        """The first session close strictly after `posix_time`."""
        close = self.bounds(posix_time)[1]
        return close if close > posix_time else self.bounds(math.nextafter(close, math.inf))[1]


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


def _days(value: Iterable[str | int]) -> frozenset[int]:
    if isinstance(value, str):
        value = [value]
    days = set()
    for day in value:
        if isinstance(day, int) and not isinstance(day, bool) and 0 <= day < 7:
            days.add(day)
        elif isinstance(day, str) and day.strip().lower()[:3] in _WEEKDAYS:
            days.add(_WEEKDAYS.index(day.strip().lower()[:3]))
        else:
            raise ConfigError(f"session days are weekday names (mon ... sun) or numbers 0-6, got {day!r}")
    if not days:
        raise ConfigError("session days must name at least one weekday")
    return frozenset(days)


def _optional_time(value: str | time | None) -> time | None:
    return None if value is None else _parse_time(value)


_HOLIDAY_RULES = ("nyse",)


def _check_holidays(_: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and value not in _HOLIDAY_RULES:
        raise ConfigError(f"session holidays must be one of {', '.join(_HOLIDAY_RULES)} or null, got {value!r}")


@attrs.frozen(slots=True)
class TradingSession(_Rules):
    """A session that repeats on `days`: `open` to `close` wall time in `timezone` (a close at or before the open
    is on the next day: ``open: "00:00", close: "00:00"`` is a whole day). `extended_from`/`extended_until`
    bound extended hours (default: the whole day). `holidays` ``nyse`` skips NYSE's holidays and closes at
    13:00 (extended hours until 17:00) on its early-close days. The default is the US equity session."""

    open: time = attrs.field(default=time(9, 30), converter=_parse_time)
    close: time = attrs.field(default=time(16, 0), converter=_parse_time)
    timezone: ZoneInfo = attrs.field(default=ZoneInfo("America/New_York"), converter=_zone)
    days: frozenset[int] = attrs.field(default=frozenset(range(5)), converter=_days)
    extended_from: time | None = attrs.field(default=None, converter=_optional_time)
    extended_until: time | None = attrs.field(default=None, converter=_optional_time)
    holidays: str | None = attrs.field(default=None, validator=_check_holidays)
    _cache: list[float] = attrs.field(factory=lambda: [math.inf, -math.inf, -math.inf], eq=False, repr=False)

    @classmethod
    def us_equity(cls) -> TradingSession:
        """09:30-16:00 New York, Monday to Friday, extended 04:00-20:00; closed on NYSE's holidays, closing at
        13:00 on its early-close days (`broker_sim.nyse_calendar`)."""
        return cls(extended_from="04:00", extended_until="20:00", holidays="nyse")

    @classmethod
    def always(cls) -> TradingSession:
        """Every day around the clock (crypto, FX, synthetic data): a day order lives until midnight UTC."""
        return cls(open="00:00", close="00:00", timezone="UTC", days=range(7))

    def _closes_early(self, day: date) -> bool:
        return self.holidays is not None and early_close(day)

    def close_on(self, day: date) -> Bounds | None:
        if day.weekday() not in self.days or (self.holidays is not None and is_holiday(day)):
            return None
        open_ = datetime.combine(day, self.open, tzinfo=self.timezone)
        if self._closes_early(day):
            return open_.timestamp(), datetime.combine(day, EARLY_CLOSE, tzinfo=self.timezone).timestamp()
        close_day = day if self.close > self.open else day + timedelta(days=1)
        return open_.timestamp(), datetime.combine(close_day, self.close, tzinfo=self.timezone).timestamp()

    def bounds(self, posix_time: float) -> Bounds:
        low, open_, close = self._cache
        if low < posix_time <= close:
            return open_, close
        day = datetime.fromtimestamp(posix_time, self.timezone).date() - timedelta(days=1)
        previous = -math.inf
        for _ in range(400):
            found = self.close_on(day)
            if found is not None:
                if found[1] >= posix_time:
                    self._cache[:] = [previous, found[0], found[1]]
                    return found
                previous = found[1]
            day += timedelta(days=1)
        raise ConfigError("the session has no trading day within a year")  # pragma: no cover - days is not empty

    def trading(self, posix_time: float) -> bool:
        """Whether an order reaching the venue now works at once (open <= t < close); the cached session is
        read inline (this is on every order's path)."""
        low, open_, close = self._cache
        if not low < posix_time <= close:
            open_, close = self.bounds(posix_time)
        return open_ <= posix_time < close

    def in_session(self, posix_time: float) -> bool:
        """Whether market data stamped `posix_time` is inside a session (open <= t <= close)."""
        low, open_, close = self._cache
        if not low < posix_time <= close:
            open_ = self.bounds(posix_time)[0]
        return open_ <= posix_time

    def _window(self, posix_time: float) -> tuple[float, float] | None:
        local = datetime.fromtimestamp(posix_time, self.timezone)
        day = local.date()
        if local.weekday() not in self.days or (self.holidays is not None and is_holiday(day)):
            return None
        start = datetime.combine(day, self.extended_from or time(0), tzinfo=self.timezone).timestamp()
        if self._closes_early(day):  # after-hours run 4 hours past an early close
            end = datetime.combine(day, EARLY_CLOSE, tzinfo=self.timezone).timestamp() + _AFTER_HOURS_S
        elif self.extended_until is None:
            end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=self.timezone).timestamp()
        else:
            end = datetime.combine(local.date(), self.extended_until, tzinfo=self.timezone).timestamp()
        return start, end

    def extended(self, posix_time: float) -> bool:
        window = self._window(posix_time)
        return window is not None and window[0] <= posix_time <= window[1]

    def extended_end(self, posix_time: float) -> float:
        window = self._window(posix_time)
        if window is not None and posix_time < window[1]:
            return window[1]
        return self._window(self.next_open(posix_time))[1]  # type: ignore[index]


class ExchangeSession(_Rules):
    """An exchange's sessions, holidays and early closes from `exchange_calendars` (e.g. ``XNYS``, ``XLON``),
    for the years it covers (2000-2035 here)."""

    def __init__(self, code: str) -> None:
        try:
            import exchange_calendars
        except ImportError as exc:
            raise ConfigError(
                f"session {code!r} needs the optional extra [calendars]: pip install 'broker-sim[calendars]' ({exc})"
            ) from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the library's own pandas deprecation notices, not ours to act on
            try:
                calendar = exchange_calendars.get_calendar(code, start="2000-01-01", end="2035-12-31")
            except (exchange_calendars.errors.InvalidCalendarName, KeyError):
                names = ", ".join(sorted(n for n in exchange_calendars.get_calendar_names() if n.startswith("X")))
                raise ConfigError(f"unknown exchange calendar {code!r}; valid codes include: {names}") from None
            schedule = calendar.schedule
            self._dates = [d.date() for d in schedule.index]
            self._opens = [t.timestamp() for t in schedule["open"]]
            self._closes = [t.timestamp() for t in schedule["close"]]
        self.code = code
        self.timezone = ZoneInfo(str(calendar.tz))

    def __repr__(self) -> str:
        return f"ExchangeSession({self.code!r})"

    def bounds(self, posix_time: float) -> Bounds:
        index = bisect.bisect_left(self._closes, posix_time)
        if index >= len(self._closes) or posix_time < self._opens[0] - 86_400 * 7:
            raise ConfigError(
                f"{datetime.fromtimestamp(posix_time).date()} is outside the {self.code} calendar (2000-2035)"
            )
        return self._opens[index], self._closes[index]

    def close_on(self, day: date) -> Bounds | None:
        index = bisect.bisect_left(self._dates, day)
        if index < len(self._dates) and self._dates[index] == day:
            return self._opens[index], self._closes[index]
        return None

    def extended(self, posix_time: float) -> bool:
        open_, close = self.bounds(posix_time)
        return open_ - 5.5 * 3600 <= posix_time <= close + 4 * 3600

    def extended_end(self, posix_time: float) -> float:
        return self.bounds(posix_time)[1] + 4 * 3600


def session_from(spec: Session | str | Mapping[str, Any] | None) -> Session:
    """A session from a config value: ``us_equity`` (the default), ``always``, an exchange code such as ``XNYS``,
    or a mapping ``{open, close, timezone, days}``. Raises `ConfigError` saying what is valid."""
    if spec is None or spec == "us_equity":
        return TradingSession.us_equity()
    if spec == "always":
        return TradingSession.always()
    if isinstance(spec, TradingSession | ExchangeSession):
        return spec
    if isinstance(spec, Mapping):
        keys = {"open", "close", "timezone", "days", "extended_from", "extended_until", "holidays"}
        unknown = sorted(set(spec) - keys)
        if unknown:
            raise ConfigError(
                f"session: unknown key {unknown[0]!r}; valid: open, close, timezone, days, extended_from, "
                "extended_until, holidays"
            )
        return TradingSession(**spec)
    if isinstance(spec, str) and spec.isupper():
        return ExchangeSession(spec)
    raise ConfigError(
        f"session must be us_equity, always, an exchange calendar code such as XNYS, or a mapping like "
        f"{{open: '09:30', close: '16:00', timezone: America/New_York}}; got {spec!r}"
    )
