"""Which order types, times in force and quantities Alpaca takes: extended hours only on limit day orders, the
opening and closing auctions' cutoffs, fractional and notional orders only where they are supported. What is
refused here Alpaca answers with 422 (`OrderNotAccepted`, an `InvalidOrder` too).

https://docs.alpaca.markets/docs/orders-at-alpaca (Extended Hours Trading, Time in Force)
https://docs.alpaca.markets/docs/fractional-trading
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import attrs

from broker_sim._numeric import QTY_EPSILON
from broker_sim.errors import OrderNotAccepted
from broker_sim.models import Order, OrderClass, OrderRequest, OrderType, TimeInForce

from .base import AccountView, Concern
from .shorting import opens_short

__all__ = [
    "AUCTION_REOPENS",
    "CLS_CUTOFF",
    "OPG_CUTOFF",
    "AuctionCutoffs",
    "ExtendedHours",
    "FractionalOrders",
    "FractionalTrading",
    "is_fractional",
]

#: opg orders are refused from this long before the open, cls orders from this long before the close...
OPG_CUTOFF = timedelta(minutes=2)
CLS_CUTOFF = timedelta(minutes=10)
#: ...until this long after the close (19:00 New York), when they queue for the next session's auction.
AUCTION_REOPENS = timedelta(hours=3)
#: Fractional quantities take these order types (with time in force day).
_FRACTIONAL_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT})


def is_fractional(request: OrderRequest) -> bool:
    """Whether `request` is a fractional order: a quantity that is not a whole number, or a notional amount."""
    quantity = request.quantity
    return request.notional is not None or (quantity is not None and abs(quantity - round(quantity)) > QTY_EPSILON)


@attrs.frozen(slots=True)
class ExtendedHours:
    """``extended_hours`` only on a simple limit order with time in force day ("Only limit day orders will be
    accepted as extended hours eligible"; brackets "do not support extended hours"). Relaxed by
    ``extended_hours_check: false`` (any order may then work in extended hours)."""

    concern: ClassVar[Concern] = Concern.EXTENDED_HOURS
    setting: str | None = "extended_hours_check"

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        if not request.extended_hours:
            return
        if (
            request.type is not OrderType.LIMIT
            or request.time_in_force is not TimeInForce.DAY
            or request.order_class is not OrderClass.SIMPLE
        ):
            kind = f"{request.order_class.value} " if request.order_class is not OrderClass.SIMPLE else ""
            raise OrderNotAccepted(
                "extended hours orders must be simple limit orders with time_in_force day; got a "
                f"{kind}{request.type.value} {request.time_in_force.value} order for {request.symbol}",
                rule=self.setting,
            )


@attrs.frozen(slots=True)
class AuctionCutoffs:
    """The auctions' cutoffs: an opg order is refused from 2 minutes before the open (09:28 New York) and a cls
    order from 10 minutes before the close (15:50), each until 3 hours after the close (19:00), when orders
    queue for the next session's auction. Times follow the account's session. Relaxed by
    ``auction_cutoffs: false``."""

    concern: ClassVar[Concern] = Concern.AUCTIONS
    setting: str | None = "auction_cutoffs"

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        tif = request.time_in_force
        if tif is not TimeInForce.OPG and tif is not TimeInForce.CLS:
            return
        now = view.now()
        session = view.session
        zone: Any = getattr(session, "timezone", None) or UTC
        bounds = session.close_on(now.astimezone(zone).date())
        if bounds is None:
            return  # no session today: the order queues for the next one
        opens, closes = (datetime.fromtimestamp(moment, UTC) for moment in bounds)
        start = opens - OPG_CUTOFF if tif is TimeInForce.OPG else closes - CLS_CUTOFF
        end = closes + AUCTION_REOPENS
        if start <= now < end:
            local = (start.astimezone(zone), end.astimezone(zone))
            raise OrderNotAccepted(
                f"{tif.value} orders are not accepted from {local[0]:%H:%M} to {local[1]:%H:%M} "
                f"({getattr(zone, 'key', zone)}); a {tif.value} order for {request.symbol} at "
                f"{now.astimezone(zone):%H:%M} is past the auction's cutoff",
                rule=self.setting,
            )


@attrs.frozen(slots=True)
class FractionalTrading:
    """Alpaca's ``fractional_trading`` account configuration: when false, fractional quantities and notional
    orders are refused. Always consulted (it is the configuration itself that turns it on)."""

    concern: ClassVar[Concern] = Concern.FRACTIONAL
    setting: str | None = None

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        if is_fractional(request) and not view.rules.fractional_trading:
            raise OrderNotAccepted(
                f"fractional orders are not enabled for this account (fractional_trading: false); order for "
                f"{request.symbol}",
                rule="fractional_trading",
            )


@attrs.frozen(slots=True)
class FractionalOrders:
    """Fractional and notional orders only where Alpaca takes them: time in force day, a market, limit, stop or
    stop limit order, no extended hours, a symbol marked fractionable, and never a sale that opens a short ("We
    do not support short sales in fractional orders"). Relaxed by ``fractional_check: false``."""

    concern: ClassVar[Concern] = Concern.FRACTIONAL
    setting: str | None = "fractional_check"

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        if not is_fractional(request):
            return
        symbol = request.symbol
        what = "notional" if request.notional is not None else "fractional"
        if request.time_in_force is not TimeInForce.DAY or request.type not in _FRACTIONAL_TYPES:
            raise OrderNotAccepted(
                f"{what} orders must be market, limit, stop or stop_limit orders with time_in_force day; got a "
                f"{request.type.value} {request.time_in_force.value} order for {symbol}",
                rule=self.setting,
            )
        if request.extended_hours:
            raise OrderNotAccepted(f"{what} orders are not accepted in extended hours ({symbol})", rule=self.setting)
        if not view.asset(symbol).fractionable:
            raise OrderNotAccepted(f"requested asset {symbol} is not fractionable", rule=self.setting)
        if opens_short(request, view, replacing):
            raise OrderNotAccepted(
                f"{what} orders cannot open a short: a {what} sell for {symbol} is larger than the long position",
                rule=self.setting,
            )
