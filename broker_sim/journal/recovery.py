"""Reading the rows back: the changes after a snapshot in order, their checksums verified, and the latest
snapshot that can be read."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import cattrs

from broker_sim.account import AccountState
from broker_sim.changes import (
    Change,
    Execution,
)
from broker_sim.errors import BrokerError, JournalError
from broker_sim.journal.schema import (
    _CONVERTER,
    _FETCH,
    CHANGE_KINDS,
    JournalSnapshot,
    _decode,
    decode_change,
    row_checksum,
)

log = logging.getLogger(__name__)


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
