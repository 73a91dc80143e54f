"""Short selling as Alpaca allows it: only in a margin account with at least $2,000 of equity, only in symbols that
are shortable and easy to borrow, and never when the account is long-only (``no_shorting``).

https://docs.alpaca.markets/docs/margin-and-short-selling ("In order to trade on margin or sell short, you must
have $2,000 or more account equity"; "Alpaca currently only supports opening short positions in easy to borrow
securities"); https://docs.alpaca.markets/docs/account-plans (cash accounts cannot sell short).
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from broker_sim._members import (
    _C_OCO,
    _SIDE_SELL,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.errors import ShortSaleRefused
from broker_sim.models import Order, OrderRequest

from .base import AccountView, Concern
from .positions import held_for_orders, order_quantity

__all__ = ["MIN_SHORT_EQUITY", "LongOnly", "ShortSelling", "opens_short"]

#: The equity an account needs to sell short (and to trade on margin), in dollars.
MIN_SHORT_EQUITY = 2_000.0


def opens_short(request: OrderRequest, view: AccountView, replacing: Order | None = None) -> bool:
    """Whether `request` is a sell of more than the long position still available (what open sells do not hold):
    a sale that opens (or grows) a short."""
    if request.side is not _SIDE_SELL or request.order_class is _C_OCO:
        return False
    quantity = order_quantity(request, view)
    if quantity is None:
        return False
    position = view.quantity(request.symbol)
    orders = view.open_orders(request.symbol)
    if orders:
        excluding = replacing.id if replacing is not None else None
        position -= held_for_orders(orders, _SIDE_SELL, excluding)
    return quantity > (position if position > 0.0 else 0.0) + QTY_EPSILON


@attrs.frozen(slots=True)
class LongOnly:
    """Alpaca's ``no_shorting`` account configuration: when true, no sell may open a short (403). Off by default;
    ``broker.rules: {no_shorting: true}`` turns it on.

    https://docs.alpaca.markets/reference/patchaccountconfig-1
    """

    concern: ClassVar[Concern] = Concern.SHORT_SALES
    setting: str | None = "no_shorting"

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        if opens_short(request, view, replacing):
            raise ShortSaleRefused(
                f"account is not allowed to short (no_shorting): sell order for {request.symbol} refused",
                rule=self.setting,
            )


@attrs.frozen(slots=True)
class ShortSelling:
    """A sale that opens a short needs a margin account (a cash account cannot borrow shares), $2,000 of equity,
    and a symbol the venue marks shortable and easy to borrow (``broker.assets``). Relaxed by
    ``short_selling_check: false``."""

    concern: ClassVar[Concern] = Concern.SHORT_SALES
    setting: str | None = "short_selling_check"

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        if not opens_short(request, view, replacing):
            return
        symbol = request.symbol
        if not view.shorting_allowed:
            why = "allow_short is false" if view.margin_account else "a cash account cannot sell short"
            raise ShortSaleRefused(
                f"account is not allowed to short: {why} (sell order for {symbol}; account: margin, or "
                "allow_short: true, lets it)",
                rule=self.setting,
            )
        equity = view.equity()
        if equity < MIN_SHORT_EQUITY:
            raise ShortSaleRefused(
                f"account is not allowed to short: equity {equity:,.2f} is below the {MIN_SHORT_EQUITY:,.0f} "
                f"short selling needs (sell order for {symbol})",
                rule=self.setting,
            )
        asset = view.asset(symbol)
        if not asset.shortable:
            raise ShortSaleRefused(f"asset {symbol} cannot be sold short (not shortable)", rule=self.setting)
        if not asset.easy_to_borrow:
            raise ShortSaleRefused(
                f"asset {symbol} cannot be sold short: only easy-to-borrow symbols may be shorted", rule=self.setting
            )
