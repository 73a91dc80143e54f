"""Paper to live is one line, and nothing lets a replay trade a real account: an adapter that trades at its own
venue (Alpaca) is refused with a simulated clock or a replay source unless `broker.allow_replay: true` says so."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
import yaml

from broker_sim import ConfigError, arun_simulation
from broker_sim.adapters.alpaca import AlpacaBroker
from broker_sim.adapters.paper import PaperBroker
from broker_sim.config import read_config
from broker_sim.wiring import build_broker, parse_config, validate
from tests.serve.conftest import KEY, SECRET, serving

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", "k")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s")
    monkeypatch.delenv("APCA_API_BASE_URL", raising=False)
    monkeypatch.delenv("APCA_API_DATA_URL", raising=False)


def _body(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_live_config_goes_to_alpaca_by_the_one_line_the_readme_shows(keys: None) -> None:
    diff = [
        line
        for line in difflib.unified_diff(_body(ROOT / "configs/live.yaml"), _body(ROOT / "configs/alpaca_paper.yaml"))
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == ["-  adapter: paper", "+  adapter: alpaca"]
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"```diff\n(.*?)```", readme, re.S)
    assert shown is not None and [line for line in shown.group(1).splitlines() if line[:1] in "+-"] == diff
    paper, alpaca = read_config(ROOT / "configs/live.yaml"), read_config(ROOT / "configs/alpaca_paper.yaml")
    validate(paper)
    validate(alpaca)
    assert isinstance(build_broker(paper), PaperBroker)
    broker = build_broker(alpaca)
    assert isinstance(broker, AlpacaBroker) and not broker.settings.live
    switched = read_config(ROOT / "configs/live.yaml", overrides={"broker.adapter": "alpaca"})
    validate(switched)  # --set broker.adapter=alpaca does the same


def _demo_on(adapter: str, **extra: object) -> str:
    data = yaml.safe_load((ROOT / "configs/demo.yaml").read_text())
    paper = {key: data["broker"].pop(key) for key in ("initial_balance", "session")}
    data["broker"] = {**data["broker"], "adapter": adapter, "paper": paper, **extra}
    data["strategy"]["class"] = str(ROOT / "examples/sma_cross.py") + ":SmaCross"
    data["report"] = {}
    return yaml.safe_dump(data)


def test_a_replay_against_alpaca_is_refused_at_the_clock_and_at_a_replay_source(keys: None) -> None:
    with pytest.raises(ConfigError, match=r"prices\.clock: adapter 'alpaca' trades a real account") as refused:
        parse_config(_demo_on("alpaca"))
    assert "broker.allow_replay: true" in str(refused.value)
    realtime = _demo_on("alpaca").replace("clock: simulated", "clock: realtime")
    with pytest.raises(ConfigError, match=r"prices\.sources\[0\]\.source: .*source 'synthetic' replays"):
        parse_config(realtime)
    parse_config(_demo_on("paper"))  # the same replay on the paper broker is fine
    parse_config(_demo_on("alpaca", allow_replay=True))  # and on purpose, it is allowed


@pytest.mark.parametrize(
    ("broker", "message"),
    [
        ({"allow_replay": "yes"}, "broker.allow_replay: must be true or false, got 'yes'"),
        ({"paper": 5}, "broker.paper: adapter 'paper''s section must be a mapping"),
        ({"paper": {"initial_balanse": 1}}, "broker.paper.initial_balanse: unknown key 'initial_balanse'"),
        ({"alpaca": {"seed": 1, "timeout": -1, "base": "x"}}, "broker.alpaca.base: unknown key 'base'"),
    ],
)
def test_bad_adapter_sections_are_config_errors(keys: None, broker: dict[str, object], message: str) -> None:
    data = yaml.safe_load(_demo_on("alpaca", allow_replay=True))
    data["broker"].update(broker)
    with pytest.raises(ConfigError) as refused:
        parse_config(yaml.safe_dump(data))
    assert message in str(refused.value)


def test_paper_keys_left_beside_alpaca_say_where_they_belong(keys: None) -> None:
    text = (ROOT / "configs/demo.yaml").read_text().replace("adapter: paper", "adapter: alpaca")
    with pytest.raises(ConfigError, match=r"put it under broker\.paper:"):
        parse_config(text, base_dir=ROOT / "configs")


async def test_a_replay_run_sends_no_order_to_a_served_account(tmp_path: Path) -> None:
    """A synthetic replay with `adapter: alpaca` pointed at a served account: refused before any order."""
    async with serving(tmp_path) as server:
        data = yaml.safe_load(_demo_on("alpaca"))
        data["broker"]["alpaca"] = {"base_url": server.url, "key_id": KEY, "secret_key": SECRET}
        with pytest.raises(ConfigError, match="trades a real account"):
            await arun_simulation(yaml.safe_load(yaml.safe_dump(data)), out=False)
        assert await server.broker.list_orders("all") == []
