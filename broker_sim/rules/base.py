"""What a rule is and what it may read: `Rule` (one of Alpaca's checks, relaxed by one setting) and `AccountView`
(the account and venue as the rules see them, which each adapter that enforces the rules provides).

`check_order` is the door: it asks each rule in turn and raises the first refusal. Rules only read; a refused
order changes nothing anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from broker_sim.calendar import Session
from broker_sim.models import MarketData, Order, OrderRequest

from .assets import AssetFlags
from .settings import RuleSettings

__all__ = ["AccountView", "Rule", "check_order"]


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
        """Whether the account is a margin account (a cash account cannot short)."""
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


def check_order(
    request: OrderRequest, view: AccountView, rules: Iterable[Rule], replacing: Order | None = None
) -> None:
    """Ask each of `rules` that the settings leave on about `request`; the first refusal is raised."""
    settings = view.rules
    for rule in rules:
        if rule.setting is None or getattr(settings, rule.setting):
            rule.check(request, view, replacing)
