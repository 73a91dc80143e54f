"""The run's loops: the replay (blocks of events in time order, the hot path) and its helpers (which handlers an
event goes to, pacing on the real-time clock, a journaled account's resumed replay, the collector's threshold)."""

from __future__ import annotations

import gc
import logging
import math
from collections.abc import Iterator
from typing import Any

from broker_sim.broker import Broker
from broker_sim.clock import Clock
from broker_sim.models import Bar, MarketData, Quote, Trade
from broker_sim.strategy import Strategy, overrides
from broker_sim.strategy_broker import StrategyBroker
from broker_sim.streams.manager import PriceStreamManager

__all__ = ["DRAIN_SECONDS", "estimated_events", "handlers_of", "pace", "relax_gc", "restore_gc", "resumed"]

log = logging.getLogger(__name__)

#: Simulated seconds the run goes on after the last market event, so orders still on their way arrive.
DRAIN_SECONDS = 60.0
_HANDLER_FOR = {Bar: "on_bar", Quote: "on_quote", Trade: "on_trade"}


def resumed(
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
