"""Websocket hygiene: a frame is bounded before auth as after (a 1 MB frame closes the socket, 1009), a client
that does not authenticate in time is closed (1008 "auth timeout"; Alpaca's data error 404), a subscription past
`serve.max_symbols` is Alpaca's error 405 and changes nothing, and a client that never reads is dropped (1008
"slow client") instead of holding events without bound."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from broker_sim.serve.data_stream import DataStreams

from .conftest import KEY, SECRET, Server, serving
from .test_bad_requests import HEADERS

#: A safety net, in wall seconds: a broken server fails the test instead of hanging it.
WALL_LIMIT_S = 30.0


def _serve(tmp_path: Path, speed: float | str = 600, **settings: Any) -> Any:
    from .conftest import BASE_CONFIG

    return serving(tmp_path, speed=speed, overrides={"serve": {**BASE_CONFIG["serve"], **settings}})


@pytest.mark.parametrize("path", ["/stream", "/v2/iex"])
async def test_a_client_that_does_not_authenticate_in_time_is_closed(tmp_path: Path, path: str) -> None:
    async with _serve(tmp_path, auth_timeout=0.3) as server, websockets.connect(server.ws_url + path) as client:
        heard = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(WALL_LIMIT_S):
                while True:
                    heard.append(await client.recv())
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason == "auth timeout"
        if path == "/v2/iex":
            assert json.loads(heard[-1]) == [{"T": "error", "code": 404, "msg": "auth timeout"}]


async def test_a_huge_frame_before_auth_closes_the_socket_and_the_api_stays_quick(tmp_path: Path) -> None:
    async with _serve(tmp_path) as server:
        async with websockets.connect(server.ws_url + "/stream", max_size=None) as client:
            await client.send("x" * 1_000_000)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(WALL_LIMIT_S):
                    await client.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as http:
            assert (await http.get("/v2/account")).status_code == 200


async def _authorized_data_client(server: Server, **options: Any) -> Any:
    client = await websockets.connect(server.ws_url + "/v2/iex", **options)
    assert json.loads(await client.recv())[0]["msg"] == "connected"
    await client.send(json.dumps({"action": "auth", "key": KEY, "secret": SECRET}))
    assert json.loads(await client.recv())[0]["msg"] == "authenticated"
    return client


async def test_a_subscription_past_the_symbol_limit_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async with _serve(tmp_path, max_symbols=100) as server:
        client = await _authorized_data_client(server)
        try:
            await client.send(json.dumps({"action": "subscribe", "bars": [f"S{i}" for i in range(60)]}))
            assert len(json.loads(await client.recv())[0]["bars"]) == 60
            await client.send(json.dumps({"action": "subscribe", "quotes": [f"Q{i}" for i in range(41)]}))
            assert json.loads(await client.recv()) == [{"T": "error", "code": 405, "msg": "symbol limit exceeded"}]
            await client.send(json.dumps({"action": "subscribe", "quotes": ["Q0"]}))
            answer = json.loads(await client.recv())[0]
            assert len(answer["bars"]) == 60 and answer["quotes"] == ["Q0"]
        finally:
            await client.close()


async def test_a_data_client_that_never_reads_is_dropped_and_the_replay_goes_on(tmp_path: Path) -> None:
    async with _serve(tmp_path, speed="max", max_unsent=20) as server:
        tiny = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        tiny.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client = await _authorized_data_client(server, sock=tiny, max_queue=1)
        try:
            await client.send(json.dumps({"action": "subscribe", "bars": ["*"]}))
            [hub] = [h for h in server.served.hubs if isinstance(h, DataStreams)]
            async with asyncio.timeout(WALL_LIMIT_S):
                await server.broker.clock.sleep(6 * 3600)  # at max speed: only once the client no longer holds it
            assert hub.backlog() <= 20
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(WALL_LIMIT_S):
                    while True:
                        await client.recv()  # what it had been sent, then the close
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            assert closed.value.rcvd.reason.startswith("slow client")
        finally:
            await client.close()
