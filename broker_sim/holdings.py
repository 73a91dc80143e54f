"""What a ledger holds: one symbol's holding, and the one rule for average price and realized P&L
(`holding_after`). The values a journal stores (a reservation, the ledger's snapshot) are in
`broker_sim.ledger_values`, pure Python for cattrs; this module is compiled in the optional build.

`broker_sim.ledger` keeps the money with these and re-exports the public ones.
"""

from __future__ import annotations

from broker_sim._members import (
    _SIDE_BUY,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.models import Fill

__all__ = ["Holding", "holding_after"]


class Holding:
    """The mutable state behind one symbol's `Position` in a ledger, and behind a strategy's `StrategyPosition` in
    its book (`broker_sim.strategy_book`): its fills change it in place. `fees` is what its fills paid, which a
    strategy's book reports; a ledger charges fees to cash and leaves it at 0.0."""

    __slots__ = ("avg_price", "fees", "quantity", "realized_pnl")

    def __init__(self) -> None:
        self.quantity = 0.0
        self.avg_price = 0.0
        self.realized_pnl = 0.0
        self.fees = 0.0


def holding_after(quantity: float, avg_price: float, fill: Fill) -> tuple[float, float, float]:
    """A holding of `quantity` at `avg_price` after `fill`: (quantity, average price, P&L realized by the fill).

    The one rule for average price and realized P&L: the ledger books the account with it, and a strategy's
    share of the account (`broker_sim.strategy_book`) is kept with it."""
    signed = fill.quantity if fill.side is _SIDE_BUY else -fill.quantity
    price = fill.price
    # Float literals, and comparisons that jump rather than make a bool (``(quantity > 0) == (signed > 0)``): CPython
    # 3.11 specializes a comparison of two floats only where a jump follows it.
    if quantity == 0.0 or (signed > 0.0 if quantity > 0.0 else not signed > 0.0):  # it opens or grows the holding
        total = quantity + signed
        return total, (quantity * avg_price + signed * price) / total, 0.0
    # abs(), min() and `qty_is_zero`, written out: a ledger and a strategy's book each call this on every fill,
    # and a builtin's call costs more than its comparison (see `Ledger._used`). `signed` is never 0 (a fill has
    # a positive quantity), nor is `quantity` here.
    size = signed if signed > 0.0 else -signed
    if quantity > 0.0:
        held, direction = quantity, 1.0
    else:
        held, direction = -quantity, -1.0
    closing = held if held < size else size
    pnl = closing * (price - avg_price) * direction
    remaining = quantity + signed
    if -QTY_EPSILON < remaining < QTY_EPSILON:
        return 0.0, 0.0, pnl
    if remaining > 0.0 if quantity > 0.0 else not remaining > 0.0:  # it shrinks the holding, on the same side
        return remaining, avg_price, pnl
    return remaining, price, pnl
