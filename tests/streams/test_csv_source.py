"""The csv source: bars, quotes and trades in time order, column mapping, time zones, bad rows named by line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from broker_sim import Bar, ConfigError, DataError, Quote, Trade
from broker_sim.streams.csv_source import _AWARE, _NAIVE, CsvSource, _stamp_type

HEADER = "timestamp,open,high,low,close,volume\n"


def _csv(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(count: int, start_minute: int = 0) -> str:
    return "".join(
        f"2024-03-04T14:{start_minute + i:02d}:00+00:00,{100 + i},{101 + i},{99 + i},{100.5 + i},{1000 + i}\n"
        for i in range(count)
    )


def test_bars_are_read_in_order_with_aware_utc_timestamps(tmp_path: Path) -> None:
    source = CsvSource(_csv(tmp_path, HEADER + _rows(3)).name, symbol="AAPL", base_dir=tmp_path)
    pairs = list(source.timed_events())
    assert [event for _, event in pairs] == [
        Bar("AAPL", datetime(2024, 3, 4, 14, i, tzinfo=UTC), 100 + i, 101 + i, 99 + i, 100.5 + i, 1000 + i, 60)
        for i in range(3)
    ]  # stamped at their end (the default); each covers the minute the rows are apart
    assert [seconds for seconds, _ in pairs] == [datetime(2024, 3, 4, 14, i, tzinfo=UTC).timestamp() for i in range(3)]


def test_columns_are_mapped_and_volume_is_optional(tmp_path: Path) -> None:
    path = _csv(tmp_path, "Date,Sym,O,H,L,Adj Close\n2024-03-04T14:30:00Z,MSFT,1,2,0.5,1.5\n")
    columns = {"timestamp": "Date", "symbol": "Sym", "open": "O", "high": "H", "low": "L", "close": "Adj Close"}
    (bar,) = CsvSource(str(path), columns=columns)
    assert bar == Bar("MSFT", datetime(2024, 3, 4, 14, 30, tzinfo=UTC), 1, 2, 0.5, 1.5, 0.0)


@pytest.mark.parametrize(
    ("stamp", "unit"),
    [("1709562600", "auto"), ("1709562600000", "auto"), ("1709562600000000000", "ns"), ("1709562600000", "ms")],
)
def test_epoch_timestamps(tmp_path: Path, stamp: str, unit: str) -> None:
    path = _csv(tmp_path, f"{HEADER}{stamp},1,2,0.5,1.5,10\n")
    (bar,) = CsvSource(str(path), symbol="A", timestamp_unit=unit)
    assert bar.timestamp == datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


def test_naive_timestamps_are_read_in_the_configured_zone(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"{HEADER}2024-03-04 09:30:00,1,2,0.5,1.5,10\n")
    (bar,) = CsvSource(str(path), symbol="A", timezone="America/New_York")
    assert bar.timestamp == datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


def test_quotes_and_trades(tmp_path: Path) -> None:
    quotes = _csv(tmp_path, "timestamp,symbol,bid,ask\n2024-03-04T14:30:00Z,A,9.9,10.1\n", "q.csv")
    trades = _csv(tmp_path, "timestamp,symbol,price,size\n2024-03-04T14:30:01Z,A,10.0,5\n", "t.csv")
    t0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
    assert list(CsvSource(str(quotes), kind="quote")) == [Quote("A", t0, 9.9, 10.1, 0.0, 0.0)]
    assert list(CsvSource(str(trades), kind="trade")) == [Trade("A", t0.replace(second=1), 10.0, 5.0)]


def test_several_files_are_merged_in_time_order(tmp_path: Path) -> None:
    first = _csv(tmp_path, HEADER + _rows(3, 0), "a.csv")
    second = _csv(tmp_path, HEADER.replace("timestamp", "timestamp") + _rows(3, 1), "b.csv")
    source = CsvSource([str(first), str(second)], symbol="X")
    times = [seconds for seconds, _ in source.timed_events()]
    assert times == sorted(times) and len(times) == 6


def test_a_bad_row_names_file_and_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, HEADER + _rows(2) + "2024-03-04T14:05:00+00:00,1,abc,0.5,1,10\n" + _rows(1, 6))
    with pytest.raises(DataError, match=r"bars\.csv, line 4: high must be a number, got 'abc'"):
        list(CsvSource(str(path), symbol="A"))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2024-03-04T14:05:00+00:00,1,2,0.5,nan,10", "close must be finite"),
        ("2024-03-04T14:05:00+00:00,1,2,3,1,10", "low 3.0 is above high 2.0"),
        ("2024-03-04T14:05:00+00:00,1,2,0.5,-1,10", "close must be >= 0"),
        ("yesterday,1,2,0.5,1,10", "timestamp 'yesterday' is neither ISO-8601 nor an epoch number"),
        ("2024-03-04T13:00:00+00:00,1,2,0.5,1,10", "earlier than the row before"),
        ("2024-03-04T14:05:00+00:00,1,2", "expected"),
    ],
)
def test_each_kind_of_bad_row_is_reported(tmp_path: Path, row: str, message: str) -> None:
    path = _csv(tmp_path, HEADER + _rows(2) + row + "\n")
    with pytest.raises(DataError, match=rf"line 4: .*{message}"):
        list(CsvSource(str(path), symbol="A"))


def test_bad_rows_can_be_skipped_and_counted(tmp_path: Path) -> None:
    path = _csv(tmp_path, HEADER + _rows(2) + "2024-03-04T14:05:00+00:00,1,x,0.5,1,10\n" + _rows(2, 6))
    source = CsvSource(str(path), symbol="A", on_bad_row="skip")
    assert len(list(source)) == 4
    assert source.skipped_rows == 1


def test_a_bad_row_deep_in_a_large_file_is_found_after_the_fast_blocks(tmp_path: Path) -> None:
    rows = "".join(f"{1709562600 + 60 * i},1,2,0.5,1.5,10\n" for i in range(60_000))
    path = _csv(tmp_path, HEADER + rows + "1713162600,1,2,0.5,oops,10\n")
    source = CsvSource(str(path), symbol="A")
    seen = 0
    with pytest.raises(DataError, match=r"line 60002: close must be a number, got 'oops'"):
        for _ in source.timed_events():
            seen += 1
    assert seen == 60_000  # every good row before it was delivered once, none twice


def test_missing_column_and_bad_settings(tmp_path: Path) -> None:
    path = _csv(tmp_path, "timestamp,open,high,low\n2024-03-04T14:30:00Z,1,2,0.5\n")
    with pytest.raises(ConfigError, match=r"no column 'close' for close"):  # when built (validate), not mid-run
        CsvSource(str(path), symbol="A")
    with pytest.raises(ConfigError, match=r"kind must be one of bar, quote, trade"):
        CsvSource(str(path), kind="tick")
    with pytest.raises(ConfigError, match=r"on_bad_row must be one of error, skip"):
        CsvSource(str(path), on_bad_row="ignore")
    with pytest.raises(ConfigError, match=r"columns: unknown field 'closing'"):
        CsvSource(str(path), columns={"closing": "Close"})
    with pytest.raises(ConfigError, match=r"does not exist"):
        CsvSource("nope.csv", base_dir=tmp_path)


def test_blocks_and_events_agree(tmp_path: Path) -> None:
    path = _csv(tmp_path, HEADER + _rows(30))
    source = CsvSource(str(path), symbol="A")
    assert [pair for block in source.timed_blocks() for pair in block] == list(source.timed_events())
    assert 20 <= source.estimated_events() <= 40


def _iso_rows(count: int, *, offset: str = "+00:00") -> str:
    """`count` one-minute bars from 2024-03-04 00:00, ISO-8601 stamped with `offset` ("" for none)."""
    return "".join(
        f"2024-03-{4 + i // 1440:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00{offset},1,2,0.5,1.5,10\n" for i in range(count)
    )


@pytest.mark.parametrize(("cell", "shown"), [("NA", "'NA'"), ("", "''"), ("NULL", "'NULL'"), ("NaN", "'NaN'")])
def test_a_missing_value_deep_in_a_file_of_iso_times_is_named_by_line(tmp_path: Path, cell: str, shown: str) -> None:
    path = _csv(tmp_path, HEADER + _iso_rows(6_000) + f"2024-03-08T12:00:00+00:00,1,2,0.5,1.5,{cell}\n")
    seen = 0
    message = rf"line 6002: volume must be (a number|finite), got {shown}"
    with pytest.raises(DataError, match=message):
        for _ in CsvSource(str(path), symbol="A").timed_events():
            seen += 1
    assert seen == 6_000  # every good row before it was delivered once, none twice


def test_times_that_change_form_in_a_later_block_are_all_read(tmp_path: Path) -> None:
    # ISO with an offset, then without one (read in the source's zone); arrow reads the first form as it reads
    # each block, and the exact reader takes over where the form changes.
    rows = _iso_rows(6_010).splitlines(keepends=True)
    path = _csv(tmp_path, HEADER + "".join(rows[:6_000]) + "".join(rows[6_000:]).replace("+00:00", ""))
    pairs = list(CsvSource(str(path), symbol="A", timezone="UTC").timed_events())
    start = datetime(2024, 3, 4, tzinfo=UTC).timestamp()
    assert [seconds for seconds, _ in pairs] == [start + 60 * i for i in range(6_010)]
    assert all(bar.seconds == seconds for seconds, bar in pairs)


def test_blank_lines_are_no_rows(tmp_path: Path) -> None:
    rows = "".join(f"{1709562600 + 60 * i},1,2,0.5,1.5,10\n" + ("\n" if i == 10 else "") for i in range(6_000))
    path = _csv(tmp_path, HEADER + "\n" + rows + "1713162600,1,2,0.5,oops,10\n")
    seen: list[float] = []
    with pytest.raises(DataError, match=r"line 6004: close must be a number, got 'oops'"):
        for seconds, _ in CsvSource(str(path), symbol="A").timed_events():
            seen.append(seconds)
    assert seen == [1709562600 + 60 * i for i in range(6_000)]  # the blank lines before: each row once


_PADDED = [" AAPL ", "MSFT\t", "\u00a0AAPL", "AAPL", "  MSFT"]


@pytest.mark.parametrize("first_time", ["2024-03-04T14:30:00+00:00", " 2024-03-04T14:30:00+00:00"])
def test_symbols_are_stripped_by_either_reader(tmp_path: Path, first_time: str) -> None:
    # A first time stamp arrow cannot read (a leading space) sends the whole file to the exact reader; either way
    # the same bars come out, their symbols stripped of the white space around them.
    times = [first_time] + [f"2024-03-04T14:3{i}:00+00:00" for i in range(1, len(_PADDED))]
    rows = "".join(f"{t},{s},1,2,0.5,1.5,10\n" for t, s in zip(times, _PADDED, strict=True))
    path = _csv(tmp_path, "timestamp,symbol,open,high,low,close,volume\n" + rows)
    bars = list(CsvSource(str(path)))
    assert [bar.symbol for bar in bars] == ["AAPL", "MSFT", "AAPL", "AAPL", "MSFT"]
    assert bars[3] == Bar("AAPL", datetime(2024, 3, 4, 14, 33, tzinfo=UTC), 1, 2, 0.5, 1.5, 10, 60)


@pytest.mark.parametrize("first_time", ["2024-03-04T14:30:00+00:00", " 2024-03-04T14:30:00+00:00"])
def test_a_blank_symbol_is_named_by_line_by_either_reader(tmp_path: Path, first_time: str) -> None:
    rows = f"{first_time},AAPL,1,2,0.5,1.5,10\n2024-03-04T14:31:00+00:00, \t ,1,2,0.5,1.5,10\n"
    path = _csv(tmp_path, "timestamp,symbol,open,high,low,close,volume\n" + rows)
    with pytest.raises(DataError, match=r"bars\.csv, line 3: symbol is empty"):
        list(CsvSource(str(path)))


@pytest.mark.parametrize(
    ("text", "judged"),
    [
        ("2024-01-01T00:00:00+00:00", "aware"),
        ("2024-01-01 00:00:00Z", "aware"),
        ("2024-01-01T00:00:00.123456789+05:30", "aware"),
        ("2024-01-01T00:00:00-0500", "aware"),
        ("2024-01-01T00:00:00", "naive"),
        ("2024-01-01T00:00", "naive"),
        ("2024-01-01", "naive"),
        ("1e9", "epoch"),
        ("NA", "text"),  # (no null markers: a cell that arrow would read as null is no time)
        ("", "text"),
        ("null", "text"),
        (" 2024-01-01T00:00:00", "text"),
        ("2024/01/01 10:00", "text"),
        ("2024-13-01", "text"),
        ("2024-01-01T00:00:00,5", "text"),  # (a delimiter and a quote stay in the one cell judged)
        ('2024-01-01"T', "text"),
    ],
)
def test_the_first_rows_time_decides_how_arrow_reads_the_files_times(text: str, judged: str) -> None:
    """The fast reader's choice by the first row (`_stamp_type`): an aware or a naive timestamp, epoch numbers, or
    text the exact reader reads (`tests/test_replay_imports.py` checks it imports no compute functions)."""
    kinds = {"aware": _AWARE, "naive": _NAIVE, "epoch": pa.float64(), "text": pa.string()}
    assert _stamp_type(text) == kinds[judged]
