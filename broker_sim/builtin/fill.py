"""Built-in fill models: whether a working order fills now, how much, and at what price before slippage.

Every model reduces the market event to the prices the order could trade at (a `Window`) and the shared rules
of `broker_sim.builtin.fill_rules` decide; every model takes their options: `limit_fill` (``touch`` or
``through``), `touch_probability` and `buy_stop_limit` (Alpaca's limit on buy stops).

What each model sees:

* `immediate`: the last price (bar close, trade price, quote mid, else `reference_price`): one price per
  update, no intrabar range.
* `bar(timing, arrival, intrabar)`: OHLC bars. ``next_bar`` (default, no look-ahead): an order is never
  filled from market data stamped before it started working (its latency over, or the open for an order
  queued outside the session), nor from the bar it was submitted during. An order that started working inside
  a bar's interval is judged on that bar: with ``arrival: open`` (default) from its open, as backtrader fills
  a market order at the next bar's open; with ``arrival: path`` from the price at its arrival time along the
  bar's assumed path (`intrabar`), and only on what traded after it. ``same_bar_close``: an order is judged at
  the close of the bar it was submitted in (for strategies that decide and trade at the close); what does not
  fill then is judged on the full range of later bars. `intrabar` says which of two prices inside one bar came
  first: ``stop_first`` (default: a bar that crossed a bracket's two exits stops it out), ``ohlc`` or
  ``adaptive`` (NautilusTrader's paths). An ioc, fok or opg order is judged once, at the first price it could
  trade at.
* `quote(displayed_size, tick)`: buys see the ask, sells the bid. A limit at or through the quote in force when
  it arrives fills at the quote at once (it is marketable); resting, it fills when a later quote reaches it
  (`limit_fill`). `displayed_size` (when the quote has sizes): ``rest`` (default) fills what is shown and the
  rest waits for later quotes; ``walk`` fills the rest at once `tick` worse (NautilusTrader's L1 rule);
  ``ignore`` fills any size at the quote.
* `volume_limited(volume_limit, timing, arrival, intrabar)`: the `bar` rules, but at most `volume_limit`
  (2.5 %) of each bar's volume fills, in whole shares unless the order is fractional; the rest keeps working.
"""

from __future__ import annotations

import functools
import math
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

import attrs

from broker_sim._members import (
    _SIDE_BUY,
    _T_MARKET,
    _TIF_FOK,
    _TIF_IOC,
    _TIF_OPG,
)
from broker_sim._numeric import QTY_EPSILON, TIME_EXACT_S
from broker_sim.builtin._params import boolean, number
from broker_sim.builtin.bar_path import Intrabar, Path
from broker_sim.builtin.fill_rules import FillRules, LimitFill, Window, check_probability
from broker_sim.hookspecs import NO_FILL, NOT_YET, FillDecision, HookContext, hookimpl
from broker_sim.models import Bar, MarketData, Order, OrderType, Quote, unchecked_constructor

__all__ = ["Arrival", "BarFill", "ImmediateFill", "QuoteFill", "VolumeLimitedFill"]

_ALL_TYPES = frozenset(OrderType)
#: ``FillDecision(...)`` as a function, as `fill_rules` builds its decisions (`unchecked_constructor`).
_decision: Any = unchecked_constructor(FillDecision)
_TIMINGS = ("next_bar", "same_bar_close")
#: Orders judged once, at the first price they could trade at.
_ONE_SHOT = frozenset({_TIF_IOC, _TIF_FOK, _TIF_OPG})
#: Within this many seconds a market event's time and an order's are compared as datetimes, at their microsecond
#: resolution (as they always were); further apart, POSIX seconds decide.
_EXACT_S = TIME_EXACT_S
#: An order's times as POSIX seconds, remembered: each resting order is compared with every bar.
_posix = functools.lru_cache(maxsize=4096)(datetime.timestamp)


class Arrival(StrEnum):
    """Where an order that started working inside a bar comes in: at the bar's open, or along its path."""

    OPEN = "open"
    PATH = "path"


class DisplayedSize(StrEnum):
    """What the quote model does with the part of an order beyond the quote's displayed size."""

    REST = "rest"
    WALK = "walk"
    IGNORE = "ignore"


def _choice(enum: type[StrEnum], name: str, value: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {', '.join(e.value for e in enum)}; got {value!r}") from None


def _to_limit_fill(value: Any) -> LimitFill:
    return _choice(LimitFill, "limit_fill", value)


def _to_arrival(value: Any) -> Arrival:
    return _choice(Arrival, "arrival", value)


def _to_intrabar(value: Any) -> Intrabar:
    return _choice(Intrabar, "intrabar", value)


def _to_displayed_size(value: Any) -> DisplayedSize:
    return _choice(DisplayedSize, "displayed_size", value)


def _check_timing(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in _TIMINGS:
        raise ValueError(f"timing must be one of {', '.join(_TIMINGS)}, got {value!r}")


def _last_price(order: Order, market: MarketData | None) -> float | None:
    return market.price if market is not None else order.reference_price


@attrs.frozen(slots=True)
class _Options:
    """The options every built-in fill model takes (see `FillRules`)."""

    limit_fill: LimitFill = attrs.field(default="touch", converter=_to_limit_fill)  # type: ignore[assignment]
    #: Checked here (these two too): the compiled `FillRules` would refuse a value that is not of its field's
    #: type with a bare `TypeError`.
    touch_probability: float = attrs.field(default=1.0, kw_only=True, validator=check_probability)
    buy_stop_limit: bool = attrs.field(default=True, kw_only=True, validator=boolean)
    _rules: FillRules = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_rules", FillRules(self.limit_fill, self.touch_probability, self.buy_stop_limit))


@attrs.frozen(slots=True)
class ImmediateFill(_Options):
    """Fills against the last price only: market orders at once, limits and stops when the last price reaches
    them (see the module docstring)."""

    #: The order types this model fills; the paper adapter refuses the others at submission.
    order_types = _ALL_TYPES
    #: It fills a market order (not a triggered stop) whole at the last price, whatever else it is asked: while it
    #: is the fill hook's one implementation, the paper venue does so without the call (`fills_market_at_last` in
    #: `broker_sim.adapters.paper.model_set`). A subclass that overrides `broker_sim_fill` does not inherit this.
    fills_market_at_last: ClassVar[bool] = True

    @hookimpl
    def broker_sim_fill(self, order: Order, market: MarketData | None, ctx: HookContext) -> FillDecision | None:
        # `market.price`, without the property's call for a bar (its close)
        if market is None:
            price = order.reference_price
        elif market.__class__ is Bar:
            price = market.close
        else:
            price = market.price
        if price is None:
            return NO_FILL
        # (`order.remaining_quantity`, without the property's call: this is on every market order's path)
        quantity = order.quantity - order.filled_quantity
        if order.type is _T_MARKET and (
            order.side is not _SIDE_BUY or not self.buy_stop_limit or order.triggered_at is None
        ):
            return _decision(quantity, price)  # `decide_at`'s answer for a market order (not a stop), without its call
        return self._rules.decide_at(order, price, quantity, ctx)


def _bar_window(
    order: Order,
    market: MarketData | None,
    timing: str,
    working_since: datetime | None,
    arrival: Arrival,
    intrabar: Intrabar,
) -> Window | None:
    """What the order may trade at on this event under `timing` (module docstring), or None: not yet."""
    if market is None:
        price = order.reference_price
        return None if price is None or timing == "next_bar" else Window(price, price, price)
    # Compared in POSIX seconds (no datetime per bar); within a few microseconds, as datetimes (`_EXACT_S`).
    stamp = market.seconds
    created = _posix(order.created_at)
    if stamp <= created + _EXACT_S and (stamp < created - _EXACT_S or market.timestamp <= order.created_at):
        # the bar (or print) the order was submitted during
        if timing == "next_bar":
            return None  # no look-ahead
        close = market.price  # same_bar_close: the signal bar's close, known when the order was sent
        return Window(close, close, close)
    # Traded before the order worked: not there to trade. An instant's print (or a bar of unknown length) stamped
    # the moment it started working is the price in force then (the opening print for an order queued overnight).
    since = -math.inf if working_since is None else _posix(working_since)
    if working_since is not None and stamp <= since + _EXACT_S:
        if stamp < since - _EXACT_S:
            return None
        moment = market.timestamp
        if moment <= working_since and (moment < working_since or (isinstance(market, Bar) and market.interval)):
            return None
    if market.__class__ is not Bar:
        price = market.price
        return Window(price, price, price)
    bar: Bar = market
    path = None if intrabar is Intrabar.STOP_FIRST else Path(bar.open, bar.high, bar.low, bar.close, intrabar)
    if (
        arrival is Arrival.PATH
        and bar.interval
        and working_since is not None
        and stamp - bar.interval < since + _EXACT_S  # (seconds first: most bars began after it, no datetime)
        and bar.start < working_since
    ):
        when = (working_since - bar.start).total_seconds() / bar.interval
        high, low = path.extremes(when)  # type: ignore[union-attr]
        window = Window(path.price_at(when), high, low, path, when)  # type: ignore[union-attr]
    else:
        window = Window(bar.open, bar.high, bar.low, path)
    if order.time_in_force in _ONE_SHOT:
        return Window(window.first, window.first, window.first, None, window.start)
    return window


def _check_arrival(instance: Any) -> None:
    if instance.arrival is Arrival.PATH and instance.intrabar is Intrabar.STOP_FIRST:
        raise ValueError("arrival: path needs a bar path: set intrabar to ohlc or adaptive (it is stop_first)")


@attrs.frozen(slots=True)
class BarFill(_Options):
    """OHLC-aware fills: next-bar (default, no look-ahead) or same-bar-close `timing`, where a mid-bar
    `arrival` comes in, and which of two prices in one bar came first (`intrabar`); see the module docstring."""

    order_types = _ALL_TYPES
    timing: str = attrs.field(default="next_bar", validator=_check_timing, kw_only=True)
    arrival: Arrival = attrs.field(default="open", converter=_to_arrival, kw_only=True)  # type: ignore[assignment]
    intrabar: Intrabar = attrs.field(default="stop_first", converter=_to_intrabar, kw_only=True)  # type: ignore[assignment]

    def __attrs_post_init__(self) -> None:
        _Options.__attrs_post_init__(self)
        _check_arrival(self)

    @hookimpl
    def broker_sim_fill(
        self, order: Order, market: MarketData | None, ctx: HookContext | None, working_since: datetime | None
    ) -> FillDecision | None:
        window = _bar_window(order, market, self.timing, working_since, self.arrival, self.intrabar)
        if window is None:
            return NOT_YET
        return self._rules.decide(order, window, order.remaining_quantity, ctx)


@attrs.frozen(slots=True)
class QuoteFill(_Options):
    """Buys fill at the ask, sells at the bid, up to the displayed size (module docstring)."""

    order_types = _ALL_TYPES
    displayed_size: DisplayedSize = attrs.field(default="rest", converter=_to_displayed_size, kw_only=True)  # type: ignore[assignment]
    tick: float = attrs.field(default=0.01, validator=number(above=0), kw_only=True)

    @hookimpl
    def broker_sim_fill(
        self, order: Order, market: MarketData | None, ctx: HookContext | None, working_since: datetime | None
    ) -> FillDecision | None:
        buy = order.side is _SIDE_BUY
        if market.__class__ is not Quote:
            price = _last_price(order, market)
            if price is None:
                return NO_FILL
            return self._rules.decide_at(order, price, order.remaining_quantity, ctx)
        quote: Quote = market
        price, shown = (quote.ask, quote.ask_size) if buy else (quote.bid, quote.bid_size)
        # The quote in force when the order arrived: a limit at the quote takes it (it is marketable).
        arriving = working_since is None or quote.timestamp <= working_since
        remaining = order.remaining_quantity
        decision = self._rules.decide_at(order, price, remaining, ctx, marketable=arriving)
        if decision.quantity <= 0 or shown <= 0 or self.displayed_size is DisplayedSize.IGNORE or shown >= remaining:
            return decision
        if self.displayed_size is DisplayedSize.REST:
            return attrs.evolve(decision, quantity=shown)
        # walk: the rest one tick worse, unless that is beyond the order's limit (then only what is shown).
        worse = price + self.tick if buy else price - self.tick
        limit = order.limit_price
        if limit is not None and (worse > limit if buy else worse < limit):
            return attrs.evolve(decision, quantity=shown)
        average = (decision.price * shown + worse * (remaining - shown)) / remaining
        return attrs.evolve(decision, price=average)


@attrs.frozen(slots=True)
class VolumeLimitedFill(_Options):
    """The `bar` rules, filling at most `volume_limit` of each bar's volume; the rest keeps working."""

    order_types = _ALL_TYPES
    volume_limit: float = attrs.field(default=0.025, validator=number(above=0), kw_only=True)
    timing: str = attrs.field(default="next_bar", validator=_check_timing, kw_only=True)
    arrival: Arrival = attrs.field(default="open", converter=_to_arrival, kw_only=True)  # type: ignore[assignment]
    intrabar: Intrabar = attrs.field(default="stop_first", converter=_to_intrabar, kw_only=True)  # type: ignore[assignment]

    def __attrs_post_init__(self) -> None:
        _Options.__attrs_post_init__(self)
        if self.volume_limit > 1:
            raise ValueError(f"volume_limit must be <= 1, got {self.volume_limit!r}")
        _check_arrival(self)

    @hookimpl
    def broker_sim_fill(
        self, order: Order, market: MarketData | None, ctx: HookContext | None, working_since: datetime | None
    ) -> FillDecision | None:
        window = _bar_window(order, market, self.timing, working_since, self.arrival, self.intrabar)
        if window is None or not isinstance(market, Bar):
            return NOT_YET
        available = market.volume * self.volume_limit
        if order.notional is None and float(order.quantity).is_integer():
            available = math.floor(available + QTY_EPSILON)  # whole shares for a whole-share order
        decision = self._rules.decide(order, window, min(order.remaining_quantity, available), ctx)
        if decision.quantity <= 0 and not decision.triggered:
            return NO_FILL
        return decision
