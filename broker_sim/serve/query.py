"""Query parameters read the way the OpenAPI document (``openapi.yaml``) describes them.

A parameter that is absent takes its default; one that is given, even empty, must be valid, or the request is
answered 422 naming the parameter and the value. The patterns here and in the document are the same, so a
schema-driven client or fuzzer and the server agree on what is valid."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from .errors import ApiError

__all__ = [
    "DECIMAL_TEXT",
    "LAST_DAY",
    "MOMENT",
    "choice",
    "day",
    "flag",
    "integer",
    "moment",
    "option",
    "parse_moment",
    "positive",
    "symbols",
]

_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]"
#: RFC 3339 (the offset may be left out, meaning UTC, or arrive as a space: a ``+`` a client did not
#: URL-encode), or a plain date meaning its midnight in UTC.
MOMENT = re.compile(rf"{_DATE}([Tt]{_CLOCK}:[0-5][0-9](\.[0-9]+)?([Zz]|[+\- ]{_CLOCK})?)?")
#: A number sent as a string: a plain decimal (no exponent, no spaces, ASCII digits), as Alpaca writes them.
DECIMAL_TEXT = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
#: Integers of up to 18 digits (Python refuses to read very long ones, and no page is that large).
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_NATURAL = re.compile(r"[0-9]{1,18}")
#: The last date a date parameter may name: the calendar looks a month past it and settles a day after.
LAST_DAY = date(9999, 11, 30)
#: Booleans as JSON writes them, and as Python's ``requests`` writes ``True``.
_FLAGS = {"true": True, "false": False, "True": True, "False": False, "TRUE": True, "FALSE": False}


def flag(params: Mapping[str, str], name: str) -> bool:
    """A boolean parameter (false when absent)."""
    value = params.get(name)
    if value is None:
        return False
    if value not in _FLAGS:
        raise ApiError.invalid(f"{name} must be true or false, got {value!r}")
    return _FLAGS[value]


def integer(params: Mapping[str, str], name: str, default: int, *, low: int = 1, high: int | None = None) -> int:
    """An integer parameter of at least `low`; past `high` it is taken as `high` (a page's largest size)."""
    text = params.get(name)
    if text is None:
        return default
    if not (_NATURAL if low >= 0 else _INTEGER).fullmatch(text):
        raise ApiError.invalid(f"{name} must be an integer >= {low} of at most 18 digits, got {text!r}")
    value = int(text)
    if value < low:
        raise ApiError.invalid(f"{name} must be >= {low}, got {value}")
    return value if high is None else min(value, high)


def choice(params: Mapping[str, str], name: str, options: Sequence[str], default: str) -> str:
    """One of `options` (`default` when absent)."""
    value = option(params, name, options)
    return default if value is None else value


def option(params: Mapping[str, str], name: str, options: Sequence[str]) -> str | None:
    """One of `options`, or None when absent."""
    value = params.get(name)
    if value is not None and value not in options:
        raise ApiError.invalid(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def moment(params: Mapping[str, str], name: str) -> datetime | None:
    """An RFC 3339 timestamp or a date, as UTC (None when absent)."""
    text = params.get(name)
    if text is None:
        return None
    return parse_moment(text, name)


def parse_moment(text: str, name: str) -> datetime:
    """`text` as `moment` reads it; 422 naming `name` when it is not a timestamp."""
    if MOMENT.fullmatch(text):
        try:
            value = datetime.fromisoformat(text.replace(" ", "+").upper())
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except (ValueError, OverflowError):  # no such day, or past year 1 or 9999 once in UTC
            pass
    raise ApiError.invalid(f"{name} must be an RFC 3339 timestamp or a date (YYYY-MM-DD), got {text!r}")


def day(params: Mapping[str, str], name: str) -> date | None:
    """A date up to `LAST_DAY` (None when absent): ``YYYY-MM-DD``, or an RFC 3339 timestamp, whose date is taken
    as written (``2024-01-02T00:00:00Z`` is 2024-01-02), as Alpaca takes them and the JS SDK sends them."""
    text = params.get(name)
    if text is None:
        return None
    try:
        if MOMENT.fullmatch(text) and (value := date.fromisoformat(text[:10])) <= LAST_DAY:
            if len(text) > 10:
                parse_moment(text, name)  # a real time of day, or a 422 naming it
            return value
    except ValueError:
        pass
    raise ApiError.invalid(
        f"{name} must be a date (YYYY-MM-DD) or an RFC 3339 timestamp, up to {LAST_DAY}, got {text!r}"
    )


def positive(params: Mapping[str, str], name: str) -> float | None:
    """A plain decimal above zero (None when absent)."""
    text = params.get(name)
    if text is None:
        return None
    if not DECIMAL_TEXT.fullmatch(text):
        raise ApiError.invalid(f"{name} must be a number (a decimal such as 1.5), got {text!r}")
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ApiError.invalid(f"{name} must be > 0, got {text!r}")
    return value


def symbols(params: Mapping[str, str], name: str = "symbols") -> list[str] | None:
    """A comma-separated list of symbols, at least one (None when absent)."""
    text = params.get(name)
    if text is None:
        return None
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    if not chosen:
        raise ApiError.invalid(f"{name} must name at least one symbol, got {text!r}")
    return chosen
