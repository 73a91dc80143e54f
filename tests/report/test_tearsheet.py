"""The report's figures against the reference library (quantstats) on the same returns, and the tearsheet's
sections: benchmark, monthly returns, drawdown periods, rolling figures, excursions, the page itself."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from broker_sim.models import Fill, Side
from broker_sim.report import EquitySample, compute_metrics, write_report
from broker_sim.report.tearsheet import (
    benchmark_curve,
    drawdown_periods,
    excursions,
    monthly_returns,
    rolling_figures,
)
from broker_sim.report.trades import ClosedTrade

T0 = datetime(2025, 1, 2, 21, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CLOSE = 1e-9


def _curve(returns: list[float], start: float = 100_000.0) -> list[float]:
    values = [start]
    for r in returns:
        values.append(values[-1] * (1 + r))
    return values


def _samples(values: list[float]) -> list[EquitySample]:
    return [EquitySample(T0 + i * DAY, v, 1.0) for i, v in enumerate(values)]


@pytest.fixture(scope="module")
def qs() -> Any:
    """quantstats, imported by the worker that runs these tests only (its import costs ~2 s of CPU: a top-level
    import made every xdist worker pay it at collection)."""
    import quantstats

    return quantstats


@pytest.fixture(scope="module")
def fixed_returns() -> tuple[list[float], list[float]]:
    """90 daily returns of a strategy and of its benchmark, drawn once from a seeded generator."""
    draw = random.Random(15)
    bench = [draw.gauss(0.0004, 0.011) for _ in range(90)]
    strategy = [0.6 * b + draw.gauss(0.0002, 0.006) for b in bench]
    return strategy, bench


def test_volatility_sharpe_sortino_and_drawdown_match_quantstats(qs: Any, fixed_returns) -> None:
    strategy, _ = fixed_returns
    equity = _curve(strategy)
    metrics = compute_metrics(_samples(equity), [], [], equity[0])
    series = pd.Series(strategy, index=pd.date_range("2025-01-03", periods=len(strategy), freq="D"))
    assert metrics.annual_volatility == pytest.approx(qs.stats.volatility(series, periods=252), rel=CLOSE)
    assert metrics.sharpe == pytest.approx(qs.stats.sharpe(series, periods=252), rel=CLOSE)
    assert metrics.sortino == pytest.approx(qs.stats.sortino(series, periods=252), rel=CLOSE)
    assert metrics.max_drawdown == pytest.approx(qs.stats.max_drawdown(series), rel=1e-6)
    assert metrics.total_return == pytest.approx(qs.stats.comp(series), rel=1e-9)


def test_skew_tail_ratio_and_value_at_risk_match_quantstats(qs: Any, fixed_returns) -> None:
    strategy, _ = fixed_returns
    equity = _curve(strategy)
    metrics = compute_metrics(_samples(equity), [], [], equity[0])
    series = pd.Series(strategy, index=pd.date_range("2025-01-03", periods=len(strategy), freq="D"))
    assert metrics.skew == pytest.approx(qs.stats.skew(series), rel=1e-9)
    assert metrics.tail_ratio == pytest.approx(qs.stats.tail_ratio(series), rel=1e-9)
    assert metrics.value_at_risk == pytest.approx(qs.stats.value_at_risk(series), rel=1e-9)
    assert math.isnan(metrics.calmar)  # 90 days: no CAGR, so no Calmar
    year = compute_metrics(_samples(_curve(strategy * 5)), [], [], equity[0])
    assert year.calmar == pytest.approx(year.cagr / abs(year.max_drawdown), rel=1e-12)


def test_alpha_and_beta_match_quantstats_greeks(qs: Any, fixed_returns) -> None:
    strategy, bench = fixed_returns
    equity, bench_values = _curve(strategy), _curve(bench)
    metrics = compute_metrics(_samples(equity), [], [], equity[0], benchmark=("SPY", bench_values))
    index = pd.date_range("2025-01-03", periods=len(strategy), freq="D")
    greeks = qs.stats.greeks(pd.Series(strategy, index=index), pd.Series(bench, index=index), periods=252)
    assert metrics.beta == pytest.approx(greeks["beta"], rel=1e-9)
    assert metrics.alpha == pytest.approx(greeks["alpha"], rel=1e-9)
    assert metrics.benchmark == "SPY"
    assert metrics.benchmark_return == pytest.approx(bench_values[-1] / bench_values[0] - 1, rel=CLOSE)


def test_rolling_volatility_matches_pandas_rolling_std() -> None:
    draw = random.Random(3)
    returns = [draw.gauss(0, 0.01) for _ in range(300)]
    window, volatility, sharpe = rolling_figures(np.array(returns), 252.0)
    assert window == 63  # a quarter of the run, at most a quarter of trading days
    expected = pd.Series(returns).rolling(window).std() * math.sqrt(252)
    assert volatility[window - 1 :] == pytest.approx(expected[window - 1 :].to_numpy(), rel=1e-9)
    assert math.isnan(volatility[window - 2]) and math.isnan(sharpe[0])


def test_a_rolling_window_is_sized_to_the_run_and_needs_two_of_them() -> None:
    """The issue's run: 17 daily returns made a 2-return window whose Sharpe swung from -60 to +20."""
    draw = random.Random(4)
    short = np.array([draw.gauss(0, 0.01) for _ in range(17)])
    window, volatility, sharpe = rolling_figures(short, 252.0)
    assert window == 20 and np.isnan(volatility).all() and np.isnan(sharpe).all()
    sized = np.array([draw.gauss(0, 0.01) for _ in range(120)])
    window, volatility, _ = rolling_figures(sized, 252.0)
    assert window == 30 and np.isfinite(volatility[29:]).all()


def test_monthly_returns_chain_to_the_total_return() -> None:
    start = datetime(2024, 11, 15, tzinfo=UTC)
    samples = [EquitySample(start + i * DAY * 10, 1000.0 * (1.01**i), 0.0) for i in range(12)]
    table = monthly_returns(samples, 1000.0)
    assert sorted(table) == [2024, 2025]
    compounded = 1.0
    for year in table.values():
        for month, value in year.items():
            if month:
                compounded *= 1 + value
    assert compounded - 1 == pytest.approx(samples[-1].equity / 1000.0 - 1, rel=1e-12)
    year_2024 = (1 + table[2024][11]) * (1 + table[2024][12]) - 1
    assert table[2024][0] == pytest.approx(year_2024, rel=1e-12)


def test_drawdown_periods_are_ranked_by_depth_with_their_recovery() -> None:
    samples = _samples([100.0, 90.0, 100.0, 120.0, 84.0, 96.0])
    periods = drawdown_periods(samples)
    assert [round(p.depth, 6) for p in periods] == [round(84 / 120 - 1, 6), round(90 / 100 - 1, 6)]
    deepest, second = periods
    assert deepest.peak == T0 + 3 * DAY and deepest.trough == T0 + 4 * DAY and deepest.recovery is None
    assert deepest.days == pytest.approx(2.0)
    assert second.recovery == T0 + 2 * DAY and second.days == pytest.approx(2.0)


def test_benchmark_buys_each_symbol_at_its_first_price_in_equal_weights() -> None:
    times = [T0 + i * DAY for i in range(3)]
    prices = [{"AAPL": 100.0}, {"AAPL": 110.0, "MSFT": 50.0}, {"AAPL": 121.0, "MSFT": 40.0}]
    name, values = benchmark_curve(times, prices, 1000.0)
    assert name == "buy and hold equal-weight AAPL, MSFT"
    # MSFT's half stays cash until its first price
    assert values == pytest.approx([1000.0, 500 * 1.1 + 500, 500 * 1.21 + 500 * 0.8])
    only, msft = benchmark_curve(times, prices, 1000.0, "MSFT")
    assert only == "buy and hold MSFT" and msft == pytest.approx([1000.0, 1000.0, 800.0])
    assert benchmark_curve(times, [{}, {}, {}], 1000.0) is None


def test_excursions_are_the_worst_and_best_open_pnl_at_the_sampled_prices() -> None:
    times = [T0 + i * DAY for i in range(5)]
    prices = [{"X": 10.0}, {"X": 8.0}, {"X": 13.0}, {"X": 11.0}, {"X": 5.0}]
    long = ClosedTrade("X", "long", 2.0, times[0], times[3], 10.0, 11.0, 2.0, 0.0)
    short = ClosedTrade("X", "short", 1.0, times[1], times[4], 8.0, 5.0, 3.0, 0.0)
    first, second = excursions([long, short], times, prices)
    assert (first.mae, first.mfe) == (2 * (8 - 10), 2 * (13 - 10))
    assert (second.mae, second.mfe) == (-(13 - 8), 8 - 5)


SECTIONS = ('id="summary"', 'id="returns"', 'id="drawdowns"', 'id="attribution"', 'id="trades"', 'id="orders"')


def test_the_page_has_every_section_and_shows_percentages(tmp_path: Path, fixed_returns) -> None:
    strategy, bench = fixed_returns
    equity = _samples(_curve(strategy))
    fills = [
        Fill("o1", "SPY", Side.BUY, 10, 400.0, 1.0, T0 + DAY, 400.0, "e1", "trend"),
        Fill("o2", "SPY", Side.SELL, 10, 410.0, 1.0, T0 + 5 * DAY, 410.0, "e2", "trend"),
    ]
    benchmark = ("buy and hold SPY", _curve(bench))
    metrics = compute_metrics(equity, fills, [], equity[0].equity, benchmark=benchmark)
    write_report(
        tmp_path, metrics=metrics, equity=equity, fills=fills, orders=[], benchmark=benchmark, title="fixed returns"
    )
    html = (tmp_path / "report.html").read_text()
    for section in SECTIONS:
        assert section in html
    assert f"{metrics.total_return:.2%}" in html
    assert "Monthly and yearly returns" in html and "Worst drawdowns" in html and "Rolling volatility" in html
    assert "buy and hold SPY" in html and "By strategy" in html and "MAE" in html
    assert html.count("data:image/png;base64,") == 5  # equity, exposure, histogram, rolling, P&L
    for figure in ("calmar", "skew", "tail ratio", "value at risk"):
        assert f'<th class="left">{figure}</th>' in html
    assert "+00:00" not in html.split('id="definitions"')[0]  # times shown to the second, UTC said once
    assert "https://" not in html and "<script" not in html


def test_tearsheet_option_writes_quantstats_page(tmp_path: Path, fixed_returns) -> None:
    strategy, bench = fixed_returns
    equity = _samples(_curve(strategy))
    metrics = compute_metrics(equity, [], [], equity[0].equity)
    paths = write_report(
        tmp_path / "out",
        metrics=metrics,
        equity=equity,
        fills=[],
        orders=[],
        benchmark=("buy and hold SPY", _curve(bench)),
        tearsheet=True,
    )
    page = paths["html"].parent / "tearsheet.html"
    assert page.stat().st_size > 10_000
    assert "Sharpe" in page.read_text()
