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

from broker_sim.broker import Broker, MarketDataConsumer
from broker_sim.clock import Clock, RealtimeClock, SimulatedClock
from broker_sim.config import Config
from broker_sim.errors import BrokerError, ConfigError, describe_error
from broker_sim.interrupts import RunInterrupted, StopSignals
from broker_sim.models import Account, Bar, Fill, MarketData, Order, OrderEvent, Quote, Trade
from broker_sim.plugins import build_registry
from broker_sim.report.files import HTML_TRADES, check_target, write_report
from broker_sim.report.metrics import EquitySample, Metrics, OrderOutcomes, TradeTally, metrics_from
from broker_sim.report.spool import Spool
from broker_sim.strategy import Strategy, load_strategy_class, overrides
from broker_sim.strategy_broker import StrategyBroker
from broker_sim.streams.manager import PriceStreamManager
from broker_sim.wiring import build_broker, build_source, load_config, plugin_manager

__all__ = ["RecordingError", "Result", "StrategyError", "arun_simulation", "run_simulation"]

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
    """What a run produced: the final account, every order and fill, the equity curve, the metrics."""

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


def run_simulation(config: Config | str | Path, *, out: str | Path | None = None, **options: Any) -> Result:
    """Run the config (a `Config` or a YAML path) to the end and return the `Result`; writes the report to
    `out` (default: the config's ``report.out``; no report when neither is set)."""
    return asyncio.run(arun_simulation(config, out=out, **options))


async def arun_simulation(
    config: Config | str | Path,
    *,
    out: str | Path | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    subscribers: Iterable[Callable[[MarketData], Any]] = (),
    env: Mapping[str, str] | None = None,
) -> Result:
    """`run_simulation` for code already inside an event loop. `progress(events_done, estimated_total)` is
    called every few thousand events; `subscribers` (sync or async callables, e.g. a dashboard) receive every
    market event through the run's `PriceStreamManager`, under its delivery policy."""
    if not isinstance(config, Config):
        config = load_config(config, env=env)
    run = _Run(config, progress)
    for subscriber in subscribers:
        run.streams.subscribe(subscriber)
    return await run.execute(out)


class _Run:
    """One run's wiring and state."""

    def __init__(self, config: Config, progress: Callable[[int, int | None], None] | None) -> None:
        self.config = config
        self.progress = progress
        self.manager = plugin_manager(config)
        registry = build_registry(self.manager)
        self.streams = PriceStreamManager()
        for spec in config.prices.sources:
            self.streams.add_source(build_source(config, registry, spec))
        self.pending: deque[OrderEvent] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        #: What stopped the run from inside (a strategy's task, recording): raised at the next event.
        self.failure: BrokerError | None = None
        self.equity: list[EquitySample] = []
        self.events = 0
        #: Every fill and every order that ended, on disk as they happen: memory stays flat however long the run.
        self.fills: Spool[Fill] = Spool.of_fills()
        self.orders: Spool[Order] = Spool.of_orders()
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
            if fill is not None:
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
        self.equity.append(EquitySample(broker.clock.now(), account.equity, account.gross_exposure))

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

    async def execute(self, out: str | Path | None) -> Result:
        """Run to the end, or until stopped (a signal, a failing strategy, bad data, a lost feed): either way the
        report holds everything up to that moment (``complete: false`` and the reason when it stopped early),
        then the stop is raised again."""
        target = self._report_target(out)
        simulated = self.config.prices.clock == "simulated"
        blocks = self.streams.replay_blocks()
        first = next(blocks, None)
        if simulated:
            start = first[0][0] if first else 0.0
            clock: Clock = SimulatedClock(start, auto_advance=False)
        else:
            clock = RealtimeClock()
        broker = build_broker(self.config, clock=clock, manager=self.manager, history=BROKER_HISTORY)
        strategies = self._strategies(broker)
        owners = [(s, v) for s, v in strategies if overrides(s, "on_order_event")]
        broker.add_listener(self._record)
        if owners:
            broker.add_listener(self.pending.append)
        stopped: BaseException | None = None
        self.stop = StopSignals(self._cancel_live)
        try:
            with self.stop:
                async with broker:
                    for strategy, _ in strategies:
                        self._call(strategy.on_start)
                    if first:
                        await self._replay(broker, strategies, owners, itertools.chain([first], blocks))
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
        metrics = metrics_from(
            equity, self.tally, len(self.orders), initial, outcomes=self.outcomes, skipped_rows=skipped
        )
        if stopped is not None:
            reason = _stop_reason(stopped)
        try:
            report_dir = self._write_report(target, metrics, equity, self.fills, self.orders, reason)
        finally:
            if stopped is not None:
                self.fills.close()
                self.orders.close()
        if stopped is not None:
            if isinstance(stopped, BrokerError):
                stopped.report_dir = report_dir  # type: ignore[attr-defined]
            raise stopped
        return Result(account, self.orders, self.fills, equity, metrics, report_dir, self.events, self.config)

    def _report_target(self, out: str | Path | None) -> Path | None:
        """Where the report goes, refused before the run if it cannot be a folder."""
        if out is not None:
            return check_target(out)
        if self.config.report.out:
            return check_target(self.config.resolve(self.config.report.out))
        return None

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
        fills: Spool[Fill],
        orders: Spool[Order],
        reason: str | None,
    ) -> Path | None:
        if target is None:
            return None
        title = self.config.report.title or (self.config.path.stem if self.config.path else "broker-sim run")
        write_report(
            target,
            metrics=metrics,
            equity=equity,
            fills=fills,
            orders=orders,
            title=title,
            config_text=self.config.text,
            tally=self.tally,
            complete=reason is None,
            reason=reason,
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
