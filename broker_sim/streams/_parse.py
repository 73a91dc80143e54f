"""Parsing of timestamps and numbers from text sources (CSV rows, JSON messages), with errors that say what was
wrong; the caller adds where (file and line, or feed and message). Also the checks of the timestamp settings
the text sources share (`timestamp_unit`, `timezone`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from broker_sim.errors import ConfigError

__all__ = [
    "EPOCH_MAX",
    "EPOCH_MIN",
    "EPOCH_UNITS",
    "PRICE_FIELDS",
    "check_timestamp_unit",
    "epoch_scale",
    "parse_number",
    "parse_timestamp",
    "timezone_named",
]

#: The fields that are prices: they must be > 0 (sizes and volumes may be 0).
PRICE_FIELDS = frozenset({"open", "high", "low", "close", "bid", "ask", "price"})
#: Timestamps outside these POSIX seconds (1900-01-01 to 2200-01-01) are refused as out of range.
EPOCH_MIN = -2_208_988_800.0
EPOCH_MAX = 7_258_118_400.0
#: Seconds per unit of an epoch timestamp; "auto" picks by magnitude (s < 1e11 <= ms < 1e14 <= us < 1e17 <= ns).
EPOCH_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def epoch_scale(value: float) -> float:
    """Seconds per unit of the epoch number `value`, guessed by its magnitude (see `EPOCH_UNITS`)."""
    magnitude = abs(value)
    if magnitude < 1e11:
        return 1.0
    if magnitude < 1e14:
        return 1e-3
    if magnitude < 1e17:
        return 1e-6
    return 1e-9


def parse_timestamp(value: object, *, unit: str = "auto", timezone: tzinfo = UTC) -> float:
    """POSIX seconds from an ISO-8601 string or an epoch number (in `unit`, or guessed by magnitude).

    An ISO timestamp without an offset is read in `timezone` (UTC unless the source's config names another).
    Raises ValueError saying what was wrong.
    """
    if isinstance(value, bool):
        raise ValueError(f"timestamp must be ISO-8601 or an epoch number, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"timestamp {value!r} is neither ISO-8601 nor an epoch number") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone)
            number, unit = parsed.timestamp(), "s"
    else:
        raise ValueError(f"timestamp must be ISO-8601 or an epoch number, got {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"timestamp {value!r} is not finite")
    seconds = number * (epoch_scale(number) if unit == "auto" else EPOCH_UNITS[unit])
    if not EPOCH_MIN <= seconds <= EPOCH_MAX:
        raise ValueError(f"timestamp {value!r} is out of range (years 1900 to 2200)")
    return seconds


def parse_number(value: object, field: str, *, minimum: float | None = 0.0, positive: bool = False) -> float:
    """A finite float from text or a number; `field` names it in the error. Refuses values below `minimum`, and
    0 too when `positive` (a price)."""
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{field} must be finite, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{field} must be >= {minimum:g}, got {value!r}")
    if positive and number <= 0:
        raise ValueError(f"{field} must be > 0, got {value!r}")
    return number


def check_timestamp_unit(unit: str) -> str:
    """`unit` if it is ``auto`` or one of `EPOCH_UNITS`; else a `ConfigError` listing them."""
    if unit != "auto" and unit not in EPOCH_UNITS:
        raise ConfigError(f"timestamp_unit must be auto, {', '.join(EPOCH_UNITS)}; got {unit!r}")
    return unit


def timezone_named(name: str) -> ZoneInfo:
    """The IANA time zone `name` (a source's ``timezone``); a `ConfigError` if there is none such."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"unknown timezone {name!r} (use an IANA name like America/New_York)") from None
