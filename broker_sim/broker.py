"""The `Broker` interface every adapter implements, paper and live alike, and the errors it raises.

Strategy code is written against `Broker` only, so the same code runs on `PaperBroker` and on a live adapter.
All methods that talk to the venue are async. Events, listeners and `wait_for` are implemented here once, on
top of the `_publish` calls each adapter makes.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from datetime import tzinfo
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import attrs

from broker_sim._members import (
    _S_CANCELED,
    _S_PENDING_CANCEL,
    _SIDE_BUY,
    _SIDE_SELL,
)
from broker_sim.activities import AccountEvent
from broker_sim.clock import Clock
from broker_sim.errors import (
    BrokerError,
    ConfigError,
    DuplicateClientOrderId,
    InvalidMarketData,
    InvalidOrder,
    InvalidRequest,
    InvalidTransition,
    JournalError,
    ModelError,
    OrderNotCancelable,
    OrderNotFound,
    OrderNotReplaceable,
    OrderTimeout,
    PluginError,
    PositionNotFound,
)
from broker_sim.events import EventHub, Listener
from broker_sim.models import (
    Account,
    EventType,
    Fill,
    MarketData,
    Order,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Position,
    TimeInForce,
    market_order_request,
    order_request,
)

__all__ = [
    "AccountJournal",
    "BarStoreInLine",
    "Broker",
    "BrokerError",
    "ConfigError",
    "DuplicateClientOrderId",
    "EventTaker",
    "InvalidMarketData",
    "InvalidOrder",
    "InvalidRequest",
    "InvalidTransition",
    "JournalError",
    "Journaled",
    "KeepsFills",
    "KnowsPrices",
    "MarketDataConsumer",
    "ModelError",
    "NamesSymbol",
    "NamesSymbols",
    "OrderNotCancelable",
    "OrderNotFound",
    "OrderNotReplaceable",
    "OrderTimeout",
    "PluginError",
    "PositionNotFound",
    "ReplaceOrderRequest",
    "Resumable",
    "ZonedSession",
]

_LIST_STATUSES = ("open", "closed", "all")
#: The statuses an order never leaves, as `wait_for` takes them.
_FINAL = ("filled", "canceled", "expired", "rejected", "replaced")
#: What a cancel leaves an order as: canceled, or on its way to be.
_CANCELED = frozenset({_S_CANCELED, _S_PENDING_CANCEL})


#: Each status by its value: `wait_for` (often once per order) finds ``"filled"`` here without calling
#: ``OrderStatus("filled")`` (a Python-level `Enum.__new__`, several thousand instructions). A `StrEnum` member
#: hashes and compares as its value, so the members are the keys.
_STATUS_BY_VALUE: dict[object, OrderStatus] = {status: status for status in OrderStatus}


def _statuses(values: Iterable[str | OrderStatus]) -> frozenset[OrderStatus]:
    result = set()
    for value in values:
        status = _STATUS_BY_VALUE.get(value) if value.__class__ is str or value.__class__ is OrderStatus else None
        if status is None:
            try:
                status = OrderStatus(value)
            except ValueError:
                valid = ", ".join(s.value for s in OrderStatus)
                raise InvalidRequest(f"unknown order status {value!r}; valid: {valid}") from None
        result.add(status)
    return frozenset(result)


@attrs.frozen(slots=True)
class ReplaceOrderRequest:
    """The changes `Broker.replace_order` asks for, as one value (alpaca-py's ``ReplaceOrderRequest``): the new
    total `quantity`, prices, a trailing stop's `trail`, `time_in_force` and the new order's `client_order_id`;
    None leaves a field as it is. Not checked here: each adapter refuses what its venue refuses."""

    quantity: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce | str | None = None
    trail: float | None = None
    client_order_id: str | None = None


@runtime_checkable
class MarketDataConsumer(Protocol):
    """An adapter that is fed market data (the paper broker): the runner hands it every bar, quote and trade.

    A live adapter's venue has its own prices and does not implement this.
    """

    async def update_market(self, event: MarketData) -> None:
        """Take `event` as the latest market for its symbol (and act on it: working orders may fill)."""
        ...

    def update_market_nowait(self, event: MarketData) -> None:
        """`update_market` without an await, for the replay hot path."""
        ...


@runtime_checkable
class BarStoreInLine(Protocol):
    """What a market feed offers a replay (`broker_sim.run.loop.market_in_line`): the dicts its `update` keeps, so
    that the replay may store a bar itself while no order rests (the paper broker's `MarketFeed`)."""

    def bar_store_in_line(self, update: object) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The market dict (symbol -> latest market event) and the resting-order book (symbol -> order ids) when
        `update` is this feed's own update, whose work for a bar while the book is empty is the one store
        ``market[bar.symbol] = bar``; None when the replay must call `update` itself."""
        ...


class AccountJournal(Protocol):
    """What a run asks of a journaled adapter's journal (`broker_sim.journal.Journal`)."""

    def note_owner(self, order_id: str, strategy: str) -> None:
        """Remember that `strategy` sent `order_id`, for the account's reports."""
        ...

    def stored_account(self) -> Any:
        """The whole account as the journal holds it (a `broker_sim.journal.StoredAccount`)."""
        ...


@runtime_checkable
class Journaled(Protocol):
    """An adapter whose account may live in a journal (the paper broker): a run resumes its strategies from the
    account the journal holds and notes which strategy sent each order. `journal` is None without one, or
    before the adapter connects."""

    @property
    def journal(self) -> AccountJournal | None:
        """The open journal, or None."""
        ...


@runtime_checkable
class Resumable(Protocol):
    """An adapter that can say where a replay resuming its account goes on (the paper broker with a journal)."""

    def resume_point(self) -> tuple[float | None, dict[str, float]]:
        """The clock time of the account's last change (None: none) and, per symbol, the POSIX time of the
        latest market event the account had seen."""
        ...


@runtime_checkable
class KnowsPrices(Protocol):
    """An adapter that can tell the last market price of each symbol it was given (the paper broker): a run's
    report marks the positions at them."""

    def last_prices(self) -> dict[str, float]:
        """The last market price by symbol."""
        ...


@runtime_checkable
class KeepsFills(Protocol):
    """An adapter that keeps its account's fills in memory (the paper broker): a resumed run rebuilds each
    strategy's latest fills from them."""

    @property
    def fills(self) -> list[Fill]:
        """The fills in memory, in execution order."""
        ...


@runtime_checkable
class EventTaker(Protocol):
    """What owns a broker's sole order event listener, its `on_order_event` (a run's strategies), when it can keep
    an order event's order, fill and type without the event itself: `event_taker()` is what keeps them as
    `on_order_event` would keep the event, or None (the events are needed: they are delivered as usual). The paper
    broker asks it when the listener is added (no account offers parts before some listener's owner has a taker)
    and again whenever its sole listener changes (`EventFanout.offer`)."""

    def on_order_event(self, event: OrderEvent) -> None:
        """Keep one order event."""
        ...

    def event_taker(self) -> Callable[[Order, Fill | None, EventType], object] | None:
        """What keeps an order event's parts without the event, or None."""
        ...


@runtime_checkable
class NamesSymbol(Protocol):
    """A price source that says which one symbol it carries (the csv source): `broker-sim serve` lists it among the
    account's assets before any of its data arrives."""

    @property
    def symbol(self) -> str | None:
        """The symbol of every event the source yields (None: not known before reading)."""
        ...


@runtime_checkable
class NamesSymbols(Protocol):
    """A price source that says which symbols it carries (the synthetic source, a live feed): as `NamesSymbol`."""

    @property
    def symbols(self) -> Collection[str] | None:
        """The symbols of the events the source yields (None: not known before reading)."""
        ...


@runtime_checkable
class ZonedSession(Protocol):
    """A trading session (`broker_sim.calendar`) that names its exchange's time zone: Alpaca's calendar, daily
    bars and portfolio history are told in it. A session without one (``always``) is told in UTC."""

    @property
    def timezone(self) -> tzinfo:
        """The exchange's time zone."""
        ...


class Broker(abc.ABC):
    """A brokerage account: submit and cancel orders, read positions and the account, hear order events.

    Use it as an async context manager (``async with broker:``) to connect and close. Errors: malformed input
    raises `InvalidOrder`/`InvalidRequest` and changes nothing; unknown ids raise `OrderNotFound`; an order the
    venue refuses at its door (buying power, shorting, pattern day trading, wash trades: Alpaca's 403s) raises an
    `OrderRefused` and creates nothing; one the venue takes and fails later ends `rejected` with a
    `reject_reason`.
    """

    #: The time source of this broker; strategies read time from it too.
    clock: Clock

    #: Whether `submit_order` never suspends: its coroutine has no ``await`` that can wait (no I/O, no clock, no
    #: lock), so it always completes at its first step. A run then submits a strategy's ``return
    #: self.broker.buy(...)`` right where the handler's result is dispatched, without an asyncio task of its own
    #: (`broker_sim.run.dispatch`). An adapter declares it in its class body; a subclass that overrides
    #: `submit_order` gets False unless it declares it again (`__init_subclass__`): its override may await, and
    #: an order that suspended outside a task could not go on in one.
    submits_in_place: ClassVar[bool] = False

    #: Whether `submit_order` is `submit_order_nowait` in a coroutine and nothing more, so a caller may make the
    #: plain call and spare the coroutine (`buy`, `sell`, a strategy's view, for every order). An adapter declares
    #: it in its class body; a subclass that overrides `submit_order` gets False unless it declares it again (as
    #: `submits_in_place`): its override is what must be called.
    submits_nowait: ClassVar[bool] = False

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._hub = EventHub()
        #: Account events (margin calls, borrow fees, margin interest): their own listeners and iterators.
        self._account_hub = EventHub()

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def connect(self) -> None:  # noqa: B027 - a no-op default adapters may override
        """Open the connection to the venue (no-op for adapters that need none)."""

    async def close(self) -> None:
        """Close the connection and end every `events()` and `account_events()` iterator."""
        self._hub.close()
        self._account_hub.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- orders ---------------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def submit_order(self, request: OrderRequest) -> Order:
        """Send an order; returns its snapshot. A repeated `client_order_id` returns the existing order (the same
        request) or raises `DuplicateClientOrderId`; an order refused at the door raises `OrderRefused`."""

    def submit_order_nowait(self, request: OrderRequest) -> Order:
        """`submit_order` as a plain call, for a broker that `submits_nowait`; others raise `NotImplementedError`."""
        raise NotImplementedError(f"{type(self).__name__} submits orders only through submit_order")

    @abc.abstractmethod
    async def cancel_order(self, order_id: str) -> Order:
        """Ask to cancel an open order; returns its snapshot (canceled, or pending_cancel under latency).

        Raises `OrderNotFound` for an unknown id and `OrderNotCancelable` for an order already final.
        """

    async def replace_order(
        self,
        order_id: str,
        *,
        quantity: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce | str | None = None,
        trail: float | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Replace an open order's quantity (the new total), prices, trail or time in force; returns the new order.

        As on Alpaca: the old order goes `pending_replace` then `replaced`; the returned order (`replaces` = the
        old id) may still be `pending_new`. Raises `OrderNotReplaceable` for an order that cannot be replaced.
        The arguments travel as one `ReplaceOrderRequest` to the adapter's `replace`.
        """
        return await self.replace(
            order_id,
            ReplaceOrderRequest(
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
                time_in_force=time_in_force,
                trail=trail,
                client_order_id=client_order_id,
            ),
        )

    @abc.abstractmethod
    async def replace(self, order_id: str, changes: ReplaceOrderRequest) -> Order:
        """`replace_order` as adapters implement it: `changes` holds the changes as given (None: unchanged),
        unchecked; the adapter checks them (`InvalidOrder`, nothing sent or changed) as its venue does."""

    @abc.abstractmethod
    async def get_order(self, order_id: str) -> Order:
        """The latest snapshot of an order; raises `OrderNotFound`."""

    @abc.abstractmethod
    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        """The latest snapshot of the order with this client order id; raises `OrderNotFound`."""

    @abc.abstractmethod
    async def list_orders(self, status: str = "open", symbols: Iterable[str] | None = None) -> list[Order]:
        """Orders by state: ``open``, ``closed`` or ``all``, optionally only for `symbols`; oldest first."""

    # -- positions and account ------------------------------------------------------------------------------

    @abc.abstractmethod
    async def get_position(self, symbol: str) -> Position | None:
        """The open position in `symbol`, or None when flat."""

    @abc.abstractmethod
    async def get_positions(self) -> list[Position]:
        """Every open position."""

    async def close_position(self, symbol: str) -> Order:
        """Send a market order that flattens the position in `symbol`; raises `PositionNotFound` when flat.

        Built on `get_position` and `submit_order`; an adapter whose venue closes positions itself overrides it.
        """
        position = await self.get_position(symbol)
        if position is None:
            raise PositionNotFound(f"no open position in {symbol!r}")
        side = _SIDE_SELL if position.quantity > 0 else _SIDE_BUY
        return await self.submit_order(
            OrderRequest(
                symbol,
                side,
                abs(position.quantity),
                reference_price=position.market_price,
                client_order_id=self._new_client_order_id(),
            )
        )

    async def cancel_all_orders(self) -> list[Order]:
        """Cancel every open order, as Alpaca's ``DELETE /v2/orders`` does; returns the snapshot of each order that
        was open when asked, after its cancel (canceled, or pending_cancel under latency).

        A cancel of a bracket's, oto's or oco's member cancels its whole group, so a member canceled with an
        earlier one is not asked again; an order that ended on its own meanwhile is left out. Raises
        `OrderNotCancelable` for an order that cannot be canceled now (one with a replace on its way), after
        the orders before it were canceled. Built on `list_orders` and `cancel_order`; an adapter whose venue
        cancels all at once overrides it.
        """
        answers = []
        for order in await self.list_orders("open"):
            current = await self.get_order(order.id)
            if current.status.is_open and current.status is not _S_PENDING_CANCEL:
                try:
                    current = await self.cancel_order(order.id)
                except OrderNotCancelable:
                    current = await self.get_order(order.id)
                    if current.status.is_open:
                        raise
            if current.status in _CANCELED:
                answers.append(current)
        return answers

    async def close_all_positions(self, *, cancel_orders: bool = False) -> list[Order]:
        """Send a market order closing each open position, as Alpaca's ``DELETE /v2/positions`` does; with
        `cancel_orders`, every open order (the exits of brackets included) is canceled first. Returns the closing
        orders (after the cancels are through: a canceling order still holds its shares). Built on
        `cancel_all_orders`, `wait_for`, `get_positions` and `close_position`."""
        if cancel_orders:
            for order in await self.cancel_all_orders():
                if order.status is _S_PENDING_CANCEL:  # it holds its shares until its cancel is through
                    await self.wait_for(order.id, *_FINAL)
        return [await self.close_position(position.symbol) for position in await self.get_positions()]

    @abc.abstractmethod
    async def get_account(self) -> Account:
        """The account's cash, equity, buying power, P&L and fees."""

    # -- conveniences ---------------------------------------------------------------------------------------

    async def buy(self, symbol: str, quantity: float, **fields: Any) -> Order:
        """Submit a buy; `fields` are `OrderRequest` fields (type, limit_price, time_in_force, ...). With no field it
        is a market day order: an adapter that overrides it keeps ``buy(s, q)`` the same order as ``buy(s, q,
        time_in_force="day")`` (`Strategy.order_target` sends the one for the other)."""
        if self._names_client_orders and fields.get("client_order_id") is None:
            fields["client_order_id"] = self._new_client_order_id()
        if not fields:  # the usual call: no dict of keyword arguments to pass on, a market day order to check
            request = market_order_request(symbol, _SIDE_BUY, quantity)
            return self.submit_order_nowait(request) if self.submits_nowait else await self.submit_order(request)
        return await self.submit_order(order_request(symbol, _SIDE_BUY, quantity, **fields))

    async def sell(self, symbol: str, quantity: float, **fields: Any) -> Order:
        """Submit a sell; `fields` are `OrderRequest` fields (type, limit_price, time_in_force, ...). With no field
        it is a market day order, as for `buy`."""
        if self._names_client_orders and fields.get("client_order_id") is None:
            fields["client_order_id"] = self._new_client_order_id()
        if not fields:
            request = market_order_request(symbol, _SIDE_SELL, quantity)
            return self.submit_order_nowait(request) if self.submits_nowait else await self.submit_order(request)
        return await self.submit_order(order_request(symbol, _SIDE_SELL, quantity, **fields))

    #: Whether `_new_client_order_id` is overridden (set for each subclass): `buy` and `sell` of a broker that
    #: names no orders spare the call.
    _names_client_orders = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._names_client_orders = cls._new_client_order_id is not Broker._new_client_order_id
        if "submit_order" in cls.__dict__ and "submits_in_place" not in cls.__dict__:
            cls.submits_in_place = False
        if "submit_order" in cls.__dict__ and "submits_nowait" not in cls.__dict__:
            cls.submits_nowait = False

    def _new_client_order_id(self) -> str | None:
        """The client order id `buy`, `sell` and `close_position` give an order that names none; None lets the
        venue generate one. A view that tags its orders (a strategy's) overrides it."""
        return None

    # -- events ---------------------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[OrderEvent]:
        """Every order event from now on, in order, until the broker is closed (``async for event in ...``)."""
        return self._hub.iterate()

    def add_listener(self, callback: Listener) -> Any:
        """Call `callback(event)` (sync or async) for every order event; returns a function that unsubscribes."""
        return self._hub.add_listener(callback)

    async def wait_for(self, order_id: str, *statuses: str | OrderStatus, timeout: float | None = None) -> Order:
        """Wait until the order is in one of `statuses` (any final status if none are given) and return it.

        Also returns as soon as the order reaches a final status that was not asked for (a rejected order never
        fills), so check the returned status. `timeout` is in seconds of the broker's clock; on a simulated
        clock the wait advances time itself and costs no wall time. Raises `OrderTimeout`, `OrderNotFound`.
        """
        wanted = _statuses(statuses)
        # Wait first, then look: an event published while `get_order` is on its way (a live adapter's REST call)
        # still reaches the waiter.
        future = self._hub.waiter(order_id, wanted)
        try:
            order = await self.get_order(order_id)
            if order.status in wanted or order.status.is_final:
                return order
            return await self.clock.wait(future, timeout)
        except TimeoutError:
            current = await self.get_order(order_id)
            wanted_text = ", ".join(sorted(s.value for s in wanted)) or "a final status"
            raise OrderTimeout(
                f"order {order_id} is still {current.status.value} after {timeout} s; waited for {wanted_text}"
            ) from None
        finally:
            self._hub.drop_waiter(order_id, future)

    def _publish(self, event: OrderEvent) -> None:
        """Deliver an event to waiters, listeners and `events()` iterators (adapters call this)."""
        self._hub.publish(event)

    def account_events(self) -> AsyncIterator[AccountEvent]:
        """Every account event from now on (margin calls, borrow fees, margin interest), until the broker closes.

        The paper adapter reports them; Alpaca's stream has none (its charges are account activities)."""
        return self._account_hub.iterate()  # type: ignore[return-value]

    def add_account_listener(self, callback: Callable[[AccountEvent], Any]) -> Callable[[], None]:
        """Call `callback(event)` (sync or async) for every account event; returns a function that unsubscribes."""
        return self._account_hub.add_listener(callback)  # type: ignore[arg-type]

    def _publish_account(self, event: AccountEvent) -> None:
        """Deliver an account event to its listeners and `account_events()` iterators (adapters call this)."""
        self._account_hub.publish(event)  # type: ignore[arg-type]

    @staticmethod
    def _check_list_status(status: str) -> str:
        if status not in _LIST_STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(_LIST_STATUSES)}; got {status!r}")
        return status
