"""The one place that says when two quantities or two amounts of money count as equal.

Prices, quantities and cash are floats (this is a simulator, not a clearing house). Every comparison that decides
a fill, a rejection or a flat position goes through these helpers, so the tolerances live here and nowhere else.
Rounding never happens silently: amounts are kept at full float precision and only compared with tolerance.
"""

from __future__ import annotations

#: Quantities closer than this to each other are equal (fractional shares go to 1e-9 at most).
QTY_EPSILON = 1e-9
#: Cash amounts closer than this are equal: a fill may use buying power down to -MONEY_EPSILON.
MONEY_EPSILON = 1e-6
#: Prices whose difference is below this share of themselves are the same price (a price sent as a decimal string
#: and read back; a venue that rounds to its tick).
PRICE_REL_TOLERANCE = 1e-9
#: A grid range's last step lands on its end when it is this close to it (in steps: ``0.1:0.3:0.1`` has 3 values).
STEP_TOLERANCE = 1e-9
#: A variance of returns below this is no variance (a point that never traded has no Sharpe ratio).
VARIANCE_FLOOR = 1e-300


def qty_is_zero(quantity: float) -> bool:
    """Whether a quantity is zero within `QTY_EPSILON`."""
    return -QTY_EPSILON < quantity < QTY_EPSILON


def qty_at_least(quantity: float, target: float) -> bool:
    """Whether `quantity` reaches `target` within `QTY_EPSILON` (e.g. an order is completely filled)."""
    return quantity > target - QTY_EPSILON


def money_covers(available: float, cost: float) -> bool:
    """Whether `available` cash pays for `cost` within `MONEY_EPSILON`."""
    return available >= cost - MONEY_EPSILON


def money_equal(a: float, b: float) -> bool:
    """Whether two amounts of money are the same within `MONEY_EPSILON`."""
    return -MONEY_EPSILON < a - b < MONEY_EPSILON


def same_price(a: float, b: float) -> bool:
    """Whether two prices are the same within a relative `PRICE_REL_TOLERANCE`."""
    return abs(a - b) <= PRICE_REL_TOLERANCE * max(abs(a), abs(b))
