"""The columnar equity curve (issue 25, memory flat): it reads back as the list of samples and price dicts the run
kept before, the run's sampler fills it as the old list was filled, the report's column arithmetic gives the same
numbers as the list-based functions, and the charts are thinned to their extremes."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import itertools
import random
import weakref
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from broker_sim import Bar, PaperBroker, SimulatedClock, run_simulation
from broker_sim.report.charts import CHART_POINTS, extreme_indices
from broker_sim.report.curve import EquityCurve, EquitySample
from broker_sim.report.metrics import curve_returns, drawdowns, period_returns
from broker_sim.report.tearsheet import (
    benchmark_curve,
    benchmark_of,
    chart_returns,
    curve_chart_returns,
    excursions,
)
from broker_sim.report.trades import ClosedTrade
from broker_sim.run.sampling import EquitySampler, last_prices
from broker_sim.strategy_broker import StrategyBroker
from broker_sim.wiring import parse_config

T0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)


def _walk(count: int, step: timedelta, seed: int = 3) -> tuple[list[EquitySample], list[dict[str, float]]]:
    """Samples of a random equity curve and the prices with them: AAA from the start, BBB from a third in, and
    now and then a sample without prices (a broker that could not tell them)."""
    rng = random.Random(seed)
    equity, aaa, bbb = 100_000.0, 50.0, 20.0
    samples, prices = [], []
    for i in range(count):
        equity *= 1 + rng.gauss(0, 0.004)
        aaa *= 1 + rng.gauss(0, 0.01)
        bbb *= 1 + rng.gauss(0, 0.01)
        samples.append(EquitySample(T0 + i * step, equity, rng.choice([0.0, 0.0, 5_000.0 + i])))
        row = {"AAA": aaa} if i < count // 3 else {"AAA": aaa, "BBB": bbb}
        prices.append({} if i % 17 == 5 else row)
    return samples, prices


def _curve(samples: list[EquitySample], prices: list[dict[str, float]]) -> EquityCurve:
    curve = EquityCurve()
    for sample, row in zip(samples, prices, strict=True):
        curve.append(sample.timestamp.timestamp(), sample.equity, sample.exposure, row)
    return curve


# -- the curve reads back as the list it replaces ------------------------------------------------------------


def test_a_curve_reads_back_as_the_samples_and_price_dicts_it_was_given() -> None:
    samples, prices = _walk(500, timedelta(minutes=7))
    curve = _curve(samples, prices)
    assert len(curve) == 500
    assert list(curve) == samples and curve == samples and curve[-1] == samples[-1] and curve[3] == samples[3]
    assert repr(curve) == repr(tuple(samples))  # what Result.equity printed (and the digests hash)
    assert list(curve[10:20]) == samples[10:20]
    assert [dict(row) for row in curve.prices] == prices
    assert curve.prices_at(-1) == prices[-1] and curve.symbols == ["AAA", "BBB"]
    assert np.isnan(curve.price_column("BBB")[: 500 // 3]).all()


def test_prepended_samples_come_first_without_prices() -> None:
    samples, prices = _walk(50, timedelta(hours=1))
    curve = _curve(samples[10:], prices[10:])
    curve.prepend(samples[:10])
    assert list(curve) == samples
    assert [dict(row) for row in curve.prices] == [{}] * 10 + prices[10:]


def test_a_curve_holds_eight_bytes_per_number() -> None:
    samples, prices = _walk(10_000, timedelta(minutes=1))
    curve = _curve(samples, prices)
    held = sum(column.itemsize * len(column) for column in (curve.seconds, curve.equity, curve.exposure))
    held += sum(curve.price_column(symbol).nbytes for symbol in curve.symbols)
    assert held == 10_000 * 8 * 5


def test_the_sampler_records_what_the_list_of_samples_recorded() -> None:
    async def scenario() -> tuple[list[EquitySample], list[dict[str, float]], EquitySampler]:
        clock = SimulatedClock(T0)
        broker = PaperBroker(100_000, seed=1, clock=clock, latency="none")
        sampler = EquitySampler()
        expected, expected_prices = [], []
        for i in range(40):
            when = T0 + timedelta(minutes=i)
            await clock.advance_to(when)
            await broker.update_market(Bar("AAA", when, 10 + i, 11 + i, 9 + i, 10.5 + i, 1_000))
            if i % 10 == 0:
                await broker.buy("AAA", 5)
            await sampler.sample(broker)
            account = await broker.get_account()  # the list-based sampler's sample, built the old way
            expected.append(EquitySample(broker.clock.now(), account.equity, account.gross_exposure))
            expected_prices.append(dict(broker.last_prices()))
        return expected, expected_prices, sampler

    expected, expected_prices, sampler = asyncio.run(scenario())
    assert list(sampler.equity) == expected and repr(sampler.equity) == repr(tuple(expected))
    assert [dict(row) for row in sampler.prices] == expected_prices


class _Failing(PaperBroker):
    """A paper broker whose prices cannot be read."""

    def last_prices(self) -> dict[str, float]:
        raise RuntimeError("no prices today")


def test_the_sampler_marks_each_broker_it_samples_at_that_brokers_prices_and_logs_one_that_cannot_tell(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> EquitySampler:
        sampler = EquitySampler()
        for broker, price in ((PaperBroker(100_000, clock=SimulatedClock(T0)), 10.0), (_Failing(50_000), 20.0)):
            await broker.update_market(Bar("AAA", T0, price, price, price, price, 1_000))
            await sampler.sample(broker)
            await sampler.sample(broker)
        await sampler.sample(PaperBroker(75_000, clock=SimulatedClock(T0)))  # no market data: no prices
        return sampler

    sampler = asyncio.run(scenario())
    assert [sample.equity for sample in sampler.equity] == [100_000, 100_000, 50_000, 50_000, 75_000]
    assert [dict(row) for row in sampler.prices] == [{"AAA": 10.0}, {"AAA": 10.0}, {}, {}, {}]
    assert [record.getMessage() for record in caplog.records] == ["reading the last market prices failed"] * 2


def test_the_sampler_keeps_no_broker_it_sampled_alive() -> None:
    async def scenario() -> tuple[EquitySampler, weakref.ref[PaperBroker]]:
        sampler = EquitySampler()
        broker = PaperBroker(100_000, clock=SimulatedClock(T0))
        await broker.update_market(Bar("AAA", T0, 10.0, 10.0, 10.0, 10.0, 1_000))
        await sampler.sample(broker)
        return sampler, weakref.ref(broker)

    sampler, gone = asyncio.run(scenario())
    gc.collect()
    assert gone() is None  # the broker went with the run: the sampler held it by a weak reference only
    after = PaperBroker(50_000, clock=SimulatedClock(T0))  # a broker sampled next is asked about prices afresh
    asyncio.run(after.update_market(Bar("BBB", T0, 20.0, 20.0, 20.0, 20.0, 1_000)))
    asyncio.run(sampler.sample(after))
    assert [sample.equity for sample in sampler.equity] == [100_000, 50_000]
    assert [dict(row) for row in sampler.prices] == [{"AAA": 10.0}, {"BBB": 20.0}]


def test_last_prices_are_the_paper_brokers_prices_and_none_from_a_broker_that_cannot_tell(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = PaperBroker(100_000, clock=SimulatedClock(T0))
    asyncio.run(broker.update_market(Bar("AAA", T0, 10.0, 10.5, 9.5, 10.25, 1_000)))
    assert last_prices(broker) == {"AAA": 10.25}
    assert last_prices(StrategyBroker(broker, "view")) is None  # an adapter without `last_prices`
    assert last_prices(_Failing(50_000)) is None
    assert [record.getMessage() for record in caplog.records] == ["reading the last market prices failed"]


# -- the report's column arithmetic gives the list-based numbers -----------------------------------------------


@pytest.mark.parametrize(
    ("count", "step"), [(900, timedelta(hours=1)), (300, timedelta(minutes=1)), (2, timedelta(days=1)), (1, T0 - T0)]
)
def test_returns_drawdowns_and_benchmark_from_columns_equal_the_list_based_ones(count: int, step: timedelta) -> None:
    samples, prices = _walk(count, step)
    curve = _curve(samples, prices)
    times, values = [s.timestamp for s in samples], [s.equity for s in samples]
    returns, periods = curve_returns(curve)
    expected, expected_periods = period_returns(times, values)
    assert returns.tobytes() == expected.tobytes() and repr(periods) == repr(expected_periods)
    assert drawdowns(curve) == drawdowns(samples) == _drawdowns_by_hand(values)
    charted, chart_periods, basis = curve_chart_returns(curve)
    old = chart_returns(times, values)
    assert (charted.tobytes(), repr(chart_periods), basis) == (old[0].tobytes(), repr(old[1]), old[2])
    gapless = [prices[i - 1] if not row and i else row for i, row in enumerate(prices)]  # a price at every sample
    for rows in (prices, gapless):
        priced = _curve(samples, rows)
        for wanted in (None, "BBB", "ZZZ"):
            mine, theirs = benchmark_of(priced, 100_000.0, wanted), benchmark_curve(times, rows, 100_000.0, wanted)
            assert (mine is None) == (theirs is None)
            if mine is not None and theirs is not None:
                assert mine[0] == theirs[0] and list(mine[1]) == theirs[1]


def test_returns_of_samples_out_of_date_order_keep_the_list_based_rule() -> None:
    samples, _ = _walk(100, timedelta(hours=5))
    shuffled = samples[50:] + samples[:50]
    curve = EquityCurve.of(shuffled)
    returns, periods = curve_returns(curve)
    expected, expected_periods = period_returns([s.timestamp for s in shuffled], [s.equity for s in shuffled])
    assert returns.tobytes() == expected.tobytes() and periods == expected_periods


def test_excursions_read_from_the_price_columns_match_the_price_dicts() -> None:
    samples, prices = _walk(300, timedelta(minutes=30))
    curve = _curve(samples, prices)
    trades = [
        ClosedTrade("AAA", "long", 10.0, samples[5].timestamp, samples[80].timestamp, 50.0, 51.0, 10.0, 0.0),
        ClosedTrade("BBB", "short", 4.0, samples[90].timestamp, samples[299].timestamp, 20.0, 19.0, 4.0, 0.0),
    ]
    assert excursions(trades, curve) == excursions(trades, [s.timestamp for s in samples], prices)


def _drawdowns_by_hand(values: list[float]) -> list[float]:
    peak, result = -float("inf"), []
    for value in values:
        peak = max(peak, value)
        result.append(value / peak - 1.0 if peak > 0 else 0.0)
    return result


# -- charts: thinned to their extremes ------------------------------------------------------------------------


def test_a_short_series_is_drawn_whole() -> None:
    assert extreme_indices([np.arange(CHART_POINTS, dtype=float)]).tolist() == list(range(CHART_POINTS))


def test_a_long_series_keeps_every_buckets_extremes_within_the_limit() -> None:
    rng = np.random.default_rng(7)
    equity = 1e6 + rng.normal(0, 1_000, 200_000).cumsum()
    equity[123_457] = equity.min() - 50_000  # a one-sample crash must stay visible
    drawdown = equity / np.maximum.accumulate(equity) - 1.0
    shown = extreme_indices([equity, drawdown], 1_000)
    assert len(shown) <= 1_000 and shown[0] == 0 and shown[-1] == len(equity) - 1
    assert (np.diff(shown) > 0).all()  # in order, once each
    assert 123_457 in shown and equity[shown].max() == equity.max() and drawdown[shown].min() == drawdown.min()
    edges = np.linspace(0, len(equity), (1_000 - 2) // 4 + 1).astype(int)
    for start, end in itertools.pairwise(edges.tolist()):  # every bucket's lowest and highest are drawn
        assert start + int(np.argmin(equity[start:end])) in shown and start + int(np.argmax(equity[start:end])) in shown


def test_thinning_ignores_gaps() -> None:
    values = np.full(10_000, np.nan)
    values[::3] = np.sin(np.arange(0, 10_000, 3) / 500)
    shown = extreme_indices([values], 200)
    assert len(shown) <= 200 and np.nanmax(values[shown]) == np.nanmax(values)


# -- the report's numbers: byte-identical to the list-based code's ---------------------------------------------

CONFIG = """
broker: {{adapter: paper, initial_balance: 100000, seed: 7, session: always}}
models:
  slippage: {{model: fixed_bps, bps: 5}}
  latency: {{model: uniform, low: 0.5, high: 2.0}}
prices:
  clock: simulated
  sources: [{{source: synthetic, symbols: [AAA, BBB], interval: 3600, count: 2000, volatility: 0.4}}]
strategy: {{class: examples.sma_cross:SmaCross, params: {{fast: 5, slow: 20, quantity: 10}}}}
report: {{out: '{out}', equity_interval: 3600}}
"""

#: sha256 of summary.json and equity.csv written by the code before the curve was columnar (commit f89fb6e).
EXPECTED = {
    "summary.json": "760b3b079384bb3773d35e17f37a3e6bf4ca99c888e79e5a08bd60ae2a0ddddc",
    "equity.csv": "4eb2e4d46237ed4ea9308101d357cec279e7ac523c59f3bb1dfe24227449889a",
}


def test_the_report_writes_the_same_numbers_as_the_list_based_code(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    result = run_simulation(parse_config(CONFIG.format(out=tmp_path / "report"), base_dir=root))
    found = {name: hashlib.sha256((tmp_path / "report" / name).read_bytes()).hexdigest() for name in EXPECTED}
    assert found == EXPECTED
    assert isinstance(result.equity, EquityCurve) and len(result.equity) > CHART_POINTS // 10
