"""The ledger's values that a journal stores: the reservation an open order holds and a snapshot of the whole
ledger. A pure module of attrs types: cattrs reads their annotations to write and read a journal, and a
mypyc-compiled module loses them (CONTRIBUTING, "The compiled build"), so they live apart from `holdings`.

`broker_sim.ledger` re-exports them.
"""

from __future__ import annotations

from typing import Any

import attrs

from broker_sim.models import Side, unchecked_constructor

__all__ = ["HoldingSnapshot", "LedgerSnapshot", "Reservation", "new_reservation"]


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
