"""Buy and hold: spend a share of the cash on each symbol at its first bar, then hold to the end."""

from __future__ import annotations

import math
from collections.abc import Awaitable

from broker_sim import Bar, Order, Strategy


class BuyAndHold(Strategy):
    """At each symbol's first bar, buy as many whole shares as `allocation` of the account's cash pays for (split
    evenly over the strategy's symbols); then hold. What it holds comes from its share of the account, so a
    restarted session does not buy again."""

    def __init__(self, allocation: float = 0.95) -> None:
        if not 0 < allocation <= 1:
            raise ValueError(f"allocation must be in (0, 1], got {allocation}")
        self.allocation = allocation
        self._done: set[str] = set()
        self._budget: float | None = None

    def on_bar(self, bar: Bar) -> Awaitable[Order | None] | None:
        if bar.symbol in self._done:
            return None
        self._done.add(bar.symbol)
        if not self.position(bar.symbol).is_flat or self.pending_quantity(bar.symbol):
            return None  # bought already (a resumed session)
        return self._buy(bar)

    async def _buy(self, bar: Bar) -> Order | None:
        if self._budget is None:
            account = await self.broker.get_account()
            symbols = max(1, len(self.symbols))
            # Keep 0.5 % aside for slippage and fees so the order is never rejected for a cent.
            self._budget = account.cash * self.allocation / symbols * 0.995
        quantity = math.floor(self._budget / bar.close)
        return await self.broker.buy(bar.symbol, quantity) if quantity > 0 else None
