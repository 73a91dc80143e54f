"""The run's equity curve, kept columnar: the samples' times (POSIX seconds), equity and gross exposure in
``array('d')`` columns, and the market prices at each sample per symbol (NaN: no price). 8 bytes per number
instead of an `EquitySample` and a dict per sample (~384 B), so a 10M-bar run's curve stays a few MB.

`EquityCurve` is a `Sequence[EquitySample]` (each sample built when read), so code that reads ``result.equity``
as samples keeps working; the report reads the columns (`values`, `moments`, `price_column`) instead.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, overload

import attrs
import numpy as np

__all__ = ["EquityCurve", "EquitySample", "SampledPrices", "as_curve", "moment"]

_NAN = math.nan


@attrs.frozen(slots=True)
class EquitySample:
    """The account's equity and gross exposure (sum of |market value|, in cash) at one moment."""

    timestamp: datetime
    equity: float
    exposure: float


def moment(seconds: float) -> datetime:
    """The UTC datetime of POSIX `seconds`, as the simulated clock's ``now()`` tells it (to the microsecond)."""
    return datetime.fromtimestamp(seconds, UTC)


class EquityCurve(Sequence[EquitySample]):
    """The equity samples in columns (`seconds`, `equity`, `exposure`: ``array('d')``) and the last market price
    of each symbol at each sample (`price_column`; NaN where the broker told none). Read as a sequence, it gives
    `EquitySample` objects built on access; its ``repr`` is the tuple of them (what `Result.equity` was)."""

    __slots__ = ("_prices", "equity", "exposure", "seconds")

    def __init__(self) -> None:
        self.seconds = array("d")
        self.equity = array("d")
        self.exposure = array("d")
        self._prices: dict[str, array[float]] = {}

    @classmethod
    def of(cls, samples: Iterable[EquitySample], prices: Sequence[Mapping[str, float]] | None = None) -> EquityCurve:
        """`samples` as a curve (a curve given without `prices` is returned as it is); `prices` are the market
        prices at each sample, ignored unless there is one mapping per sample."""
        if isinstance(samples, EquityCurve) and prices is None:
            return samples
        curve = cls()
        listed = samples if isinstance(samples, Sequence) else list(samples)
        rows: Sequence[Mapping[str, float] | None] = (
            prices if prices is not None and len(prices) == len(listed) else [None] * len(listed)
        )
        for sample, row in zip(listed, rows, strict=True):
            curve.append(sample.timestamp.timestamp(), sample.equity, sample.exposure, row)
        return curve

    def append(self, seconds: float, equity: float, exposure: float, prices: Mapping[str, float] | None = None) -> None:
        """Add a sample at POSIX `seconds`, with the market `prices` then (None or empty: none known)."""
        count = len(self.seconds)
        self.seconds.append(seconds)
        self.equity.append(equity)
        self.exposure.append(exposure)
        columns = self._prices
        if prices:
            for symbol, price in prices.items():
                column = columns.get(symbol)
                if column is None:
                    column = columns[symbol] = array("d", [_NAN]) * count
                column.append(price)
        for column in columns.values():
            if len(column) == count:
                column.append(_NAN)

    def prepend(self, earlier: Sequence[EquitySample]) -> None:
        """Put `earlier` samples (a journaled account's earlier sessions, no prices known) before these."""
        if not earlier:
            return
        self.seconds[:0] = array("d", [sample.timestamp.timestamp() for sample in earlier])
        self.equity[:0] = array("d", [sample.equity for sample in earlier])
        self.exposure[:0] = array("d", [sample.exposure for sample in earlier])
        for column in self._prices.values():
            column[:0] = array("d", [_NAN]) * len(earlier)

    def __len__(self) -> int:
        return len(self.seconds)

    @overload
    def __getitem__(self, index: int) -> EquitySample: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[EquitySample]: ...

    def __getitem__(self, index: int | slice) -> EquitySample | Sequence[EquitySample]:
        if isinstance(index, slice):
            return tuple(self)[index]
        return EquitySample(moment(self.seconds[index]), self.equity[index], self.exposure[index])

    def __iter__(self) -> Iterator[EquitySample]:
        for seconds, equity, exposure in zip(self.seconds, self.equity, self.exposure, strict=True):
            yield EquitySample(moment(seconds), equity, exposure)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EquityCurve):
            return (self.seconds, self.equity, self.exposure) == (other.seconds, other.equity, other.exposure)
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable while the run samples

    def __repr__(self) -> str:
        return repr(tuple(self))

    # -- the columns, for the report ----------------------------------------------------------------------------

    def values(self, name: str = "equity") -> np.ndarray:
        """A column (``seconds``, ``equity`` or ``exposure``) as a numpy array (a copy)."""
        return np.array(getattr(self, name), dtype=float)

    def moments(self, indices: Iterable[int] | None = None) -> Iterator[datetime]:
        """The samples' times as datetimes, one at a time (all, or those at `indices`)."""
        seconds = self.seconds
        if indices is None:
            return map(moment, seconds)
        return (moment(seconds[int(i)]) for i in indices)

    @property
    def symbols(self) -> list[str]:
        """The symbols with a price at some sample, in the order they first had one."""
        return list(self._prices)

    def price_column(self, symbol: str) -> np.ndarray:
        """`symbol`'s price at each sample as a numpy array, NaN where it had none."""
        column = self._prices.get(symbol)
        return np.array(column, dtype=float) if column is not None else np.full(len(self), np.nan)

    def prices_at(self, index: int) -> dict[str, float]:
        """The market prices at sample `index` (``-1``: the last), as the broker told them."""
        return {symbol: price for symbol, column in self._prices.items() if not math.isnan(price := column[index])}

    @property
    def prices(self) -> SampledPrices:
        """The market prices at each sample, as one mapping per sample (built on access)."""
        return SampledPrices(self)


class SampledPrices(Sequence[Mapping[str, float]]):
    """The market prices at each of a curve's samples, read as one dict per sample (empty: none known)."""

    __slots__ = ("curve",)

    def __init__(self, curve: EquityCurve) -> None:
        self.curve = curve

    def __len__(self) -> int:
        return len(self.curve)

    @overload
    def __getitem__(self, index: int) -> Mapping[str, float]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, float]]: ...

    def __getitem__(self, index: int | slice) -> Mapping[str, float] | Sequence[Mapping[str, float]]:
        if isinstance(index, slice):
            return [self.curve.prices_at(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError("sample index out of range")
        return self.curve.prices_at(index)

    def __repr__(self) -> str:
        return f"<prices at {len(self)} samples of {', '.join(self.curve.symbols) or 'no symbol'}>"


def as_curve(equity: Sequence[EquitySample], prices: Sequence[Mapping[str, float]] | Any = None) -> EquityCurve:
    """`equity` (and the `prices` at its samples, when one mapping per sample) as an `EquityCurve`: the report's
    functions take any sequence of samples and read columns."""
    if isinstance(equity, EquityCurve) and (prices is None or isinstance(prices, SampledPrices)):
        return equity
    return EquityCurve.of(equity, prices)
