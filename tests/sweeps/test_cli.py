"""`broker-sim sweep` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from broker_sim.cli import app
from broker_sim.sweeps.data import SharedFile

runner = CliRunner()


def test_the_sweep_command_prints_the_best_points_and_writes_the_folder(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-sweep"
    result = runner.invoke(
        app,
        [
            "sweep", str(config_file), "--grid", "strategy.params.fast=3,5", "--grid", "strategy.params.slow=20:30:10",
            "--set", "strategy.params.quantity=5", "--executor", "serial", "--reports", "none", "-o", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "best points by sharpe" in result.stdout
    assert "4 points (0 failed)" in result.stdout
    assert "probability of backtest overfitting" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["run"].startswith("--set strategy.params.fast=")
    assert "quantity: 5" in (out / "best.yaml").read_text()
    assert not (out / "best-report").exists()


def test_the_sweep_command_refuses_bad_input_in_one_line_with_exit_2(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = runner.invoke(app, ["sweep", str(config_file), "--grid", "strategy.params.fast=9:1", "-o", str(out)])
    assert result.exit_code == 2
    assert "error: --grid strategy.params.fast: the range must go up, got 9:1" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    result = runner.invoke(app, ["sweep", str(config_file), "-o", str(out)])
    assert result.exit_code == 2 and "give the parameters to sweep" in result.stderr


def test_a_node_without_the_shared_file_writes_it_once_from_the_object_store(tmp_path: Path) -> None:
    """What a Ray task does on a machine that lacks the sweep's data file: it writes the bytes it got from the
    object store into the node's temp folder, named by their digest, and replays that."""
    data = np.frombuffer(b"arrow bytes", dtype=np.uint8)
    missing = SharedFile(str(tmp_path / "elsewhere" / "source-0.arrow"), "digest-for-this-test-1", 11)
    local = missing.on_this_machine(data)
    assert Path(local.path).read_bytes() == b"arrow bytes" and local.path.endswith("digest-for-this-test-1.arrow")
    assert missing.on_this_machine(np.frombuffer(b"other", dtype=np.uint8)).path == local.path  # written once
    here = SharedFile(local.path, "x", 11)
    assert here.on_this_machine(data) is here
    Path(local.path).unlink()
