"""The friendlier CLI: --version, --set and --seed overrides (checked like the YAML), "did you mean", money to the
cent, the report's title, whole plugin descriptions, and a message while the report is written."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker_sim.cli import app
from broker_sim.plugins import build_registry, create_plugin_manager

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    for folder in ("configs", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "configs" / "demo.yaml"


def _fills(out: Path) -> list[dict[str, str]]:
    with (out / "trades.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("broker-sim 0.")


#: Libraries only a run, a report or a sweep needs: ``--help``, ``--version`` and a bad config never load them.
_HEAVY = ("numpy", "pyarrow", "jinja2", "pandas", "broker_sim.run", "broker_sim.report.files")


@pytest.mark.parametrize("arguments", [["--help"], ["--version"], ["run", "--help"], ["validate", "missing.yaml"]])
def test_help_version_and_a_bad_config_load_no_engine(arguments: list[str], tmp_path: Path) -> None:
    # A process of its own: this one has imported everything already.
    script = (
        "import sys\n"
        "from broker_sim.cli import app\n"
        f"code = app({arguments!r}, standalone_mode=False)\n"
        f"print([name for name in {_HEAVY!r} if name in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def test_set_and_seed_change_the_run_and_the_title_is_reports(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = ["run", str(demo), "-o", str(out), "--set", "strategy.params.quantity=7", "--set", "report.title=Fast 7"]
    result = runner.invoke(app, [*args, "--seed", "11"])
    assert result.exit_code == 0, result.stderr
    assert "Fast 7: summary" in result.stdout
    assert "100,000.00" in result.stdout  # money to the cent, thousands separated
    assert f"writing the report to {out} ..." in result.stderr
    fills = _fills(out)
    assert fills and {row["quantity"] for row in fills} == {"7.0"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["title"] == "Fast 7"
    other = tmp_path / "p"
    assert runner.invoke(app, [*args[:3], str(other), *args[4:], "--seed", "12"]).exit_code == 0
    assert [r["price"] for r in _fills(other)] != [r["price"] for r in fills]  # another seed, other latencies


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--set", "strategy.parms.fast=3"],
            "override strategy.parms.fast: unknown key 'parms' (did you mean 'params'?)",
        ),
        (["--set", "strategy.params.fsat=3"], "SmaCross has no parameter 'fsat' (did you mean 'fast'?)"),
        (["--set", "models.slippage.model=fixd_bps"], "unknown slippage model 'fixd_bps' (did you mean 'fixed_bps'?)"),
        (["--set", "report.equity_interval=often"], "report.equity_interval"),
        (["--set", "oops"], "--set takes KEY=VALUE"),
    ],
)
def test_bad_overrides_exit_2_with_one_line_saying_what_was_wrong(
    demo: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    result = runner.invoke(app, ["run", str(demo), "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_validate_takes_overrides_too(demo: Path) -> None:
    assert runner.invoke(app, ["validate", str(demo), "--set", "strategy.params.fast=4"]).exit_code == 0
    result = runner.invoke(app, ["validate", str(demo), "--set", "broker.sed=4"])
    assert result.exit_code == 2 and "sed" in result.stderr


def test_a_misspelt_option_is_answered_with_the_right_one(demo: Path) -> None:
    result = runner.invoke(app, ["run", str(demo), "--sed", "1"])
    assert result.exit_code == 2
    assert "--seed" in result.stderr


def test_plugin_descriptions_are_whole_sentences() -> None:
    registry = build_registry(create_plugin_manager(()))
    for entry in registry.entries():
        if entry.plugin == "broker_sim.builtin" and not entry.extra:
            assert entry.description.endswith((".", ")")), (entry.name, entry.description)
            assert "\n" not in entry.description


def test_help_names_the_extras_in_brackets() -> None:
    """Rich markup ate `[serve]`: the help said "Needs the  extra."."""
    result = runner.invoke(app, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Needs the [serve] extra (pip install 'broker-sim[serve]')" in " ".join(result.stdout.split())
