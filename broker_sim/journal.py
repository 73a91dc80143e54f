"""The journal: one paper account in a SQLite file, so it survives restarts, crashes and kill -9.

Every change record the account's door applies (`broker_sim.changes`) is written here first: one row per change
(sequence number, kind, clock time, JSON), committed before the change is applied, so whatever a strategy or a
listener has heard of is in the file. Recovery (`PaperBroker` does it when it connects) restores the latest
snapshot and replays the changes after it, fills de-duplicated by execution id.

Durability. The file is in WAL mode. With ``sync="normal"`` (the default) a commit is a write to the WAL without
an fsync: it survives the process dying (kill -9, a crash, Ctrl-C) but the last commits may be lost, never half
of one, if the machine loses power. ``sync="full"`` fsyncs every commit: power-loss safe, ~10x slower per change.

Layout (schema version 3)::

    meta(key, value)                              schema_version, application, account_id, created_at, settings
    changes(seq, kind, time, payload, checksum)   one row per change, seq from 1; time is the broker clock's (s)
    snapshots(seq, time, payload, checksum)       the account after change `seq` and the latest market per symbol
    owners(order_id, strategy)                    which strategy sent each order, for reports (`note_owner`)

Each row carries a CRC-32 of its seq, kind (or nothing, for a snapshot), time and payload (`row_checksum`): a row
changed after it was written (one digit of a fill price) is a `JournalError` naming it, or for a snapshot, a
snapshot skipped. Rows of version 1 have none and are read as they are.

A payload holds every field of its record, defaults included, so a default changed in a later version does not
change what an old row says. Rows written before this omitted the fields at their default, and reading one fills
them with the reading version's defaults: so a default a record's field had then must stay, or change with a
migration that writes the old default into such rows.

Snapshots are written every `SNAPSHOT_EVERY` changes at least (more when the state is large, so their cost per
change stays small) and when the journal is closed; the two latest are kept. They only save time: a snapshot
that cannot be read is skipped, and the changes alone rebuild the account. Recovery checks the checksums of the
rows its snapshot covers; `read_account`, which replays them all, also checks that they agree with the snapshot.

One process at a time may write a journal: `Journal.open` holds an exclusive `flock` on ``PATH.lock`` (the kernel
releases it when the process dies, however it dies). The writer also keeps SQLite's file lock for itself (see
`_connect`), so a reader (`read_account`, `broker-sim account`) reads a journal once its session has stopped, and
is told which process holds it until then. Whether a file is a whole SQLite database is SQLite's to judge; a
file that is not a journal, is damaged, was written by a newer version (schema) or belongs to another account
is refused with a `JournalError` naming it, and left as it was; damage SQLite finds only in the snapshots is
repaired by the writer (`_rebuild_snapshots`). A journal on read-only media is read as it is. Records are
(un)structured by cattrs from the attrs classes themselves; see CONTRIBUTING.md for how to change the schema (a
new version and a migration).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import sqlite3
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.strategies import configure_tagged_union

from broker_sim._numeric import money_equal, qty_is_zero
from broker_sim.account import AccountSnapshot, AccountState
from broker_sim.changes import (
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
from broker_sim.errors import BrokerError, JournalError, JournalInUse
from broker_sim.ledger import (
    DEFAULT_MAINTENANCE_LONG,
    DEFAULT_MAINTENANCE_SHORT,
    DEFAULT_MARGIN_MULTIPLIER,
    DEFAULT_SHORT_MARGIN,
    Ledger,
    LedgerSnapshot,
)
from broker_sim.models import Fill, MarketData, Order, Trade

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SNAPSHOT_EVERY",
    "SYNC_MODES",
    "Journal",
    "JournalInfo",
    "JournalSnapshot",
    "StoredAccount",
    "read_account",
    "read_info",
]

log = logging.getLogger(__name__)

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


# -- records ---------------------------------------------------------------------------------------------------


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


# -- migrations ------------------------------------------------------------------------------------------------


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


# -- checking a file without changing it -----------------------------------------------------------------------


def _check_header(path: Path) -> None:
    """Refuse a file that is not a SQLite database at all (empty, another kind of file, shorter than SQLite's
    header). Whether a database is whole is SQLite's to judge (`_info`'s quick check): in WAL mode the file may
    rightly be shorter than its header says (a checkpoint writes page 1 before the file grows, and the WAL
    still holds every page), so its size proves nothing."""
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise JournalError(f"journal {path} cannot be read: {exc.strerror or exc}") from None
    if not header:
        raise JournalError(f"journal {path} is an empty file, not a broker-sim journal")
    if not header.startswith(_SQLITE_HEADER):
        raise JournalError(f"journal {path} is not a broker-sim journal (not a SQLite database)")
    if len(header) < 100:
        raise JournalError(f"journal {path} is truncated: {len(header)} bytes, shorter than a SQLite header")


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection. On read-only media SQLite cannot make the WAL's index file (``-shm``) a reader
    needs; a journal closed cleanly has no WAL left, so it is then opened as immutable (nothing can change it)."""
    uri = path.resolve().as_uri()
    connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=0)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        if (
            not isinstance(exc, sqlite3.OperationalError)
            or "locked" in str(exc)
            or os.access(path.parent, os.W_OK)
            or _has_wal(path)
        ):
            return connection  # the first real query says what is wrong
        connection.close()
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, timeout=0)
    return connection


def _has_wal(path: Path) -> bool:
    """Whether the journal has a WAL file with commits in it (a writer running, or one that died)."""
    try:
        return path.with_name(path.name + "-wal").stat().st_size > 0
    except OSError:
        return False


def _in_use(path: Path) -> JournalInUse:
    """The error for a journal whose file SQLite finds locked: its writer keeps it for itself (named by the pid in
    ``PATH.lock``), or, when the lock file holds this process's own pid, a reader is reading it right now."""
    try:
        holder = path.with_name(path.name + ".lock").read_text().strip()
    except OSError:
        holder = ""
    if holder == str(os.getpid()):
        return JournalInUse(
            f"journal {path} is being read by another process right now (a broker-sim account?): try again once "
            "it has finished"
        )
    who = f"process {holder}" if holder.isdigit() else "another process"
    return JournalInUse(
        f"journal {path} is in use by {who}, which is trading its account: one process at a time may trade an "
        "account, and its journal can be read once that process has stopped"
    )


def _meta(connection: sqlite3.Connection, path: Path) -> dict[str, str]:
    try:
        rows = connection.execute("SELECT key, value FROM meta").fetchall()
    except sqlite3.DatabaseError as exc:
        if "no such table" in str(exc):
            raise JournalError(
                f"journal {path} is not a broker-sim journal (a SQLite file without its tables)"
            ) from None
        raise
    meta = dict(rows)
    if meta.get("application") != APPLICATION:
        raise JournalError(f"journal {path} is not a broker-sim journal (meta.application is missing)")
    return meta


def _info(connection: sqlite3.Connection, path: Path, *, check: bool) -> JournalInfo:
    """The journal's meta and counts; with `check`, SQLite's quick integrity check first."""
    try:
        damaged_snapshots = False
        if check:
            problems = [row[0] for row in connection.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                if not _whole(connection, "meta") or not _whole(connection, "changes"):
                    raise JournalError(f"journal {path} is damaged: SQLite's check says {'; '.join(problems)}")
                # Only snapshots (or pages no table uses) are damaged: they only save time.
                log.warning("journal %s: its snapshots are damaged (%s); every change is replayed", path, problems[0])
                damaged_snapshots = True
        meta = _meta(connection, path)
        try:
            version = int(meta["schema_version"])
        except (KeyError, ValueError):
            raise JournalError(
                f"journal {path} is corrupt: meta.schema_version is {meta.get('schema_version')!r}"
            ) from None
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal {path} was written by a newer broker-sim (schema version {version}; this one reads up "
                f"to {SCHEMA_VERSION}): upgrade broker-sim to use it"
            )
        try:
            account_id = meta["account_id"]
            settings = json.loads(meta["settings"])
            float(settings["initial_balance"])
        except (KeyError, ValueError, TypeError) as exc:
            raise JournalError(f"journal {path} is corrupt: its meta table lacks the account ({exc})") from None
        count, last_change = connection.execute(
            "SELECT seq, time FROM changes ORDER BY seq DESC LIMIT 1"
        ).fetchone() or (0, None)
        try:
            last_snapshot = connection.execute(
                "SELECT max(time) FROM snapshots WHERE typeof(time) IN ('real', 'integer')"
            ).fetchone()[0]
        except sqlite3.DatabaseError:  # snapshots only save time: a damaged one is skipped when read
            last_snapshot = None
        times = [t for t in (last_change, last_snapshot) if t is not None]
        last_time = max(times) if times else None
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc):
            raise _in_use(path) from None
        raise JournalError(
            f"journal {path} is damaged (truncated or overwritten) or not a broker-sim journal: SQLite says {exc}"
        ) from None
    return JournalInfo(
        path,
        version,
        account_id,
        meta.get("created_at", ""),
        settings,
        count,
        last_time,
        last_change,
        damaged_snapshots,
    )


def _whole(connection: sqlite3.Connection, table: str) -> bool:
    """Whether SQLite's quick check finds the table `table` whole."""
    return [row[0] for row in connection.execute(f"PRAGMA quick_check('{table}')")] == ["ok"]


def read_info(path: str | Path) -> JournalInfo:
    """Check the journal at `path` without changing it and return what it says; raises `JournalError` if it is
    not a journal, is truncated or corrupt, or was written by a newer version."""
    path = Path(path)
    _check_header(path)
    try:
        connection = _read_only(path)
    except sqlite3.Error as exc:
        raise JournalError(f"journal {path} cannot be opened: {exc}") from None
    try:
        return _info(connection, path, check=True)
    finally:
        connection.close()


def check_account(info: JournalInfo, account_id: str | None, initial_balance: float) -> None:
    """Refuse a journal that belongs to another account (`account_id`, when given) or whose account started
    with another `initial_balance`: a `JournalError` saying what the journal holds and what was asked."""
    if account_id is not None and info.account_id != account_id:
        raise JournalError(
            f"journal {info.path} belongs to account {info.account_id}, not {account_id}: use another journal "
            f"file, or give account_id {info.account_id} (or none: a journal opened without one is its account)"
        )
    if not money_equal(info.initial_balance, initial_balance):
        raise JournalError(
            f"journal {info.path}: account {info.account_id} started with initial_balance "
            f"{info.initial_balance:g}, not {initial_balance:g}; set initial_balance: {info.initial_balance:g} "
            "or use another journal file"
        )


# -- the lock --------------------------------------------------------------------------------------------------


class _Lock:
    """An exclusive `flock` on ``PATH.lock``, holding the writer's pid; the kernel releases it when the process
    ends, however it ends. The lock file stays (removing it would race with the next opener)."""

    def __init__(self, path: Path) -> None:
        lock_path = path.with_name(path.name + ".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(f"journal {path}: cannot create its lock file {lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise JournalInUse(
                f"journal {path} is in use by {who}, which is trading its account: one process at a time may "
                "trade an account"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


# -- the journal -----------------------------------------------------------------------------------------------


def _connect(path: Path, sync: str) -> sqlite3.Connection:
    """The writer's connection. It locks the file for itself (``locking_mode=EXCLUSIVE``, taken at once by a
    write transaction): a commit then takes no file lock and the WAL index lives in memory, which saves a third
    of a commit's cost; the price is that nobody reads the journal while its writer runs."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={sync.upper()}")
        # Checkpoints run after each snapshot instead: far fewer, so each page is copied back to the file once.
        connection.execute("PRAGMA wal_autocheckpoint=0")
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("COMMIT")
    except BaseException:
        connection.close()  # it would keep the file locked
        raise
    return connection


def _rebuild_snapshots(connection: sqlite3.Connection, path: Path) -> None:
    """Forget the damaged snapshots table and rebuild the file without it (VACUUM copies only what a table
    uses), then make the table anew: the changes are untouched, and the next snapshot is written at the next
    close. The table is unlinked from the schema rather than dropped, as dropping walks its damaged pages."""
    log.warning("journal %s: dropping its damaged snapshots and rebuilding the file", path)
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("PRAGMA writable_schema=ON")
        connection.execute("DELETE FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'")
        connection.execute("PRAGMA writable_schema=OFF")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("VACUUM")
    connection.execute(_SNAPSHOTS_TABLE)


def _create(path: Path, account_id: str, settings: Mapping[str, Any], now: float) -> None:
    """Write a new, empty journal at `path` whole: built beside it, then linked into place (never half made)."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.new")
    staging.unlink(missing_ok=True)
    connection = sqlite3.connect(staging, isolation_level=None)
    try:
        connection.execute(f"PRAGMA page_size={_PAGE_SIZE}")
        connection.execute("PRAGMA journal_mode=WAL")
        _migrate(connection, 0)
        created = datetime.fromtimestamp(now, UTC).isoformat()
        connection.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("application", APPLICATION),
                ("account_id", account_id),
                ("created_at", created),
                ("settings", json.dumps(dict(settings), sort_keys=True)),
            ],
        )
    finally:
        connection.close()
    try:
        with staging.open("rb") as handle:
            os.fsync(handle.fileno())
        os.link(staging, path)
    except FileExistsError:
        raise JournalError(f"journal {path} appeared while it was being created; open it again") from None
    finally:
        staging.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _unique_fills(changes: Iterable[Change], seen: set[str], skipped: list[int]) -> Iterator[Change]:
    """`changes` without a fill whose execution id came before (counted in ``skipped[0]``)."""
    for change in changes:
        if change.__class__ is Execution:
            execution_id = change.fill.execution_id
            if execution_id:
                if execution_id in seen:
                    skipped[0] += 1
                    continue
                seen.add(execution_id)
        yield change


#: The prefix of the meta keys `Journal.keep` writes (they never clash with the journal's own).
_KEPT_PREFIX = "kept:"


class Journal:
    """The open journal of one paper account, written by this process only (see the module docstring).

    Built by `Journal.open`. `record` is the account state's recorder: it commits each change before the change
    is applied. `snapshot_source`, when set, gives the account's state for the periodic snapshots. `clock`
    stamps each row with the broker's time.
    """

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        lock: _Lock,
        info: JournalInfo,
        *,
        sync: str,
        clock: Callable[[], float],
        snapshot_every: int,
    ) -> None:
        self.path = path
        self.info = info
        self.account_id = info.account_id
        self.sync = sync
        self.clock = clock
        self.snapshot_every = snapshot_every
        #: The account's state and market for a snapshot: ``(AccountSnapshot, market events)``.
        self.snapshot_source: Callable[[], tuple[AccountSnapshot, Iterable[MarketData]]] | None = None
        #: Fills skipped during recovery because their execution id was already booked.
        self.duplicates_skipped = 0
        #: Owners noted (`note_owner`) and not yet written: they go with the next snapshot.
        self._owners: list[tuple[str, str]] = []
        self._connection = connection
        self._lock = lock
        self._insert = connection.cursor().execute
        self._position = info.changes
        row = connection.execute("SELECT max(seq) FROM snapshots").fetchone()
        self._snapshot_at = row[0] or 0
        self._next_snapshot = self._snapshot_at + snapshot_every

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        account_id: str | None,
        settings: Mapping[str, Any],
        sync: str = "normal",
        clock: Callable[[], float],
        snapshot_every: int = SNAPSHOT_EVERY,
        new_account_id: str | None = None,
    ) -> Journal:
        """Open the journal at `path` for writing, creating it for a new account if it does not exist.

        `settings` are the account's (``initial_balance`` at least); a new journal keeps them, an existing one
        must agree on ``initial_balance`` and, when `account_id` is given, on the account id: without one, the
        journal's account is the account. A new journal gets `account_id`, else `new_account_id`, else a random
        id. Takes the journal's lock first; raises `JournalError` (nothing changed)
        if another process holds it or the file cannot be used.
        """
        path = Path(path)
        if sync not in SYNC_MODES:
            raise JournalError(f"journal_sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
        lock = _Lock(path)
        try:
            now = clock()
            if not path.exists():
                _create(path, account_id or new_account_id or _random_account_id(), settings, now)
            info = read_info(path)
            check_account(info, account_id, float(settings["initial_balance"]))
            try:
                connection = _connect(path, sync)
                try:
                    if info.schema_version < SCHEMA_VERSION:
                        _migrate(connection, info.schema_version)
                        info = attrs.evolve(info, schema_version=SCHEMA_VERSION)
                    if info.damaged_snapshots:
                        _rebuild_snapshots(connection, path)
                        info = attrs.evolve(info, damaged_snapshots=False)
                except BaseException:
                    connection.close()
                    raise
            except sqlite3.Error as exc:
                if "locked" in str(exc):
                    raise _in_use(path) from None
                raise JournalError(f"journal {path} cannot be opened for writing: {exc}") from None
            return cls(path, connection, lock, info, sync=sync, clock=clock, snapshot_every=snapshot_every)
        except BaseException:
            lock.release()
            raise

    @property
    def position(self) -> int:
        """How many changes the journal holds (the sequence number of the last one)."""
        return self._position

    # -- writing --------------------------------------------------------------------------------------------

    def record(self, change: Change) -> None:
        """Commit `change` as the next row (the account state's recorder: called before the change is applied).

        Raises `JournalError` if it cannot be written; the account then does not apply the change."""
        position = self._position + 1
        if position > self._next_snapshot and self.snapshot_source is not None:
            self._write_snapshot()
        cls = change.__class__
        kind = cls.__name__
        time = self.clock()
        payload = _encode(_UNSTRUCTURE[cls](change))
        try:
            self._insert(
                "INSERT INTO changes (seq, kind, time, payload, checksum) VALUES (?, ?, ?, ?, ?)",
                (position, kind, time, payload, row_checksum(position, kind, time, payload)),
            )
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: change #{position} could not be written: {exc}") from None
        self._position = position

    def note_owner(self, order_id: str, strategy: str) -> None:
        """Remember that strategy `strategy` sent order `order_id`, for the account's reports (`broker-sim account
        --export`, a resumed run's report). Written with the next snapshot, not per order: a session that dies
        outright loses the attribution of orders since the last snapshot, never money."""
        self._owners.append((order_id, strategy))

    def keep(self, name: str, value: str | None) -> None:
        """Keep `value` under `name` beside the account (None forgets it): data an API client keeps with the
        account, such as `broker-sim serve`'s watchlists. Committed at once; raises `JournalError` if it cannot be
        written (nothing changed)."""
        key = _KEPT_PREFIX + name
        try:
            with self._connection:
                if value is None:
                    self._connection.execute("DELETE FROM meta WHERE key = ?", (key,))
                else:
                    self._connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {name!r} could not be written: {exc}") from None

    def kept(self, name: str) -> str | None:
        """The value kept under `name` (`keep`), or None."""
        row = self._connection.execute("SELECT value FROM meta WHERE key = ?", (_KEPT_PREFIX + name,)).fetchone()
        return None if row is None else str(row[0])

    def snapshot(self) -> None:
        """Write a snapshot of the account now (also done every `snapshot_every` changes and on `close`)."""
        if self.snapshot_source is not None:
            self._write_snapshot()

    def _write_snapshot(self) -> None:
        """Write the account after the last recorded change, keep the latest `_SNAPSHOTS_KEPT`, and checkpoint."""
        assert self.snapshot_source is not None
        account, market = self.snapshot_source()
        position = self._position
        snapshot = JournalSnapshot(position, self.clock(), account, tuple(market))
        payload = _encode(_CONVERTER.unstructure(snapshot))
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT OR REPLACE INTO snapshots (seq, time, payload, checksum) VALUES (?, ?, ?, ?)",
                (position, snapshot.time, payload, row_checksum(position, "", snapshot.time, payload)),
            )
            connection.execute(
                "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?)",
                (_SNAPSHOTS_KEPT,),
            )
            connection.executemany("INSERT OR REPLACE INTO owners (order_id, strategy) VALUES (?, ?)", self._owners)
            connection.execute("COMMIT")
            self._owners.clear()
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise JournalError(f"journal {self.path}: the snapshot at change #{position} failed: {exc}") from None
        items = len(account.orders) + len(account.fills)
        self._snapshot_at = position
        self._next_snapshot = position + max(self.snapshot_every, _CHANGES_PER_SNAPSHOT_ITEM * items)

    def close(self) -> None:
        """Write a last snapshot (a restart then reads no change), checkpoint, close the file and release the
        lock. Safe to call twice."""
        if self._lock.fd is None:
            return
        try:
            if self.snapshot_source is not None:
                self._write_snapshot()
            if self._owners:
                self._connection.executemany(
                    "INSERT OR REPLACE INTO owners (order_id, strategy) VALUES (?, ?)", self._owners
                )
                self._owners.clear()
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._connection.close()
            self._lock.release()

    # -- reading --------------------------------------------------------------------------------------------

    def stored_account(self) -> StoredAccount:
        """The whole account as this journal holds it, every change replayed (a resumed run's report covers
        the earlier sessions with it); the writer's own `read_account`."""
        return _stored_account(self._connection, self.path, attrs.evolve(self.info, changes=self._position))

    def latest_snapshot(self) -> JournalSnapshot | None:
        """The latest snapshot that can be read (a newer one that cannot is logged and skipped), or None."""
        return _latest_snapshot(self._connection, self.path)

    def changes(self, after: int = 0) -> Iterator[Change]:
        """The changes after position `after`, in order, fills de-duplicated by execution id (the skipped ones
        counted in `duplicates_skipped`); raises `JournalError` naming a row that cannot be read."""
        skipped = [0]
        try:
            yield from _unique_fills(_rows(self._connection, self.path, after), set(), skipped)
        finally:
            self.duplicates_skipped += skipped[0]

    def recover_into(self, state: AccountState) -> tuple[JournalSnapshot | None, int]:
        """Rebuild `state` (new, empty) from the latest snapshot and the changes after it; returns the snapshot
        used (None: every change was replayed) and how many changes it covers in all. Raises `JournalError` if a
        change does not apply (the file is left as it is)."""
        snapshot = self.latest_snapshot()
        after = 0
        seen: set[str] = set()
        if snapshot is not None:
            _verify_rows(self._connection, self.path, snapshot.position)
            state.restore(snapshot.account)
            after = snapshot.position
            seen.update(fill.execution_id for fill in snapshot.account.fills)
        skipped = [0]
        changes = _unique_fills(_rows(self._connection, self.path, after), seen, skipped)
        replayed = _replay(state, changes, self.path, after)
        self.duplicates_skipped += skipped[0]
        if skipped[0]:
            log.warning("journal %s: %d duplicate fill(s) skipped during recovery", self.path, skipped[0])
        return snapshot, after + replayed + skipped[0]


def _replay(state: AccountState, changes: Iterable[Change], path: Path, after: int) -> int:
    position = after
    count = 0

    def counted() -> Iterator[Change]:
        nonlocal position
        for change in changes:
            position += 1
            yield change

    try:
        count = state.replay(counted())
    except BrokerError as exc:
        if isinstance(exc, JournalError):
            raise
        raise JournalError(f"journal {path}: change #{position} does not apply to the account: {exc}") from None
    return count


def _rows(connection: sqlite3.Connection, path: Path, after: int, upto: int | None = None) -> Iterator[Change]:
    """Decode the change rows after `after` (up to `upto`, when given), in order; a row that cannot be read, or
    that fails its checksum, is a `JournalError` naming it."""
    try:
        cursor = connection.execute(
            f"SELECT seq, kind, time, payload, {_checksums(connection, 'changes')} FROM changes "
            "WHERE seq > ? AND seq <= ? ORDER BY seq",
            (after, upto if upto is not None else 2**62),
        )
        while rows := cursor.fetchmany(_FETCH):
            for seq, kind, time, payload, checksum in rows:
                if checksum is not None and (
                    not isinstance(payload, str) or checksum != row_checksum(seq, str(kind), time, payload)
                ):
                    raise JournalError(_tampered(path, seq, kind))
                try:
                    yield decode_change(kind, payload)
                except KeyError:
                    if kind not in CHANGE_KINDS:
                        raise JournalError(
                            f"journal {path}: change #{seq} is of unknown kind {kind!r} (a newer broker-sim?)"
                        ) from None
                    raise JournalError(
                        f"journal {path}: change #{seq} ({kind}) is corrupt: a field is missing"
                    ) from None
                except (ValueError, TypeError, AttributeError, BrokerError, cattrs.BaseValidationError) as exc:
                    raise JournalError(f"journal {path}: change #{seq} ({kind}) is corrupt: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {path} is corrupt: {exc}") from None


def _checksums(connection: sqlite3.Connection, table: str) -> str:
    """The checksum column of `table` to select: ``checksum``, or NULL in a journal of version 1 (a reader reads
    an older journal as it is; only a writer migrates it)."""
    columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
    return "checksum" if "checksum" in columns else "NULL"


def _verify_rows(connection: sqlite3.Connection, path: Path, upto: int) -> None:
    """Check the checksums of the change rows up to `upto` without decoding them (recovery from a snapshot does
    not replay them, but a row changed after it was written must not go unnoticed); `JournalError` naming one
    that fails."""
    try:
        cursor = connection.execute(
            f"SELECT seq, kind, time, payload, {_checksums(connection, 'changes')} AS checksum FROM changes "
            "WHERE seq <= ? AND checksum IS NOT NULL",
            (upto,),
        )
        while rows := cursor.fetchmany(_FETCH):
            for seq, kind, time, payload, checksum in rows:
                if not isinstance(payload, str) or checksum != row_checksum(seq, str(kind), time, payload):
                    raise JournalError(_tampered(path, seq, kind))
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {path} is corrupt: {exc}") from None


def _tampered(path: Path, seq: int, kind: object) -> str:
    return (
        f"journal {path}: change #{seq} ({kind}) fails its checksum: the row was changed after it was written; "
        "restore the journal from a copy"
    )


def _latest_snapshot(connection: sqlite3.Connection, path: Path) -> JournalSnapshot | None:
    """The latest snapshot that can be read; one that cannot (unreadable, failing its checksum, or in a damaged
    part of the file) is logged and skipped: snapshots only save time."""
    try:
        checksums = _checksums(connection, "snapshots")
        rows = connection.execute(f"SELECT seq, time, payload, {checksums} FROM snapshots ORDER BY seq DESC").fetchall()
    except sqlite3.DatabaseError as exc:
        log.warning("journal %s: its snapshots cannot be read (%s); replaying every change", path, exc)
        return None
    for seq, time, payload, checksum in rows:
        if checksum is not None and (not isinstance(payload, str) or checksum != row_checksum(seq, "", time, payload)):
            log.warning("journal %s: snapshot at change #%s fails its checksum; using an older one", path, seq)
            continue
        try:
            snapshot: JournalSnapshot = _CONVERTER.structure(_decode(payload), JournalSnapshot)
        except Exception as exc:  # a snapshot only saves time: the changes alone rebuild the account
            log.warning("journal %s: snapshot at change #%d cannot be read (%s); using an older one", path, seq, exc)
            continue
        if snapshot.position == seq:
            return snapshot
    return None


def _random_account_id() -> str:
    return str(_uuid4(None))


def _uuid4(seed: object) -> str:
    """A version-4 UUID string drawn from `seed`'s own stream (None: from the OS)."""
    bits = random.Random(None if seed is None else f"{seed}:account").getrandbits(128)
    return str(uuid.UUID(int=bits, version=4))


def account_id_for(seed: int | None) -> str | None:
    """The account id a paper account created with `seed` gets (None for seed None: a random one is drawn)."""
    return None if seed is None else _uuid4(seed)


# -- reading a whole account -----------------------------------------------------------------------------------


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
