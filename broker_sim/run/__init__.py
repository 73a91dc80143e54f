"""The config-driven run: config -> plugins -> broker -> price stream -> strategies -> report.

`run_simulation(config)` runs to the end from plain Python; ``await arun_simulation(config)`` does the same
inside a running event loop (a notebook). On the simulated clock the run is deterministic: the same config and
seed give byte-identical ``trades.csv``.

The run is composed of small parts (`RunSession` holds them; CONTRIBUTING's "Architecture" draws them). One
function handles each market event, in a replay and in a live run alike (`broker_sim.run.loop`): it hands the
event to the broker if the adapter takes market data (`MarketDataConsumer`: two dict writes when no order works
on the symbol), calls the strategy handlers that subscribed to the symbol, delivers order events when there are
any, and samples equity through `Broker.get_account()` every `report.equity_interval`. The replay loop around it
is the hot path: per event it moves the clock (a float assignment when nothing is due) and calls the function.
What a handler returns, when it is a coroutine, runs as a real task of its own from start to end
(`broker_sim.run.dispatch`: eager on Python 3.12+, one loop turn per such event on 3.11); one that waits
(``wait_for``, ``clock.sleep``) goes on while the replay continues, and wakes when the replay moves the clock past
what it waits for, as it would live.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from broker_sim.broker import Broker
from broker_sim.config import Config
from broker_sim.models import MarketData
from broker_sim.run.dispatch import StrategyError
from broker_sim.run.progress import ProgressBar, ProgressCallback
from broker_sim.run.result import RecordingError, ReportError, Result
from broker_sim.run.session import RunSession
from broker_sim.run.simulate import simulate
from broker_sim.wiring import prepare_run

__all__ = [
    "ConfigSource",
    "RecordingError",
    "ReportError",
    "Result",
    "StrategyError",
    "arun_simulation",
    "run_simulation",
]

#: What `run_simulation` takes as a config: a `Config`, a YAML file's path, or the YAML's data as a dict.
ConfigSource = Config | str | Path | Mapping[str, Any]


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
    config, wiring = prepare_run(config, overrides=overrides, env=env, data=data)
    bar = ProgressBar() if progress is True else None
    callback = bar if bar is not None else (progress if callable(progress) else None)
    session = RunSession(config, progress=callback, status=status, realtime=realtime, wiring=wiring)
    for subscriber in subscribers:
        session.streams.subscribe(subscriber)
    try:
        return await simulate(session, out, watch)
    finally:
        if bar is not None:
            bar.stop()
