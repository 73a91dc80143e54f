"""The one place that says when two quantities or two amounts of money count as equal.

Prices, quantities and cash are floats (this is a simulator, not a clearing house). Every comparison that decides
a fill, a rejection or a flat position goes through these helpers, so the tolerances live here and nowhere else.
Rounding never happens silently: amounts are kept at full float precision and only compared with tolerance.
"""

from __future__ import annotations

import math
from typing import Final

#: Quantities closer than this to each other are equal: half the smallest quantity an order may have (1e-9,
#: `ORDER_DECIMALS`), so a 0.000000001-share order is not zero.
QTY_EPSILON: Final = 5e-10
#: Prices closer than this are the same price for a fill decision: a touch of a limit, not a trade through it.
PRICE_EPSILON: Final = 1e-9
#: Cash amounts closer than this are equal: a fill may use buying power down to -MONEY_EPSILON.
MONEY_EPSILON: Final = 1e-6
#: Prices whose difference is below this share of themselves are the same price (a price sent as a decimal string
#: and read back; a venue that rounds to its tick).
PRICE_REL_TOLERANCE: Final = 1e-9
#: A grid range's last step lands on its end when it is this close to it (in steps: ``0.1:0.3:0.1`` has 3 values).
STEP_TOLERANCE: Final = 1e-9
#: Seconds within which two instants given as POSIX seconds are compared as datetimes instead, at their
#: microsecond resolution (a float of ~1.7e9 s carries ~0.24 µs of rounding, so this margin never flips an order).
TIME_EXACT_S: Final = 2e-6
#: A variance of returns below this is no variance (a point that never traded has no Sharpe ratio).
VARIANCE_FLOOR: Final = 1e-300


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


#: Decimal places an order's quantity or notional may have (Alpaca's:
#: https://alpaca.markets/support/how-can-i-pass-a-fractional-order).
ORDER_DECIMALS: Final = 9
#: Float noise a decimal value may carry (in units of its last place): a position summed from fills of 0.1
#: and 0.2 is 0.30000000000000004, which still has one decimal.
_ULPS: Final = 4


def at_most_decimals(value: float, places: int = ORDER_DECIMALS) -> bool:
    """Whether `value` has at most `places` decimal places, up to float noise (a few units of its last place)."""
    return abs(value - round(value, places)) <= _ULPS * math.ulp(value)


def price_beyond(price: float, level: float, up: bool) -> bool:
    """Whether `price` is strictly above (`up`) or below `level`, by more than `PRICE_EPSILON`: through a limit or
    a stop, not at it (fill decisions; written out inline where they run on every update)."""
    return price > level + PRICE_EPSILON if up else price < level - PRICE_EPSILON


def same_price(a: float, b: float) -> bool:
    """Whether two prices are the same within a relative `PRICE_REL_TOLERANCE`."""
    return abs(a - b) <= PRICE_REL_TOLERANCE * max(abs(a), abs(b))
