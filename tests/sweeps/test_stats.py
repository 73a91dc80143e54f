"""The overfitting statistics against the papers' published example and hand-computed cases."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_sim.sweeps.stats import (
    EULER_GAMMA,
    deflated_sharpe_ratios,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_moments,
)


def test_the_deflated_sharpe_ratio_reproduces_the_papers_numerical_example() -> None:
    """Bailey & López de Prado (2014), "A numerical example": 100 trials whose annualised Sharpe ratios vary with
    variance 1/2, the best one 2.5 annualised over 5 years of daily returns (T = 1250, 250 a year), skewness -3,
    kurtosis 10. The paper finds SR0 = 0.1132 per period and DSR = 0.9004."""
    periods = 250
    threshold = expected_max_sharpe(100, 0.5 / periods)
    assert threshold == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe_ratio(2.5 / math.sqrt(periods), threshold, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=2e-4)


def test_the_probabilistic_sharpe_ratio_of_normal_returns_by_hand() -> None:
    """SR 0.1 per period over T = 101 normal returns (skew 0, kurtosis 3) against 0:
    z = 0.1 x sqrt(100) / sqrt(1 + 2/4 x 0.01) = 1 / sqrt(1.005)."""
    expected = NormalDist().cdf(1 / math.sqrt(1.005))
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101, 0.0, 3.0) == pytest.approx(expected, rel=1e-12)


def test_expected_max_sharpe_of_one_trial_is_zero_and_grows_with_trials() -> None:
    assert expected_max_sharpe(1, 0.04) == 0.0
    two = (1 - EULER_GAMMA) * NormalDist().inv_cdf(0.5) + EULER_GAMMA * NormalDist().inv_cdf(1 - 1 / (2 * math.e))
    assert expected_max_sharpe(2, 0.04) == pytest.approx(0.2 * two)
    assert expected_max_sharpe(10, 0.04) < expected_max_sharpe(100, 0.04) < expected_max_sharpe(1000, 0.04)


def test_sharpe_moments_by_hand() -> None:
    """Returns 1, 2, 3, 4 (per cent): mean 2.5, stdev (ddof 1) sqrt(5/3); symmetric, so skew 0; population
    kurtosis = mean((x - 2.5)^4) / var^2 = 10.25 / 1.5625 = 6.5625 / ... computed exactly below."""
    sharpe, skew, kurtosis, count = sharpe_moments([0.01, 0.02, 0.03, 0.04])
    assert count == 4
    assert sharpe == pytest.approx(0.025 / math.sqrt(5 / 3 * 1e-4))
    assert skew == pytest.approx(0.0, abs=1e-12)
    centred = [-1.5, -0.5, 0.5, 1.5]
    fourth = sum(c**4 for c in centred) / 4
    second = sum(c**2 for c in centred) / 4
    assert kurtosis == pytest.approx(fourth / second**2)


def test_flat_returns_have_no_sharpe_ratio_and_no_psr() -> None:
    sharpe, _, _, _ = sharpe_moments([0.0, 0.0, 0.0])
    assert math.isnan(sharpe)
    psr, dsr, _ = deflated_sharpe_ratios([[0.0, 0.0, 0.0], [0.01, -0.01, 0.02]])
    assert math.isnan(psr[0]) and math.isnan(dsr[0])
    assert 0 < psr[1] < 1


def test_the_dsr_is_below_the_psr_when_several_trials_were_run() -> None:
    rng = np.random.default_rng(3)
    trials = [rng.normal(0.001 * i, 0.01, 500) for i in range(10)]
    psr, dsr, threshold = deflated_sharpe_ratios(trials)
    assert threshold > 0
    assert all(d <= p for p, d in zip(psr, dsr, strict=True))
    assert dsr[0] < psr[0] and dsr[5] < psr[5]


def test_pbo_is_one_when_the_in_sample_winner_always_loses_out_of_sample() -> None:
    """Two blocks of two rows (S = 2: two splits). Strategy A gains in the first block and loses in the second,
    B the reverse, C is middling throughout. Split {block 0}: A wins in sample, and out of sample (block 1) it is
    last: rank 1 of 3, w = 1/4, logit < 0. Split {block 1}: B wins, and is last in block 0. PBO = 2/2 = 1."""
    matrix = np.array(
        [
            [0.03, -0.02, 0.001],
            [0.02, -0.03, 0.002],
            [-0.02, 0.03, 0.001],
            [-0.03, 0.02, 0.002],
        ]
    )
    result = probability_of_backtest_overfitting(matrix, blocks=2)
    assert result.blocks == 2 and result.trials == 3 and result.observations == 4
    assert result.pbo == 1.0
    assert result.logits == pytest.approx((math.log(1 / 3), math.log(1 / 3)))
    assert result.oos_loss == 1.0


def test_pbo_is_zero_when_one_strategy_is_best_in_every_block() -> None:
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 0.01, (64, 5))
    noise[:, 2] += 0.05  # far ahead in every block
    result = probability_of_backtest_overfitting(noise, blocks=8)
    assert result.pbo == 0.0
    assert len(result.logits) == math.comb(8, 4)
    assert all(v > 0 for v in result.logits)


def test_pbo_of_pure_noise_is_one_half_on_average() -> None:
    """Choosing among strategies with no edge is a coin flip out of sample (the paper's null): one matrix's PBO
    varies widely, their mean over many matrices is 0.5."""
    values = [
        probability_of_backtest_overfitting(np.random.default_rng(seed).normal(0, 0.01, (160, 10)), blocks=8).pbo
        for seed in range(60)
    ]
    assert 0.43 < float(np.mean(values)) < 0.57
    full = probability_of_backtest_overfitting(np.random.default_rng(0).normal(0, 0.01, (320, 12)))
    assert len(full.logits) == math.comb(16, 8) and full.blocks == 16


def test_pbo_needs_two_points_and_enough_returns() -> None:
    assert math.isnan(probability_of_backtest_overfitting(np.zeros((100, 1))).pbo)
    too_short = probability_of_backtest_overfitting(np.ones((3, 4)))
    assert math.isnan(too_short.pbo) and "returns or more" in too_short.note
    halved = probability_of_backtest_overfitting(np.random.default_rng(1).normal(0, 1, (20, 3)), blocks=16)
    assert halved.blocks == 10 and halved.observations == 20


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=2, max_value=6), st.integers(min_value=8, max_value=40), st.integers(0, 10_000))
def test_pbo_is_a_probability_and_does_not_depend_on_the_order_of_the_points(trials: int, rows: int, seed: int) -> None:
    matrix = np.random.default_rng(seed).normal(0, 0.01, (rows, trials))
    result = probability_of_backtest_overfitting(matrix, blocks=4)
    assert 0.0 <= result.pbo <= 1.0
    reordered = probability_of_backtest_overfitting(matrix[:, ::-1], blocks=4)
    assert reordered.pbo == pytest.approx(result.pbo)
