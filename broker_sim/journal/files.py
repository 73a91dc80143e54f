"""Checking a journal file without changing it: is it a SQLite database, a broker-sim journal, whole, whose
account, in use by whom (`read_info`, `check_account`)."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path

from broker_sim._numeric import money_equal
from broker_sim.errors import JournalError, JournalInUse
from broker_sim.journal.schema import _SQLITE_HEADER, APPLICATION, SCHEMA_VERSION, JournalInfo

log = logging.getLogger(__name__)


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
