"""Alpaca's v3 market clock and calendar (``/v3/clock``, ``/v3/calendar/{market}``; the JS SDK 4.x calls them),
and the session's days both calendars walk.

The simulator has one market: the config's session, named by ``serve.exchange``. Whatever market a request
names, it is answered with that one (its acronym says which). Reference:
https://docs.alpaca.markets/reference/getclockv3
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from . import query
from .errors import ApiError
from .routing import resource
from .state import Served
from .translate import local_timestamp

__all__ = ["calendar_window", "routes", "session_days"]

#: The calendar answers at most this many days at once.
MAX_CALENDAR_DAYS = 3660
#: The market identifier code of each exchange Alpaca names.
_MIC = {"NYSE": "XNYS", "NASDAQ": "XNAS", "AMEX": "XASE", "ARCA": "ARCX", "NYSEARCA": "ARCX", "BATS": "BATS"}


def session_days(served: Served, start: date, end: date) -> Iterator[tuple[date, datetime, datetime]]:
    """Each trading day from `start` to `end` with its open and close in the exchange's time, as Alpaca's
    calendars can tell them: a session to midnight closes at 23:59, and an overnight session is left out."""
    zone = served.timezone
    day = start
    while day <= end:
        bounds = served.session.close_on(day)
        if bounds is not None:
            opens = datetime.fromtimestamp(bounds[0], zone)
            closes = datetime.fromtimestamp(bounds[1], zone)
            if closes.date() != opens.date() and closes.time() == time(0):
                closes -= timedelta(minutes=1)
            if opens.date() == closes.date():
                yield day, opens, closes
        day += timedelta(days=1)


def calendar_window(request: Request, served: Served) -> tuple[date, date]:
    """The `start` and `end` days a calendar request asks for: from today, a month, by default."""
    today = datetime.fromtimestamp(served.clock.time(), served.timezone).date()
    params = request.query_params
    start = query.day(params, "start") or today
    end = query.day(params, "end") or start + timedelta(days=30)
    if end < start:
        raise ApiError.invalid(f"end {end} is before start {start}")
    if (end - start).days > MAX_CALENDAR_DAYS:
        raise ApiError.invalid(f"the calendar spans at most {MAX_CALENDAR_DAYS} days")
    return start, end


def _market(served: Served) -> dict[str, Any]:
    exchange = served.settings.exchange
    zone: tzinfo = served.timezone
    return {"acronym": exchange, "name": exchange, "mic": _MIC.get(exchange, exchange), "timezone": str(zone)}


async def clock_v3(request: Request, served: Served) -> Any:
    now = served.clock.time()
    session = served.session
    zone = served.timezone
    today = datetime.fromtimestamp(now, zone).date()
    is_open = session.in_session(now)
    next_open, next_close = session.next_open(now), session.next_close(now)
    return {
        "clocks": [
            {
                "market": _market(served),
                "timestamp": local_timestamp(now, zone),
                "is_market_day": session.close_on(today) is not None,
                "next_market_open": local_timestamp(next_open, zone),
                "next_market_close": local_timestamp(next_close, zone),
                "phase": "core" if is_open else "closed",
                "phase_until": local_timestamp(next_close if is_open else next_open, zone),
            }
        ]
    }


async def calendar_v3(request: Request, served: Served) -> Any:
    start, end = calendar_window(request, served)
    days = [
        {
            "date": day.isoformat(),
            "core_start": opens.isoformat(),
            "core_end": closes.isoformat(),
            "settlement_date": (day + timedelta(days=1)).isoformat(),
        }
        for day, opens, closes in session_days(served, start, end)
    ]
    return {"market": _market(served), "calendar": days}


def routes() -> list[Route]:
    """The v3 clock and calendar routes."""
    return [resource("/v3/clock", {"GET": clock_v3}), resource("/v3/calendar/{market}", {"GET": calendar_v3})]
