"""Alpaca's account configurations (``GET``/``PATCH /v2/account/configurations``) for the served account.

Reference: https://docs.alpaca.markets/reference/getaccountconfig-1. They start from the config (``no_shorting``
is the broker's ``allow_short`` turned round, ``max_margin_multiplier`` its margin multiplier, 1 for a cash
account), are kept in the journal when the account has one, and a PATCH changes them at once. The server's door
holds to three of them: ``suspend_trade`` refuses every new order, ``no_shorting`` refuses a sell that would open
a short, ``fractional_trading: false`` refuses fractional and notional orders (each 403, as Alpaca answers).
``pdt_check``, ``dtbp_check`` and ``max_margin_multiplier`` are kept and reported; the paper broker's rules
(``broker.rules``, issue 21) are what will hold the account to them.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import attrs
from starlette.requests import Request
from starlette.routing import Route

from broker_sim._numeric import qty_at_least, qty_is_zero
from broker_sim.models import OrderRequest, Side

from .errors import ApiError
from .routing import read_json, resource
from .state import Served

__all__ = ["AccountConfigurations", "Configurations", "routes"]

_KEPT = "account_configurations"
_CHECKS = ("entry", "exit", "both")
_EMAILS = ("all", "none")
_MULTIPLIERS = ("1", "2", "4")


@attrs.frozen(slots=True)
class AccountConfigurations:
    """Alpaca's account configurations, with Alpaca's names and values."""

    suspend_trade: bool = False
    no_shorting: bool = False
    fractional_trading: bool = True
    max_margin_multiplier: Literal["1", "2", "4"] = "4"
    pdt_check: Literal["entry", "exit", "both"] = "entry"
    dtbp_check: Literal["entry", "exit", "both"] = "entry"
    trade_confirm_email: Literal["all", "none"] = "all"
    ptp_no_exception_entry: bool = False

    def changed(self, body: object) -> AccountConfigurations:
        """These configurations with a PATCH body's changes; 422 naming the field (nothing changes) when a field
        is unknown or its value is not one Alpaca takes."""
        if not isinstance(body, dict):
            raise ApiError.invalid(f"configurations: the body must be a JSON object, got {type(body).__name__}")
        fields = attrs.fields_dict(AccountConfigurations)
        changes: dict[str, Any] = {}
        for name, value in body.items():
            if name not in fields:
                raise ApiError.invalid(f"configurations: unknown field {name!r}; valid: {', '.join(fields)}")
            if fields[name].type in ("bool", bool):
                if not isinstance(value, bool):
                    raise ApiError.invalid(f"{name} must be true or false, got {value!r}")
            else:
                choices = {"max_margin_multiplier": _MULTIPLIERS, "trade_confirm_email": _EMAILS}.get(name, _CHECKS)
                value = str(value) if name == "max_margin_multiplier" and isinstance(value, int | str) else value
                if value not in choices:
                    raise ApiError.invalid(f"{name} must be one of {', '.join(choices)}; got {value!r}")
            changes[name] = value
        return attrs.evolve(self, **changes)


class Configurations:
    """The served account's configurations, kept in its journal when it has one; the door checks of three."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self._current: AccountConfigurations | None = None

    def current(self) -> AccountConfigurations:
        """The configurations in force."""
        if self._current is None:
            journal = self.served.broker.journal
            stored = journal.kept(_KEPT) if journal is not None else None
            self._current = AccountConfigurations(**json.loads(stored)) if stored else self._from_config()
        return self._current

    def _from_config(self) -> AccountConfigurations:
        settings = self.served.broker.settings
        multiplier = settings.margin_multiplier if settings.account == "margin" else 1.0
        nearest = min(_MULTIPLIERS, key=lambda m: abs(float(m) - multiplier))
        return AccountConfigurations(no_shorting=not settings.allow_short, max_margin_multiplier=nearest)  # type: ignore[arg-type]

    def change(self, body: object) -> AccountConfigurations:
        """Apply a PATCH body (validated first: a refused one changes nothing); the configurations now."""
        changed = self.current().changed(body)
        journal = self.served.broker.journal
        if journal is not None:
            journal.keep(_KEPT, json.dumps(attrs.asdict(changed)))
        self._current = changed
        return changed

    async def check(self, order: OrderRequest) -> None:
        """Refuse (403) an order the configurations forbid, before it reaches the broker."""
        config = self.current()
        if config.suspend_trade:
            raise ApiError.forbidden("new orders are rejected: trading is suspended on this account (suspend_trade)")
        quantity = order.quantity
        if not config.fractional_trading and (
            order.notional is not None or (quantity is not None and not qty_is_zero(quantity - round(quantity)))
        ):
            raise ApiError.forbidden("fractional orders are not enabled on this account (fractional_trading)")
        if config.no_shorting and order.side is Side.SELL and quantity is not None:
            position = await self.served.broker.get_position(order.symbol)
            held = position.quantity if position is not None else 0.0
            if not qty_at_least(held, quantity):
                raise ApiError.forbidden(
                    f"account is long only (no_shorting): selling {quantity:g} {order.symbol} with {held:g} held "
                    "would open a short"
                )


def _store(request: Request) -> Configurations:
    store: Configurations = request.app.state.configurations
    return store


async def get_configurations(request: Request, served: Served) -> Any:
    return attrs.asdict(_store(request).current())


async def patch_configurations(request: Request, served: Served) -> Any:
    return attrs.asdict(_store(request).change(await read_json(request)))


def routes() -> list[Route]:
    """The account configurations route."""
    return [resource("/v2/account/configurations", {"GET": get_configurations, "PATCH": patch_configurations})]
