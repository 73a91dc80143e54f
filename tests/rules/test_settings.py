"""`broker.rules`: every rule on by default, relaxed by name in a config or at runtime, mistakes named with their
key and line, and nothing changed by a refused change."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_sim import ConfigError, PaperBroker, load_config
from broker_sim.rules import RuleSettings, rule_settings
from broker_sim.wiring import build_broker

CONFIG = """\
broker:
  adapter: paper
  initial_balance: 20000
  rules:
    pdt_check: false
    wash_trade: false
prices:
  sources: [{source: synthetic, symbols: [AAPL], count: 10}]
strategy:
  class: examples.buy_and_hold:BuyAndHold
"""


def test_every_rule_is_on_by_default_and_alpacas_configurations_have_alpacas_defaults() -> None:
    rules = RuleSettings()
    assert rules.pdt_check and rules.wash_trade and rules.position_flip_check and rules.short_selling_check
    assert not rules.suspend_trade and not rules.no_shorting and rules.fractional_trading
    assert rules.max_margin_multiplier == 4 and rules.dtbp_check == "entry"
    assert PaperBroker().rules == rules


def test_a_config_relaxes_rules_by_name(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(CONFIG)
    broker = build_broker(load_config(path))
    assert isinstance(broker, PaperBroker)
    assert broker.rules == RuleSettings(pdt_check=False, wash_trade=False)


@pytest.mark.parametrize(
    ("line", "setting", "message"),
    [
        (5, "    pdt_check: sometimes", "broker.rules.pdt_check: expected true or false, got 'sometimes'"),
        (5, "    pdt_chek: false", "broker.rules.pdt_chek: unknown key 'pdt_chek' (did you mean 'pdt_check'?)"),
        (5, "    dtbp_check: never", "broker.rules.dtbp_check: must be one of entry, exit, both"),
        (5, "    max_margin_multiplier: 3", "broker.rules.max_margin_multiplier: must be 1, 2 or 4"),
    ],
)
def test_a_bad_rule_setting_is_named_with_its_key_and_line(
    tmp_path: Path, line: int, setting: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.replace("    pdt_check: false", setting))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:{line}: {message}")


def test_rules_that_are_not_a_mapping_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.replace("  rules:\n    pdt_check: false\n    wash_trade: false\n", "  rules: [pdt_check]\n"))
    with pytest.raises(ConfigError, match=r":4: broker.rules: expected a mapping"):
        load_config(path)


def test_rules_change_at_runtime_and_a_bad_change_changes_nothing() -> None:
    broker = PaperBroker(rules={"wash_trade": False})
    assert broker.configure_rules(pdt_check=False, no_shorting=True) == RuleSettings(
        wash_trade=False, pdt_check=False, no_shorting=True
    )
    before = broker.rules
    with pytest.raises(ConfigError, match=r"rules\.pdt_check: expected true or false, got 'off'"):
        broker.configure_rules(pdt_check="off", wash_trade=True)
    with pytest.raises(ConfigError, match="unknown key 'wash'"):
        broker.configure_rules(wash=True)
    assert broker.rules is before


def test_relaxed_turns_every_rule_off_and_as_dict_round_trips() -> None:
    relaxed = RuleSettings.relaxed()
    assert rule_settings(relaxed.as_dict()) == relaxed
    permissive = {"suspend_trade": False, "no_shorting": False, "fractional_trading": True}
    for name, value in relaxed.as_dict().items():
        if isinstance(value, bool):
            assert value is permissive.get(name, False), name
