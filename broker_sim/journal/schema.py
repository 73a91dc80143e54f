"""The journal's schema: its records (snapshots, info), how a change becomes a row and back (cattrs), the
row checksums, and the migrations from older schema versions."""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.strategies import configure_tagged_union

from broker_sim.changes import (
    AccountSnapshot,
    Amendment,
    Change,
    Charge,
    Execution,
    MarginCall,
    MarginCallEnd,
    NewOrder,
    Notice,
    Replacement,
    ReplaceRefused,
    ReplaceRequest,
    SessionClose,
    StatusChange,
)
from broker_sim.models import MarketData

#: The schema this version writes; it reads this one and migrates older ones (`MIGRATIONS`).
SCHEMA_VERSION = 3


#: What ``meta.application`` says in every journal: a SQLite file without it is not one.
APPLICATION = "broker-sim journal"


#: ``journal_sync`` values: SQLite's ``synchronous`` setting for the journal.
SYNC_MODES = ("normal", "full")


#: Changes between two snapshots, at least.
SNAPSHOT_EVERY = 10_000


#: A snapshot waits at least this many changes per order or fill it holds, so writing snapshots never costs
#: more than a small share of writing changes.
_CHANGES_PER_SNAPSHOT_ITEM = 4


#: Snapshots kept: the latest, and the one before in case the latest cannot be read.
_SNAPSHOTS_KEPT = 2


#: Rows read from SQLite at a time during recovery.
_FETCH = 4096


_SQLITE_HEADER = b"SQLite format 3\x00"


#: Bytes per database page. Each commit writes its changed pages whole to the WAL, and every byte written is
#: flushed at the next checkpoint: small pages keep a commit (one change row, ~100-700 bytes) small.
_PAGE_SIZE = 1024


#: Every kind of change, by the name its rows carry.
CHANGE_KINDS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        NewOrder,
        StatusChange,
        Execution,
        Amendment,
        ReplaceRequest,
        Replacement,
        ReplaceRefused,
        Notice,
        SessionClose,
        Charge,
        MarginCall,
        MarginCallEnd,
    )
}


@attrs.frozen(slots=True)
class JournalSnapshot:
    """A paper account at one moment of its journal: its state after change `position`, the clock time then, and
    the latest market event of each symbol (a restart values positions with them and resumes a replay after
    them)."""

    position: int
    time: float
    account: AccountSnapshot
    market: tuple[MarketData, ...] = ()


@attrs.frozen(slots=True)
class JournalInfo:
    """What a journal's meta table and counts say: whose account it is and how far it goes."""

    path: Path
    schema_version: int
    account_id: str
    created_at: str
    #: The account's settings when the journal was created (initial_balance, allow_short, short_margin, seed).
    settings: dict[str, Any]
    #: How many changes it holds, and the clock time of the last one or of the last snapshot (None: neither).
    changes: int
    last_time: float | None
    #: The clock time of the last change (None: none yet): a resumed replay goes on from there.
    last_change_time: float | None = None
    #: SQLite found damage outside the meta and changes tables (the snapshots, or unused pages): snapshots are
    #: skipped, and the writer rebuilds them (`Journal.open`).
    damaged_snapshots: bool = False

    @property
    def initial_balance(self) -> float:
        """The account's initial balance."""
        return float(self.settings["initial_balance"])


def _converter() -> cattrs.Converter:
    # Every field, defaults too: a row says all it meant when it was written (see the module's docstring).
    converter = cattrs.Converter(omit_if_default=False, detailed_validation=False)
    # POSIX seconds: exact to the microsecond for any date a journal holds, and 4x cheaper to write than ISO text.
    converter.register_unstructure_hook(datetime, datetime.timestamp)
    converter.register_structure_hook(datetime, lambda value, _: datetime.fromtimestamp(value, UTC))
    configure_tagged_union(MarketData, converter, tag_name="type", tag_generator=lambda cls: cls.__name__)
    return converter


_CONVERTER = _converter()


_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=True).encode


_decode = json.JSONDecoder().decode


def _unstructure_hooks() -> dict[type, Callable[[Any], Any]]:
    """The unstructure function of each kind of change, looked up once (the recording hot path)."""
    return {cls: _CONVERTER.get_unstructure_hook(cls) for cls in CHANGE_KINDS.values()}


_UNSTRUCTURE = _unstructure_hooks()


def encode_change(change: Change) -> tuple[str, str]:
    """A change as its row's (kind, JSON payload)."""
    cls = change.__class__
    return cls.__name__, _encode(_UNSTRUCTURE[cls](change))


def decode_change(kind: str, payload: str) -> Change:
    """The change a row's kind and payload describe; raises KeyError for an unknown kind."""
    return _CONVERTER.structure(_decode(payload), CHANGE_KINDS[kind])


def _create_v1(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    connection.execute(
        "CREATE TABLE changes (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, time REAL NOT NULL, payload TEXT NOT NULL)"
    )
    connection.execute("CREATE TABLE snapshots (seq INTEGER PRIMARY KEY, time REAL NOT NULL, payload TEXT NOT NULL)")


#: The snapshots table as the current schema has it (`_rebuild_snapshots` makes it anew).
_SNAPSHOTS_TABLE = (
    "CREATE TABLE snapshots (seq INTEGER PRIMARY KEY, time REAL NOT NULL, payload TEXT NOT NULL, checksum INTEGER)"
)


def _add_checksums(connection: sqlite3.Connection) -> None:
    """Version 2: a checksum per change and per snapshot (NULL in the rows version 1 wrote), and which strategy
    each order is of (for reports)."""
    connection.execute("ALTER TABLE changes ADD COLUMN checksum INTEGER")
    connection.execute("ALTER TABLE snapshots ADD COLUMN checksum INTEGER")
    connection.execute("CREATE TABLE owners (order_id TEXT PRIMARY KEY, strategy TEXT NOT NULL)")


def _v3_session_closes(connection: sqlite3.Connection) -> None:
    """Version 3 adds a kind of change, `SessionClose` (the account at each session close), which version 2 code
    cannot read: the tables are the same, so a version 2 journal needs no rewriting, only the new version."""


#: ``MIGRATIONS[v]`` turns a journal of schema version `v` into one of version ``v + 1``, inside the transaction
#: that also sets ``meta.schema_version``. Version 0 is an empty file: creating a journal runs them all.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: _create_v1,
    1: _add_checksums,
    2: _v3_session_closes,
}


def row_checksum(seq: int, kind: str, time: float, payload: str) -> int:
    """The CRC-32 a row carries: of its seq, kind (empty for a snapshot), clock time and payload."""
    return zlib.crc32(f"{seq}:{kind}:{time!r}:{payload}".encode("utf-8", "surrogatepass"))


def _migrate(connection: sqlite3.Connection, version: int) -> None:
    """Bring a journal at schema `version` to `SCHEMA_VERSION`, in one transaction (all or nothing)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        for step in range(version, SCHEMA_VERSION):
            MIGRATIONS[step](connection)
        connection.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
