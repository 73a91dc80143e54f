"""The paper account as Alpaca's rules see it (`broker_sim.rules.AccountView`): read-only, from the account state,
the venue's latest market and the clock."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime

from broker_sim.account import AccountState
from broker_sim.calendar import Session
from broker_sim.clock import Clock
from broker_sim.models import MarketData, Order
from broker_sim.rules import AssetFlags, RuleSettings
from broker_sim.rules.assets import DEFAULT_ASSET
from broker_sim.rules.day_trading import DayTradeCounter

__all__ = ["PaperView"]


class PaperView:
    """What the rules read of one paper account. `rules` is read through `current_rules` each time, so a change
    of the broker's rules applies to the next order."""

    __slots__ = (
        "_assets",
        "_clock",
        "_current_rules",
        "_day_trades",
        "_initial_balance",
        "_market",
        "_state",
        "margin_account",
        "market",
        "open_order_ids",
        "open_orders",
        "quantity",
        "session",
        "shorting_allowed",
        "symbols_with_open_orders",
    )

    def __init__(
        self,
        state: AccountState,
        market: dict[str, MarketData],
        clock: Clock,
        session: Session,
        *,
        margin_account: bool,
        shorting_allowed: bool,
        assets: dict[str, AssetFlags],
        current_rules: Callable[[], RuleSettings],
        day_trades: DayTradeCounter,
        initial_balance: float,
    ) -> None:
        self._state = state
        self._market = market
        self._clock = clock
        self.session = session
        self.margin_account = margin_account
        self.shorting_allowed = shorting_allowed
        self._assets = assets
        self._current_rules = current_rules
        self._day_trades = day_trades
        self._initial_balance = initial_balance
        # Read straight from the account (no call in between: the door asks on every order).
        #: The signed position in a symbol.
        self.quantity: Callable[[str], float] = state.ledger.quantity
        #: A symbol's open orders, oldest first.
        self.open_orders: Callable[[str], Sequence[Order]] = state.open_orders
        #: The ids of a symbol's open orders (empty or None: it has none).
        self.open_order_ids: Callable[[str], Collection[str] | None] = state.open_order_ids
        #: The symbols with open orders.
        self.symbols_with_open_orders: Callable[[], Iterable[str]] = state.symbols_with_open_orders
        #: The latest market event of a symbol.
        self.market: Callable[[str], MarketData | None] = market.get

    @property
    def rules(self) -> RuleSettings:
        return self._current_rules()

    def now(self) -> datetime:
        return self._clock.now()

    def equity(self) -> float:
        return self._state.ledger.account().equity

    def last_equity(self) -> float:
        last = self._state.last_close
        return self._initial_balance if last is None else last.equity

    def day_trade_count(self) -> int:
        return self._day_trades.count(self._clock.now())

    def opened_today(self, symbol: str) -> tuple[bool, bool]:
        return self._day_trades.opened_today(symbol, self._clock.now())

    def asset(self, symbol: str) -> AssetFlags:
        return self._assets.get(symbol, DEFAULT_ASSET)
