"""The config's ``serve:`` section: each mistake is a `ConfigError` naming the key and what is valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from broker_sim import ConfigError
from broker_sim.serve import ServeSettings
from broker_sim.serve.settings import EXCHANGES
from broker_sim.wiring import load_config, parse_config

from .conftest import BASE_CONFIG, KEY


def _settings(tmp_path: Path, **serve: Any) -> ServeSettings:
    data = {**BASE_CONFIG, "serve": {**BASE_CONFIG["serve"], **serve}}
    return ServeSettings.from_config(parse_config(yaml.safe_dump(data), base_dir=tmp_path), env={})


def test_a_good_section_gives_its_settings(tmp_path: Path) -> None:
    settings = _settings(tmp_path, exchange="NYSE", rate_limit=200, wait_for_client=True, max_body_bytes=2048)
    assert (settings.exchange, settings.rate_limit, settings.wait_for_client) == ("NYSE", 200.0, True)
    assert (settings.max_body_bytes, settings.key_id, settings.port) == (2048, KEY, 0)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("exchange", "IEX", f"exchange must be one of Alpaca's {', '.join(EXCHANGES)}; got 'IEX'"),
        ("port", 70000, "port must be an integer from 0 to 65535"),
        ("rate_limit", 0, "rate_limit must be a number > 0"),
        ("max_body_bytes", -1, "max_body_bytes"),
        ("wait_for_client", "yes", "wait_for_client must be true or false"),
        ("colour", "blue", "unknown key 'colour'"),
    ],
)
def test_a_bad_key_is_named(tmp_path: Path, key: str, value: object, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _settings(tmp_path, **{key: value})
    assert words in str(refused.value)


def test_a_config_without_strategy_or_serve_section_is_served_with_the_defaults(tmp_path: Path) -> None:
    data = {key: value for key, value in BASE_CONFIG.items() if key != "serve"}
    path = tmp_path / "bare.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="no strategy"):
        load_config(path)  # `broker-sim run` needs one
    config = load_config(path, served=True)
    settings = ServeSettings.from_config(config, env={"APCA_API_KEY_ID": "k", "APCA_API_SECRET_KEY": "s"})
    assert (settings.key_id, settings.secret_key, settings.host, settings.port) == ("k", "s", "127.0.0.1", 8000)


@pytest.mark.parametrize(
    ("days", "clock", "words"),
    [
        (-1, "realtime", "history_days must be a number of days >= 0, got -1"),
        ("2d", "realtime", "history_days must be a number of days >= 0, got '2d'"),
        (
            2,
            "simulated",
            "history_days serves a replay stamped relative to the present: it needs prices.clock: realtime",
        ),
    ],
)
def test_history_days_is_a_number_for_a_real_time_replay(tmp_path: Path, days: object, clock: str, words: str) -> None:
    data = {
        **BASE_CONFIG,
        "prices": {**BASE_CONFIG["prices"], "clock": clock},
        "serve": {**BASE_CONFIG["serve"], "history_days": days},
    }
    with pytest.raises(ConfigError) as refused:
        ServeSettings.from_config(parse_config(yaml.safe_dump(data), base_dir=tmp_path), env={})
    assert words in str(refused.value)
