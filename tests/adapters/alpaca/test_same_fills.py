"""The one-line switch: the same strategy and seed through `adapter: paper` (a replay) and through
`adapter: alpaca` + `source: alpaca` pointed at `broker-sim serve` replaying the same data give the same fills."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from broker_sim.config import StrategyConfig
from broker_sim.simulation import arun_simulation
from broker_sim.wiring import parse_config
from tests.serve.conftest import KEY, SECRET, serving

ROOT = Path(__file__).resolve().parents[3]
BARS, FAST, SLOW, QTY = 40, 2, 5, 10
#: 150 ms of wall time per minute bar: the strategy answers a bar before the next one comes.
SPEED = 400
SOURCE = {
    "source": "synthetic",
    "symbols": ["AAPL"],
    "start": "2024-01-02T14:30:00Z",
    "interval": 60,
    "count": BARS,
    "start_price": 190.0,
    "volatility": 0.6,
}
STRATEGY = StrategyConfig("examples/sma_cross.py:SmaCross", {"fast": FAST, "slow": SLOW, "quantity": QTY})


async def test_paper_and_alpaca_on_the_served_replay_make_the_same_fills(tmp_path: Path) -> None:
    overrides = {
        "models": {"latency": {"model": "none"}},
        "prices": {"clock": "simulated", "sources": [SOURCE]},
        "serve": {"wait_for_client": True},
    }
    async with serving(tmp_path, speed=SPEED, overrides=overrides) as server:
        live = parse_config(
            f"""
broker: {{adapter: alpaca, base_url: "{server.url}", key_id: {KEY}, secret_key: {SECRET}}}
prices:
  clock: realtime
  sources: [{{source: alpaca, symbols: [AAPL], data_url: "{server.ws_url}", limit: {BARS},
              key_id: {KEY}, secret_key: {SECRET}}}]
strategy: {{class: examples/sma_cross.py:SmaCross, params: {{fast: {FAST}, slow: {SLOW}, quantity: {QTY}}}}}
""",
            base_dir=ROOT,
        )
        through_alpaca = await arun_simulation(live)
        await server.broker.clock.sleep(5.0)  # the last orders reach the venue
        served = [(f.side.value, f.quantity, f.price) for f in server.broker.fills]
        config = server.run.config
    paper = await arun_simulation(attrs.evolve(config, strategy=STRATEGY, base_dir=ROOT))
    on_paper = [(f.side.value, f.quantity, f.price) for f in paper.fills]
    assert len(on_paper) >= 4  # the data crosses a few times
    assert [(side, quantity) for side, quantity, _ in served] == [(side, quantity) for side, quantity, _ in on_paper]
    assert [price for *_, price in served] == pytest.approx([price for *_, price in on_paper], rel=1e-12)
    heard = [(f.side.value, f.quantity, f.price) for f in through_alpaca.fills]
    # the adapter reported them as made (the venue writes prices with 9 decimals, as Alpaca does)
    assert len(heard) >= len(served) - 1
    assert [(side, quantity) for side, quantity, _ in heard] == [(side, quantity) for side, quantity, _ in served][
        : len(heard)
    ]
    assert [price for *_, price in heard] == pytest.approx([price for *_, price in served][: len(heard)], abs=1e-9)
