"""The paper adapter's account settings, checked once when a `PaperBroker` is built, and its default models."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from broker_sim.calendar import Session, session_from
from broker_sim.errors import ConfigError
from broker_sim.journal import SYNC_MODES
from broker_sim.ledger import DEFAULT_MAINTENANCE_LONG, DEFAULT_MAINTENANCE_SHORT, DEFAULT_MARGIN_MULTIPLIER
from broker_sim.rules import AssetFlags, RuleSettings, asset_table, rule_settings
from broker_sim.rules.margin import MaintenanceMargin

__all__ = ["DEFAULT_MODELS", "JOURNAL_HISTORY", "MODEL_KINDS", "PaperSettings"]

#: Account kinds: a cash account pays for what it buys; a margin account borrows under Reg T.
_ACCOUNTS = ("cash", "margin")
#: The kinds of models a paper broker takes, in the order they are installed.
MODEL_KINDS = ("slippage", "latency", "fill", "commission", "borrow_fee", "margin_interest")

#: What a paper broker uses when its config leaves a model out: the seed engine's behaviour, and Alpaca's financing.
DEFAULT_MODELS: dict[str, dict[str, object]] = {
    "slippage": {"model": "fixed_bps", "bps": 5.0},
    "latency": {"model": "uniform", "low": 0.5, "high": 2.0},
    "fill": {"model": "immediate"},
    "commission": {"model": "none"},
    # Alpaca's financing (builtin/financing.py): easy-to-borrow shorts at 0 unless a rate is set; 3.75 % a year on
    # a margin debit.
    "borrow_fee": {"model": "annual_rate"},
    "margin_interest": {"model": "annual_rate"},
}


#: Closed orders and fills a journaled account keeps in memory when `history` is not given: the journal keeps all
#: of them, and a snapshot holds what memory holds, so it stays small.
JOURNAL_HISTORY = 1_000


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@attrs.frozen(slots=True)
class PaperSettings:
    """A paper account's settings (see `PaperBroker` for what each means); `check` builds one from arguments."""

    initial_balance: float
    seed: int | None
    allow_short: bool | None
    short_margin: float
    session: Session
    symbols: frozenset[str] | None
    history: int | None
    account: str = "cash"
    margin_multiplier: float = DEFAULT_MARGIN_MULTIPLIER
    maintenance_margin_long: float = DEFAULT_MAINTENANCE_LONG
    maintenance_margin_short: float = DEFAULT_MAINTENANCE_SHORT
    liquidate_on_margin_call: bool = True
    journal: Path | None = None
    journal_sync: str = "normal"
    account_id: str | None = None
    #: The rules the account starts with (`broker_sim.rules`); the broker may change them at runtime.
    rules: RuleSettings = attrs.Factory(RuleSettings)
    #: What the venue says of each symbol named in ``assets`` (the others take `AssetFlags`' defaults).
    assets: dict[str, AssetFlags] = attrs.Factory(dict)

    @classmethod
    def check(
        cls,
        *,
        initial_balance: object,
        seed: object,
        allow_short: object,
        short_margin: object,
        session: object,
        symbols: object,
        history: object,
        account: object = "cash",
        margin_multiplier: object = DEFAULT_MARGIN_MULTIPLIER,
        maintenance_margin_long: object = DEFAULT_MAINTENANCE_LONG,
        maintenance_margin_short: object = DEFAULT_MAINTENANCE_SHORT,
        liquidate_on_margin_call: object = True,
        journal: object = None,
        journal_sync: object = "normal",
        account_id: object = None,
        rules: object = None,
        assets: object = None,
    ) -> PaperSettings:
        """The settings, or a `ConfigError` naming the first bad argument, its value and what is valid."""
        if not _is_number(initial_balance):
            raise ConfigError(f"initial_balance must be a number, got {initial_balance!r}")
        if not math.isfinite(initial_balance) or initial_balance < 0:  # type: ignore[arg-type,operator]
            raise ConfigError(f"initial_balance must be a finite number >= 0, got {initial_balance!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"seed must be an integer (or null for a fresh one), got {seed!r}")
        if allow_short is not None and not isinstance(allow_short, bool):
            raise ConfigError(f"allow_short must be true, false or null (by the account kind), got {allow_short!r}")
        if not _is_number(short_margin) or not short_margin >= 1:  # type: ignore[operator]
            raise ConfigError(f"short_margin must be a number >= 1, got {short_margin!r}")
        session = session_from(session)  # type: ignore[arg-type]
        if symbols is not None and (
            isinstance(symbols, str)
            or not isinstance(symbols, Iterable)
            or not all(isinstance(s, str) and s for s in symbols)
        ):
            raise ConfigError(f"symbols must be a list of symbol names, got {symbols!r}")
        if history is not None and (isinstance(history, bool) or not isinstance(history, int) or history < 1):
            raise ConfigError(f"history must be an integer >= 1 (or null to keep everything), got {history!r}")
        if account not in _ACCOUNTS:
            raise ConfigError(f"account must be one of {', '.join(_ACCOUNTS)}; got {account!r}")
        if not _is_number(margin_multiplier) or not 1 <= margin_multiplier <= 4:  # type: ignore[operator]
            raise ConfigError(f"margin_multiplier must be a number from 1 to 4, got {margin_multiplier!r}")
        for name, value in (
            ("maintenance_margin_long", maintenance_margin_long),
            ("maintenance_margin_short", maintenance_margin_short),
        ):
            if not _is_number(value) or not 0 <= value < 1:  # type: ignore[operator]
                raise ConfigError(f"{name} must be a fraction from 0 to below 1, got {value!r}")
        if not isinstance(liquidate_on_margin_call, bool):
            raise ConfigError(f"liquidate_on_margin_call must be true or false, got {liquidate_on_margin_call!r}")
        if journal is not None and not isinstance(journal, str | os.PathLike):
            raise ConfigError(f"journal must be the path of a journal file (or null for none), got {journal!r}")
        if journal_sync not in SYNC_MODES:
            raise ConfigError(f"journal_sync must be one of {', '.join(SYNC_MODES)}, got {journal_sync!r}")
        if account_id is not None and (not isinstance(account_id, str) or not account_id.strip()):
            raise ConfigError(f"account_id must be a non-empty string (or null: the journal's own), got {account_id!r}")
        if journal is not None and history is None:
            history = JOURNAL_HISTORY
        checked_rules = rule_settings(rules)  # type: ignore[arg-type]
        checked_assets = asset_table(assets)  # type: ignore[arg-type]
        return cls(
            float(initial_balance),  # type: ignore[arg-type]
            seed,
            allow_short,
            float(short_margin),  # type: ignore[arg-type]
            session,
            frozenset(symbols) if symbols is not None else None,
            history,
            account,
            float(margin_multiplier),  # type: ignore[arg-type]
            float(maintenance_margin_long),  # type: ignore[arg-type]
            float(maintenance_margin_short),  # type: ignore[arg-type]
            liquidate_on_margin_call,
            Path(journal) if journal is not None else None,
            journal_sync,
            account_id,
            checked_rules,
            checked_assets,
        )

    @property
    def shorting_allowed(self) -> bool:
        """Whether the account's kind lets it sell short: `allow_short` when given, else a margin account may and
        a cash account may not (Alpaca's rule)."""
        return self.allow_short if self.allow_short is not None else self.account == "margin"

    def may_short(self, rules: RuleSettings) -> bool:
        """Whether the ledger may open shorts under `rules`, exactly when the rules would let an order: the
        account's kind allows it (or the rule is relaxed) and the account is not long-only."""
        allow_short = self.allow_short
        if allow_short is None:  # by the account's kind, unless the rule is relaxed
            allow_short = self.account == "margin" or not rules.short_selling_check
        return allow_short and not rules.no_shorting

    def maintenance(self, rules: RuleSettings) -> MaintenanceMargin:
        """The maintenance margin table under `rules`: Alpaca's, or flat rates when ``maintenance_table`` is off."""
        return MaintenanceMargin(
            self.maintenance_margin_long, self.maintenance_margin_short, tiers=rules.maintenance_table
        )

    @staticmethod
    def models(chosen: Mapping[str, Mapping[str, Any] | str | None]) -> dict[str, Mapping[str, Any] | str]:
        """The model spec of each kind: the chosen one, else the default."""
        return {kind: chosen[kind] if chosen.get(kind) is not None else DEFAULT_MODELS[kind] for kind in MODEL_KINDS}  # type: ignore[misc]
