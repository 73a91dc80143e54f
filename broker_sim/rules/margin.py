"""Margin as Alpaca runs it: the maintenance margin each position requires, and when a margin call is made and
met or liquidated.

Alpaca's maintenance table (https://docs.alpaca.markets/docs/margin-and-short-selling, "Maintenance Margin"),
applied to each position at its end-of-day market value:

=====  ====================  ==========================================
side   share price           requirement
=====  ====================  ==========================================
long   below $2.50           100 % of the market value
long   $2.50 and above       30 % of the market value
short  below $5.00           the greater of $2.50 a share and 100 %
short  $5.00 and above       the greater of $5.00 a share and 30 %
=====  ====================  ==========================================

Margin calls (`MarginCallRule`): the requirement is checked at each session's close, not intraday ("to avoid
receiving a margin call the next morning, the securities held would need to be reduced ... by the end of the
day", same page). An account whose equity is then below its requirement gets a margin call for the difference;
Alpaca restricts such an account to liquidation and liquidates what the call needs if it is not met
(https://alpaca.markets/support/account-restricted-liquidation). Alpaca's pages give no deadline; the paper
broker's, documented in README's "Paper rules": the call is due at the next session's open; if the equity is
still below the requirement then, the venue closes positions, largest first, with market orders until it is
met. A call met before (prices moved, or the strategy reduced its positions) ends without a liquidation.
"""

from __future__ import annotations

import attrs

__all__ = [
    "ALPACA_LONG_RATE",
    "ALPACA_SHORT_RATE",
    "LOW_PRICED_LONG",
    "LOW_PRICED_SHORT",
    "SHORT_FLOOR",
    "SHORT_FLOOR_LOW",
    "MaintenanceMargin",
    "MarginCallRule",
]

#: Alpaca's maintenance margin for longs at or above `LOW_PRICED_LONG` a share, and for shorts at or above
#: `LOW_PRICED_SHORT` (a share of the market value).
ALPACA_LONG_RATE = 0.30
ALPACA_SHORT_RATE = 0.30
#: Below this share price a long needs 100 % of its value.
LOW_PRICED_LONG = 2.50
#: Below this share price a short needs the greater of `SHORT_FLOOR_LOW` a share and 100 %; at or above it, the
#: greater of `SHORT_FLOOR` a share and the short rate.
LOW_PRICED_SHORT = 5.00
SHORT_FLOOR_LOW = 2.50
SHORT_FLOOR = 5.00


@attrs.frozen(slots=True)
class MaintenanceMargin:
    """The maintenance margin one position requires (`requirement`): Alpaca's table (module docstring) with
    `long_rate` and `short_rate` for the ordinary tiers, or, with `tiers` off (``broker.rules:
    {maintenance_table: false}``), flat rates of the market value whatever the price (the paper broker's rule
    before it followed Alpaca). The rates are the paper broker's ``maintenance_margin_long``/``_short``."""

    long_rate: float = ALPACA_LONG_RATE
    short_rate: float = ALPACA_SHORT_RATE
    tiers: bool = True
    #: The `RuleSettings` field that turns the table off (flat rates instead).
    setting: str = "maintenance_table"

    def requirement(self, quantity: float, price: float) -> float:
        """The equity a position of `quantity` (signed: negative is short) at `price` a share requires (cash)."""
        value = abs(quantity) * price
        if quantity > 0:
            if self.tiers and price < LOW_PRICED_LONG:
                return value
            return value * self.long_rate
        if not self.tiers:
            return value * self.short_rate
        shares = abs(quantity)
        if price < LOW_PRICED_SHORT:
            return max(shares * SHORT_FLOOR_LOW, value)
        return max(shares * SHORT_FLOOR, value * self.short_rate)


@attrs.frozen(slots=True)
class MarginCallRule:
    """When the paper venue makes margin calls and what it does about one not met (module docstring): checked at
    each session's close, due at the next session's open, then positions liquidated (largest first) unless
    `liquidate` is off (``liquidate_on_margin_call: false``: the call is reported, positions are kept)."""

    liquidate: bool = True

    @staticmethod
    def call_amount(equity: float, requirement: float) -> float:
        """What a margin call asks for: how far the equity is below the requirement (0: no call)."""
        return max(0.0, requirement - equity)
