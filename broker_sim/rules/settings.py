"""The ``broker.rules`` settings: which of Alpaca's order and account rules a paper account enforces.

Every rule is on by default, so the paper broker behaves as Alpaca does; a config relaxes one by name::

    broker:
      rules: {pdt_check: false, wash_trade: false}

The first six keys are Alpaca's own account configurations (``/v2/account/configurations``:
https://docs.alpaca.markets/reference/getaccountconfig-1), with Alpaca's defaults; the others name one rule of
`broker_sim.rules` each. A `RuleSettings` is a frozen value: a broker changes its rules at runtime by replacing
it (`RuleSettings.changed`), so a rule always reads one consistent set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from broker_sim.config import KeyPath, structure_section
from broker_sim.errors import ConfigError

__all__ = ["DTBP_CHECKS", "MARGIN_MULTIPLIERS", "RuleSettings", "rule_settings"]

#: When Alpaca runs its day-trading buying power check: on orders that enter a position, exit one, or both.
DTBP_CHECKS = ("entry", "exit", "both")
#: The leverage Alpaca's ``max_margin_multiplier`` may cap an account at.
MARGIN_MULTIPLIERS = (1.0, 2.0, 4.0)


@attrs.frozen(slots=True)
class RuleSettings:
    """Which rules a paper account enforces, and Alpaca's account configurations. Each rule's docstring (in
    `broker_sim.rules`) cites the Alpaca page it follows; README's "Paper rules" table lists them all."""

    #: Alpaca's ``suspend_trade``: when true, every new order is refused.
    suspend_trade: bool = False
    #: Alpaca's ``no_shorting``: when true, the account is long-only (no sell may open a short).
    no_shorting: bool = False
    #: Alpaca's ``fractional_trading``: when false, fractional quantities and notional orders are refused.
    fractional_trading: bool = True
    #: Alpaca's ``max_margin_multiplier`` (1, 2 or 4): the most leverage the account may use.
    max_margin_multiplier: float = 4.0
    #: Alpaca's ``dtbp_check``: when the day-trading buying power check runs (entry, exit or both).
    dtbp_check: Literal["entry", "exit", "both"] = "entry"
    #: Alpaca's ``pdt_check``, on or off: pattern day trader protection (`rules.day_trading`).
    pdt_check: bool = True
    #: Wash-trade prevention: an order that could execute against the account's own open order is refused.
    wash_trade: bool = True
    #: Market buys valued at a collar above the price, shorts at 3 % above the ask, for the buying power check.
    buying_power_collar: bool = True
    #: ``extended_hours`` only on limit day orders.
    extended_hours_check: bool = True
    #: opg refused from 09:28 and cls from 15:50 New York, until 19:00.
    auction_cutoffs: bool = True
    #: Fractional and notional orders only where Alpaca takes them (day, regular hours, never opening a short).
    fractional_check: bool = True
    #: No shorting in a cash account, under $2,000 of equity, or in symbols not shortable and easy to borrow.
    short_selling_check: bool = True
    #: No order takes a position from long to short (or back) in one go: Alpaca's "insufficient qty available".
    position_flip_check: bool = True

    @classmethod
    def relaxed(cls) -> RuleSettings:
        """Every rule off: the paper broker as lenient as it was before it followed Alpaca (tests of the ledger's
        accounting under any sequence of orders use it; a config says ``rules: {pdt_check: false, ...}``)."""
        return cls(
            pdt_check=False,
            wash_trade=False,
            buying_power_collar=False,
            extended_hours_check=False,
            auction_cutoffs=False,
            fractional_check=False,
            short_selling_check=False,
            position_flip_check=False,
        )

    def changed(self, **changes: Any) -> RuleSettings:
        """These settings with `changes` (setting names and values), checked as a config's are; raises
        `ConfigError` naming the setting, and changes nothing, when one is unknown or has a bad value."""
        current = attrs.asdict(self)
        current.update(changes)
        return rule_settings(current)

    def as_dict(self) -> dict[str, Any]:
        """Every setting by name (what a config's ``broker.rules`` would say to get these settings)."""
        return attrs.asdict(self)


def rule_settings(value: RuleSettings | Mapping[str, Any] | None, path: KeyPath = ("rules",)) -> RuleSettings:
    """The settings `value` says: a `RuleSettings`, a mapping of setting names to values (the rest default), or
    None (all defaults). Raises `ConfigError` naming the key (``rules.pdt_check: expected true or false, got
    'yes'``) with its key path in `ConfigError.path`."""
    if value is None:
        return RuleSettings()
    settings = structure_section(value, RuleSettings, path)
    if settings.max_margin_multiplier not in MARGIN_MULTIPLIERS:
        where = (*path, "max_margin_multiplier")
        got = settings.max_margin_multiplier
        raise ConfigError(f"{'.'.join(map(str, where))}: must be 1, 2 or 4 (Alpaca's choices), got {got:g}", path=where)
    return settings
