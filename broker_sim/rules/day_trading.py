"""Pattern day trader protection as Alpaca runs it: an order that could make the 4th day trade within 5 business
days is refused when the account's equity at the previous close was under $25,000.

https://docs.alpaca.markets/docs/user-protections#pattern-day-trader-pdt-protection-at-alpaca

* A **day trade** opens (or grows) a position and closes (or shrinks) it the same day, in the session's time
  zone, extended hours included; day trades count regardless of quantity (FINRA's examples on Alpaca's page:
  buy 250, buy 250, sell 500 is one day trade; buy 100, sell 100, buy 100, sell 100 is two). `DayTradeCounter`
  counts them fill by fill.
* **Pending orders count**: Alpaca counts "a pair of buy and sell orders [as] a potential day trade" whatever
  order they fill in. `pending_day_trades` bounds the day trades the open orders of a symbol could still make
  (each pair of opposite orders, plus a closing order against a position opened today); the door refuses an
  order that would let the day trades made plus those pending reach 4. So no sequence of whole fills gets a
  sub-$25,000 account to a 4th day trade (partial fills of one pair may make two: Alpaca's check counts orders,
  not fills, too).
* The 5 business days are the session's trading days (the `session`'s calendar), today included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Final, NamedTuple

import attrs

from broker_sim._members import (
    _C_BRACKET,
    _C_OCO,
    _C_OTO,
    _C_SIMPLE,
    _SIDE_BUY,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.calendar import Session
from broker_sim.errors import DayTradeRefused
from broker_sim.models import Order, OrderRequest, Side

from .base import PDT_EQUITY, AccountView, Concern

__all__ = [
    "DAY_TRADE_LIMIT",
    "PDT_EQUITY",
    "WINDOW_DAYS",
    "DayTradeCounter",
    "PatternDayTrader",
    "pending_day_trades",
]

#: Day trades within the window that flag an account as a pattern day trader.
DAY_TRADE_LIMIT = 4
#: The window, in business days, today included.
WINDOW_DAYS = 5
#: How far back (calendar days) the window may reach over weekends and holidays.
_SEARCH_DAYS: Final = 40
#: `DayTradeCounter`'s known day before the first: bounds no moment falls within (the day is never answered).
_NO_DAY: Final = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC), date.min)


class _Fill(NamedTuple):
    """What `DayTradeCounter.record_fill` reads of a fill."""

    symbol: str
    side: Side
    quantity: float
    timestamp: datetime


class DayTradeCounter:
    """Day trades made by one account, fill by fill; `count` is the number within the last 5 business days.

    Per symbol it remembers whether today a fill opened or grew long (or short) exposure that no day trade has
    closed yet; a fill that shrinks such a position is a day trade (and clears the flag). `pattern_day_trader`
    turns true once 4 day trades fall within one window, and stays so (as Alpaca's designation does).
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._zone: Any = getattr(session, "timezone", None) or UTC
        self._today: date | None = None
        #: Today's unclosed openings by symbol: [long, short].
        self._opened: dict[str, list[bool]] = {}
        #: Day trades per day, for the days that had any (only the window's matter).
        self._by_day: dict[date, int] = {}
        #: The day the window ends on (None: none counted yet) and the day trades in it: recounted when the day
        #: moves, counted on by each day trade of that day (attributes, not a tuple to build again: a sell that
        #: closes today's buy makes one, on every such fill's path).
        self._window_day: date | None = None
        self._window_total = 0
        #: Whether each day probed for a window is a session day (`Session.close_on`): a window moves a day at a
        #: time, so each day is asked of the session once, not once per window it falls in (pruned as `_by_day`).
        self._session_days: dict[date, bool] = {}
        #: The last day `day_of` answered and its bounds (UTC datetimes; before the first, bounds no moment falls
        #: within): most moments fall in the same day, so two comparisons answer them, with no time-zone
        #: conversion (this is on every fill's path). The day is the one object `day_of` returns for all of them,
        #: so `record_fill` knows today by identity.
        self._day_start, self._day_end, self._day = _NO_DAY
        self.pattern_day_trader = False

    def day_of(self, when: datetime) -> date:
        """The session day `when` falls on (its date in the session's time zone)."""
        if self._day_start <= when < self._day_end:
            return self._day
        local = when.astimezone(self._zone)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=self._zone)
        day = local.date()
        self._day_start, self._day_end, self._day = start.astimezone(UTC), end.astimezone(UTC), day
        return day

    def _roll(self, day: date) -> None:
        if day != self._today:
            self._today = day
            self._opened.clear()

    def record(self, symbol: str, side: Side, quantity: float, position_before: float, when: datetime) -> bool:
        """Count a fill of `quantity` on `side` in `symbol` at `when`, the position having been `position_before`;
        returns whether the fill made a day trade."""
        return self.record_fill(_Fill(symbol, side, quantity, when), position_before)

    def record_fill(self, fill: Any, position_before: float) -> bool:
        """`record` for a `Fill` (an account's fill observer: this is on every fill's path)."""
        when = fill.timestamp
        day = self._day if self._day_start <= when < self._day_end else self.day_of(when)
        if day is not self._today and day != self._today:  # (the same object all day: see `_day`)
            today = self._today
            if today is not None and day < today:
                return False  # an older fill (replayed out of order) opens or closes nothing today
            self._roll(day)
        symbol = fill.symbol
        flags = self._opened.get(symbol)
        if flags is None:
            flags = self._opened[symbol] = [False, False]
        if fill.side is _SIDE_BUY:
            if not position_before < -QTY_EPSILON:
                flags[0] = True  # it opens or grows a long
                return False
            closing = 1  # it closes (some of) a short
            opening = 0
            held = -position_before
        else:
            if not position_before > QTY_EPSILON:
                flags[1] = True  # it opens or grows a short
                return False
            closing = 0  # it closes (some of) a long
            opening = 1
            held = position_before
        if fill.quantity > held + QTY_EPSILON:  # and goes through zero: it opens the other side
            flags[opening] = True
        if not flags[closing]:  # nothing today opened what it closes
            return False
        flags[closing] = False
        self._by_day[day] = self._by_day.get(day, 0) + 1
        if self._window_day is day or self._window_day == day:
            self._window_total += 1
            total = self._window_total
        else:
            total = self.count(when)
        if total >= DAY_TRADE_LIMIT:
            self.pattern_day_trader = True
        return True

    def opened_today(self, symbol: str, when: datetime) -> tuple[bool, bool]:
        """Whether a fill today opened long (short) exposure in `symbol` that no day trade has closed."""
        if self._today != self.day_of(when):
            return False, False
        flags = self._opened.get(symbol)
        return (flags[0], flags[1]) if flags is not None else (False, False)

    def count(self, when: datetime) -> int:
        """Day trades made within the last 5 business days up to `when`'s day (today included)."""
        # (`day_of`'s answer for the day it knows, without its call: every account asks this)
        day = self._day if self._day_start <= when < self._day_end else self.day_of(when)
        if day is not self._window_day and day != self._window_day:
            if self._by_day:
                start = self._window_start(day)
                self._window_total = sum(n for traded, n in self._by_day.items() if start <= traded <= day)
            else:  # no day trade at all: none in any window (and nothing to prune)
                self._window_total = 0
            self._window_day = day
        return self._window_total

    def _window_start(self, day: date) -> date:
        """The first of the 5 trading days ending on `day` (or the day before, when `day` is not one)."""
        known = self._session_days
        found, probe, start = 0, day, day
        for _ in range(_SEARCH_DAYS):
            trading = known.get(probe)
            if trading is None:
                trading = known[probe] = self._session.close_on(probe) is not None
            if trading:
                found += 1
                start = probe
                if found == WINDOW_DAYS:
                    break
            probe -= timedelta(days=1)
        gone = start - timedelta(days=_SEARCH_DAYS)
        for old in [d for d in self._by_day if d < gone]:
            del self._by_day[old]  # long gone: keep the memory flat however long the account trades
        if len(known) > 2 * _SEARCH_DAYS:
            for old in [d for d in known if d < gone]:
                del known[old]
        return start

    def reset(self) -> None:
        """Forget everything (before counting again from recovered fills)."""
        self._today = None
        self._opened.clear()
        self._by_day.clear()
        self._window_day = None
        self._window_total = 0
        self._day_start, self._day_end, self._day = _NO_DAY
        self.pattern_day_trader = False

    def rebuild(self, fills: Iterable[Any], quantities: dict[str, float]) -> None:
        """Count again from `fills` (oldest first) whose symbols now hold `quantities` (after recovery from a
        journal): each fill's position before it is found by taking the later fills back off."""
        ordered = list(fills)
        position = dict(quantities)
        before: list[float] = [0.0] * len(ordered)
        for index in range(len(ordered) - 1, -1, -1):
            fill = ordered[index]
            signed = fill.quantity if fill.side is _SIDE_BUY else -fill.quantity
            position[fill.symbol] = position.get(fill.symbol, 0.0) - signed
            before[index] = position[fill.symbol]
        self.reset()
        for fill, held in zip(ordered, before, strict=True):
            self.record(fill.symbol, fill.side, fill.quantity, held, fill.timestamp)


def _sides(orders: Sequence[Order], excluding: str | None) -> tuple[int, int]:
    """How many open buy and sell orders (each bracket's or oco's exits counted once, as one of them fills)."""
    groups: dict[tuple[str, Side], None] = {}
    for order in orders:
        if order.id == excluding or not order.status.is_open:
            continue
        key = order.parent_id or order.id
        if order.parent_id is None and order.order_class in (_C_BRACKET, _C_OTO):
            key = order.id
        groups[(key, order.side)] = None
    buys = sum(1 for _, side in groups if side is _SIDE_BUY)
    return buys, len(groups) - buys


def pending_day_trades(buys: int, sells: int, position: float, opened: tuple[bool, bool]) -> int:
    """The most day trades `buys` and `sells` open orders of one symbol could make, whole fills in any order,
    from a `position` whose `opened` flags say what today opened: each buy-sell pair may make one, and an extra
    closing order may close today's opening."""
    pairs = min(buys, sells)
    long_open, short_open = opened
    if (long_open and position > QTY_EPSILON and sells > buys) or (
        short_open and position < -QTY_EPSILON and buys > sells
    ):
        pairs += 1
    return pairs


def _with_request(buys: int, sells: int, request: OrderRequest) -> tuple[int, int]:
    """The open buys and sells once `request` is placed too (a bracket's or oto's exits are the other side)."""
    if request.side is _SIDE_BUY:
        buys += 1
    else:
        sells += 1
    if request.order_class in (_C_BRACKET, _C_OTO):
        if request.side is _SIDE_BUY:
            sells += 1
        else:
            buys += 1
    return buys, sells


@attrs.frozen(slots=True)
class PatternDayTrader:
    """Alpaca's pattern day trader protection (``pdt_check``): while the equity at the previous close is under
    $25,000, an order that would let the day trades of the last 5 business days, made and pending, reach 4 is
    refused (403 "trade denied due to pattern day trading protection"). See the module for how they count. Only
    an account whose equity at the last close was under $25,000 (`PDT_EQUITY`) has anything to check (its
    `concern`)."""

    concern: ClassVar[Concern] = Concern.DAY_TRADES
    setting: str | None = "pdt_check"

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        if view.last_equity() >= PDT_EQUITY:
            return
        simple = request.order_class in (_C_SIMPLE, _C_OCO)
        if simple and not view.open_orders(request.symbol) and not any(view.opened_today(request.symbol)):
            return  # nothing to pair with: the order alone makes no day trade (the fast, common case)
        made = view.day_trade_count()
        excluding = replacing.id if replacing is not None else None
        symbol = request.symbol
        pending = 0
        for other in view.symbols_with_open_orders():
            if other == symbol:
                continue
            buys, sells = _sides(view.open_orders(other), None)
            pending += pending_day_trades(buys, sells, view.quantity(other), view.opened_today(other))
        buys, sells = _sides(view.open_orders(symbol), excluding)
        position, opened = view.quantity(symbol), view.opened_today(symbol)
        before = pending_day_trades(buys, sells, position, opened)
        after = pending_day_trades(*_with_request(buys, sells, request), position, opened)
        if after > before and made + pending + after >= DAY_TRADE_LIMIT:
            raise DayTradeRefused(
                f"trade denied due to pattern day trading protection: {request.side.value} order for {symbol} "
                f"could make a day trade; {made} made and {pending + before} pending within 5 business days, "
                f"equity at the last close {view.last_equity():,.2f} is under {PDT_EQUITY:,.0f}",
                rule=self.setting,
            )
