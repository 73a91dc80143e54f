"""Resume: a journaled run stopped part-way and started again ends with the same ledger as one that never stopped
(simulated clock, seeded synthetic source), and `broker.journal` works under `run_simulation` like any key."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_sim import run_simulation
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
    from broker_sim.journal import read_account

    stored = read_account(journal)
    expected = [(f.symbol, f.side, f.quantity, f.price, f.timestamp) for f in whole.fills]  # type: ignore[attr-defined]
    assert len(expected) > 20
    assert [(f.symbol, f.side, f.quantity, f.price, f.timestamp) for f in stored.fills] == expected
    assert len({o.client_order_id for o in stored.orders}) == len(stored.orders)
