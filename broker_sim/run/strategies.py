"""The run's strategies over one broker: built from the config, each with its share of the account (its book) and
its view of the broker; the broker's order events booked to them and handed to their `on_order_event`; their
handlers called through the run's `HandlerDispatch`, a refused order counted and the run going on."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from broker_sim._members import _S_NEW, _S_PENDING_NEW
from broker_sim.broker import Broker, KeepsFills
from broker_sim.config import Config
from broker_sim.errors import OrderRefused
from broker_sim.models import EventType, Fill, Order, OrderEvent
from broker_sim.run.dispatch import HandlerDispatch, StrategyError, handler_error
from broker_sim.run.records import RunRecords
from broker_sim.strategy import Strategy, overrides
from broker_sim.strategy_book import StrategyBook
from broker_sim.strategy_broker import StrategyBroker, order_coroutine_kinds

__all__ = ["RunStrategies"]

log = logging.getLogger(__name__)


class RunStrategies:
    """The strategies of one run. `attach(broker)` builds them over the broker and listens to its order events;
    `call` runs a handler (what it returns, as a task of its own); `flush` delivers the order events waiting."""

    def __init__(
        self,
        config: Config,
        instances: Sequence[Strategy],
        records: RunRecords,
        on_failure: Callable[[StrategyError], None],
    ) -> None:
        self.config = config
        #: The config's strategies as checking it built them (`Config.all_strategies` order), not yet attached.
        self.instances = tuple(instances)
        self.records = records
        #: Runs what handlers return as tasks of their own; a task that fails goes to `on_failure`.
        self.dispatch = HandlerDispatch(on_failure, self.refused)
        #: Order events waiting for the `on_order_event` of the strategies they concern.
        self.pending: deque[tuple[OrderEvent, tuple[tuple[str, float], ...]]] = deque()
        # Its append, taken once (`on_order_event` queues three events an order): compiled, a call of the method
        # itself, where ``self.pending.append(...)`` looks the method up by name each time.
        self._queue = self.pending.append
        #: Each strategy's share of the account, and the strategies that listen to order events, by name.
        self.books: dict[str, StrategyBook] = {}
        self.listening: dict[str, Strategy] = {}
        #: The strategies with their views of the broker (set by `attach`).
        self.built: list[tuple[Strategy, StrategyBroker]] = []
        # Per order event: who it concerns (its record is `records.record`, called as a method: compiled, a direct
        # call, where a bound method kept in an attribute is a generic one).
        self._owners = records.owners

    def build(self, broker: Broker) -> list[tuple[Strategy, StrategyBroker]]:
        """The config's strategies, each over its own view of `broker` and with its own book."""
        built = []
        names: set[str] = set()
        for index, (spec, strategy) in enumerate(zip(self.config.all_strategies, self.instances, strict=True)):
            name = spec.name or type(strategy).__name__
            if name in names:
                name = f"{name}{index}"
            names.add(name)
            book = StrategyBook(name)
            view = StrategyBroker(broker, name, book)
            strategy.broker = view
            strategy.clock = broker.clock
            strategy.symbols = tuple(spec.symbols or ())
            strategy.name = name
            strategy.book = book
            built.append((strategy, view))
        return built

    def attach(self, broker: Broker) -> tuple[list[tuple[Strategy, StrategyBroker]], dict[str, Strategy]]:
        """Build the strategies over `broker` and listen to its order events (`on_order_event`) and account
        events: returns the strategies with their views, and those that listen to order events by name."""
        strategies = self.built = self.build(broker)
        self.records.owners.views = [view for _, view in strategies]
        self.books = {view.name: view.book for _, view in strategies if view.book is not None}
        self.listening = {s.name: s for s, _ in strategies if overrides(s, "on_order_event")}
        broker.add_listener(self.on_order_event)
        broker.add_account_listener(self.records.account_events.append)
        if broker.submits_in_place and strategies:  # every view is over `broker`: their orders never suspend
            self.dispatch.run_in_place(order_coroutine_kinds(strategies[0][1]))
        return strategies, self.listening

    async def resume(self, broker: Broker) -> None:
        """An account resumed from its journal: each strategy's next client order ids follow the ones the account
        holds, and its book (positions, open orders, latest fills) is rebuilt from the account's orders."""
        known = await broker.list_orders("all")
        owners = self.records.owners
        orders: dict[str, list[Order]] = {name: [] for name in self.books}
        owner_of: dict[str, str] = {}
        for order in sorted(known, key=lambda o: o.created_at):  # parents before their legs
            owner = owners(order)
            if owner in orders:
                orders[owner].append(order)
                owner_of[order.id] = owner
        fills: dict[str, list[Fill]] = {name: [] for name in self.books}
        for fill in broker.fills if isinstance(broker, KeepsFills) else ():
            fill_owner = owner_of.get(fill.order_id)
            if fill_owner is not None:
                fills[fill_owner].append(fill)
        for _, view in self.built:
            view.continue_numbering(known)
            if view.book is not None:
                view.book.restore(orders[view.name], fills[view.name])

    def call(self, handler: Any, argument: Any = None) -> None:
        """Call a strategy's `handler` (on_start, on_order_event, on_stop) and run what it returns as a task of its
        own (`broker_sim.run.dispatch`). What it raises stops the run as a `StrategyError` naming it."""
        self.dispatch.call(handler, argument)

    def start(self) -> None:
        """Call every strategy's `on_start` (`flush` then lets what they set off happen)."""
        for strategy, _ in self.built:
            self.call(strategy.on_start)

    def stop(self) -> None:
        """Call every strategy's `on_stop` (`flush` then lets what they set off happen)."""
        for strategy, _ in self.built:
            self.call(strategy.on_stop)

    async def flush(self) -> None:
        """Deliver the order events waiting, and (3.11) let the handler tasks just started run their first step,
        until neither is left: what `on_start` or `on_stop` set off is handled before the run goes on."""
        dispatcher = self.dispatch
        while self.pending or dispatcher.unsettled:
            if dispatcher.unsettled and not dispatcher.settle_here():
                await dispatcher.settle()
            if self.pending:
                self.deliver(self.listening)

    def refused(self, handler: Any, event: Any, exc: OrderRefused) -> None:
        """An order refused at the door that the strategy did not catch: logged, counted in the summary
        (``refused``), and the run goes on, as a bot's run does on Alpaca after a 403."""
        self.records.outcomes.add_refusal(exc)
        log.warning("%s", handler_error(handler, event, exc))

    def on_order_event(self, event: OrderEvent) -> None:
        """Every order event, as the broker emits it: recorded, booked to the strategies it concerns (their shares
        of the account are current before any handler runs again), and queued for their `on_order_event`."""
        holders = self._keep(event.order, event.fill, event.type)
        if holders and self.listening:
            self._queue((event, holders))  # (`self.pending.append`)

    def event_taker(self) -> Callable[[Order, Fill | None, EventType], object] | None:
        """What keeps an order event's order, fill and type as `on_order_event` keeps the event, without the event
        (`_keep`): the broker hands its pending_new, new and fill events so while no one else would read them
        (`EventFanout.offer`). None while a strategy listens to order events (its `on_order_event` is handed each
        event, which is needed then); `attach` knows which do before it listens."""
        return None if self.listening else self._keep

    def _keep(self, order: Order, fill: Fill | None, kind: EventType) -> tuple[tuple[str, float], ...]:
        """Record and book an event of `kind` about `order` (with `fill`, if any); returns the strategies it concerns
        with their shares (`OrderOwners.holders`)."""
        owners = self._owners
        last_id, holders = owners.last_holders  # `owners.holders(event)` for the order asked about last
        order_id = order.id
        if order_id != last_id:
            holders = owners.holders_of(order, kind)
        status = order.status
        if fill is not None or (status is not _S_NEW and status is not _S_PENDING_NEW):
            self.records.record(order, fill, holders)
            books = self.books
            for name, share in holders:
                books[name].take(order, fill, share)
        elif holders:
            # An order on its way or starting to work (two of a market order's three events), without a fill, is
            # nothing `record` keeps, and to a book only its latest snapshot among the open orders (unless it
            # ended already): `StrategyBook.take`'s branch for it, in line (a call saved per holder on two events
            # of every order; `take` names this copy).
            books = self.books
            for name, _ in holders:
                book = books[name]
                book.last_booked = order
                if order_id not in book._ended_ids:
                    book._open[order_id] = order
        return holders

    def deliver(self, listening: dict[str, Strategy]) -> None:
        """Hand the queued order events to the `on_order_event` of each strategy they concern (`listening`: those
        that hear order events, by name; a dict, whose lookup is native when compiled)."""
        pending = self.pending
        # (its method taken once: compiled, a deque's method is otherwise looked up by name for each event)
        next_event = pending.popleft
        dispatcher = self.dispatch
        while pending:
            event, holders = next_event()  # (one at a time: a handler's order queues its events behind these)
            for name, _ in holders:
                strategy = listening.get(name)
                if strategy is None:
                    continue
                # `HandlerDispatch.call`, inline: three events an order.
                handler = strategy.on_order_event
                try:
                    result = handler(event)
                except OrderRefused as exc:
                    dispatcher.on_refused(handler, event, exc)
                    continue
                except (Exception, SystemExit) as exc:
                    raise handler_error(handler, event, exc) from exc
                if result is not None:
                    dispatcher.dispatch(result, handler, event)
