"""Reading a whole account from its journal without changing the file (`read_account`): every change replayed,
checked against the latest snapshot, with the strategy of each order."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import attrs

from broker_sim._numeric import money_equal, qty_is_zero
from broker_sim.account import AccountState
from broker_sim.journal.files import _read_only, read_info
from broker_sim.journal.recovery import _latest_snapshot, _replay, _rows, _unique_fills
from broker_sim.journal.schema import JournalInfo
from broker_sim.ledger import (
    DEFAULT_MAINTENANCE_LONG,
    DEFAULT_MAINTENANCE_SHORT,
    DEFAULT_MARGIN_MULTIPLIER,
    DEFAULT_SHORT_MARGIN,
    Ledger,
    LedgerSnapshot,
)
from broker_sim.models import Fill, MarketData, Order, Trade

log = logging.getLogger(__name__)


@attrs.frozen(slots=True)
class StoredAccount:
    """An account as its journal holds it, every change replayed: for `broker-sim account` and its export.

    `state` keeps every order and fill; `market` is the latest market event per symbol the journal saw (the
    marks positions are valued at; without one, at the last fill's price).
    """

    info: JournalInfo
    state: AccountState
    market: dict[str, MarketData]
    orders: tuple[Order, ...]
    fills: tuple[Fill, ...]
    #: What did not add up while reading it (the changes and the latest snapshot disagree), one line each.
    problems: tuple[str, ...] = ()
    #: Which strategy sent each order, by order id, as far as the journal knows (`Journal.note_owner`).
    owners: dict[str, str] = attrs.field(factory=dict)

    def strategy_of(self, order_id: str) -> str:
        """The strategy that sent the order (``""``: none known)."""
        return self.owners.get(order_id, "")


def read_account(path: str | Path) -> StoredAccount:
    """Read the whole account in the journal at `path`, without changing the file. A journal is read once its
    session has stopped: while a session writes it, its writer keeps SQLite's lock for itself, and this raises
    `JournalInUse` naming that process. Raises `JournalError` if it cannot be read."""
    path = Path(path)
    info = read_info(path)
    connection = _read_only(path)
    try:
        return _stored_account(connection, path, info)
    finally:
        connection.close()


def _stored_account(connection: sqlite3.Connection, path: Path, info: JournalInfo) -> StoredAccount:
    """The whole account in the journal `connection` reads, every change replayed (see `read_account`)."""
    snapshot = _latest_snapshot(connection, path)
    settings = info.settings
    ledger = Ledger(
        info.initial_balance,
        allow_short=bool(settings.get("allow_short", False)),
        short_margin=float(settings.get("short_margin", DEFAULT_SHORT_MARGIN)),
        margin_multiplier=(
            float(settings.get("margin_multiplier", DEFAULT_MARGIN_MULTIPLIER))
            if settings.get("account") == "margin"
            else None
        ),
        maintenance_long=float(settings.get("maintenance_margin_long", DEFAULT_MAINTENANCE_LONG)),
        maintenance_short=float(settings.get("maintenance_margin_short", DEFAULT_MAINTENANCE_SHORT)),
    )
    state = AccountState(ledger, lambda event: None)
    skipped = [0]
    seen: set[str] = set()
    problems: list[str] = []
    if snapshot is not None and snapshot.position <= info.changes:
        _replay(state, _unique_fills(_rows(connection, path, 0, snapshot.position), seen, skipped), path, 0)
        disagreement = _disagreement(ledger, snapshot.account.ledger)
        if disagreement:
            problems.append(
                f"journal {path}: its changes and its snapshot at change #{snapshot.position} disagree "
                f"({disagreement}): a row was changed after it was written; the account shown is the replay's"
            )
        after = snapshot.position
    else:
        after = 0
    _replay(state, _unique_fills(_rows(connection, path, after), seen, skipped), path, after)
    owners = _owners(connection)
    market: dict[str, MarketData] = {}
    fills = tuple(state.fills)
    for fill in fills:
        market[fill.symbol] = Trade(fill.symbol, fill.timestamp, fill.price)
    if snapshot is not None:
        for event in snapshot.market:
            known = market.get(event.symbol)
            if known is None or known.timestamp <= event.timestamp:
                market[event.symbol] = event
    ledger.marks = {symbol: event.price for symbol, event in market.items()}
    for problem in problems:
        log.warning("%s", problem)
    return StoredAccount(info, state, market, tuple(state.orders()), fills, tuple(problems), owners)


def _owners(connection: sqlite3.Connection) -> dict[str, str]:
    """The owners table (empty in a journal of version 1, or when it cannot be read: attribution only)."""
    try:
        return dict(connection.execute("SELECT order_id, strategy FROM owners").fetchall())
    except sqlite3.DatabaseError:
        return {}


def _disagreement(ledger: Ledger, snapshot: LedgerSnapshot) -> str:
    """How the ledger replayed from the changes differs from a snapshot of the same moment ("" when it does
    not): cash, fees or a position's quantity."""
    replayed = ledger.snapshot()
    found = [
        f"{name} {mine:,.2f} replayed, {theirs:,.2f} in the snapshot"
        for name, mine, theirs in (
            ("cash", replayed.cash, snapshot.cash),
            ("fees", replayed.fees, snapshot.fees),
        )
        if not money_equal(mine, theirs)
    ]
    held = {h.symbol: h.quantity for h in replayed.holdings}
    said = {h.symbol: h.quantity for h in snapshot.holdings}
    for symbol in sorted(held.keys() | said.keys()):
        if not qty_is_zero(held.get(symbol, 0.0) - said.get(symbol, 0.0)):
            found.append(
                f"{symbol} {held.get(symbol, 0.0):g} shares replayed, {said.get(symbol, 0.0):g} in the snapshot"
            )
    return ", ".join(found)
