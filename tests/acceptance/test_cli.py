"""The shipped configs, run through the `broker-sim` command as a user runs them."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker_sim import load_config, run_simulation
from broker_sim.cli import app
from tests.rejections import assert_few_failures

ROOT = Path(__file__).resolve().parents[2]
#: Configs that trade on a live venue in real time (they need keys and a network): validated offline in
#: tests/adapters/alpaca/test_config.py instead of run here.
LIVE_CONFIGS = {"alpaca_paper.yaml", "live.yaml"}
CONFIGS = sorted(path for path in (ROOT / "configs").glob("*.yaml") if path.name not in LIVE_CONFIGS)
runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the configs, examples, plugins and data, so reports land in tmp_path."""
    for folder in ("configs", "examples", "plugins", "data"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    return tmp_path


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_shipped_config_runs_and_its_report_agrees_with_the_ledger(workdir: Path, config: Path) -> None:
    path = workdir / "configs" / config.name
    # The demo runs as the README says, without --out: its report goes where its config says (one run for both).
    demo = config.stem == "demo"
    out = workdir / "reports/demo" if demo else workdir / "out" / config.stem
    code, stdout, stderr = _invoke("run", str(path), *(() if demo else ("--out", str(out))))
    assert code == 0, stderr
    assert "summary" in stdout and "final equity" in stdout
    if demo:
        assert "report:" in stdout
    summary = json.loads((out / "summary.json").read_text())
    equity_rows = (out / "equity.csv").read_text().strip().splitlines()
    assert float(equity_rows[-1].split(",")[1]) == pytest.approx(summary["final_equity"], abs=1e-6)
    for name in ("trades.csv", "orders.csv", "equity.png", "report.html"):
        assert (out / name).stat().st_size > 0
    assert summary["fills"] == len((out / "trades.csv").read_text().strip().splitlines()) - 1
    # A sensible example: (almost) every order fills; a served config's orders come from its bots, none here.
    assert_few_failures(summary["orders_by_status"], config.name, needs_fills=config.stem != "serve_replay")
    if config.stem == "daily":  # the daily config trades on daily bars without a warning
        assert "warning" not in stderr
        assert summary["orders_by_status"] == {"filled": 15} and summary["fills"] == 15
        assert summary["total_return"] != 0


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("seed: 42", "seed: 42\n  sede: 1"), r"demo\.yaml:7: broker\.sede: unknown key 'sede'"),
        (("model: fixed_bps, bps: 5", "model: fixd_bps, bps: 5"), r"demo\.yaml:9: models\.slippage\.model: unknown"),
        (("bps: 5}", "bps: lots}"), r"demo\.yaml:9: models\.slippage\.bps: .*bps must be a finite number"),
        (("interval: 300", "interval: -3"), r"demo\.yaml:\d+: prices\.sources\[0\]\.interval: interval must be > 0"),
        (("quantity: 100}", "qty: 100}"), r"demo\.yaml:\d+: strategy\.params\.qty: SmaCross has no parameter 'qty'"),
        (("clock: simulated", "clock: sometimes"), r"demo\.yaml:14: prices\.clock: must be one of simulated, realtime"),
    ],
)
def test_config_mistakes_exit_2_with_one_line_naming_key_and_line(
    workdir: Path, edit: tuple[str, str], expected: str
) -> None:
    path = workdir / "configs/demo.yaml"
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1))
    for command in ("run", "validate"):
        code, _, stderr = _invoke(command, str(path))
        assert code == 2
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, stderr
        assert "Traceback" not in stderr
        assert re.search(expected, lines[0]), lines[0]


def test_a_bad_csv_row_exits_2_with_the_line_number(workdir: Path) -> None:
    data = workdir / "data/sample/AAPL_1m.csv"
    lines = data.read_text().splitlines()
    lines[100] = lines[100].replace(lines[100].split(",")[4], "NaN-ish")
    data.write_text("\n".join(lines) + "\n")
    code, _, stderr = _invoke("run", str(workdir / "configs/csv_replay.yaml"))
    assert code == 2
    assert "AAPL_1m.csv, line 101: close must be a number, got 'NaN-ish'" in stderr
    assert "Traceback" not in stderr


def test_validate_accepts_every_shipped_config() -> None:
    for config in CONFIGS:
        code, stdout, stderr = _invoke("validate", str(config))
        assert code == 0, stderr
        assert "ok" in stdout


def test_plugins_lists_models_sources_and_adapters_with_their_plugin() -> None:
    code, stdout, _ = _invoke("plugins", "--plugin", str(ROOT / "plugins/sqrt_impact.py"))
    assert code == 0
    for expected in (
        "fixed_bps",
        "bps=5.0",
        "uniform",
        "synthetic",
        "csv",
        "paper",
        "broker_sim.builtin",
        "sqrt_impact",
        "half_spread",
        "entrypoint:example",
    ):
        assert expected in stdout


def test_init_writes_a_config_that_runs(tmp_path: Path) -> None:
    config = tmp_path / "mine.yaml"
    code, _, _ = _invoke("init", str(config))
    assert code == 0 and config.exists() and (tmp_path / "my_strategy.py").exists()
    code, _, stderr = _invoke("init", str(config))
    assert code == 2 and "exists" in stderr
    code, _, stderr = _invoke("run", str(config))
    assert code == 0, stderr
    summary = json.loads((tmp_path / "reports/mine/summary.json").read_text())
    assert_few_failures(summary["orders_by_status"], "the init starter")


def test_missing_config_exits_2(tmp_path: Path) -> None:
    code, _, stderr = _invoke("run", str(tmp_path / "absent.yaml"))
    assert code == 2
    assert "does not exist" in stderr


def _fills(config_text: str, workdir: Path) -> list[tuple[str, float, float, float]]:
    path = workdir / "configs/probe.yaml"
    path.write_text(config_text)
    result = run_simulation(load_config(path))
    return [(f.side.value, f.reference_price, f.price, f.quantity) for f in result.fills]


def test_plugin_file_and_example_package_change_fills_as_their_formulas_say(workdir: Path) -> None:
    base = (workdir / "configs/sqrt_impact.yaml").read_text()
    sqrt_fills = _fills(base, workdir)
    data_volumes = {
        row.split(",")[0]: float(row.split(",")[5])
        for row in (workdir / "data/sample/AAPL_1m.csv").read_text().splitlines()[1:]
    }
    assert sqrt_fills
    volume_floor = min(data_volumes.values())
    for side, reference, price, quantity in sqrt_fills:
        # impact = k x sigma x sqrt(qty / bar volume) with k 1, sigma 0.02: bounded by the smallest bar volume
        impact = abs(price / reference - 1)
        assert 0 < impact <= 1.0 * 0.02 * math.sqrt(quantity / volume_floor) + 1e-12
        assert (price > reference) == (side == "buy")

    package = base.replace("plugins: [../plugins/sqrt_impact.py]\n", "").replace(
        "slippage: {model: sqrt_impact, k: 1.0, sigma: 0.02}", "slippage: {model: half_spread, spread: 0.04}"
    )
    for side, reference, price, _ in _fills(package, workdir):
        assert price == pytest.approx(reference + (0.02 if side == "buy" else -0.02), abs=1e-9)


def test_the_quickstart_example_prints_its_fills_and_account(capsys: pytest.CaptureFixture[str]) -> None:
    import runpy

    runpy.run_path(str(ROOT / "examples/quickstart.py"), run_name="__main__")
    printed = capsys.readouterr().out
    assert "Fills" in printed and "Account" in printed and "insufficient buying power" in printed


def test_plugins_lists_an_entry_whose_optional_extra_is_missing_with_what_to_install(tmp_path: Path) -> None:
    plugin = tmp_path / "ibkr_plugin.py"
    plugin.write_text(
        "def broker_sim_register(registry):\n"
        "    registry.add('adapter', 'ibkr', 'broker_sim_tests_no_ibkr:IbkrBroker', extra='ibkr')\n"
    )
    code, stdout, _ = _invoke("plugins", "--plugin", str(plugin))
    assert code == 0
    cells = re.sub(r"[│\s]+", " ", stdout)  # the table wraps long cells over lines
    assert "adapter 'ibkr' needs the optional extra [ibkr]: pip install 'broker-sim[ibkr]'" in cells


def test_a_run_whose_orders_fail_says_so_in_the_summary_and_a_warning(workdir: Path) -> None:
    path = workdir / "configs" / "demo.yaml"
    path.write_text(path.read_text().replace("initial_balance: 100000", "initial_balance: 100"))
    out = workdir / "out" / "poor"
    code, _stdout, stderr = _invoke("run", str(path), "--out", str(out))
    assert code == 0, stderr
    # Every order is refused at the door (as Alpaca answers 403): counted, and the run goes on to the end. The
    # crossover never sells what it does not hold: no "not allowed to short" refusals.
    assert "warning:" in stderr and "100% of 204 orders were refused (204), rejected (0) or expired (0)" in stderr
    assert "top reasons: insufficient buying power (204)" in stderr
    assert "the run made no fill" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and summary["orders_by_status"] == {"refused": 204}
    assert summary["top_reasons"] == [["insufficient buying power", 204]]
