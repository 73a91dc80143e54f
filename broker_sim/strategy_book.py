"""A strategy's share of a shared account: its positions, its open orders and its recent fills.

The runner keeps one `StrategyBook` per strategy from the order events of the orders the strategy caused (its
own, its brackets' legs, its replacements, its share of a margin call's liquidations), at the moment each event
is emitted, so a handler that just sent an order already sees it in `open_orders`. Positions follow the ledger's
one rule for average price and realized P&L (`ledger.holding_after`). After a restart the runner rebuilds the
book from the account's orders (`restore`), so a resumed strategy knows what it holds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import attrs

from broker_sim._members import _FINAL_VALUES, _S_NEW, _S_PENDING_NEW, _SIDE_BUY
from broker_sim._numeric import QTY_EPSILON, qty_is_zero
from broker_sim.holdings import Holding, holding_after
from broker_sim.models import FINAL_STATUSES, Fill, Order, OrderEvent, install_fast_init

__all__ = ["FILLS_KEPT", "StrategyBook", "StrategyPosition"]

#: How many of its latest fills a strategy's book keeps in memory (the run records all of them on disk).
FILLS_KEPT = 1_000
#: How many ended order ids a book remembers, so a late snapshot of an ended order never reopens it.
_ENDED_KEPT: Final = 1_000


@attrs.frozen(slots=True)
class StrategyPosition:
    """A strategy's holding in one symbol: signed `quantity` (0 when flat), `avg_price` (fees not included) and
    the P&L its fills realized, gross of fees (`fees` apart), as the ledger counts them for the account."""

    symbol: str
    quantity: float = 0.0
    avg_price: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0

    @property
    def is_flat(self) -> bool:
        """True when the strategy holds nothing in the symbol."""
        return qty_is_zero(self.quantity)


# Built when a strategy reads a holding that changed since its last read: attrs' frozen ``__init__`` costs ~1k
# instructions a field.
install_fast_init(StrategyPosition)


class StrategyBook:
    """One strategy's positions, open orders and latest fills, kept by the runner from its orders' events.

    A liquidation shared by several strategies is booked with each one's `share` (fill quantity and fee scaled).
    Read it through the `Strategy` properties; only the runner changes it.
    """

    def __init__(self, name: str, *, fills_kept: int = FILLS_KEPT) -> None:
        self.name = name
        #: What the strategy holds, by symbol (flat ones too, once traded).
        self._held: dict[str, Holding] = {}
        #: The positions built from `_held` since each symbol's last fill (`position` builds them on demand).
        self._positions: dict[str, StrategyPosition] = {}
        self._open: dict[str, Order] = {}
        self._ended: deque[str] = deque(maxlen=_ENDED_KEPT)
        self._ended_ids: set[str] = set()
        self._fills: deque[Fill] = deque(maxlen=fills_kept)
        #: The order snapshot `apply` booked last (or the run's `RunStrategies.on_order_event`, which books an
        #: order's pending_new and new in line): `track` of it would change nothing (a strategy's view, which
        #: tracks each order its adapter answers with, skips the call when the order's own event came first).
        self.last_booked: Order | None = None

    # -- reading --------------------------------------------------------------------------------------------

    def position(self, symbol: str) -> StrategyPosition:
        """The strategy's holding in `symbol` (a flat one when it holds nothing)."""
        position = self._positions.get(symbol)
        if position is None:
            held = self._held.get(symbol)
            if held is None:
                return StrategyPosition(symbol)
            position = self._positions[symbol] = StrategyPosition(
                symbol, held.quantity, held.avg_price, held.realized_pnl, held.fees
            )
        return position

    def quantity(self, symbol: str) -> float:
        """The signed quantity the strategy holds in `symbol` (0.0 when none): ``position(symbol).quantity``
        without building the position."""
        held = self._held.get(symbol)
        return 0.0 if held is None else held.quantity

    @property
    def positions(self) -> Mapping[str, StrategyPosition]:
        """The symbols the strategy holds (flat ones left out), by symbol."""
        return {symbol: self.position(symbol) for symbol, held in self._held.items() if not qty_is_zero(held.quantity)}

    @property
    def open_orders(self) -> list[Order]:
        """The strategy's orders that may still fill (on their way, working, or a bracket's held exits), oldest
        first, as their latest events left them."""
        return list(self._open.values())

    @property
    def fills(self) -> Sequence[Fill]:
        """The strategy's latest fills (at most `FILLS_KEPT`), oldest first."""
        return tuple(self._fills)

    def pending_quantity(self, symbol: str) -> float:
        """The signed quantity the strategy's open orders in `symbol` have still to fill: buys positive, sells
        negative. Exits of brackets and oto/oco orders (legs) are left out: they only close what their entry
        bought. ``position(symbol).quantity + pending_quantity(symbol)`` is where the strategy is heading."""
        total = 0.0
        for order in self._open.values():
            if order.symbol == symbol and order.parent_id is None:
                remaining = order.quantity - order.filled_quantity  # (`Order.remaining_quantity`)
                total += remaining if order.side is _SIDE_BUY else -remaining
        return total

    def still_to_order(self, symbol: str, quantity: float) -> float:
        """What an order must buy (positive) or sell (negative) for the strategy to hold `quantity` in `symbol` once
        its open orders have filled: ``quantity - self.quantity(symbol) - self.pending_quantity(symbol)``, in one
        call (`Strategy.order_target` asks it for every order it may send)."""
        held = self._held.get(symbol)
        pending = 0.0
        for order in self._open.values():  # `pending_quantity(symbol)`, in line
            if order.symbol == symbol and order.parent_id is None:
                remaining = order.quantity - order.filled_quantity  # (`Order.remaining_quantity`)
                pending += remaining if order.side is _SIDE_BUY else -remaining
        return quantity - (0.0 if held is None else held.quantity) - pending

    # -- keeping ----------------------------------------------------------------------------------------------

    def apply(self, event: OrderEvent, share: float = 1.0) -> None:
        """Book one event of an order the strategy caused: the order's latest snapshot, and its fill (scaled by
        `share` for a liquidation several strategies share)."""
        self.take(event.order, event.fill, share)

    def take(self, order: Order, fill: Fill | None, share: float = 1.0) -> None:
        """`apply` for an event's `order` and `fill` (the run books them so, without the event)."""
        self.last_booked = order
        order_id = order.id
        status = order.status
        # `status in FINAL_STATUSES`: a market order's pending_new and new by identity, a value's cached hash for
        # the rest
        if status is not _S_NEW and status is not _S_PENDING_NEW and status._value_ in _FINAL_VALUES:
            self._open.pop(order_id, None)
            ended_ids = self._ended_ids
            if order_id not in ended_ids:  # `_end(order_id)`, inline: once for each order
                ended = self._ended
                if len(ended) == _ENDED_KEPT:
                    ended_ids.discard(ended[0])
                ended.append(order_id)
                ended_ids.add(order_id)
        elif order_id not in self._ended_ids:
            # (`RunStrategies._keep` writes this branch out for an event without a fill that leaves the order open:
            # change both together)
            self._open[order_id] = order
        if fill is not None:
            if share != 1.0:
                fill = attrs.evolve(fill, quantity=fill.quantity * share, fee=fill.fee * share)
            # the holding after the fill, by the ledger's one rule (`holding_after`); its position is built again
            # when read (`position`)
            symbol = fill.symbol
            held = self._held.get(symbol)
            if held is None:
                held = self._held[symbol] = Holding()
            quantity, avg_price, pnl = holding_after(held.quantity, held.avg_price, fill)
            if -QTY_EPSILON < quantity < QTY_EPSILON:  # `qty_is_zero`, inline
                quantity, avg_price = 0.0, 0.0
            held.quantity = quantity
            held.avg_price = avg_price
            held.realized_pnl += pnl
            held.fees += fill.fee
            if self._positions:
                self._positions.pop(symbol, None)  # (built before this fill: `position` builds it again)
            self._fills.append(fill)

    def track(self, order: Order) -> None:
        """Keep `order`'s snapshot among the open orders while it is open; forget it once it ended. A snapshot
        of an order that already ended (a late answer of a live adapter) never reopens it."""
        order_id = order.id
        if order.status in FINAL_STATUSES:
            self._open.pop(order_id, None)
            if order_id not in self._ended_ids:  # (a strategy's order that ended at once did so already)
                self._end(order_id)
        elif order_id not in self._ended_ids:
            self._open[order_id] = order

    def _end(self, order_id: str) -> None:
        """Remember (for a while) that the order ended: it is not among the remembered ones yet."""
        ended_ids = self._ended_ids
        ended = self._ended
        if len(ended) == _ENDED_KEPT:
            ended_ids.discard(ended[0])
        ended.append(order_id)
        ended_ids.add(order_id)

    def restore(self, orders: Iterable[Order], fills: Iterable[Fill] = ()) -> None:
        """Rebuild the book after a restart from the strategy's orders as the account holds them: each order's
        filled quantity at its average price, in the order the orders were last updated, and the open ones as
        open orders. `fills` (the strategy's, where the adapter keeps them) become the latest fills.

        Each order is booked as `take` books an event of it, with one fill of its filled quantity (if any)."""
        self._held.clear()
        self._positions.clear()
        self._open.clear()
        for order in sorted(orders, key=lambda o: (o.updated_at or o.created_at, o.created_at)):
            fill = None
            if order.filled_quantity > 0 and order.filled_avg_price is not None:
                fill = Fill(
                    order.id,
                    order.symbol,
                    order.side,
                    order.filled_quantity,
                    order.filled_avg_price,
                    0.0,
                    order.updated_at or order.created_at,
                    order.filled_avg_price,
                )
            self.take(order, fill)
        self.last_booked = None
        self._fills.clear()
        self._fills.extend(fills)
