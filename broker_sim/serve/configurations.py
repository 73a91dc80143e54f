"""Alpaca's account configurations (``GET``/``PATCH /v2/account/configurations``) over the paper broker's rules.

Reference: https://docs.alpaca.markets/reference/getaccountconfig-1. Six of them are the paper rules' settings
(``broker.rules``, `broker_sim.rules.RuleSettings`): ``suspend_trade``, ``no_shorting``, ``fractional_trading``,
``max_margin_multiplier``, ``dtbp_check`` and ``pdt_check``. A PATCH changes them at once through
`PaperBroker.configure_rules`, and the rules then hold the account to them (a refused order is the rules'
403). Alpaca's ``pdt_check`` is a string (``entry``, ``exit`` or ``both``: when the check runs) where the paper
rule is on or off: the string is kept as given, and the rule stays on. ``trade_confirm_email`` and
``ptp_no_exception_entry`` mean nothing to a simulator: they are kept and answered. What the server keeps itself
lives in the journal when the account has one; the rules come from the config at each start.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from starlette.requests import Request
from starlette.routing import Route

from broker_sim.errors import ConfigError
from broker_sim.rules.settings import DTBP_CHECKS, MARGIN_MULTIPLIERS

from .errors import ApiError
from .routing import read_json, resource
from .state import Served

__all__ = ["Configurations", "routes"]

_KEPT = "account_configurations"
_EMAILS = ("all", "none")
#: The configurations that are the paper rules' settings of the same name.
_RULES = ("suspend_trade", "no_shorting", "fractional_trading", "max_margin_multiplier", "dtbp_check")
_FLAGS = ("suspend_trade", "no_shorting", "fractional_trading", "ptp_no_exception_entry")


@attrs.frozen(slots=True)
class _ServerKept:
    """The configurations the server keeps itself (the rules keep the others)."""

    pdt_check: str = "entry"
    trade_confirm_email: str = "all"
    ptp_no_exception_entry: bool = False


def _multiplier_text(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


class Configurations:
    """The served account's configurations: the broker's rules, and what the server keeps beside them."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self._kept: _ServerKept | None = None

    def _server_kept(self) -> _ServerKept:
        if self._kept is None:
            journal = self.served.broker.journal
            stored = journal.kept(_KEPT) if journal is not None else None
            self._kept = _ServerKept(**json.loads(stored)) if stored else _ServerKept()
        return self._kept

    def current(self) -> dict[str, Any]:
        """Every configuration, as Alpaca's GET answers them."""
        rules = self.served.broker.rules
        return {
            "suspend_trade": rules.suspend_trade,
            "no_shorting": rules.no_shorting,
            "fractional_trading": rules.fractional_trading,
            "max_margin_multiplier": _multiplier_text(rules.max_margin_multiplier),
            "dtbp_check": rules.dtbp_check,
            **attrs.asdict(self._server_kept()),
        }

    def change(self, body: object) -> dict[str, Any]:
        """Apply a PATCH body, checked whole first (a refused one changes nothing); every configuration now."""
        rule_changes, kept_changes = _parse(body)
        kept = attrs.evolve(self._server_kept(), **kept_changes)
        broker = self.served.broker
        try:
            broker.rules.changed(**rule_changes)  # checked before anything changes
        except ConfigError as exc:
            raise ApiError.invalid(str(exc)) from None
        journal = broker.journal
        if journal is not None and kept != self._server_kept():
            journal.keep(_KEPT, json.dumps(attrs.asdict(kept)))
        self._kept = kept
        if rule_changes:
            broker.configure_rules(**rule_changes)
        return self.current()


def _parse(body: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """A PATCH body as (rule settings, server-kept settings); 422 naming the field for anything Alpaca refuses."""
    if not isinstance(body, dict):
        raise ApiError.invalid(f"configurations: the body must be a JSON object, got {type(body).__name__}")
    valid = (*_RULES, *attrs.fields_dict(_ServerKept))
    rules: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    for name, value in body.items():
        if name not in valid:
            raise ApiError.invalid(f"configurations: unknown field {name!r}; valid: {', '.join(valid)}")
        if name in _FLAGS:
            if not isinstance(value, bool):
                raise ApiError.invalid(f"{name} must be true or false, got {value!r}")
        elif name == "max_margin_multiplier":
            choices = [_multiplier_text(m) for m in MARGIN_MULTIPLIERS]
            if isinstance(value, bool) or str(value) not in choices:
                raise ApiError.invalid(f"max_margin_multiplier must be one of {', '.join(choices)}; got {value!r}")
            value = float(value)
        else:
            choices = list(_EMAILS if name == "trade_confirm_email" else DTBP_CHECKS)
            if value not in choices:
                raise ApiError.invalid(f"{name} must be one of {', '.join(choices)}; got {value!r}")
        (rules if name in _RULES else kept)[name] = value
    return rules, kept


def _store(request: Request) -> Configurations:
    store: Configurations = request.app.state.configurations
    return store


async def get_configurations(request: Request, served: Served) -> Any:
    return _store(request).current()


async def patch_configurations(request: Request, served: Served) -> Any:
    return _store(request).change(await read_json(request))


def routes() -> list[Route]:
    """The account configurations route."""
    return [resource("/v2/account/configurations", {"GET": get_configurations, "PATCH": patch_configurations})]
