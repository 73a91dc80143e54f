"""The `dataframe` price source: bars from pandas DataFrames handed over from Python, so a notebook needs no CSV.

``run_simulation(config, data={"AAPL": frame})`` gives the frames; a config without ``prices.sources`` then reads
them through ``{source: dataframe}``, and one that lists ``{source: dataframe, symbols: [AAPL]}`` takes only
those. Each frame has a `DatetimeIndex` (or a ``timestamp`` column) and the columns ``open``, ``high``, ``low``,
``close`` and optionally ``volume`` (any case). Naive times are read in `timezone`. As the csv source, a bar's
time is its end (``bar_timestamp: end``) unless ``bar_timestamp: start`` says it is its start; bars of several
symbols are merged in time order.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from broker_sim.errors import ConfigError
from broker_sim.models import Bar, MarketData
from broker_sim.streams.base import chunked

__all__ = ["DataFrameSource"]

_PRICES = ("open", "high", "low", "close")


class DataFrameSource:
    """Bars from in-memory pandas DataFrames, one per symbol (`data`, given from Python, never from YAML)."""

    #: `data` holds Python objects: `run_simulation(..., data=...)` passes it; a config cannot.
    code_only_parameters = ("data",)

    def __init__(
        self,
        symbols: str | Sequence[str] | None = None,
        *,
        timezone: str = "UTC",
        bar_timestamp: str = "end",
        data: Mapping[str, Any] | None = None,
        base_dir: str | Path | None = None,
        seed: int | None = None,
    ) -> None:
        if data is None or not isinstance(data, Mapping) or not data:
            raise ConfigError(
                "source 'dataframe' takes its bars from Python: run_simulation(config, data={'AAPL': frame, ...})"
            )
        wanted = list(data) if symbols is None else ([symbols] if isinstance(symbols, str) else list(symbols))
        missing = [s for s in wanted if s not in data]
        if missing:
            raise ConfigError(f"symbols: no DataFrame for {', '.join(map(repr, missing))}; given: {', '.join(data)}")
        if bar_timestamp not in ("end", "start"):
            raise ConfigError(f"bar_timestamp must be 'end' or 'start', got {bar_timestamp!r}")
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ConfigError(f"timezone: unknown time zone {timezone!r} (e.g. UTC, America/New_York)") from None
        self.symbols = tuple(wanted)
        self.name = f"dataframe {', '.join(self.symbols)}"
        self._series = {symbol: _columns(symbol, data[symbol], zone, bar_timestamp == "start") for symbol in wanted}

    def estimated_events(self) -> int:
        """How many bars the frames hold."""
        return sum(len(times) for times, *_ in self._series.values())

    def timed_events(self) -> Iterator[tuple[float, MarketData]]:
        """Every bar of every frame, in time order (a symbol's own order kept for equal times)."""
        return heapq.merge(*(self._bars(symbol) for symbol in self.symbols), key=lambda pair: pair[0])

    def timed_blocks(self) -> Iterator[list[tuple[float, MarketData]]]:
        """`timed_events` in blocks, as the replay loop takes them."""
        return chunked(self.timed_events())

    def _bars(self, symbol: str) -> Iterator[tuple[float, MarketData]]:
        times, opens, highs, lows, closes, volumes, interval = self._series[symbol]
        make = Bar.from_seconds  # checked by `_columns`
        for seconds, o, h, lo, c, v in zip(times, opens, highs, lows, closes, volumes, strict=True):
            yield seconds, make(symbol, seconds, o, h, lo, c, v, interval)


def _columns(
    symbol: str, frame: Any, zone: ZoneInfo, start_stamped: bool
) -> tuple[list[float], list[float], list[float], list[float], list[float], list[float], float]:
    """A frame's bars as plain lists: posix seconds (each bar's end), OHLC, volume, and the bar interval."""
    columns = getattr(frame, "columns", None)
    if columns is None or not hasattr(frame, "index"):
        raise ConfigError(f"data[{symbol!r}] must be a pandas DataFrame, got {type(frame).__name__}")
    by_name = {str(name).lower(): name for name in columns}
    missing = [name for name in _PRICES if name not in by_name]
    if missing:
        raise ConfigError(
            f"data[{symbol!r}] has no column {', '.join(map(repr, missing))}; "
            f"columns: {', '.join(map(str, columns))} (needs open, high, low, close; volume optional)"
        )
    index = frame[by_name["timestamp"]] if "timestamp" in by_name else frame.index
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(index))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"data[{symbol!r}]: its index (or timestamp column) must be times: {exc}") from None
    if stamps.tz is None:
        stamps = stamps.tz_localize(zone)
    seconds = (stamps.tz_convert("UTC").as_unit("ns").asi8 / 1e9).tolist()
    if any(b < a for a, b in itertools.pairwise(seconds)):
        raise ConfigError(f"data[{symbol!r}]: times must not go back (sort the frame by time)")
    gaps = [b - a for a, b in itertools.pairwise(seconds) if b > a]
    interval = min(gaps) if gaps else 0.0
    if start_stamped:
        seconds = [s + interval for s in seconds]
    lists = [frame[by_name[name]].astype(float).tolist() for name in _PRICES]
    volume = frame[by_name["volume"]].astype(float).tolist() if "volume" in by_name else [0.0] * len(seconds)
    for name, values in zip((*_PRICES, "volume"), (*lists, volume), strict=True):
        bad = next((i for i, value in enumerate(values) if not math.isfinite(value) or value < 0), None)
        if bad is not None or (name != "volume" and any(value == 0 for value in values)):
            row = bad if bad is not None else next(i for i, value in enumerate(values) if value == 0)
            raise ConfigError(
                f"data[{symbol!r}] row {row} ({stamps[row].isoformat()}): {name} must be a finite number > 0"
                + (" (>= 0 for volume)" if name == "volume" else "")
                + f", got {values[row]!r}"
            )
    return seconds, lists[0], lists[1], lists[2], lists[3], volume, interval
