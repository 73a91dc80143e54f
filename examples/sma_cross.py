"""SMA crossover: long `quantity` shares while the fast moving average is above the slow one, flat otherwise.

Written against `Broker` only, so it runs unchanged on the paper adapter and on a live one. The moving averages
are running sums over fixed windows: O(1) per bar.
"""

from __future__ import annotations

from collections import deque

from broker_sim import Bar, Strategy


class SmaCross(Strategy):
    """Buy `quantity` when the `fast`-bar SMA crosses above the `slow`-bar SMA; sell it back when it crosses below."""

    def __init__(self, fast: int = 10, slow: int = 30, quantity: float = 100) -> None:
        if not 0 < fast < slow:
            raise ValueError(f"need 0 < fast < slow, got fast={fast} slow={slow}")
        self.fast, self.slow, self.quantity = fast, slow, quantity
        self._windows: dict[str, tuple[deque[float], deque[float], list[float]]] = {}
        self._long: dict[str, bool] = {}

    async def on_bar(self, bar: Bar) -> None:
        state = self._windows.get(bar.symbol)
        if state is None:
            state = self._windows[bar.symbol] = (deque(), deque(), [0.0, 0.0])
        fast_window, slow_window, sums = state
        close = bar.close
        fast_window.append(close)
        slow_window.append(close)
        sums[0] += close
        sums[1] += close
        if len(fast_window) > self.fast:
            sums[0] -= fast_window.popleft()
        if len(slow_window) > self.slow:
            sums[1] -= slow_window.popleft()
        else:
            return  # not enough bars for the slow average yet
        above = sums[0] / self.fast > sums[1] / self.slow
        long = self._long.get(bar.symbol, False)
        if above and not long:
            self._long[bar.symbol] = True
            await self.broker.buy(bar.symbol, self.quantity)
        elif not above and long:
            self._long[bar.symbol] = False
            await self.broker.sell(bar.symbol, self.quantity)
