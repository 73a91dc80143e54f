"""SMA crossover: long `quantity` shares while the fast moving average is above the slow one, flat otherwise.

Written against `Broker` only, so it runs unchanged on the paper adapter and on a live one. The strategy keeps no
books of its own: what it holds and has on its way come from its share of the account (`self.position`,
`self.pending_quantity`), which the runner keeps and restores after a restart, so a rejected or unfilled order,
or a restarted session, never leaves it believing it holds what it does not.

A crossing sets the target holding; `order_target` sends an order for the difference only when no order of the
strategy in that symbol is still open, and again when that order ends (`on_order_event`). The averages are
`broker_sim.indicators.SMA` (running sums, O(1) per bar), and `on_bar` is a plain ``def`` that returns the order
coroutine only on the bars where it trades: the runner awaits it, and the other bars cost no coroutine at all.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Final

from broker_sim import Bar, Order, OrderEvent, OrderStatus, Strategy
from broker_sim.indicators import SMA

#: The statuses an order ends in (`OrderStatus.is_final`) and the one that refuses it, as module constants:
#: `on_order_event` hears three events of every order, and a constant is read faster than an enum's property
#: or member.
_ENDED: Final = frozenset(status for status in OrderStatus if status.is_final)
_REJECTED: Final = OrderStatus.REJECTED


class _Averages:
    """One symbol's moving averages and target holding."""

    __slots__ = ("fast", "long", "retry", "slow")

    def __init__(self, fast: int, slow: int) -> None:
        self.fast = SMA(fast)
        self.slow = SMA(slow)
        #: Whether the fast average is above the slow one (None until the slow one has a value).
        self.long: bool | None = None
        #: False after a rejection: no new order until the next crossing (never a loop of rejected orders).
        self.retry = True


class SmaCross(Strategy):
    """Hold `quantity` while the `fast`-bar SMA is above the `slow`-bar SMA, nothing while it is below."""

    def __init__(self, fast: int = 10, slow: int = 30, quantity: float = 100, time_in_force: str = "day") -> None:
        if not 0 < fast < slow:
            raise ValueError(f"need 0 < fast < slow, got fast={fast} slow={slow}")
        self.fast, self.slow, self.quantity = fast, slow, quantity
        self.time_in_force = time_in_force
        self._state: dict[str, _Averages] = {}

    def on_bar(self, bar: Bar) -> Awaitable[Order] | None:
        state = self._state.get(bar.symbol)
        if state is None:
            state = self._state[bar.symbol] = _Averages(self.fast, self.slow)
        close = bar.close
        fast = state.fast.update(close)
        slow = state.slow.update(close)
        if slow is None:
            return None  # not enough bars for the slow average yet (the fast one, shorter, has its value first)
        above = fast > slow
        if above is state.long:
            return None
        state.long, state.retry = above, True
        return self._rebalance(bar.symbol, state)

    def on_order_event(self, event: OrderEvent) -> Awaitable[Order] | None:
        order = event.order
        status = order.status
        if status not in _ENDED:
            return None  # on its way or working (two of a filled order's three events): wait for its end
        state = self._state.get(order.symbol)
        if state is None:
            return None
        if status is _REJECTED:
            state.retry = False
            return None
        return self._rebalance(order.symbol, state)  # filled, canceled or expired: go on towards the target

    def _rebalance(self, symbol: str, state: _Averages) -> Awaitable[Order] | None:
        """An order towards the target holding, unless one of the strategy's orders in `symbol` is still open."""
        if state.long is None or not state.retry or self.pending_quantity(symbol):
            return None
        return self.order_target(symbol, self.quantity if state.long else 0.0, time_in_force=self.time_in_force)
