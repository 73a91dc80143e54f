"""Round trips and who made them: `TradeTally` matches fills into closed trades and keeps a `Breakdown` of the
run per strategy and per symbol.

The rules, exactly:

* A **round trip** (`ClosedTrade`) is a quantity opened by one fill and closed by a later one of the **same
  strategy and symbol**, matched first in first out; a fill through zero closes the old side and opens the new
  one. So one strategy's buy is never closed by another strategy's sell, even on a shared account.
* A round trip's `pnl` is gross (quantity x price difference); its `fees` are the matched share of the entry and
  exit fills' fees; its `net_pnl` is pnl - fees. A **win** is a round trip with net_pnl > 0, a loss one with
  net_pnl < 0 (fees decide: a +0.50 trade with 2.00 of fees is a loss).
* A group's (strategy's, symbol's) **pnl** is net and marked to market: the cash its fills paid and received,
  plus what it still holds at the last price, minus its fees. **realized_pnl** is the gross P&L of its round
  trips; **unrealized_pnl** = pnl + fees - realized_pnl (the open lots against the last price). The strategies'
  pnl add up to the account's (final equity - initial balance), and so do the symbols'.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from broker_sim._members import _SIDE_BUY
from broker_sim._numeric import QTY_EPSILON
from broker_sim.models import Fill

__all__ = ["Breakdown", "ClosedTrade", "TradeTally", "closed_trades", "trade_statistics"]


@attrs.frozen(slots=True)
class ClosedTrade:
    """One round trip of `strategy`: `quantity` opened at `entry_price` and closed at `exit_price`."""

    symbol: str
    side: str
    quantity: float
    entry_time: datetime
    exit_time: datetime
    entry_price: float
    exit_price: float
    #: Gross P&L (before fees).
    pnl: float
    fees: float
    strategy: str = ""

    @property
    def net_pnl(self) -> float:
        """P&L after the round trip's share of fees."""
        return self.pnl - self.fees

    @property
    def holding_seconds(self) -> float:
        """How long the quantity was held, in seconds."""
        return (self.exit_time - self.entry_time).total_seconds()


@attrs.frozen(slots=True)
class Breakdown:
    """One strategy's or one symbol's share of the run (see the module docstring for each figure)."""

    fills: int
    round_trips: int
    pnl: float
    realized_pnl: float
    unrealized_pnl: float
    fees: float
    #: The quantity still held at the end, per symbol (signed; flat symbols left out).
    open_quantity: dict[str, float]
    #: Sum of |quantity x price| over the fills.
    traded_value: float
    win_rate: float
    profit_factor: float
    average_win: float
    average_loss: float
    expectancy: float
    average_holding_hours: float


#: A group's running totals (`_Group.merge` adds them up).
_TOTALS = ("cash", "count", "fees", "fills", "gains", "holding", "losing", "losses", "realized", "traded", "wins")


class _Group:
    """Running totals of one strategy or one symbol."""

    __slots__ = (*_TOTALS, "held", "lots", "quantity")

    def __init__(self) -> None:
        self.fills = self.count = self.wins = self.losing = 0
        self.cash = self.fees = self.gains = self.losses = self.realized = self.holding = self.traded = 0.0
        #: What a merged group (a strategy's, a symbol's) holds, by symbol: the `quantity` of each (strategy, symbol)
        #: group merged into it (`TradeTally._merged`).
        self.held: dict[str, float] = {}
        #: What a (strategy, symbol) group holds of its symbol (signed): its fills' quantities summed in order.
        self.quantity = 0.0
        #: The group's open lots waiting to be matched, oldest first, each a list (no class: one is made for most
        #: fills): signed quantity, price, time, fee per unit.
        self.lots: deque[list[Any]] = deque()

    def add_round_trip(self, net: float, holding_seconds: float) -> None:
        """Count one round trip of net P&L `net`, held `holding_seconds` (not its gross P&L: the account's totals
        keep none; a group's are counted in line, `TradeTally.add_as`)."""
        self.count += 1
        self.holding += holding_seconds
        if net > 0:
            self.wins += 1
            self.gains += net
        elif net < 0:
            self.losing += 1
            self.losses -= net

    def merge(self, other: _Group) -> None:
        """Add `other`'s totals to this group's (a strategy's from its symbols', a symbol's from its strategies'); what
        `other` holds is added by `TradeTally._merged`, which knows its symbol."""
        for name in _TOTALS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def breakdown(self, marks: Mapping[str, float]) -> Breakdown:
        open_quantity = {s: q for s, q in sorted(self.held.items()) if abs(q) > QTY_EPSILON}
        pnl = self.cash + sum(q * marks.get(s, math.nan) for s, q in open_quantity.items()) - self.fees
        return Breakdown(
            fills=self.fills,
            round_trips=self.count,
            pnl=pnl,
            realized_pnl=self.realized,
            # flat: nothing is unrealized (not the float residue of cash - realized)
            unrealized_pnl=pnl + self.fees - self.realized if open_quantity else 0.0,
            fees=self.fees,
            open_quantity=open_quantity,
            traded_value=self.traded,
            **trade_statistics(self.count, self.wins, self.losing, self.gains, self.losses, self.holding),
        )


def trade_statistics(
    count: int, wins: int, losing: int, gains: float, losses: float, holding_seconds: float
) -> dict[str, float]:
    """Win rate, profit factor, average win and loss (<= 0), expectancy and average holding time of `count` round
    trips with `wins` winners and `losing` losers, net `gains` and net `losses` (>= 0). NaN where there is nothing
    to average; the profit factor is inf with gains and no loss."""
    nan = math.nan
    return {
        "win_rate": wins / count if count else nan,
        "profit_factor": nan if not count else (gains / losses if losses > 0 else (math.inf if gains > 0 else nan)),
        "average_win": gains / wins if wins else nan,
        "average_loss": -losses / losing if losing else nan,
        "expectancy": (gains - losses) / count if count else nan,
        "average_holding_hours": holding_seconds / count / 3600 if count else nan,
    }


class TradeTally:
    """Fill-by-fill accounting of round trips (FIFO per strategy and symbol), fees, slippage and the per-strategy
    and per-symbol breakdowns, in memory that does not grow with the number of fills: only open lots, the
    counters and the first `keep` closed trades are kept."""

    def __init__(self, keep: int | None = None) -> None:
        self.keep = keep
        #: Round trips still to keep (-1: all of them).
        self._room = -1 if keep is None else keep
        #: The kept round trips' fields, made `ClosedTrade`s when `trades` is read (most runs never read them).
        self._kept: list[tuple[str, str, float, datetime, datetime, float, float, float, float, str]] = []
        self._trades: list[ClosedTrade] = []
        #: The account's totals once there are two groups or more (with one, they are its): only the fills, fees,
        #: count, wins, losing, gains, losses and holding kept here are read; its other fields are not kept.
        self._totals = _Group()
        self.slippage = 0.0
        #: Running totals and open lots per (strategy, symbol): merged into per-strategy and per-symbol totals when
        #: asked.
        self._groups: dict[tuple[str, str], _Group] = {}
        #: The only group while there is one (its totals are the account's: the same sums of the same fills, in the
        #: same order), else None: a single-strategy run on one symbol counts each fill once, not twice.
        self._solo: _Group | None = None
        #: The group of the last fill, its strategy and symbol: a run's fills mostly come from one in a row.
        self._last: tuple[str, str, _Group | None] = ("", "", None)
        #: The last fill price per symbol: the mark of last resort.
        self.last_price: dict[str, float] = {}

    @property
    def fills(self) -> int:
        """Fills counted."""
        return (self._solo or self._totals).fills

    @property
    def count(self) -> int:
        """Round trips closed."""
        return (self._solo or self._totals).count

    @property
    def wins(self) -> int:
        """Round trips with net P&L > 0."""
        return (self._solo or self._totals).wins

    @property
    def losing(self) -> int:
        """Round trips with net P&L < 0."""
        return (self._solo or self._totals).losing

    @property
    def fees(self) -> float:
        """The fills' fees."""
        return (self._solo or self._totals).fees

    @property
    def gains(self) -> float:
        """The winning round trips' net P&L."""
        return (self._solo or self._totals).gains

    @property
    def losses(self) -> float:
        """The losing round trips' net P&L, as an amount >= 0."""
        return (self._solo or self._totals).losses

    @property
    def holding(self) -> float:
        """The round trips' holding times summed, in seconds."""
        return (self._solo or self._totals).holding

    @property
    def trades(self) -> list[ClosedTrade]:
        """The first `keep` round trips (all of them without `keep`), in the order they closed."""
        trades, kept = self._trades, self._kept
        if len(trades) < len(kept):
            trades.extend(ClosedTrade(*fields) for fields in kept[len(trades) :])
        return trades

    def add(self, fill: Fill) -> None:
        """Account one fill: match it against its strategy's open lots in the symbol, open a lot with the rest."""
        self.add_as(fill, fill.strategy, fill.quantity, fill.fee)

    def add_as(self, fill: Fill, strategy: str, quantity: float, fee: float) -> None:
        """`add` for `fill` as `strategy`'s, for `quantity` and `fee` (a strategy's share of a fill several share):
        the same as adding ``attrs.evolve(fill, strategy=strategy, quantity=quantity, fee=fee)``.

        Every fill of a run comes here: the group's totals, and each round trip it closes, are counted in line; the
        account's are that group's while it is the only one (`_solo`)."""
        price = fill.price
        slipped = price - fill.reference_price
        self.slippage += (slipped if slipped >= 0.0 else -slipped) * quantity  # `abs`, in line: calls cost
        symbol = fill.symbol
        self.last_price[symbol] = price
        last_strategy, last_symbol, group = self._last
        if group is None or strategy is not last_strategy or symbol is not last_symbol:
            group = self._group(strategy, symbol)
        # the account's totals, kept apart only once there are several groups (`_solo`)
        totals = None if group is self._solo else self._totals
        if totals is not None:
            totals.fills += 1
            totals.fees += fee
        buying = fill.side is _SIDE_BUY
        # the group's totals (`_Group.add_fill`, in line)
        group.fills += 1
        group.fees += fee
        value = quantity * price
        group.traded += value
        signed = quantity if buying else -quantity
        group.cash -= value if signed > 0 else -value
        group.quantity += signed
        remaining = quantity
        fee_per_unit = fee / quantity if quantity else 0.0
        queue = group.lots
        while remaining > QTY_EPSILON and queue and (queue[0][0] > 0) != buying:
            lot = queue[0]
            lot_quantity, lot_price, lot_time, lot_fee_per_unit = lot
            long = lot_quantity > 0
            open_size = lot_quantity if long else -lot_quantity  # `abs`, and `min` below, in line: calls cost
            size = open_size if open_size < remaining else remaining
            pnl = size * (price - lot_price) * (1.0 if long else -1.0)
            fees = size * (lot_fee_per_unit + fee_per_unit)
            holding = (fill.timestamp - lot_time).total_seconds()
            # one round trip: its gross `pnl`, its `fees`, how long it was held; the group's (in line: calls cost), and
            # the account's once there are several groups
            net = pnl - fees
            group.count += 1
            group.realized += pnl
            group.holding += holding
            if net > 0:
                group.wins += 1
                group.gains += net
            elif net < 0:
                group.losing += 1
                group.losses -= net
            if totals is not None:
                totals.add_round_trip(net, holding)
            room = self._room
            if room:
                side = "long" if long else "short"
                self._kept.append((symbol, side, size, lot_time, fill.timestamp, lot_price, price, pnl, fees, strategy))
                if room > 0:
                    self._room = room - 1
            remaining -= size
            left = open_size - size
            if left <= QTY_EPSILON:
                queue.popleft()
            else:
                lot[0] = left if long else -left
        if remaining > QTY_EPSILON:
            queue.append([remaining if buying else -remaining, price, fill.timestamp, fee_per_unit])

    def _group(self, strategy: str, symbol: str) -> _Group:
        """The group of `strategy` in `symbol`, made when new (the second one ends `_solo`: the account's totals are
        then kept apart, starting from the first group's), remembered as the last one."""
        key = (strategy, symbol)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
            solo = self._solo
            if solo is not None:
                self._totals.merge(solo)  # its totals are the account's so far (held and lots not needed)
                self._solo = None
            elif len(self._groups) == 1:
                self._solo = group
        self._last = (strategy, symbol, group)
        return group

    def statistics(self) -> dict[str, float]:
        """The account's round-trip statistics (`trade_statistics` over every round trip)."""
        return trade_statistics(self.count, self.wins, self.losing, self.gains, self.losses, self.holding)

    def marks(self, prices: Mapping[str, float] | None = None) -> dict[str, float]:
        """The prices open quantities are valued at: `prices` (the broker's last market prices) where given, else
        the symbol's last fill price."""
        marks = dict(self.last_price)
        if prices:
            marks.update(prices)
        return marks

    def by_strategy(self, prices: Mapping[str, float] | None = None) -> dict[str, Breakdown]:
        """Each strategy's `Breakdown`, open quantities valued at `marks(prices)`."""
        return self._merged(0, prices)

    def by_symbol(self, prices: Mapping[str, float] | None = None) -> dict[str, Breakdown]:
        """Each symbol's `Breakdown`, open quantities valued at `marks(prices)`."""
        return self._merged(1, prices)

    def _merged(self, part: int, prices: Mapping[str, float] | None) -> dict[str, Breakdown]:
        """The (strategy, symbol) groups merged by strategy (`part` 0) or by symbol (1), as `Breakdown`s."""
        merged: dict[str, _Group] = {}
        for key, group in self._groups.items():
            total = merged.get(key[part])
            if total is None:
                total = merged[key[part]] = _Group()
            total.merge(group)
            symbol = key[1]
            total.held[symbol] = total.held.get(symbol, 0.0) + group.quantity
        marks = self.marks(prices)
        return {name: total.breakdown(marks) for name, total in sorted(merged.items())}


def closed_trades(fills: Iterable[Fill]) -> list[ClosedTrade]:
    """Round trips from `fills`, matched first in first out per strategy and symbol."""
    tally = TradeTally()
    for fill in fills:
        tally.add(fill)
    return tally.trades
