"""Rolling windows and common indicators for strategies, updated one bar at a time in O(1).

A strategy sees bars one by one; recomputing an average over a window on every bar (or converting to pandas)
costs the replay more than everything else it does. These keep running state instead::

    from broker_sim.indicators import SMA, PerSymbol

    class Cross(Strategy):
        def __init__(self) -> None:
            self.fast = PerSymbol(lambda: SMA(10))
            self.slow = PerSymbol(lambda: SMA(30))

        def on_bar(self, bar):
            fast = self.fast[bar.symbol].update(bar.close)
            slow = self.slow[bar.symbol].update(bar.close)
            if fast is not None and slow is not None and fast > slow:
                ...

Each indicator's `update(value)` returns the new value, or None until it has seen enough values (`ready`);
`value` holds the latest. The definitions are the usual ones (and talipp's, which the tests check them
against): `SMA` the mean of the last `period` values; `EMA` seeded with the SMA of the first `period` values,
then ``alpha = 2 / (period + 1)``; `RSI` Wilder's, seeded with the mean gain and loss of the first `period`
changes; `StdDev` the population standard deviation of the last `period` values. Running sums are re-added
from the window every `RESUM` updates, so rounding never drifts over a long replay.

For indicators beyond these, talipp (``pip install talipp``) is incremental too and fits the same per-bar
shape; README.md compares the two.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from typing import Final, Generic, TypeVar

from broker_sim._mypyc import mypyc_attr
from broker_sim.models import Bar

__all__ = ["EMA", "RESUM", "RSI", "SMA", "BarHistory", "PerSymbol", "StdDev"]

#: Running sums are recomputed from their window after this many updates (no drift over millions of bars).
RESUM: Final = 4096
_RESUM_FLOAT: Final = float(RESUM)

_T = TypeVar("_T")


def _check_period(period: object) -> int:
    """`period` if it is an int >= 1, else a `ValueError` naming it. (The constructors take `object` and check it
    here: compiled, a parameter typed `int` would refuse a str with mypyc's own `TypeError` before the check.)"""
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"period must be an integer >= 1, got {period!r}")
    return period


@mypyc_attr(allow_interpreted_subclasses=True)
class SMA:
    """Simple moving average of the last `period` values."""

    __slots__ = ("_divisor", "_left", "_sum", "_values", "period", "value")

    def __init__(self, period: object) -> None:
        self.period = _check_period(period)
        #: The period as a float: the same quotient as by the int, without converting it on every update.
        self._divisor = float(self.period)
        #: The window (its length bounded: appending to a full window drops the oldest value).
        self._values: deque[float] = deque(maxlen=self.period)
        self._sum = 0.0
        #: Full updates left until the sum is re-added from the window, counted as a float: pure, an int above 256 is
        #: a new object at each step, a float comes from its free list (~70 instructions an update less; exact, as
        #: every whole number this counts through is a float).
        self._left = _RESUM_FLOAT
        self.value: float | None = None

    def update(self, value: float) -> float | None:
        """Take the next value; the average once `period` values were seen, else None."""
        values = self._values
        if self.value is not None:  # full (the strategy's every bar): the oldest value leaves as this one comes
            total = self._sum + value - values[0]
            values.append(value)
            left = self._left - 1.0
            if not left:
                left = _RESUM_FLOAT
                total = math.fsum(values)
            self._left = left
            self._sum = total
            # (typed as the attribute: compiled, one float object is made, stored and returned, not two)
            mean: float | None = total / self._divisor
            self.value = mean
            return mean
        values.append(value)
        self._sum += value
        if len(values) < self.period:
            return None
        self.value = self._sum / self.period
        return self.value

    @property
    def ready(self) -> bool:
        """Whether the average has a value."""
        return self.value is not None


@mypyc_attr(allow_interpreted_subclasses=True)
class StdDev:
    """Population standard deviation of the last `period` values (Welford's running mean and squared deviations,
    with the oldest value taken back out: centred sums, so no cancellation of large squares)."""

    __slots__ = ("_count", "_m2", "_mean", "_values", "period", "value")

    def __init__(self, period: object) -> None:
        self.period = _check_period(period)
        self._values: deque[float] = deque()
        self._mean = 0.0
        self._m2 = 0.0
        self._count = 0
        self.value: float | None = None

    def update(self, value: float) -> float | None:
        """Take the next value; the deviation once `period` values were seen, else None."""
        values = self._values
        values.append(value)
        count = len(values)
        delta = value - self._mean
        self._mean += delta / count
        self._m2 += delta * (value - self._mean)
        if count > self.period:
            old = values.popleft()
            count -= 1
            delta = old - self._mean
            self._mean -= delta / count
            self._m2 -= delta * (old - self._mean)
            self._count += 1
            if self._count >= RESUM:
                self._count = 0
                self._mean = math.fsum(values) / count
                self._m2 = math.fsum((v - self._mean) ** 2 for v in values)
        if count < self.period:
            return None
        m2 = self._m2
        self.value = math.sqrt((0.0 if m2 < 0.0 else m2) / count)  # max(m2, 0.0), without the builtin's call
        return self.value

    @property
    def ready(self) -> bool:
        """Whether the deviation has a value."""
        return self.value is not None


@mypyc_attr(allow_interpreted_subclasses=True)
class EMA:
    """Exponential moving average: the SMA of the first `period` values, then ``alpha = 2 / (period + 1)``."""

    __slots__ = ("_seed", "alpha", "period", "value")

    def __init__(self, period: object) -> None:
        self.period = _check_period(period)
        self.alpha = 2.0 / (self.period + 1)
        self._seed: list[float] = []
        self.value: float | None = None

    def update(self, value: float) -> float | None:
        """Take the next value; the average once `period` values were seen, else None."""
        previous = self.value
        if previous is not None:
            self.value = previous + self.alpha * (value - previous)
            return self.value
        self._seed.append(value)
        if len(self._seed) == self.period:
            self.value = math.fsum(self._seed) / self.period
            self._seed = []
        return self.value

    @property
    def ready(self) -> bool:
        """Whether the average has a value."""
        return self.value is not None


@mypyc_attr(allow_interpreted_subclasses=True)
class RSI:
    """Wilder's relative strength index (0-100) over `period` changes."""

    __slots__ = (
        "_divisor",
        "_gains",
        "_losses",
        "_previous",
        "_weight",
        "average_gain",
        "average_loss",
        "period",
        "value",
    )

    def __init__(self, period: object = 14) -> None:
        self.period = _check_period(period)
        # Wilder's smoothing factors as floats: the same results as by the ints, without converting them each update
        self._weight = float(self.period - 1)
        self._divisor = float(self.period)
        self._previous: float | None = None
        self._gains: list[float] = []
        self._losses: list[float] = []
        self.average_gain: float | None = None
        self.average_loss = 0.0
        self.value: float | None = None

    def update(self, value: float) -> float | None:
        """Take the next value; the index once `period` changes were seen, else None."""
        previous, self._previous = self._previous, value
        if previous is None:
            return None
        change = value - previous
        gain, loss = (change, 0.0) if change > 0 else (0.0, -change)
        period = self.period
        if self.average_gain is None:
            self._gains.append(gain)
            self._losses.append(loss)
            if len(self._gains) < period:
                return None
            self.average_gain = math.fsum(self._gains) / period
            self.average_loss = math.fsum(self._losses) / period
            self._gains, self._losses = [], []
        else:
            weight, divisor = self._weight, self._divisor
            self.average_gain = (self.average_gain * weight + gain) / divisor
            self.average_loss = (self.average_loss * weight + loss) / divisor
        if self.average_loss == 0:
            self.value = 100.0 if self.average_gain > 0 else 50.0
        else:
            self.value = 100.0 - 100.0 / (1.0 + self.average_gain / self.average_loss)
        return self.value

    @property
    def ready(self) -> bool:
        """Whether the index has a value."""
        return self.value is not None


@mypyc_attr(allow_interpreted_subclasses=True)
class PerSymbol(Generic[_T]):
    """One indicator (or window, or any state) per symbol, made by `factory` on first use: ``ind[bar.symbol]``."""

    __slots__ = ("_by_symbol", "factory")

    def __init__(self, factory: Callable[[], _T]) -> None:
        self.factory = factory
        self._by_symbol: dict[str, _T] = {}

    def __getitem__(self, symbol: str) -> _T:
        made = self._by_symbol.get(symbol)
        if made is None:
            made = self._by_symbol[symbol] = self.factory()
        return made

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_symbol)


@mypyc_attr(allow_interpreted_subclasses=True)
class BarHistory:
    """The last `length` bars of each symbol, oldest first: ``history.update(bar)`` then ``history[symbol]``
    (a deque of bars) or ``history.closes(symbol)`` (their closes, a list)."""

    __slots__ = ("_bars", "length")

    def __init__(self, length: object) -> None:
        self.length = _check_period(length)
        self._bars: dict[str, deque[Bar]] = {}

    def update(self, bar: Bar) -> None:
        """Add `bar` to its symbol's history."""
        symbol = bar.symbol
        bars = self._bars.get(symbol)
        if bars is None:
            bars = self._bars[symbol] = deque(maxlen=self.length)
        bars.append(bar)

    def __getitem__(self, symbol: str) -> deque[Bar]:
        return self._bars.get(symbol) or deque(maxlen=self.length)

    def closes(self, symbol: str) -> list[float]:
        """The closes of `symbol`'s bars held, oldest first."""
        return [bar.close for bar in self._bars.get(symbol, ())]

    def full(self, symbol: str) -> bool:
        """Whether `length` bars of `symbol` are held."""
        return len(self._bars.get(symbol, ())) == self.length
