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

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "myhost.example"])
def test_the_default_keys_are_refused_on_a_host_other_machines_reach(host: str) -> None:
    text = (ROOT / "configs" / "serve_replay.yaml").read_text()
    config = parse_config(text, base_dir=ROOT / "configs", env={})
    with pytest.raises(ConfigError, match=rf"serving on {host}, which other machines can reach, with the shipped"):
        ServeSettings.from_config(config, env={}, host=host)
    own = {"APCA_API_KEY_ID": "mine", "APCA_API_SECRET_KEY": "a-long-secret-of-my-own"}
    config = parse_config(text, base_dir=ROOT / "configs", env=own)
    assert ServeSettings.from_config(config, env=own, host=host).host == host  # the user's own keys: fine


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_the_default_keys_are_fine_on_loopback(host: str) -> None:
    config = parse_config((ROOT / "configs" / "serve_replay.yaml").read_text(), base_dir=ROOT / "configs", env={})
    assert ServeSettings.from_config(config, env={}, host=host).key_id == "broker-sim"


def test_serve_on_all_interfaces_with_the_default_keys_exits_2_before_listening(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    process = subprocess.run(
        [sys.executable, "-m", "broker_sim", "serve", str(ROOT / "configs" / "serve_replay.yaml"), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert process.returncode == 2
    assert "with the shipped default keys" in process.stderr and "serving on" not in process.stdout


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
