"""How a run stops: why it stopped early, in one line for the report, and what is still working at the end."""

from __future__ import annotations

import asyncio
import logging

from broker_sim.broker import Broker
from broker_sim.errors import describe_error
from broker_sim.interrupts import RunInterrupted
from broker_sim.models import Order

__all__ = ["open_orders", "stop_reason"]

log = logging.getLogger(__name__)


async def open_orders(broker: Broker) -> list[Order]:
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
