"""The ledger's read side: what its positions are worth at their marks, its buying power, its initial and
maintenance margin, and the `Position` and `Account` snapshots built from them.

Functions of a `broker_sim.ledger.Ledger` (its own helpers: they read its holdings), kept apart from the write
side (reservations and fills) so each module has one job. The formulas are the ledger's module docstring's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker_sim.holdings import Holding
from broker_sim.models import Account, Position

if TYPE_CHECKING:
    from broker_sim.ledger import Ledger

__all__ = [
    "DEFAULT_MAINTENANCE_LONG",
    "DEFAULT_MAINTENANCE_SHORT",
    "DEFAULT_MARGIN_MULTIPLIER",
    "DEFAULT_SHORT_MARGIN",
    "account_of",
    "position_of",
    "power",
    "power_of",
]

#: Cash accounts: a short sale needs buying power of 1.5 x its value (besides its proceeds), Reg T's 150 %.
DEFAULT_SHORT_MARGIN = 1.5
#: Margin accounts: buying power is 2x the equity above the initial margin (Reg T's 50 %).
DEFAULT_MARGIN_MULTIPLIER = 2.0
#: Maintenance margin: the equity an account must keep, as a share of its positions' values (Alpaca's 30 % for
#: longs and shorts; its table's low-price tiers are `broker_sim.rules.margin`'s, given as `maintenance`).
DEFAULT_MAINTENANCE_LONG = 0.30
DEFAULT_MAINTENANCE_SHORT = 0.30


def _values(
    ledger: Ledger, symbol: str | None = None, quantity: float = 0.0, mark: float | None = None
) -> tuple[float, float]:
    """(long, short) market values of `ledger`'s positions (short >= 0), with `symbol` held at `quantity` instead
    (valued at `mark`, else its mark) when given."""
    long_value = short_value = 0.0
    for other, held in ledger._holdings.items():
        if other == symbol:
            continue
        if held.quantity > 0:
            long_value += held.quantity * ledger.mark(other)
        elif held.quantity < 0:
            short_value -= held.quantity * ledger.mark(other)
    if symbol is not None:
        price = mark if mark is not None else ledger.mark(symbol)
        if quantity > 0:
            long_value += quantity * price
        else:
            short_value -= quantity * price
    return long_value, short_value


def power(
    ledger: Ledger,
    cash: float,
    reserved: float,
    symbol: str | None = None,
    quantity: float = 0.0,
    mark: float | None = None,
) -> float:
    """`ledger`'s buying power with `cash` and `reserved`, `symbol` held at `quantity` (valued at `mark`) when
    given: `Ledger.buying_power` now, or after a fill (`Ledger.fill_refusal`)."""
    if ledger.margin_multiplier is None:  # a cash account: only shorts count, so longs need no mark
        if not ledger.at_risk and quantity >= 0.0:  # it holds no short, nor will it: `power_of` with none
            return cash - reserved - 0.0 * (1.0 + ledger.short_margin)
        short_value = 0.0
        for other, held in ledger._holdings.items():
            if held.quantity < 0 and other != symbol:
                short_value -= held.quantity * ledger.mark(other)
        if symbol is not None and quantity < 0:
            short_value -= quantity * (mark if mark is not None else ledger.mark(symbol))
        return power_of(ledger, cash, reserved, 0.0, short_value)[0]
    long_value, short_value = _values(ledger, symbol, quantity, mark)
    return power_of(ledger, cash, reserved, long_value, short_value)[0]


def power_of(
    ledger: Ledger, cash: float, reserved: float, long_value: float, short_value: float
) -> tuple[float, float]:
    """(buying power, initial margin) of an account with `cash`, `reserved` by open orders and positions worth
    `long_value` and `short_value` (>= 0), under `ledger`'s settings: the one formula for both. Cash account:
    cash less reservations less what shorts hold (proceeds plus `short_margin` x value), initial margin
    `short_margin` x the shorts. Margin account: `margin_multiplier` x (equity - initial margin) less
    reservations, the initial margin the positions' value over the multiplier (a cash account's longs do not
    count: pass 0 for them)."""
    multiplier = ledger.margin_multiplier
    if multiplier is None:
        return cash - reserved - short_value * (1.0 + ledger.short_margin), short_value * ledger.short_margin
    initial = (long_value + short_value) / multiplier
    return (cash + long_value - short_value - initial) * multiplier - reserved, initial


def _totals(ledger: Ledger) -> tuple[float, float, float, float]:
    """(long value, short value (>= 0), unrealized P&L, maintenance requirement) of `ledger`'s positions at their
    marks, in one pass: the one place the maintenance margin is summed."""
    long_value = short_value = unrealized = maintenance = 0.0
    for symbol, held in ledger._holdings.items():
        quantity = held.quantity
        if quantity:
            price = ledger.mark(symbol)
            value = quantity * price
            if quantity > 0:
                long_value += value
            else:
                short_value -= value
            unrealized += value - quantity * held.avg_price
            maintenance += ledger.position_requirement(quantity, price)
    return long_value, short_value, unrealized, maintenance


def position_of(ledger: Ledger, symbol: str, held: Holding) -> Position:
    """A snapshot of `ledger`'s holding `held` of `symbol`, at its mark."""
    price = ledger.mark(symbol)
    quantity = held.quantity
    return Position(
        symbol=symbol,
        quantity=quantity,
        avg_price=held.avg_price,
        market_price=price,
        market_value=quantity * price,
        cost_basis=quantity * held.avg_price,
        realized_pnl=held.realized_pnl,
        unrealized_pnl=quantity * (price - held.avg_price),
    )


def account_of(
    ledger: Ledger,
    *,
    daytrade_count: int | None = None,
    pattern_day_trader: bool | None = None,
    last_equity: float | None = None,
    last_maintenance_margin: float | None = None,
    daytrading_buying_power: float | None = None,
) -> Account:
    """A snapshot of `ledger`'s whole account at the current marks, with Alpaca's day-trading fields as given (None:
    not reported), so that a snapshot with them is built once, not built and then copied."""
    long_value, short_value, unrealized, maintenance = _totals(ledger)
    buying_power, initial = power_of(ledger, ledger.cash, ledger._reserved_cash, long_value, short_value)
    return Account(
        cash=ledger.cash,
        equity=ledger.cash + long_value - short_value,
        buying_power=buying_power,
        realized_pnl=ledger.realized_pnl,
        unrealized_pnl=unrealized,
        fees=ledger.fees,
        initial_balance=ledger.initial_balance,
        long_market_value=long_value,
        short_market_value=-short_value,
        initial_margin=initial,
        maintenance_margin=maintenance,
        daytrade_count=daytrade_count,
        pattern_day_trader=pattern_day_trader,
        last_equity=last_equity,
        last_maintenance_margin=last_maintenance_margin,
        daytrading_buying_power=daytrading_buying_power,
    )
