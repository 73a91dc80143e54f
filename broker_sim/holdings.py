"""What a ledger holds, as values: one symbol's holding, the reservation an open order holds, a snapshot of the
whole ledger for a journal, and the one rule for average price and realized P&L (`holding_after`).

`broker_sim.ledger` keeps the money with these and re-exports the public ones.
"""

from __future__ import annotations

from typing import Any

import attrs

from broker_sim._members import (
    _SIDE_BUY,
)
from broker_sim._numeric import qty_is_zero
from broker_sim.models import Fill, Side, unchecked_constructor

__all__ = ["Holding", "HoldingSnapshot", "LedgerSnapshot", "Reservation", "holding_after", "new_reservation"]


class Holding:
    """The mutable state behind one symbol's `Position`."""

    __slots__ = ("avg_price", "quantity", "realized_pnl")

    def __init__(self) -> None:
        self.quantity = 0.0
        self.avg_price = 0.0
        self.realized_pnl = 0.0


@attrs.frozen(slots=True)
class Reservation:
    """What one open order holds: `cash_units` units needing `cash_per_unit` each, and `shares` of a long it sells.

    A value: the ledger replaces it as fills use it up. `cash` is the buying power it holds.
    """

    order_id: str
    symbol: str
    side: Side
    cash_per_unit: float
    cash_units: float
    shares: float

    @property
    def cash(self) -> float:
        """The buying power held."""
        return self.cash_per_unit * self.cash_units


#: A `Reservation` built field by field (it has no checks to skip): one per order, and one per partial fill.
new_reservation: Any = unchecked_constructor(Reservation)


@attrs.frozen(slots=True)
class HoldingSnapshot:
    """One symbol's holding in a `LedgerSnapshot` (a flat symbol keeps its realized P&L)."""

    symbol: str
    quantity: float
    avg_price: float
    realized_pnl: float


@attrs.frozen(slots=True)
class LedgerSnapshot:
    """Everything a ledger holds at one moment, for a journal's snapshot: `Ledger.restore` puts it back float for
    float (the reserved totals are kept as they were summed, not summed again)."""

    cash: float
    fees: float
    realized_pnl: float
    holdings: tuple[HoldingSnapshot, ...]
    reservations: tuple[Reservation, ...]
    reserved_shares: dict[str, float]
    reserved_cash: float


def holding_after(quantity: float, avg_price: float, fill: Fill) -> tuple[float, float, float]:
    """A holding of `quantity` at `avg_price` after `fill`: (quantity, average price, P&L realized by the fill).

    The one rule for average price and realized P&L: the ledger books the account with it, and a strategy's
    share of the account (`broker_sim.strategy_book`) is kept with it."""
    signed = fill.quantity if fill.side is _SIDE_BUY else -fill.quantity
    price = fill.price
    if quantity == 0 or (quantity > 0) == (signed > 0):
        total = quantity + signed
        return total, (quantity * avg_price + signed * price) / total, 0.0
    size, held = abs(signed), abs(quantity)
    closing = held if held < size else size  # min(): see `Ledger._used` on why not the builtin
    pnl = closing * (price - avg_price) * (1.0 if quantity > 0 else -1.0)
    remaining = quantity + signed
    if qty_is_zero(remaining):
        return 0.0, 0.0, pnl
    if (remaining > 0) == (quantity > 0):
        return remaining, avg_price, pnl
    return remaining, price, pnl
