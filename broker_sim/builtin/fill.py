"""Built-in fill models: whether a working order fills now, how much, and at what price before slippage.

Every model reduces the market event to the prices the order could have traded at — ``open, high, low`` of
what it saw — and one set of rules decides (`_decide`):

* **market**: fills at ``open`` (the first price seen).
* **limit**: a buy fills at ``open`` when the market opens at or below the limit (a gap), else at the limit
  when ``low`` reaches it; sells mirrored. With `strict` (the quote model) the price must cross the limit,
  not just touch it.
* **stop** and **trailing_stop**: a buy triggers at ``open`` when the market opens at or above the stop (a gap
  through it fills at the open), else at the stop when ``high`` reaches it; then it fills as a market order.
  Sells mirrored.
* **stop_limit**: triggers as a stop; at the trigger price it fills if that price satisfies the limit, else it
  keeps working as a limit order.

What each model sees:

* `immediate`: the last price (bar close, trade price, quote mid, else `reference_price`) as open, high and
  low: one price per update, no intrabar range.
* `bar(timing)`: OHLC bars. An order is never priced from a bar that began before it started working (after
  its latency, or at the open when it was queued), when the bar says how long it covers (`Bar.interval`).
  ``next_bar`` (default, no look-ahead): an order is never filled from the bar during which it was submitted
  (``bar.timestamp <= order.created_at``); it fills from the next bar on, a market order at that bar's open,
  as backtrader and NautilusTrader do. ``same_bar_close``: an order is judged at the close of the bar it was
  submitted in (for strategies that decide and trade at the close); what does not fill then is judged on the
  full range of the later bars, as under ``next_bar``.
* `quote`: buys see the ask, sells the bid; a limit fills only when the opposite side crosses it.
* `volume_limited(volume_limit, timing)`: the `bar` rules, but at most `volume_limit` (2.5 %) of each bar's
  volume fills; the rest keeps working on later bars (partial fills).
"""

from __future__ import annotations

from datetime import datetime

import attrs

from broker_sim.builtin._params import number
from broker_sim.hookspecs import NO_FILL, NOT_YET, FillDecision, HookContext, hookimpl
from broker_sim.models import Bar, MarketData, Order, OrderType, Quote, Side

__all__ = ["BarFill", "ImmediateFill", "QuoteFill", "VolumeLimitedFill"]

_ALL_TYPES = frozenset(OrderType)
_TIMINGS = ("next_bar", "same_bar_close")


def _limit(buy: bool, limit: float, open_: float, best: float, strict: bool) -> float | None:
    """The price a limit order fills at, given the open and the best price (low for buys, high for sells)."""
    if buy:
        if open_ < limit or (open_ == limit and not strict):
            return open_
        return limit if best < limit or (best == limit and not strict) else None
    if open_ > limit or (open_ == limit and not strict):
        return open_
    return limit if best > limit or (best == limit and not strict) else None


def _stop(buy: bool, stop: float, open_: float, high: float, low: float) -> float | None:
    """The price a stop triggers at: the open when the market gaps through it, else the stop; None if not hit."""
    if buy:
        return open_ if open_ >= stop else (stop if high >= stop else None)
    return open_ if open_ <= stop else (stop if low <= stop else None)


def _decide(order: Order, open_: float, high: float, low: float, quantity: float, strict: bool) -> FillDecision:
    """The shared rules (module docstring) for an order that could trade at open/high/low now."""
    buy = order.side is Side.BUY
    kind = order.type
    if kind is OrderType.MARKET:
        return FillDecision(quantity, open_)
    if kind is OrderType.LIMIT:
        price = _limit(buy, order.limit_price, open_, low if buy else high, strict)  # type: ignore[arg-type]
        return NO_FILL if price is None else FillDecision(quantity, price)
    stop = order.stop_price
    if stop is None:  # a trailing stop before its first price: nothing to trigger yet
        return NO_FILL
    trigger = _stop(buy, stop, open_, high, low)
    if trigger is None:
        return NO_FILL
    if kind is OrderType.STOP_LIMIT:
        limit = order.limit_price
        assert limit is not None
        ok = trigger <= limit if buy else trigger >= limit
        return FillDecision(quantity, trigger, True) if ok else FillDecision(0.0, 0.0, True)
    return FillDecision(quantity, trigger, True)


def _last_price(order: Order, market: MarketData | None) -> float | None:
    return market.price if market is not None else order.reference_price


@attrs.frozen(slots=True)
class ImmediateFill:
    """Fills against the last price only: market orders at once, limits and stops when the last price reaches
    them (see the module docstring)."""

    #: The order types this model fills; the paper adapter refuses the others at submission.
    order_types = _ALL_TYPES

    @hookimpl
    def broker_sim_fill(self, order: Order, market: MarketData | None, ctx: HookContext) -> FillDecision | None:
        price = _last_price(order, market)
        if price is None:
            return NO_FILL
        return _decide(order, price, price, price, order.remaining_quantity, strict=False)


def _check_timing(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in _TIMINGS:
        raise ValueError(f"timing must be one of {', '.join(_TIMINGS)}, got {value!r}")


def _bar_prices(
    order: Order, market: MarketData | None, timing: str, working_since: datetime | None
) -> tuple[float, float, float] | None:
    """(open, high, low) the order may trade at on this event under `timing`, or None if it may not trade."""
    if market is None:
        price = order.reference_price
        return None if price is None or timing == "next_bar" else (price, price, price)
    if market.timestamp <= order.created_at:  # the bar (or print) the order was submitted during
        if timing == "next_bar":
            return None  # no look-ahead
        price = market.price  # same_bar_close: the signal bar's close, known when the order was sent
        return price, price, price
    if not isinstance(market, Bar):
        price = market.price
        return price, price, price
    if market.interval and working_since is not None and market.start < working_since:
        return None  # the bar began before the order worked: its open and range were not there to trade
    return market.open, market.high, market.low


@attrs.frozen(slots=True)
class BarFill:
    """OHLC-aware fills with next-bar (default, no look-ahead) or same-bar-close timing."""

    order_types = _ALL_TYPES
    timing: str = attrs.field(default="next_bar", validator=_check_timing)

    @hookimpl
    def broker_sim_fill(self, order: Order, market: MarketData | None, working_since: datetime) -> FillDecision | None:
        prices = _bar_prices(order, market, self.timing, working_since)
        if prices is None:
            return NOT_YET
        return _decide(order, *prices, order.remaining_quantity, strict=False)


@attrs.frozen(slots=True)
class QuoteFill:
    """Buys fill at the ask, sells at the bid; a limit fills only when the opposite side crosses it."""

    order_types = _ALL_TYPES

    @hookimpl
    def broker_sim_fill(self, order: Order, market: MarketData | None, ctx: HookContext) -> FillDecision | None:
        price = (
            (market.ask if order.side is Side.BUY else market.bid)
            if isinstance(market, Quote)
            else _last_price(order, market)
        )
        if price is None:
            return NO_FILL
        return _decide(order, price, price, price, order.remaining_quantity, strict=True)


@attrs.frozen(slots=True)
class VolumeLimitedFill:
    """The `bar` rules, filling at most `volume_limit` of each bar's volume; the rest keeps working."""

    order_types = _ALL_TYPES
    volume_limit: float = attrs.field(default=0.025, validator=number(above=0))
    timing: str = attrs.field(default="next_bar", validator=_check_timing)

    def __attrs_post_init__(self) -> None:
        if self.volume_limit > 1:
            raise ValueError(f"volume_limit must be <= 1, got {self.volume_limit!r}")

    @hookimpl
    def broker_sim_fill(self, order: Order, market: MarketData | None, working_since: datetime) -> FillDecision | None:
        prices = _bar_prices(order, market, self.timing, working_since)
        if prices is None or not isinstance(market, Bar):
            return NOT_YET
        available = market.volume * self.volume_limit
        decision = _decide(order, *prices, min(order.remaining_quantity, available), strict=False)
        if decision.quantity <= 0 and not decision.triggered:
            return NO_FILL
        return decision
