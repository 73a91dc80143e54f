"""The paper account as Alpaca's rules see it (`broker_sim.rules.AccountView`): read-only, from the account state,
the venue's latest market and the clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from broker_sim.account import AccountState
from broker_sim.calendar import Session
from broker_sim.clock import Clock
from broker_sim.models import MarketData, Order
from broker_sim.rules import AssetFlags, RuleSettings
from broker_sim.rules.assets import DEFAULT_ASSET

__all__ = ["PaperView"]


class PaperView:
    """What the rules read of one paper account. `rules` is read through `current_rules` each time, so a change
    of the broker's rules applies to the next order."""

    __slots__ = ("_assets", "_clock", "_current_rules", "_market", "_state", "margin_account", "session")

    def __init__(
        self,
        state: AccountState,
        market: dict[str, MarketData],
        clock: Clock,
        session: Session,
        *,
        margin_account: bool,
        assets: dict[str, AssetFlags],
        current_rules: Callable[[], RuleSettings],
    ) -> None:
        self._state = state
        self._market = market
        self._clock = clock
        self.session = session
        self.margin_account = margin_account
        self._assets = assets
        self._current_rules = current_rules

    @property
    def rules(self) -> RuleSettings:
        return self._current_rules()

    def now(self) -> datetime:
        return self._clock.now()

    def quantity(self, symbol: str) -> float:
        return self._state.ledger.quantity(symbol)

    def open_orders(self, symbol: str) -> Sequence[Order]:
        return [order for order in self._state.open_orders() if order.symbol == symbol]

    def market(self, symbol: str) -> MarketData | None:
        return self._market.get(symbol)

    def equity(self) -> float:
        return self._state.ledger.account().equity

    def last_equity(self) -> float:
        return self._state.ledger.initial_balance

    def day_trade_count(self) -> int:
        return 0

    def opened_today(self, symbol: str) -> tuple[bool, bool]:
        return False, False

    def asset(self, symbol: str) -> AssetFlags:
        return self._assets.get(symbol, DEFAULT_ASSET)
