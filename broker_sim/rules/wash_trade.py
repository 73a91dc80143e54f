"""Wash-trade prevention as Alpaca runs it: an order that could execute against an open order of the same account
on the other side of the same symbol is refused (403 "potential wash trade detected. use complex orders").

https://docs.alpaca.markets/docs/user-protections#preventing-wash-trades

Two opposite orders could execute against each other when either would trade at any price (a market order, or a
stop or trailing stop, which becomes one when triggered) or their limits cross (a buy limit at or above a sell
limit; a stop limit counts at its limit). Alpaca's own way around it is an order class, so the exemptions are
those: a bracket, oto or oco request is not checked (its exits are managed with it), and a held exit (a bracket
leg waiting for its entry) is not at the market yet. A replace is checked against the other orders only.
Relaxed by ``wash_trade: false``.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from broker_sim._members import (
    _C_SIMPLE,
    _S_HELD,
    _SIDE_BUY,
    _T_MARKET,
    _T_STOP,
    _T_TRAILING_STOP,
)
from broker_sim.errors import WashTradeRefused
from broker_sim.models import Order, OrderRequest, OrderType, Side

from .base import AccountView, Concern

__all__ = ["WashTrade", "could_cross"]

#: Order types that trade at any price once they reach the market (stops once triggered).
_ANY_PRICE = frozenset({_T_MARKET, _T_STOP, _T_TRAILING_STOP})


def _limit(kind: OrderType, limit_price: float | None) -> float | None:
    """The price bound an order of `kind` trades within (None: any price)."""
    return None if kind in _ANY_PRICE else limit_price


def could_cross(side: Side, kind: OrderType, limit_price: float | None, other: Order) -> bool:
    """Whether an order (`side`, `kind`, `limit_price`) could execute against `other`, an order on the other side."""
    mine, theirs = _limit(kind, limit_price), _limit(other.type, other.limit_price)
    if mine is None or theirs is None:
        return True
    buy, sell = (mine, theirs) if side is _SIDE_BUY else (theirs, mine)
    return buy >= sell


@attrs.frozen(slots=True)
class WashTrade:
    """Alpaca's wash-trade prevention (``wash_trade``); see the module for what could execute against what. Only an
    order in a symbol with open orders has anything to check (its `concern`)."""

    concern: ClassVar[Concern] = Concern.OPEN_ORDERS
    setting: str | None = "wash_trade"

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        if request.order_class is not _C_SIMPLE:
            return
        for other in view.open_orders(request.symbol):
            if other.side is request.side or other.status is _S_HELD:
                continue
            if replacing is not None and other.id == replacing.id:
                continue
            if could_cross(request.side, request.type, request.limit_price, other):
                raise WashTradeRefused(
                    f"potential wash trade detected. use complex orders ({request.side.value} {request.type.value} "
                    f"order for {request.symbol} could execute against open {other.side.value} {other.type.value} "
                    f"order {other.id})",
                    rule=self.setting,
                )
