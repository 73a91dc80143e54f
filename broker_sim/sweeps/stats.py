"""How much of a sweep's best result is luck: the deflated Sharpe ratio and the probability of backtest overfitting.

**Probabilistic Sharpe ratio** (Bailey and López de Prado, "The Sharpe Ratio Efficient Frontier", Journal of
Risk 15(2), 2012): the probability that the true Sharpe ratio exceeds a benchmark SR*, given the estimate SR
(per period, not annualised) from T returns of skewness g3 and (non-excess) kurtosis g4::

    PSR(SR*) = Phi( (SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2) )

**Deflated Sharpe ratio** (Bailey and López de Prado, "The Deflated Sharpe Ratio: Correcting for Selection
Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5), 2014,
https://www.davidhbailey.com/dhbpapers/deflated-sharpe.pdf): the PSR against the Sharpe ratio the best of N
trials reaches by luck alone, when the trials' Sharpe ratios vary with variance V::

    SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))      gamma = 0.5772... (Euler)
    DSR = PSR(SR0)

Here N is the number of points that ran (their Sharpe ratios finite): the paper's N counts independent
trials, and neighbouring grid points are not independent, so the DSR is on the strict side. V is the sample
variance (ddof 1) of their per-period Sharpe ratios.

**Probability of backtest overfitting** by combinatorially symmetric cross-validation (Bailey, Borwein, López
de Prado and Zhu, "The Probability of Backtest Overfitting", Journal of Computational Finance 20(4), 2017,
https://www.davidhbailey.com/dhbpapers/backtest-prob.pdf): the T x N matrix of the points' returns (rows lined
up by date) is cut into S blocks of consecutive rows; for each of the C(S, S/2) ways to pick half the blocks as
the in-sample set (the rest out of sample), the point with the best in-sample Sharpe ratio is found, and its
out-of-sample rank r among the N points gives w = r / (N + 1) and the logit l = ln(w / (1 - w)). PBO is the
share of splits with l <= 0: how often the in-sample winner ends at or below the median out of sample. 0.5 is
what pure noise scores; near 0 means the selection carries over.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist

import attrs
import numpy as np

from broker_sim._numeric import VARIANCE_FLOOR

__all__ = [
    "EULER_GAMMA",
    "Overfitting",
    "deflated_sharpe_ratios",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "sharpe_moments",
]

EULER_GAMMA = 0.5772156649015329
#: Blocks CSCV cuts the returns into (the paper's choice); fewer when there are too few returns.
DEFAULT_BLOCKS = 16
_NORMAL = NormalDist()
#: Splits ranked at once (bounds the memory: splits x points floats per matrix).
_CHUNK = 1024


def sharpe_moments(returns: Sequence[float] | np.ndarray) -> tuple[float, float, float, int]:
    """The per-period Sharpe ratio (mean / stdev, ddof 1), skewness, non-excess kurtosis and count of
    `returns`; NaN figures when there are fewer than two returns or they do not vary."""
    values = np.asarray(returns, dtype=float)
    count = len(values)
    if count < 2:
        return math.nan, math.nan, math.nan, count
    deviation = float(np.std(values, ddof=1))
    if not deviation > 0:
        return math.nan, math.nan, math.nan, count
    centred = values - values.mean()
    population = float(np.sqrt(np.mean(centred**2)))
    skew = float(np.mean(centred**3)) / population**3
    kurtosis = float(np.mean(centred**4)) / population**4
    return float(values.mean()) / deviation, skew, kurtosis, count


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, observations: int, skew: float, kurtosis: float
) -> float:
    """PSR(benchmark): the probability that the true per-period Sharpe ratio exceeds `benchmark` (see the module
    docstring); NaN when it cannot be told."""
    if observations < 2 or not all(math.isfinite(v) for v in (sharpe, benchmark, skew, kurtosis)):
        return math.nan
    spread = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not spread > 0:
        return math.nan
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(spread))


def expected_max_sharpe(trials: int, variance: float) -> float:
    """SR0: the Sharpe ratio the best of `trials` reaches by luck when their Sharpe ratios have `variance`
    (0 for a single trial: nothing was selected)."""
    if trials < 2 or not math.isfinite(variance) or variance < 0:
        return 0.0
    quantiles = (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / trials) + EULER_GAMMA * _NORMAL.inv_cdf(
        1 - 1 / (trials * math.e)
    )
    return math.sqrt(variance) * quantiles


def deflated_sharpe_ratios(returns: Sequence[Sequence[float]]) -> tuple[list[float], list[float], float]:
    """Each trial's PSR(0) and DSR, and SR0, from each trial's per-period returns (a sweep's points)."""
    moments = [sharpe_moments(series) for series in returns]
    ratios = [m[0] for m in moments if math.isfinite(m[0])]
    variance = float(np.var(ratios, ddof=1)) if len(ratios) >= 2 else 0.0
    threshold = expected_max_sharpe(len(ratios), variance)
    psr = [probabilistic_sharpe_ratio(s, 0.0, n, g3, g4) for s, g3, g4, n in moments]
    dsr = [probabilistic_sharpe_ratio(s, threshold, n, g3, g4) for s, g3, g4, n in moments]
    return psr, dsr, threshold


@attrs.frozen(slots=True)
class Overfitting:
    """CSCV's answer: PBO, the share of splits whose in-sample winner lost money out of sample, each split's
    logit, and what it was computed on (or `note`, why it could not be)."""

    pbo: float
    oos_loss: float = math.nan
    logits: tuple[float, ...] = ()
    blocks: int = 0
    observations: int = 0
    trials: int = 0
    note: str = ""


def probability_of_backtest_overfitting(matrix: np.ndarray, blocks: int = DEFAULT_BLOCKS) -> Overfitting:
    """PBO by CSCV (see the module docstring) of `matrix`: T rows of returns (lined up in time) x N trials.

    With fewer rows than ``2 x blocks`` the blocks are halved (down to 2, even) so each holds two returns; the
    first ``T mod blocks`` rows are left out so the blocks are equal."""
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2 or values.shape[1] < 2:
        return Overfitting(math.nan, note="needs two points or more")
    rows, trials = values.shape
    while blocks > 2 and rows < 2 * blocks:
        blocks -= 2
    if blocks < 2 or blocks % 2 or rows < 2 * blocks:
        return Overfitting(
            math.nan, observations=rows, trials=trials, note=f"needs {2 * max(blocks, 2)} returns or more"
        )
    size = rows // blocks
    values = values[rows - size * blocks :]
    chunks = values.reshape(blocks, size, trials)
    sums, squares = chunks.sum(axis=1), (chunks**2).sum(axis=1)
    splits = np.array(
        [
            [1.0 if b in chosen else 0.0 for b in range(blocks)]
            for chosen in itertools.combinations(range(blocks), blocks // 2)
        ]
    )
    count = size * blocks // 2
    logits: list[np.ndarray] = []
    losses = 0
    for start in range(0, len(splits), _CHUNK):
        part = splits[start : start + _CHUNK]
        inside = _sharpe(part @ sums, part @ squares, count)
        outside = _sharpe((1 - part) @ sums, (1 - part) @ squares, count)
        best = np.argmax(inside, axis=1)
        chosen = outside[np.arange(len(part)), best][:, None]
        rank = 1 + (outside < chosen).sum(axis=1) + 0.5 * ((outside == chosen).sum(axis=1) - 1)
        relative = rank / (trials + 1)
        logits.append(np.log(relative / (1 - relative)))
        losses += int(((chosen[:, 0] < 0) & np.isfinite(chosen[:, 0])).sum())
    every = np.concatenate(logits)
    return Overfitting(
        float(np.mean(every <= 0)),
        losses / len(every),
        tuple(float(v) for v in every),
        blocks,
        size * blocks,
        trials,
    )


def _sharpe(sums: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    """Per-period Sharpe ratios (ddof 1) from sums and sums of squares over `count` returns; a trial that does
    not vary ranks lowest (-inf)."""
    mean = sums / count
    variance = (squares - count * mean**2) / (count - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean / np.sqrt(np.where(variance > VARIANCE_FLOOR, variance, np.nan))
    return np.where(np.isfinite(ratio), ratio, -np.inf)
