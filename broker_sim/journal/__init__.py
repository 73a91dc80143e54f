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

The package: `schema` (records, rows, migrations), `files` (checking a file without changing it), `writer`
(`Journal`), `recovery` (reading rows back), `export` (`read_account`).
"""

from __future__ import annotations

from broker_sim.journal.export import StoredAccount, read_account
from broker_sim.journal.files import check_account, read_info
from broker_sim.journal.schema import (
    CHANGE_KINDS,
    MIGRATIONS,
    SCHEMA_VERSION,
    SNAPSHOT_EVERY,
    SYNC_MODES,
    JournalInfo,
    JournalSnapshot,
    decode_change,
    encode_change,
    row_checksum,
)
from broker_sim.journal.writer import Journal, account_id_for

__all__ = [
    "CHANGE_KINDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SNAPSHOT_EVERY",
    "SYNC_MODES",
    "Journal",
    "JournalInfo",
    "JournalSnapshot",
    "StoredAccount",
    "account_id_for",
    "check_account",
    "decode_change",
    "encode_change",
    "read_account",
    "read_info",
    "row_checksum",
]
