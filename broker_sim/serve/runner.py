"""A served run: the config's broker, replay and strategies as `broker-sim run` builds them, with the Alpaca API in
front, until SIGINT or SIGTERM; then the same report as `broker-sim run` writes.

With ``prices.clock: simulated`` the replay unfolds at `speed` simulated seconds per wall second (`PacedClock`);
at ``max`` it goes as fast as the slowest listening client reads. After the replay's last event the clock goes
on, so orders still fill at the last prices. With ``clock: realtime`` live sources feed the broker as they would
in a paper-live run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from broker_sim.adapters.paper import PaperBroker
from broker_sim.broker import NamesSymbol, NamesSymbols
from broker_sim.clock import Clock, RealtimeClock
from broker_sim.config import Config
from broker_sim.errors import BrokerError, ConfigError, JournalError
from broker_sim.interrupts import RunInterrupted
from broker_sim.journal import read_info
from broker_sim.models import MarketData
from broker_sim.report.metrics import EquitySample
from broker_sim.run.loop import resumed
from broker_sim.run.result import Result
from broker_sim.run.session import RunSession
from broker_sim.streams.base import LiveSource, ReplaySource
from broker_sim.streams.manager import PriceStreamManager
from broker_sim.streams.realtime import RealtimeReplay
from broker_sim.wiring import build_broker, load_config

from .app import create_app
from .clock import PacedClock
from .data_stream import DataStreams
from .market import MarketHistory
from .settings import ServeSettings
from .state import Served

__all__ = ["ServeRun", "aserve", "serve"]

log = logging.getLogger(__name__)

_DAY_S = 86_400.0
#: Closed orders the served broker keeps for GET /v2/orders?status=closed.
SERVE_HISTORY = 100_000
#: Events handed to the run's per-event code at once: at --speed max requests run in between.
_CHUNK = 64
#: How often and how long to look whether uvicorn has started (it starts in milliseconds: the socket is bound).
_START_POLLS, _START_POLL_S = 1000, 0.005
#: At --speed max, the replay waits while a listening client has more than this many messages unsent.
MAX_BACKLOG = 256


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the run's `StopSignals` decides what a signal does."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ServeRun:
    """One served run. `execute` serves until `stop()` (or a signal), then writes the report.

    It drives a `RunSession` (the parts `run_simulation` composes: the price stream, the strategies, the records,
    the equity samples, the report) with the Alpaca API in front. `served` (the account the API serves) and
    `port` (the bound port: useful with port 0) are set once the server listens; `ready` is set then too."""

    def __init__(
        self, config: Config, settings: ServeSettings, *, on_ready: Callable[[ServeRun], None] | None = None
    ) -> None:
        self.session = RunSession(config)
        self.config = config
        self.settings = settings
        for source in self.streams.sources:
            if isinstance(source, RealtimeReplay):  # `clock: realtime`: the replay stamped relative to the present
                source.history_s = settings.history_days * _DAY_S
        self.on_ready = on_ready
        self.served: Served | None = None
        self.port: int | None = None
        self.ready = asyncio.Event()
        self.replay_done = False
        #: Set when the replay has delivered its last event (tests and monitors wait on it).
        self.replayed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def streams(self) -> PriceStreamManager:
        """The run's price stream (its sources and subscribers)."""
        return self.session.streams

    @property
    def equity(self) -> Sequence[EquitySample]:
        """The run's equity samples so far."""
        return self.session.sampler.equity

    def shutdown(self) -> None:
        """Ask the server to stop and write its report (thread- and signal-safe)."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._stopping.set)

    async def execute(self, out: str | Path | bool | None) -> Result:
        """Serve until stopped, then write the report; returns the run's `Result`."""
        self._loop = asyncio.get_running_loop()
        session = self.session
        session.prepare_report(out)
        blocks = self.streams.replay_blocks()
        first = next(blocks, None)
        clock: Clock
        if self.config.prices.clock == "simulated":
            start = first[0][0] if first else RealtimeClock().time()
            clock = PacedClock(start, self.settings.speed, paused=self.settings.wait_for_client)
        else:
            clock = RealtimeClock()
        broker = build_broker(
            self.config, clock=clock, manager=session.manager, history=SERVE_HISTORY, registry=session.registry
        )
        if not isinstance(broker, PaperBroker):
            raise self.config.error_at(
                ("broker", "adapter"), "broker-sim serve serves the paper adapter; set broker.adapter: paper"
            )
        resume = _journal_resume_time(broker)
        if isinstance(clock, PacedClock) and resume is not None and resume > clock.time():
            clock.start_at(resume)  # a resumed account goes on from its last change (never moves time back)
        listener = _listen(self.settings.host, self.settings.port)
        market = MarketHistory(_declared_symbols(self.streams.sources))
        self.streams.subscribe(market, name="served market data")
        served = Served(broker, self.settings, market)
        served.equity = self.equity
        app = create_app(served)
        session.attach(broker)
        strategies = session.strategies
        server = _Server(
            uvicorn.Config(
                app,
                log_level="warning",
                lifespan="off",
                ws="websockets-sansio",
                access_log=False,
                ws_max_size=self.settings.max_body_bytes,  # a websocket frame is bounded as a body is, auth or not
            )
        )
        stopped: BaseException | None = None
        signals = session.stopping.watch(self.shutdown)
        server_task: asyncio.Task[Any] | None = None
        feed_task: asyncio.Task[Any] | None = None
        try:
            with signals:
                async with broker:
                    await session.resume(broker)
                    if broker.journal is not None:  # resumed: the account's watchlists too
                        served.recall()
                    server_task = asyncio.create_task(server.serve(sockets=[listener]), name="uvicorn")
                    await _started(server, server_task)
                    self.served, self.port = served, listener.getsockname()[1]
                    strategies.start()
                    await strategies.flush()
                    feed_task = asyncio.create_task(self._feed(broker, first, blocks, served))
                    stopping = asyncio.ensure_future(self._stopping.wait())
                    self.ready.set()
                    if self.on_ready is not None:
                        self.on_ready(self)
                    done, _ = await asyncio.wait(
                        {server_task, feed_task, stopping}, return_when=asyncio.FIRST_COMPLETED
                    )
                    stopping.cancel()
                    for task in done:
                        if task is not server_task and task is not feed_task:
                            continue
                        task.result()  # a failure in the feed or the server stops the run with it
                    await strategies.flush()
                    strategies.stop()
                    await strategies.flush()
                    await strategies.dispatch.finish()
                    if session.stopping.failure is not None:
                        raise session.stopping.failure
        except (Exception, KeyboardInterrupt, asyncio.CancelledError) as exc:
            stopped = exc
        finally:
            server.should_exit = True
            for running in (feed_task, server_task):
                if running is not None and not running.done():
                    if running is feed_task:
                        running.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await running
            listener.close()
        reason = None
        if signals.requested is not None and not self.replay_done:
            reason = f"{RunInterrupted(signals.requested)} before {self._unfinished()}"
        elif stopped is None and not self.replay_done:
            reason = f"stopped before {self._unfinished()}"
        return await session.finish(broker, clock, stopped, reason)

    def _unfinished(self) -> str:
        """What had not ended when the server stopped, for the report's reason: a live run's feeds (they end only
        when they give up or close), else the replay."""
        lives = len(self.streams.live_sources)
        if lives:
            return "the live feed ended" if lives == 1 else "the live feeds ended"
        return "the end of the replay"

    async def _feed(
        self,
        broker: PaperBroker,
        first: list[tuple[float, MarketData]] | None,
        blocks: Iterator[list[tuple[float, MarketData]]],
        served: Served,
    ) -> None:
        """The replay through the run's per-event code, paced by the clock; then time goes on until stopped. A
        live run (``clock: realtime``) feeds its live sources instead."""
        clock = broker.clock
        process = self.session.processor(broker, replay=True)
        if self.settings.wait_for_client:
            streams = [hub for hub in served.hubs if isinstance(hub, DataStreams)]
            log.info("waiting for a client to subscribe to the data stream before the replay starts")
            await streams[0].subscribed.wait()
            if isinstance(clock, PacedClock):
                clock.restart()
        if first:
            paced = isinstance(clock, PacedClock) and clock.paced
            for block in resumed(broker, _chain(first, blocks)):
                for start in range(0, len(block), _CHUNK):
                    await process(block[start : start + _CHUNK])
                    if not paced:
                        await self._drained(served)
        if self.streams.live_sources:
            await self.session.live(broker)
        self.replay_done = True
        self.replayed.set()
        log.info("the replay has ended at %s; serving on", clock.now().isoformat())
        if isinstance(clock, PacedClock):
            await clock.run_on()
        else:
            await asyncio.Event().wait()  # a live run without live sources: serve until stopped

    @staticmethod
    async def _drained(served: Served) -> None:
        """At --speed max: let requests run, and wait while a listening client lags behind."""
        await asyncio.sleep(0)
        for hub in served.hubs:
            await hub.drained(MAX_BACKLOG)


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Wait until uvicorn listens; raise what stopped it if it could not start."""
    for _ in range(_START_POLLS):
        if server.started:
            return
        if task.done():
            task.result()
            raise BrokerError("the server stopped while starting")
        await asyncio.sleep(_START_POLL_S)  # uvicorn tells no event when it has started
    raise BrokerError("the server did not start")


def _journal_resume_time(broker: PaperBroker) -> float | None:
    """The clock time of the last change in the broker's journal, if it has one already (read without opening
    it: the clock must start there before the broker connects). A journal that cannot be read gives None:
    connecting then says what is wrong with it."""
    path = broker.settings.journal
    if path is None or not Path(path).exists():
        return None
    try:
        return read_info(path).last_change_time
    except JournalError:
        return None


def _chain(
    first: list[tuple[float, MarketData]], blocks: Iterator[list[tuple[float, MarketData]]]
) -> Iterator[list[tuple[float, MarketData]]]:
    yield first
    yield from blocks


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a `ConfigError` saying why not (the port is taken, say)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit it: without it a response written in two parts waits ~40 ms for an ACK.
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind((host, port))
        listener.listen(128)
        listener.setblocking(False)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return listener


def _declared_symbols(sources: Iterable[ReplaySource | LiveSource]) -> set[str]:
    """The symbols the sources say they carry (csv's `symbol`, synthetic's `symbols`, a feed's `symbols`)."""
    found: set[str] = set()
    for source in sources:
        if isinstance(source, NamesSymbol) and isinstance(source.symbol, str):
            found.add(source.symbol)
        if isinstance(source, NamesSymbols) and source.symbols is not None and not isinstance(source.symbols, str):
            found.update(s for s in source.symbols if isinstance(s, str))
    return found


async def aserve(
    config: Config | str | Path,
    settings: ServeSettings | None = None,
    *,
    out: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    on_ready: Callable[[ServeRun], None] | None = None,
) -> Result:
    """Serve `config` until SIGINT/SIGTERM (from inside a running event loop); returns the run's `Result`.

    `on_ready(run)` is called once the server listens (`run.port` is the bound port)."""
    if not isinstance(config, Config):
        config = load_config(config, env=env, served=True)
    if settings is None:
        settings = ServeSettings.from_config(config, env=os.environ if env is None else env)
    return await ServeRun(config, settings, on_ready=on_ready).execute(out)


def serve(config: Config | str | Path, settings: ServeSettings | None = None, **options: Any) -> Result:
    """`aserve` from plain Python: serves until SIGINT/SIGTERM, then writes the report and returns."""
    return asyncio.run(aserve(config, settings, **options))
