"""The run's records, from which its report is written: every fill and every order that ended, on disk as they
happen (spools in the run's working folder: memory stays flat however long the run), the trade tally, the order
outcomes, the account's events and the count of market events handled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

import attrs

from broker_sim._members import _FINAL_VALUES
from broker_sim.activities import AccountEvent
from broker_sim.broker import Journaled
from broker_sim.models import Fill, Order
from broker_sim.report.account import equity_from_fills
from broker_sim.report.files import HTML_TRADES
from broker_sim.report.metrics import EXPLAINED_VALUES, OrderOutcomes, TradeTally
from broker_sim.report.spool import BATCH, CellTexts, FillSpool, OrderSpool
from broker_sim.report.workdir import Workdir
from broker_sim.run.result import RecordingError
from broker_sim.run.sampling import EquitySampler
from broker_sim.strategy_broker import OrderOwners

__all__ = ["RunRecords"]

_float: Final = float
#: `EXPLAINED_VALUES`, a C static to this module compiled (a compiled module's plain global is read from its dict).
_EXPLAINED_VALUES: Final = EXPLAINED_VALUES
#: The holders of an order no strategy sent: the whole of it, as no strategy's.
_NO_HOLDER: Final = (("", 1.0),)


class RunRecords:
    """What the run recorded so far. `record` takes every order event; when recording fails (a full disk) the
    error goes to `on_failure` and the run stops at its next event: the report must agree with the account."""

    def __init__(self, owners: OrderOwners, on_failure: Callable[[RecordingError], None]) -> None:
        #: Which strategy each order is of (filled in with the strategies when the run starts).
        self.owners = owners
        self.on_failure = on_failure
        #: Made by `open` when the run starts: in the run's working folder, beside its report.
        self.workdir: Workdir | None = None
        self.fills: FillSpool
        self.orders: OrderSpool
        self.tally = TradeTally(keep=HTML_TRADES)
        #: The account's events, as the broker reports them (the report's account_events.csv).
        self.account_events: list[AccountEvent] = []
        self.outcomes = OrderOutcomes()
        #: Market events handled (the loops count them).
        self.events = 0
        #: With a journal: remembers which strategy sent each order that ended (`Journal.note_owner`).
        self.note_owner: Callable[[str, str], None] | None = None

    def open(self, workdir: Workdir) -> None:
        """Start the spools of fills and orders in the run's working folder; they share their cell texts (an order
        and its fills name the same moments and prices)."""
        self.workdir = workdir
        texts = CellTexts()
        self.fills = FillSpool(workdir, texts)
        self.orders = OrderSpool(self.owners, workdir, texts)

    def record(self, order: Order, fill: Fill | None, holders: tuple[tuple[str, float], ...]) -> None:
        """Record `fill`, and `order` once it ended (an order event's), in the run's spools and its trade tally; a
        fill several strategies share (a liquidation) is recorded once per strategy, for its share. If recording
        fails (a full disk), the run stops at the next event: the report must agree with the account.

        The run asks it only about events it may keep (`RunStrategies._keep` leaves out an order's
        pending_new and new without a fill; anything else that keeps nothing costs a few reads here); what is
        recorded is held raw and formatted a batch at a time (`Spool.flush`)."""
        status = order.status._value_
        try:
            if fill is not None:
                for strategy, share in holders or _NO_HOLDER:
                    quantity, fee = fill.quantity, fill.fee
                    # the strategy's share of it, as a copy naming the strategy would hold (x * 1.0 is x for a
                    # float, not for an int: the strategy is compared only then)
                    if share != 1.0 or (
                        (type(quantity) is not _float or type(fee) is not _float) and strategy != fill.strategy
                    ):
                        quantity, fee = quantity * share, fee * share
                    # `FillSpool.add_as`, in line
                    pending = self.fills.pending
                    pending.append((fill, strategy, quantity, fee))
                    if len(pending) >= BATCH:
                        self.fills.flush()
                    self.tally.add_as(fill, strategy, quantity, fee)
            if status in _FINAL_VALUES:  # a str's cached hash, not the Python `Enum.__hash__` of 3.11
                # the order's strategy: the one it concerns, the largest holder for a liquidation (`OrderOwners`);
                # `add_order`, in line, with its `OrderSpool.add_owned` and `OrderOutcomes.add`
                strategy = holders[0][0] if holders else ""
                pending = self.orders.pending
                pending.append((order, strategy))
                if len(pending) >= BATCH:
                    self.orders.flush()
                outcomes = self.outcomes
                by_status = outcomes.by_status
                by_status[status] = by_status.get(status, 0) + 1
                if status in _EXPLAINED_VALUES:
                    outcomes.add_reason(order, status)
                if self.note_owner is not None:
                    self.note_owner(order.id, strategy)
        except Exception as exc:
            error = RecordingError(f"recording the run failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            self.on_failure(error)

    def add_order(self, order: Order, strategy: str | None = None) -> None:
        """Record an order that ended (or one still working at the end, as it stands), sent by `strategy` (looked
        up in `owners` when not given)."""
        if strategy is None:
            strategy = self.owners(order)
        self.orders.add_owned(order, strategy)
        self.outcomes.add(order)
        if self.note_owner is not None:
            self.note_owner(order.id, strategy)

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
