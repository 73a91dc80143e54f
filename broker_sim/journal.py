"""The journal: one paper account in a SQLite file, so it survives restarts, crashes and kill -9.

Every change record the account's door applies (`broker_sim.changes`) is written here first: one row per change
(sequence number, kind, clock time, JSON), committed before the change is applied, so whatever a strategy or a
listener has heard of is in the file. Recovery (`PaperBroker` does it when it connects) restores the latest
snapshot and replays the changes after it, fills de-duplicated by execution id.

Durability. The file is in WAL mode. With ``sync="normal"`` (the default) a commit is a write to the WAL without
an fsync: it survives the process dying (kill -9, a crash, Ctrl-C) but the last commits may be lost, never half
of one, if the machine loses power. ``sync="full"`` fsyncs every commit: power-loss safe, ~10x slower per change.

Layout (schema version 1)::

    meta(key, value)                    schema_version, application, account_id, created_at, settings (JSON)
    changes(seq, kind, time, payload)   one row per change, seq from 1; time is the broker clock's (POSIX s)
    snapshots(seq, time, payload)       the account after change `seq` and the latest market event per symbol

Snapshots are written every `SNAPSHOT_EVERY` changes at least (more when the state is large, so their cost per
change stays small) and when the journal is closed; the two latest are kept. They only save time: a snapshot
that cannot be read is skipped, and the changes alone rebuild the account.

One process at a time may write a journal: `Journal.open` holds an exclusive `flock` on ``PATH.lock`` (the kernel
releases it when the process dies, however it dies); readers (`read_account`) may read while it runs. A file that
is not a journal, is truncated or corrupt, was written by a newer version (schema) or belongs to another account
is refused with a `JournalError` naming it, and left as it was. Records are (un)structured by cattrs from the
attrs classes themselves; see CONTRIBUTING.md for how to change the schema (a new version and a migration).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.strategies import configure_tagged_union

from broker_sim._numeric import money_equal
from broker_sim.account import AccountSnapshot, AccountState
from broker_sim.changes import (
    Amendment,
    Change,
    Execution,
    NewOrder,
    Notice,
    Replacement,
    ReplaceRefused,
    ReplaceRequest,
    StatusChange,
)
from broker_sim.errors import BrokerError, JournalError, JournalInUse
from broker_sim.ledger import (
    DEFAULT_MAINTENANCE_LONG,
    DEFAULT_MAINTENANCE_SHORT,
    DEFAULT_MARGIN_MULTIPLIER,
    DEFAULT_SHORT_MARGIN,
    Ledger,
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
SCHEMA_VERSION = 1
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
    for cls in (NewOrder, StatusChange, Execution, Amendment, ReplaceRequest, Replacement, ReplaceRefused, Notice)
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

    @property
    def initial_balance(self) -> float:
        """The account's initial balance."""
        return float(self.settings["initial_balance"])


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(omit_if_default=True, detailed_validation=False)
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


#: ``MIGRATIONS[v]`` turns a journal of schema version `v` into one of version ``v + 1``, inside the transaction
#: that also sets ``meta.schema_version``. Version 0 is an empty file: creating a journal runs them all.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _create_v1}


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
    """Refuse a file that is not a SQLite database or is shorter than its header says (truncated)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise JournalError(f"journal {path} cannot be read: {exc.strerror or exc}") from None
    if not header:
        raise JournalError(f"journal {path} is an empty file, not a broker-sim journal")
    if not header.startswith(_SQLITE_HEADER):
        raise JournalError(f"journal {path} is not a broker-sim journal (not a SQLite database)")
    if len(header) < 100:
        raise JournalError(f"journal {path} is truncated: {size} bytes, shorter than a SQLite header")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65_536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counter_valid = header[24:28] == header[92:96]
    if counter_valid and pages and size < pages * page_size:
        raise JournalError(
            f"journal {path} is truncated: {size} bytes, but its header says {pages} pages of {page_size} bytes"
        )


def _read_only(path: Path) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0)


def _in_use(path: Path) -> JournalInUse:
    """The error for a journal another process is writing (its writer locks the file for itself)."""
    try:
        holder = path.with_name(path.name + ".lock").read_text().strip()
    except OSError:
        holder = ""
    who = f" (pid {holder})" if holder.isdigit() else ""
    return JournalInUse(
        f"journal {path} is in use by another process{who}: one process at a time may trade an account, and its "
        "journal can be read once that process has stopped"
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
        if check:
            problems = [row[0] for row in connection.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise JournalError(f"journal {path} is corrupt: {'; '.join(problems)}")
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
        last_snapshot = connection.execute("SELECT max(time) FROM snapshots").fetchone()[0]
        times = [t for t in (last_change, last_snapshot) if t is not None]
        last_time = max(times) if times else None
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc):
            raise _in_use(path) from None
        raise JournalError(f"journal {path} is corrupt or not a broker-sim journal: {exc}") from None
    return JournalInfo(path, version, account_id, meta.get("created_at", ""), settings, count, last_time, last_change)


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
            f"file, or give account_id {info.account_id} (or its seed, {info.settings.get('seed')!r})"
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
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise JournalInUse(
                f"journal {path} is in use by another process{who}: one process at a time may trade an account"
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
    connection.execute("PRAGMA locking_mode=EXCLUSIVE")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={sync.upper()}")
    # Checkpoints run after each snapshot instead: far fewer, so each page is copied back to the file once.
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("COMMIT")
    return connection


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
    ) -> Journal:
        """Open the journal at `path` for writing, creating it for a new account if it does not exist.

        `settings` are the account's (``initial_balance`` at least); a new journal keeps them, an existing one
        must agree on ``initial_balance`` and, when `account_id` is given, on the account id (a new journal
        without one gets a random id). Takes the journal's lock first; raises `JournalError` (nothing changed)
        if another process holds it or the file cannot be used.
        """
        path = Path(path)
        if sync not in SYNC_MODES:
            raise JournalError(f"journal_sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
        lock = _Lock(path)
        try:
            now = clock()
            if not path.exists():
                _create(path, account_id or _random_account_id(), settings, now)
            info = read_info(path)
            check_account(info, account_id, float(settings["initial_balance"]))
            try:
                connection = _connect(path, sync)
                if info.schema_version < SCHEMA_VERSION:
                    _migrate(connection, info.schema_version)
                    info = attrs.evolve(info, schema_version=SCHEMA_VERSION)
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
        try:
            self._insert(
                "INSERT INTO changes (seq, kind, time, payload) VALUES (?, ?, ?, ?)",
                (position, cls.__name__, self.clock(), _encode(_UNSTRUCTURE[cls](change))),
            )
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: change #{position} could not be written: {exc}") from None
        self._position = position

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
                "INSERT OR REPLACE INTO snapshots (seq, time, payload) VALUES (?, ?, ?)",
                (position, snapshot.time, payload),
            )
            connection.execute(
                "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?)",
                (_SNAPSHOTS_KEPT,),
            )
            connection.execute("COMMIT")
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
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._connection.close()
            self._lock.release()

    # -- reading --------------------------------------------------------------------------------------------

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


def _rows(connection: sqlite3.Connection, path: Path, after: int) -> Iterator[Change]:
    """Decode the change rows after `after`, in order; a row that cannot be read is a `JournalError`."""
    try:
        cursor = connection.execute("SELECT seq, kind, payload FROM changes WHERE seq > ? ORDER BY seq", (after,))
        while rows := cursor.fetchmany(_FETCH):
            for seq, kind, payload in rows:
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


def _latest_snapshot(connection: sqlite3.Connection, path: Path) -> JournalSnapshot | None:
    try:
        rows = connection.execute("SELECT seq, payload FROM snapshots ORDER BY seq DESC").fetchall()
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {path} is corrupt: {exc}") from None
    for seq, payload in rows:
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


def read_account(path: str | Path) -> StoredAccount:
    """Read the whole account in the journal at `path`, without changing the file (a running session may go on
    writing it). Raises `JournalError` if it cannot be read."""
    path = Path(path)
    info = read_info(path)
    connection = _read_only(path)
    try:
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
        _replay(state, _unique_fills(_rows(connection, path, 0), set(), skipped), path, 0)
    finally:
        connection.close()
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
    return StoredAccount(info, state, market, tuple(state.orders()), fills)
