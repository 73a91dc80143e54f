"""The ledger keeps the money: cash, signed positions with average price, realized and unrealized P&L, fees,
and buying power net of the reservations open orders hold.

Accounting rules, all in one place:

* A fill that grows a position moves its average price to the quantity-weighted mean; fees are not included.
* A fill that shrinks a position realizes ``quantity x (price - avg_price)`` (reversed for shorts); a fill that
  crosses zero closes the old side, realizing its P&L, and opens the new side at the fill price.
* Fees are taken from cash and summed in `fees`; realized P&L is gross of fees. So at every moment
  ``cash + sum(quantity x avg_price) == initial_balance + realized_pnl - fees``.
* Buying power is ``cash - reserved - (1 + short_margin) x |market value of shorts|``: longs are paid in cash;
  a short keeps its own sale proceeds plus `short_margin` (Reg T initial margin: 1.5) times its value, so a
  short sale needs, and uses, buying power of 1.5 x its value; both follow the short's market value.
* Orders reserve buying power at submission (`reserve`), so concurrent orders can never spend the same cash
  twice; sells of a long reserve the shares they sell, so two sells cannot sell the same shares. Fills use the
  reservation up; `release` frees what is left when the order ends (filled, canceled, rejected, expired).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker_sim._numeric import QTY_EPSILON, money_covers, qty_is_zero
from broker_sim.models import Account, Fill, Position, Side

__all__ = ["DEFAULT_SHORT_MARGIN", "Ledger"]

#: Reg T initial margin for shorts: a short sale needs buying power of 1.5 x its value (besides its proceeds).
DEFAULT_SHORT_MARGIN = 1.5


class _Holding:
    """The mutable state behind one symbol's `Position`."""

    __slots__ = ("avg_price", "quantity", "realized_pnl")

    def __init__(self) -> None:
        self.quantity = 0.0
        self.avg_price = 0.0
        self.realized_pnl = 0.0

    def copy(self) -> _Holding:
        twin = _Holding()
        twin.quantity, twin.avg_price, twin.realized_pnl = self.quantity, self.avg_price, self.realized_pnl
        return twin


class _Reservation:
    """What one open order holds: `cash_units` units at `cash_per_unit` each, and `shares` of a long it sells."""

    __slots__ = ("cash_per_unit", "cash_units", "shares", "side", "symbol")

    def __init__(self, symbol: str, side: Side, cash_per_unit: float, cash_units: float, shares: float) -> None:
        self.symbol = symbol
        self.side = side
        self.cash_per_unit = cash_per_unit
        self.cash_units = cash_units
        self.shares = shares

    @property
    def cash(self) -> float:
        return self.cash_per_unit * self.cash_units

    def copy(self) -> _Reservation:
        return _Reservation(self.symbol, self.side, self.cash_per_unit, self.cash_units, self.shares)


class Ledger:
    """Cash, positions and reservations of one account. Not thread-safe; one event loop owns it.

    `marks` gives each symbol's last price (``marks.get(symbol)``): a dict the owner updates, or a view the
    owner computes on demand (the paper broker reads its latest market events only when the ledger asks, so the
    replay hot path pays nothing). A position without a mark is valued at its average price.
    """

    def __init__(
        self,
        initial_balance: float,
        *,
        allow_short: bool = False,
        short_margin: float = DEFAULT_SHORT_MARGIN,
        marks: Any = None,
    ) -> None:
        self.initial_balance = float(initial_balance)
        self.allow_short = allow_short
        self.short_margin = short_margin
        #: Last prices by symbol: anything with ``get(symbol, default)``; a plain dict unless the owner gives one.
        self.marks: Any = {} if marks is None else marks
        self.cash = self.initial_balance
        self.fees = 0.0
        self.realized_pnl = 0.0
        self._holdings: dict[str, _Holding] = {}
        self._reservations: dict[str, _Reservation] = {}
        self._reserved_shares: dict[str, float] = {}

    # -- reservations -------------------------------------------------------------------------------------

    @property
    def reserved_cash(self) -> float:
        """Cash held by open orders."""
        return sum(r.cash for r in self._reservations.values())

    def shares_available(self, symbol: str) -> float:
        """Long shares of `symbol` not already promised to an open sell order."""
        held = self._holdings.get(symbol)
        long_qty = held.quantity if held is not None and held.quantity > 0 else 0.0
        return max(0.0, long_qty - self._reserved_shares.get(symbol, 0.0))

    def reserve(self, order_id: str, symbol: str, side: Side, quantity: float, cash_per_unit: float) -> str | None:
        """Reserve what an order of `quantity` needs, at `cash_per_unit` per unit that needs cash.

        `cash_per_unit` is the caller's estimate of one unit's cost, slippage and fees included; for short sales
        the ledger takes only the margin part of it. Returns None when reserved, or the reason the order must be
        rejected (nothing is reserved then).
        """
        held = self._holdings.get(symbol)
        position = held.quantity if held is not None else 0.0
        if side is Side.BUY:
            covering = min(quantity, max(0.0, -position))
            units, shares, per_unit = quantity - covering, 0.0, cash_per_unit
        else:
            shares = min(quantity, self.shares_available(symbol))
            units = quantity - shares
            if units > QTY_EPSILON and not self.allow_short:
                return (
                    f"short selling is disabled: selling {quantity:g} {symbol} but only {shares:g} are held "
                    f"and not already being sold"
                )
            # A short needs buying power of `short_margin` x its value; its proceeds stay with it.
            per_unit = cash_per_unit * self.short_margin
        needed = per_unit * units
        available = self.buying_power()
        if units > QTY_EPSILON and not money_covers(available, needed):
            return (
                f"insufficient buying power: {side.value} {quantity:g} {symbol} needs {needed:.2f}, "
                f"available {available:.2f}"
            )
        self._reservations[order_id] = _Reservation(symbol, side, per_unit, max(units, 0.0), shares)
        if shares:
            self._reserved_shares[symbol] = self._reserved_shares.get(symbol, 0.0) + shares
        return None

    def move_reservation(
        self, old_id: str, new_id: str, symbol: str, side: Side, quantity: float, cash_per_unit: float
    ) -> str | None:
        """Free `old_id`'s reservation and reserve for `new_id` instead (a replace); if the account cannot carry
        the new one, keep the old one as it was and return the reason."""
        old = self._reservations.pop(old_id, None)
        if old is not None and old.shares:
            self._take_reserved_shares(old.symbol, old.shares)
        reason = self.reserve(new_id, symbol, side, quantity, cash_per_unit)
        if reason is not None and old is not None:
            self._reservations[old_id] = old
            if old.shares:
                self._reserved_shares[old.symbol] = self._reserved_shares.get(old.symbol, 0.0) + old.shares
        return reason

    def release(self, order_id: str) -> None:
        """Free what an order still holds; call it when the order ends. Unknown ids are ignored."""
        reservation = self._reservations.pop(order_id, None)
        if reservation is not None and reservation.shares:
            self._take_reserved_shares(reservation.symbol, reservation.shares)

    def _take_reserved_shares(self, symbol: str, shares: float) -> None:
        left = self._reserved_shares.get(symbol, 0.0) - shares
        if qty_is_zero(left) or left < 0:
            self._reserved_shares.pop(symbol, None)
        else:
            self._reserved_shares[symbol] = left

    def _use_reservation(self, order_id: str, fill: Fill, position_before: float) -> None:
        """Shrink an order's reservation by what `fill` used: sold shares first, then cash units."""
        reservation = self._reservations.get(order_id)
        if reservation is None:
            return
        if fill.side is Side.SELL:
            from_shares = min(fill.quantity, reservation.shares)
            reservation.shares -= from_shares
            self._take_reserved_shares(fill.symbol, from_shares)
            opened = fill.quantity - from_shares
        else:
            opened = fill.quantity - min(fill.quantity, max(0.0, -position_before))
        reservation.cash_units = max(0.0, reservation.cash_units - opened)

    # -- fills ----------------------------------------------------------------------------------------------

    def apply_fill(self, fill: Fill, order_id: str | None = None) -> str | None:
        """Book `fill`, using up the reservation of `order_id`. Returns None when booked.

        A fill that would leave buying power below zero (beyond its order's reservation, e.g. the price ran away
        during latency) or open a short when shorting is disabled is refused: the reason is returned and nothing
        changes.
        """
        symbol = fill.symbol
        held = self._holdings.get(symbol)
        if held is None:
            held = self._holdings[symbol] = _Holding()
        before = held.quantity
        if fill.side is Side.SELL and not self.allow_short and fill.quantity > max(0.0, before) + QTY_EPSILON:
            return f"short selling is disabled: cannot sell {fill.quantity:g} {symbol} holding {before:g}"
        after = before + fill.signed_quantity
        grows = abs(after) > abs(before) + QTY_EPSILON or before * after < 0
        # Only a fill that grows exposure can be refused; only then is the state saved for a roll-back.
        saved = (
            (self.cash, self.fees, self.realized_pnl, held.copy(), self._snapshot_reservation(order_id))
            if grows
            else None
        )
        if order_id is not None:
            self._use_reservation(order_id, fill, before)
        self._book(held, fill)
        if saved is not None and not money_covers(self.buying_power(), 0.0):
            self._restore(symbol, order_id, saved)
            return (
                f"insufficient buying power at fill: {fill.side.value} {fill.quantity:g} {symbol} "
                f"at {fill.price:.4f} costs more than is available"
            )
        return None

    def _book(self, held: _Holding, fill: Fill) -> None:
        signed = fill.signed_quantity
        price = fill.price
        position = held.quantity
        self.cash -= signed * price + fill.fee
        self.fees += fill.fee
        if position == 0 or (position > 0) == (signed > 0):
            total = position + signed
            held.avg_price = (position * held.avg_price + signed * price) / total
            held.quantity = total
            return
        closing = min(abs(signed), abs(position))
        pnl = closing * (price - held.avg_price) * (1.0 if position > 0 else -1.0)
        held.realized_pnl += pnl
        self.realized_pnl += pnl
        remaining = position + signed
        if qty_is_zero(remaining):
            held.quantity, held.avg_price = 0.0, 0.0
        elif (remaining > 0) == (position > 0):
            held.quantity = remaining
        else:
            held.quantity, held.avg_price = remaining, price

    def _snapshot_reservation(self, order_id: str | None) -> tuple[_Reservation | None, float]:
        reservation = self._reservations.get(order_id) if order_id is not None else None
        if reservation is None:
            return None, 0.0
        return reservation.copy(), self._reserved_shares.get(reservation.symbol, 0.0)

    def _restore(
        self,
        symbol: str,
        order_id: str | None,
        saved: tuple[float, float, float, _Holding, tuple[_Reservation | None, float]],
    ) -> None:
        self.cash, self.fees, self.realized_pnl, holding, (reservation, reserved_shares) = saved
        self._holdings[symbol] = holding
        if order_id is not None and reservation is not None:
            self._reservations[order_id] = reservation
            if reserved_shares:
                self._reserved_shares[reservation.symbol] = reserved_shares

    # -- read side ------------------------------------------------------------------------------------------

    def mark(self, symbol: str) -> float:
        """The price a position in `symbol` is valued at: the last market price, else its average price."""
        price = self.marks.get(symbol)
        if price is None:
            held = self._holdings.get(symbol)
            return held.avg_price if held is not None else 0.0
        return price

    def quantity(self, symbol: str) -> float:
        """The signed quantity held in `symbol` (0.0 when flat)."""
        held = self._holdings.get(symbol)
        return held.quantity if held is not None else 0.0

    def short_requirement(self) -> float:
        """What open shorts hold of the account: their proceeds plus `short_margin` x their market value."""
        total = 0.0
        for symbol, held in self._holdings.items():
            if held.quantity < 0:
                total -= held.quantity * self.mark(symbol)
        return total * (1.0 + self.short_margin)

    def buying_power(self) -> float:
        """Cash a new order may still use: cash, less reservations, less the margin open shorts hold."""
        return self.cash - self.reserved_cash - self.short_requirement()

    def position(self, symbol: str) -> Position | None:
        """A snapshot of the open position in `symbol`, or None when flat."""
        held = self._holdings.get(symbol)
        if held is None or held.quantity == 0.0:
            return None
        return self._position(symbol, held)

    def _position(self, symbol: str, held: _Holding) -> Position:
        price = self.mark(symbol)
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

    def positions(self) -> list[Position]:
        """Snapshots of every open position, in the order the symbols were first traded."""
        return [self._position(s, h) for s, h in self._holdings.items() if h.quantity != 0.0]

    def realized_by_symbol(self) -> Mapping[str, float]:
        """Realized P&L per symbol traded so far, open or flat."""
        return {symbol: held.realized_pnl for symbol, held in self._holdings.items()}

    def equity_and_exposure(self) -> tuple[float, float]:
        """Equity (cash + market value) and gross exposure (sum of |market value|), cheaply, for sampling."""
        equity = self.cash
        exposure = 0.0
        marks = self.marks
        for symbol, held in self._holdings.items():
            quantity = held.quantity
            if quantity:
                value = quantity * marks.get(symbol, held.avg_price)
                equity += value
                exposure += abs(value)
        return equity, exposure

    def account(self) -> Account:
        """A snapshot of the whole account at the current marks."""
        market_value = 0.0
        unrealized = 0.0
        for symbol, held in self._holdings.items():
            if held.quantity:
                price = self.mark(symbol)
                market_value += held.quantity * price
                unrealized += held.quantity * (price - held.avg_price)
        return Account(
            cash=self.cash,
            equity=self.cash + market_value,
            buying_power=self.buying_power(),
            realized_pnl=self.realized_pnl,
            unrealized_pnl=unrealized,
            fees=self.fees,
            initial_balance=self.initial_balance,
        )
