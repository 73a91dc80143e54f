"""Alpaca's order and account rules, each a small named object the paper venue's door consults, relaxed by name
in ``broker.rules`` (`RuleSettings`).

* `RuleSettings` / `rule_settings`: which rules are on (all by default), and Alpaca's account configurations.
* `Rule`, `AccountView`, `check_order`: what a rule is, what it reads, and the door that asks each in turn.
* `ALPACA_RULES`: the rules, in the order the door asks them.
* `same_request`: whether a resubmitted client order id asks for the same order (every adapter's idempotency).
* The refusals (`OrderRefused` and its kinds) live in `broker_sim.errors`, so every adapter raises the same ones.

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
from .base import AccountView, Rule, check_order
from .idempotency import same_request
from .positions import PositionFlip, held_for_orders
from .settings import RuleSettings, rule_settings

__all__ = [
    "ALPACA_RULES",
    "AccountView",
    "AssetFlags",
    "DayTradeRefused",
    "InsufficientBuyingPower",
    "InsufficientQuantity",
    "OrderNotAccepted",
    "OrderRefused",
    "PositionFlip",
    "Rule",
    "RuleSettings",
    "ShortSaleRefused",
    "SuspendTrade",
    "TradingSuspended",
    "WashTradeRefused",
    "asset_table",
    "check_order",
    "held_for_orders",
    "rule_settings",
    "same_request",
]

#: Every rule the paper broker's door asks, in order: the account first, then the order's form, then what it
#: would do to the position. The first refusal wins (buying power is checked last, by the venue, when it sizes
#: the order's reservation).
ALPACA_RULES: tuple[Rule, ...] = (SuspendTrade(), PositionFlip())
