"""The run of `run_simulation` and ``broker-sim paper``: the replay to its end (then live sources, if any), on the
simulated clock (or the real-time one for a paper session), then the report."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from broker_sim.broker import Broker
from broker_sim.clock import Clock, SimulatedClock
from broker_sim.run.loop import DRAIN_SECONDS, relax_gc, restore_gc, resumed
from broker_sim.run.result import Result
from broker_sim.run.session import RunSession
from broker_sim.wiring import build_broker, check_live_safety

__all__ = ["BROKER_HISTORY", "simulate"]

#: Closed orders the broker keeps in memory during a run (the run records all of them on disk itself).
BROKER_HISTORY = 10_000


async def simulate(
    session: RunSession, out: str | Path | bool | None, watch: Callable[[Broker], Any] | None = None
) -> Result:
    """Run to the end, or until stopped (a signal, a failing strategy, bad data, a lost feed): either way the
    report holds everything up to that moment (``complete: false`` and the reason when it stopped early), then
    the stop is raised again. `watch(broker)` is called once the broker is connected, before any event."""
    config = session.config
    session.prepare_report(out)
    simulated = config.prices.clock == "simulated" and session.realtime is None
    blocks = session.streams.replay_blocks()
    thresholds = relax_gc()  # the first block is read here: as many short-lived events as any other block
    try:
        first = next(blocks, None)
    finally:
        restore_gc(thresholds)
    if simulated:
        start = first[0][0] if first else 0.0
        clock: Clock = SimulatedClock(start, auto_advance=False)
    else:
        clock = session.wall_clock
    broker = build_broker(
        config, clock=clock, manager=session.manager, history=BROKER_HISTORY, registry=session.registry
    )
    check_live_safety(config, broker, session.built_sources)
    session.attach(broker)
    strategies = session.strategies
    stopping = session.stopping
    stopped: BaseException | None = None
    try:
        with stopping.watch(stopping.cancel_live):
            async with broker:
                await session.resume(broker)
                if watch is not None:
                    watch(broker)
                strategies.start()
                await strategies.flush()
                if first:
                    await session.replay(broker, resumed(broker, itertools.chain([first], blocks)))
                if session.streams.live_sources:
                    await session.live(broker)
                if simulated:
                    assert isinstance(clock, SimulatedClock)
                    await clock.advance(DRAIN_SECONDS)
                await strategies.flush()
                strategies.stop()
                await strategies.flush()
                await strategies.dispatch.finish()
                stopping.check()
    except (Exception, KeyboardInterrupt, asyncio.CancelledError) as exc:
        stopped = exc
    return await session.finish(broker, clock, stopped)
