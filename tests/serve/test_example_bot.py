"""The unmodified example bot (examples/alpaca_bot.py, alpaca-py only) against a served replay makes the same
fills as the same rule run by `broker-sim run` (examples/sma_cross.py) on the same config and seed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import attrs
import pytest

from broker_sim.config import StrategyConfig
from broker_sim.simulation import arun_simulation

from .conftest import KEY, SECRET, serving

ROOT = Path(__file__).resolve().parents[2]
BARS, FAST, SLOW, QTY = 40, 2, 5, 10
#: Wall seconds the bot may take: a fresh interpreter, then BARS bars at the served speed.
BOT_LIMIT_S = 60.0
#: Simulated seconds per wall second: 150 ms of wall time per minute bar, ample for the bot to answer a bar
#: before the next one (its orders must reach the broker while that bar's price stands, as in the run).
SPEED = 400

OVERRIDES = {
    "models": {"latency": {"model": "none"}},
    "prices": {
        "clock": "simulated",
        "sources": [
            {
                "source": "synthetic",
                "symbols": ["AAPL"],
                "start": "2024-01-02T14:30:00Z",
                "interval": 60,
                "count": BARS,
                "start_price": 190.0,
                "volatility": 0.6,
            }
        ],
    },
    "serve": {"wait_for_client": True},
}


async def test_the_example_bot_fills_as_the_same_rule_run_by_broker_sim(tmp_path: Path) -> None:
    async with serving(tmp_path, speed=SPEED, overrides=OVERRIDES) as server:
        environment = {
            **os.environ,
            "APCA_API_KEY_ID": KEY,
            "APCA_API_SECRET_KEY": SECRET,
            "APCA_API_BASE_URL": server.url,
            "BOT_SYMBOL": "AAPL",
            "BOT_FAST": str(FAST),
            "BOT_SLOW": str(SLOW),
            "BOT_QTY": str(QTY),
            "BOT_BARS": str(BARS),
        }
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "examples" / "alpaca_bot.py"),
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(bot.communicate(), BOT_LIMIT_S)
        finally:
            if bot.returncode is None:
                bot.kill()
                await bot.wait()
        assert bot.returncode == 0, stderr.decode()
        served = [(f.side.value, f.quantity, f.price) for f in server.broker.fills]
        config = server.run.config
    assert len(served) >= 4, stdout.decode()  # the data crosses a few times
    assert len(stdout.decode().splitlines()) == 1 + len(served)  # the account line, then one line per order

    strategy = StrategyConfig("examples/sma_cross.py:SmaCross", {"fast": FAST, "slow": SLOW, "quantity": QTY})
    result = await arun_simulation(attrs.evolve(config, strategy=strategy, base_dir=ROOT))
    run = [(f.side.value, f.quantity, f.price) for f in result.fills]
    assert [(side, quantity) for side, quantity, _ in served] == [(side, quantity) for side, quantity, _ in run]
    assert [price for *_, price in served] == pytest.approx([price for *_, price in run], rel=1e-12)
