"""The built-in indicators agree with talipp (a well-kept incremental library) and with their definitions, refuse
bad periods, and stay exact over a long replay (running sums re-added from the window)."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st
from talipp.indicators import EMA as TalippEMA
from talipp.indicators import RSI as TalippRSI
from talipp.indicators import SMA as TalippSMA

from broker_sim import Bar
from broker_sim.indicators import EMA, RESUM, RSI, SMA, BarHistory, PerSymbol, StdDev
from tests.conftest import T0


def _walk(count: int, seed: int = 5) -> list[float]:
    draw = random.Random(seed)
    price, values = 100.0, []
    for _ in range(count):
        price *= 1 + draw.gauss(0, 0.01)
        values.append(price)
    return values


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(lambda: SMA(20), lambda: TalippSMA(20)), (lambda: EMA(20), lambda: TalippEMA(20)),
     (lambda: RSI(14), lambda: TalippRSI(14))],
    ids=["SMA", "EMA", "RSI"],
)  # fmt: skip
def test_the_indicators_agree_with_talipp(ours: object, theirs: object) -> None:
    mine, reference = ours(), theirs()  # type: ignore[operator]
    for value in _walk(600):
        got = mine.update(value)
        reference.add(value)
        expected = reference[-1]
        assert (got is None) == (expected is None)
        if got is not None:
            assert got == pytest.approx(expected, rel=1e-10)


@given(st.lists(st.floats(min_value=1.0, max_value=1e4), min_size=1, max_size=80), st.integers(1, 10))
def test_sma_and_stddev_are_the_mean_and_deviation_of_the_last_period_values(values: list[float], period: int) -> None:
    sma, deviation = SMA(period), StdDev(period)
    for index, value in enumerate(values):
        average, spread = sma.update(value), deviation.update(value)
        window = values[max(0, index + 1 - period) : index + 1]
        if index + 1 < period:
            assert average is None and spread is None and not sma.ready
        else:
            assert average == pytest.approx(statistics.fmean(window), rel=1e-9)
            # A deviation of 0 is computed from centred sums: exact to ~1e-8 of the values' magnitude.
            assert spread == pytest.approx(statistics.pstdev(window), rel=1e-6, abs=1e-7 * max(values))


def test_a_long_replay_does_not_drift() -> None:
    sma = SMA(7)
    values = [1e6 + (i % 13) * 0.1 for i in range(RESUM * 3 + 5)]
    for value in values:
        sma.update(value)
    assert sma.value == math.fsum(values[-7:]) / 7  # exact: the sum was re-added from the window


def test_the_sum_is_re_added_on_every_resum_th_full_update_exactly() -> None:
    # Every value equals, to the last bit, a running sum re-added from its window on the RESUM-th update after the
    # average first had a value, and every RESUM-th after that: the schedule (so each rounding) is the documented one.
    period = 5
    sma = SMA(period)
    values = [1e6 + ((i * 7919) % 101) * 0.37 for i in range(RESUM * 2 + period + 50)]
    total, full = 0.0, 0
    for index, value in enumerate(values):
        got = sma.update(value)
        if index < period - 1:
            total += value
            assert got is None
            continue
        if index == period - 1:
            total += value
        else:
            total = total + value - values[index - period]
            full += 1
            if full % RESUM == 0:
                total = math.fsum(values[index - period + 1 : index + 1])
        assert got == total / period, index


@pytest.mark.parametrize("period", [0, -3, 2.5, True, "5"])
def test_a_bad_period_is_refused_naming_it(period: object) -> None:
    with pytest.raises(ValueError, match=rf"period must be an integer >= 1, got {period!r}"):
        SMA(period)  # type: ignore[arg-type]


def test_per_symbol_state_and_bar_history() -> None:
    averages = PerSymbol(lambda: SMA(2))
    history = BarHistory(3)
    for minute, (symbol, close) in enumerate([("A", 1.0), ("B", 10.0), ("A", 3.0), ("A", 5.0), ("A", 7.0)]):
        bar = Bar(symbol, T0.replace(minute=minute), close, close, close, close)
        averages[symbol].update(close)
        history.update(bar)
    assert averages["A"].value == 6.0 and averages["B"].value is None and "B" in averages
    assert history.closes("A") == [3.0, 5.0, 7.0] and history.full("A") and not history.full("B")
    assert list(history["C"]) == []
