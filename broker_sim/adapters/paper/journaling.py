"""A `PaperBroker`'s account in its SQLite journal (`broker_sim.journal`): opening it at connect and recovering the
account from it, the marks recovered with it, what a resumed replay skips, and the recorder of a closed journal.

The broker keeps the thin methods of its public API (`connect`, `recover`, `market_seen`, `resume_point`); the
work is here, kept off the order path."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from broker_sim.changes import Change
from broker_sim.clock import SimulatedClock
from broker_sim.errors import BrokerError, JournalError
from broker_sim.journal import Journal
from broker_sim.models import MarketData

from . import recovery

if TYPE_CHECKING:
    from .broker import PaperBroker

__all__ = ["LastPrices", "closed_journal", "market_seen", "open_journal", "recover"]

log = logging.getLogger("broker_sim.adapters.paper.broker")


class LastPrices:
    """The ledger's marks, read from the latest market events only when the ledger asks (not per update); a
    symbol without fresh data is valued at the last event recovered from the journal, if any."""

    __slots__ = ("_market", "_recovered")

    def __init__(self, market: dict[str, MarketData], recovered: dict[str, MarketData]) -> None:
        self._market = market
        self._recovered = recovered

    def get(self, symbol: str, default: Any = None) -> Any:
        event = self._market.get(symbol)
        if event is None:
            event = self._recovered.get(symbol)
        return default if event is None else event.price


def market_seen(market: dict[str, MarketData], recovered: dict[str, MarketData]) -> dict[str, datetime]:
    """When the latest market event of each symbol was stamped: those of `market`, else those `recovered` from a
    journal."""
    seen = {symbol: event.timestamp for symbol, event in recovered.items()}
    seen.update((symbol, event.timestamp) for symbol, event in market.items())
    return seen


def recover(broker: PaperBroker, changes: Iterable[Change]) -> int:
    """`PaperBroker.recover`: rebuild `broker`'s new account from `changes`, then let its venue carry on."""
    if next(broker.state.orders(), None) is not None:
        raise BrokerError("recover() rebuilds a new broker; this one has orders already")
    count = broker.state.replay(changes)
    broker.ids.reseed(f"{broker.seed}:recovered:{count}")
    recovery.resume(broker._venue)
    broker._end_of_day.resume()
    return count


async def open_journal(broker: PaperBroker, path: os.PathLike[str]) -> Journal:
    """Open the journal at `path` for `broker` (taking its lock), recover the account from it and record every
    change there from now on; returns it. A simulated clock behind the journal's last moment is moved up to it
    first. Raises `JournalError` (the file left as it was, the account refusing changes) if it cannot be used."""
    settings = broker.settings
    journal = Journal.open(
        path,
        account_id=settings.account_id,
        new_account_id=broker.account_id,
        settings={
            "initial_balance": settings.initial_balance,
            "allow_short": settings.shorting_allowed,
            "short_margin": settings.short_margin,
            "seed": settings.seed,
            "account": settings.account,
            "margin_multiplier": settings.margin_multiplier,
            "maintenance_margin_long": settings.maintenance_margin_long,
            "maintenance_margin_short": settings.maintenance_margin_short,
        },
        sync=settings.journal_sync,
        clock=broker.clock.time,
    )
    state = broker.state
    try:
        if next(state.orders(), None) is not None:
            raise BrokerError(f"journal {path}: connect the broker before it trades, so it starts from the journal")
        last_time = journal.info.last_change_time
        clock = broker.clock
        if isinstance(clock, SimulatedClock) and last_time is not None and last_time > clock.time():
            await clock.advance_to(last_time)
        snapshot, count = journal.recover_into(state)
        if snapshot is not None:
            broker._recovered_market.update((event.symbol, event) for event in snapshot.market)
        if count:
            broker.ids.reseed(f"{broker.seed}:recovered:{count}")
        broker.account_id = journal.account_id
        journal.snapshot_source = broker._snapshot_parts
        state.recorder = journal.record
        # Day trades are counted again from the fills the account holds (its recent ones, as many as its
        # history keeps), and the last close's equity is taken as the equity now.
        broker.day_trades.rebuild(state.fills, {p.symbol: p.quantity for p in state.ledger.positions()})
        recovery.resume(broker._venue)
        broker._end_of_day.resume()
    except BaseException:
        state.recorder = closed_journal(path)
        journal.snapshot_source = None
        journal.close()
        raise
    log.info("journal %s: account %s recovered from %d change(s)", path, journal.account_id, journal.position)
    return journal


def closed_journal(path: os.PathLike[str]) -> Any:
    """The recorder of an account whose journal is closed: any change is refused, never left unrecorded."""

    def refuse(change: Change) -> None:
        raise JournalError(f"journal {path} is closed: the account cannot change until it is connected again")

    return refuse
