"""One run's parts, composed (`RunSession`): the plugins and the price stream built from the config, the stop, the
records, the equity samples, the strategies and the report. `run_simulation` and ``broker-sim paper``
(`broker_sim.run.simulate`) and ``broker-sim serve`` (`broker_sim.serve.runner`) each drive one in their own way."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from broker_sim.broker import Broker, Journaled
from broker_sim.clock import Clock, RealtimeClock
from broker_sim.config import Config
from broker_sim.models import MarketData
from broker_sim.report.curve import EquityCurve
from broker_sim.run.finish import RunReport
from broker_sim.run.loop import Processor, live_loop, make_processor, replay_loop
from broker_sim.run.progress import ProgressCallback
from broker_sim.run.records import RunRecords
from broker_sim.run.result import Result
from broker_sim.run.sampling import EquitySampler
from broker_sim.run.stopping import Stopping
from broker_sim.run.strategies import RunStrategies
from broker_sim.strategy import Strategy
from broker_sim.strategy_broker import OrderOwners, StrategyBroker
from broker_sim.streams.base import ReplaySource
from broker_sim.streams.manager import PriceStreamManager
from broker_sim.streams.realtime import RealtimeReplay
from broker_sim.wiring import Wiring, build_wiring

__all__ = ["RunSession"]

log = logging.getLogger(__name__)


class RunSession:
    """One run's wiring and its parts. Built from a checked config: the plugin manager, the sources in a
    `PriceStreamManager` (a replay played in real time as a live one with `realtime` or ``clock: realtime``).
    `wiring` is what checking the config built (`broker_sim.wiring.prepare_run`): built once, used as built.
    The parts: `stopping` (signals and failures), `records` (fills, orders, tally), `sampler` (the equity curve),
    `strategies` (built over the broker by `attach`) and `report`. A driver builds the broker, then calls
    `prepare_report`, `attach`, `resume`, ``strategies.start()``, `replay` / `live`, ``strategies.stop()`` and
    `finish`."""

    def __init__(
        self,
        config: Config,
        *,
        progress: ProgressCallback | None = None,
        status: Callable[[str], None] | None = None,
        realtime: float | None = None,
        wiring: Wiring | None = None,
    ) -> None:
        self.config = config
        self.progress = progress
        self.realtime = realtime
        # What checking the config built (`prepare_run`), used as built; a config checked earlier builds it here.
        wiring = wiring if wiring is not None else build_wiring(config)
        self.manager = wiring.manager
        self.registry = wiring.registry
        self.streams = PriceStreamManager()
        self.wall_clock = RealtimeClock()
        # With `clock: realtime` a replay source plays as a live one, in real time and stamped now, as in a paper
        # session: its old time stamps would otherwise lie in the wall clock's past.
        speed = realtime if realtime is not None else (1.0 if config.prices.clock == "realtime" else None)
        #: The sources as the config built them (before a replay is wrapped to play in real time).
        self.built_sources: list[Any] = []
        for source in wiring.sources:
            self.built_sources.append(source)
            if speed is not None and isinstance(source, ReplaySource):
                source = RealtimeReplay(source, self.wall_clock, speed=speed)
            self.streams.add_source(source)
        self.stopping = Stopping()
        self.records = RunRecords(OrderOwners(), self.stopping.fail_recording)
        self.sampler = EquitySampler()
        self.strategies = RunStrategies(config, wiring.strategies, self.records, self.stopping.fail)
        self.report = RunReport(config, status)

    @property
    def equity(self) -> EquityCurve:
        """The equity samples so far (the curve the run appends to)."""
        return self.sampler.equity

    def prepare_report(self, out: str | Path | bool | None) -> Path | None:
        """Check where the report goes and start the run's records beside it (`RunReport.prepare`)."""
        return self.report.prepare(out, self.records)

    def attach(self, broker: Broker) -> list[tuple[Strategy, StrategyBroker]]:
        """Build the strategies over `broker` and record its order and account events."""
        strategies, _ = self.strategies.attach(broker)
        return strategies

    async def resume(self, broker: Broker) -> None:
        """An account resumed from its journal: the records start with its earlier sessions, and each strategy's
        book and order numbering go on from the account's orders. Nothing for an account without a journal."""
        if not isinstance(broker, Journaled) or broker.journal is None:
            return
        self.records.resume(broker, self.sampler)
        await self.strategies.resume(broker)

    def processor(self, broker: Broker, *, replay: bool) -> Processor:
        """The run's per-event code over `broker` (`broker_sim.run.loop.make_processor`)."""
        return make_processor(
            broker,
            self.strategies,
            self.sampler,
            self.records,
            self.stopping,
            self.streams,
            self.config.report.equity_interval,
            replay=replay,
        )

    async def replay(self, broker: Broker, blocks: Iterator[list[tuple[float, MarketData]]]) -> None:
        """Replay `blocks` through the per-event code, with progress reports and stop checks per block."""
        process = self.processor(broker, replay=True)
        await replay_loop(process, blocks, self.streams, self.records, self.stopping, self.progress)

    async def live(self, broker: Broker) -> None:
        """Run the live sources until they end (or a stop), each event as it arrives."""
        process = self.processor(broker, replay=False)
        await live_loop(process, broker.clock, self.streams, self.stopping)

    async def finish(
        self, broker: Broker, clock: Clock, stopped: BaseException | None, reason: str | None = None
    ) -> Result:
        """Write the report and return the `Result` (`RunReport.finish`); raises `stopped` again after."""
        return await self.report.finish(
            broker, clock, self.records, self.sampler, self.streams.sources, stopped, reason
        )
