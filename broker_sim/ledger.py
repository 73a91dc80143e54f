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
* Orders reserve buying power at submission (`plan_reservation`, then `hold` through the account's door), so
  concurrent orders can never spend the same cash twice; sells of a long reserve the shares they sell, so two
  sells cannot sell the same shares. Fills use the reservation up; `release` frees what is left when the order
  ends (filled, canceled, rejected, expired).
  With shorting, a sale beyond its own promised shares can sell shares promised to another sell order: that
  order's promise then becomes a short sale holding short margin instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from broker_sim._members import (
    _SIDE_BUY,
    _SIDE_SELL,
)
from broker_sim._numeric import MONEY_EPSILON, QTY_EPSILON, money_covers
from broker_sim.holdings import Holding, holding_after
from broker_sim.ledger_values import HoldingSnapshot, LedgerSnapshot, Reservation
from broker_sim.ledger_values import new_reservation as _reservation
from broker_sim.models import Account, Fill, Order, Position, Side
from broker_sim.valuation import (
    DEFAULT_MAINTENANCE_LONG,
    DEFAULT_MAINTENANCE_SHORT,
    DEFAULT_MARGIN_MULTIPLIER,
    DEFAULT_SHORT_MARGIN,
    account_of,
    position_of,
)
from broker_sim.valuation import power as _power

#: The values and read side live in `broker_sim.holdings` and `broker_sim.valuation`; these names are re-exported
#: here, where callers have always imported them.
__all__ = [
    "DEFAULT_MAINTENANCE_LONG",
    "DEFAULT_MAINTENANCE_SHORT",
    "DEFAULT_MARGIN_MULTIPLIER",
    "DEFAULT_SHORT_MARGIN",
    "FillRefused",
    "HoldingSnapshot",
    "Ledger",
    "LedgerSnapshot",
    "Reservation",
    "holding_after",
]


class FillRefused(Exception):
    """A fill `Ledger.book_fill` was asked to check and refused (nothing booked): `reason` says why, as
    `Ledger.fill_refusal` would."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Ledger:
    """Cash, positions and reservations of one account. Not thread-safe; one event loop owns it.

    Each change comes in two steps, so a caller can check before it writes: `plan_reservation` and
    `fill_refusal` only look; `hold`, `release` and `book_fill` change. The one caller that changes it is
    `broker_sim.account.AccountState.apply` (the door): it checks, records, then changes; with nothing to record
    between (no journal), a fill is checked and booked in one pass (`book_fill`'s `check`).

    `maintenance`, when given, is the maintenance margin of one position (``maintenance(quantity, price)``,
    Alpaca's table in `broker_sim.rules.margin`); else flat `maintenance_long`/`maintenance_short` rates.

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
        margin_multiplier: float | None = None,
        maintenance_long: float = DEFAULT_MAINTENANCE_LONG,
        maintenance_short: float = DEFAULT_MAINTENANCE_SHORT,
        maintenance: Callable[[float, float], float] | None = None,
    ) -> None:
        self.initial_balance = float(initial_balance)
        self.allow_short = allow_short
        self.short_margin = short_margin
        #: None for a cash account; for a margin account, buying power is this multiple of the excess equity.
        self.margin_multiplier = margin_multiplier
        self.maintenance_long = maintenance_long
        self.maintenance_short = maintenance_short
        #: ``maintenance(quantity, price)``: the equity one position requires (None: `maintenance_long` of a
        #: long's value, `maintenance_short` of a short's).
        self.maintenance = maintenance
        #: Last prices by symbol: anything with ``get(symbol, default)``; a plain dict unless the owner gives one.
        self.marks: Any = {} if marks is None else marks
        self.cash = self.initial_balance
        self.fees = 0.0
        self.realized_pnl = 0.0
        self._holdings: dict[str, Holding] = {}
        #: ``holding(symbol)``: the symbol's holding (read it, never change it), or None when it never had one. The
        #: dict's own ``get``: the venue reads a position so on every fill, without `quantity`'s frame.
        self.holding: Callable[[str], Holding | None] = self._holdings.get
        self._reservations: dict[str, Reservation] = {}
        self._reserved_shares: dict[str, float] = {}
        self._reserved_cash = 0.0
        #: Whether a price move can take the account below its maintenance margin (it holds a short, or it is a
        #: margin account holding anything): only then is the margin checked on market updates.
        self.at_risk = False

    # -- reservations -------------------------------------------------------------------------------------

    @property
    def reserved_cash(self) -> float:
        """Cash held by open orders."""
        return self._reserved_cash

    def reservations(self) -> Mapping[str, Reservation]:
        """What each open order holds, by order id (a read-only view)."""
        return dict(self._reservations)

    def reservation(self, order_id: str) -> Reservation | None:
        """What the order `order_id` holds, or None."""
        return self._reservations.get(order_id)

    def shares_available(self, symbol: str, releasing: str | None = None) -> float:
        """Long shares of `symbol` not already promised to an open sell order (other than `releasing`'s)."""
        held = self._holdings.get(symbol)
        long_qty = held.quantity if held is not None and held.quantity > 0.0 else 0.0
        promised = self._reserved_shares.get(symbol, 0.0)
        freed = self._reservations.get(releasing) if releasing is not None else None
        if freed is not None and freed.symbol == symbol:
            promised -= freed.shares
        free = long_qty - promised
        return free if free > 0.0 else 0.0

    def plan_reservation(
        self,
        order_id: str,
        symbol: str,
        side: Side,
        quantity: float,
        cash_per_unit: float,
        releasing: str | None = None,
        check_power: bool = True,
    ) -> Reservation | str:
        """What an order of `quantity` must hold, or the reason it cannot be placed; changes nothing.

        `cash_per_unit` is the caller's estimate of one unit's cost, slippage and fees included; for short sales
        the ledger takes only the margin part of it. `releasing` is an order whose reservation the new one
        replaces (a replace): what it holds counts as available. `check_power=False` leaves the buying power
        check to the caller (the account's door makes it when the reservation is held). Every argument may be
        given by position: a new order's plan is asked so, on every order's path (a keyword call is dearer).
        """
        held = self._holdings.get(symbol)
        position = held.quantity if held is not None else 0.0
        if side is _SIDE_BUY:
            if position < 0.0:  # it covers (some of) a short first; the rest opens a long
                covering = -position if -position < quantity else quantity
                units = quantity - covering
            else:
                units = quantity
            shares, per_unit = 0.0, cash_per_unit
        else:
            if releasing is None:  # `shares_available(symbol)`, written out: a call less on every sell's path
                free = (position if position > 0.0 else 0.0) - self._reserved_shares.get(symbol, 0.0)
                if not free > 0.0:
                    free = 0.0
            else:
                free = self.shares_available(symbol, releasing)
            shares = free if free < quantity else quantity
            units = quantity - shares
            if units > QTY_EPSILON and not self.allow_short:
                return (
                    f"short selling is disabled: selling {quantity:g} {symbol} but only {shares:g} are held "
                    f"and not already being sold"
                )
            # Cash account: a short needs buying power of `short_margin` x its value; its proceeds stay with it.
            # Margin account: its value, as a long's (buying power already counts the multiplier).
            per_unit = cash_per_unit if self.margin_multiplier is not None else cash_per_unit * self.short_margin
        if check_power and units > QTY_EPSILON:
            needed = per_unit * units
            available = self.buying_power()
            freed = self._reservations.get(releasing) if releasing is not None else None
            if freed is not None:
                available += freed.cash
            if not money_covers(available, needed):
                return (
                    f"insufficient buying power: {side.value} {quantity:g} {symbol} needs {needed:.2f}, "
                    f"available {available:.2f}"
                )
        return _reservation(order_id, symbol, side, per_unit, 0.0 if units < 0.0 else units, shares)

    def hold_refusal(
        self, reservation: Reservation, releasing: str | None = None, order: Order | None = None
    ) -> str | None:
        """Why the account cannot hold `reservation` (not enough buying power, shares other orders hold; what
        `releasing` holds counts as free), or None; changes nothing. The reason names `order` when given.

        The account's door asks it before it records a replacement, then `hold`s (`plan_reservation` with
        ``check_power=False`` leaves the buying power check to it); a new order it asks `hold_new` (which holds in
        the same pass when no journal records between the check and the hold)."""
        if releasing is None:
            return self.hold_new(reservation, order, False)
        cash = reservation.cash
        if cash > 0.0:
            available = self.buying_power()
            freed = self._reservations.get(releasing)
            if freed is not None:
                available += freed.cash
            if not money_covers(available, cash):
                what = f" {order.side.value} {order.quantity:g} {order.symbol}" if order is not None else ""
                return f"insufficient buying power:{what} needs {cash:.2f}, available {available:.2f}"
        shares = reservation.shares
        if shares > QTY_EPSILON and shares > self.shares_available(reservation.symbol, releasing) + QTY_EPSILON:
            return f"cannot reserve {shares:g} {reservation.symbol}: they are held by other orders"
        return None

    def hold_new(self, reservation: Reservation, order: Order | None = None, holding: bool = True) -> str | None:
        """`hold_refusal` and `hold` in one pass, for the reservation of a new order (which releases nothing):
        the reason the account cannot hold it (nothing changed), or None once it is held. With `holding` false
        it only looks (`hold_refusal`). The account's door takes a new order's reservation so when nothing is
        recorded between the check and the hold (no journal): this is on every order's path. By position."""
        cash = reservation.cash_per_unit * reservation.cash_units  # (`reservation.cash`, without the property's call)
        if cash > 0.0:
            if self.margin_multiplier is None and not self.at_risk:  # `buying_power`, without its calls: `power`'s
                available = self.cash - self._reserved_cash - 0.0 * (1.0 + self.short_margin)  # cash account, no short
            else:
                available = _power(self, self.cash, self._reserved_cash)
            if not available >= cash - MONEY_EPSILON:  # `money_covers`, without its call (on every order's path)
                what = f" {order.side.value} {order.quantity:g} {order.symbol}" if order is not None else ""
                return f"insufficient buying power:{what} needs {cash:.2f}, available {available:.2f}"
        shares = reservation.shares
        if shares > QTY_EPSILON:
            symbol = reservation.symbol
            # `shares_available(symbol)`, written out (a sale of a long asks it on every order)
            held = self._holdings.get(symbol)
            long_qty = held.quantity if held is not None and held.quantity > 0.0 else 0.0
            if shares > long_qty - self._reserved_shares.get(symbol, 0.0) + QTY_EPSILON:  # (free below 0: refused)
                return f"cannot reserve {shares:g} {symbol}: they are held by other orders"
        if holding:  # `hold`, written out (the order holds nothing yet, unless it was held before: then `hold`)
            order_id = reservation.order_id
            if order_id in self._reservations:
                self.hold(reservation)
                return None
            self._reservations[order_id] = reservation
            self._reserved_cash += cash
            if shares:
                symbol = reservation.symbol
                self._reserved_shares[symbol] = self._reserved_shares.get(symbol, 0.0) + shares
        return None

    def hold(self, reservation: Reservation) -> None:
        """Hold a planned reservation (replacing any the order had)."""
        order_id = reservation.order_id
        if order_id in self._reservations:
            self.release(order_id)
        self._reservations[order_id] = reservation
        self._reserved_cash += reservation.cash_per_unit * reservation.cash_units  # (`cash`, without its call)
        if reservation.shares:
            symbol = reservation.symbol
            self._reserved_shares[symbol] = self._reserved_shares.get(symbol, 0.0) + reservation.shares

    def release(self, order_id: str) -> None:
        """Free what an order still holds; call it when the order ends. Unknown ids are ignored."""
        reservation = self._reservations.pop(order_id, None)
        if reservation is None:
            return
        self._reserved_cash = self._reserved_cash - reservation.cash if self._reservations else 0.0
        if reservation.shares:
            self._take_reserved_shares(reservation.symbol, reservation.shares)

    def _take_reserved_shares(self, symbol: str, shares: float) -> None:
        left = self._reserved_shares.get(symbol, 0.0) - shares
        if left < QTY_EPSILON:  # zero (`qty_is_zero`) or below it, in one comparison
            self._reserved_shares.pop(symbol, None)
        else:
            self._reserved_shares[symbol] = left

    def _used(
        self, reservation: Reservation, fill: Fill, position_before: float, remaining: float | None
    ) -> tuple[float, float]:
        """(shares, cash units) of `reservation` that `fill` uses: sold shares first, then cash units; at least
        enough that neither is above what the order has left to fill (`remaining`, when known) afterwards.

        Minima and maxima here and on the ledger's other per-fill paths are written as conditional expressions
        (``b if b < a else a``, exactly what ``min(a, b)`` returns): the builtins parse their arguments as
        keyword-capable calls, ~750 instructions each on CPython 3.11, and a fill takes a dozen.

        A fill that completes its order (`remaining` 0) uses all of it: what the general case works out then
        (``shares - 0.0`` and ``cash_units - 0.0``, each at least what the fill itself takes)."""
        shares, cash_units = reservation.shares, reservation.cash_units
        if remaining == 0.0:  # the fill completes the order (the common case): it uses all of the reservation
            return shares, cash_units
        quantity = fill.quantity
        if fill.side is _SIDE_SELL:
            from_shares = shares if shares < quantity else quantity
            opened = quantity - from_shares
        else:
            from_shares = 0.0
            short = -position_before if -position_before > 0.0 else 0.0
            opened = quantity - (short if short < quantity else quantity)
        units = opened if opened < cash_units else cash_units
        if remaining is not None:
            left_shares = shares - remaining
            if left_shares > from_shares:
                from_shares = left_shares
            left_units = cash_units - remaining
            least = left_units if left_units < cash_units else cash_units
            if least > units:
                units = least
        return from_shares, units

    # -- fills ----------------------------------------------------------------------------------------------

    def fill_refusal(self, fill: Fill, order_id: str | None = None, remaining: float | None = None) -> str | None:
        """Why `fill` (of `order_id`, using its reservation) cannot be booked, or None; changes nothing.

        A fill that would leave buying power below zero (beyond its order's reservation, e.g. the price ran away
        during latency) or open a short when shorting is disabled is refused. A fill that only shrinks a
        position is never refused. (`book_fill`'s check, without the booking.)
        """
        try:
            self.book_fill(fill, order_id, remaining, True, False)
        except FillRefused as exc:
            return exc.reason
        return None

    def book_fill(
        self,
        fill: Fill,
        order_id: str | None = None,
        remaining: float | None = None,
        check: bool = False,
        book: bool = True,
    ) -> tuple[float, float]:
        """Book `fill`, using up the reservation of `order_id` (`remaining`: what the order has left to fill after
        it, when known; at most `QTY_EPSILON` drops the reservation, as `release` would). Returns the symbol's
        signed quantity before and after it.

        No check unless `check`: then the fill is checked first, in the same pass, and a refusal (what
        `fill_refusal` answers) raises `FillRefused` with nothing changed; the account's door books a fill so
        when nothing is recorded between the check and the booking (no journal). With `book` false, only the
        check is made (`fill_refusal`): `book` false asks for `check`. By position (every fill's path)."""
        if not book and not check:
            raise ValueError("book_fill with book=False only checks the fill: it needs check=True")
        symbol = fill.symbol
        held = self._holdings.get(symbol)
        reservation = self._reservations.get(order_id) if order_id is not None else None
        if check:
            before = held.quantity if held is not None else 0.0
            quantity = fill.quantity
            if fill.side is _SIDE_BUY:
                signed = quantity
            else:
                signed = -quantity
                if not self.allow_short and quantity > (before if before > 0.0 else 0.0) + QTY_EPSILON:
                    raise FillRefused(
                        f"short selling is disabled: cannot sell {quantity:g} {symbol} holding {before:g}"
                    )
            after = before + signed
            # Only a fill that grows exposure can be refused: abs(after) > abs(before) + QTY_EPSILON, or it crosses
            # zero (written without the builtins' calls, as in `_used`).
            if (after if after > 0.0 else -after) > (before if before > 0.0 else -before) + QTY_EPSILON or (
                before * after < 0.0
            ):
                cash = self.cash - signed * fill.price - fill.fee
                reserved = self._reserved_cash
                if reservation is not None:
                    # A fill that completes its order uses all of its cash units (`_used`'s first case, in line).
                    if remaining == 0.0:
                        units = reservation.cash_units
                    else:
                        units = self._used(reservation, fill, before, remaining)[1]
                    reserved -= reservation.cash_per_unit * units
                if after < 0.0 or self.margin_multiplier is not None:  # (a cash account's longs need no mark)
                    mark = self.marks.get(symbol)
                    if mark is None and after:  # a position with no market price is valued at its (new) average price
                        mark = holding_after(before, held.avg_price if held is not None else 0.0, fill)[1]
                    power = _power(self, cash, reserved, symbol, after, mark)
                elif self.at_risk:
                    power = _power(self, cash, reserved, symbol, after, None)
                else:  # `power` of a cash account that holds no short, nor will after the fill: written out
                    power = cash - reserved - 0.0 * (1.0 + self.short_margin)
                if not power >= 0.0 - MONEY_EPSILON:  # (`money_covers`, inline)
                    raise FillRefused(
                        f"insufficient buying power at fill: {fill.side.value} {quantity:g} {symbol} "
                        f"at {fill.price:.4f} costs more than is available"
                    )
            if not book:
                return before, after
        if held is None:
            held = self._holdings[symbol] = Holding()
        if reservation is not None:
            if remaining == 0.0:  # the fill completes the order: it uses all of it (`_used`, without its call)
                shares, units = reservation.shares, reservation.cash_units
            else:
                shares, units = self._used(reservation, fill, held.quantity, remaining)
            if shares:  # (`_take_reserved_shares`, without its call: a sale of a long takes them on every fill)
                left = self._reserved_shares.get(symbol, 0.0) - shares
                if left < QTY_EPSILON:
                    self._reserved_shares.pop(symbol, None)
                else:
                    self._reserved_shares[symbol] = left
            if units:
                self._reserved_cash -= units * reservation.cash_per_unit
            if remaining is not None and remaining <= QTY_EPSILON:  # the order is done: all of it is used up
                del self._reservations[reservation.order_id]  # (what `release` would do when the order ends)
                if not self._reservations:
                    self._reserved_cash = 0.0
            elif shares or units:
                self._reservations[reservation.order_id] = _reservation(
                    reservation.order_id,
                    symbol,
                    reservation.side,
                    reservation.cash_per_unit,
                    reservation.cash_units - units,
                    reservation.shares - shares,
                )
        before = held.quantity
        # Cash, fees, the holding and realized P&L (written out here: a call less on every fill; the fill's fields
        # read once each).
        side, fee = fill.side, fill.fee
        self.cash -= (fill.quantity if side is _SIDE_BUY else -fill.quantity) * fill.price + fee
        self.fees += fee
        quantity, held.avg_price, pnl = holding_after(before, held.avg_price, fill)
        held.quantity = quantity
        if pnl:
            held.realized_pnl += pnl
            self.realized_pnl += pnl
        if side is _SIDE_SELL and self._reserved_shares:
            self._reclaim_shares(symbol, quantity if quantity > 0.0 else 0.0)
        margin = self.margin_multiplier is not None
        if quantity < 0.0 or (margin and quantity):
            self.at_risk = True
        elif self.at_risk and (before < 0.0 or (margin and before)):  # it was at risk; is any other holding?
            self.at_risk = any(h.quantity < 0 or (margin and h.quantity) for h in self._holdings.values())
        return before, quantity

    def _reclaim_shares(self, symbol: str, long_quantity: float) -> None:
        """After a sale left fewer long shares than sell orders were promised, the newest promises become short
        sales: their shares turn into units that need short margin (shorting only; buying power may dip)."""
        excess = self._reserved_shares.get(symbol, 0.0) - long_quantity
        if excess <= QTY_EPSILON:
            return
        for order_id in reversed(list(self._reservations)):
            reservation = self._reservations[order_id]
            if reservation.symbol != symbol or not reservation.shares:
                continue
            moved = min(reservation.shares, excess)
            self._reservations[order_id] = attrs.evolve(
                reservation, shares=reservation.shares - moved, cash_units=reservation.cash_units + moved
            )
            self._reserved_cash += moved * reservation.cash_per_unit
            self._take_reserved_shares(symbol, moved)
            excess -= moved
            if excess <= QTY_EPSILON:
                return

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

    def buying_power(self) -> float:
        """What a new order may still use. Cash account: cash, less reservations, less what shorts hold. Margin
        account: `margin_multiplier` x (equity - initial margin), less reservations."""
        return _power(self, self.cash, self._reserved_cash)

    def position_requirement(self, quantity: float, price: float) -> float:
        """The maintenance margin a position of `quantity` (signed) at `price` requires."""
        if self.maintenance is not None:
            return self.maintenance(quantity, price)
        rate = self.maintenance_long if quantity > 0 else self.maintenance_short
        return abs(quantity) * price * rate

    def charge(self, amount: float) -> None:
        """Take a non-trade charge (a borrow fee, margin interest) from cash; it counts in `fees`."""
        self.cash -= amount
        self.fees += amount

    def position(self, symbol: str) -> Position | None:
        """A snapshot of the open position in `symbol`, or None when flat."""
        held = self._holdings.get(symbol)
        if held is None or held.quantity == 0.0:
            return None
        return position_of(self, symbol, held)

    def positions(self) -> list[Position]:
        """Snapshots of every open position, in the order the symbols were first traded."""
        return [position_of(self, s, h) for s, h in self._holdings.items() if h.quantity != 0.0]

    def realized_by_symbol(self) -> Mapping[str, float]:
        """Realized P&L per symbol traded so far, open or flat."""
        return {symbol: held.realized_pnl for symbol, held in self._holdings.items()}

    def account(self) -> Account:
        """A snapshot of the whole account at the current marks."""
        return account_of(self)

    # -- snapshots ------------------------------------------------------------------------------------------

    def snapshot(self) -> LedgerSnapshot:
        """What the ledger holds now (its settings and marks excepted), for a journal's snapshot."""
        return LedgerSnapshot(
            cash=self.cash,
            fees=self.fees,
            realized_pnl=self.realized_pnl,
            holdings=tuple(
                HoldingSnapshot(symbol, held.quantity, held.avg_price, held.realized_pnl)
                for symbol, held in self._holdings.items()
            ),
            reservations=tuple(self._reservations.values()),
            reserved_shares=dict(self._reserved_shares),
            reserved_cash=self._reserved_cash,
        )

    def restore(self, snapshot: LedgerSnapshot) -> None:
        """Put back what `snapshot` holds (recovery from a journal), replacing the money, holdings and reservations."""
        self.cash = snapshot.cash
        self.fees = snapshot.fees
        self.realized_pnl = snapshot.realized_pnl
        self._holdings = {}
        self.holding = self._holdings.get
        for record in snapshot.holdings:
            held = self._holdings[record.symbol] = Holding()
            held.quantity, held.avg_price, held.realized_pnl = record.quantity, record.avg_price, record.realized_pnl
        self._reservations = {reservation.order_id: reservation for reservation in snapshot.reservations}
        self._reserved_shares = dict(snapshot.reserved_shares)
        self._reserved_cash = snapshot.reserved_cash
        margin = self.margin_multiplier is not None
        self.at_risk = any(h.quantity < 0 or (margin and h.quantity) for h in self._holdings.values())
