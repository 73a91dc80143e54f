"""A served run on 127.0.0.1 (a free port) inside the test's event loop, and the alpaca-py clients pointed at it.

alpaca-py's REST client is synchronous: tests call it through ``asyncio.to_thread`` so the server, in the test's
loop, keeps serving meanwhile (the one thread a library forces on us).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from broker_sim.serve import ServeRun, ServeSettings
from broker_sim.wiring import parse_config

KEY, SECRET = "test-key", "test-secret"
#: A safety net, in wall seconds, for a stream's thread to end once stopped: a hung client fails, not hangs.
STREAM_STOP_LIMIT_S = 20.0

#: Two synthetic symbols, a bar a minute around the clock, constant latency: fills are predictable.
BASE_CONFIG: dict[str, Any] = {
    "broker": {"adapter": "paper", "initial_balance": 100_000, "seed": 7, "session": "always"},
    "models": {
        "slippage": {"model": "fixed_bps", "bps": 5},
        "latency": {"model": "constant", "seconds": 1.0},
        "fill": {"model": "immediate"},
        "commission": {"model": "none"},
    },
    "prices": {
        "clock": "simulated",
        "sources": [
            {
                "source": "synthetic",
                "symbols": ["AAPL", "MSFT"],
                "start": "2024-01-02T14:30:00Z",
                "interval": 60,
                "count": 200_000,
                "start_price": {"AAPL": 190.0, "MSFT": 410.0},
            }
        ],
    },
    "serve": {"key_id": KEY, "secret_key": SECRET, "port": 0},
}


class Server:
    """A running `ServeRun`: its base URL, its account (`served`) and the run itself."""

    def __init__(self, run: ServeRun) -> None:
        self.run = run
        assert run.served is not None and run.port is not None
        self.served = run.served
        self.broker = run.served.broker
        self.url = f"http://127.0.0.1:{run.port}"
        self.ws_url = f"ws://127.0.0.1:{run.port}"


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, *, speed: float | str = 600, overrides: Mapping[str, Any] | None = None, report: bool = False
) -> AsyncIterator[Server]:
    """Serve a config (BASE_CONFIG with `overrides` per section) until the block ends; with `report`, the report
    goes to tmp_path/report (`Server.run.result` is the run's `Result` after the block)."""
    data = {key: (dict(value) if isinstance(value, dict) else value) for key, value in BASE_CONFIG.items()}
    for section, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **value}
        else:
            data[section] = value
    config = parse_config(yaml.safe_dump(data), base_dir=tmp_path)
    settings = ServeSettings.from_config(config, env={}, speed=speed)
    run = ServeRun(config, settings)
    task = asyncio.create_task(run.execute(tmp_path / "report" if report else None))
    ready = asyncio.ensure_future(run.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()
    try:
        yield Server(run)
    finally:
        run.shutdown()
        run.result = await task  # type: ignore[attr-defined]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serving(tmp_path) as running:
        yield running


def in_this_loop(handler: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[None]]:
    """`handler` as an alpaca-py stream handler: the stream calls it in its own thread's loop; it runs in this one
    (the test's), one message at a time, in order."""
    loop = asyncio.get_running_loop()

    async def relay(message: Any) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(handler(message), loop))

    return relay


@contextlib.asynccontextmanager
async def running_stream(stream: Any) -> AsyncIterator[None]:
    """An alpaca-py stream (`TradingStream`, `StockDataStream`) run as its users run it: `run()` in a thread of its
    own (it makes its own event loop); `stop()` from outside when the block ends. Subscribe its handlers with
    `in_this_loop` first; the block starts before it has connected."""
    runner = asyncio.ensure_future(asyncio.to_thread(stream.run))
    try:
        yield
    finally:
        await asyncio.to_thread(stream.stop)
        await asyncio.wait_for(runner, STREAM_STOP_LIMIT_S)
