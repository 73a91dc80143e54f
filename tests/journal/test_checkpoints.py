"""A journal interrupted in a checkpoint is still its account's: whether it is whole is SQLite's to judge, not its
size. In WAL mode a checkpoint writes page 1 (with the new page count) before the file grows, and the WAL still
holds every page, so a process killed there (or a disk that fills there) leaves a file shorter than its header
says and a journal SQLite opens whole. Such a journal used to be refused as "truncated"; these tests build that
state exactly, kill a session during checkpoints again and again, and fill a small disk under a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker_sim import Bar, PaperBroker, SimulatedClock
from broker_sim.journal import read_account, read_info
from tests.conftest import SLOW
from tests.journal.checks import check_account
from tests.journal.test_crash import _read

SESSION = Path(__file__).with_name("session.py")
ROOT = Path(__file__).resolve().parents[2]
#: Kill rounds of the checkpoint loop: bounded in CI, many more with --slow.
ROUNDS = 120 if SLOW else 10
BARS = 1500 if SLOW else 250
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def _short_by(journal: Path) -> int:
    """How many pages the file lacks of what its header says (> 0: caught between page 1 and the growth)."""
    header = journal.read_bytes()[:100]
    page_size = int.from_bytes(header[16:18], "big")
    pages = int.from_bytes(header[28:32], "big")
    return pages - journal.stat().st_size // page_size


def _mid_checkpoint(source: Path, target: Path) -> None:
    """Copy the journal `source` (its writer still running, so the WAL holds every change) to `target`, with page
    1 taken from the WAL: the state a checkpoint leaves when it has written page 1 and not yet grown the file."""
    shutil.copy(source, target)
    wal = Path(f"{source}-wal").read_bytes()
    shutil.copy(f"{source}-wal", f"{target}-wal")
    page_size = struct.unpack(">I", wal[8:12])[0]
    first_page = None
    for offset in range(32, len(wal) - 24 - page_size + 1, 24 + page_size):
        if struct.unpack(">I", wal[offset : offset + 4])[0] == 1:
            first_page = wal[offset + 24 : offset + 24 + page_size]
    assert first_page is not None
    data = bytearray(target.read_bytes())
    data[:page_size] = first_page
    target.write_bytes(bytes(data))


async def _trade_without_closing(journal: Path, copy: Path) -> tuple[int, float, float]:
    broker = PaperBroker(100_000, seed=11, journal=journal, clock=SimulatedClock(T0), session="always", latency="none")
    await broker.connect()
    for minute in range(200):
        stamp = datetime.fromtimestamp(T0.timestamp() + 60 * minute, UTC)
        price = 100.0 + minute % 7
        await broker.update_market(Bar("X", stamp, price, price + 0.5, price - 0.5, price, 1e6, 60.0))
        await (broker.sell if minute % 3 == 2 else broker.buy)("X", 1)  # long only: a cash account
    assert broker.journal is not None
    changes = broker.journal.position
    _mid_checkpoint(journal, copy)
    account = await broker.get_account()
    position = await broker.get_position("X")
    await broker.close()
    assert position is not None
    return changes, account.cash, position.quantity


def test_a_journal_caught_mid_checkpoint_opens_with_every_change(tmp_path: Path) -> None:
    copy = tmp_path / "crashed.db"
    changes, cash, quantity = asyncio.run(_trade_without_closing(tmp_path / "account.db", copy))
    assert _short_by(copy) > 100  # what the old size check called "truncated"
    info = read_info(copy)
    assert info.changes == changes > 500
    stored = check_account(copy)
    assert stored.state.ledger.account().cash == pytest.approx(cash)
    assert stored.state.ledger.position("X").quantity == quantity  # type: ignore[union-attr]

    async def reopen() -> float:
        async with PaperBroker(100_000, seed=11, journal=copy, clock=SimulatedClock(T0)) as broker:
            return (await broker.get_account()).cash

    assert asyncio.run(reopen()) == pytest.approx(cash)  # the writer opens it too, and SQLite finishes the job
    assert _short_by(copy) <= 0


def test_kill_9_during_checkpoints_never_refuses_the_journal(tmp_path: Path) -> None:
    """Each round runs the session with a snapshot and a checkpoint every 3 bars and ends it at a random moment
    after one of them began (0-40 ms: the snapshot's commit and checkpoint take 10-40 ms), then reads the
    journal: it must open, balance and hold every fill announced. The rounds are printed (``pytest -s``) with
    the file's state after the kill. Landing exactly between page 1 and the growth is rare (a few page writes);
    the test above builds that state and the full-disk test below produces it."""
    rng = random.Random(20)
    journal = tmp_path / "account.db"
    told: set[str] = set()
    announced: list[str] = []
    rounds: list[str] = []
    done = False
    for number in range(1, ROUNDS + 1):
        delay_us = rng.randint(0, 40_000)
        process = subprocess.Popen(
            [sys.executable, str(SESSION), str(journal), "5", str(BARS), "3", str(rng.randint(1, 4)), str(delay_us)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))},
        )
        done = _read(process, told, announced, None)
        process.wait()
        stderr = process.stderr.read() if process.stderr is not None else ""
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        assert process.returncode in (0, -signal.SIGALRM), stderr
        short = _short_by(journal)
        wal = Path(f"{journal}-wal")
        stored = check_account(journal, told)  # opens it: a refusal fails the test here
        assert set(announced) <= {order.id for order in stored.orders}
        rounds.append(
            f"round {number:3}: {'finished' if done else f'killed {delay_us / 1000:4.1f} ms after a snapshot began'}; "
            f"file {journal.stat().st_size:>9,} B, WAL {wal.stat().st_size if wal.exists() else 0:>9,} B, "
            f"{f'{short} page(s) short of its header' if short > 0 else 'file whole'}; "
            f"opened: {len(stored.fills):,} fills, {len(stored.orders):,} orders, ledger balanced"
        )
        if done:
            break
    print("\n" + "\n".join(rounds))
    assert len(rounds) == ROUNDS or done


def test_a_full_disk_stops_the_run_keeps_its_records_and_the_journal_opens_once_space_is_freed(
    tmpfs: Callable[..., Path], tmp_path: Path
) -> None:
    small_disk = tmpfs(tmp_path / "disk", size="2m")
    (tmp_path / "run.yaml").write_text(
        f"""
broker: {{adapter: paper, initial_balance: 1000000, seed: 1, session: always, journal: disk/account.db}}
models: {{latency: none}}
prices: {{sources: [{{source: synthetic, symbols: [X], interval: 60, count: 20000}}]}}
strategy: {{class: {ROOT}/examples/sma_cross.py:SmaCross, params: {{fast: 2, slow: 4, quantity: 1}}}}
report: {{out: disk/report}}
"""
    )
    ballast = small_disk / "ballast"
    ballast.write_bytes(bytes(1_300_000))
    command = [sys.executable, "-m", "broker_sim"]
    process = subprocess.run(
        [*command, "run", "run.yaml", "--no-progress"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 2, process.stderr
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in process.stderr, process.stderr
    assert "writing the report to" in errors[0] and "No space left on device" in errors[0]
    assert "the run's fills and orders are kept in" in errors[0] and "database or disk is full" in errors[0]
    assert _short_by(small_disk / "account.db") > 0  # the checkpoint wrote page 1, then the disk was full
    kept = next(small_disk.glob("report.unsaved-*"))
    assert (kept / "fills.csv").read_text().startswith("timestamp,order_id,symbol,side")
    ballast.unlink()  # space again
    changes = read_info(small_disk / "account.db").changes
    assert changes > 0
    stored = check_account(small_disk / "account.db")
    assert len(stored.fills) > 0
    again = subprocess.run(
        [*command, "run", "run.yaml", "--no-progress", "--set", "prices.sources.0.count=1", "-o", "again"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr  # the account goes on from its journal
    assert read_account(small_disk / "account.db").info.changes >= changes
