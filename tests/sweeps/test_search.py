"""The optuna search: the same trials whatever the executor, and resumable."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_sim import ConfigError
from broker_sim.sweeps import sweep

pytest.importorskip("optuna", reason="the [optuna] extra is not installed")

MODEL = {"models.slippage.model": "fixed_bps"}
SPACE = {"strategy.params.fast": (2, 8), "strategy.params.slow": "15:40:5", "models.slippage.bps": "1:10:log"}


def test_an_optuna_search_asks_the_same_points_on_any_executor(config_file: Path) -> None:
    serial = sweep(config_file, grid=SPACE, search="optuna", trials=10, executor="serial", overrides=MODEL)
    pooled = sweep(config_file, grid=SPACE, search="optuna", trials=10, executor="process", workers=2, overrides=MODEL)
    assert list(serial["point"]) == list(range(10))
    assert pooled.equals(serial)
    assert serial["strategy.params.fast"].between(2, 8).all()
    assert set(serial["strategy.params.slow"]) <= {15, 20, 25, 30, 35, 40}
    assert serial["models.slippage.bps"].between(1, 10).all()
    assert serial.attrs["best"]["objective"] == serial["sharpe"].max()


def test_an_optuna_search_resumes_with_the_trials_it_had(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "search"
    whole = sweep(
        config_file, grid=SPACE, search="optuna", trials=6, executor="serial", out=out, reports="none", overrides=MODEL
    )
    lines = (out / "points.jsonl").read_text().splitlines(keepends=True)
    (out / "points.jsonl").write_text("".join(lines[:3]))
    resumed = sweep(
        config_file,
        grid=SPACE,
        search="optuna",
        trials=6,
        executor="serial",
        out=out,
        resume=True,
        reports="none",
        overrides=MODEL,
    )
    assert resumed.equals(whole)


def test_bad_search_options_are_refused(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="--trials must be an integer >= 1, got 0"):
        sweep(config_file, grid=SPACE, search="optuna", trials=0, overrides=MODEL)
