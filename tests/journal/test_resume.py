"""Resume: a journaled run stopped part-way and started again ends with the same ledger as one that never stopped
(simulated clock, seeded synthetic source), and `broker.journal` works under `run_simulation` like any key."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from broker_sim import run_simulation
from broker_sim.journal import read_account
from broker_sim.simulation import arun_simulation
from broker_sim.wiring import parse_config

STRATEGY = '''
from broker_sim import Bar, Strategy


class UpDown(Strategy):
    """Buy 10 after a rising bar, sell what is held after a falling one: decisions from the bar and the account
    only, so a restarted process decides as the first one would have."""

    async def on_bar(self, bar: Bar) -> None:
        position = await self.broker.get_position(bar.symbol)
        held = position.quantity if position is not None else 0.0
        if bar.close > bar.open and held < 50:
            await self.broker.buy(bar.symbol, 10)
        elif bar.close < bar.open and held > 0:
            await self.broker.sell(bar.symbol, held)
'''


def _config(folder: Path, count: int, journal: Path | None) -> str:
    journaled = f", journal: '{journal}'" if journal is not None else ""
    return f"""
broker: {{adapter: paper, initial_balance: 100000, seed: 5, session: always{journaled}}}
models:
  slippage: {{model: fixed_bps, bps: 5}}
  latency: {{model: none}}
  commission: {{model: per_share, rate: 0.005, minimum: 1.0}}
prices:
  clock: simulated
  sources: [{{source: synthetic, symbols: [AAA, BBB], interval: 60, count: {count}, volatility: 0.4}}]
strategy: {{class: '{folder / "updown.py"}:UpDown'}}
report: {{equity_interval: 3600}}
"""


def _run(folder: Path, count: int, journal: Path | None) -> object:
    return run_simulation(parse_config(_config(folder, count, journal), base_dir=folder))


@pytest.mark.parametrize("stops", [[130], [40, 170, 171, 300]])
def test_a_run_stopped_and_started_again_ends_with_the_same_ledger(tmp_path: Path, stops: list[int]) -> None:
    (tmp_path / "updown.py").write_text(STRATEGY)
    whole = _run(tmp_path, 390, None)
    journal = tmp_path / "account.db"
    for count in stops:
        _run(tmp_path, count, journal)
    resumed = _run(tmp_path, 390, journal)
    assert resumed.account.cash == pytest.approx(whole.account.cash, abs=1e-6)  # type: ignore[attr-defined]
    assert resumed.account.equity == pytest.approx(whole.account.equity, abs=1e-6)  # type: ignore[attr-defined]
    assert resumed.account.realized_pnl == pytest.approx(whole.account.realized_pnl, abs=1e-6)  # type: ignore[attr-defined]
    assert resumed.account.fees == pytest.approx(whole.account.fees, abs=1e-9)  # type: ignore[attr-defined]

    stored = read_account(journal)
    expected = [(f.symbol, f.side, f.quantity, f.price, f.timestamp) for f in whole.fills]  # type: ignore[attr-defined]
    assert len(expected) > 20
    assert [(f.symbol, f.side, f.quantity, f.price, f.timestamp) for f in stored.fills] == expected
    assert len({o.client_order_id for o in stored.orders}) == len(stored.orders)


async def test_a_journaled_paper_session_on_a_websocket_feed_resumes_in_the_next_session(tmp_path: Path) -> None:
    """`broker-sim paper`'s run (real time, `realtime=1`) on a live feed: two sessions on one journal, one account."""

    async def feed(connection: object) -> None:
        for price in (100.0, 101.0, 102.0):
            message = {"S": "LIVE", "p": price, "t": datetime.now(UTC).isoformat()}
            await connection.send(json.dumps(message))  # type: ignore[attr-defined]

    journal = tmp_path / "live.db"
    watched: list[int] = []
    async with serve(feed, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        text = f"""
broker: {{adapter: paper, initial_balance: 10000, seed: 1, session: always, journal: '{journal}'}}
models: {{latency: none}}
prices:
  clock: realtime
  sources:
    - source: websocket
      url: ws://127.0.0.1:{port}
      kind: trade
      fields: {{symbol: S, price: p, timestamp: t}}
      reconnect: false
strategy: {{class: "tests.test_simulation:FirstTick"}}
"""
        for _ in range(2):
            async with asyncio.timeout(10):
                result = await arun_simulation(
                    parse_config(text, base_dir=tmp_path),
                    realtime=1.0,
                    watch=lambda broker: watched.append(len(broker.state.fills)),  # type: ignore[attr-defined]
                )
            assert result.events == 3
    assert watched == [0, 1]  # the second session started from the first one's fill
    stored = read_account(journal)
    assert [(f.symbol, f.quantity) for f in stored.fills] == [("LIVE", 5), ("LIVE", 5)]
    assert stored.state.ledger.quantity("LIVE") == 10
