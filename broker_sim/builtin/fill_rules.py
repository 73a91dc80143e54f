"""The rules every built-in fill model shares: given the prices an order could trade at now, whether it fills,
at what price (before slippage) and when inside the event.

A model reduces its market event to a `Window`: the first price the order could trade at, the high and low of
what followed, and (for bars with an assumed path) when each price traded. Then one set of rules decides
(`FillRules.decide`):

* **market**: at the first price.
* **limit**: at the first price when that is already better than the limit (a gap, or a marketable limit);
  else at the limit when the market trades through it. A price that only *touches* the limit fills it with
  ``limit_fill: touch`` (the default, with probability `touch_probability`, NautilusTrader's
  ``prob_fill_on_limit``), never with ``limit_fill: through`` (LEAN's rule).
* **stop** and **trailing_stop**: trigger at the first price when that is at or beyond the stop (a gap fills
  at it), else at the stop when the range reaches it; then fill as a market order. Alpaca turns a buy stop into
  a stop-limit 4 % above a stop under $50 and 2.5 % above one at $50 or more
  (https://docs.alpaca.markets/docs/orders-at-alpaca, "Stop Orders"); `buy_stop_limit` (on by default) does
  the same.
* **stop_limit**: triggers as a stop; fills at the trigger price if that satisfies the limit, else the rest of
  the event is judged as a limit order (all of it after a trigger at the open; after an intrabar trigger only
  along an assumed path, else from the next event).

`FillDecision.at` says when inside the event the fill happened (0 its start, 1 its end), so that the venue
executes several fills of one bar in that order: with `Intrabar.STOP_FIRST` fills at the open come first,
then stops (`STOP_AT`), then limits (`LIMIT_AT`); along a path, the time the price got there.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import attrs

from broker_sim._members import (
    _SIDE_BUY,
    _T_LIMIT,
    _T_MARKET,
    _T_STOP,
    _T_STOP_LIMIT,
)
from broker_sim._numeric import PRICE_EPSILON, price_beyond
from broker_sim.builtin._params import number
from broker_sim.builtin.bar_path import Path
from broker_sim.hookspecs import NO_FILL, FillDecision, HookContext
from broker_sim.models import Order, unchecked_constructor

__all__ = ["LIMIT_AT", "STOP_AT", "FillRules", "LimitFill", "Window", "alpaca_buy_stop_limit", "check_probability"]

#: ``FillDecision(...)`` as a function (`unchecked_constructor`; a decision has nothing to check): the class call
#: costs more than the generated function, and a model answers one decision for every order it fills.
_decision: Any = unchecked_constructor(FillDecision)

#: Without a path, when inside a bar an intrabar stop trigger and an intrabar limit fill are taken to happen:
#: stops before limits (the conservative reading of a bar that crossed both).
STOP_AT = 1.0 / 3.0
LIMIT_AT = 2.0 / 3.0


class LimitFill(StrEnum):
    """Whether a limit order fills when the market only touches its price (``touch``) or must trade through it."""

    TOUCH = "touch"
    THROUGH = "through"


def alpaca_buy_stop_limit(stop: float) -> float:
    """The limit Alpaca gives a buy stop order: 4 % above a stop under $50, 2.5 % above one at $50 or more."""
    return stop * (1.04 if stop < 50 else 1.025)


class Window:
    """The prices an order could trade at on one market event, from the moment it could first trade.

    `first` is that moment's price, `high` and `low` bound what traded after it, `start` is that moment as a
    fraction of the event (0 for a print or a whole bar), and `path`, when set, tells when each price traded.
    """

    __slots__ = ("first", "high", "low", "path", "start")

    def __init__(self, first: float, high: float, low: float, path: Path | None = None, start: float = 0.0) -> None:
        self.first = first
        self.high = high
        self.low = low
        self.path = path
        self.start = start

    def reached(self, level: float, up: bool, otherwise: float) -> float:
        """When the price first got to `level` (up: at or above), along the path; `otherwise` without one."""
        if self.path is None:
            return otherwise
        when = self.path.reach(self.start, level, up)
        return otherwise if when is None else when

    def after(self, when: float) -> Window | None:
        """What traded from time `when` on (None without a path: unknown)."""
        if self.path is None:
            return None
        high, low = self.path.extremes(when)
        return Window(self.path.price_at(when), high, low, self.path, when)


def _was_stop(order: Order) -> bool:
    """Whether a market order is a triggered stop order (not a trailing stop), as the venue offers one."""
    return (
        order.triggered_at is not None
        and order.stop_price is not None
        and order.trail_price is None
        and order.trail_percent is None
    )


def check_probability(_: object, attribute: attrs.Attribute[float], value: Any) -> None:
    """An attrs validator: `value` is a number from 0 to 1 (the fill models' `touch_probability`). `value` is
    typed `Any`: this module is compiled, and mypyc would refuse a non-float with a bare `TypeError` first."""
    number(minimum=0)(_, attribute, value)
    if value > 1:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value!r}")


def _limit_fill(value: Any) -> LimitFill:
    try:
        return LimitFill(value)
    except ValueError:
        raise ValueError(f"limit_fill must be one of touch, through; got {value!r}") from None


@attrs.frozen(slots=True)
class FillRules:
    """The shared rules (module docstring) and their options, one set per fill model.

    The options are converted and checked after init, not by attrs converters and validators: in the compiled
    build (this module is compiled) an attrs class takes plain defaults only, mypyc stores an ``attrs.field()``
    default as a value of the field's type. There the fields are also checked against their annotations: a fill
    model's options are checked before they get here (`broker_sim.builtin.fill`).
    """

    limit_fill: LimitFill = LimitFill.TOUCH
    touch_probability: float = 1.0
    buy_stop_limit: bool = True

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "limit_fill", _limit_fill(self.limit_fill))
        check_probability(self, _TOUCH_PROBABILITY, self.touch_probability)
        if self.limit_fill is LimitFill.THROUGH and self.touch_probability != 1.0:
            raise ValueError(
                f"touch_probability applies to limit_fill: touch; with limit_fill: through a touch never fills "
                f"(got touch_probability={self.touch_probability!r})"
            )

    def _touch_fills(self, ctx: HookContext | None) -> bool:
        """Whether a touch fills: never with ``through``; with ``touch`` at `touch_probability`, drawn from the
        model's own seeded stream (without a context, only a certain touch fills)."""
        if self.limit_fill is LimitFill.THROUGH:
            return False
        probability = self.touch_probability
        if probability >= 1.0:
            return True
        return ctx is not None and ctx.rng.random() < probability

    def limit(
        self, buy: bool, limit: float, window: Window, ctx: HookContext | None, *, marketable: bool = False
    ) -> tuple[float, float] | None:
        """(price, when) a limit order fills at in `window`, or None. `marketable`: a first price at the limit is
        taken at once (a quote at arrival: the order takes what is offered), whatever `limit_fill` says."""
        first = window.first
        # Comparisons within PRICE_EPSILON (written out: this is on every update of a resting limit).
        if (first < limit - PRICE_EPSILON) if buy else (first > limit + PRICE_EPSILON):
            return first, window.start
        at_first = -PRICE_EPSILON <= first - limit <= PRICE_EPSILON
        if at_first and (marketable or self._touch_fills(ctx)):
            return first, window.start
        best = window.low if buy else window.high
        if (best < limit - PRICE_EPSILON) if buy else (best > limit + PRICE_EPSILON):
            return limit, window.reached(limit, not buy, LIMIT_AT)
        if not at_first and -PRICE_EPSILON <= best - limit <= PRICE_EPSILON and self._touch_fills(ctx):
            return limit, window.reached(limit, not buy, LIMIT_AT)
        return None

    def decide_at(
        self, order: Order, price: float, quantity: float, ctx: HookContext | None, marketable: bool = False
    ) -> FillDecision:
        """`decide` for one price (a trade, a quote side, the last price). A plain limit order and a market order
        are decided here without building a `Window` (the one-price cases of `limit` and of a market order): this
        runs on every update of a resting limit and for every market order (so `marketable` is not keyword-only:
        CPython 3.11 specializes calls only to functions without keyword-only parameters)."""
        kind = order.type
        if kind is _T_LIMIT:
            limit: float = order.limit_price  # type: ignore[assignment]
            if (price < limit - PRICE_EPSILON) if order.side is _SIDE_BUY else (price > limit + PRICE_EPSILON):
                return _decision(quantity, price)
            if -PRICE_EPSILON <= price - limit <= PRICE_EPSILON and (marketable or self._touch_fills(ctx)):
                return _decision(quantity, price)
            return NO_FILL
        if kind is _T_MARKET and (order.side is not _SIDE_BUY or not self.buy_stop_limit or not _was_stop(order)):
            return _decision(quantity, price)  # a market order: `decide`'s answer, at the window's start (0)
        return self.decide(order, Window(price, price, price), quantity, ctx, marketable=marketable)

    def decide(
        self, order: Order, window: Window, quantity: float, ctx: HookContext | None, *, marketable: bool = False
    ) -> FillDecision:
        """Whether `order` fills `quantity` in `window`, at what price and when (module docstring)."""
        buy = order.side is _SIDE_BUY
        kind = order.type
        if kind is _T_LIMIT:
            filled = self.limit(buy, order.limit_price, window, ctx, marketable=marketable)  # type: ignore[arg-type]
            return NO_FILL if filled is None else _decision(quantity, filled[0], at=filled[1])
        if kind is _T_MARKET:
            if buy and self.buy_stop_limit and _was_stop(order):
                # A triggered buy stop (offered as a market order) keeps Alpaca's limit.
                collar = alpaca_buy_stop_limit(order.stop_price)  # type: ignore[arg-type]
                filled = self.limit(buy, collar, window, ctx)
                return NO_FILL if filled is None else _decision(quantity, filled[0], at=filled[1])
            return _decision(quantity, window.first, at=window.start)
        stop = order.stop_price
        if stop is None:  # a trailing stop before its first price: nothing to trigger yet
            return NO_FILL
        first = window.first
        if not price_beyond(first, stop, not buy):  # at or beyond the stop at once: a gap fills at it
            trigger, when = first, window.start
        elif not price_beyond(window.high if buy else window.low, stop, not buy):
            trigger, when = stop, window.reached(stop, buy, STOP_AT)
        else:
            return NO_FILL
        limit = order.limit_price
        if kind is _T_STOP and buy and self.buy_stop_limit:
            limit = alpaca_buy_stop_limit(stop)
        elif kind is not _T_STOP_LIMIT:
            return _decision(quantity, trigger, True, at=when)
        assert limit is not None
        if not price_beyond(trigger, limit, buy):
            return _decision(quantity, trigger, True, at=when)
        # Triggered beyond the limit: the limit works on what traded after the trigger.
        rest = window if when == window.start else window.after(when)
        if rest is not None:
            filled = self.limit(buy, limit, Window(trigger, rest.high, rest.low, rest.path, when), ctx)
            if filled is not None:
                return _decision(quantity, filled[0], True, at=filled[1])
        return _decision(0.0, 0.0, True)


#: The field `FillRules` checks its `touch_probability` as (the validator names it in its messages).
_TOUCH_PROBABILITY = attrs.fields(FillRules).touch_probability
