"""The `arrow` price source: market events from an Arrow IPC file in broker-sim's event layout, memory-mapped.

A sweep reads each replay source of its config once, writes its events here (`write_events`), and every point
replays the file memory-mapped: the operating system shares the pages between the worker processes, and
nothing is parsed again. `start` and `end` (POSIX seconds) replay a window of it (``start <= seconds < end``),
as a walk-forward fold does.

The layout (one file holds one kind of event): ``seconds`` (float64, when the event is delivered),
``timestamp_us`` (int64, the event's own time stamp in microseconds since the epoch, UTC), ``symbol``
(string), then the kind's value fields as float64 (`KIND_FIELDS`; bars also ``interval``). The schema's
metadata holds ``kind``, the original source's ``name`` and its ``skipped_rows``, and ``stamped_at_seconds``
("1" when every time stamp equals its delivery time, so the replay builds each event from its seconds, with no
datetime, as the csv source does).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from broker_sim.errors import ConfigError
from broker_sim.models import Bar, MarketData, Quote, Trade, unchecked_bar, unchecked_quote, unchecked_trade
from broker_sim.streams.base import BLOCK_EVENTS, ReplaySource, blocks_of

__all__ = ["KIND_FIELDS", "ArrowSource", "UnsharableSource", "write_events"]

#: Per kind: the event class, its value fields in constructor order, and its unchecked constructor from a datetime
#: (the class's ``from_seconds`` is the one from POSIX seconds).
KIND_FIELDS: dict[str, tuple[type, tuple[str, ...], Any]] = {
    "bar": (Bar, ("open", "high", "low", "close", "volume", "interval"), unchecked_bar),
    "quote": (Quote, ("bid", "ask", "bid_size", "ask_size"), unchecked_quote),
    "trade": (Trade, ("price", "size"), unchecked_trade),
}
_KIND_OF = {cls: kind for kind, (cls, _, _) in KIND_FIELDS.items()}
#: Rows per record batch in the file (the replay hands out `BLOCK_EVENTS` at a time from each).
_BATCH_ROWS = 65_536
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class UnsharableSource(ValueError):
    """A source whose events cannot be written as one `arrow` file (mixed kinds, an unknown event type)."""


def write_events(source: ReplaySource, path: str | Path) -> int:
    """Replay `source` once and write its events to the Arrow IPC file `path`; returns how many were written.

    The events are gathered as columnar batches (about 56 bytes a bar) and written once, with the metadata that is
    known only at the end. Raises `UnsharableSource` (nothing is written) when they are not all bars, all quotes
    or all trades; the source's own errors (`DataError`) pass through."""
    kind: str | None = None
    stamped = True
    batches: list[pa.RecordBatch] = []
    columns: dict[str, list[Any]] = {}
    for block in blocks_of(source):
        for seconds, event in block:
            event_kind = _KIND_OF.get(type(event))
            if event_kind is None or (kind is not None and event_kind != kind):
                raise UnsharableSource(f"{source.name}: holds {type(event).__name__} events besides {kind}s")
            if kind is None:
                kind = event_kind
                columns = _empty_columns(kind)
            stamped = stamped and event.timestamp == datetime.fromtimestamp(seconds, UTC)
            columns["seconds"].append(seconds)
            columns["timestamp_us"].append((event.timestamp - _EPOCH) // _MICROSECOND)
            columns["symbol"].append(event.symbol)
            for name in KIND_FIELDS[kind][1]:
                columns[name].append(getattr(event, name))
        if kind is not None and len(columns["seconds"]) >= _BATCH_ROWS:
            batches.append(_batch(kind, columns))
            columns = _empty_columns(kind)
    kind = kind or "bar"
    if columns.get("seconds"):
        batches.append(_batch(kind, columns))
    metadata = {
        "kind": kind,
        "name": str(source.name),
        "skipped_rows": str(int(getattr(source, "skipped_rows", 0) or 0)),
        "stamped_at_seconds": "1" if stamped else "0",
    }
    target = Path(path)
    staging = target.with_name(f".{target.name}.tmp")
    schema = _schema(kind, metadata)
    try:
        with pa.ipc.new_file(str(staging), schema) as writer:
            for batch in batches:
                writer.write_batch(pa.record_batch(batch.columns, schema=schema))
        staging.replace(target)
    finally:
        staging.unlink(missing_ok=True)
    return sum(batch.num_rows for batch in batches)


def _empty_columns(kind: str) -> dict[str, list[Any]]:
    return {name: [] for name in ("seconds", "timestamp_us", "symbol", *KIND_FIELDS[kind][1])}


def _schema(kind: str, metadata: dict[str, str] | None = None) -> pa.Schema:
    fields = [pa.field("seconds", pa.float64()), pa.field("timestamp_us", pa.int64()), pa.field("symbol", pa.string())]
    fields += [pa.field(name, pa.float64()) for name in KIND_FIELDS[kind][1]]
    return pa.schema(fields, metadata=metadata)


def _batch(kind: str, columns: dict[str, list[Any]]) -> pa.RecordBatch:
    schema = _schema(kind)
    return pa.record_batch([pa.array(columns[field.name], field.type) for field in schema], schema=schema)


def _seconds_bound(name: str, value: Any) -> float:
    if value is None:
        return math.inf if name == "end" else -math.inf
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"{name} must be POSIX seconds (a number), got {value!r}")
    return float(value)


class ArrowSource:
    """Events from an `arrow` file (`write_events`' layout), memory-mapped, optionally a ``[start, end)`` window."""

    def __init__(
        self,
        path: str,
        *,
        start: float | None = None,
        end: float | None = None,
        base_dir: str | Path | None = None,
        seed: int | None = None,
    ) -> None:
        given = Path(path)
        self.path = given if given.is_absolute() else Path(base_dir or Path.cwd()) / given
        if not self.path.is_file():
            raise ConfigError(f"arrow file {self.path} does not exist (path: {path!r})")
        self.start = _seconds_bound("start", start)
        self.end = _seconds_bound("end", end)
        if self.start >= self.end:
            raise ConfigError(f"start must be before end, got start {start!r} and end {end!r}")
        try:
            with pa.memory_map(str(self.path)) as mapped:
                schema = pa.ipc.open_file(mapped).schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise ConfigError(f"arrow file {self.path} cannot be read: {exc}") from None
        metadata = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
        self.kind = metadata.get("kind", "")
        if self.kind not in KIND_FIELDS:
            raise ConfigError(f"arrow file {self.path} is not in broker-sim's event layout (no kind in its metadata)")
        self.skipped_rows = int(metadata.get("skipped_rows", "0"))
        self.stamped_at_seconds = metadata.get("stamped_at_seconds") == "1"
        self.name = metadata.get("name") or f"arrow {self.path.name}"

    def __iter__(self) -> Iterator[MarketData]:
        for _, event in self.timed_events():
            yield event

    def timed_events(self) -> Iterator[tuple[float, MarketData]]:
        """Yield ``(posix_seconds, event)`` in the file's (time) order, within the window."""
        for block in self.timed_blocks():
            yield from block

    def estimated_events(self) -> int:
        """How many events the window holds."""
        return sum(hi - lo for _, lo, hi in self._windows())

    def _windows(self) -> Iterator[tuple[pa.RecordBatch, int, int]]:
        """Each record batch with the row range inside the window (batches outside it are skipped)."""
        with pa.memory_map(str(self.path)) as mapped:
            reader = pa.ipc.open_file(mapped)
            for index in range(reader.num_record_batches):
                batch = reader.get_batch(index)
                seconds = batch.column(0).to_numpy()
                lo = int(np.searchsorted(seconds, self.start, side="left"))
                hi = int(np.searchsorted(seconds, self.end, side="left"))
                if hi > lo:
                    yield batch, lo, hi

    def timed_blocks(self) -> Iterator[list[tuple[float, MarketData]]]:
        """The window's events in lists of `BLOCK_EVENTS` (the replay's fast path)."""
        cls, names, make = KIND_FIELDS[self.kind]
        fields = len(names)
        from_seconds = cls.from_seconds  # type: ignore[attr-defined]
        epoch, micro = _EPOCH, timedelta
        stamped = self.stamped_at_seconds
        for batch, lo, hi in self._windows():
            for first in range(lo, hi, BLOCK_EVENTS):
                part = batch.slice(first, min(BLOCK_EVENTS, hi - first))
                seconds = part.column(0).to_pylist()
                symbols = part.column(2).to_pylist()
                values = [part.column(3 + i).to_pylist() for i in range(fields)]
                if stamped:  # stamped at their delivery times: no datetime until someone reads one
                    yield [
                        (t, from_seconds(s, t, *row))
                        for t, s, row in zip(seconds, symbols, zip(*values, strict=True), strict=True)
                    ]
                    continue
                times = [epoch + micro(microseconds=us) for us in part.column(1).to_pylist()]
                yield [
                    (t, make(s, when, *row))
                    for t, s, when, row in zip(seconds, symbols, times, zip(*values, strict=True), strict=True)
                ]
