"""Real Alpaca clients, unmodified, against `broker-sim serve`: the older Python SDK (alpaca-trade-api), the JS/TS
SDK's 3.x and 4.x lines, and a trading framework (lumibot) with its own alpaca-py clients.

Each client runs its scenario (tests/serve/clients/) in its own environment, set up by ``make clients`` (part of
``make test``) under ``.venv/clients/``: a venv per Python client (their pins conflict with ours), one npm
folder for both JS lines. A scenario submits market, limit, bracket and OCO orders, replaces and cancels, reads
the account, positions, activities, portfolio history, latest quote/trade/bar, bars by symbol and a snapshot,
hears new/fill on trade_updates, and prints one JSON line; the test checks it and the server's own account.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

from broker_sim.models import Bar, OrderClass, OrderStatus

from .conftest import BASE_CONFIG, KEY, SECRET, Server, serving
from .test_stream import ledger_is_whole

HERE = Path(__file__).parent / "clients"
#: Where `make clients` puts each client's environment.
CLIENTS = Path(sys.prefix) / "clients"
#: A scenario's whole run, start-up included, is bounded by this (wall seconds).
SCENARIO_LIMIT_S = 90.0


def _python(name: str) -> Path:
    return CLIENTS / name / "bin" / "python"


def _node_modules() -> Path:
    return CLIENTS / "node" / "node_modules"


async def _run(server: Server, command: list[str], cwd: Path) -> dict[str, Any]:
    """Run one scenario against `server`; its answer (the JSON it writes to SCENARIO_ANSWER), or the test fails
    with what it printed."""
    answer_file = cwd / "answer.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("APCA_")},
        "APCA_API_BASE_URL": server.url,
        "APCA_API_DATA_URL": server.url,
        "APCA_API_KEY_ID": KEY,
        "APCA_API_SECRET_KEY": SECRET,
        "NODE_PATH": str(_node_modules()),
        "SCENARIO_ANSWER": str(answer_file),
    }
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=cwd
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), SCENARIO_LIMIT_S)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        pytest.fail(f"{command[-1]} did not finish in {SCENARIO_LIMIT_S} s:\n{err.decode()[-4000:]}")
    told = f"{command[-1]} failed:\n{out.decode()[-2000:]}\n{err.decode()[-4000:]}"
    assert process.returncode == 0 and answer_file.exists(), told
    answer: dict[str, Any] = json.loads(answer_file.read_text())
    return answer


async def _check(server: Server, answer: dict[str, Any]) -> None:
    """What every scenario must have seen, and what the server's account must say of it."""
    ids, reads = answer["ids"], answer["reads"]
    heard = {(event, order_id) for event, order_id in answer["heard"]}
    assert {("new", ids["market"]), ("fill", ids["market"])} <= heard
    broker = server.broker
    assert (await broker.get_order(ids["market"])).status is OrderStatus.FILLED
    assert (await broker.get_order(ids["limit"])).status is OrderStatus.REPLACED
    replaced = await broker.get_order(ids["replaced"])
    assert (replaced.status, replaced.quantity, replaced.limit_price) == (OrderStatus.CANCELED, 6, 1.75)
    bracket = await broker.get_order(ids["bracket"])
    assert bracket.order_class is OrderClass.BRACKET and bracket.status is OrderStatus.FILLED
    assert {(await broker.get_order(leg)).status for leg in bracket.legs} <= {OrderStatus.NEW, OrderStatus.HELD}
    oco = await broker.get_order(ids["oco"])
    assert oco.order_class is OrderClass.OCO and oco.status is OrderStatus.NEW
    position = await broker.get_position("AAPL")
    assert position is not None and reads["position_qty"] == position.quantity == 12
    assert reads["positions"] == ["AAPL"]
    assert reads["activities"] >= 2 and reads["history_points"] >= 1 and reads["bars"] >= 1
    assert reads["cash"] == 100_000
    for price in (reads["latest_trade"], *reads["latest_quote"], reads["latest_bar"], reads["snapshot"]):
        assert price > 0
    timed = answer["submit_ms"]
    assert len(timed) == 24
    timing = [o for o in await broker.list_orders("all") if o.time_in_force.value == "ioc"]
    assert len(timing) == 20 and not any(o.filled_quantity for o in timing)
    ledger_is_whole(server)
    p95 = statistics.quantiles(timed, n=20)[-1]
    name = f"{answer['client']} {answer['version']}"
    print(f"{name}: submit round trip median {statistics.median(timed):.1f} ms, p95 {p95:.1f} ms")


async def test_alpaca_trade_api_runs_unchanged(tmp_path: Path) -> None:
    python = _python("alpaca-trade-api")
    if not python.exists():
        pytest.skip(f"alpaca-trade-api's venv is absent ({python}): `make clients` creates it")
    async with serving(tmp_path) as server:
        answer = await _run(server, [str(python), str(HERE / "alpaca_trade_api_bot.py")], tmp_path)
        await _check(server, answer)


@pytest.mark.parametrize("line", ["3", "4"])
async def test_the_js_sdk_runs_unchanged(tmp_path: Path, line: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JS SDK's scenarios need node >= 20")
    package = _node_modules() / f"alpaca{line}"
    if not package.exists():
        pytest.skip(f"@alpacahq/alpaca-trade-api {line}.x is absent ({package}): `make clients` installs it")
    async with serving(tmp_path) as server:
        answer = await _run(server, [node, str(HERE / f"alpaca_js{line}_bot.js")], tmp_path)
        await _check(server, answer)
    if line == "4":  # 4.x's clock() and calendar() call /v3
        assert answer["reads"]["clock_v3"] == "NASDAQ" and answer["reads"]["calendar_v3"] == 2


@pytest.mark.slow  # lumibot's environment is a 2.5 GB install: `make test-slow` sets it up and runs this
async def test_a_lumibot_strategy_runs_unchanged_with_prices_history_and_fills(tmp_path: Path) -> None:
    """lumibot's own Trader and Alpaca broker, given alpaca-py clients pointed at the server (its documented way
    to take caller-owned clients), on a replay stamped relative to the present: lumibot asks for prices and
    history from its own clock, and polls for fills."""
    python = _python("lumibot")
    if not python.exists():
        pytest.fail(f"lumibot's venv is absent ({python}): `make clients-slow` (or `make test-slow`) creates it")
    sources = [{**BASE_CONFIG["prices"]["sources"][0], "count": 3000}]  # minute bars
    overrides = {
        "prices": {"clock": "realtime", "sources": sources},
        "models": {**BASE_CONFIG["models"], "latency": {"model": "none"}},
        "serve": {"history_days": 1},
    }
    async with serving(tmp_path, overrides=overrides) as server:
        answer = await _run(server, [str(python), str(HERE / "lumibot_bot.py")], tmp_path)
        bought, bid = answer["orders"]
        last = server.served.market.latest(Bar, "AAPL")
        position = await server.broker.get_position("AAPL")
        filled = await server.broker.wait_for(bought, "filled", timeout=SCENARIO_LIMIT_S)
        canceled = await server.broker.wait_for(bid, "canceled", timeout=SCENARIO_LIMIT_S)
    assert last is not None and answer["last_price"] == pytest.approx(last.close, rel=0.01)
    assert answer["history_bars"] >= 25  # the last 30 minutes, asked from lumibot's own clock
    assert answer["statuses"]["AAPL"] == "fill"  # lumibot's own view of its order
    assert (filled.symbol, filled.filled_quantity, canceled.symbol) == ("AAPL", 10, "MSFT")
    assert position is not None and position.quantity == answer["position"] == 10
    timed = answer["submits_ms"]
    print(f"lumibot {answer['version']}: submit round trips {', '.join(f'{t:.1f}' for t in timed)} ms")
