"""Buy and hold: spend a share of the cash on each symbol at its first bar, then hold to the end."""

from __future__ import annotations

import math

from broker_sim import Bar, Strategy


class BuyAndHold(Strategy):
    """At each symbol's first bar buy as many whole shares as `allocation` of the starting cash pays for."""

    def __init__(self, allocation: float = 0.95) -> None:
        if not 0 < allocation <= 1:
            raise ValueError(f"allocation must be in (0, 1], got {allocation}")
        self.allocation = allocation
        self._bought: set[str] = set()
        self._budget: float | None = None

    async def on_bar(self, bar: Bar) -> None:
        if bar.symbol in self._bought:
            return
        self._bought.add(bar.symbol)
        if self._budget is None:
            account = await self.broker.get_account()
            symbols = max(1, len(self.symbols))
            # Keep 0.5 % aside for slippage and fees so the order is never rejected for a cent.
            self._budget = account.cash * self.allocation / symbols * 0.995
        quantity = math.floor(self._budget / bar.close)
        if quantity > 0:
            await self.broker.buy(bar.symbol, quantity)
