"""The writer: `Journal` opens a journal for one process (its lock), records each change before the account
applies it, writes snapshots, and recovers the account from the file."""

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

from broker_sim.account import AccountState
from broker_sim.changes import AccountSnapshot, Change
from broker_sim.errors import JournalError, JournalInUse
from broker_sim.journal.export import StoredAccount, _stored_account
from broker_sim.journal.files import _in_use, check_account, read_info
from broker_sim.journal.recovery import _latest_snapshot, _replay, _rows, _unique_fills, _verify_rows
from broker_sim.journal.schema import (
    _CHANGES_PER_SNAPSHOT_ITEM,
    _CONVERTER,
    _PAGE_SIZE,
    _SNAPSHOTS_KEPT,
    _SNAPSHOTS_TABLE,
    _UNSTRUCTURE,
    APPLICATION,
    SCHEMA_VERSION,
    SNAPSHOT_EVERY,
    SYNC_MODES,
    JournalInfo,
    JournalSnapshot,
    _encode,
    _migrate,
    row_checksum,
)
from broker_sim.models import MarketData

log = logging.getLogger(__name__)


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
        self._snapshot_every = snapshot_every
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
    def snapshot_every(self) -> int:
        """How many changes may follow a snapshot before the next is written (more when the account is large)."""
        return self._snapshot_every

    @snapshot_every.setter
    def snapshot_every(self, changes: int) -> None:
        """Change the snapshot interval of an open journal: the next snapshot is due `changes` after the last."""
        self._snapshot_every = changes
        self._next_snapshot = self._snapshot_at + changes

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


def _random_account_id() -> str:
    return str(_uuid4(None))


def _uuid4(seed: object) -> str:
    """A version-4 UUID string drawn from `seed`'s own stream (None: from the OS)."""
    bits = random.Random(None if seed is None else f"{seed}:account").getrandbits(128)
    return str(uuid.UUID(int=bits, version=4))


def account_id_for(seed: int | None) -> str | None:
    """The account id a paper account created with `seed` gets (None for seed None: a random one is drawn)."""
    return None if seed is None else _uuid4(seed)
