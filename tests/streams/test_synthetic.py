"""SyntheticSource: seeded random-walk bars, in time order, reproducible, per-symbol independent."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from broker_sim.errors import ConfigError
from broker_sim.models import Bar
from broker_sim.streams.synthetic import SyntheticSource

START = "2024-01-02T14:30:00+00:00"
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def _bars(source: SyntheticSource) -> list[Bar]:
    return list(source)  # type: ignore[arg-type]


def test_yields_count_bars_per_symbol_in_time_order_interval_apart() -> None:
    source = SyntheticSource(["AAPL", "MSFT", "SPY"], start=START, interval=60, count=5, seed=1)
    pairs = list(source.timed_events())
    assert len(pairs) == 5 * 3
    for index, (seconds, bar) in enumerate(pairs):
        step, position = divmod(index, 3)
        assert isinstance(bar, Bar)
        assert bar.symbol == ("AAPL", "MSFT", "SPY")[position]
        assert bar.timestamp == T0 + timedelta(seconds=60 * step)
        assert bar.timestamp.tzinfo is UTC
        assert seconds == bar.timestamp.timestamp()
    assert [bar for _, bar in pairs] == _bars(source)


def test_same_seed_gives_identical_bars_and_another_seed_different_ones() -> None:
    def make(seed: int) -> SyntheticSource:
        return SyntheticSource(["AAPL", "MSFT"], start=START, count=50, seed=seed)

    assert _bars(make(7)) == _bars(make(7))
    assert [b.close for b in _bars(make(7))] != [b.close for b in _bars(make(8))]


def test_adding_a_symbol_does_not_change_another_symbols_prices() -> None:
    alone = _bars(SyntheticSource(["AAPL"], start=START, count=40, seed=3))
    together = _bars(SyntheticSource(["MSFT", "AAPL", "SPY"], start=START, count=40, seed=3))
    assert [b for b in together if b.symbol == "AAPL"] == alone


def test_high_and_low_enclose_open_and_close() -> None:
    for bar in _bars(SyntheticSource(["AAPL", "MSFT"], start=START, count=300, volatility=0.8, seed=11)):
        assert bar.high >= max(bar.open, bar.close)
        assert bar.low <= min(bar.open, bar.close)
        assert bar.low > 0
        assert bar.volume >= 0


def test_each_bar_opens_at_the_previous_close() -> None:
    bars = _bars(SyntheticSource(["AAPL"], start=START, count=20, start_price=50.0, seed=2))
    assert bars[0].open == 50.0
    assert all(b.open == a.close for a, b in itertools.pairwise(bars))


def test_zero_volatility_and_zero_drift_give_flat_prices() -> None:
    source = SyntheticSource(
        ["AAPL", "MSFT"], start=START, count=30, volatility=0.0, drift=0.0, start_price={"AAPL": 187.5, "MSFT": 410.0}
    )
    for bar in _bars(source):
        price = {"AAPL": 187.5, "MSFT": 410.0}[bar.symbol]
        assert (bar.open, bar.high, bar.low, bar.close) == (price, price, price, price)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0}, r"interval must be > 0, got 0"),
        ({"interval": -60}, r"interval must be > 0"),
        ({"count": -1}, r"count must be an integer >= 0, got -1"),
        ({"count": 2.5}, r"count must be an integer"),
        ({"start_price": {"AAPL": 100.0}}, r"start_price has no price for MSFT"),
        ({"start_price": {"AAPL": 100.0, "MSFT": -1.0}}, r"start_price of MSFT must be > 0"),
        ({"start": "yesterday-ish"}, r"^start: .*yesterday-ish"),
        ({"volatility": -0.1}, r"volatility must be >= 0"),
        ({"steps": 0}, r"steps must be an integer >= 1"),
    ],
)
def test_bad_parameters_raise_config_error_naming_the_parameter(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SyntheticSource(["AAPL", "MSFT"], **kwargs)  # type: ignore[arg-type]


def test_estimated_events_is_count_times_symbols() -> None:
    source = SyntheticSource(["AAPL", "MSFT", "SPY"], start=START, count=17, seed=1)
    assert source.estimated_events() == 17 * 3 == len(_bars(source))
    assert SyntheticSource(["AAPL"], count=0).estimated_events() == 0
    assert _bars(SyntheticSource(["AAPL"], count=0)) == []


def test_timed_blocks_flattened_equal_timed_events() -> None:
    # 6 000 events: more than one block.
    source = SyntheticSource(["AAPL", "MSFT"], start=START, count=3000, seed=5)
    blocks = list(source.timed_blocks())
    assert len(blocks) > 1
    assert [pair for block in blocks for pair in block] == list(source.timed_events())
