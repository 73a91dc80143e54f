"""Byte-identical output: a fixed-seed run's report files and journal digest to the values stored here, so a
change to the order path, the bar path or the recording (issue 25's speed-ups) that moves one byte of what a user
keeps fails here. If a change means to alter the output, it says so and updates the digests in the same commit."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from broker_sim import run_simulation
from broker_sim.report.spool import FILL_COLUMNS, ORDER_CSV_COLUMNS, Spool, write_rows
from broker_sim.wiring import parse_config

STRATEGY = '''
from broker_sim import Bar, Strategy


class Churn(Strategy):
    """Market and limit orders, partial exits and shorts on every few bars: each order path gets exercised."""

    async def on_bar(self, bar: Bar) -> None:
        position = await self.broker.get_position(bar.symbol)
        held = position.quantity if position is not None else 0.0
        if bar.close > bar.open and held < 40:
            await self.broker.buy(bar.symbol, 10)
        elif bar.close < bar.open and held > 0:
            await self.broker.sell(bar.symbol, 5 if held > 10 else held)
        elif held <= 0 and bar.close < bar.open:
            await self.broker.buy(bar.symbol, 5, type="limit", limit_price=round(bar.close * 0.999, 2))
'''

CONFIG = """
broker: {{adapter: paper, initial_balance: 100000, seed: 7, session: always, journal: '{journal}'}}
models:
  slippage: {{model: fixed_bps, bps: 5}}
  latency: {latency}
  commission: {{model: per_share, rate: 0.005, minimum: 1.0}}
prices:
  clock: simulated
  sources: [{{source: synthetic, symbols: [AAA, BBB], interval: 60, count: 300, volatility: 0.4}}]
strategy: {{class: '{folder}/churn.py:{strategy}', name: Churn}}
report: {{equity_interval: 3600}}
plugins: {plugins}
"""

#: Churn, listening to its order events: the run then hands the broker's every event to it.
LISTENING = """
from pathlib import Path


class ListeningChurn(Churn):
    def on_order_event(self, event) -> None:
        with Path(__file__).with_name("heard.txt").open("a") as heard:
            heard.write(event.type.value + "\\n")
"""

#: An order event observer that writes each event's type to `events.txt` beside it.
OBSERVER = """
from pathlib import Path

from broker_sim import hookimpl

HEARD = Path(__file__).with_name("events.txt")


@hookimpl
def broker_sim_order_event(event):
    with HEARD.open("a") as heard:
        heard.write(event.type.value + "\\n")
"""

#: sha256 of each file (and of the journal's rows), from the run before issue 25's changes. The journal's were
#: taken again when its rows began to hold every field, defaults included (issue 27): that code alone, without
#: issue 25's, writes these same rows.
EXPECTED: dict[str, dict[str, str]] = {
    "none": {
        "trades.csv": "4d6b2ee4f6aff7af35e49a9c2ea7c9f20327cb4ff9c49fba1a82495159daca1e",
        "orders.csv": "da5cb14e36513a4f78c60195dc7686581dd0c7e7e1a8b18c02404c07776e52d6",
        "equity": "2a7ad51b4ebbbc5b98c5ef99e59224f54f9fc6612ef3b257121c89e6f31606b1",
        "journal": "21ff1e593d0a5f02a8e2288abd9d7e4c6966e4b6af80f4ec7d445030ad619f41",
    },
    "uniform": {
        "trades.csv": "eafc86370360050a9ae680b50d602f2347aaef8e56681b0ee8813b40c98e77eb",
        "orders.csv": "1ac230fde13e1b76e7e30a5b66cd103598a8a188425576e07420429eaf28eca4",
        "equity": "7565ce4ab0a4bf8f2231526a617086af23294a49ead6d6862a85b4c149f249f2",
        "journal": "35e9b3bc907c8c835ea54b362016584ded4c2d00f76cb811663d3a3b83e815cc",
    },
}


def _journal_digest(path: Path) -> str:
    """The journal's rows, table by table in a stable order (the file's bytes hold SQLite's page layout)."""
    digest = hashlib.sha256()
    with sqlite3.connect(path) as connection:
        tables = [
            row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        for table in tables:
            digest.update(table.encode())
            for row in connection.execute(f"SELECT * FROM {table} ORDER BY rowid"):  # (names read from the file)
                digest.update(repr(row).encode())
    return digest.hexdigest()


def _digests(folder: Path, latency: str, strategy: str = "Churn", plugins: str = "[]") -> dict[str, str]:
    """Digests of trades.csv and orders.csv as the report writes them (the report's own writer over the run's
    spools; the charts are left out, they cost seconds), of the equity samples, and of the journal's rows."""
    (folder / "churn.py").write_text(STRATEGY + LISTENING)
    journal = folder / "account.db"
    text = CONFIG.format(journal=journal, latency=latency, folder=folder, strategy=strategy, plugins=plugins)
    result = run_simulation(parse_config(text, base_dir=folder))
    assert isinstance(result.fills, Spool) and isinstance(result.orders, Spool)
    write_rows(folder / "trades.csv", FILL_COLUMNS, result.fills.rows())
    write_rows(folder / "orders.csv", ORDER_CSV_COLUMNS, result.orders.rows())
    found = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("trades.csv", "orders.csv")}
    found["equity"] = hashlib.sha256(repr(result.equity).encode()).hexdigest()
    found["journal"] = _journal_digest(journal)
    return found


LATENCIES = {"none": "none", "uniform": "{model: uniform, low: 0.5, high: 2.0}"}


@pytest.mark.parametrize("latency", sorted(LATENCIES))
def test_a_fixed_seed_run_writes_the_same_bytes_as_before(tmp_path: Path, latency: str) -> None:
    assert _digests(tmp_path, LATENCIES[latency]) == EXPECTED[latency]


def test_the_same_bytes_when_someone_reads_every_order_event(tmp_path: Path) -> None:
    """A run makes an order's pending_new, new and fill events only for someone who reads them (an observer, a
    strategy's `on_order_event`); without one, its records and books keep the same from the order and the fill
    alone: the files are the same either way."""
    (tmp_path / "observer.py").write_text(OBSERVER)
    observed = tmp_path / "observed"
    observed.mkdir()
    assert _digests(observed, LATENCIES["none"], plugins=f"['{tmp_path}/observer.py']") == EXPECTED["none"]
    heard = (tmp_path / "events.txt").read_text().split()
    assert heard.count("pending_new") == heard.count("new") == heard.count("fill") + heard.count("canceled") > 0
    listened = tmp_path / "listened"
    listened.mkdir()
    assert _digests(listened, LATENCIES["none"], strategy="ListeningChurn") == EXPECTED["none"]
    heard = (listened / "heard.txt").read_text().split()
    assert heard.count("pending_new") == heard.count("new") == heard.count("fill") + heard.count("canceled") > 0
