"""Kill -9 at random moments: a journaled paper session loses nothing it announced, and duplicates nothing.

A session process (``session.py``) trades on a simulated clock; the test reads what it announces and kills it
(SIGKILL) after a seeded, random number of lines, i.e. at a random point of its work: between any two changes,
inside a commit, while it writes a snapshot. After each kill the journal is checked (`checks.check_account`), and
the next process resumes from it. At the end one process runs to completion and the account is checked again
(and, if a session completed before all the kills were made, the same again on a new journal).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import SLOW
from tests.journal.checks import check_account

SESSION = Path(__file__).with_name("session.py")
ROOT = Path(__file__).resolve().parents[2]
#: Kills in the loop: at least 20 in CI, many more with --slow.
KILLS = 200 if SLOW else 20
BARS = 4000 if SLOW else 600


def _start(journal: Path, seed: int, bars: int) -> subprocess.Popen[str]:
    # The checkout after what the path already names (`make test-compiled` puts the compiled build first).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))}
    return subprocess.Popen(
        [sys.executable, str(SESSION), str(journal), str(seed), str(bars)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read(process: subprocess.Popen[str], told: set[str], orders: list[str], limit: int | None) -> bool:
    """Read the session's lines (at most `limit`, None: to the end); True if it said DONE."""
    assert process.stdout is not None
    for count, line in enumerate(process.stdout, 1):
        kind, *rest = line.split()
        if kind == "F":
            told.add(rest[0])
        elif kind == "O":
            orders.append(rest[0])
        elif kind == "DONE":
            return True
        if limit is not None and count >= limit:
            return False
    return False


def _kill_loop(journal: Path, rng: random.Random, budget: int) -> int:
    """Start, read and kill sessions on one journal until `budget` kills or the session completes, then run one
    to completion and check the account; returns how many were killed."""
    told: set[str] = set()
    announced: list[str] = []
    kills = 0
    while kills < budget:
        process = _start(journal, 3, BARS)
        done = _read(process, told, announced, rng.randint(1, 120))
        if not done:
            process.send_signal(signal.SIGKILL)
            kills += 1
        # What it printed before it died was told to the strategy: read it all.
        done = _read(process, told, announced, None) or done
        process.wait()
        assert process.returncode in (0, -signal.SIGKILL), process.stderr.read() if process.stderr else ""
        if process.stderr is not None:
            process.stderr.close()
        if process.stdout is not None:
            process.stdout.close()
        stored = check_account(journal, told)
        assert set(announced) <= {o.id for o in stored.orders}
        if done:
            break
    process = _start(journal, 3, BARS)
    assert _read(process, told, announced, None), process.stderr.read() if process.stderr else ""
    process.wait()
    assert process.returncode == 0
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    stored = check_account(journal, told)
    # Every fill told of is there (checked above); a kill between a fill's commit and the strategy hearing of it
    # leaves at most one fill per kill that was booked but never announced.
    assert len(stored.fills) > 100
    assert 0 <= len(stored.fills) - len(told) <= kills
    return kills


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """KILLS kills in all. A session can run ahead of the reader by what its pipe holds (a busy machine starves
    the reader), and finish before the kills are made: then the loop goes on with a new journal, so the count
    never depends on the machine's load."""
    rng = random.Random(14)
    kills = journals = 0
    while kills < KILLS:
        assert journals < 10, f"only {kills} kills in {journals} journals: the sessions finish before being killed"
        kills += _kill_loop(tmp_path / f"account{journals}.db", rng, KILLS - kills)
        journals += 1
