"""The `synthetic` price source: seeded geometric-random-walk bars for any symbols, for demos and tests.

Each symbol walks on its own `random.Random` seeded from the run's seed and the symbol, so adding a symbol never
changes another's prices. Per bar the log price moves by ``(drift - volatility^2 / 2) dt + volatility sqrt(dt) Z``
over `steps` sub-steps; the bar's high and low are the extremes of that path. `drift` and `volatility` are
annualised (a year is 365.25 days of `interval`-second bars, as the bars run around the clock). Each bar is
stamped at its end and covers `interval` seconds (`Bar.interval`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from broker_sim.errors import ConfigError
from broker_sim.models import Bar, MarketData
from broker_sim.streams._parse import parse_timestamp
from broker_sim.streams.base import chunked

__all__ = ["SyntheticSource"]

_SECONDS_PER_YEAR = 365.25 * 86_400


def _positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


class SyntheticSource:
    """`count` bars per symbol, `interval` seconds apart from `start`, from a seeded geometric random walk."""

    def __init__(
        self,
        symbols: str | Sequence[str] = ("SYN",),
        *,
        start: str = "2024-01-02T14:30:00+00:00",
        interval: float = 60.0,
        count: int = 390,
        start_price: float | Mapping[str, float] = 100.0,
        drift: float = 0.0,
        volatility: float = 0.2,
        volume: float = 10_000.0,
        steps: int = 4,
        base_dir: str | Path | None = None,
        seed: int | None = None,
    ) -> None:
        names = [symbols] if isinstance(symbols, str) else list(symbols)
        if not names or not all(isinstance(s, str) and s for s in names):
            raise ConfigError(f"symbols must be a non-empty list of names, got {symbols!r}")
        try:
            self.start = parse_timestamp(start)
        except ValueError as exc:
            raise ConfigError(f"start: {exc}") from None
        self.interval = _positive("interval", interval)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ConfigError(f"count must be an integer >= 0, got {count!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"steps must be an integer >= 1, got {steps!r}")
        prices = start_price if isinstance(start_price, Mapping) else dict.fromkeys(names, start_price)
        missing = [s for s in names if s not in prices]
        if missing:
            raise ConfigError(f"start_price has no price for {', '.join(missing)}")
        self.start_prices = {s: _positive(f"start_price of {s}", prices[s]) for s in names}
        if isinstance(drift, bool) or not isinstance(drift, int | float) or not math.isfinite(drift):
            raise ConfigError(f"drift must be a finite number, got {drift!r}")
        self.symbols = tuple(names)
        self.count = count
        self.drift = float(drift)
        self.volatility = _positive("volatility", volatility, allow_zero=True)
        self.volume = _positive("volume", volume, allow_zero=True)
        self.steps = steps
        self.seed = seed
        self.name = f"synthetic {', '.join(names)}"

    def __iter__(self) -> Iterator[MarketData]:
        for _, event in self.timed_events():
            yield event

    def estimated_events(self) -> int:
        """Exactly how many bars the source yields."""
        return self.count * len(self.symbols)

    def timed_blocks(self) -> Iterator[list[tuple[float, MarketData]]]:
        """`timed_events` in lists (the replay's fast path)."""
        return chunked(self.timed_events())

    def timed_events(self) -> Iterator[tuple[float, MarketData]]:
        """Every symbol's bar at each time step, symbols in the configured order."""
        dt = self.interval / _SECONDS_PER_YEAR / self.steps
        mean = (self.drift - self.volatility**2 / 2) * dt
        scale = self.volatility * math.sqrt(dt)
        walkers = [
            (symbol, random.Random(f"{self.seed}:synthetic:{symbol}"), self.start_prices[symbol])
            for symbol in self.symbols
        ]
        prices = [price for _, _, price in walkers]
        exp, make, interval = math.exp, Bar.from_seconds, float(self.interval)
        for index in range(self.count):
            seconds = self.start + index * self.interval
            for position, (symbol, rng, _) in enumerate(walkers):
                gauss = rng.gauss
                open_ = price = prices[position]
                high = low = price
                for _ in range(self.steps):
                    price *= exp(mean + scale * gauss(0.0, 1.0))
                    high = max(high, price)
                    low = min(low, price)
                prices[position] = price
                volume = round(self.volume * rng.lognormvariate(0.0, 0.5)) if self.volume else 0.0
                yield seconds, make(symbol, seconds, open_, high, low, price, float(volume), interval)
