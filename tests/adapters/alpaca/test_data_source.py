"""The `alpaca` price source against the served replay's data stream (/v2/iex): the bars it yields are the
replay's own bars, with Alpaca's bar start turned back into our bar end."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_sim import Bar, ConfigError, SimulatedClock
from broker_sim.adapters.alpaca.data import AlpacaDataSource
from broker_sim.plugins import build_registry, create_plugin_manager
from broker_sim.wiring import build_source
from tests.serve.conftest import KEY, SECRET, serving


async def test_bars_from_the_served_data_stream_are_the_replays_bars(tmp_path: Path) -> None:
    async with serving(tmp_path, overrides={"serve": {"wait_for_client": True}}) as server:
        source = AlpacaDataSource(
            ["AAPL"], data_url=server.ws_url, key_id=KEY, secret_key=SECRET, clock=SimulatedClock(0.0)
        )
        received: list[Bar] = []
        async for event in source:
            assert isinstance(event, Bar)
            received.append(event)
            if len(received) == 5:
                break
        config = server.run.config
        replay = build_source(config, build_registry(create_plugin_manager()), config.prices.sources[0])
        first = [event for _, (_, event) in zip(range(20), replay.timed_events(), strict=False)]
        expected = [event for event in first if event.symbol == "AAPL"]
    assert received == expected[:5]
    assert source.connections == 1 and all(bar.interval == 60 for bar in received)


def test_the_source_refuses_bad_settings_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="needs key_id and secret_key"):
        AlpacaDataSource(["AAPL"])
    with pytest.raises(ConfigError, match="feed must be iex or sip"):
        AlpacaDataSource(["AAPL"], feed="otc", key_id="k", secret_key="s")
    with pytest.raises(ConfigError, match="symbols must be a non-empty list"):
        AlpacaDataSource("AAPL", key_id="k", secret_key="s")
