"""The `csv` price source: bars, quotes or trades from CSV files, streamed in time order with flat memory.

Reading: pyarrow's streaming CSV reader, in blocks, with the values checked per block (finite, non-negative,
low <= high, time never going back). It is the measured fastest reader here (see `benchmarks/replay.py`). A
block that fails a check, or a file pyarrow cannot parse, is read again from that point with the stdlib
reader, which finds the exact line: a bad row is then a `DataError` naming the file and line, or with
``on_bad_row: skip`` it is skipped and counted in `skipped_rows`.

Bar timestamps: `bar_timestamp` says what a bar's time stamps, ``end`` (the default: when the bar's data became
known, as the engine, backtrader and most CSV exports read it) or ``start`` (Alpaca's and Polygon's bars): a
start-stamped bar is delivered when it is complete, at start + `bar_interval` (inferred from the first rows
when not given). Every bar carries its `interval`. Daily bars stamped with a date (midnight), or all at one time
of day (16:00, the close), are session bars: each is delivered at its date's session close (from `session`, the
broker's in a run: one calendar serves the broker and every source) and covers the session, so a day order
sent on day D's bar is judged on day D+1's bar, and an early close (13:00) delivers that day's bar at 13:00.

Columns: `columns` maps our field names to the file's headers (``{timestamp: Date, close: Adj Close}``);
fields not mapped are read from the same-named header. Timestamps are ISO-8601 (an offset, or `timezone` when
there is none) or epoch numbers (`timestamp_unit`: s, ms, us, ns, or auto by magnitude). The symbol comes from
`symbol` or from a ``symbol`` column. ``volume`` (bars) and sizes (quotes, trades) are optional.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from broker_sim.calendar import Session, session_from
from broker_sim.errors import ConfigError, DataError
from broker_sim.models import Bar, MarketData, Quote, Trade, timed_bars
from broker_sim.streams._parse import (
    EPOCH_MAX,
    EPOCH_MIN,
    EPOCH_UNITS,
    PRICE_FIELDS,
    check_timestamp_unit,
    epoch_scale,
    parse_number,
    parse_timestamp,
    timezone_named,
)
from broker_sim.streams.base import chunked

__all__ = ["KIND_FIELDS", "CsvSource"]

log = logging.getLogger(__name__)

#: Per kind: the value fields in constructor order, and which of them may be missing (then 0).
KIND_FIELDS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "bar": (("open", "high", "low", "close", "volume"), frozenset({"volume"})),
    "quote": (("bid", "ask", "bid_size", "ask_size"), frozenset({"bid_size", "ask_size"})),
    "trade": (("price", "size"), frozenset({"size"})),
}
#: Per kind: its constructor from POSIX seconds and checked values (no datetime, no checks per row).
_MAKERS = {"bar": Bar.from_seconds, "quote": Quote.from_seconds, "trade": Trade.from_seconds}
_BAD_ROW_POLICIES = ("error", "skip")
_BAR_TIMESTAMPS = ("end", "start")
#: Rows read ahead to infer a file's bar interval and whether it holds daily (date-stamped) bars.
_SAMPLE_ROWS = 500
#: Bars this long or longer, all stamped at one time of day, are daily session bars.
_DAILY_S = 20 * 3600
#: Bytes of CSV per block (~2k one-minute bars): the block's Python objects are the replay's working set, and
#: 1 MB blocks held ~60 MB more at peak than these (issue 25); the per-block cost is still noise per bar.
_BLOCK_BYTES = 1 << 17
#: How arrow reads ISO-8601 times with an offset, and without one (then placed in the source's `timezone`).
_AWARE = pa.timestamp("ns", tz="UTC")
_NAIVE = pa.timestamp("ns")
#: How arrow reads a symbol column: dictionary-encoded, so a block's few names are stripped once (not per row).
_SYMBOLS = pa.dictionary(pa.int32(), pa.string())
#: numpy's reductions called as ufunc methods (``np.all``, ``ndarray.min`` go through Python wrappers first).
_min = np.minimum.reduce
_max = np.maximum.reduce
_any = np.logical_or.reduce


class _Fallback(Exception):
    """A block failed a check: re-read from its first row with the exact (stdlib) reader."""


class CsvSource:
    """Market data from one or more CSV files (merged in time order when several), streamed block by block."""

    def __init__(
        self,
        path: str | Sequence[str],
        *,
        symbol: str | None = None,
        kind: str = "bar",
        columns: Mapping[str, str] | None = None,
        timestamp_unit: str = "auto",
        timezone: str = "UTC",
        on_bad_row: str = "error",
        delimiter: str = ",",
        bar_timestamp: str = "end",
        bar_interval: float | None = None,
        session: Session | str | Mapping[str, Any] | None = None,
        base_dir: str | Path | None = None,
        seed: int | None = None,
    ) -> None:
        if kind not in KIND_FIELDS:
            raise ConfigError(f"kind must be one of {', '.join(KIND_FIELDS)}; got {kind!r}")
        if on_bad_row not in _BAD_ROW_POLICIES:
            raise ConfigError(f"on_bad_row must be one of {', '.join(_BAD_ROW_POLICIES)}; got {on_bad_row!r}")
        check_timestamp_unit(timestamp_unit)
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise ConfigError(f"delimiter must be one character, got {delimiter!r}")
        if bar_timestamp not in _BAR_TIMESTAMPS:
            raise ConfigError(f"bar_timestamp must be one of {', '.join(_BAR_TIMESTAMPS)}; got {bar_timestamp!r}")
        if bar_interval is not None and (
            isinstance(bar_interval, bool)
            or not isinstance(bar_interval, int | float)
            or not 0 < bar_interval < math.inf
        ):
            raise ConfigError(f"bar_interval must be a number of seconds > 0, got {bar_interval!r}")
        self.bar_timestamp = bar_timestamp
        self.bar_interval = None if bar_interval is None else float(bar_interval)
        self.session = session_from(session)
        self.timezone = timezone_named(timezone)
        paths = [path] if isinstance(path, str | Path) else list(path)
        if not paths:
            raise ConfigError("path must name at least one file")
        root = Path(base_dir) if base_dir is not None else Path.cwd()
        self.paths = [p if p.is_absolute() else root / p for p in map(Path, paths)]
        for given, file in zip(paths, self.paths, strict=True):
            if not file.is_file():
                raise ConfigError(f"CSV file {file} does not exist (path: {str(given)!r})")
        known = {"timestamp", "symbol", *KIND_FIELDS[kind][0]}
        unknown = sorted(set(columns or {}) - known)
        if unknown:
            raise ConfigError(
                f"columns: unknown field {', '.join(map(repr, unknown))}; valid: {', '.join(sorted(known))}"
            )
        self.kind = kind
        self.symbol = symbol
        self.columns = dict(columns or {})
        self.timestamp_unit = timestamp_unit
        self.on_bad_row = on_bad_row
        self.delimiter = delimiter
        self.skipped_rows = 0
        self.name = f"csv {', '.join(str(p) for p in paths)}"
        for file in self.paths:  # the header must have the columns, now rather than mid-run
            try:
                self._layout(file, self._header(file)[0])
            except DataError as exc:
                raise ConfigError(str(exc)) from None

    def __iter__(self) -> Iterator[MarketData]:
        for _, event in self.timed_events():
            yield event

    def timed_events(self) -> Iterator[tuple[float, MarketData]]:
        """Yield ``(posix_seconds, event)`` from every file, merged in time order."""
        if len(self.paths) == 1:
            for block in self._file_blocks(self.paths[0]):
                yield from block
            return
        streams = [(pair for block in self._file_blocks(p) for pair in block) for p in self.paths]
        yield from heapq.merge(*streams, key=itemgetter(0))

    def timed_blocks(self) -> Iterator[list[tuple[float, MarketData]]]:
        """`timed_events` in lists of a few thousand (the replay's fast path: no generator step per event)."""
        if len(self.paths) == 1:
            return self._file_blocks(self.paths[0])
        return chunked(self.timed_events())

    def estimated_events(self) -> int:
        """About how many events the files hold (from their sizes and the first rows' length), for progress."""
        total = 0
        for path in self.paths:
            with path.open("rb") as handle:
                head = handle.read(64 * 1024)
            lines = max(1, head.count(b"\n") - 1)
            total += int(path.stat().st_size / (len(head) / (lines + 1)))
        return total

    # -- one file -------------------------------------------------------------------------------------------

    def _header(self, path: Path) -> tuple[list[str], list[str] | None]:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            header = next(reader, None)
            first = next((row for row in reader if row), None)  # the first data row (arrow skips blank lines too)
        if not header:
            raise DataError(f"{path}: the file is empty (no header line)")
        return [h.strip() for h in header], first

    def _layout(self, path: Path, header: list[str]) -> tuple[str, str | None, list[str | None]]:
        """Header names of the timestamp, the symbol (or None) and each value field (None when absent)."""
        fields, optional = KIND_FIELDS[self.kind]

        def column(field: str, required: bool) -> str | None:
            name = self.columns.get(field, field)
            if name in header:
                return name
            if required:
                raise DataError(f"{path}: no column {name!r} for {field} (header: {', '.join(header)})")
            return None

        timestamp = column("timestamp", True)
        assert timestamp is not None
        symbol = None if self.symbol is not None else column("symbol", True)
        return timestamp, symbol, [column(f, f not in optional) for f in fields]

    def _file_blocks(self, path: Path) -> Iterator[list[tuple[float, MarketData]]]:
        header, first = self._header(path)
        layout = self._layout(path, header)
        index = header.index(layout[0])
        stamp_type = None if first is None else _stamp_type(first[index] if index < len(first) else "")
        stamping = self._stamping(path, layout) if self.kind == "bar" else None
        done = 0
        try:
            for rows in self._arrow_blocks(path, layout, stamp_type, stamping):
                done += len(rows)
                yield rows
                del rows  # (before the next block is built: `_arrow_blocks` says why)
        except (_Fallback, pa.ArrowInvalid):
            yield from chunked(self._exact_events(path, layout, skip=done, stamping=stamping))

    def _stamping(self, path: Path, layout: tuple[str, str | None, list[str | None]]) -> _Stamping:
        """How this file's bar times become delivery times: its bar interval (given, or the smallest step
        between the first rows' times) and whether its bars are daily session bars."""
        times: list[float] = []
        times_of_day: set[tuple[int, int, int, int]] = set()
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            index = [h.strip() for h in next(reader)].index(layout[0])
            for row in reader:
                if len(times) >= _SAMPLE_ROWS:
                    break
                try:
                    seconds = parse_timestamp(row[index], unit=self.timestamp_unit, timezone=self.timezone)
                except (ValueError, IndexError):
                    continue
                times.append(seconds)
                local = datetime.fromtimestamp(seconds, self.timezone)
                times_of_day.add((local.hour, local.minute, local.second, local.microsecond))
        steps = [b - a for a, b in itertools.pairwise(times) if b > a]
        interval = self.bar_interval if self.bar_interval is not None else (min(steps) if steps else 0.0)
        # Daily bars all stamped at one time of day (a date, or the close: 16:00) are their date's session bars.
        daily = bool(times) and len(times_of_day) == 1 and interval >= _DAILY_S
        if self.bar_timestamp == "start" and not interval and not daily:
            raise DataError(f"{path}: cannot tell how long its bars are from one row; set bar_interval (seconds)")
        return _Stamping(interval, daily, self.bar_timestamp == "start", self.session, self.timezone)

    def _arrow_blocks(
        self,
        path: Path,
        layout: tuple[str, str | None, list[str | None]],
        stamp_type: pa.DataType | None,
        stamping: _Stamping | None,
    ) -> Iterator[list[tuple[float, MarketData]]]:
        """The file's blocks as arrow parses them; `stamp_type` is how arrow reads the timestamps (`_stamp_type`
        of the first row; None when the file has no rows). Raises `_Fallback` (or `pa.ArrowInvalid`) at the first
        block the exact reader must read."""
        timestamp, symbol_column, value_columns = layout
        if stamp_type is None:
            return
        types: dict[str, Any] = {name: pa.float64() for name in value_columns if name is not None}
        types[timestamp] = stamp_type
        if symbol_column is not None:
            types[symbol_column] = _SYMBOLS
        wanted = [timestamp, *(n for n in value_columns if n is not None)]
        if symbol_column is not None:
            wanted.append(symbol_column)
        # No null markers: an empty or "NA" cell is then a conversion error rather than a null, which sends its
        # block to the exact reader all the same, and arrow does not look each value up among the markers.
        convert = pcsv.ConvertOptions(
            column_types=types, include_columns=wanted, null_values=[], strings_can_be_null=False
        )
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=_BLOCK_BYTES, use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter=self.delimiter),
            convert_options=convert,
            memory_pool=pa.system_memory_pool(),
        )
        make = _MAKERS[self.kind]
        fixed_symbol = self.symbol
        last = -math.inf
        for batch in reader:
            rows = batch.num_rows
            if rows == 0:
                continue
            times = self._arrow_times(batch.column(timestamp))
            values = [batch.column(n) if n is not None else None for n in value_columns]
            if any(v is not None and v.null_count for v in values):
                raise _Fallback
            # numpy views of the float64 buffers, checked, then made lists (numpy's tolist: the same floats as
            # to_pylist, faster, and no pandas import as with `to_numpy`)
            numbers = [_numpy(v, np.float64) if v is not None else None for v in values]
            if times[0] < last or not _block_ok(times, numbers, self.kind):
                raise _Fallback
            last = times[-1]
            lists = [n.tolist() if n is not None else [0.0] * rows for n in numbers]
            symbols = _symbols(batch.column(symbol_column)) if symbol_column else [fixed_symbol] * rows
            if stamping is None:
                yield _build(make, times.tolist(), symbols, lists)
            else:
                delivered, intervals = stamping.block(times)
                yield _build(make, delivered, symbols, lists, intervals)
                del delivered, intervals
            # The block's values are let go before the next block's are made (its consumers let go of its events
            # too: `_file_blocks`, the replay loop), so the next block reuses that freshly freed memory: made
            # while this one lived, it took older, scattered free blocks, and the allocator's cache misses were
            # ~4 % of an SMA replay with orders (perf: `_PyObject_Malloc` 4.4-4.7 % of samples, then 2.9-3.3 %).
            del lists, symbols

    def _arrow_times(self, column: pa.Array) -> Any:
        """POSIX seconds (a numpy array) of a block's timestamp column (as `_stamp_type` had arrow parse it);
        raises `_Fallback` if any is unusable."""
        if column.null_count:
            raise _Fallback
        kind = column.type
        if kind == pa.float64():  # epoch numbers
            seconds = _numpy(column, np.float64)
            if self.timestamp_unit == "auto":
                scales = {epoch_scale(float(seconds[0])), epoch_scale(float(seconds[-1]))}
                if len(scales) != 1:
                    raise _Fallback
                scale = scales.pop()
            else:
                scale = EPOCH_UNITS[self.timestamp_unit]
            return seconds * scale
        if kind == pa.string():  # arrow cannot read the first row's time: the exact reader reads the file
            raise _Fallback
        if kind.tz is None:  # ISO-8601 without an offset: in the source's time zone
            import pyarrow.compute as pc  # (only here: `_stamp_type` says why)

            try:
                column = pc.assume_timezone(column, self.timezone.key)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise _Fallback from None
        return _numpy(column, np.int64) / 1e9

    # -- the exact reader -----------------------------------------------------------------------------------

    def _exact_events(
        self, path: Path, layout: tuple[str, str | None, list[str | None]], skip: int, stamping: _Stamping | None
    ) -> Iterator[tuple[float, MarketData]]:
        """Row by row with the stdlib, from data row `skip` on: finds and reports the bad line, or with
        ``on_bad_row: skip`` skips it, logged with its line and counted in `skipped_rows`.

        Time order is judged against the last good row, one row ahead: a single row stamped in the future is the
        one skipped, not every row after it."""
        timestamp, symbol_column, value_columns = layout
        fields = KIND_FIELDS[self.kind][0]
        make = _MAKERS[self.kind]
        skipping = self.on_bad_row == "skip"
        before = -math.inf  # the time of the last row given out
        held: tuple[int, int, float, MarketData] | None = None  # a good row waiting for its successor (skip mode)

        def skipped(number: int, line: int, reason: str) -> None:
            if number >= skip:
                self.skipped_rows += 1
                log.warning("%s, line %d skipped: %s", path, line, reason)

        # Undecodable bytes become surrogates, so the row that holds them is the one named (see `_row_event`).
        with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            try:
                header = [h.strip() for h in next(reader)]
                t_index = header.index(timestamp)
                s_index = header.index(symbol_column) if symbol_column else None
                v_index = [header.index(n) if n is not None else None for n in value_columns]
                number = -1  # the data row's index, blank lines not counted (as arrow counts the rows of `skip`)
                for row in reader:
                    if not row:
                        continue
                    number += 1
                    try:
                        seconds, event = self._row_event(row, t_index, s_index, v_index, fields, make, stamping)
                        if not skipping and seconds < before:
                            raise ValueError(
                                f"timestamp {row[t_index]!r} is earlier than the row before; rows must be in time order"
                            )
                    except (ValueError, IndexError) as exc:
                        if skipping:
                            skipped(number, reader.line_num, str(exc))
                            continue
                        raise DataError(f"{path}, line {reader.line_num}: {exc}") from None
                    if not skipping:
                        before = seconds
                        if number >= skip:
                            yield seconds, event
                        continue
                    if held is not None and seconds < held[2]:
                        if seconds >= before:  # the held row was the one out of time: it goes, this one stays
                            skipped(held[0], held[1], "its timestamp is later than the rows after it")
                        else:
                            skipped(number, reader.line_num, f"timestamp {row[t_index]!r} is out of time order")
                            continue
                    elif held is not None:
                        before = held[2]
                        if held[0] >= skip:
                            yield held[2], held[3]
                    held = (number, reader.line_num, seconds, event)
            except UnicodeDecodeError as exc:  # pragma: no cover - surrogateescape decodes every byte
                raise DataError(f"{path}, line {reader.line_num + 1}: not UTF-8 text ({exc.reason})") from None
        if held is not None and held[0] >= skip:
            yield held[2], held[3]

    def _row_event(
        self,
        row: list[str],
        t_index: int,
        s_index: int | None,
        v_index: list[int | None],
        fields: tuple[str, ...],
        make: Any,
        stamping: _Stamping | None = None,
    ) -> tuple[float, MarketData]:
        if len(row) < len(v_index):
            raise ValueError(f"expected {len(v_index) + 1} or more values, got {len(row)}")
        try:
            "".join(row).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("the row is not UTF-8 text") from None
        seconds = parse_timestamp(row[t_index], unit=self.timestamp_unit, timezone=self.timezone)
        symbol = self.symbol if s_index is None else row[s_index].strip()
        if not symbol:
            raise ValueError("symbol is empty")
        values = [
            0.0 if i is None else parse_number(row[i], field, positive=field in PRICE_FIELDS)
            for i, field in zip(v_index, fields, strict=True)
        ]
        if self.kind == "bar" and values[2] > values[1]:
            raise ValueError(f"low {values[2]} is above high {values[1]}")
        if self.kind == "quote" and values[0] > values[1]:
            raise ValueError(f"bid {values[0]} is above ask {values[1]}")
        if stamping is not None:
            seconds, interval = stamping.one(seconds)
            values.append(interval)
        return seconds, make(symbol, seconds, *values)


def _build(
    make: Any, seconds: list[float], symbols: list[Any], lists: list[list[float]], intervals: Any = None
) -> list[Any]:
    """One block's ``(posix_seconds, event)`` pairs; unrolled per field count, as this is the replay's hot loop.
    `intervals` (bars only) is one interval for the block or a list of them. Events keep the seconds; their
    datetimes are built only if someone reads them."""
    if len(lists) == 5:  # bars
        o, h, lo, c, v = lists
        return timed_bars(
            seconds, symbols, o, h, lo, c, v, intervals if isinstance(intervals, list) else intervals or 0.0
        )
    if len(lists) == 4:
        a4, b4, c4, d4 = lists
        return [(t, make(s, t, a, b, x, y)) for t, s, a, b, x, y in zip(seconds, symbols, a4, b4, c4, d4, strict=True)]
    p2, s2 = lists
    return [(t, make(s, t, a, b)) for t, s, a, b in zip(seconds, symbols, p2, s2, strict=True)]


class _Stamping:
    """Turns a file's bar times into delivery times (when each bar is complete) and intervals."""

    def __init__(self, interval: float, daily: bool, start: bool, session: Session, timezone: Any) -> None:
        self.interval = interval
        self.daily = daily
        self.start = start
        self.session = session
        self.timezone = timezone
        self._days: dict[float, tuple[float, float]] = {}

    def one(self, seconds: float) -> tuple[float, float]:
        """(delivery time, interval) of a bar stamped `seconds`."""
        if self.daily:
            return self._session_bar(seconds)
        return (seconds + self.interval if self.start else seconds), self.interval

    def _session_bar(self, seconds: float) -> tuple[float, float]:
        found = self._days.get(seconds)
        if found is None:
            day = datetime.fromtimestamp(seconds, self.timezone).date()
            bounds = self.session.close_on(day)
            if bounds is None:  # not a session day: delivered at the next close
                close = self.session.next_close(seconds)
                bounds = (self.session.bounds(close)[0], close)
            found = self._days[seconds] = (bounds[1], bounds[1] - bounds[0])
        return found

    def block(self, times: Any) -> tuple[list[float], Any]:
        """Delivery times and intervals (one for all, or a list) of a block's bar times (a numpy array)."""
        if self.daily:
            pairs = [self._session_bar(t) for t in times.tolist()]
            return [p[0] for p in pairs], [p[1] for p in pairs]
        return (times + self.interval if self.start else times).tolist(), self.interval


def _symbols(column: pa.DictionaryArray) -> list[str]:
    """A block's symbols (a dictionary-encoded column without nulls), stripped of surrounding white space as the
    exact reader strips each row's (`str.strip`), so both readers give the same bars; raises `_Fallback` when one
    is empty, for the exact reader to name its line. Each name is one string object shared by its rows."""
    names = [name.strip() for name in column.dictionary.to_pylist()]
    if not all(names):
        raise _Fallback
    return np.array(names, dtype=object)[_numpy(column.indices, np.int32)].tolist()


def _numpy(column: pa.ChunkedArray | pa.Array, dtype: Any) -> Any:
    """A null-free numeric column as a read-only numpy view of its buffer: Arrow's `to_numpy` imports pandas
    (~40 MB, issue 25), which a replay never needs."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    size = np.dtype(dtype).itemsize
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * size)


def _stamp_type(text: str) -> pa.DataType:
    """How arrow is to read a file's timestamps, judged by its first row's: float64 (epoch numbers), an aware or a
    naive timestamp (ISO-8601 with or without an offset; arrow parses them as it reads the block, which is
    cheaper than reading strings and casting), or string when arrow cannot parse it (the exact reader will).
    A later row of another form makes arrow's reader raise, and the exact reader goes on from that block.

    The row is judged by arrow's CSV reader itself, as a one-cell file (quoted, nothing read as null), not by a
    cast: a cast imports arrow's compute functions, ~24 ms of CPU per run (a twentieth of an empty 1M-bar replay
    compiled) that a file whose times carry their offset never needs otherwise (those without one do:
    `_arrow_times`)."""
    try:
        float(text)
    except ValueError:
        pass
    else:
        return pa.float64()
    cell = pa.py_buffer(('"' + text.replace('"', '""') + '"\n').encode())
    read = pcsv.ReadOptions(column_names=["t"], use_threads=False)
    for kind in (_AWARE, _NAIVE):
        convert = pcsv.ConvertOptions(
            column_types={"t": kind}, null_values=[], strings_can_be_null=False, quoted_strings_can_be_null=False
        )
        try:
            pcsv.read_csv(cell, read_options=read, convert_options=convert)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return kind
    return pa.string()


def _block_ok(times: Any, numbers: list[Any], kind: str) -> bool:
    """Vectorised checks of one block (numpy arrays, no nulls): times in range and non-decreasing, prices finite
    and > 0, sizes finite and >= 0, low <= high (bid <= ask). Each is a comparison of a column's minimum or
    maximum, which NaN fails (numpy's minimum and maximum carry a NaN through)."""
    if not (_min(times) >= EPOCH_MIN and _max(times) <= EPOCH_MAX):
        return False
    if len(times) > 1 and _any(times[1:] < times[:-1]):
        return False
    for field, column in zip(KIND_FIELDS[kind][0], numbers, strict=True):
        if column is None:
            continue
        least = _min(column)
        if not (least > 0.0 if field in PRICE_FIELDS else least >= 0.0) or not _max(column) < math.inf:
            return False
    if kind == "bar":
        return not _any(numbers[2] > numbers[1])
    if kind == "quote":
        return not _any(numbers[0] > numbers[1])
    return True
