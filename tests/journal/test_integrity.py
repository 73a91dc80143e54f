"""What a journal does with rows changed after they were written, damaged snapshots, read-only media and a reader
that reads while a session wants the file: a tampered change is named, a bad snapshot skipped, a disagreement
between the changes and a snapshot reported, a journal on read-only media read, and each "in use" message names
the process that holds the journal."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from broker_sim import JournalError, PaperBroker, SimulatedClock
from broker_sim.journal import SCHEMA_VERSION, Journal, read_account, read_info
from tests.journal.test_journal import T0, _broker, _digest, _open_and_trade, _written


def _execute(path: Path, sql: str, *params: object) -> None:
    connection = sqlite3.connect(path)
    connection.execute(sql, params)
    connection.commit()
    connection.close()


def _first_fill(path: Path) -> tuple[int, str]:
    connection = sqlite3.connect(path)
    row = connection.execute("SELECT seq, payload FROM changes WHERE kind = 'Execution' ORDER BY seq").fetchone()
    connection.close()
    return row


def _one_digit_off(payload: str) -> str:
    """The payload with the first digit of its fill price one higher (100.05 becomes 200.05)."""
    data = json.loads(payload)
    text = str(data["fill"]["price"])
    data["fill"]["price"] = float(str(int(text[0]) % 9 + 1) + text[1:])
    return json.dumps(data, separators=(",", ":"))


def test_one_changed_digit_in_a_fill_price_is_named_and_the_file_left_as_it_was(tmp_path: Path) -> None:
    path = _written(tmp_path)
    seq, payload = _first_fill(path)
    _execute(path, "UPDATE changes SET payload = ? WHERE seq = ?", _one_digit_off(payload), seq)
    digest = _digest(path)
    message = rf"change #{seq} \(Execution\) fails its checksum: the row was changed after it was written"
    with pytest.raises(JournalError, match=message):
        read_account(path)
    with pytest.raises(JournalError, match=message):
        asyncio.run(_open_and_trade(path))
    assert _digest(path) == digest


def test_changes_and_a_snapshot_that_disagree_are_reported_by_the_account_command(tmp_path: Path) -> None:
    """A row without a checksum (as version 1 wrote them) changed by one digit: replaying disagrees with the
    snapshot, and `broker-sim account` says so by how much."""
    path = _written(tmp_path)
    seq, payload = _first_fill(path)
    _execute(path, "UPDATE changes SET payload = ?, checksum = NULL WHERE seq = ?", _one_digit_off(payload), seq)
    stored = read_account(path)
    assert len(stored.problems) == 1
    assert "its changes and its snapshot at change #" in stored.problems[0] and "cash " in stored.problems[0]
    process = subprocess.run(
        [sys.executable, "-m", "broker_sim", "account", str(path)], capture_output=True, text=True, timeout=60
    )
    assert process.returncode == 0
    assert (
        "warning: journal" in process.stderr and "replayed," in process.stderr and "in the snapshot" in process.stderr
    )


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE snapshots SET payload = 'not json'",
        "UPDATE snapshots SET time = 'abc'",
        "UPDATE snapshots SET payload = '{}', checksum = NULL",
    ],
)
def test_an_unreadable_snapshot_is_skipped_and_the_changes_rebuild_the_account(tmp_path: Path, damage: str) -> None:
    path = _written(tmp_path)
    expected = read_account(path).state.ledger.account()
    _execute(path, damage)
    assert read_account(path).state.ledger.account().cash == pytest.approx(expected.cash)

    async def reopen() -> float:
        async with _broker(path) as broker:
            return (await broker.get_account()).cash

    assert asyncio.run(reopen()) == pytest.approx(expected.cash)


def test_a_damaged_snapshot_page_is_dropped_and_the_changes_rebuild_the_account(tmp_path: Path) -> None:
    path = _written(tmp_path)
    expected = read_account(path).state.ledger.account().cash
    connection = sqlite3.connect(path)
    (root,) = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'snapshots'").fetchone()
    (page_size,) = connection.execute("PRAGMA page_size").fetchone()
    connection.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size + 8 : root * page_size - 8] = b"\xa5" * (page_size - 16)  # scribble the table
    path.write_bytes(bytes(data))
    assert read_info(path).damaged_snapshots
    assert read_account(path).state.ledger.account().cash == pytest.approx(expected)

    async def reopen() -> float:
        async with _broker(path) as broker:
            return (await broker.get_account()).cash

    assert asyncio.run(reopen()) == pytest.approx(expected)
    assert not read_info(path).damaged_snapshots  # the writer rebuilt them
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    check.close()


def test_a_damaged_changes_table_is_still_refused(tmp_path: Path) -> None:
    path = _written(tmp_path)
    connection = sqlite3.connect(path)
    (root,) = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'changes'").fetchone()
    connection.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * 1024 + 8 : root * 1024 - 8] = b"\xa5" * 1008
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="is damaged"):
        read_account(path)


def test_a_journal_on_read_only_media_is_read(tmp_path: Path, tmpfs: Callable[..., Path]) -> None:
    media = tmpfs(tmp_path / "media", size="4m")
    path = _written(media)
    expected = read_account(path).state.ledger.account().cash
    for leftover in media.glob("account.db-*"):
        leftover.unlink()  # a clean close leaves the database alone (the WAL index file stays behind)
    subprocess.run(["mount", "-o", "remount,ro", str(media)], check=True)
    assert read_account(path).state.ledger.account().cash == pytest.approx(expected)
    process = subprocess.run(
        [sys.executable, "-m", "broker_sim", "account", str(path)], capture_output=True, text=True, timeout=60
    )
    assert process.returncode == 0, process.stderr
    assert f"{expected:,.2f}" in process.stdout


async def test_a_session_opening_while_a_reader_reads_is_told_a_reader_has_it_not_its_own_pid(
    tmp_path: Path,
) -> None:
    path = tmp_path / "account.db"
    async with _broker(path) as broker:
        await broker.update_market(_bar_now(broker))
    reader = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM changes").fetchone()  # a read transaction: SQLite's shared lock
    try:
        with pytest.raises(JournalError, match="is being read by another process right now") as raised:
            Journal.open(path, account_id=None, settings={"initial_balance": 100_000}, clock=lambda: T0.timestamp())
        assert "pid" not in str(raised.value)
    finally:
        reader.execute("COMMIT")
        reader.close()
    async with PaperBroker(100_000, journal=path, clock=SimulatedClock(T0)):
        pass  # free once the reader is done


def _bar_now(broker: PaperBroker):  # type: ignore[no-untyped-def]
    from broker_sim import Bar

    return Bar("X", broker.clock.now(), 100.0, 100.5, 99.5, 100.0, 1e6, 60.0)


#: A journal of schema version 1, as broker-sim wrote it before checksums (two fills, a working limit order),
#: as SQL text: cash 99,399.30.
V1_JOURNAL = Path(__file__).with_name("journal_v1.sql")


def _v1(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.executescript(V1_JOURNAL.read_text())
    connection.close()
    return path


def test_a_version_1_journal_is_read_as_it_is_then_migrated_by_a_session(tmp_path: Path) -> None:
    path = _v1(tmp_path)
    digest = _digest(path)
    stored = read_account(path)  # a reader reads it without migrating it
    assert stored.info.schema_version == 1 and stored.state.ledger.account().cash == pytest.approx(99_399.30)
    assert len(stored.fills) == 2 and _digest(path) == digest

    async def reopen() -> float:
        async with PaperBroker(100_000, journal=path, clock=SimulatedClock(T0)) as broker:
            return (await broker.get_account()).cash

    assert asyncio.run(reopen()) == pytest.approx(99_399.30)
    migrated = read_info(path)
    assert migrated.schema_version == SCHEMA_VERSION
    assert read_account(path).state.ledger.account().cash == pytest.approx(99_399.30)
