"""The run's records, from which its report is written: every fill and every order that ended, on disk as they
happen (spools in the run's working folder: memory stays flat however long the run), the trade tally, the order
outcomes, the account's events and the count of market events handled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from broker_sim.activities import AccountEvent
from broker_sim.broker import Journaled
from broker_sim.models import FINAL_STATUSES, Fill, Order, OrderEvent, unchecked_fill
from broker_sim.report.account import equity_from_fills
from broker_sim.report.files import HTML_TRADES
from broker_sim.report.metrics import OrderOutcomes, TradeTally
from broker_sim.report.spool import Spool
from broker_sim.report.workdir import Workdir
from broker_sim.run.result import RecordingError
from broker_sim.run.sampling import EquitySampler
from broker_sim.strategy_broker import OrderOwners

__all__ = ["RunRecords"]


class RunRecords:
    """What the run recorded so far. `record` takes every order event; when recording fails (a full disk) the
    error goes to `on_failure` and the run stops at its next event: the report must agree with the account."""

    def __init__(self, owners: OrderOwners, on_failure: Callable[[RecordingError], None]) -> None:
        #: Which strategy each order is of (filled in with the strategies when the run starts).
        self.owners = owners
        self.on_failure = on_failure
        #: Made by `open` when the run starts: in the run's working folder, beside its report.
        self.workdir: Workdir | None = None
        self.fills: Spool[Fill]
        self.orders: Spool[Order]
        self.tally = TradeTally(keep=HTML_TRADES)
        #: The account's events, as the broker reports them (the report's account_events.csv).
        self.account_events: list[AccountEvent] = []
        self.outcomes = OrderOutcomes()
        #: Market events handled (the loops count them).
        self.events = 0
        #: With a journal: remembers which strategy sent each order that ended (`Journal.note_owner`).
        self.note_owner: Callable[[str, str], None] | None = None

    def open(self, workdir: Workdir) -> None:
        """Start the spools of fills and orders in the run's working folder."""
        self.workdir = workdir
        self.fills = Spool.of_fills(workdir)
        self.orders = Spool.of_orders(self.owners, workdir)

    def record(self, event: OrderEvent, holders: tuple[tuple[str, float], ...]) -> None:
        """Record a fill, and an order once it ended, in the run's spools and its trade tally; a fill several
        strategies share (a liquidation) is recorded once per strategy, for its share. If recording fails (a
        full disk), the run stops at the next event: the report must agree with the account."""
        try:
            executed = event.fill
            if executed is not None:
                for strategy, share in holders or (("", 1.0),):
                    fill = executed
                    if strategy != fill.strategy or share != 1.0:  # a copy naming the strategy (once per fill)
                        fill = unchecked_fill(
                            fill.order_id, fill.symbol, fill.side, fill.quantity * share, fill.price, fill.fee * share,
                            fill.timestamp, fill.reference_price, fill.execution_id, strategy,
                        )  # fmt: skip
                    self.fills.append(fill)
                    self.tally.add(fill)
            order = event.order
            if order.status in FINAL_STATUSES:
                self.add_order(order)
        except Exception as exc:
            error = RecordingError(f"recording the run failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            self.on_failure(error)

    def add_order(self, order: Order) -> None:
        """Record an order that ended (or one still working at the end, as it stands)."""
        self.orders.append(order)
        self.outcomes.add(order)
        if self.note_owner is not None:
            self.note_owner(order.id, self.owners(order))

    def resume(self, broker: Journaled, sampler: EquitySampler) -> None:
        """A journaled account: the records start with what the account did in earlier sessions (its fills, its
        ended orders, the equity after each fill, each with the strategy its journal remembers), so the report
        covers the account, not only this session; and the orders that end from now on are noted."""
        journal = broker.journal
        if journal is None:
            return
        self.note_owner = journal.note_owner
        stored = journal.stored_account()
        if not stored.fills and not stored.orders:
            return
        self.owners.known.update(stored.owners)
        for fill in stored.fills:
            fill = attrs.evolve(fill, strategy=stored.strategy_of(fill.order_id))
            self.fills.append(fill)
            self.tally.add(fill)
        for order in stored.orders:
            if order.status.is_final:
                self.orders.append(order)
                self.outcomes.add(order)
        created = datetime.fromisoformat(stored.info.created_at) if stored.info.created_at else None
        sampler.prepend(equity_from_fills(stored.fills, stored.info.initial_balance, created))

    def close(self) -> None:
        """Remove the spools and the working folder (a run that stopped: its report holds what they held)."""
        self.fills.close()
        self.orders.close()
        if self.workdir is not None:
            self.workdir.close()
