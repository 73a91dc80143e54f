"""Walk-forward: optimise on a training window, run the winner on the test window after it, roll forward by the
test window, and stitch the test windows' equity into one out-of-sample curve.

``train=6M,test=1M`` gives the windows in calendar time (``h`` hours, ``D`` days, ``W`` weeks, ``M`` months,
``Y`` years); ``train=5000,test=1000`` in bars (distinct event times of the data). The first training window
starts at the data's first event; each fold moves on by one test window (rolling, not anchored). A window is
half-open, ``[start, end)``; the last test window may run past the data's end. Each window is its own run: it
starts with the initial balance and no position, and a strategy warms up again inside it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import numpy as np

from broker_sim.errors import ConfigError
from broker_sim.report.metrics import EquitySample, compute_metrics

__all__ = ["Fold", "Length", "WalkForward", "folds", "out_of_sample", "parse_walk_forward", "stitch"]

_UNITS = {"h": "hours", "D": "days", "W": "weeks", "M": "months", "Y": "years"}
_LENGTH = re.compile(r"^\s*(\d+)\s*([hDWMY]?)\s*$")


@attrs.frozen(slots=True)
class Length:
    """A window's length: `amount` bars (`unit` empty) or calendar `unit`s."""

    amount: int
    unit: str = ""

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@attrs.frozen(slots=True)
class WalkForward:
    """The training and test windows' lengths (both in bars or both in calendar time)."""

    train: Length
    test: Length

    def __str__(self) -> str:
        return f"train={self.train},test={self.test}"


@attrs.frozen(slots=True)
class Fold:
    """One fold: its number and its training and test windows as ``(start, end)`` POSIX seconds (end excluded;
    None: open)."""

    number: int
    train: tuple[float, float | None]
    test: tuple[float, float | None]


def parse_walk_forward(spec: str | Mapping[str, Any]) -> WalkForward:
    """``"train=6M,test=1M"`` (or ``{"train": "6M", "test": "1M"}``) as a `WalkForward`."""
    items: dict[str, Any]
    if isinstance(spec, Mapping):
        items = dict(spec)
    else:
        items = {}
        for part in str(spec).split(","):
            key, sign, value = part.partition("=")
            if not sign:
                raise ConfigError(
                    f"--walk-forward takes train=LENGTH,test=LENGTH (e.g. train=6M,test=1M), got {spec!r}"
                )
            items[key.strip()] = value.strip()
    if set(items) != {"train", "test"}:
        raise ConfigError(f"--walk-forward takes train= and test=, got {', '.join(sorted(items)) or 'nothing'}")
    train, test = _length("train", items["train"]), _length("test", items["test"])
    if bool(train.unit) != bool(test.unit):
        raise ConfigError(f"--walk-forward: give both windows in bars or both in time, got train={train}, test={test}")
    return WalkForward(train, test)


def _length(name: str, value: Any) -> Length:
    match = _LENGTH.match(str(value))
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(
            f"--walk-forward {name}: {value!r} is not a length; give bars (5000) or a number with a unit "
            f"({', '.join(f'{u} {w}' for u, w in _UNITS.items())}), e.g. 6M"
        )
    return Length(int(match.group(1)), match.group(2))


def _shift(seconds: float, length: Length, times: int) -> float:
    """`seconds` moved on by `times` x `length` in calendar time (months and years by the calendar)."""
    import pandas as pd

    offset = pd.DateOffset(**{_UNITS[length.unit]: length.amount * times})
    return float((pd.Timestamp(seconds, unit="s", tz="UTC") + offset).timestamp())


def folds(spec: WalkForward, times: np.ndarray) -> list[Fold]:
    """The folds over the data's distinct event times `times` (sorted POSIX seconds); refused when the data
    holds not even one training window followed by a test window."""
    result: list[Fold] = []
    if len(times) == 0:
        raise ConfigError("--walk-forward needs market data from replay sources; the config has none")
    last = float(times[-1])
    if not spec.train.unit:
        train, test = spec.train.amount, spec.test.amount
        start = 0
        while start + train < len(times):
            test_end = start + train + test
            result.append(
                Fold(
                    len(result),
                    (float(times[start]), float(times[start + train])),
                    (float(times[start + train]), float(times[test_end]) if test_end < len(times) else None),
                )
            )
            start += test
    else:
        first = float(times[0])
        while True:
            train_start = _shift(first, spec.test, len(result)) if result else first
            train_end = _shift(train_start, spec.train, 1)
            if train_end > last:
                break
            result.append(Fold(len(result), (train_start, train_end), (train_end, _shift(train_end, spec.test, 1))))
    if not result:
        raise ConfigError(f"--walk-forward {spec}: the data is too short for one training window and a test window")
    return result


def stitch(pieces: Sequence[tuple[int, Sequence[tuple[float, float]]]]) -> list[tuple[float, float, int]]:
    """The test windows' equity, fold after fold, as one curve: each piece is scaled so it starts where the
    previous one ended (returns compound). Rows are ``(posix_seconds, equity, fold)``."""
    rows: list[tuple[float, float, int]] = []
    for fold, samples in pieces:
        if not samples:
            continue
        factor = rows[-1][1] / samples[0][1] if rows and samples[0][1] else 1.0
        rows.extend((seconds, equity * factor, fold) for seconds, equity in samples)
    return rows


def out_of_sample(rows: Sequence[tuple[float, float, int]]) -> dict[str, float]:
    """The stitched curve's total return, annualised Sharpe ratio and max drawdown, as a run's report takes them
    (`broker_sim.report.metrics`)."""
    if len(rows) < 2:
        return {"total_return": math.nan, "sharpe": math.nan, "max_drawdown": math.nan}
    samples = [EquitySample(datetime.fromtimestamp(seconds, UTC), equity, 0.0) for seconds, equity, _ in rows]
    metrics = compute_metrics(samples, (), (), samples[0].equity)
    return {"total_return": metrics.total_return, "sharpe": metrics.sharpe, "max_drawdown": metrics.max_drawdown}
