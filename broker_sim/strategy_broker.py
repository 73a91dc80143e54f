"""A strategy's view of the shared account: a `Broker` that tags the strategy's orders and passes all else on.

Several strategies may share one account; each gets its own `StrategyBroker` over the same adapter. Orders it
submits or replaces carry a client order id that starts with the strategy's name (unless the strategy gives its
own), so the runner can route each order event to the strategy that owns the order, and reports can tell who
traded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from types import CoroutineType
from typing import Any

import attrs

from broker_sim._members import _E_MARGIN_CALL, _SIDE_BUY, _SIDE_SELL
from broker_sim._mypyc import mypyc_attr
from broker_sim.activities import AccountEvent
from broker_sim.broker import Broker, PositionNotFound, ReplaceOrderRequest
from broker_sim.events import Listener
from broker_sim.models import (
    Account,
    EventType,
    Order,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
    market_order_request,
    order_request,
)
from broker_sim.strategy_book import StrategyBook

__all__ = ["OrderOwners", "StrategyBroker", "order_coroutine_kinds"]


# Python code may subclass it (a view naming its orders its own way: `_new_client_order_id`), compiled too.
@mypyc_attr(allow_interpreted_subclasses=True)
class StrategyBroker(Broker):
    """`inner` seen by the strategy `name`: the same account, with the strategy's orders tagged and tracked.

    Orders it submits or replaces without a client order id get ``<name>-<n>`` (a subclass's own, whichever way
    they are sent, when it overrides `_new_client_order_id`); ids the strategy chooses itself are remembered. `buy`
    and `sell` tag and track their orders as `submit_order` does (they build the request with its client order id
    and hand it to `inner` themselves). `book`, when the runner gives one, is the strategy's share of the account:
    orders sent through the view are in it as soon as the adapter answers, and `close_position` closes the
    strategy's own holding, not the other strategies' shares of the symbol.
    """

    def __init__(self, inner: Broker, name: str, book: StrategyBook | None = None) -> None:
        super().__init__(inner.clock)
        self.inner = inner
        self.name = name
        self.book = book
        #: The number of the client order id generated last (``<name>-<n>``), counted on as an int: compiled, a
        #: native add, where ``next()`` of an `itertools.count` is a builtin looked up and called each time.
        self._numbered_last = 0
        self._prefix = f"{name}-"
        #: Client order ids this strategy chose itself (the ones it lets us number are recognised by their form,
        #: so memory does not grow with the number of orders).
        self.given_client_order_ids: set[str] = set()
        #: The client order id generated last (`buy` and `sell` submit it at once: it needs no tagging).
        self._generated = ""
        #: Whether orders go to `inner` by its plain call (`Broker.submits_nowait`), with no coroutine of its own.
        self._nowait = inner.submits_nowait
        #: Whether the view numbers its orders itself (``<name>-<n>``): its class does not override
        #: `_new_client_order_id`. Asked once here, of the class (a subclass's method; not one assigned to an instance
        #: later): `_next_client_order_id` then numbers in line, and every way in honours an override alike.
        self._numbers_itself = type(self)._new_client_order_id is StrategyBroker._new_client_order_id

    def _new_client_order_id(self) -> str:
        """The next ``<name>-<n>``: the client order id of an order that names none. A subclass may override it;
        every way an order is sent then asks it (`_next_client_order_id`). Its two lines are written out in
        `_next_client_order_id`, `buy` and `sell` (a call less on every order): change them together."""
        self._numbered_last += 1
        client_order_id = self._generated = f"{self._prefix}{self._numbered_last}"
        return client_order_id

    def _next_client_order_id(self) -> str:
        """The client order id for an order that names none, whichever way it is sent: `_new_client_order_id`'s,
        remembered as the one generated last; one not of the ``<name>-<n>`` form (an override's) is remembered as
        the view's too, so the view still owns its order."""
        if self._numbers_itself:  # `_new_client_order_id`, in line
            self._numbered_last += 1
            client_order_id = self._generated = f"{self._prefix}{self._numbered_last}"
            return client_order_id
        client_order_id = self._generated = self._new_client_order_id()
        if not self._numbered(client_order_id):
            self.given_client_order_ids.add(client_order_id)
        return client_order_id

    def continue_numbering(self, orders: Iterable[Order]) -> None:
        """Number this view's next orders after the highest ``<name>-<n>`` among `orders` (an account resumed
        from a journal), so a restarted strategy never reuses a client order id its account still holds."""
        prefix = self._prefix
        highest = 0
        for order in orders:
            client_order_id = order.client_order_id
            if self._numbered(client_order_id):
                highest = max(highest, int(client_order_id[len(prefix) :]))
        if highest:
            self._numbered_last = highest

    def _numbered(self, client_order_id: str) -> bool:
        """Whether the id is one this view generated: ``<name>-<n>``."""
        prefix = self._prefix
        return client_order_id.startswith(prefix) and client_order_id[len(prefix) :].isdigit()

    def owns(self, order: Order) -> bool:
        """Whether `order` was submitted or replaced through this view."""
        client_order_id = order.client_order_id
        return self._numbered(client_order_id) or client_order_id in self.given_client_order_ids

    def _tag(self, client_order_id: str | None) -> str:
        if client_order_id is None:
            return self._next_client_order_id()
        if not self._numbered(client_order_id):
            self.given_client_order_ids.add(client_order_id)
        return client_order_id

    async def submit_order(self, request: OrderRequest) -> Order:
        if isinstance(request, OrderRequest) and request.client_order_id is not self._generated:
            client_order_id = self._tag(request.client_order_id)
            if client_order_id is not request.client_order_id:
                request = attrs.evolve(request, client_order_id=client_order_id)
        inner = self.inner
        order = inner.submit_order_nowait(request) if self._nowait else await inner.submit_order(request)
        book = self.book
        if book is not None and order is not book.last_booked:
            book.track(order)
        return order

    # `symbol` and `quantity` as Any: this module may be compiled (mypyc checks and converts what its annotations
    # name), and a wrong one must reach `OrderRequest` as given, to be refused there with its usual error.
    async def buy(self, symbol: Any, quantity: Any, **fields: Any) -> Order:
        """Submit a buy; `fields` are `OrderRequest` fields (type, limit_price, time_in_force, ...).

        `Broker.buy` followed by this view's `submit_order`, in one coroutine: a strategy's every order comes
        this way."""
        if fields:
            request = self._request(symbol, _SIDE_BUY, quantity, fields)
        else:  # the usual call, ``buy(symbol, quantity)``: a market day order (`_request`, in line)
            if self._numbers_itself:  # `_next_client_order_id`, in line (a call less on a strategy's every order)
                self._numbered_last += 1
                client_order_id = self._generated = f"{self._prefix}{self._numbered_last}"
            else:
                client_order_id = self._next_client_order_id()
            request = market_order_request(symbol, _SIDE_BUY, quantity, client_order_id)
        order = self.inner.submit_order_nowait(request) if self._nowait else await self.inner.submit_order(request)
        book = self.book
        if book is not None and order is not book.last_booked:  # (booked by its own event: `track` would not change it)
            book.track(order)
        return order

    async def sell(self, symbol: Any, quantity: Any, **fields: Any) -> Order:
        """Submit a sell; `fields` are `OrderRequest` fields (type, limit_price, time_in_force, ...).

        As `buy`."""
        if fields:
            request = self._request(symbol, _SIDE_SELL, quantity, fields)
        else:
            if self._numbers_itself:
                self._numbered_last += 1
                client_order_id = self._generated = f"{self._prefix}{self._numbered_last}"
            else:
                client_order_id = self._next_client_order_id()
            request = market_order_request(symbol, _SIDE_SELL, quantity, client_order_id)
        order = self.inner.submit_order_nowait(request) if self._nowait else await self.inner.submit_order(request)
        book = self.book
        if book is not None and order is not book.last_booked:
            book.track(order)
        return order

    def _request(self, symbol: Any, side: Side, quantity: Any, fields: dict[str, Any]) -> OrderRequest:
        """The request `buy` or `sell` submits with `fields` (they build a plain market order themselves), tagged:
        a new ``<name>-<n>`` when `fields` give no client order id (numbered before the request is built, as
        `Broker.buy` numbers it), else the given one, remembered."""
        client_order_id = fields.pop("client_order_id", None)
        if client_order_id is None:
            numbered = self._next_client_order_id()
            return order_request(symbol, side, quantity, client_order_id=numbered, **fields)
        request = order_request(symbol, side, quantity, client_order_id=client_order_id, **fields)
        self._tag(request.client_order_id)
        return request

    async def cancel_order(self, order_id: str) -> Order:
        return await self.inner.cancel_order(order_id)

    async def replace(self, order_id: str, changes: ReplaceOrderRequest) -> Order:
        tagged = attrs.evolve(changes, client_order_id=self._tag(changes.client_order_id))
        order = await self.inner.replace(order_id, tagged)
        if self.book is not None:
            self.book.track(order)
        return order

    async def close_position(self, symbol: str) -> Order:
        """Flatten this strategy's holding in `symbol` with a market order (the account's whole position when the
        view has no book). Raises `PositionNotFound` when the strategy holds nothing there."""
        if self.book is None:
            return await super().close_position(symbol)
        held = self.book.position(symbol)
        if held.is_flat:
            raise PositionNotFound(f"strategy {self.name} holds no position in {symbol!r}")
        side = Side.SELL if held.quantity > 0 else Side.BUY
        account_position = await self.inner.get_position(symbol)
        reference = account_position.market_price if account_position is not None else None
        return await self.submit_order(OrderRequest(symbol, side, abs(held.quantity), reference_price=reference))

    async def get_order(self, order_id: str) -> Order:
        return await self.inner.get_order(order_id)

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        return await self.inner.get_order_by_client_id(client_order_id)

    async def list_orders(self, status: str = "open", symbols: Iterable[str] | None = None) -> list[Order]:
        return await self.inner.list_orders(status, symbols)

    async def get_position(self, symbol: str) -> Position | None:
        return await self.inner.get_position(symbol)

    async def get_positions(self) -> list[Position]:
        return await self.inner.get_positions()

    async def get_account(self) -> Account:
        return await self.inner.get_account()

    def events(self) -> AsyncIterator[OrderEvent]:
        return self.inner.events()

    def add_listener(self, callback: Listener) -> Any:
        return self.inner.add_listener(callback)

    def account_events(self) -> AsyncIterator[AccountEvent]:
        return self.inner.account_events()

    def add_account_listener(self, callback: Callable[[AccountEvent], Any]) -> Callable[[], None]:
        return self.inner.add_account_listener(callback)

    async def wait_for(self, order_id: str, *statuses: str | OrderStatus, timeout: float | None = None) -> Order:
        return await self.inner.wait_for(order_id, *statuses, timeout=timeout)

    async def connect(self) -> None:
        """The runner connects the shared adapter; a strategy's view has nothing of its own to open."""

    async def close(self) -> None:
        """The runner closes the shared adapter; a strategy's view has nothing of its own to close."""


def order_coroutine_kinds(view: StrategyBroker) -> tuple[object, ...]:
    """What tells the coroutines of a view's `buy`, `sell` and `submit_order` from any other, for a run to submit
    them in place (`broker_sim.run.dispatch`): their code objects in pure Python; compiled, their classes (mypyc
    makes a class for each coroutine function, and its coroutines have no code object). Learnt by making one of
    each and closing it unstarted: nothing is submitted, nothing numbered."""
    kinds: list[object] = []
    for coroutine in (
        view.buy("PROBE", 1),
        view.sell("PROBE", 1),
        view.submit_order(OrderRequest("PROBE", _SIDE_BUY, 1)),
    ):
        kinds.append(coroutine.cr_code if isinstance(coroutine, CoroutineType) else type(coroutine))
        coroutine.close()
    return tuple(kinds)


class OrderOwners:
    """Which strategy an order belongs to, for the report and for delivering its events: the strategy whose view
    submitted or replaced it; a bracket's, oto's or oco's legs belong to their parent's strategy; a margin call's
    liquidation of a symbol belongs to the strategies that held it, each for its share (`holders`). Other orders
    no strategy sent (a bot's, beside a served strategy) belong to none: ``""``."""

    def __init__(self, views: Iterable[StrategyBroker] = ()) -> None:
        self.views = list(views)
        #: Owners known already, by order id (an account's journal remembers them across sessions).
        self.known: dict[str, str] = {}
        #: Owners of orders with legs, by order id: a leg's client order id is the venue's, not the strategy's.
        self._parents: dict[str, str] = {}
        #: A margin call's liquidation orders: the strategies that held the symbol and their shares of it.
        self._liquidations: dict[str, tuple[tuple[str, float], ...]] = {}
        #: The holders of a strategy's own order, ``((name, 1.0),)``, by name: one tuple for all its orders.
        self._alone: dict[str, tuple[tuple[str, float], ...]] = {}
        #: The last order asked about and its owner: its fill and its final status are asked in a row.
        self._last: tuple[str, str] = ("", "")
        #: The last order whose events concern a strategy, and its holders (they never change once found): the
        #: run reads it first, and asks `holders` only for another order.
        self.last_holders: tuple[str, tuple[tuple[str, float], ...]] = ("", ())

    def __call__(self, order: Order) -> str:
        """The strategy the order is attributed to (for a liquidation several strategies share: the largest
        holder); ``""`` for none."""
        last_id, last_owner = self._last
        order_id = order.id
        if order_id == last_id:
            return last_owner
        owner = self._owner(order, order_id)
        self._last = (order_id, owner)
        return owner

    def holders(self, event: OrderEvent) -> tuple[tuple[str, float], ...]:
        """The strategies an event concerns and each one's share of the order: ``(("sma", 1.0),)`` for a
        strategy's own order, the holders of the symbol for a margin call's liquidation (their shares of the
        position it closes, largest first), ``()`` for an order of no strategy."""
        return self.holders_of(event.order, event.type)

    def holders_of(self, order: Order, kind: EventType) -> tuple[tuple[str, float], ...]:
        """`holders` of an event of `kind` about `order`, without the event (the run asks so of an event's order and
        fill no one else reads: `RunStrategies.event_taker`)."""
        order_id = order.id
        last_id, last_holders = self.last_holders
        if order_id == last_id:
            return last_holders
        liquidations = self._liquidations
        if liquidations:  # (a dict's truth costs less than the lookup that would miss on every order)
            shares = liquidations.get(order_id)
            if shares is not None:
                self.last_holders = (order_id, shares)
                return shares
        last_id, owner = self._last  # `self(order)`, inline
        if order_id != last_id:
            owner = self._owner(order, order_id)
            self._last = (order_id, owner)
        if owner:
            holders = self._alone.get(owner)
            if holders is None:
                holders = self._alone[owner] = ((owner, 1.0),)
            self.last_holders = (order_id, holders)
            return holders
        if kind is _E_MARGIN_CALL:
            shares = self._liquidation_shares(order)
            if shares:
                self._liquidations[order_id] = shares
                self._last = (order_id, shares[0][0])
            return shares
        return ()

    def _liquidation_shares(self, order: Order) -> tuple[tuple[str, float], ...]:
        """Each strategy's share of the position a liquidation closes: the holders on the side it closes."""
        closing_long = order.side is _SIDE_SELL
        held = []
        for view in self.views:
            book = view.book
            if book is None:
                continue
            quantity = book.position(order.symbol).quantity
            if (quantity > 0) if closing_long else (quantity < 0):
                held.append((view.name, abs(quantity)))
        total = sum(quantity for _, quantity in held)
        if total <= 0:
            return ()
        held.sort(key=lambda item: -item[1])
        return tuple((name, quantity / total) for name, quantity in held)

    def _owner(self, order: Order, order_id: str) -> str:
        """The owner of `order`, whose id its callers read already (`order_id`): its attributes are read once each."""
        known = self.known
        if known:  # (empty unless an account's journal remembered owners: no lookup that would miss)
            owner = known.get(order_id)
            if owner is not None:
                return owner
        client_order_id = order.client_order_id
        for view in self.views:
            # `view.owns(order)`, inline: asked once for each order; the id the view generated last (the usual
            # case: an order's events come as it is sent) is its own without parsing it.
            prefix = view._prefix
            if (
                (client_order_id is view._generated and client_order_id)
                or (client_order_id.startswith(prefix) and client_order_id[len(prefix) :].isdigit())
                or client_order_id in view.given_client_order_ids
            ):
                if order.legs:
                    self._parents[order_id] = view.name
                return view.name
        parent_id = order.parent_id
        if parent_id is not None:
            return self._parents.get(parent_id, "")
        shares = self._liquidations.get(order_id)
        return shares[0][0] if shares else ""
