"""Runs that stop early still leave a whole report: Ctrl-C and SIGTERM in a subprocess, a failing strategy, bad
data; reports move into place whole; temp files never stay behind."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from broker_sim import BrokerError, Strategy, run_simulation
from broker_sim.simulation import StrategyError
from broker_sim.wiring import parse_config

ROOT = Path(__file__).resolve().parents[2]

STRATEGY = '''
import sys
from broker_sim import Strategy


class Talkative(Strategy):
    """Buys and sells every 50 bars; says on stdout when it heard of its first fill."""

    def __init__(self) -> None:
        self.bars = 0
        self.told = False

    def on_bar(self, bar):
        self.bars += 1
        if self.bars % 50 == 0:
            return (self.broker.buy if self.bars % 100 == 0 else self.broker.sell)(bar.symbol, 1)

    def on_order_event(self, event):
        if event.fill is not None and not self.told:
            self.told = True
            print("FIRST FILL", flush=True)
'''

CONFIG = """
broker: {{adapter: paper, initial_balance: 1000000, seed: 1, session: always, allow_short: true}}
prices: {{sources: [{{source: synthetic, symbols: [X], interval: 60, count: {count}}}]}}
strategy: {{class: talkative.py:Talkative}}
report: {{out: out}}
"""


def _cli(tmp_path: Path, count: int) -> subprocess.Popen[str]:
    (tmp_path / "talkative.py").write_text(STRATEGY)
    (tmp_path / "run.yaml").write_text(CONFIG.format(count=count))
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    return subprocess.Popen(
        [sys.executable, "-m", "broker_sim", "run", "run.yaml", "--no-progress"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_stops_a_replay_at_once_with_a_partial_report(tmp_path: Path, sent: int, code: int) -> None:
    process = _cli(tmp_path, count=5_000_000)  # minutes of work if it ran to the end
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "FIRST FILL"
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert f"interrupted by {signal.Signals(sent).name}" in stderr and "partial report (complete: false)" in stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["complete"] is False and summary["reason"] == f"interrupted by {signal.Signals(sent).name}"
    trades = (tmp_path / "out" / "trades.csv").read_text().strip().splitlines()
    assert summary["fills"] == len(trades) - 1 >= 1
    assert list((tmp_path / "tmp").iterdir()) == []  # the spools are gone
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_a_failing_strategy_leaves_a_partial_report_with_its_fills(tmp_path: Path) -> None:
    text = f"""
broker: {{adapter: paper, initial_balance: 100000, seed: 1, session: always}}
models: {{latency: none}}
prices: {{sources: [{{source: synthetic, symbols: [X], interval: 60, count: 500}}]}}
strategy: {{class: "tests.acceptance.test_interrupts:FailsLater"}}
report: {{out: {tmp_path / "report"}}}
"""
    with pytest.raises(StrategyError, match=r"FailsLater\.on_bar failed") as raised:
        run_simulation(parse_config(text, base_dir=tmp_path))
    assert getattr(raised.value, "report_dir", None) == tmp_path / "report"
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["complete"] is False and "ZeroDivisionError" in summary["reason"]
    assert summary["fills"] == 3


class FailsLater(Strategy):
    """Trades three times, then breaks."""

    def __init__(self) -> None:
        self.bars = 0

    def on_bar(self, bar):  # type: ignore[no-untyped-def]
        self.bars += 1
        if self.bars <= 3:
            return self.broker.buy(bar.symbol, 1)
        if self.bars == 100:
            return 1 / 0
        return None


def test_a_bad_csv_row_mid_file_leaves_a_partial_report(tmp_path: Path) -> None:
    rows = [f"2026-03-02T14:{minute:02d}:00Z,100,101,99,100,1000" for minute in range(31, 59)]
    rows[20] = "2026-03-02T14:51:00Z,100,101,99,abc,1000"
    (tmp_path / "bars.csv").write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    text = """
broker: {adapter: paper, initial_balance: 100000, seed: 1}
models: {latency: none}
prices: {sources: [{source: csv, path: bars.csv, symbol: X}]}
strategy: {class: "tests.acceptance.test_interrupts:FailsLater"}
report: {out: report}
"""
    with pytest.raises(BrokerError, match=r"bars\.csv, line 22: close must be a number"):
        run_simulation(parse_config(text, base_dir=tmp_path))
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["complete"] is False and "line 22" in summary["reason"] and summary["fills"] == 3


def test_a_report_replaces_an_earlier_report_whole(tmp_path: Path) -> None:
    report = tmp_path / "report"
    config = ROOT / "configs" / "demo.yaml"
    run_simulation(config, out=report, overrides={"prices.sources.0.count": 300})
    first = (report / "orders.csv").read_text()
    run_simulation(config, out=report, overrides={"prices.sources.0.count": 600})
    assert (report / "orders.csv").read_text() != first
    gc.collect()  # the results are let go: their working folder (the spools Result.fills reads) goes with them
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_out_pointing_at_a_file_fails_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file")
    process = subprocess.run(
        [sys.executable, "-m", "broker_sim", "run", str(ROOT / "configs" / "demo.yaml"), "-o", str(tmp_path / "taken")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 2
    assert f"report folder {tmp_path / 'taken'}: {tmp_path / 'taken'} is a file, not a folder" in process.stderr


async def test_a_live_feed_that_gives_up_leaves_a_partial_report_with_its_fills(tmp_path: Path) -> None:
    """A websocket feed that delivers three trades, then refuses every reconnect: the run ends with the source's
    error, and the report written so far (the fill included) is on disk, marked incomplete."""
    import asyncio
    from datetime import UTC, datetime

    from websockets.asyncio.server import serve

    from broker_sim.simulation import arun_simulation

    connections = 0

    async def feed(connection: object) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:  # later connections close at once, without a message: failures in a row
            for price in (100.0, 101.0, 102.0):
                message = {"S": "LIVE", "p": price, "t": datetime.now(UTC).isoformat()}
                await connection.send(json.dumps(message))  # type: ignore[attr-defined]

    async with serve(feed, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        text = f"""
broker: {{adapter: paper, initial_balance: 10000, seed: 1, session: always}}
models: {{latency: none}}
prices:
  clock: realtime
  sources:
    - source: websocket
      url: ws://127.0.0.1:{port}
      kind: trade
      fields: {{symbol: S, price: p, timestamp: t}}
      max_retries: 2
      backoff_initial: 0.01
strategy: {{class: "tests.test_simulation:FirstTick"}}
report: {{out: report}}
"""
        with pytest.raises(BrokerError, match=r"gave up after 2 failed connection\(s\)"):
            async with asyncio.timeout(20):
                await arun_simulation(parse_config(text, base_dir=tmp_path))
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["complete"] is False and "gave up after 2 failed connection(s)" in summary["reason"]
    assert summary["fills"] == 1
    trades = (tmp_path / "report" / "trades.csv").read_text().splitlines()
    assert len(trades) == 2 and ",LIVE," in trades[1]


def test_a_run_killed_outright_leaves_its_working_folder_and_the_next_run_removes_it(tmp_path: Path) -> None:
    process = _cli(tmp_path, count=5_000_000)
    assert process.stdout is not None and process.stdout.readline().strip() == "FIRST FILL"
    process.kill()
    process.communicate(timeout=60)
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".broker-sim-work-")]
    assert len(left) == 1 and (left[0] / "fills.csv").is_file()  # the spool, beside the report, not in $TMPDIR
    assert list((tmp_path / "tmp").iterdir()) == []
    again = subprocess.run(
        [sys.executable, "-m", "broker_sim", "run", "run.yaml", "--no-progress", "--set", "prices.sources.0.count=300"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert not left[0].exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".broker-sim-work-")]


class Exits(Strategy):
    """Trades twice, then calls sys.exit on a bar (`in_task`: from an async handler that waited first)."""

    def __init__(self, in_task: bool = False) -> None:
        self.bars = 0
        self.in_task = in_task

    async def on_bar(self, bar):  # type: ignore[no-untyped-def]
        self.bars += 1
        if self.bars <= 2:
            await self.broker.buy(bar.symbol, 1)
        elif self.bars == 50:
            if self.in_task:
                await self.clock.sleep(30)
            sys.exit(3)


@pytest.mark.parametrize("in_task", [False, True])
def test_sys_exit_in_a_strategy_is_its_failure_and_the_report_is_written(tmp_path: Path, in_task: bool) -> None:
    text = f"""
broker: {{adapter: paper, initial_balance: 100000, seed: 1, session: always}}
models: {{latency: none}}
prices: {{sources: [{{source: synthetic, symbols: [X], interval: 60, count: 500}}]}}
strategy: {{class: "tests.acceptance.test_interrupts:Exits", params: {{in_task: {str(in_task).lower()}}}}}
report: {{out: report}}
"""
    with pytest.raises(StrategyError, match=r"called sys\.exit\(3\)"):
        run_simulation(parse_config(text, base_dir=tmp_path))
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["complete"] is False and "sys.exit(3)" in summary["reason"] and summary["fills"] == 2


def test_sys_exit_in_a_strategy_exits_1_from_the_cli_with_a_partial_report(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text(
        f"""
broker: {{adapter: paper, initial_balance: 100000, seed: 1, session: always}}
prices: {{sources: [{{source: synthetic, symbols: [X], interval: 60, count: 500}}]}}
strategy: {{class: "{ROOT}/tests/acceptance/test_interrupts.py:Exits"}}
report: {{out: report}}
"""
    )
    process = subprocess.run(
        [sys.executable, "-m", "broker_sim", "run", "run.yaml", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 1, process.stderr
    assert "called sys.exit(3)" in process.stderr
    assert f"partial report (complete: false) in {tmp_path / 'report'}" in process.stderr
    assert json.loads((tmp_path / "report" / "summary.json").read_text())["complete"] is False


def test_an_unwritable_report_folder_is_refused_before_the_run(tmp_path: Path, tmpfs) -> None:  # type: ignore[no-untyped-def]
    media = tmpfs(tmp_path / "media", size="1m", read_only=True)
    process = subprocess.run(
        [sys.executable, "-m", "broker_sim", "run", str(ROOT / "configs" / "demo.yaml"), "-o", str(media / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 2
    assert process.stderr.strip() == (
        f"error: report folder {media / 'out'} cannot be written: Read-only file system (in {media})"
    )
    assert "writing the report" not in process.stderr  # refused at the start, not after the run


class BreaksOnBar(Strategy):
    """Raises on its fifth bar: a strategy's own bug."""

    def __init__(self) -> None:
        self.bars = 0

    def on_bar(self, bar):  # type: ignore[no-untyped-def]
        self.bars += 1
        if self.bars == 5:
            raise RuntimeError("the strategy's own bug")


def test_the_same_strategy_bug_exits_1_with_its_traceback_under_run_and_serve(tmp_path: Path) -> None:
    (tmp_path / "bug.yaml").write_text(
        f"""
broker: {{adapter: paper, seed: 1, session: always}}
prices: {{sources: [{{source: synthetic, symbols: [X], interval: 60, count: 500}}]}}
strategy: {{class: "{ROOT}/tests/acceptance/test_interrupts.py:BreaksOnBar"}}
serve: {{port: 0, speed: max, key_id: k, secret_key: s}}
report: {{out: report}}
"""
    )
    for command in (["run", "bug.yaml", "--no-progress"], ["serve", "bug.yaml"]):
        process = subprocess.run(
            [sys.executable, "-m", "broker_sim", *command], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert process.returncode == 1, (command, process.stderr)
        assert "BreaksOnBar.on_bar failed on Bar X" in process.stderr and "Traceback" in process.stderr
        assert "RuntimeError: the strategy's own bug" in process.stderr
