"""What a rule is and what it may read: `Rule` (one of Alpaca's checks, relaxed by one setting) and `AccountView`
(the account and venue as the rules see them, which each adapter that enforces the rules provides).

`Door` is the door: it asks each rule in force that could refuse the order (its `concern`: the kind of request, and
whether the account gives the rule anything to check) in turn and raises the first refusal; `check_order` does the
same with a plain list of rules. Rules only read; a refused order changes nothing anywhere.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Final, Protocol

from broker_sim._members import (
    _SIDE_SELL,
    _TIF_CLS,
    _TIF_OPG,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.calendar import Session
from broker_sim.models import MarketData, Order, OrderRequest

from .assets import AssetFlags
from .settings import RuleSettings

__all__ = ["PDT_EQUITY", "AccountView", "Concern", "Door", "Rule", "active_rules", "check_order", "concerns_of"]

#: An account whose equity at the previous close is under this (dollars) is protected from pattern day trading
#: (`broker_sim.rules.day_trading`): the door asks the day-trading rule only about such an account's orders.
PDT_EQUITY = 25_000.0


class AccountView(Protocol):
    """The account and its venue, read-only, as the rules see them at one moment."""

    @property
    def rules(self) -> RuleSettings:
        """The rules in force."""
        ...

    @property
    def session(self) -> Session:
        """The trading session (sessions, extended hours, business days)."""
        ...

    @property
    def margin_account(self) -> bool:
        """Whether the account is a margin account."""
        ...

    @property
    def shorting_allowed(self) -> bool:
        """Whether the account's kind lets it sell short: a margin account, or one configured to (a cash account
        with ``allow_short: true``)."""
        ...

    def now(self) -> datetime:
        """The account's clock (timezone-aware UTC)."""
        ...

    def quantity(self, symbol: str) -> float:
        """The signed position in `symbol` (0.0 when flat)."""
        ...

    def open_orders(self, symbol: str) -> Sequence[Order]:
        """The orders in `symbol` that are not final, oldest first."""
        ...

    def open_order_ids(self, symbol: str) -> Collection[str] | None:
        """The ids of the orders in `symbol` that are not final (empty or None when there are none): what tells
        whether the symbol has open orders without building its list."""
        ...

    def symbols_with_open_orders(self) -> Iterable[str]:
        """The symbols that have open orders."""
        ...

    def market(self, symbol: str) -> MarketData | None:
        """The latest market event for `symbol`, if any."""
        ...

    def equity(self) -> float:
        """The account's equity now."""
        ...

    def last_equity(self) -> float:
        """The account's equity at the last session close (its starting balance before the first close)."""
        ...

    def day_trade_count(self) -> int:
        """Day trades made in the last 5 business days, today included."""
        ...

    def opened_today(self, symbol: str) -> tuple[bool, bool]:
        """Whether a fill today opened or grew (long, short) exposure in `symbol` that no day trade has closed."""
        ...

    def asset(self, symbol: str) -> AssetFlags:
        """What the venue says of `symbol` (shortable, easy to borrow, fractionable)."""
        ...


class Rule(Protocol):
    """One of Alpaca's order or account rules. `setting` names the `RuleSettings` field that turns it off (None:
    it cannot be turned off); `check` raises an `OrderRefused` (nothing changed) or returns None.

    `replacing` is the open order a replace would take over from (its own holdings and its side count as freed).
    """

    @property
    def setting(self) -> str | None:
        """The `RuleSettings` field that turns the rule off (None: always on)."""
        ...

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None: ...


class Concern(enum.Enum):
    """The kind of request a rule can refuse (a rule's `concern`, `ANY` when it says none): the door asks a rule
    only about requests of its kind, so an ordinary order meets only the rules that could refuse it.

    Besides the request's own kind (`SELLS`, `EXTENDED_HOURS`, `AUCTIONS`, `FRACTIONAL`), a concern may name what
    the account must hold for the rule to have anything to check: `OPEN_ORDERS` (the symbol has open orders),
    `CLOSING` (the order is on the side that reduces the position: a sell of a long, a buy of a short),
    `FLIPS` (a closing order that may be more than the position still available, so it could take it through
    zero: the symbol has open orders, the order is notional, or it is more than the position), `SHORT_SALES` (a
    sell that may be more than the long position still available: the symbol has open orders, the order is
    notional, or it is more than the position). `DAY_TRADES` is what the account's equity says: it was under
    `PDT_EQUITY` at the last close, so pattern day trader protection applies. Each is a superset of the requests
    the rule could refuse: a rule asked when it had nothing to check still answers right."""

    ANY = "any"
    SELLS = "sells"
    EXTENDED_HOURS = "extended_hours"
    AUCTIONS = "auctions"
    FRACTIONAL = "fractional"
    OPEN_ORDERS = "open_orders"
    CLOSING = "closing"
    FLIPS = "flips"
    SHORT_SALES = "short_sales"
    DAY_TRADES = "day_trades"


#: The concerns a `Door` tells apart, each with its bit in a plan's key (`Concern.ANY` is always true): an int is
#: hashed and compared in a few instructions, a tuple of nine flags in hundreds (the key is made for every order).
_KEYED: Final = (
    (Concern.SELLS, 1),
    (Concern.EXTENDED_HOURS, 2),
    (Concern.AUCTIONS, 4),
    (Concern.FRACTIONAL, 8),
    (Concern.OPEN_ORDERS, 16),
    (Concern.CLOSING, 32),
    (Concern.FLIPS, 64),
    (Concern.SHORT_SALES, 128),
    (Concern.DAY_TRADES, 256),
)


_AUCTIONS: Final = frozenset({_TIF_OPG, _TIF_CLS})


def concerns_of(request: OrderRequest) -> tuple[bool, bool, bool, bool]:
    """Whether `request` is a sell, extended hours, an auction order (opg, cls), fractional (or notional)."""
    quantity = request.quantity
    fractional = request.notional is not None or (quantity is not None and quantity % 1.0 != 0.0)
    return request.side is _SIDE_SELL, request.extended_hours, request.time_in_force in _AUCTIONS, fractional


class Door:
    """The rules in force for one set of settings, asked in order about each new order; `check` raises the first
    refusal. Each rule is asked only about requests of its `concern` (the plan for each kind of request is made
    once), so the door costs an ordinary order a few calls, however many rules there are: a buy with nothing open
    in its symbol meets only the rules that concern every order."""

    __slots__ = ("_day_trades", "_plans", "rules")

    def __init__(self, rules: Iterable[Rule], settings: RuleSettings) -> None:
        #: The rules `settings` leave on, in order.
        self.rules = active_rules(rules, settings)
        self._plans: dict[int, tuple[Rule, ...]] = {}
        #: Whether a rule in force is about day trades (else the account's last equity need not be read).
        self._day_trades = any(getattr(r, "concern", Concern.ANY) is Concern.DAY_TRADES for r in self.rules)

    def _plan(self, kind: int) -> tuple[Rule, ...]:
        flags = {concern: bool(kind & bit) for concern, bit in _KEYED}
        flags[Concern.ANY] = True
        plan = self._plans[kind] = tuple(r for r in self.rules if flags[getattr(r, "concern", Concern.ANY)])
        return plan

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        """Ask the rules that could refuse `request`; the first refusal is raised (nothing changed)."""
        # `concerns_of` and the account's concerns, inline, as the bits of the plan's key (`_KEYED`): this is on
        # every order's path. The view's callables are read before they are called: a paper view holds them in
        # slots, which CPython 3.11 reads fast as attributes but not as methods.
        symbol = request.symbol
        quantity = request.quantity
        quantity_of, open_order_ids = view.quantity, view.open_order_ids
        position = quantity_of(symbol)
        open_orders = open_order_ids(symbol)  # (empty or None: nothing open in the symbol)
        kind = 0
        if request.extended_hours:
            kind += 2
        tif = request.time_in_force
        if tif is _TIF_OPG or tif is _TIF_CLS:
            kind += 4
        if request.notional is not None or (quantity is not None and quantity % 1.0 != 0.0):  # (no method call)
            kind += 8
        if open_orders:
            kind += 16
        if request.side is _SIDE_SELL:
            kind += 1
            if open_orders or quantity is None or quantity > position + QTY_EPSILON:
                kind += 128  # a short sale, perhaps
                if position > QTY_EPSILON:
                    kind += 96  # closing, and it may flip the long (|position| is the position)
            elif position > QTY_EPSILON:
                kind += 32  # closing
        elif position < -QTY_EPSILON:
            kind += 32  # closing a short
            if open_orders or quantity is None or quantity > -position + QTY_EPSILON:  # (abs(), without its call)
                kind += 64
        if self._day_trades and view.last_equity() < PDT_EQUITY:
            kind += 256
        plan = self._plans.get(kind)
        if plan is None:
            plan = self._plan(kind)
        for rule in plan:
            rule.check(request, view, replacing)


def active_rules(rules: Iterable[Rule], settings: RuleSettings) -> tuple[Rule, ...]:
    """The rules of `rules` that `settings` leave on (those whose setting is true, and those without one), in
    order: what `check_order` asks. A broker keeps them and finds them again when its settings change."""
    return tuple(rule for rule in rules if rule.setting is None or getattr(settings, rule.setting))


def check_order(
    request: OrderRequest, view: AccountView, rules: Iterable[Rule], replacing: Order | None = None
) -> None:
    """Ask each of `rules` about `request` (the ones in force: `active_rules`); the first refusal is raised."""
    for rule in rules:
        rule.check(request, view, replacing)
