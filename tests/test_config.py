"""Configs load into frozen classes; every mistake is one ConfigError naming the file, the key and the line."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from broker_sim import Config, ConfigError, load_config
from broker_sim.config import parse_text
from broker_sim.wiring import parse_config

ROOT = Path(__file__).resolve().parent.parent

GOOD = f"""\
broker:
  adapter: paper
  initial_balance: 100000
  seed: 42
models:
  slippage: {{model: fixed_bps, bps: 5}}
  latency: {{model: uniform, low: 0.5, high: 2.0}}
prices:
  clock: simulated
  sources:
    - {{source: synthetic, symbols: [AAPL], count: 50}}
strategy:
  class: {ROOT}/examples/sma_cross.py:SmaCross
  params: {{fast: 10, slow: 30, quantity: 100}}
report:
  out: reports/run
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_good_config_loads_into_frozen_classes(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert config.broker["initial_balance"] == 100000
    assert config.models.slippage == {"model": "fixed_bps", "bps": 5}
    assert config.prices.sources[0]["source"] == "synthetic"
    assert config.all_strategies[0].params == {"fast": 10, "slow": 30, "quantity": 100}
    assert config.resolve(config.report.out or "") == tmp_path / "reports" / "run"
    assert config.seed == 42
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.plugins = ("other.py",)  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.models.slippage = None  # type: ignore[misc]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  seed: 42", "  seed: 42\n  sede: 1", r"run\.yaml:5: broker\.sede: unknown key 'sede' .*valid keys: adapter"),
        ("  seed: 42", "  seed: forty", r"run\.yaml:4: broker\.seed: seed must be an integer"),
        (
            "model: fixed_bps, bps: 5",
            "model: fixd_bps, bps: 5",
            r":6: models\.slippage\.model: unknown slippage "
            r"model 'fixd_bps' \(did you mean 'fixed_bps'\?\); valid: fixed, fixed_bps",
        ),
        (
            "model: fixed_bps, bps: 5",
            "model: fixed_bps, bpz: 5",
            r":6: models\.slippage\.bpz: .*unknown parameter "
            r"'bpz' \(did you mean 'bps'\?\); valid parameters: bps=5\.0",
        ),
        ("model: fixed_bps, bps: 5", "model: fixed_bps, bps: -5", r":6: models\.slippage\.bps: .*bps must be >= 0"),
        ("low: 0.5, high: 2.0", "low: 3, high: 2.0", r":7: models\.latency\.(low|high): .*high must be >= low"),
        (
            "source: synthetic,",
            "source: synthetik,",
            r":11: prices\.sources\[0\]\.source: unknown source "
            r"'synthetik' \(did you mean 'synthetic'\?\); valid: alpaca, arrow, csv, dataframe, synthetic",
        ),
        ("count: 50", "count: -1", r":11: prices\.sources\[0\]\.count: count must be an integer >= 0"),
        ("clock: simulated", "clock: fast", r":9: prices\.clock: must be one of simulated, realtime"),
        (
            "quantity: 100}",
            "qty: 100}",
            r":14: strategy\.params\.qty: SmaCross has no parameter 'qty'; "
            r"valid: fast=10, slow=30, quantity=100",
        ),
        ("fast: 10,", "fast: 40,", r":14: strategy\.params\.fast: SmaCross: need 0 < fast < slow"),
        ("SmaCross\n", "SmaCros\n", r":13: strategy\.class: .*has no class 'SmaCros'; strategies there: SmaCross"),
        (
            "adapter: paper",
            "adapter: papr",
            r":2: broker\.adapter: unknown adapter 'papr' \(did you mean 'paper'\?\); valid: alpaca, paper",
        ),
        (
            "report:",
            "reprot:",
            r":15: reprot: unknown key 'reprot' \(did you mean 'report'\?\); "
            r"valid keys: broker, models, prices, strategy",
        ),
        ("  initial_balance: 100000", "  initial_balance: [1]", r":3: broker\.initial_balance: initial_balance must"),
        ("  out: reports/run", "  out: reports/run\n  equity_interval: soon", r":17: report\.equity_interval: "),
        ("symbols: [AAPL]", "symbols: [AAPL", r"run\.yaml:11: not valid YAML"),
        (
            "  seed: 42",
            "  seed: ${BROKER_SIM_TEST_UNSET}",
            r":4: broker\.seed: environment variable "
            r"BROKER_SIM_TEST_UNSET is not set",
        ),
        (
            "prices:\n  clock: simulated\n  sources:\n    - {source: synthetic, symbols: [AAPL], count: 50}\n",
            "",
            r"run\.yaml: .*no price sources",
        ),
    ],
)
def test_each_mistake_is_one_config_error_naming_key_and_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError, match=expected) as raised:
        load_config(path, env={})
    assert "\n" not in str(raised.value)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope\.yaml does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_missing_csv_and_plugin_files_are_named(tmp_path: Path) -> None:
    csv_config = GOOD.replace(
        "{source: synthetic, symbols: [AAPL], count: 50}", "{source: csv, path: no.csv, symbol: A}"
    )
    with pytest.raises(ConfigError, match=r":11: prices\.sources\[0\]\.path: CSV file .*no\.csv does not exist"):
        load_config(_write(tmp_path, csv_config))
    plugin_config = GOOD + "plugins: [missing_plugin.py]\n"
    with pytest.raises(ConfigError, match=r":17: plugins\[0\]: plugin file missing_plugin\.py does not exist"):
        load_config(_write(tmp_path, plugin_config))


def test_environment_variables_fill_values(tmp_path: Path) -> None:
    text = GOOD.replace("  seed: 42", "  seed: ${SEED}").replace("reports/run", "${OUT:-reports/default}")
    config = load_config(_write(tmp_path, text), env={"SEED": "7"})
    assert config.seed == 7
    assert config.report.out == "reports/default"


def test_models_set_under_broker_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace("  seed: 42", "  seed: 42\n  slippage: {model: none}")
    with pytest.raises(ConfigError, match=r":5: broker\.slippage: slippage is not set under broker: set it in models"):
        load_config(_write(tmp_path, text))


def test_several_strategies_are_listed(tmp_path: Path) -> None:
    strategies = (
        "strategies:\n"
        f"  - {{name: a, class: '{ROOT}/examples/sma_cross.py:SmaCross', symbols: [AAPL]}}\n"
        f"  - {{name: b, class: '{ROOT}/examples/buy_and_hold.py:BuyAndHold', params: {{allocation: 0.5}}}}\n"
    )
    text = GOOD.split("strategy:")[0] + strategies
    config = load_config(_write(tmp_path, text))
    assert [s.name for s in config.all_strategies] == ["a", "b"]
    assert config.all_strategies[0].symbols == ("AAPL",)


def test_parse_config_takes_text() -> None:
    config = parse_config(GOOD, base_dir=ROOT)
    assert config.path is None
    assert config.base_dir == ROOT


def test_an_adapter_whose_optional_extra_is_missing_is_named_at_its_line(tmp_path: Path) -> None:
    plugin = tmp_path / "ibkr_plugin.py"
    plugin.write_text(
        "def broker_sim_register(registry):\n"
        "    registry.add('adapter', 'ibkr', 'broker_sim_tests_no_ibkr:IbkrBroker', extra='ibkr')\n"
    )
    text = GOOD.replace("adapter: paper", "adapter: ibkr") + "plugins: [ibkr_plugin.py]\n"
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, text))
    assert str(raised.value) == (
        f"{tmp_path / 'run.yaml'}:2: broker.adapter: adapter 'ibkr' needs the optional extra [ibkr]: "
        "pip install 'broker-sim[ibkr]' (No module named 'broker_sim_tests_no_ibkr')"
    )


def test_parse_text_checks_only_what_the_yaml_says_and_parse_config_checks_the_rest() -> None:
    text = GOOD.replace("model: fixed_bps, bps: 5", "model: fixd_bps, bps: 5")
    assert parse_text(text, base_dir=ROOT).models.slippage == {"model": "fixd_bps", "bps": 5}
    with pytest.raises(ConfigError, match=r"<config>:6: models\.slippage\.model: unknown slippage model 'fixd_bps'"):
        parse_config(text, base_dir=ROOT)
    with pytest.raises(ConfigError, match=r"<config>:15: reprot: unknown key 'reprot'"):
        parse_text(GOOD.replace("report:", "reprot:"), base_dir=ROOT)


def test_the_line_map_points_errors_but_is_not_part_of_the_configs_value() -> None:
    config = parse_text(GOOD, base_dir=ROOT)
    shifted = parse_text("# a comment first\n" + GOOD, base_dir=ROOT)
    assert config == shifted
    assert "source_lines" not in repr(config)
    assert str(config.error_at(("broker", "seed"), "bad")) == "<config>:4: broker.seed: bad"
    assert str(shifted.error_at(("broker", "seed"), "bad")) == "<config>:5: broker.seed: bad"
    assert str(Config().error_at(("prices",), "no sources")) == "<config>: prices: no sources"


@pytest.mark.parametrize("section", ["models", "broker", "report", "prices"])
def test_an_empty_section_means_its_defaults(section: str) -> None:
    """`models:` with nothing under it leaked a TypeError ("argument of type 'NoneType' is not iterable")."""
    sources = "" if section == "prices" else "prices: {sources: [{source: synthetic, count: 5}]}\n"
    text = f"{section}:\n{sources}strategy: {{class: '{ROOT}/examples/sma_cross.py:SmaCross'}}\n"
    if section == "prices":
        with pytest.raises(ConfigError, match="no price sources"):
            parse_config(text)
        return
    config = parse_config(text)
    assert config.models.given() == {} if section == "models" else config is not None


def test_a_strategy_file_imports_a_helper_module_beside_it(tmp_path: Path) -> None:
    from broker_sim import run_simulation

    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "my_signals.py").write_text("def rising(bar):\n    return bar.close > bar.open\n")
    (folder / "rising.py").write_text(
        "from my_signals import rising\n"
        "from broker_sim import Strategy\n\n\n"
        "class Rising(Strategy):\n"
        "    def on_bar(self, bar):\n"
        "        return self.order_target(bar.symbol, 1 if rising(bar) else 0)\n"
    )
    text = (
        "broker: {session: always}\n"
        "prices: {sources: [{source: synthetic, count: 50}]}\n"
        "strategy: {class: strategies/rising.py:Rising}\n"
    )
    result = run_simulation(parse_config(text, base_dir=tmp_path), out=False)
    assert result.fills
