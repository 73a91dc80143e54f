"""The end of a run: where its report goes (checked before the run starts), the report written from the run's
records (complete, or with the reason it stopped early), and the `Result`. A report that cannot be written keeps
the run's fills and orders and says where."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from broker_sim.broker import Broker
from broker_sim.clock import Clock
from broker_sim.config import Config
from broker_sim.errors import BrokerError, describe_error
from broker_sim.redact import redacted_yaml
from broker_sim.report.curve import EquityCurve
from broker_sim.report.files import write_report
from broker_sim.report.metrics import Metrics, metrics_from
from broker_sim.report.target import ReportFolderError, check_target
from broker_sim.report.tearsheet import benchmark_of
from broker_sim.report.workdir import Workdir
from broker_sim.run.records import RunRecords
from broker_sim.run.result import ReportError, Result
from broker_sim.run.sampling import EquitySampler
from broker_sim.run.stopping import open_orders, stop_reason

__all__ = ["RunReport"]

log = logging.getLogger(__name__)


class RunReport:
    """A run's report: `prepare` (before the run) checks where it goes and makes the run's working folder beside
    it; `finish` (after) writes it and returns the `Result`, or raises again what stopped the run."""

    def __init__(self, config: Config, status: Callable[[str], None] | None = None) -> None:
        self.config = config
        #: Hears what the run does past the replay ("writing the report to ...").
        self.status = status
        #: Where the report goes (None: nowhere), once `prepare` said.
        self.target: Path | None = None

    def prepare(self, out: str | Path | bool | None, records: RunRecords) -> Path | None:
        """Where the report goes (None: nowhere), checked before the run (`target_of`), and the run's working
        folder beside it (`Workdir`: creating it proves the report can be written there), which holds the spools
        of the run's fills and orders."""
        self.target = self.target_of(out)
        records.open(Workdir.create(self.target))
        return self.target

    def target_of(self, out: str | Path | bool | None) -> Path | None:
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

    async def finish(
        self,
        broker: Broker,
        clock: Clock,
        records: RunRecords,
        sampler: EquitySampler,
        sources: Iterable[Any],
        stopped: BaseException | None,
        reason: str | None = None,
    ) -> Result:
        """Write the report of a run that ended (`stopped`: what stopped it early, raised again after the report
        is written; `reason`: why it is incomplete when nothing was raised) and return its `Result`."""
        account = await sampler.final_account(broker)
        for order in await open_orders(broker):
            records.add_order(order)  # still working at the end: recorded as they stand
        equity = sampler.curve
        if not equity:
            equity.append(clock.time(), account.equity, 0.0)
        # An adapter that does not report its initial balance (Alpaca) starts from the first equity sample.
        initial = account.initial_balance if account.initial_balance is not None else equity.equity[0]
        skipped = sum(getattr(source, "skipped_rows", 0) for source in sources)
        prices = equity.prices
        wanted = self.config.report.benchmark
        benchmark = benchmark_of(equity, initial, wanted)
        if wanted and benchmark is None:
            log.warning("report.benchmark %s had no price in the run: the report has no benchmark", wanted)
        metrics = metrics_from(
            equity,
            records.tally,
            len(records.orders),
            initial,
            outcomes=records.outcomes,
            skipped_rows=skipped,
            prices=equity.prices_at(-1),
            benchmark=benchmark[1] if benchmark else None,
            benchmark_name=benchmark[0] if benchmark else "",
        )
        if stopped is not None:
            reason = stop_reason(stopped)
        try:
            report_dir = self.write(records, metrics, equity, reason, prices, benchmark)
        except Exception as exc:
            raise self.failed(records, exc, reason) from exc
        if stopped is not None:
            records.close()
            if isinstance(stopped, BrokerError):
                stopped.report_dir = report_dir  # type: ignore[attr-defined]
            raise stopped
        return Result(
            account,
            records.orders,
            records.fills,
            equity,
            metrics,
            report_dir,
            records.events,
            self.config,
            benchmark,
            tuple(records.account_events),
            records.workdir,
        )

    def write(
        self,
        records: RunRecords,
        metrics: Metrics,
        equity: EquityCurve,
        reason: str | None,
        prices: Sequence[Mapping[str, float]],
        benchmark: tuple[str, Sequence[float]] | None,
    ) -> Path | None:
        """Write the report files (nothing without a target); `reason` None means the run is complete."""
        target = self.target
        if target is None:
            return None
        if self.status is not None:
            self.status(f"writing the report to {target}")
        title = self.config.report.title or (self.config.path.stem if self.config.path else "broker-sim run")
        write_report(
            target,
            metrics=metrics,
            equity=equity,
            fills=records.fills,
            orders=records.orders,
            title=title,
            config_text=redacted_yaml(self.config.text),  # the config as run, its secrets hidden
            tally=records.tally,
            complete=reason is None,
            reason=reason,
            prices=prices,
            benchmark=benchmark,
            tearsheet=self.config.report.tearsheet,
            workdir=records.workdir,
            account_events=records.account_events,
        )
        return target

    def failed(self, records: RunRecords, exc: Exception, reason: str | None) -> Exception:
        """The error for a report that could not be written: the run's fills and orders are kept (the working
        folder, renamed to be seen) and the message says where. A `ReportError` for what the machine refused (a
        full disk, a folder that changed during the run); anything else is raised with a note saying so."""
        target = self.target
        lost = ""
        for spool in (records.fills, records.orders):
            try:
                spool.flush()
            except OSError as error:
                lost = f", but their last rows could not be written ({error.strerror or error})"
        kept = records.workdir.keep(target) if records.workdir is not None else None
        where = f"; the run's fills and orders are kept in {kept}/ (fills.csv, orders.csv){lost}" if kept else ""
        stopped = f" (the run had stopped: {reason})" if reason else ""
        if isinstance(exc, OSError | ReportFolderError):
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else describe_error(exc)
            return ReportError(f"writing the report to {target} failed: {cause}{where}{stopped}")
        exc.add_note(f"writing the report to {target} failed{where}{stopped}")
        return exc
