"""Sweeps through the Python API, as a notebook runs them: the table, its files, determinism, failures, resume."""

from __future__ import annotations

import html
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from broker_sim import ConfigError, load_config, run_simulation
from broker_sim.sweeps import SweepInterrupted, SweepProgress, sweep

GRID = {"strategy.params.fast": [3, 5], "strategy.params.slow": "20:30:10"}


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_grid_sweep_gives_one_row_per_point_each_equal_to_a_single_run(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    table = sweep(config_file, grid=GRID, executor="serial", out=out)
    assert list(table["point"]) == [0, 1, 2, 3]
    assert list(zip(table["strategy.params.fast"], table["strategy.params.slow"], strict=True)) == [
        (3, 20), (3, 30), (5, 20), (5, 30),
    ]  # fmt: skip
    assert set(table["status"]) == {"ok"} and table["error"].isna().all()
    assert (table["seed"] == 42).all()
    single = run_simulation(config_file, overrides={"strategy.params.fast": 5, "strategy.params.slow": 30}, out=False)
    row = table.iloc[3]
    for name in ("final_equity", "sharpe", "total_return", "max_drawdown", "fills", "round_trips", "fees"):
        assert row[name] == getattr(single.metrics, name), name
    assert row["events"] == single.events
    assert table["psr"].between(0, 1).all() and table["dsr"].between(0, 1).all()
    assert (table["dsr"] <= table["psr"]).all()
    for name in ("results.csv", "results.parquet", "sweep.html", "best.yaml", "summary.json", "sweep.json"):
        assert (out / name).stat().st_size > 0, name
    assert pd.read_parquet(out / "results.parquet").equals(table)
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns) == list(table.columns) and len(csv) == 4
    summary = json.loads((out / "summary.json").read_text())
    best = summary["best"]
    assert best["objective"] == table["sharpe"].max()
    ranked = table.loc[table.attrs["ranking"]]
    assert list(ranked["sharpe"]) == sorted(table["sharpe"], reverse=True)
    assert ranked["point"].iloc[0] == best["point"] and "ranking" not in summary
    assert 0 <= summary["pbo"] <= 1 and table.attrs["pbo"] == summary["pbo"]
    page = (out / "sweep.html").read_text()
    assert "probability of backtest overfitting" in page and "data:image/png;base64," in page
    assert "davidhbailey.com/dhbpapers/deflated-sharpe.pdf" in page
    # The best config runs as it stands, from the sweep's folder, and gives the best point's figures.
    rerun = run_simulation(load_config(out / "best.yaml"), out=False)
    assert rerun.metrics.sharpe == best["objective"]
    assert json.loads((out / "best-report" / "summary.json").read_text())["sharpe"] == best["objective"]


def test_the_table_is_the_same_on_a_process_pool_as_in_one_process(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = sweep(config_file, grid=GRID, executor="serial")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))  # the workers are forked with it
    pooled = sweep(config_file, grid=GRID, executor="process", workers=2)
    assert pooled.equals(serial)
    assert pooled.attrs["pbo"] == serial.attrs["pbo"] or math.isnan(serial.attrs["pbo"])
    assert list(temporary.iterdir()) == []  # a worker ends without collecting garbage: nothing is left behind


def test_a_failing_point_is_recorded_with_its_error_and_the_sweep_goes_on(config_file: Path, tmp_path: Path) -> None:
    grid = {"strategy.params.fast": [5, 40], "strategy.params.slow": [30]}
    out = tmp_path / "sweep"
    table = sweep(config_file, grid=grid, executor="serial", out=out, reports="none")
    assert list(table["status"]) == ["ok", "failed"]
    assert "need 0 < fast < slow, got fast=40 slow=30" in table["error"][1]
    assert math.isnan(table["sharpe"][1]) and not math.isnan(table["sharpe"][0])
    assert table.attrs["failed"] == 1 and table.attrs["best"]["point"] == 0
    page = (out / "sweep.html").read_text()
    assert "Failed points" in page and "strategy.params.fast=40, strategy.params.slow=30" in page
    assert "need 0 &lt; fast &lt; slow" in page


def test_resume_runs_only_the_points_a_crash_lost(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    whole = sweep(config_file, grid=GRID, executor="serial", out=out, reports="none")
    lines = (out / "points.jsonl").read_text().splitlines(keepends=True)
    (out / "points.jsonl").write_text("".join(lines[:2]) + lines[2][:40])  # a crash mid-line
    (out / "results.parquet").unlink()
    ran: list[SweepProgress] = []
    resumed = sweep(
        config_file, grid=GRID, executor="serial", out=out, resume=True, reports="none", progress=ran.append
    )
    assert [state.last.key for state in ran if state.last] == ["2", "3"]
    assert resumed.equals(whole)
    assert len((out / "points.jsonl").read_text().splitlines()) == 4
    assert pd.read_parquet(out / "results.parquet").equals(whole)


def test_a_folder_that_is_not_a_sweeps_is_refused_and_left_as_it_was(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="is not empty and holds no sweep"):
        sweep(config_file, grid=GRID, executor="serial", out=out)
    assert _listing(out) == {"mine.txt": b"keep me"}


def test_a_finished_sweep_is_not_overwritten_and_resumes_only_the_same_sweep(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    sweep(config_file, grid={"strategy.params.fast": [3]}, executor="serial", out=out, reports="none")
    before = _listing(out)
    with pytest.raises(ConfigError, match="holds a sweep already: give --resume"):
        sweep(config_file, grid={"strategy.params.fast": [3]}, executor="serial", out=out)
    with pytest.raises(ConfigError, match="was run with another parameters"):
        sweep(config_file, grid={"strategy.params.fast": [4]}, executor="serial", out=out, resume=True)
    with pytest.raises(ConfigError, match="was run with another objective"):
        sweep(config_file, grid={"strategy.params.fast": [3]}, objective="calmar", out=out, resume=True)
    assert _listing(out) == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"grid": {"strategy.parms.fast": [3]}}, "unknown key 'parms'"),
        ({"grid": None}, "give the parameters to sweep: --grid KEY=VALUES"),
        ({"grid": GRID, "objective": "luck"}, "--objective 'luck' is not a figure; valid: initial_balance"),
        ({"grid": GRID, "direction": "up"}, "direction must be one of max, min, got 'up'"),
        ({"grid": GRID, "executor": "cloud"}, "executor must be one of process, serial, ray, got 'cloud'"),
        ({"grid": GRID, "reports": "some"}, "reports must be one of best, all, none, got 'some'"),
        ({"grid": GRID, "search": "genetic"}, "search must be one of grid, optuna, got 'genetic'"),
        ({"grid": GRID, "trials": 5}, "--trials is for --search optuna"),
        ({"grid": GRID, "workers": 0}, "workers must be >= 1, got 0"),
        ({"grid": GRID, "address": "auto"}, "--address is for --executor ray, not process"),
        ({"grid": GRID, "overrides": {"prices.clock": "realtime"}}, "a sweep replays on the simulated clock"),
        ({"grid": GRID, "overrides": {"broker.journal": "a.db"}}, "a sweep's points cannot share one journal"),
        ({"grid": GRID, "walk_forward": "train=6M"}, "--walk-forward takes train= and test="),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    config_file: Path, tmp_path: Path, options: dict[str, object], message: str
) -> None:
    out = tmp_path / "sweep"
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.").replace("'", "'")):
        sweep(config_file, out=out, **options)  # type: ignore[arg-type]
    assert not out.exists() or not any(out.iterdir())


def test_parameters_may_change_the_data_and_each_setting_is_read_once(config_file: Path) -> None:
    table = sweep(config_file, grid={"prices.sources.0.count": [300, 600], "broker.seed": [1, 2]}, executor="serial")
    assert list(table["events"]) == [600, 600, 1200, 1200]
    assert list(table["seed"]) == [1, 2, 1, 2]
    assert table["final_equity"].nunique() == 4


def test_a_points_row_depends_on_the_point_alone_not_on_the_other_points(config_file: Path) -> None:
    """The seed rule: a point runs with its own broker.seed (the config's here), whatever ran before it, so
    random latency draws the same for the point alone as among others (one-second bars: the draws move fills)."""
    random_latency = {"models.latency": {"model": "uniform", "low": 0.5, "high": 2.0}, "prices.sources.0.interval": 1}
    among = sweep(config_file, grid={"strategy.params.fast": [3, 4, 5]}, executor="serial", overrides=random_latency)
    alone = sweep(config_file, grid={"strategy.params.fast": [5]}, executor="serial", overrides=random_latency)
    figures = ["seed", "events", "final_equity", "sharpe", "fills", "fees", "slippage_cost"]
    assert among.iloc[2][figures].equals(alone.iloc[0][figures])
    assert list(among["seed"]) == [42, 42, 42]


def test_broker_sim_sweep_is_the_function_whatever_was_imported_before() -> None:
    """Importing the package's modules binds ``broker_sim.sweeps``, never ``broker_sim.sweep``."""
    script = (
        "import broker_sim.sweeps.space, broker_sim.sweeps.driver, broker_sim; from broker_sim import sweep; "
        "print(broker_sim.sweep is sweep is broker_sim.sweeps.driver.sweep)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["True"]


def test_a_sweep_stopped_by_ctrl_c_keeps_its_finished_points_and_resumes(config_file: Path, tmp_path: Path) -> None:
    """Ctrl-C reaches the sweep as KeyboardInterrupt between points (here raised by its progress callback)."""
    out = tmp_path / "sweep"

    def stop_after_two(state: SweepProgress) -> None:
        if state.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted, match="interrupted by SIGINT") as stopped:
        sweep(config_file, grid=GRID, executor="serial", out=out, reports="none", progress=stop_after_two)
    assert stopped.value.exit_code == 130
    assert len(pd.read_csv(out / "results.csv")) == 2
    assert len(pd.read_parquet(out / "results.parquet")) == 2
    resumed = sweep(config_file, grid=GRID, executor="serial", out=out, resume=True, reports="none")
    assert resumed.equals(sweep(config_file, grid=GRID, executor="serial"))


def test_reports_all_writes_every_points_full_report_with_the_config_as_the_user_wrote_it(
    config_file: Path, tmp_path: Path
) -> None:
    """The points replay the sweep's shared Arrow files, but a report's "config" is the user's, with the point's
    parameters set: what ``broker-sim run CONFIG --set ...`` would show."""
    out = tmp_path / "sweep"
    table = sweep(config_file, grid={"strategy.params.fast": [3]}, executor="serial", out=out, reports="all")
    summary = json.loads((out / "reports" / "0" / "summary.json").read_text())
    assert summary["sharpe"] == table["sharpe"][0]
    assert not (out / "best-report").exists()
    alone = tmp_path / "alone"
    run_simulation(config_file, overrides={"strategy.params.fast": 3}, out=alone)
    assert _config_shown(out / "reports" / "0") == _config_shown(alone)
    assert "source: synthetic" in _config_shown(alone) and "fast: 3" in _config_shown(alone)


def test_the_best_points_report_shows_the_users_config_too(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    sweep(config_file, grid={"strategy.params.fast": [3, 5]}, executor="serial", out=out)
    shown = _config_shown(out / "best-report")
    assert "source: synthetic" in shown and "arrow" not in shown


def _config_shown(report: Path) -> str:
    """The config section of a report's page, as text."""
    page = (report / "report.html").read_text()
    return html.unescape(page.split('<h2 id="config">Config</h2><pre>', 1)[1].split("</pre>", 1)[0])
