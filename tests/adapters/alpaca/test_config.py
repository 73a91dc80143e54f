"""Configuring the Alpaca adapter: keys from the config or Alpaca's environment variables, the paper endpoint
by default, the stream URL derived from the base URL, and the guard against trading real money by a typo."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from broker_sim import ConfigError
from broker_sim.adapters.alpaca import LIVE_URL, PAPER_URL, AlpacaBroker, AlpacaSettings
from broker_sim.config import read_config
from broker_sim.plugins import build_registry, create_plugin_manager
from broker_sim.wiring import build_broker, parse_config, validate

ROOT = Path(__file__).resolve().parents[3]
NO_ENV: dict[str, str] = {}


def test_the_paper_endpoint_is_the_default_and_the_stream_url_is_derived() -> None:
    settings = AlpacaSettings.resolve(key_id="k", secret_key="s", env=NO_ENV)
    assert (settings.base_url, settings.stream_url, settings.live) == (
        PAPER_URL,
        "wss://paper-api.alpaca.markets/stream",
        False,
    )
    local = AlpacaSettings.resolve(base_url="http://127.0.0.1:8000/v2/", key_id="k", secret_key="s", env=NO_ENV)
    assert (local.base_url, local.stream_url) == ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/stream")
    hidden = AlpacaSettings.resolve(key_id="k", secret_key="do-not-print-me", env=NO_ENV)
    assert "do-not-print-me" not in repr(hidden)


def test_alpacas_environment_variables_fill_the_gaps_and_the_config_wins() -> None:
    env = {"APCA_API_KEY_ID": "env-key", "APCA_API_SECRET_KEY": "env-secret", "APCA_API_BASE_URL": "http://h:1"}
    settings = AlpacaSettings.resolve(env=env)
    assert (settings.key_id, settings.secret_key, settings.base_url) == ("env-key", "env-secret", "http://h:1")
    mine = AlpacaSettings.resolve(key_id="mine", base_url="https://paper-api.alpaca.markets", env=env)
    assert (mine.key_id, mine.secret_key, mine.base_url) == ("mine", "env-secret", PAPER_URL)


def test_missing_keys_are_a_config_error_naming_the_keys_and_variables() -> None:
    with pytest.raises(ConfigError, match=r"needs broker\.key_id and broker\.secret_key .*APCA_API_KEY_ID"):
        AlpacaSettings.resolve(env=NO_ENV)
    with pytest.raises(ConfigError, match=r"needs broker\.secret_key \(or the environment variable APCA_API_SECRET"):
        AlpacaSettings.resolve(key_id="k", env=NO_ENV)


def test_live_trading_needs_live_true_and_the_live_url() -> None:
    with pytest.raises(ConfigError, match=r"live endpoint: set broker.live: true"):
        AlpacaSettings.resolve(base_url=LIVE_URL, key_id="k", secret_key="s", env=NO_ENV)
    with pytest.raises(ConfigError, match=r"live endpoint: set broker.live: true"):
        AlpacaSettings.resolve(key_id="k", secret_key="s", env={"APCA_API_BASE_URL": LIVE_URL})
    with pytest.raises(ConfigError, match=r"broker.live is true but broker.base_url .* is not"):
        AlpacaSettings.resolve(live=True, key_id="k", secret_key="s", env=NO_ENV)
    live = AlpacaSettings.resolve(base_url=LIVE_URL, live=True, key_id="k", secret_key="s", env=NO_ENV)
    assert (live.live, live.stream_url) == (True, "wss://api.alpaca.markets/stream")
    with pytest.raises(ConfigError, match=r"broker.live must be true or false, got 'yes'"):
        AlpacaSettings.resolve(live="yes", key_id="k", secret_key="s", env=NO_ENV)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="base_url must be an http"):
        AlpacaSettings.resolve(base_url="ftp://x", key_id="k", secret_key="s", env=NO_ENV)


def _config(broker: str) -> str:
    return f"""
broker: {broker}
prices:
  sources: [{{source: synthetic, symbols: [AAPL], count: 10}}]
strategy: {{class: "{ROOT}/examples/sma_cross.py:SmaCross"}}
"""


def test_a_config_selects_the_adapter_and_its_mistakes_are_reported_at_the_broker_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    monkeypatch.delenv("APCA_API_BASE_URL", raising=False)
    local = "{adapter: alpaca, key_id: k, secret_key: s, base_url: 'http://127.0.0.1:9', allow_replay: true}"
    config = parse_config(_config(local))  # a replay on purpose: a served account on this machine
    broker = build_broker(config)
    assert isinstance(broker, AlpacaBroker) and broker.settings.stream_url == "ws://127.0.0.1:9/stream"
    with pytest.raises(ConfigError, match=r"needs broker.key_id"):
        validate(parse_config(_config("{adapter: alpaca}")))
    with pytest.raises(ConfigError, match="unknown key 'api_key' for adapter 'alpaca'"):
        validate(parse_config(_config("{adapter: alpaca, api_key: k}")))
    # the test transport is for Python callers only: a config may not set it, and the error does not offer it
    with pytest.raises(ConfigError, match="unknown key 'transport' for adapter 'alpaca'") as refused:
        validate(parse_config(_config("{adapter: alpaca, key_id: k, secret_key: s, transport: mock}")))
    assert "transport" not in str(refused.value).split("unknown key 'transport'", 1)[1]


def test_configs_alpaca_paper_validates_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", "k")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s")
    monkeypatch.delenv("APCA_API_BASE_URL", raising=False)
    config = read_config(ROOT / "configs" / "alpaca_paper.yaml")
    validate(config)
    broker = build_broker(config)
    assert isinstance(broker, AlpacaBroker) and broker.settings.base_url == PAPER_URL and not broker.settings.live


def test_without_the_alpaca_extra_selecting_it_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("broker_sim.adapters.alpaca")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "httpx", None)  # as if httpx were not installed
    registry = build_registry(create_plugin_manager())
    with pytest.raises(ConfigError, match=r"needs the optional extra \[alpaca\]"):
        registry.create("adapter", {"adapter": "alpaca", "key_id": "k", "secret_key": "s"})
