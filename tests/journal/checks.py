"""What must hold of a journal after any crash: the checks the journal tests share."""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter
from pathlib import Path

from broker_sim.journal import StoredAccount, read_account
from broker_sim.models import OrderClass, OrderStatus

_TOLERANCE = 1e-6


def created_orders(path: Path) -> list[dict[str, object]]:
    """Every order the journal's rows create (a NewOrder's order, a ReplaceRequest's successor), as written."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT kind, payload FROM changes WHERE kind IN ('NewOrder', 'ReplaceRequest') ORDER BY seq"
        ).fetchall()
    finally:
        connection.close()
    return [json.loads(payload)["order" if kind == "NewOrder" else "successor"] for kind, payload in rows]


def check_account(path: Path, told_fills: set[str] | None = None) -> StoredAccount:
    """Check the account in the journal at `path` (read without changing it) and return it:

    * the ledger balances: cash plus the positions' cost equals the initial balance plus realized P&L less
      fees, fees are the fills' fees and the charges (borrow fees, margin interest), and each position is the
      sum of its fills;
    * every fill has its own execution id, and every fill in `told_fills` (what the strategy was told) is there;
    * no order was recorded twice, and no client order id belongs to two orders;
    * the reservations are those of the working orders: each held by an open order, for no more than it has
      left, and every open order that is not an exit (exits hold nothing) or a replacement on its way holds one;
      the ledger's reserved total is their sum.
    """
    stored = read_account(path)
    state, ledger = stored.state, stored.state.ledger
    account = ledger.account()
    positions = [p for p in (ledger.position(s) for s in {f.symbol for f in stored.fills}) if p is not None]
    basis = math.fsum(p.cost_basis for p in positions)
    scale = max(1.0, abs(account.cash))
    assert math.isclose(
        account.cash + basis, account.initial_balance + account.realized_pnl - account.fees, abs_tol=_TOLERANCE * scale
    )
    charges = math.fsum(activity.amount for activity in state.activities)
    assert math.isclose(account.fees, math.fsum(f.fee for f in stored.fills) + charges, abs_tol=_TOLERANCE * scale)
    for symbol in {f.symbol for f in stored.fills}:
        held = ledger.quantity(symbol)
        assert math.isclose(
            held, math.fsum(f.signed_quantity for f in stored.fills if f.symbol == symbol), abs_tol=1e-6
        )

    executions = Counter(f.execution_id for f in stored.fills)
    assert all(n == 1 for n in executions.values()), [e for e, n in executions.items() if n > 1]
    if told_fills is not None:
        missing = told_fills - set(executions)
        assert not missing, f"fills the strategy was told of are missing: {sorted(missing)[:5]}"

    rows = created_orders(path)
    ids = Counter(str(order["id"]) for order in rows)
    client_ids = Counter(str(order["client_order_id"]) for order in rows)
    assert all(n == 1 for n in ids.values()), "an order was recorded twice"
    assert all(n == 1 for n in client_ids.values()), "a client order id was used by two orders"
    assert len(stored.orders) == len(rows)

    reservations = ledger.reservations()
    open_orders = {o.id: o for o in state.open_orders()}
    assert set(reservations) <= set(open_orders)
    for order_id, held in reservations.items():
        left = open_orders[order_id].quantity - open_orders[order_id].filled_quantity
        assert held.cash_units <= left + 1e-9 and held.shares <= left + 1e-9
    for order in open_orders.values():
        exit_order = order.parent_id is not None or order.order_class is OrderClass.OCO
        on_its_way = order.replaces is not None and order.status is OrderStatus.PENDING_NEW  # holds at Replacement
        if not exit_order and not on_its_way and order.status is not OrderStatus.HELD:
            assert order.id in reservations, f"open order {order.id} ({order.status.value}) holds no reservation"
    assert math.isclose(
        ledger.reserved_cash, math.fsum(r.cash for r in reservations.values()), abs_tol=_TOLERANCE * scale
    )
    return stored
