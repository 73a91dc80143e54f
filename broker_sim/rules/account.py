"""Rules about the account as a whole."""

from __future__ import annotations

import attrs

from broker_sim.errors import TradingSuspended
from broker_sim.models import Order, OrderRequest

from .base import AccountView

__all__ = ["SuspendTrade"]


@attrs.frozen(slots=True)
class SuspendTrade:
    """Alpaca's ``suspend_trade`` account configuration: while it is true, every new order is refused (403).
    Unlike the other rules it is off by default: ``broker.rules: {suspend_trade: true}`` turns it on.

    https://docs.alpaca.markets/reference/patchaccountconfig-1
    """

    setting: str | None = "suspend_trade"

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        raise TradingSuspended(
            f"trading is suspended for this account (suspend_trade): {request.side.value} order for "
            f"{request.symbol} refused",
            rule=self.setting,
        )
