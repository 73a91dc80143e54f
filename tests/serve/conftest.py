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


class Relay:
    """A TCP relay on 127.0.0.1 (a free port) in front of a served run; `cut()` closes every connection through it.

    A stopped alpaca-py stream notices its stop only when its socket next answers or its 5 s receive times out, so
    a stream that has heard everything would sit out the 5 s. `running_stream` stops it, then cuts its connection:
    it ends at once, as it would on a connection Alpaca drops."""

    def __init__(self, server: Server) -> None:
        self._target = server.run.port
        self._listener: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.ws_url = ""

    async def __aenter__(self) -> Relay:
        self._listener = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.ws_url = f"ws://127.0.0.1:{self._listener.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._listener is not None
        self._listener.close()
        await self._listener.wait_closed()

    def cut(self) -> None:
        for writer in self._writers:
            writer.close()

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers |= {client_out, server_out}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await reader.read(65536):
                    writer.write(chunk)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_in, server_out), pipe(server_in, client_out))


@contextlib.asynccontextmanager
async def running_stream(stream: Any, relay: Relay) -> AsyncIterator[None]:
    """An alpaca-py stream (`TradingStream`, `StockDataStream`) run as its users run it: `run()` in a thread of its
    own (it makes its own event loop); `stop()` from outside when the block ends, then its connection is cut (the
    stream must be pointed at `relay.ws_url`). Subscribe its handlers with `in_this_loop` first; the block starts
    before it has connected."""
    runner = asyncio.ensure_future(asyncio.to_thread(stream.run))
    try:
        yield
    finally:
        await asyncio.to_thread(stream.stop)
        relay.cut()
        await asyncio.wait_for(runner, STREAM_STOP_LIMIT_S)
