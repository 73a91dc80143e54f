"""The run's loops: one per-event code (`make_processor`) for the replay (blocks of events in time order: the hot
path) and the live run (each event as it arrives), and their helpers (which handlers an event goes to, pacing on the
real-time clock, a journaled account's resumed replay, the collector's threshold).

Per event: a replay first brings the clock to the event's time; then the event goes to the broker if the adapter
takes market data (`MarketDataConsumer`: two dict writes when no order works on the symbol), to the strategy
handlers of its symbol, to the strategies' order events, to an equity sample every `report.equity_interval`, and
to the price-stream subscribers."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, Final

from broker_sim.broker import BarStoreInLine, Broker, MarketDataConsumer, Resumable
from broker_sim.clock import Clock, SimulatedClock
from broker_sim.errors import OrderRefused
from broker_sim.models import Bar, MarketData, Quote, Trade
from broker_sim.run.dispatch import handler_error
from broker_sim.run.progress import ProgressCallback
from broker_sim.run.records import RunRecords
from broker_sim.run.sampling import EquitySampler
from broker_sim.run.stopping import Stopping
from broker_sim.run.strategies import RunStrategies
from broker_sim.strategy import Strategy, overrides
from broker_sim.strategy_broker import StrategyBroker
from broker_sim.streams.manager import PriceStreamManager

__all__ = [
    "DRAIN_SECONDS",
    "Processor",
    "estimated_events",
    "handlers_of",
    "live_loop",
    "make_processor",
    "market_in_line",
    "pace",
    "relax_gc",
    "replay_loop",
    "restore_gc",
    "resumed",
]

log = logging.getLogger(__name__)

#: Simulated seconds the run goes on after the last market event, so orders still on their way arrive.
DRAIN_SECONDS = 60.0
_HANDLER_FOR = {Bar: "on_bar", Quote: "on_quote", Trade: "on_trade"}
# (Final: the compiled build keeps it in a C variable, not looked up in `models`' dict per event)
_BAR: Final = Bar

#: ``await process(pairs)``: handles ``(posix_seconds, event)`` pairs in order.
Processor = Callable[[Sequence[tuple[float, MarketData]]], Coroutine[Any, Any, None]]


def make_processor(
    broker: Broker,
    strategies: RunStrategies,
    sampler: EquitySampler,
    records: RunRecords,
    stopping: Stopping,
    streams: PriceStreamManager,
    interval: float,
    *,
    replay: bool,
) -> Processor:
    """The run's one per-event code, for a replay and a live run alike: ``await process(pairs)`` handles
    ``(posix_seconds, event)`` pairs in order (a replay hands it blocks, a live run one event at a time).

    Per event: a replay first brings the clock to the event's time (simulated: a float assignment when
    nothing is due, and the timers due before the event, an order's arrival, run in place by `move_to`,
    with no coroutine; real time: it keeps the events' spacing); then the event goes to the broker if the
    adapter takes market data, to the strategy handlers of its symbol, to the strategies' order events,
    to an equity sample every `interval` seconds, and to the price-stream subscribers. A handler that
    raises, or one that failed in its task, stops the run with a `StrategyError` naming it."""
    clock = broker.clock
    # (the clock itself, not its bound `move_to`: the compiled build then calls the method natively)
    simulated = clock if replay and isinstance(clock, SimulatedClock) else None
    # The same clock when its `move_to` is `SimulatedClock`'s own (not a subclass's, as `serve`'s `PacedClock`):
    # while no timer is due (`_due`), the step to an event is that `move_to`'s own assignment, done here without
    # the call (most events; pure Python saves a frame per event).
    stepped = simulated if simulated is not None and type(simulated).move_to is SimulatedClock.move_to else None
    paced = replay and simulated is None
    update = broker.update_market_nowait if isinstance(broker, MarketDataConsumer) else None
    # The paper broker's own market dict and book when `update` is its `MarketFeed.update` (`market_in_line`): while
    # no order rests on any symbol (the book empty), a bar's update is that method's one dict store, done here
    # without the call (every bar of a run of market orders; ~0.9k instructions a bar in pure Python).
    market, book = market_in_line(update)
    pending = strategies.pending
    deliver = strategies.deliver
    refused = strategies.refused
    built = strategies.built
    owners = strategies.listening
    dispatcher = strategies.dispatch
    dispatch = dispatcher.dispatch
    settle_here = dispatcher.settle_here
    sample = sampler.sample
    cache: dict[tuple[type, str], list[Any]] = {}
    next_sample = -float("inf")
    paced_start: float | None = None
    # The handlers of the last event's kind and symbol: a run of events of one symbol looks them up once. (A
    # symbol's handlers are found when its first event comes, so a strategy may still name its symbols then.)
    last_kind: type | None = None
    last_symbol = ""
    handlers: list[Any] = []

    async def process(pairs: Sequence[tuple[float, MarketData]]) -> None:
        nonlocal next_sample, paced_start, last_kind, last_symbol, handlers
        publish = streams.publish if streams.has_subscribers else None
        for seconds, event in pairs:
            if stepped is not None and seconds < stepped._due:
                if seconds > stepped._now:
                    stepped._now = seconds
            elif simulated is not None:
                if not simulated.move_to(seconds):
                    await simulated.advance_to(seconds, events_pending=True)
            elif paced:
                paced_start = await pace(clock, seconds, paced_start)
            kind = type(event)
            if kind is _BAR and market is not None and not book:
                market[event.symbol] = event  # (`MarketFeed.update`, in line: `market_in_line` says when)
            elif update is not None:
                update(event)
            if pending:
                deliver(owners)
            if kind is not last_kind or event.symbol != last_symbol:
                last_kind, last_symbol = key = (kind, event.symbol)
                found = cache.get(key)
                if found is None:
                    found = cache[key] = handlers_of(built, *key)
                handlers = found
            for handler in handlers:
                try:
                    result = handler(event)
                except OrderRefused as exc:
                    refused(handler, event, exc)
                    continue
                except (Exception, SystemExit) as exc:
                    raise handler_error(handler, event, exc) from exc
                if result is not None:
                    dispatch(result, handler, event)
            while pending or dispatcher.unsettled:
                if dispatcher.unsettled and not settle_here():  # 3.11: the tasks just started take their first step
                    await dispatcher.settle()
                if pending:
                    deliver(owners)
            if stopping.failure is not None:
                raise stopping.failure
            if seconds >= next_sample:
                next_sample = seconds - seconds % interval + interval
                await sample(broker)
            if publish is not None:
                publish(event)
        records.events += len(pairs)

    return process


async def replay_loop(
    process: Processor,
    blocks: Iterator[list[tuple[float, MarketData]]],
    streams: PriceStreamManager,
    records: RunRecords,
    stopping: Stopping,
    progress: ProgressCallback | None,
) -> None:
    """The replay, block by block (4 096 events) through the run's one per-event code, with progress reports and
    a look at the stop signals after each block. Subscribers added to the price stream take effect from the next
    block."""
    estimate = estimated_events(streams)
    thresholds = relax_gc()
    try:
        for block in blocks:
            await process(block)
            del block  # (let go before the next is built: it then reuses the memory, `CsvSource._arrow_blocks`)
            if progress is not None:
                progress(records.events, estimate)
            stopping.signals.check()
    finally:
        restore_gc(thresholds)


async def live_loop(process: Processor, clock: Clock, streams: PriceStreamManager, stopping: Stopping) -> None:
    """Live sources (paper-live): each event as it arrives, on the real-time clock, until the sources end (or a stop
    cancels the wait: `Stopping.cancel_live`)."""

    async def on_event(event: MarketData) -> None:
        await process(((clock.time(), event),))

    stopping.live_task = asyncio.ensure_future(streams.run_live(on_event, publish=False))
    try:
        await stopping.live_task
    except asyncio.CancelledError:
        stopping.signals.check()  # stopped by a signal: say so
        raise
    finally:
        stopping.live_task = None


def resumed(
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


def market_in_line(update: Callable[[MarketData], None] | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The market dict and the resting-order book `process` may update a bar into itself, as the object `update`
    is a method of tells (its ``bar_store_in_line(update)``: `MarketFeed.bar_store_in_line` of the paper broker,
    when `update` is the feed's own `update`, the broker's `update_market_nowait` in a replay), else ``(None,
    {})``. While the book is empty (no order ever rested: it keeps a symbol once one did), the update of a bar is
    ``market[bar.symbol] = bar`` and nothing else; a quote, a trade, or a bar while the book is not empty goes to
    `update` itself.

    (Asked through the `BarStoreInLine` protocol, not by class: the run's floor does not import the paper adapter's
    modules.)"""
    feed = getattr(update, "__self__", None)
    found = feed.bar_store_in_line(update) if isinstance(feed, BarStoreInLine) else None
    return found if found is not None else (None, {})


def handlers_of(strategies: list[tuple[Strategy, StrategyBroker]], kind: type, symbol: str) -> list[Any]:
    """The bound handlers of the strategies that want events of `kind` for `symbol` (overridden ones only)."""
    handler = _HANDLER_FOR[kind]
    return [
        getattr(strategy, handler)
        for strategy, _ in strategies
        if overrides(strategy, handler) and (not strategy.symbols or symbol in strategy.symbols)
    ]


async def pace(clock: Clock, seconds: float, start: float | None) -> float:
    """On the real-time clock a replay keeps its events' spacing: wait until the event's offset has passed."""
    now = clock.time()
    if start is None:
        return now - seconds
    delay = seconds + start - now
    if delay > 0:
        await clock.sleep(delay)
    return start


def estimated_events(streams: PriceStreamManager) -> int | None:
    total = 0
    for source in streams.sources:
        estimate = getattr(source, "estimated_events", None)
        if estimate is None:
            return None
        total += estimate()
    return total


def relax_gc() -> tuple[int, int, int]:
    """Raise the young-generation GC threshold for the replay: it allocates millions of short-lived events,
    and the default threshold (700) makes the collector, not the replay, the largest cost. Restored after."""
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), thresholds[1], thresholds[2])
    return thresholds


def restore_gc(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(*thresholds)
