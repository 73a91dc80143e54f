"""No secret reaches an output: the report's "config as run", the summary, error messages, logs and reprs show a
secret-like key's value as <hidden> and a key id by its first four characters."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from broker_sim import ConfigError
from broker_sim.redact import redact
from broker_sim.wiring import load_config

ROOT = Path(__file__).resolve().parent.parent
SECRET = "SuPeRsEcReT0123456789"
KEY_ID = "PKTESTKEY123456"

CONFIG = f"""
broker: {{adapter: paper, seed: 1, session: always}}
prices: {{sources: [{{source: synthetic, symbols: [X], interval: 60, count: 200}}]}}
strategy: {{class: {ROOT}/examples/buy_and_hold.py:BuyAndHold}}
serve:
  key_id: ${{APCA_API_KEY_ID}}
  secret_key: ${{APCA_API_SECRET_KEY}}
report: {{out: report}}
"""


def _files(folder: Path) -> str:
    return "".join(path.read_text(errors="replace") for path in folder.rglob("*") if path.is_file())


def test_a_runs_report_output_and_validate_never_show_the_secret(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text(CONFIG)
    env = {"APCA_API_KEY_ID": KEY_ID, "APCA_API_SECRET_KEY": SECRET, "PATH": "/usr/bin:/bin"}
    # `make test-compiled`: the child runs the compiled build too.
    env.update({name: os.environ[name] for name in ("PYTHONPATH", "PYTHONSAFEPATH") if name in os.environ})
    outputs = ""
    for command in (["run", "run.yaml", "--no-progress"], ["validate", "run.yaml"]):
        process = subprocess.run(
            [sys.executable, "-m", "broker_sim", *command], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert process.returncode == 0, process.stderr
        outputs += process.stdout + process.stderr
    report = _files(tmp_path / "report")
    assert SECRET not in report + outputs and KEY_ID not in report + outputs
    assert "secret_key: &lt;hidden&gt;" in report and "key_id: PKTE…" in report  # the config as run, redacted


def test_a_wrong_secret_in_a_config_error_is_not_echoed() -> None:
    text = "broker: {adapter: alpaca, key_id: PKTESTKEY123456, secret_key: 918273645, live: false}\n"
    with pytest.raises(ConfigError) as raised:
        from broker_sim.wiring import parse_config

        parse_config(text)
    assert "918273645" not in str(raised.value) and "<hidden>" in str(raised.value)


async def test_a_served_runs_report_logs_and_settings_repr_hide_the_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.serve.conftest import KEY, serving
    from tests.serve.conftest import SECRET as SERVED_SECRET

    caplog.set_level(logging.DEBUG)
    async with serving(tmp_path, report=True) as server:
        assert SERVED_SECRET not in repr(server.served.settings)
    html = (tmp_path / "report" / "report.html").read_text()
    assert SERVED_SECRET not in html and "secret_key: &lt;hidden&gt;" in html
    assert f"key_id: {KEY[:4]}…" in html
    assert SERVED_SECRET not in caplog.text


def test_redact_hides_secret_like_keys_at_any_depth() -> None:
    data = {"a": [{"api_token": "t", "password": "p", "key_id": "AKIDEXAMPLE", "x": 1}], "secret": {"n": 1}}
    assert redact(data) == {"a": [{"api_token": "<hidden>", "password": "<hidden>", "key_id": "AKID…", "x": 1}],
                            "secret": "<hidden>"}  # fmt: skip


def test_load_config_keeps_the_secret_for_use() -> None:
    config = load_config(ROOT / "configs" / "serve_replay.yaml", env={"APCA_API_SECRET_KEY": SECRET})
    assert config.serve is not None and config.serve["secret_key"] == SECRET  # hidden only where shown
