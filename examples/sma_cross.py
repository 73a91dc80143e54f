"""SMA crossover: long `quantity` shares while the fast moving average is above the slow one, flat otherwise.

Written against `Broker` only, so it runs unchanged on the paper adapter and on a live one. The averages are
running sums over fixed windows (O(1) per bar), and `on_bar` is a plain ``def`` that returns the order coroutine
only on the bars where it trades: the runner awaits it, and the other bars cost no coroutine at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable

from broker_sim import Bar, Order, Strategy


class _Averages:
    """One symbol's windows and running sums."""

    __slots__ = ("fast_sum", "fast_window", "long", "slow_sum", "slow_window")

    def __init__(self) -> None:
        self.fast_window: deque[float] = deque()
        self.slow_window: deque[float] = deque()
        self.fast_sum = 0.0
        self.slow_sum = 0.0
        self.long = False


class SmaCross(Strategy):
    """Buy `quantity` when the `fast`-bar SMA crosses above the `slow`-bar SMA; sell it back when it crosses below."""

    def __init__(self, fast: int = 10, slow: int = 30, quantity: float = 100, time_in_force: str = "day") -> None:
        if not 0 < fast < slow:
            raise ValueError(f"need 0 < fast < slow, got fast={fast} slow={slow}")
        self.fast, self.slow, self.quantity = fast, slow, quantity
        self.time_in_force = time_in_force
        self._state: dict[str, _Averages] = {}

    def on_bar(self, bar: Bar) -> Awaitable[Order] | None:
        state = self._state.get(bar.symbol)
        if state is None:
            state = self._state[bar.symbol] = _Averages()
        close = bar.close
        state.fast_window.append(close)
        state.fast_sum += close
        if len(state.fast_window) > self.fast:
            state.fast_sum -= state.fast_window.popleft()
        state.slow_window.append(close)
        state.slow_sum += close
        if len(state.slow_window) <= self.slow:
            return None  # not enough bars for the slow average yet
        state.slow_sum -= state.slow_window.popleft()
        above = state.fast_sum * self.slow > state.slow_sum * self.fast
        if above is state.long:
            return None
        state.long = above
        trade = self.broker.buy if above else self.broker.sell
        return trade(bar.symbol, self.quantity, time_in_force=self.time_in_force)
