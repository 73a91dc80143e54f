"""How a run stops: from outside (a signal, a server asked to stop) or from inside (a strategy's task that failed,
recording that failed), why it stopped early in one line for the report, and what is still working at the end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from broker_sim.broker import Broker
from broker_sim.errors import BrokerError, describe_error
from broker_sim.interrupts import RunInterrupted, StopSignals
from broker_sim.models import Order
from broker_sim.run.result import RecordingError

__all__ = ["Stopping", "open_orders", "stop_reason"]

log = logging.getLogger(__name__)


class Stopping:
    """What asks a run to stop. `signals` (SIGINT, SIGTERM, SIGHUP while the run is active: `watch`) stop it at the
    next safe point; `failure` (a strategy's task, recording) stops it at the next event. The loops read both."""

    def __init__(self) -> None:
        self.signals = StopSignals()
        #: What stopped the run from inside (a strategy's task, recording): raised at the next event.
        self.failure: BrokerError | None = None
        #: A live run's wait for its next event, cancelled by a stop (a replay checks per block).
        self.live_task: asyncio.Future[None] | None = None

    def watch(self, on_stop: Callable[[], None] | None = None) -> StopSignals:
        """The signals to enter for the run (``with stopping.watch(...):``); `on_stop` is called on a signal."""
        self.signals = StopSignals(on_stop)
        return self.signals

    def fail(self, error: BrokerError) -> None:
        """Stop the run at its next event with `error` (the first failure wins)."""
        if self.failure is None:
            self.failure = error

    def fail_recording(self, error: RecordingError) -> None:
        """Recording failed: the run stops with `error` (it outranks a strategy's failure: the report must say that
        it does not hold everything)."""
        if not isinstance(self.failure, RecordingError):
            self.failure = error

    def check(self) -> None:
        """Raise `RunInterrupted` if a signal asked for a stop, else the failure that stopped the run, if any."""
        self.signals.check()
        if self.failure is not None:
            raise self.failure

    def cancel_live(self) -> None:
        """A stop was asked for: a live run waiting for its next event stops waiting (a replay checks per block)."""
        task = self.live_task
        if task is not None and not task.done():
            task.get_loop().call_soon_threadsafe(task.cancel)


async def open_orders(broker: Broker) -> list[Order]:
    """The orders still working at the end (none if the broker cannot say: it failed)."""
    try:
        return await broker.list_orders("open")
    except Exception:  # the broker itself failed: nothing more can be recorded
        log.exception("listing the open orders at the end failed")
        return []


def stop_reason(exc: BaseException) -> str:
    """Why a run stopped early, in one line for summary.json."""
    if isinstance(exc, RunInterrupted):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
        return "interrupted"
    return describe_error(exc)
