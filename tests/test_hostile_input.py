"""Hostile input gets one clear error and changes nothing: YAML bombs and huge files, environment values,
out-of-range and non-UTF-8 data, zero prices, broken strategy constructors, bad rows skipped and counted."""

from __future__ import annotations

import logging
import tracemalloc
from pathlib import Path

import pytest

from broker_sim import ConfigError, DataError, Strategy, run_simulation
from broker_sim.config import MAX_CONFIG_BYTES, parse_text
from broker_sim.streams.csv_source import CsvSource
from broker_sim.wiring import load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
BASE = f"""
prices: {{sources: [{{source: synthetic, symbols: [X], count: 20}}]}}
strategy: {{class: {ROOT}/examples/buy_and_hold.py:BuyAndHold}}
"""


def test_a_yaml_alias_bomb_is_refused_quickly_without_expanding() -> None:
    layers = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for level in range(1, 10):
        layers.append(f"{chr(97 + level)}: &{chr(97 + level)} [" + ", ".join([f"*{chr(96 + level)}"] * 10) + "]")
    text = "\n".join(layers) + "\n"
    assert len(text) < 1000
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"expands to more than 100,000 values \(nested aliases\?\)"):
            parse_text(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # refused after a bounded walk, not gigabytes later


def test_a_huge_config_is_refused_by_size(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("report: {title: x}\n# " + "x" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError, match=r"configs are limited to 1,048,576"):
        load_config(path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("@abc", "@abc"), ("{", "{"), ("[1, 2]", "[1, 2]"), ("0123", "0123"), ("yes", "yes")],
)
def test_an_environment_value_in_a_quoted_title_stays_text(value: str, expected: str) -> None:
    config = parse_config(BASE + 'report: {title: "${TITLE}"}\n', env={"TITLE": value})
    assert config.report.title == expected


@pytest.mark.parametrize("value", ["@abc", "{", "x: y"])
def test_an_environment_value_is_never_read_as_yaml(value: str) -> None:
    config = parse_config(BASE + "report:\n  title: ${TITLE}\n", env={"TITLE": value})
    assert config.report.title == value


def test_an_environment_seed_with_a_leading_zero_is_decimal_not_octal() -> None:
    config = parse_config(BASE + "broker:\n  seed: ${SEED}\n", env={"SEED": "0123"})
    assert config.seed == 123


def test_an_environment_value_of_the_wrong_type_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r":5: broker\.seed: seed must be an integer"):
        parse_config(BASE + "broker:\n  seed: ${SEED}\n", env={"SEED": "{"})


class Exploding(Strategy):
    def __init__(self) -> None:
        raise RuntimeError("cannot start")


def test_a_strategy_constructor_raising_anything_is_a_config_error() -> None:
    text = "prices: {sources: [{source: synthetic, symbols: [X], count: 5}]}\n"
    text += "strategy: {class: 'tests.test_hostile_input:Exploding'}\n"
    with pytest.raises(ConfigError, match=r"strategy\.params: Exploding: RuntimeError: cannot start"):
        parse_config(text)


def _csv(tmp_path: Path, body: bytes | str) -> Path:
    path = tmp_path / "bars.csv"
    data = body.encode() if isinstance(body, str) else body
    path.write_bytes(b"timestamp,open,high,low,close,volume\n" + data)
    return path


def test_epoch_timestamps_out_of_range_are_a_data_error_naming_the_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, "1709562600,1,1,1,1,1\n99999999999999999999,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"line 3: timestamp .* is out of range \(years 1900 to 2200\)"):
        list(CsvSource(str(path), symbol="X"))


def test_non_utf8_bytes_are_a_data_error_naming_the_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, b"2024-03-04T14:30:00Z,1,1,1,1,1\n2024-03-04T14:31:00Z,1,1,1,1,\xff\xfe\n")
    with pytest.raises(DataError, match=r"bars\.csv, line 3: "):
        list(CsvSource(str(path), symbol="X"))


def test_a_price_of_zero_is_a_bad_row_not_a_strategy_failure(tmp_path: Path) -> None:
    path = _csv(tmp_path, "2024-03-04T14:30:00Z,1,1,1,1,1\n2024-03-04T14:31:00Z,1,1,0,0,1\n")
    with pytest.raises(DataError, match=r"line 3: low must be > 0, got '0'"):
        list(CsvSource(str(path), symbol="X"))


def test_a_byte_order_mark_does_not_break_the_header(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftimestamp,open,high,low,close,volume\n2024-03-04T14:30:00Z,1,1,1,1,1\n")
    assert len(list(CsvSource(str(path), symbol="X"))) == 1


def test_skipped_rows_are_logged_with_their_lines_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [f"2024-03-04T14:{minute:02d}:00Z,1,1,1,1,1" for minute in range(30, 40)]
    rows[3] = "2024-03-04T14:33:00Z,1,1,1,oops,1"
    rows[6] = "2030-01-01T00:00:00Z,1,1,1,1,1"  # one row stamped in the future
    path = _csv(tmp_path, "\n".join(rows) + "\n")
    source = CsvSource(str(path), symbol="X", on_bad_row="skip")
    with caplog.at_level(logging.WARNING):
        events = list(source)
    assert len(events) == 8  # only the two bad rows go: the rows after the future one are kept
    assert source.skipped_rows == 2
    assert "bars.csv, line 5 skipped: close must be a number" in caplog.text
    assert "bars.csv, line 8 skipped: its timestamp is later than the rows after it" in caplog.text


def test_the_run_summary_counts_skipped_rows(tmp_path: Path) -> None:
    rows = [f"2024-03-04T14:{minute:02d}:00Z,1,1,1,1,1" for minute in range(30, 40)]
    rows[3] = "2024-03-04T14:33:00Z,1,1,1,oops,1"
    _csv(tmp_path, "\n".join(rows) + "\n")
    text = f"""
prices: {{sources: [{{source: csv, path: bars.csv, symbol: X, on_bad_row: skip}}]}}
strategy: {{class: {ROOT}/examples/buy_and_hold.py:BuyAndHold}}
"""
    assert run_simulation(parse_config(text, base_dir=tmp_path)).metrics.skipped_rows == 1


def test_validate_reads_each_sources_header(tmp_path: Path) -> None:
    (tmp_path / "bars.csv").write_text("time,price\n2024-03-04T14:30:00Z,1\n")
    text = f"""
prices: {{sources: [{{source: csv, path: bars.csv, symbol: X}}]}}
strategy: {{class: {ROOT}/examples/buy_and_hold.py:BuyAndHold}}
"""
    with pytest.raises(ConfigError, match=r"<config>:2: prices\.sources\[0\].*no column 'timestamp'"):
        parse_config(text, base_dir=tmp_path)


class NoisyOnOrders(Strategy):
    def __init__(self) -> None:
        self.sent = False

    def on_bar(self, bar):  # type: ignore[no-untyped-def]
        if not self.sent:
            self.sent = True
            return self.broker.buy(bar.symbol, 1)
        return None

    def on_order_event(self, event):  # type: ignore[no-untyped-def]
        raise KeyError("missing")


def test_an_exception_in_on_order_event_is_reported_like_one_in_on_bar(tmp_path: Path) -> None:
    from broker_sim.simulation import StrategyError

    text = """
broker: {session: always}
prices: {sources: [{source: synthetic, symbols: [X], count: 20}]}
strategies: [{name: noisy, class: "tests.test_hostile_input:NoisyOnOrders"}]
"""
    with pytest.raises(StrategyError, match=r"strategy noisy: handler NoisyOnOrders\.on_order_event failed on "
                       r"pending_new of order .* \(X\) at .*: KeyError: 'missing'"):  # fmt: skip
        run_simulation(parse_config(text, base_dir=tmp_path))
