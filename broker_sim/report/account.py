"""An account's report from its journal: the same files as a simulation's (`write_report`), for `broker-sim
account PATH --export DIR`.

A journal keeps every order and fill but no equity samples, so the equity curve is rebuilt from the fills: the
initial balance when the journal was created, then the account after each fill with each symbol valued at its
latest fill price, and last the account as the journal leaves it (valued at the latest market events it saw).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import attrs

from broker_sim.activities import charge_event
from broker_sim.journal import StoredAccount
from broker_sim.ledger import Ledger
from broker_sim.models import Fill
from broker_sim.report.files import write_report
from broker_sim.report.metrics import EquitySample, OrderOutcomes, TradeTally, metrics_from
from broker_sim.report.spool import Spool

__all__ = ["equity_from_fills", "export_account"]


def equity_from_fills(
    fills: Iterable[Fill], initial_balance: float, start: datetime | None = None
) -> list[EquitySample]:
    """The equity after each fill (positions valued at their symbols' latest fill prices), from `initial_balance`
    at `start` (when given)."""
    marks: dict[str, float] = {}
    ledger = Ledger(initial_balance, allow_short=True, marks=marks)
    samples = [] if start is None else [EquitySample(start, initial_balance, 0.0)]
    for fill in fills:
        marks[fill.symbol] = fill.price
        ledger.book_fill(fill)
        account = ledger.account()
        sample = EquitySample(fill.timestamp, account.equity, account.gross_exposure)
        if samples and samples[-1].timestamp == fill.timestamp:
            samples[-1] = sample  # one sample per moment: the account after its last fill
        else:
            samples.append(sample)
    return samples


def export_account(stored: StoredAccount, out_dir: str | Path) -> Path:
    """Write the account's report (summary.json, trades.csv, orders.csv, equity.csv, equity.png, report.html) into
    `out_dir`, as a simulation's, each fill and order with the strategy the journal remembers; returns the
    folder."""
    info = stored.info
    created = datetime.fromisoformat(info.created_at) if info.created_at else None
    fills = [attrs.evolve(fill, strategy=stored.strategy_of(fill.order_id)) for fill in stored.fills]
    orders = Spool.of_orders(lambda order: stored.strategy_of(order.id))
    for order in stored.orders:
        orders.append(order)
    equity = equity_from_fills(fills, info.initial_balance, created)
    account = stored.state.ledger.account()
    last = (
        max(
            [s.timestamp for s in equity]
            + [e.timestamp for e in stored.market.values()]
            + [o.updated_at for o in stored.orders]
        )
        if equity or stored.market or stored.orders
        else None
    )
    if last is not None:
        final = EquitySample(last, account.equity, account.gross_exposure)
        if equity and equity[-1].timestamp == last:
            equity[-1] = final
        else:
            equity.append(final)
    tally = TradeTally()
    for fill in fills:
        tally.add(fill)
    outcomes = OrderOutcomes()
    for order in stored.orders:
        outcomes.add(order)
    prices = {symbol: event.price for symbol, event in stored.market.items()}
    metrics = metrics_from(
        equity, tally, len(stored.orders), info.initial_balance, outcomes=outcomes, prices=prices or None
    )
    target = Path(out_dir)
    write_report(
        target,
        metrics=metrics,
        equity=equity,
        fills=fills,
        orders=orders,
        title=f"paper account {info.account_id}",
        tally=tally,
        account_events=[charge_event(activity) for activity in stored.state.activities],
    )
    return target
