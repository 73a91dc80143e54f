"""The config-driven run: config -> plugins -> broker -> price stream -> strategies -> report.

`run_simulation(config)` runs to the end from plain Python; ``await arun_simulation(config)`` does the same
inside a running event loop (a notebook). On the simulated clock the run is deterministic: the same config and
seed give byte-identical ``trades.csv``.

One function handles each market event, in a replay and in a live run alike (`_Run._stepper`): it hands the
event to the broker if the adapter takes market data (`MarketDataConsumer`: two dict writes when no order works
on the symbol), calls the strategy handlers that subscribed to the symbol, delivers order events when there are
any, and samples equity through `Broker.get_account()` every `report.equity_interval`. The replay loop around it
is the hot path: per event it moves the clock (a float assignment when nothing is due) and calls the function.
Handlers that are ``async def`` but never wait complete inside ``coroutine.send``: no task and no event-loop
round trip; one that does wait (``wait_for``, ``clock.sleep``) goes on in a task while the replay
continues, and wakes when the replay moves the clock past what it waits for, as it would live.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import importlib.util
import inspect
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import CoroutineType
from typing import Any

import attrs
from rich.console import Console
from rich.progress import Progress

from broker_sim.broker import Broker, MarketDataConsumer
from broker_sim.clock import Clock, RealtimeClock, SimulatedClock
from broker_sim.config import Config
from broker_sim.errors import BrokerError, ConfigError, describe_error
from broker_sim.interrupts import RunInterrupted, StopSignals
from broker_sim.models import Account, Bar, Fill, MarketData, Order, OrderEvent, Quote, Trade, unchecked_fill
from broker_sim.plugins import build_registry
from broker_sim.report.files import HTML_TRADES, check_target, write_report
from broker_sim.report.metrics import EquitySample, Metrics, OrderOutcomes, TradeTally, metrics_from
from broker_sim.report.spool import Spool
from broker_sim.report.tearsheet import benchmark_curve
from broker_sim.strategy import Strategy, load_strategy_class, overrides
from broker_sim.strategy_broker import OrderOwners, StrategyBroker
from broker_sim.streams.base import ReplaySource
from broker_sim.streams.manager import PriceStreamManager
from broker_sim.streams.realtime import RealtimeReplay
from broker_sim.wiring import build_broker, build_source, plugin_manager, resolve_config

__all__ = ["ConfigSource", "RecordingError", "Result", "StrategyError", "arun_simulation", "run_simulation"]

log = logging.getLogger(__name__)

#: Closed orders the broker keeps in memory during a run (the run records all of them on disk itself).
BROKER_HISTORY = 10_000
#: Simulated seconds the run goes on after the last market event, so orders still on their way arrive.
DRAIN_SECONDS = 60.0
_HANDLER_FOR = {Bar: "on_bar", Quote: "on_quote", Trade: "on_trade"}


class RecordingError(BrokerError):
    """The run could not record its fills and orders (a full disk); it stopped, and the report says so."""


class StrategyError(BrokerError):
    """A strategy's handler raised; the message names the strategy, the handler and the simulated time."""


@attrs.frozen(slots=True)
class Result:
    """What a run produced: the final account, every order and fill, the equity curve, the metrics.

    With the ``[dataframes]`` extra (pandas), `fills_df`, `trades_df`, `orders_df`, `equity_df` and `returns`
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

    def fills_df(self) -> Any:
        """Every fill as a pandas DataFrame (trades.csv's columns, strategy included)."""
        return _frames().fills_frame(self.fills)

    def trades_df(self) -> Any:
        """Every round trip (FIFO within a strategy and symbol) as a DataFrame, with net P&L and holding time."""
        return _frames().trades_frame(self.fills)

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
        """Remove the temporary files `orders` and `fills` are read back from, now (they can no longer be read).
        Otherwise they go when the result is garbage-collected, which a process ended by ``os._exit`` (a process
        pool's worker) never does: a caller that keeps only the figures closes the result."""
        for items in (self.orders, self.fills):
            if isinstance(items, Spool):
                items.close()


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
    **options: Any,
) -> Result:
    """Run `config` to the end and return the `Result`.

    `config` is a `Config`, a YAML path, or a dict of the YAML's data (relative paths from the working folder).
    `overrides` change values by dotted key before the config is checked, as ``--set`` does:
    ``{"strategy.params.fast": 5, "broker.seed": 7}``. `out` is the report folder; None (the default) means the
    config's ``report.out``, False means no report files (a notebook looping over parameters).
    `progress`: a ``progress(events_done, estimated_total)`` callable, or True for a progress bar on stderr,
    False/None for none. The other options are `arun_simulation`'s."""
    return asyncio.run(arun_simulation(config, out=out, overrides=overrides, **options))


async def arun_simulation(
    config: ConfigSource,
    *,
    out: str | Path | bool | None = None,
    overrides: Mapping[str, Any] | None = None,
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
    config = resolve_config(config, overrides=overrides, env=env)
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
        for spec in config.prices.sources:
            source = build_source(config, registry, spec)
            if speed is not None and isinstance(source, ReplaySource):
                source = RealtimeReplay(source, self.wall_clock, speed=speed)
            self.streams.add_source(source)
        self.pending: deque[OrderEvent] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        #: What stopped the run from inside (a strategy's task, recording): raised at the next event.
        self.failure: BrokerError | None = None
        self.equity: list[EquitySample] = []
        #: The last market prices at each equity sample (empty when the adapter cannot tell them).
        self.prices: list[dict[str, float]] = []
        self.events = 0
        #: Every fill and every order that ended, on disk as they happen: memory stays flat however long the run.
        #: Which strategy each order is of (filled in with the strategies when the run starts).
        self.owners = OrderOwners()
        self.fills: Spool[Fill] = Spool.of_fills()
        self.orders: Spool[Order] = Spool.of_orders(self.owners)
        self.tally = TradeTally(keep=HTML_TRADES)
        self.outcomes = OrderOutcomes()
        self.stop = StopSignals()
        self.live_task: asyncio.Future[None] | None = None

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
            view = StrategyBroker(broker, name)
            strategy.broker = view
            strategy.clock = broker.clock
            strategy.symbols = tuple(spec.symbols or ())
            strategy.name = name
            built.append((strategy, view))
        return built

    # -- running handlers -----------------------------------------------------------------------------------

    def _call(self, handler: Any, argument: Any = None) -> None:
        """Call a strategy's `handler` (on_start, on_order_event, on_stop); run a coroutine it returns to its first
        real wait, then on in a task. What it raises stops the run as a `StrategyError` naming it."""
        try:
            result = handler() if argument is None else handler(argument)
            if result is not None:
                self._drive(result)
        except Exception as exc:
            raise _handler_error(handler, argument, exc) from exc

    def _drive(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run what a handler returned: a coroutine to its first real wait (then on in a task), any other
        awaitable in a task."""
        if coroutine.__class__ is not CoroutineType:
            if not inspect.isawaitable(coroutine):
                return
            coroutine = _await(coroutine)
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            return
        name = getattr(coroutine, "__qualname__", "handler")
        task = asyncio.get_running_loop().create_task(_resume(coroutine, waiting_on), name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            error = task.exception()
            self.failure = StrategyError(f"strategy handler {task.get_name()} failed: {type(error).__name__}: {error}")
            self.failure.__cause__ = error

    def _record(self, event: OrderEvent) -> None:
        """Record a fill, and an order once it ended, in the run's spools and its trade tally. If recording
        fails (a full disk), the run stops at the next event: the report must agree with the account."""
        try:
            fill = event.fill
            if event.order.legs:
                self.owners(event.order)  # remember the parent's strategy for its legs
            if fill is not None:
                strategy = self.owners(event.order)
                if strategy != fill.strategy:  # a copy naming the strategy (generated constructor: once per fill)
                    fill = unchecked_fill(
                        fill.order_id, fill.symbol, fill.side, fill.quantity, fill.price, fill.fee,
                        fill.timestamp, fill.reference_price, fill.execution_id, strategy,
                    )  # fmt: skip
                self.fills.append(fill)
                self.tally.add(fill)
            if event.order.status.is_final:
                self.orders.append(event.order)
                self.outcomes.add(event.order)
        except Exception as exc:
            if not isinstance(self.failure, RecordingError):
                self.failure = RecordingError(f"recording the run failed: {type(exc).__name__}: {exc}")
                self.failure.__cause__ = exc

    def _deliver_order_events(self, owners: list[tuple[Strategy, StrategyBroker]]) -> None:
        pending = self.pending
        while pending:
            event = pending.popleft()
            for strategy, view in owners:
                if view.owns(event.order):
                    self._call(strategy.on_order_event, event)
                    break

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
        owners: list[tuple[Strategy, StrategyBroker]],
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
        drive = self._drive
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
                        if result is not None:
                            drive(result)
                    except Exception as exc:
                        raise _handler_error(handler, event, exc) from exc
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
        target = self._report_target(out)
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
        strategies = self._strategies(broker)
        self.owners.views = [view for _, view in strategies]
        owners = [(s, v) for s, v in strategies if overrides(s, "on_order_event")]
        broker.add_listener(self._record)
        if owners:
            broker.add_listener(self.pending.append)
        stopped: BaseException | None = None
        self.stop = StopSignals(self._cancel_live)
        try:
            with self.stop:
                async with broker:
                    if getattr(broker, "journal", None) is not None:  # resumed: don't reuse its client order ids
                        known = await broker.list_orders("all")
                        for _, view in strategies:
                            view.continue_numbering(known)
                    if self.watch is not None:
                        self.watch(broker)
                    for strategy, _ in strategies:
                        self._call(strategy.on_start)
                    if first:
                        replay = _resumed(broker, itertools.chain([first], blocks))
                        await self._replay(broker, strategies, owners, replay)
                    if self.streams.live_sources:
                        await self._live(broker, strategies, owners)
                    if simulated:
                        assert isinstance(clock, SimulatedClock)
                        await clock.advance(DRAIN_SECONDS)
                    self._deliver_order_events(owners)
                    for strategy, _ in strategies:
                        self._call(strategy.on_stop)
                    self._deliver_order_events(owners)
                    await self._finish_tasks(clock)
                    self.stop.check()
                    if self.failure is not None:
                        raise self.failure
        except (Exception, KeyboardInterrupt, asyncio.CancelledError) as exc:
            stopped = exc
        return await self._finish(broker, clock, target, stopped)

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
        finally:
            if stopped is not None:
                self.fills.close()
                self.orders.close()
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
        )

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

    async def _finish_tasks(self, clock: Clock) -> None:
        """Let handlers still waiting finish if they can within the drain; cancel the rest (logged)."""
        if not self.tasks:
            return
        await asyncio.sleep(0)
        left = list(self.tasks)
        if left:
            log.warning("%d strategy handler(s) were still waiting at the end of the run and were cancelled", len(left))
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)

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
            config_text=self.config.text,
            tally=self.tally,
            complete=reason is None,
            reason=reason,
            prices=prices,
            benchmark=benchmark,
            tearsheet=self.config.report.tearsheet,
        )
        return target

    async def _live(
        self,
        broker: Broker,
        strategies: list[tuple[Strategy, StrategyBroker]],
        owners: list[tuple[Strategy, StrategyBroker]],
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
        owners: list[tuple[Strategy, StrategyBroker]],
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
    point = getattr(broker, "resume_point", None)
    last, seen = point() if point is not None else (None, {})
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
    last_prices = getattr(broker, "last_prices", None)
    try:
        return last_prices() if last_prices is not None else None
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


def _handler_error(handler: Any, event: MarketData | OrderEvent | None, exc: Exception) -> StrategyError:
    """A handler's failure, alike for every handler: the strategy, the handler, what it was handling and when."""
    strategy = getattr(handler, "__self__", None)
    name = getattr(strategy, "name", "") or type(strategy).__name__
    method = getattr(handler, "__qualname__", repr(handler))
    if isinstance(event, OrderEvent):
        what = f"{event.type.value} of order {event.order.id} ({event.order.symbol})"
        when: Any = event.timestamp
    elif event is None:
        what, when = "its call", getattr(getattr(strategy, "clock", None), "now", lambda: None)()
    else:
        what, when = f"{type(event).__name__} {event.symbol}", getattr(event, "timestamp", None)
    return StrategyError(
        f"strategy {name}: handler {method} failed on {what} at {when.isoformat() if when else '?'}: "
        f"{type(exc).__name__}: {exc}"
    )


def _handlers(strategies: list[tuple[Strategy, StrategyBroker]], kind: type, symbol: str) -> list[Any]:
    """The bound handlers of the strategies that want events of `kind` for `symbol` (overridden ones only)."""
    handler = _HANDLER_FOR[kind]
    return [
        getattr(strategy, handler)
        for strategy, _ in strategies
        if overrides(strategy, handler) and (not strategy.symbols or symbol in strategy.symbols)
    ]


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def _resume(coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
    """Go on running a coroutine that `_drive` started and that now waits on `waiting_on` (a future or None)."""
    while True:
        try:
            if waiting_on is None:
                await asyncio.sleep(0)
            else:
                waiting_on._asyncio_future_blocking = False
                await asyncio.wait((waiting_on,))
        except asyncio.CancelledError:
            coroutine.close()
            raise
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            return


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
