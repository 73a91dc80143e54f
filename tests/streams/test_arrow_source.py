"""The `arrow` source: the events a replay source wrote, replayed exactly, whole or in a window."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker_sim.errors import ConfigError
from broker_sim.models import Bar, Quote, Trade
from broker_sim.streams.arrow_source import ArrowSource, UnsharableSource, write_events
from broker_sim.streams.csv_source import CsvSource
from broker_sim.streams.synthetic import SyntheticSource

ROOT = Path(__file__).resolve().parents[2]


class _Events:
    """A replay source of given events (a real, tiny source)."""

    name = "given events"

    def __init__(self, events: list[Bar | Quote | Trade], skipped_rows: int = 0) -> None:
        self.events = events
        self.skipped_rows = skipped_rows

    def timed_events(self):  # type: ignore[no-untyped-def]
        for event in self.events:
            yield event.timestamp.timestamp(), event


@pytest.mark.parametrize(
    "source",
    [
        SyntheticSource(["AAPL", "MSFT"], count=300, interval=60, seed=3),
        CsvSource(str(ROOT / "data/sample/AAPL_1m.csv"), symbol="AAPL"),
        CsvSource(str(ROOT / "data/sample/AAPL_1d.csv"), symbol="AAPL"),
    ],
    ids=["synthetic", "csv-minutes", "csv-daily-session-bars"],
)
def test_a_source_written_once_replays_the_same_events(tmp_path: Path, source: object) -> None:
    path = tmp_path / "events.arrow"
    rows = write_events(source, path)  # type: ignore[arg-type]
    original = list(source.timed_events())  # type: ignore[attr-defined]
    replayed = ArrowSource(str(path))
    assert rows == len(original) == replayed.estimated_events()
    assert list(replayed.timed_events()) == original
    assert replayed.name == source.name  # type: ignore[attr-defined]


def test_quotes_trades_and_odd_time_stamps_round_trip_and_skipped_rows_are_kept(tmp_path: Path) -> None:
    at = datetime(2024, 3, 4, 14, 30, 0, 123457, tzinfo=UTC)
    quotes = [Quote("AAPL", at, 190.0, 190.1, 3, 4), Quote("AAPL", at, 190.05, 190.2)]
    write_events(_Events(quotes, skipped_rows=2), tmp_path / "q.arrow")  # type: ignore[arg-type]
    source = ArrowSource(str(tmp_path / "q.arrow"))
    assert [event for _, event in source.timed_events()] == quotes and source.skipped_rows == 2
    trades = [Trade("MSFT", at, 410.5, 7)]
    write_events(_Events(trades), tmp_path / "t.arrow")  # type: ignore[arg-type]
    assert list(ArrowSource("t.arrow", base_dir=tmp_path)) == trades


def test_a_window_replays_start_up_to_end(tmp_path: Path) -> None:
    source = SyntheticSource(["AAPL"], start="2024-01-02T00:00:00Z", count=100, interval=60, seed=1)
    write_events(source, tmp_path / "e.arrow")
    start = datetime(2024, 1, 2, 0, 10, tzinfo=UTC).timestamp()
    window = ArrowSource(str(tmp_path / "e.arrow"), start=start, end=start + 600)
    seconds = [t for t, _ in window.timed_events()]
    assert seconds == [start + 60 * i for i in range(10)]
    assert window.estimated_events() == 10


def test_mixed_kinds_cannot_be_shared_and_leave_no_file(tmp_path: Path) -> None:
    at = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
    mixed = _Events([Trade("A", at, 1.0), Quote("A", at, 1.0, 1.1)])
    with pytest.raises(UnsharableSource, match="holds Quote events besides trades"):
        write_events(mixed, tmp_path / "m.arrow")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_bad_arrow_sources_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"arrow file .*missing\.arrow does not exist"):
        ArrowSource("missing.arrow", base_dir=tmp_path)
    (tmp_path / "junk.arrow").write_text("not arrow")
    with pytest.raises(ConfigError, match="cannot be read"):
        ArrowSource(str(tmp_path / "junk.arrow"))
    write_events(SyntheticSource(count=3, seed=1), tmp_path / "ok.arrow")
    with pytest.raises(ConfigError, match="start must be before end"):
        ArrowSource(str(tmp_path / "ok.arrow"), start=10, end=5)
    with pytest.raises(ConfigError, match="end must be POSIX seconds"):
        ArrowSource(str(tmp_path / "ok.arrow"), end="tomorrow")  # type: ignore[arg-type]
