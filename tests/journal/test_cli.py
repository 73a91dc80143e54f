"""`broker-sim account` and `broker-sim paper`: the account printed and exported from its journal, and a paper
session with its dashboard in a terminal (a pseudo-terminal), stopped by Ctrl-C and SIGTERM, resumed."""

from __future__ import annotations

import csv
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker_sim import run_simulation
from broker_sim.cli import app
from broker_sim.journal import read_account
from broker_sim.wiring import load_config

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

CONFIG = """
broker: {{adapter: paper, initial_balance: 100000, seed: 9, session: always, journal: account.db}}
models:
  slippage: {{model: fixed_bps, bps: 5}}
  latency: {{model: none}}
prices:
  clock: simulated
  sources: [{{source: synthetic, symbols: [AAA, BBB], interval: 60, count: {count}, volatility: 0.5}}]
strategy: {{class: '{root}/examples/sma_cross.py:SmaCross', params: {{fast: 3, slow: 8, quantity: 10}}}}
report: {{equity_interval: 600}}
"""


def _config(folder: Path, count: int) -> Path:
    path = folder / "paper.yaml"
    path.write_text(CONFIG.format(count=count, root=ROOT))
    return path


def test_account_prints_the_account_and_exports_a_report_like_a_run(tmp_path: Path) -> None:
    path = _config(tmp_path, 400)
    result = run_simulation(load_config(path))
    journal = tmp_path / "account.db"
    before = journal.read_bytes()
    outcome = runner.invoke(app, ["account", str(journal), "--fills", "3", "--export", str(tmp_path / "export")])
    assert outcome.exit_code == 0, outcome.stderr
    text = outcome.stdout
    stored = read_account(journal)
    assert f"account {stored.info.account_id}" in text
    assert f"{result.account.cash:,.2f}" in text
    assert f"last fills (3 of {len(result.fills):,})" in text
    for position in stored.state.ledger.positions():
        assert re.search(rf"{position.symbol}\s.*{position.quantity:,.6g}", text)
    export = tmp_path / "export"
    assert sorted(p.name for p in export.iterdir()) == sorted(
        [
            ".broker-sim-report",
            "summary.json",
            "trades.csv",
            "orders.csv",
            "equity.csv",
            "account_events.csv",
            "equity.png",
            "report.html",
        ]
    )
    with (export / "trades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["execution_id"] for r in rows] == [f.execution_id for f in result.fills]
    summary = json.loads((export / "summary.json").read_text())
    assert summary["fills"] == len(result.fills)
    assert summary["final_equity"] == pytest.approx(stored.state.ledger.account().equity)
    assert journal.read_bytes() == before  # only read


def test_account_of_a_file_that_is_not_a_journal_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_text("hello")
    outcome = runner.invoke(app, ["account", str(path)])
    assert outcome.exit_code == 2
    assert f"journal {path} is not a broker-sim journal" in outcome.stderr
    assert path.read_text() == "hello"


def test_paper_without_a_terminal_runs_the_sources_in_real_time_and_keeps_the_account(tmp_path: Path) -> None:
    path = _config(tmp_path, 30)
    process = subprocess.run(
        [sys.executable, "-m", "broker_sim", "paper", str(path), "--speed", "6000"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert "60 market events" in process.stdout
    stored = read_account(tmp_path / "account.db")
    assert stored.orders and stored.fills
    # Events are stamped with the present, not the data's dates.
    assert stored.fills[0].timestamp.year >= 2025


def _read_until(fd: int, pattern: str, screen: list[str], limit: float = 60.0) -> re.Match[str]:
    """Read the terminal until `pattern` shows (a bounded wait on the pty, not a sleep)."""
    text = ""
    while True:
        ready, _, _ = select.select([fd], [], [], limit)
        assert ready, f"{pattern!r} did not show; the screen was:\n{text[-3000:]}"
        try:
            chunk = os.read(fd, 65536).decode(errors="replace")
        except OSError:  # the process ended
            chunk = ""
        assert chunk, f"the session ended before {pattern!r} showed:\n{text[-3000:]}"
        text += chunk
        screen.append(chunk)
        match = re.search(pattern, text)
        if match:
            return match


def _session(path: Path) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "140", "LINES": "60", "TERM": "xterm-256color"}
    process = subprocess.Popen(
        [sys.executable, "-m", "broker_sim", "paper", str(path), "--speed", "600"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=path.parent,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    return process, master


def _drain(fd: int, screen: list[str]) -> None:
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            return
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        screen.append(chunk.decode(errors="replace"))


def test_paper_shows_a_live_dashboard_stops_on_ctrl_c_and_sigterm_and_resumes(tmp_path: Path) -> None:
    path = _config(tmp_path, 100_000)
    screen: list[str] = []
    process, fd = _session(path)
    try:
        match = _read_until(fd, r"last fills \((\d+) of ([1-9][\d,]*)\)", screen)
        _read_until(fd, r"positions \(\d+\)", screen)
        _read_until(fd, r"equity [▁▂▃▄▅▆▇█]{3,}", screen)
        _read_until(fd, r"running · Ctrl-C stops", screen)
        assert "open orders (" in "".join(screen)
        assert int(match.group(2).replace(",", "")) >= 1
        process.send_signal(signal.SIGINT)
        _read_until(fd, r"stopped: interrupted by SIGINT", screen)
        _drain(fd, screen)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(fd)
    first = read_account(tmp_path / "account.db")
    assert first.fills

    screen = []
    process, fd = _session(path)
    try:
        # The resumed session starts from the journal: every fill of the first one is there from the first frame.
        match = _read_until(fd, r"last fills \(\d+ of ([\d,]+)\)", screen)
        assert int(match.group(1).replace(",", "")) >= len(first.fills)
        _read_until(fd, r"running", screen)
        process.send_signal(signal.SIGTERM)
        _read_until(fd, r"stopped: interrupted by SIGTERM", screen)
        _drain(fd, screen)
        assert process.wait(timeout=60) == 143
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(fd)
    second = read_account(tmp_path / "account.db")
    assert [f.execution_id for f in second.fills[: len(first.fills)]] == [f.execution_id for f in first.fills]
    assert {o.id for o in first.orders} <= {o.id for o in second.orders}


def test_a_journal_of_another_account_is_named_at_the_configs_broker_key_and_exits_2(tmp_path: Path) -> None:
    path = _config(tmp_path, 40)
    run_simulation(load_config(path), out=False)
    journal = tmp_path / "account.db"
    before = journal.read_bytes()
    path.write_text(path.read_text().replace("initial_balance: 100000", "initial_balance: 50000"))

    outcome = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "report")])

    assert outcome.exit_code == 2
    message = " ".join(outcome.stderr.split())
    assert re.search(r"paper\.yaml:\d+: broker.*initial_balance", message), message
    assert "Traceback" not in outcome.stderr
    assert journal.read_bytes() == before
    assert not (tmp_path / "report").exists()


def test_a_journal_error_is_a_broker_error_but_not_a_config_error() -> None:
    from broker_sim.errors import BrokerError, ConfigError, JournalError, JournalInUse

    assert issubclass(JournalInUse, JournalError) and issubclass(JournalError, BrokerError)
    assert not issubclass(JournalError, ConfigError) and not issubclass(JournalError, ValueError)
