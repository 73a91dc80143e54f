"""Ctrl-C on ``broker-sim sweep`` as a terminal sends it: SIGINT to the whole process group (the command and its
pool workers) while points run. The finished points are kept, ``--resume`` runs the rest, and the final table is
the one an uninterrupted sweep gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from broker_sim.sweeps import SweepProgress, sweep

#: A strategy that enters at its `entry`-th bar and leaves at twice that; the point whose entry the environment
#: names (HOLD_ENTRY) holds its first bar: it says so on stderr, then waits until the test opens the FIFO GATE.
STRATEGY = """
import os
import sys

from broker_sim import Strategy


class EnterAt(Strategy):
    def __init__(self, entry: int = 5, quantity: float = 10) -> None:
        self.entry, self.quantity, self.seen, self.started = entry, quantity, {}, False

    def on_bar(self, bar):
        if not self.started:
            self.started = True
            if str(self.entry) == os.environ.get("HOLD_ENTRY"):
                print(f"HOLDING {self.entry} {os.getpid()}", file=sys.stderr, flush=True)
                open(os.environ["GATE"], "rb").close()  # returns once the test opens the FIFO for writing
        count = self.seen[bar.symbol] = self.seen.get(bar.symbol, 0) + 1
        if count == self.entry:
            return self.broker.buy(bar.symbol, self.quantity)
        if count == 2 * self.entry:
            return self.broker.sell(bar.symbol, self.quantity)
        return None
"""

CONFIG = """\
broker: {adapter: paper, initial_balance: 100000, seed: 42, session: always}
models: {latency: none}
prices:
  sources:
    - {source: synthetic, symbols: [AAPL, MSFT], start: "2024-01-02T00:00:00Z", interval: 3600, count: 120}
strategy: {class: enter_at.py:EnterAt}
"""

#: The grid as the command line gives it (``--resume`` goes on only with the same parameters).
GRID = {"strategy.params.entry": "5:20:5"}


def _stopped_sweep(tmp_path: Path, send: Callable[[subprocess.Popen[str]], None]) -> tuple[int, str, list[str], int]:
    """Run the sweep in a subprocess, `send` it a signal once a point is recorded and point 2 holds, let point 2
    go on; the exit code, stderr, the keys of the points kept and the pid of the worker that held."""
    (tmp_path / "enter_at.py").write_text(STRATEGY)
    (tmp_path / "sweep.yaml").write_text(CONFIG)
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "GATE": str(gate), "HOLD_ENTRY": "15", "TMPDIR": str(tmp_path / "tmp")}
    command = [sys.executable, "-m", "broker_sim", "sweep", "sweep.yaml", "--grid", "strategy.params.entry=5:20:5"]
    process = subprocess.Popen(
        [*command, "--workers", "2", "--reports", "none", "-o", "out"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert process.stderr is not None
    heard: list[str] = []
    while not (any(line.startswith("HOLDING") for line in heard) and any("/4 points" in line for line in heard)):
        line = process.stderr.readline()
        assert line, f"the sweep ended before a point was recorded and point 2 held: {''.join(heard)}"
        heard.append(line)
    send(process)
    # Opening the FIFO for writing lets the held point go on (it ends at its next safe point, interrupted); the
    # open waits for the point's reader, so it runs beside the wait for the sweep: on a loaded machine the signal
    # can end the held worker before it opens the FIFO, and then nothing would ever read it.
    opener = threading.Thread(target=lambda: open(gate, "wb").close(), daemon=True)
    opener.start()
    _, stderr = process.communicate(timeout=120)
    os.close(os.open(gate, os.O_RDONLY | os.O_NONBLOCK))  # (a reader, should the held worker never have been one)
    opener.join(timeout=60)
    assert not opener.is_alive()
    kept = [json.loads(line)["key"] for line in (tmp_path / "out" / "points.jsonl").read_text().splitlines()]
    assert 1 <= len(kept) <= 3 and "2" not in kept
    assert sorted(pd.read_csv(tmp_path / "out" / "results.csv")["point"]) == sorted(int(key) for key in kept)
    assert list((tmp_path / "tmp").iterdir()) == []  # the shared data and the runs' spools are gone
    held = next(int(line.split()[2]) for line in heard if line.startswith("HOLDING"))
    return process.returncode, "".join(heard) + stderr, kept, held


def test_ctrl_c_keeps_the_finished_points_and_resume_gives_the_uninterrupted_table(tmp_path: Path) -> None:
    code, stderr, kept, _ = _stopped_sweep(tmp_path, lambda process: os.killpg(process.pid, signal.SIGINT))
    assert code == 130, stderr
    assert "interrupted by SIGINT: the finished points are kept in out; --resume goes on" in stderr
    assert "Traceback" not in stderr
    ran: list[SweepProgress] = []
    config, out = tmp_path / "sweep.yaml", tmp_path / "out"
    resumed = sweep(config, grid=GRID, executor="serial", out=out, resume=True, reports="none", progress=ran.append)
    assert sorted(state.last.key for state in ran if state.last) == sorted({str(i) for i in range(4)} - set(kept))
    assert resumed.equals(sweep(config, grid=GRID, executor="serial"))
    assert len((out / "points.jsonl").read_text().splitlines()) == 4


def test_sigterm_to_the_sweep_alone_stops_its_workers_too(tmp_path: Path) -> None:
    """A scheduler's SIGTERM reaches the command, not its pool: the sweep stops its workers itself (they were
    left running, orphaned, before) and keeps its finished points."""
    code, stderr, _, held = _stopped_sweep(tmp_path, lambda process: process.send_signal(signal.SIGTERM))
    assert code == 143, stderr
    assert "interrupted by SIGTERM: the finished points are kept in out" in stderr and "Traceback" not in stderr
    with pytest.raises(ProcessLookupError):
        os.kill(held, 0)  # the worker that held point 2 has ended
