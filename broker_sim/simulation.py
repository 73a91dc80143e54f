"""The config-driven run: config -> plugins -> broker -> price stream -> strategies -> report.

`run_simulation(config)` runs to the end from plain Python; ``await arun_simulation(config)`` does the same
inside a running event loop (a notebook). On the simulated clock the run is deterministic: the same config and
seed give byte-identical ``trades.csv``.

One function handles each market event, in a replay and in a live run alike (`_Run._stepper`): it hands the
event to the broker if the adapter takes market data (`MarketDataConsumer`: two dict writes when no order works
on the symbol), calls the strategy handlers that subscribed to the symbol, delivers order events when there are
any, and samples equity through `Broker.get_account()` every `report.equity_interval`. The replay loop around it
is the hot path: per event it moves the clock (a float assignment when nothing is due) and calls the function.
What a handler returns, when it is a coroutine, runs as a real task of its own from start to end
(`broker_sim.dispatch`: eager on Python 3.12+, one loop turn per such event on 3.11); one that waits
(``wait_for``, ``clock.sleep``) goes on while the replay continues, and wakes when the replay moves the clock past
what it waits for, as it would live.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import importlib
import importlib.util
import itertools
import logging
import math
import warnings
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.progress import Progress

from broker_sim.activities import AccountEvent
from broker_sim.broker import Broker, Journaled, KeepsFills, KnowsPrices, MarketDataConsumer, Resumable
from broker_sim.clock import Clock, RealtimeClock, SimulatedClock
from broker_sim.config import Config
from broker_sim.dispatch import HandlerDispatch, StrategyError, handler_error
from broker_sim.errors import BrokerError, ConfigError, OrderRefused, describe_error
from broker_sim.interrupts import RunInterrupted, StopSignals
from broker_sim.models import Account, Bar, Fill, MarketData, Order, OrderEvent, Quote, Trade, unchecked_fill
from broker_sim.plugins import build_registry
from broker_sim.redact import redacted_yaml
from broker_sim.report.account import equity_from_fills
from broker_sim.report.files import HTML_TRADES, write_report
from broker_sim.report.metrics import EquitySample, Metrics, OrderOutcomes, TradeTally, metrics_from
from broker_sim.report.spool import Spool
from broker_sim.report.target import ReportFolderError, check_target
from broker_sim.report.tearsheet import benchmark_curve
from broker_sim.report.workdir import Workdir
from broker_sim.strategy import Strategy, load_strategy_class, overrides
from broker_sim.strategy_book import StrategyBook
from broker_sim.strategy_broker import OrderOwners, StrategyBroker
from broker_sim.streams.base import ReplaySource
from broker_sim.streams.manager import PriceStreamManager
from broker_sim.streams.realtime import RealtimeReplay
from broker_sim.wiring import build_broker, build_source, check_live_safety, plugin_manager, resolve_config

__all__ = [
    "ConfigSource",
    "RecordingError",
    "ReportError",
    "Result",
    "StrategyError",
    "arun_simulation",
    "run_simulation",
]

log = logging.getLogger(__name__)

#: Closed orders the broker keeps in memory during a run (the run records all of them on disk itself).
BROKER_HISTORY = 10_000
#: Simulated seconds the run goes on after the last market event, so orders still on their way arrive.
DRAIN_SECONDS = 60.0
_HANDLER_FOR = {Bar: "on_bar", Quote: "on_quote", Trade: "on_trade"}


class RecordingError(BrokerError):
    """The run could not record its fills and orders (a full disk); it stopped, and the report says so."""


class ReportError(BrokerError):
    """The report could not be written (a full disk, an unwritable folder); the message says where the run's
    fills and orders were kept instead."""


@attrs.frozen(slots=True)
class Result:
    """What a run produced: the final account, every order and fill, the equity curve, the metrics.

    With the ``[dataframes]`` extra (pandas), `fills_df`, `round_trips_df`, `orders_df`, `equity_df` and `returns`
    give them as DataFrames for a notebook."""

    account: Account
    #: Every order (in the order they ended; those still working at the end last) and every fill; both are read
    #: back from disk when iterated, so a long run's result stays small in memory.
    orders: Sequence[Order] = attrs.field(repr=lambda v: f"<{len(v)} orders>")
    fills: Sequence[Fill] = attrs.field(repr=lambda v: f"<{len(v)} fills>")
    equity: tuple[EquitySample, ...] = attrs.field(repr=lambda v: f"<{len(v)} samples>")
    metrics: Metrics = attrs.field(repr=False)
    report_dir: Path | None = None
    events: int = 0
    config: Config = attrs.field(repr=False, default=None)
    #: The benchmark's name and its value at each equity sample (None without prices).
    benchmark: tuple[str, tuple[float, ...]] | None = attrs.field(repr=False, default=None)
    #: The account's events (margin calls made, met, liquidated; borrow fees and margin interest charged).
    account_events: tuple[AccountEvent, ...] = attrs.field(repr=lambda v: f"<{len(v)} account events>", default=())
    #: The run's working folder, which holds the files `orders` and `fills` are read back from (`close`).
    workdir: Workdir | None = attrs.field(repr=False, eq=False, default=None)

    def fills_df(self) -> Any:
        """Every fill as a pandas DataFrame (trades.csv's columns, strategy included)."""
        return _frames().fills_frame(self.fills)

    def round_trips_df(self) -> Any:
        """Every round trip (FIFO within a strategy and symbol) as a DataFrame, with net P&L and holding time."""
        return _frames().trades_frame(self.fills)

    def trades_df(self) -> Any:
        """Deprecated name of `round_trips_df` (trades.csv holds fills; fills_df gives them): kept for a release."""
        warnings.warn(
            "Result.trades_df() is now round_trips_df() (trades.csv and fills_df() hold fills); "
            "trades_df() goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.round_trips_df()

    def orders_df(self) -> Any:
        """Every order in its final status as a DataFrame (orders.csv's columns, strategy included)."""
        return _frames().orders_frame(self.orders)

    def equity_df(self) -> Any:
        """The equity curve indexed by time: equity, gross_exposure, drawdown (and benchmark, if any)."""
        return _frames().equity_frame(self.equity, self.benchmark)

    def returns(self, daily: bool = True) -> Any:
        """The equity's returns as a pandas Series: daily closes (as the metrics use) or per sample."""
        return _frames().returns_series(self.equity, daily)

    def close(self) -> None:
        """Remove the temporary files `orders` and `fills` are read back from, and their folder, now (they can no
        longer be read). Otherwise they go when the result is garbage-collected, which a process ended by
        ``os._exit`` (a process pool's worker) never does: a caller that keeps only the figures closes the result."""
        for items in (self.orders, self.fills):
            if isinstance(items, Spool):
                items.close()
        if self.workdir is not None:
            self.workdir.close()


def _frames() -> Any:
    """`broker_sim.report.frames`, imported on first use: pandas is an optional extra."""
    return importlib.import_module("broker_sim.report.frames")


#: What `run_simulation` takes as a config: a `Config`, a YAML file's path, or the YAML's data as a dict.
ConfigSource = Config | str | Path | Mapping[str, Any]
ProgressCallback = Callable[[int, int | None], None]


def run_simulation(
    config: ConfigSource,
    *,
    out: str | Path | bool | None = None,
    overrides: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    **options: Any,
) -> Result:
    """Run `config` to the end and return the `Result`.

    `config` is a `Config`, a YAML path, or a dict of the YAML's data (relative paths from the working folder).
    `overrides` change values by dotted key before the config is checked, as ``--set`` does:
    ``{"strategy.params.fast": 5, "broker.seed": 7}``. `out` is the report folder; None (the default) means the
    config's ``report.out``, False means no report files (a notebook looping over parameters). `data` is
    in-memory market data, ``{"AAPL": frame}`` (pandas DataFrames of OHLCV bars), read by the ``dataframe``
    source (added when the config lists no source).
    `progress`: a ``progress(events_done, estimated_total)`` callable, or True for a progress bar on stderr,
    False/None for none. The other options are `arun_simulation`'s.

    Called where an event loop is already running (a Jupyter notebook, an async app), the run goes on in a
    worker thread with its own loop and this call waits for it; ``await arun_simulation(...)`` runs it in the
    caller's loop instead."""
    run = functools.partial(arun_simulation, config, out=out, overrides=overrides, data=data, **options)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="broker-sim run") as worker:
        return worker.submit(lambda: asyncio.run(run())).result()


async def arun_simulation(
    config: ConfigSource,
    *,
    out: str | Path | bool | None = None,
    overrides: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    progress: ProgressCallback | bool | None = None,
    status: Callable[[str], None] | None = None,
    subscribers: Iterable[Callable[[MarketData], Any]] = (),
    env: Mapping[str, str] | None = None,
    realtime: float | None = None,
    watch: Callable[[Broker], Any] | None = None,
) -> Result:
    """`run_simulation` for code already inside an event loop. `progress(events_done, estimated_total)` is
    called every few thousand events; `status(message)` hears what the run does past the replay ("writing the
    report to ..."); `subscribers` (sync or async callables, e.g. a dashboard) receive every market event through
    the run's `PriceStreamManager`, under its delivery policy.

    `realtime` (a speed, 1 for real time) makes the run a paper session: the real-time clock, and the replay
    sources played in real time as live ones (`RealtimeReplay`), `realtime` times faster than their stamps say.
    `watch(broker)` is called once the broker is connected (a journaled account recovered), before any event."""
    config = resolve_config(config, overrides=overrides, env=env, data=data)
    bar = _ProgressBar() if progress is True else None
    callback = bar if bar is not None else (progress if callable(progress) else None)
    run = _Run(config, callback, status, realtime=realtime)
    run.watch = watch
    for subscriber in subscribers:
        run.streams.subscribe(subscriber)
    try:
        return await run.execute(out)
    finally:
        if bar is not None:
            bar.stop()


class _ProgressBar:
    """``progress=True``: a rich progress bar on stderr (rich is a dependency already)."""

    def __init__(self) -> None:
        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.task: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("replay", total=total)
        self.bar.update(self.task, completed=done, total=max(total or done, done))

    def stop(self) -> None:
        self.bar.stop()


class _Run:
    """One run's wiring and state."""

    def __init__(
        self,
        config: Config,
        progress: ProgressCallback | None,
        status: Callable[[str], None] | None = None,
        *,
        realtime: float | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.status = status
        self.realtime = realtime
        self.watch: Callable[[Broker], Any] | None = None
        self.manager = plugin_manager(config)
        registry = build_registry(self.manager)
        self.streams = PriceStreamManager()
        self.wall_clock = RealtimeClock()
        # With `clock: realtime` a replay source plays as a live one, in real time and stamped now, as in a paper
        # session: its old time stamps would otherwise lie in the wall clock's past.
        speed = realtime if realtime is not None else (1.0 if config.prices.clock == "realtime" else None)
        #: The sources as the config built them (before a replay is wrapped to play in real time).
        self.built_sources: list[Any] = []
        for spec in config.prices.sources:
            source = build_source(config, registry, spec)
            self.built_sources.append(source)
            if speed is not None and isinstance(source, ReplaySource):
                source = RealtimeReplay(source, self.wall_clock, speed=speed)
            self.streams.add_source(source)
        #: Order events waiting for the `on_order_event` of the strategies they concern.
        #: Runs what handlers return as tasks of their own.
        self.dispatch = HandlerDispatch(self._fail, self._refused)
        self.pending: deque[tuple[OrderEvent, tuple[tuple[str, float], ...]]] = deque()
        #: Each strategy's share of the account, and the strategies that listen to order events, by name.
        self.books: dict[str, StrategyBook] = {}
        self.listening: dict[str, Strategy] = {}
        #: What stopped the run from inside (a strategy's task, recording): raised at the next event.
        self.failure: BrokerError | None = None
        self.equity: list[EquitySample] = []
        #: The last market prices at each equity sample (empty when the adapter cannot tell them).
        self.prices: list[dict[str, float]] = []
        self.events = 0
        #: Every fill and every order that ended, on disk as they happen: memory stays flat however long the run.
        #: Which strategy each order is of (filled in with the strategies when the run starts).
        self.owners = OrderOwners()
        #: Made by `_prepare_report` when the run starts: in the run's working folder, beside its report.
        self.workdir: Workdir | None = None
        self.fills: Spool[Fill]
        self.orders: Spool[Order]
        self.tally = TradeTally(keep=HTML_TRADES)
        #: The account's events, as the broker reports them (the report's account_events.csv).
        self.account_events: list[AccountEvent] = []
        self.outcomes = OrderOutcomes()
        self.stop = StopSignals()
        self.live_task: asyncio.Future[None] | None = None
        #: With a journal: remembers which strategy sent each order that ended (`Journal.note_owner`).
        self.note_owner: Callable[[str, str], None] | None = None

    # -- wiring ---------------------------------------------------------------------------------------------

    def _strategies(self, broker: Broker) -> list[tuple[Strategy, StrategyBroker]]:
        built = []
        names: set[str] = set()
        for index, spec in enumerate(self.config.all_strategies):
            cls = load_strategy_class(spec.class_, base_dir=self.config.base_dir)
            try:
                strategy = cls(**spec.params)
            except Exception as exc:  # the strategy's own constructor: whatever it raised, the config is wrong
                raise ConfigError(f"strategy {spec.class_}: {type(exc).__name__}: {exc}") from exc
            name = spec.name or cls.__name__
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

    def _attach(self, broker: Broker) -> tuple[list[tuple[Strategy, StrategyBroker]], dict[str, Strategy]]:
        """Build the strategies over `broker` and listen to its order events (`_on_order_event`): returns the
        strategies with their views, and those that listen to order events by name."""
        strategies = self._strategies(broker)
        self.owners.views = [view for _, view in strategies]
        self.books = {view.name: view.book for _, view in strategies if view.book is not None}
        self.listening = {s.name: s for s, _ in strategies if overrides(s, "on_order_event")}
        broker.add_listener(self._on_order_event)
        broker.add_account_listener(self.account_events.append)
        return strategies, self.listening

    async def _resume_strategies(self, broker: Broker, strategies: list[tuple[Strategy, StrategyBroker]]) -> None:
        """An account resumed from its journal: each strategy's next client order ids follow the ones the account
        holds, and its book (positions, open orders, latest fills) is rebuilt from the account's orders; the run's
        records start with the account's earlier sessions (`_resume_records`)."""
        if not isinstance(broker, Journaled) or broker.journal is None:
            return
        self._resume_records(broker)
        known = await broker.list_orders("all")
        orders: dict[str, list[Order]] = {name: [] for name in self.books}
        owner_of: dict[str, str] = {}
        for order in sorted(known, key=lambda o: o.created_at):  # parents before their legs
            owner = self.owners(order)
            if owner in orders:
                orders[owner].append(order)
                owner_of[order.id] = owner
        fills: dict[str, list[Fill]] = {name: [] for name in self.books}
        for fill in broker.fills if isinstance(broker, KeepsFills) else ():
            fill_owner = owner_of.get(fill.order_id)
            if fill_owner is not None:
                fills[fill_owner].append(fill)
        for _, view in strategies:
            view.continue_numbering(known)
            if view.book is not None:
                view.book.restore(orders[view.name], fills[view.name])

    # -- running handlers -----------------------------------------------------------------------------------

    def _call(self, handler: Any, argument: Any = None) -> None:
        """Call a strategy's `handler` (on_start, on_order_event, on_stop) and run what it returns as a task of its
        own (`broker_sim.dispatch`). What it raises stops the run as a `StrategyError` naming it."""
        self.dispatch.call(handler, argument)

    async def _flush(self, listening: Mapping[str, Strategy]) -> None:
        """Deliver the order events waiting, and (3.11) let the handler tasks just started run their first step,
        until neither is left: what `on_start` or `on_stop` set off is handled before the run goes on."""
        dispatcher = self.dispatch
        while self.pending or dispatcher.unsettled:
            if dispatcher.unsettled:
                await dispatcher.settle()
            if self.pending:
                self._deliver_order_events(listening)

    def _fail(self, error: StrategyError) -> None:
        """A handler's task failed after its first step: the run stops at the next event."""
        if self.failure is None:
            self.failure = error

    def _refused(self, handler: Any, event: Any, exc: OrderRefused) -> None:
        """An order refused at the door that the strategy did not catch: logged, counted in the summary
        (``refused``), and the run goes on, as a bot's run does on Alpaca after a 403."""
        self.outcomes.add_refusal(exc)
        log.warning("%s", handler_error(handler, event, exc))

    def _on_order_event(self, event: OrderEvent) -> None:
        """Every order event, as the broker emits it: recorded, booked to the strategies it concerns (their shares
        of the account are current before any handler runs again), and queued for their `on_order_event`."""
        holders = self.owners.holders(event)
        self._record(event, holders)
        if holders:
            books = self.books
            for name, share in holders:
                books[name].apply(event, share)
            if self.listening:
                self.pending.append((event, holders))

    def _record(self, event: OrderEvent, holders: tuple[tuple[str, float], ...]) -> None:
        """Record a fill, and an order once it ended, in the run's spools and its trade tally; a fill several
        strategies share (a liquidation) is recorded once per strategy, for its share. If recording fails (a
        full disk), the run stops at the next event: the report must agree with the account."""
        try:
            executed = event.fill
            if executed is not None:
                for strategy, share in holders or (("", 1.0),):
                    fill = executed
                    if strategy != fill.strategy or share != 1.0:  # a copy naming the strategy (once per fill)
                        fill = unchecked_fill(
                            fill.order_id, fill.symbol, fill.side, fill.quantity * share, fill.price, fill.fee * share,
                            fill.timestamp, fill.reference_price, fill.execution_id, strategy,
                        )  # fmt: skip
                    self.fills.append(fill)
                    self.tally.add(fill)
            if event.order.status.is_final:
                self.orders.append(event.order)
                self.outcomes.add(event.order)
                if self.note_owner is not None:
                    self.note_owner(event.order.id, self.owners(event.order))
        except Exception as exc:
            if not isinstance(self.failure, RecordingError):
                self.failure = RecordingError(f"recording the run failed: {type(exc).__name__}: {exc}")
                self.failure.__cause__ = exc

    def _deliver_order_events(self, listening: Mapping[str, Strategy]) -> None:
        """Hand the queued order events to the `on_order_event` of each strategy they concern."""
        pending = self.pending
        while pending:
            event, holders = pending.popleft()
            for name, _ in holders:
                strategy = listening.get(name)
                if strategy is not None:
                    self._call(strategy.on_order_event, event)

    async def _sample(self, broker: Broker) -> None:
        """Record the account's equity and gross exposure now (any adapter: through `get_account`)."""
        account = await broker.get_account()
        prices = _last_prices(broker) or {}
        self.equity.append(EquitySample(broker.clock.now(), account.equity, account.gross_exposure))
        self.prices.append(prices)

    def _processor(
        self,
        broker: Broker,
        strategies: list[tuple[Strategy, StrategyBroker]],
        owners: Mapping[str, Strategy],
        *,
        replay: bool,
    ) -> Callable[[Sequence[tuple[float, MarketData]]], Coroutine[Any, Any, None]]:
        """The run's one per-event code, for a replay and a live run alike: ``await process(pairs)`` handles
        ``(posix_seconds, event)`` pairs in order (a replay hands it blocks, a live run one event at a time).

        Per event: a replay first brings the clock to the event's time (simulated: a float assignment when
        nothing is due; real time: it keeps the events' spacing); then the event goes to the broker if the
        adapter takes market data, to the strategy handlers of its symbol, to the strategies' order events,
        to an equity sample every `report.equity_interval`, and to the price-stream subscribers. A handler that
        raises, or one that failed in its task, stops the run with a `StrategyError` naming it."""
        clock = broker.clock
        move_to = clock.move_to if replay and isinstance(clock, SimulatedClock) else None
        paced = replay and move_to is None
        update = broker.update_market_nowait if isinstance(broker, MarketDataConsumer) else None
        pending = self.pending
        deliver = self._deliver_order_events
        dispatcher = self.dispatch
        dispatch = dispatcher.dispatch
        streams = self.streams
        interval = self.config.report.equity_interval
        cache: dict[tuple[type, str], list[Any]] = {}
        next_sample = -float("inf")
        paced_start: float | None = None

        async def process(pairs: Sequence[tuple[float, MarketData]]) -> None:
            nonlocal next_sample, paced_start
            publish = streams.publish if streams.has_subscribers else None
            for seconds, event in pairs:
                if move_to is not None:
                    if not move_to(seconds):
                        await clock.advance_to(seconds, events_pending=True)  # type: ignore[attr-defined]
                elif paced:
                    paced_start = await _pace(clock, seconds, paced_start)
                if update is not None:
                    update(event)
                if pending:
                    deliver(owners)
                key = (event.__class__, event.symbol)
                handlers = cache.get(key)
                if handlers is None:
                    handlers = cache[key] = _handlers(strategies, *key)
                for handler in handlers:
                    try:
                        result = handler(event)
                    except OrderRefused as exc:
                        self._refused(handler, event, exc)
                        continue
                    except (Exception, SystemExit) as exc:
                        raise handler_error(handler, event, exc) from exc
                    if result is not None:
                        dispatch(result, handler, event)
                while pending or dispatcher.unsettled:
                    if dispatcher.unsettled:  # 3.11: the tasks just started run their first step
                        await dispatcher.settle()
                    if pending:
                        deliver(owners)
                if self.failure is not None:
                    raise self.failure
                if seconds >= next_sample:
                    next_sample = seconds - seconds % interval + interval
                    await self._sample(broker)
                if publish is not None:
                    publish(event)
            self.events += len(pairs)

        return process

    # -- the run --------------------------------------------------------------------------------------------

    async def execute(self, out: str | Path | bool | None) -> Result:
        """Run to the end, or until stopped (a signal, a failing strategy, bad data, a lost feed): either way the
        report holds everything up to that moment (``complete: false`` and the reason when it stopped early),
        then the stop is raised again."""
        target = self._prepare_report(out)
        simulated = self.config.prices.clock == "simulated" and self.realtime is None
        blocks = self.streams.replay_blocks()
        thresholds = _relax_gc()  # the first block is read here: as many short-lived events as any other block
        try:
            first = next(blocks, None)
        finally:
            _restore_gc(thresholds)
        if simulated:
            start = first[0][0] if first else 0.0
            clock: Clock = SimulatedClock(start, auto_advance=False)
        else:
            clock = self.wall_clock
        broker = build_broker(self.config, clock=clock, manager=self.manager, history=BROKER_HISTORY)
        check_live_safety(self.config, broker, self.built_sources)
        strategies, owners = self._attach(broker)
        stopped: BaseException | None = None
        self.stop = StopSignals(self._cancel_live)
        try:
            with self.stop:
                async with broker:
                    await self._resume_strategies(broker, strategies)
                    if self.watch is not None:
                        self.watch(broker)
                    for strategy, _ in strategies:
                        self._call(strategy.on_start)
                    await self._flush(owners)
                    if first:
                        replay = _resumed(broker, itertools.chain([first], blocks))
                        await self._replay(broker, strategies, owners, replay)
                    if self.streams.live_sources:
                        await self._live(broker, strategies, owners)
                    if simulated:
                        assert isinstance(clock, SimulatedClock)
                        await clock.advance(DRAIN_SECONDS)
                    await self._flush(owners)
                    for strategy, _ in strategies:
                        self._call(strategy.on_stop)
                    await self._flush(owners)
                    await self.dispatch.finish()
                    self.stop.check()
                    if self.failure is not None:
                        raise self.failure
        except (Exception, KeyboardInterrupt, asyncio.CancelledError) as exc:
            stopped = exc
        return await self._finish(broker, clock, target, stopped)

    def _resume_records(self, broker: Journaled) -> None:
        """A journaled account: the run's records start with what the account did in earlier sessions (its fills,
        its ended orders, the equity after each fill, each with the strategy its journal remembers), so the
        report covers the account, not only this session; and the orders that end from now on are noted."""
        journal = broker.journal
        if journal is None:
            return
        self.note_owner = journal.note_owner
        stored = journal.stored_account()
        if not stored.fills and not stored.orders:
            return
        self.owners.known.update(stored.owners)
        for fill in stored.fills:
            fill = attrs.evolve(fill, strategy=stored.strategy_of(fill.order_id))
            self.fills.append(fill)
            self.tally.add(fill)
        for order in stored.orders:
            if order.status.is_final:
                self.orders.append(order)
                self.outcomes.add(order)
        created = datetime.fromisoformat(stored.info.created_at) if stored.info.created_at else None
        earlier = equity_from_fills(stored.fills, stored.info.initial_balance, created)
        self.equity[:0] = earlier
        self.prices[:0] = [{} for _ in earlier]

    async def _finish(
        self,
        broker: Broker,
        clock: Clock,
        target: Path | None,
        stopped: BaseException | None,
        reason: str | None = None,
    ) -> Result:
        """Write the report of a run that ended (`stopped`: what stopped it early, raised again after the report
        is written; `reason`: why it is incomplete when nothing was raised) and return its `Result`."""
        account = await self._final_account(broker)
        for order in await _open_orders(broker):
            self.orders.append(order)  # still working at the end: recorded as they stand
            self.outcomes.add(order)
            if self.note_owner is not None:
                self.note_owner(order.id, self.owners(order))
        equity = tuple(self.equity) or (EquitySample(clock.now(), account.equity, 0.0),)
        # An adapter that does not report its initial balance (Alpaca) starts from the first equity sample.
        initial = account.initial_balance if account.initial_balance is not None else equity[0].equity
        skipped = sum(getattr(source, "skipped_rows", 0) for source in self.streams.sources)
        prices = self.prices if len(self.prices) == len(equity) else [{} for _ in equity]
        wanted = self.config.report.benchmark
        benchmark = benchmark_curve([sample.timestamp for sample in equity], prices, initial, wanted)
        if wanted and benchmark is None:
            log.warning("report.benchmark %s had no price in the run: the report has no benchmark", wanted)
        metrics = metrics_from(
            equity,
            self.tally,
            len(self.orders),
            initial,
            outcomes=self.outcomes,
            skipped_rows=skipped,
            prices=prices[-1],
            benchmark=benchmark[1] if benchmark else None,
            benchmark_name=benchmark[0] if benchmark else "",
        )
        if stopped is not None:
            reason = _stop_reason(stopped)
        try:
            report_dir = self._write_report(target, metrics, equity, reason, prices, benchmark)
        except Exception as exc:
            raise self._report_failed(target, exc, reason) from exc
        if stopped is not None:
            self.fills.close()
            self.orders.close()
            if self.workdir is not None:
                self.workdir.close()
        if stopped is not None:
            if isinstance(stopped, BrokerError):
                stopped.report_dir = report_dir  # type: ignore[attr-defined]
            raise stopped
        return Result(
            account,
            self.orders,
            self.fills,
            equity,
            metrics,
            report_dir,
            self.events,
            self.config,
            (benchmark[0], tuple(benchmark[1])) if benchmark else None,
            tuple(self.account_events),
            self.workdir,
        )

    def _prepare_report(self, out: str | Path | bool | None) -> Path | None:
        """Where the report goes (None: nowhere), checked before the run (`_report_target`), and the run's working
        folder beside it (`Workdir`: creating it proves the report can be written there), which holds the spools
        of the run's fills and orders."""
        target = self._report_target(out)
        self.workdir = Workdir.create(target)
        self.fills = Spool.of_fills(self.workdir)
        self.orders = Spool.of_orders(self.owners, self.workdir)
        return target

    def _report_failed(self, target: Path | None, exc: Exception, reason: str | None) -> Exception:
        """The error for a report that could not be written: the run's fills and orders are kept (the working
        folder, renamed to be seen) and the message says where. A `ReportError` for what the machine refused (a
        full disk, a folder that changed during the run); anything else is raised with a note saying so."""
        lost = ""
        for spool in (self.fills, self.orders):
            try:
                spool.flush()
            except OSError as error:
                lost = f", but their last rows could not be written ({error.strerror or error})"
        kept = self.workdir.keep(target) if self.workdir is not None else None
        where = f"; the run's fills and orders are kept in {kept}/ (fills.csv, orders.csv){lost}" if kept else ""
        stopped = f" (the run had stopped: {reason})" if reason else ""
        if isinstance(exc, OSError | ReportFolderError):
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else describe_error(exc)
            return ReportError(f"writing the report to {target} failed: {cause}{where}{stopped}")
        exc.add_note(f"writing the report to {target} failed{where}{stopped}")
        return exc

    def _report_target(self, out: str | Path | bool | None) -> Path | None:
        """Where the report goes (None: nowhere), refused before the run if it cannot be a folder, or if it
        asks for a tearsheet without quantstats installed."""
        if out is False:
            return None
        if out is not None and out is not True:
            target = check_target(out)
        elif self.config.report.out:
            target = check_target(self.config.resolve(self.config.report.out))
        else:
            return None
        if self.config.report.tearsheet and importlib.util.find_spec("quantstats") is None:
            raise self.config.error_at(("report", "tearsheet"), "needs quantstats: pip install 'broker-sim[tearsheet]'")
        return target

    async def _final_account(self, broker: Broker) -> Account:
        """The account at the end; after a failure, the last equity sample stands in if the broker cannot say."""
        try:
            await self._sample(broker)
        except Exception:  # the broker itself failed: what was sampled before stands
            log.exception("the final equity sample failed")
        try:
            return await broker.get_account()
        except Exception:
            last = self.equity[-1].equity if self.equity else math.nan
            return Account(cash=math.nan, equity=last, buying_power=math.nan)

    def _cancel_live(self) -> None:
        """A stop was asked for: a live run waiting for its next event stops waiting (a replay checks per block)."""
        task = self.live_task
        if task is not None and not task.done():
            task.get_loop().call_soon_threadsafe(task.cancel)

    def _write_report(
        self,
        target: Path | None,
        metrics: Metrics,
        equity: tuple[EquitySample, ...],
        reason: str | None,
        prices: list[dict[str, float]],
        benchmark: tuple[str, list[float]] | None,
    ) -> Path | None:
        if target is None:
            return None
        if self.status is not None:
            self.status(f"writing the report to {target}")
        title = self.config.report.title or (self.config.path.stem if self.config.path else "broker-sim run")
        write_report(
            target,
            metrics=metrics,
            equity=equity,
            fills=self.fills,
            orders=self.orders,
            title=title,
            config_text=redacted_yaml(self.config.text),  # the config as run, its secrets hidden
            tally=self.tally,
            complete=reason is None,
            reason=reason,
            prices=prices,
            benchmark=benchmark,
            tearsheet=self.config.report.tearsheet,
            workdir=self.workdir,
            account_events=self.account_events,
        )
        return target

    async def _live(
        self,
        broker: Broker,
        strategies: list[tuple[Strategy, StrategyBroker]],
        owners: Mapping[str, Strategy],
    ) -> None:
        """Live sources (paper-live): each event as it arrives, on the real-time clock, until the sources end."""
        process = self._processor(broker, strategies, owners, replay=False)
        clock = broker.clock

        async def on_event(event: MarketData) -> None:
            await process(((clock.time(), event),))

        self.live_task = asyncio.ensure_future(self.streams.run_live(on_event, publish=False))
        try:
            await self.live_task
        except asyncio.CancelledError:
            self.stop.check()  # stopped by a signal: say so
            raise
        finally:
            self.live_task = None

    async def _replay(
        self,
        broker: Broker,
        strategies: list[tuple[Strategy, StrategyBroker]],
        owners: Mapping[str, Strategy],
        blocks: Iterator[list[tuple[float, MarketData]]],
    ) -> None:
        """The replay, block by block (4 096 events) through the run's one per-event code, with progress reports.
        Subscribers added to the price stream take effect from the next block."""
        process = self._processor(broker, strategies, owners, replay=True)
        progress = self.progress
        estimate = _estimate(self.streams)
        thresholds = _relax_gc()
        try:
            for block in blocks:
                await process(block)
                if progress is not None:
                    progress(self.events, estimate)
                self.stop.check()
        finally:
            _restore_gc(thresholds)


def _resumed(
    broker: Broker, blocks: Iterator[list[tuple[float, MarketData]]]
) -> Iterator[list[tuple[float, MarketData]]]:
    """The replay's blocks, for an account that resumed from a journal without the events it has seen: those
    before its last change, and those of a symbol up to the latest it had seen. Events at the very moment of the
    last change come again (a strategy that must not act twice on one bar gives its orders client order ids)."""
    last, seen = broker.resume_point() if isinstance(broker, Resumable) else (None, {})
    if last is None and not seen:
        yield from blocks
        return
    horizon = max([*seen.values(), last if last is not None else -math.inf])
    skipped = 0
    for block in blocks:
        if block[0][0] <= horizon:
            kept = [
                (seconds, event)
                for seconds, event in block
                if not (last is not None and seconds < last)
                and not (event.symbol in seen and event.timestamp.timestamp() <= seen[event.symbol])
            ]
            skipped += len(block) - len(kept)
            if kept:
                yield kept
            continue
        if skipped:
            log.info("resumed from the journal: %d market event(s) already seen were skipped", skipped)
            skipped = 0
        yield block
    if skipped:
        log.info("resumed from the journal: %d market event(s) already seen were skipped", skipped)


def _last_prices(broker: Broker) -> dict[str, float] | None:
    """The broker's last market prices, if it can tell them (the paper broker); positions are marked at these."""
    if not isinstance(broker, KnowsPrices):
        return None
    try:
        return broker.last_prices()
    except Exception:  # the broker itself failed: the report marks at the last fills instead
        log.exception("reading the last market prices failed")
        return None


async def _open_orders(broker: Broker) -> list[Order]:
    try:
        return await broker.list_orders("open")
    except Exception:  # the broker itself failed: nothing more can be recorded
        log.exception("listing the open orders at the end failed")
        return []


def _stop_reason(exc: BaseException) -> str:
    """Why a run stopped early, in one line for summary.json."""
    if isinstance(exc, RunInterrupted):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
        return "interrupted"
    return describe_error(exc)


def _handlers(strategies: list[tuple[Strategy, StrategyBroker]], kind: type, symbol: str) -> list[Any]:
    """The bound handlers of the strategies that want events of `kind` for `symbol` (overridden ones only)."""
    handler = _HANDLER_FOR[kind]
    return [
        getattr(strategy, handler)
        for strategy, _ in strategies
        if overrides(strategy, handler) and (not strategy.symbols or symbol in strategy.symbols)
    ]


async def _pace(clock: Clock, seconds: float, start: float | None) -> float:
    """On the real-time clock a replay keeps its events' spacing: wait until the event's offset has passed."""
    now = clock.time()
    if start is None:
        return now - seconds
    delay = seconds + start - now
    if delay > 0:
        await clock.sleep(delay)
    return start


def _estimate(streams: PriceStreamManager) -> int | None:
    total = 0
    for source in streams.sources:
        estimate = getattr(source, "estimated_events", None)
        if estimate is None:
            return None
        total += estimate()
    return total


def _relax_gc() -> tuple[int, int, int]:
    """Raise the young-generation GC threshold for the replay: it allocates millions of short-lived events,
    and the default threshold (700) makes the collector, not the replay, the largest cost. Restored after."""
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), thresholds[1], thresholds[2])
    return thresholds


def _restore_gc(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(*thresholds)
