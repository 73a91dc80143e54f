"""Built-in financing models: the borrow fee a short position pays, and the interest on a margin account's debit
balance, each charged at the session close for the calendar days until the next one (3 over a weekend).

Alpaca's rules, which the defaults follow:

* Borrow fees (https://alpaca.markets/support/short-selling-fees): daily fee = end-of-day short market value x
  the stock's annual rate / 360, charged on the nearest round lot of 100 shares above the short, for each calendar
  day a short is held over (Friday's close pays for Friday, Saturday and Sunday). Easy-to-borrow names cost 0 by
  default here (Alpaca does not publish its rate; a config sets `rate`), hard-to-borrow ones the rate in `rates`.
* Margin interest (https://alpaca.markets/support/determine-margin-account/): daily interest = the end-of-day
  debit balance x the annual rate / 360; Alpaca names 3.75 % there (its fee schedule has the current rate).

The paper broker books both at each close (accrued and charged daily, not monthly), rounded to the cent, as
account activities ``FEE`` and ``INT``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from broker_sim._numeric import QTY_EPSILON
from broker_sim.builtin._params import number
from broker_sim.hookspecs import HookContext, hookimpl

__all__ = ["AnnualBorrowRate", "AnnualMarginRate", "NoBorrowFee", "NoMarginInterest"]

#: The day count of Alpaca's annual rates.
DAYS_PER_YEAR = 360
#: Alpaca's borrow fee is charged on round lots of this many shares.
ROUND_LOT = 100
#: The annual margin rate Alpaca's support page names.
ALPACA_MARGIN_RATE = 0.0375


def _rates(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A validator: a mapping of symbol to a finite annual rate >= 0."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{attribute.name} must map symbols to annual rates, got {value!r}")
    for symbol, rate in value.items():
        if not isinstance(symbol, str) or not symbol:
            raise ValueError(f"{attribute.name}: symbols are non-empty strings, got {symbol!r}")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) or rate < 0:
            raise ValueError(f"{attribute.name}.{symbol} must be a finite number >= 0, got {rate!r}")


@attrs.frozen(slots=True)
class NoBorrowFee:
    """Shorts cost nothing to hold."""

    @hookimpl
    def broker_sim_borrow_fee(self, symbol: str, quantity: float, price: float, days: int) -> float | None:
        return 0.0


@attrs.frozen(slots=True, eq=False)  # registered as a plugin: hashed by identity (`rates` is a dict)
class AnnualBorrowRate:
    """Alpaca's borrow fee (module docstring): `rate` a year for every symbol not in `rates` (easy to borrow; 0
    by default), `rates[symbol]` for the others, on `round_lot` shares (100; 1 charges the exact short), per
    calendar day, a year being `days_per_year` (360) days."""

    rate: float = attrs.field(default=0.0, validator=number(minimum=0))
    rates: Mapping[str, float] = attrs.field(factory=dict, validator=_rates)
    round_lot: float = attrs.field(default=ROUND_LOT, validator=number(above=0))
    days_per_year: float = attrs.field(default=DAYS_PER_YEAR, validator=number(above=0))

    @hookimpl
    def broker_sim_borrow_fee(self, symbol: str, quantity: float, price: float, days: int) -> float | None:
        rate = self.rates.get(symbol, self.rate)
        if not rate:
            return 0.0
        lots = math.ceil((quantity - QTY_EPSILON) / self.round_lot)
        return lots * self.round_lot * price * rate * days / self.days_per_year


@attrs.frozen(slots=True)
class NoMarginInterest:
    """A debit balance costs nothing."""

    @hookimpl
    def broker_sim_margin_interest(self, debit: float, days: int) -> float | None:
        return 0.0


@attrs.frozen(slots=True)
class AnnualMarginRate:
    """Alpaca's margin interest (module docstring): `rate` a year (3.75 %, the rate Alpaca's page names) of the
    end-of-day debit balance, per calendar day, a year being `days_per_year` (360) days."""

    rate: float = attrs.field(default=ALPACA_MARGIN_RATE, validator=number(minimum=0))
    days_per_year: float = attrs.field(default=DAYS_PER_YEAR, validator=number(above=0))

    @hookimpl
    def broker_sim_margin_interest(self, debit: float, days: int, ctx: HookContext) -> float | None:
        return debit * self.rate * days / self.days_per_year
