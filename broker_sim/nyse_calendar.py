"""NYSE's holidays and early closes by rule, so the default ``us_equity`` session knows them without an extra.

The exchange's published rules (https://www.nyse.com/markets/hours-calendars), as Alpaca's calendar follows
them (https://docs.alpaca.markets/reference/getcalendar-1):

* closed on New Year's Day (a Sunday one is observed on Monday; a Saturday one is not observed), Martin Luther
  King Jr. Day (third Monday of January, from 1998), Washington's Birthday (third Monday of February), Good
  Friday, Memorial Day (last Monday of May), Juneteenth (June 19, from 2022), Independence Day, Labor Day
  (first Monday of September), Thanksgiving (fourth Thursday of November) and Christmas; a holiday on a
  Saturday is observed on the Friday before, one on a Sunday on the Monday after;
* closed on the unscheduled days in `SPECIAL_CLOSURES` (September 11 2001, national days of mourning,
  Hurricane Sandy);
* closing at 13:00 on July 3 when July 4 falls on Tuesday to Friday, on the day after Thanksgiving, and on
  Christmas Eve when it falls on Monday to Thursday (with the few exceptions of 2002 and 2003 listed below).

`tests/test_nyse_calendar.py` checks these rules against `exchange_calendars`' XNYS for 2000-2035.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from functools import lru_cache

from dateutil.easter import easter

__all__ = ["EARLY_CLOSE", "SPECIAL_CLOSURES", "SPECIAL_EARLY_CLOSES", "early_close", "holidays", "is_holiday"]

#: When the market closes on an early-close day (New York time).
EARLY_CLOSE = time(13, 0)
#: Days the exchange closed outside its rules (since 2000).
SPECIAL_CLOSURES = frozenset(
    {
        date(2001, 9, 11),  # the September 11 attacks, through September 14
        date(2001, 9, 12),
        date(2001, 9, 13),
        date(2001, 9, 14),
        date(2004, 6, 11),  # President Reagan's funeral
        date(2007, 1, 2),  # President Ford's day of mourning
        date(2012, 10, 29),  # Hurricane Sandy
        date(2012, 10, 30),
        date(2018, 12, 5),  # President George H. W. Bush's day of mourning
        date(2025, 1, 9),  # President Carter's day of mourning
    }
)
#: Early closes outside the rules, and rule days that closed at the usual time (since 2000).
SPECIAL_EARLY_CLOSES = frozenset({date(2002, 7, 5), date(2003, 12, 26)})
_FULL_DAYS = frozenset({date(2002, 7, 3)})
_MONDAY, _THURSDAY, _FRIDAY, _SATURDAY, _SUNDAY = 0, 3, 4, 5, 6


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The `n`-th `weekday` (0 = Monday) of a month; n = -1 is the last."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """A fixed-date holiday on a weekend: Saturday's on the Friday before, Sunday's on the Monday after."""
    if day.weekday() == _SATURDAY:
        return day - timedelta(days=1)
    if day.weekday() == _SUNDAY:
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def holidays(year: int) -> frozenset[date]:
    """The weekdays of `year` the exchange is closed (rules and special closures)."""
    days = {
        _nth_weekday(year, 2, _MONDAY, 3),
        easter(year) - timedelta(days=2),
        _nth_weekday(year, 5, _MONDAY, -1),
        _observed(date(year, 7, 4)),
        _nth_weekday(year, 9, _MONDAY, 1),
        _nth_weekday(year, 11, _THURSDAY, 4),
        _observed(date(year, 12, 25)),
    }
    new_year = date(year, 1, 1)
    if new_year.weekday() != _SATURDAY:  # a Saturday New Year's Day is not observed (on the Friday before)
        days.add(_observed(new_year))
    if year >= 1998:
        days.add(_nth_weekday(year, 1, _MONDAY, 3))
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))
    days.update(d for d in SPECIAL_CLOSURES if d.year == year)
    return frozenset(d for d in days if d.weekday() < _SATURDAY)


def is_holiday(day: date) -> bool:
    """Whether the exchange is closed on weekday `day`."""
    return day in holidays(day.year)


def early_close(day: date) -> bool:
    """Whether `day` is a session that closes at `EARLY_CLOSE` (13:00 New York)."""
    if day in SPECIAL_EARLY_CLOSES:
        return True
    if day in _FULL_DAYS:
        return False
    if day.month == 7 and day.day == 3:
        return _MONDAY <= day.weekday() <= _THURSDAY  # July 4 on Tuesday to Friday
    if day.month == 11:
        return day == _nth_weekday(day.year, 11, _THURSDAY, 4) + timedelta(days=1)
    if day.month == 12 and day.day == 24:
        return _MONDAY <= day.weekday() <= _THURSDAY
    return False
