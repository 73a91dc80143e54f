"""Alpaca's order and account rules, each a small named object the paper venue's door consults, relaxed by name
in ``broker.rules`` (`RuleSettings`).

* `RuleSettings` / `rule_settings`: which rules are on (all by default), and Alpaca's account configurations.
* `Rule`, `AccountView`, `active_rules`, `check_order`: what a rule is, what it reads, which are in force, and
  the door that asks each in turn.
* `ALPACA_RULES`: the rules, in the order the door asks them.
* `same_request`: whether a resubmitted client order id asks for the same order (every adapter's idempotency).
* The refusals (`OrderRefused` and its kinds) live in `broker_sim.errors`, so every adapter raises the same ones.

A rule is a small frozen attrs class with `setting` (the `RuleSettings` field that relaxes it, None for always on)
and `check(request, view, replacing)`, which raises an `OrderRefused` kind with ``rule=self.setting`` or returns;
its docstring cites the Alpaca page it follows. A class attribute ``concern: ClassVar[Concern]`` says which
requests it can refuse (sells, extended hours, auctions, fractional; or what the account must hold for it to have
anything to check: open orders in the symbol, a position the order reduces, one it may reduce beyond what it has
available, a sale beyond what is held, an equity under $25,000 at the last close; default: any), and the door asks
it only about those: the order path stays cheap however many rules there are. Add it to `ALPACA_RULES` and a row
to README's "Paper rules" table.

`rules/` knows no adapter: an adapter that enforces the rules gives an `AccountView` of its account.
"""

from __future__ import annotations

from broker_sim.errors import (
    DayTradeRefused,
    InsufficientBuyingPower,
    InsufficientQuantity,
    OrderNotAccepted,
    OrderRefused,
    ShortSaleRefused,
    TradingSuspended,
    WashTradeRefused,
)

from .account import SuspendTrade
from .assets import AssetFlags, asset_table
from .base import AccountView, Concern, Door, Rule, active_rules, check_order
from .day_trading import DayTradeCounter, PatternDayTrader
from .idempotency import same_request
from .order_types import AuctionCutoffs, ExtendedHours, FractionalOrders, FractionalTrading
from .positions import PositionFlip, held_for_orders
from .settings import RuleSettings, rule_settings
from .shorting import LongOnly, ShortSelling, opens_short
from .wash_trade import WashTrade

__all__ = [
    "ALPACA_RULES",
    "AccountView",
    "AssetFlags",
    "AuctionCutoffs",
    "Concern",
    "DayTradeCounter",
    "DayTradeRefused",
    "Door",
    "ExtendedHours",
    "FractionalOrders",
    "FractionalTrading",
    "InsufficientBuyingPower",
    "InsufficientQuantity",
    "LongOnly",
    "OrderNotAccepted",
    "OrderRefused",
    "PatternDayTrader",
    "PositionFlip",
    "Rule",
    "RuleSettings",
    "ShortSaleRefused",
    "ShortSelling",
    "SuspendTrade",
    "TradingSuspended",
    "WashTrade",
    "WashTradeRefused",
    "active_rules",
    "asset_table",
    "check_order",
    "held_for_orders",
    "opens_short",
    "rule_settings",
    "same_request",
]

#: Every rule the paper broker's door asks, in order: the account first, then the order's form, then what it
#: would do to the position. The first refusal wins (buying power is checked last, by the venue, when it sizes
#: the order's reservation).
ALPACA_RULES: tuple[Rule, ...] = (
    SuspendTrade(),
    ExtendedHours(),
    AuctionCutoffs(),
    FractionalTrading(),
    FractionalOrders(),
    PositionFlip(),
    LongOnly(),
    ShortSelling(),
    WashTrade(),
    PatternDayTrader(),
)
