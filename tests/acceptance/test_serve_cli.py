"""`broker-sim serve` as a user runs it: the shipped config served on a free port, an order through the API and
its fill on the stream, SIGTERM or Ctrl-C, and the same report `broker-sim run` writes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
import websockets

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"APCA_API_KEY_ID": "cli-key", "APCA_API_SECRET_KEY": "cli-secret"}
HEADERS = {"APCA-API-KEY-ID": "cli-key", "APCA-API-SECRET-KEY": "cli-secret"}
#: Wall seconds the server may take to start (a fresh interpreter importing the package).
START_LIMIT_S = 60.0


async def _start(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "broker_sim",
        "serve",
        str(ROOT / "configs" / "serve_replay.yaml"),
        "--out",
        str(tmp_path / "report"),
        *extra,
        cwd=tmp_path,
        env={**os.environ, **KEYS} if env is None else env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _url(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    line = await asyncio.wait_for(process.stderr.readline(), START_LIMIT_S)
    found = re.search(r"on (http://127\.0\.0\.1:\d+)", line.decode())
    assert found is not None, line
    return found.group(1)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_serve_trades_then_stops_on_a_signal_and_writes_the_report(tmp_path: Path, stop: signal.Signals) -> None:
    process = await _start(tmp_path, "--port", "0", "--speed", "600")
    try:
        url = await _url(process)
        async with websockets.connect(url.replace("http", "ws") + "/stream") as stream:
            await stream.send(json.dumps({"action": "auth", "key": "cli-key", "secret": "cli-secret"}))
            await stream.recv()
            await stream.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
            await stream.recv()
            async with httpx.AsyncClient(base_url=url, headers=HEADERS) as http:
                clock = (await http.get("/v2/clock")).json()
                assert clock["timestamp"].startswith("2024-01-02")  # simulated time, not the wall's
                order = {"symbol": "MSFT", "qty": "4", "side": "buy", "type": "market", "time_in_force": "day"}
                placed = await http.post("/v2/orders", json=order)
                assert placed.status_code == 200, placed.text
            while True:
                update = json.loads(await asyncio.wait_for(stream.recv(), START_LIMIT_S))["data"]
                if update["event"] == "fill":
                    break
        process.send_signal(stop)
        stdout, stderr = await asyncio.wait_for(process.communicate(), START_LIMIT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert "report:" in stdout.decode()
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["complete"] is False
    assert summary["reason"] == f"interrupted by {stop.name} before the end of the replay"
    assert summary["fills"] == 1
    trades = (tmp_path / "report" / "trades.csv").read_text().splitlines()
    assert len(trades) == 2 and ",MSFT," in trades[1] and update["order"]["id"] in trades[1]


async def test_serve_refuses_a_taken_port_and_missing_keys(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await _start(tmp_path, "--port", str(port))
        _, stderr = await asyncio.wait_for(process.communicate(), START_LIMIT_S)
    assert process.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in stderr.decode()

    config = tmp_path / "keyless.yaml"
    text = (ROOT / "configs" / "serve_replay.yaml").read_text()
    config.write_text(re.sub(r"  (key_id|secret_key): .*\n", "", text).replace("../reports", str(tmp_path)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker_sim", "serve", str(config), env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), START_LIMIT_S)
    assert process.returncode == 2
    assert "no API keys: set APCA_API_KEY_ID and APCA_API_SECRET_KEY" in stderr.decode()
