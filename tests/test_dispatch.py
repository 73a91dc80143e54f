"""Strategy handlers run as real tasks from their first line to their end: task-bound code (anyio's
``fail_after``, ``asyncio.timeout``) works in a strategy, and a failure after a wait names the strategy, the
handler, the event and the time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker_sim import run_simulation
from broker_sim.simulation import StrategyError

STRATEGY = '''
import asyncio
import json

import anyio

from broker_sim import Bar, Strategy


class Waiter(Strategy):
    """Waits inside task-bound scopes on some bars; writes what it saw at the end."""

    def __init__(self, out: str, fail_on: int = 0) -> None:
        self.out, self.fail_on = out, fail_on
        self.bars = 0
        self.same_task: list[bool] = []
        self.filled = 0

    async def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        index = self.bars
        if index % 10:
            return
        task = asyncio.current_task()
        with anyio.fail_after(60):  # wall seconds: the simulated waits below take none
            await self.clock.sleep(90)  # simulated: the replay moves on meanwhile
            order = await self.broker.buy(bar.symbol, 1)
            filled = await self.broker.wait_for(order.id, "filled", timeout=30)
            self.filled += filled.status.value == "filled"
        async with asyncio.timeout(60):
            await self.clock.sleep(1)
        self.same_task.append(asyncio.current_task() is task)
        if index == self.fail_on:
            raise RuntimeError("boom after a wait")

    def on_stop(self) -> None:
        with open(self.out, "w") as file:
            json.dump({"same_task": self.same_task, "filled": self.filled}, file)
'''


def _config(tmp_path: Path, fail_on: int = 0) -> dict:
    (tmp_path / "waiter.py").write_text(STRATEGY)
    return {
        "broker": {"adapter": "paper", "seed": 3, "session": "always"},
        "prices": {"sources": [{"source": "synthetic", "symbols": ["AAA"], "interval": 60, "count": 120}]},
        "strategy": {
            "class": f"{tmp_path / 'waiter.py'}:Waiter",
            "params": {"out": str(tmp_path / "seen.json"), "fail_on": fail_on},
        },
    }


def test_a_handler_keeps_its_task_across_waits_and_task_bound_scopes_work(tmp_path: Path) -> None:
    result = run_simulation(_config(tmp_path), out=False)
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert len(seen["same_task"]) >= 10 and all(seen["same_task"])
    assert seen["filled"] == len(seen["same_task"]) == len(result.fills)


def test_a_handler_that_fails_after_a_wait_is_named_with_its_event_and_time(tmp_path: Path) -> None:
    with pytest.raises(StrategyError) as failed:
        run_simulation(_config(tmp_path, fail_on=30), out=False)
    message = str(failed.value)
    assert "strategy Waiter: handler Waiter.on_bar failed on Bar AAA at 20" in message
    assert "RuntimeError: boom after a wait" in message
