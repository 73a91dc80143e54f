"""Config-driven runs: hand-checked fills, determinism, reports that agree with the ledger, strategies."""

from __future__ import annotations

import asyncio
import json
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from broker_sim import Bar, ConfigError, OrderEvent, OrderStatus, Strategy, Trade, arun_simulation, run_simulation
from broker_sim.simulation import StrategyError
from broker_sim.wiring import parse_config

ROOT = Path(__file__).resolve().parent.parent


def _prices(count: int = 60) -> list[float]:
    return [round(100 + 5 * math.sin(i / 4) + 0.1 * i, 2) for i in range(count)]


def _write_bars(path: Path, closes: list[float]) -> Path:
    lines = ["timestamp,open,high,low,close,volume"]
    start = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
    for i, close in enumerate(closes):
        stamp = (start + timedelta(minutes=i)).isoformat()
        lines.append(f"{stamp},{close},{close + 1},{close - 1},{close},1000")
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(
    tmp_path: Path, *, strategy: str, params: str, latency: str = "none", extra: str = "", seed: int = 42
) -> str:
    return f"""
broker: {{adapter: paper, initial_balance: 100000, seed: {seed}}}
models:
  slippage: {{model: fixed_bps, bps: 5}}
  latency: {latency}
prices:
  sources: [{{source: csv, path: bars.csv, symbol: AAPL}}]
strategy:
  class: {strategy}
  params: {params}
report: {{equity_interval: 60}}
{extra}
"""


def test_hand_checked_sma_run_matches_plain_arithmetic(tmp_path: Path) -> None:
    closes = _prices()
    _write_bars(tmp_path / "bars.csv", closes)
    fast, slow, quantity = 3, 8, 10
    text = _config(
        tmp_path,
        strategy=f"{ROOT}/examples/sma_cross.py:SmaCross",
        params=f"{{fast: {fast}, slow: {slow}, quantity: {quantity}}}",
    )
    result = run_simulation(parse_config(text, base_dir=tmp_path))

    # The same rule by plain arithmetic: decide on bar i's close, fill at once at that close +- 5 bps.
    expected_fills, long, cash, position = [], False, 100_000.0, 0
    for i in range(slow - 1, len(closes)):  # from the first bar both averages exist
        above = sum(closes[i - fast + 1 : i + 1]) / fast > sum(closes[i - slow + 1 : i + 1]) / slow
        if above != long:
            long = above
            price = closes[i] * (1.0005 if above else 0.9995)
            expected_fills.append(("buy" if above else "sell", price))
            cash += -quantity * price if above else quantity * price
            position += quantity if above else -quantity
    final_equity = cash + position * closes[-1]

    assert len(expected_fills) >= 4
    assert [(f.side.value, f.price) for f in result.fills] == [
        (s, pytest.approx(p, abs=1e-9)) for s, p in expected_fills
    ]
    assert result.account.equity == pytest.approx(final_equity, abs=1e-9)
    assert result.metrics.final_equity == pytest.approx(final_equity, abs=1e-9)
    assert result.events == 60


def test_same_config_and_seed_give_byte_identical_trades(tmp_path: Path) -> None:
    _write_bars(tmp_path / "bars.csv", _prices(59))
    uniform = "{model: uniform, low: 0.5, high: 2.0}"
    text = _config(
        tmp_path, strategy=f"{ROOT}/examples/sma_cross.py:SmaCross", params="{fast: 3, slow: 8}", latency=uniform
    )
    first = run_simulation(parse_config(text, base_dir=tmp_path), out=tmp_path / "one")
    second = run_simulation(parse_config(text, base_dir=tmp_path), out=tmp_path / "two")
    other = run_simulation(parse_config(text.replace("seed: 42", "seed: 7"), base_dir=tmp_path))  # fills, no files
    assert (tmp_path / "one/trades.csv").read_bytes() == (tmp_path / "two/trades.csv").read_bytes()
    assert (tmp_path / "one/orders.csv").read_bytes() == (tmp_path / "two/orders.csv").read_bytes()
    assert [f.timestamp for f in first.fills] == [f.timestamp for f in second.fills]
    assert [f.timestamp for f in first.fills] != [f.timestamp for f in other.fills]


def test_a_simulated_clock_that_overrides_move_to_is_called_for_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay steps `SimulatedClock`'s own clock in line while no timer is due; a subclass's `move_to` (as
    `serve`'s paced clock) is called for every event instead, and the run is the same."""
    import importlib

    from broker_sim.clock import SimulatedClock

    simulate = importlib.import_module("broker_sim.run.simulate")  # the module (the package exports its function)

    _write_bars(tmp_path / "bars.csv", _prices(59))
    uniform = "{model: uniform, low: 0.5, high: 2.0}"
    text = _config(
        tmp_path, strategy=f"{ROOT}/examples/sma_cross.py:SmaCross", params="{fast: 3, slow: 8}", latency=uniform
    )
    plain = run_simulation(parse_config(text, base_dir=tmp_path))
    seen: list[float] = []

    class Watched(SimulatedClock):
        def move_to(self, when: float) -> bool:
            seen.append(when)
            return super().move_to(when)

    monkeypatch.setattr(simulate, "SimulatedClock", Watched)
    watched = run_simulation(parse_config(text, base_dir=tmp_path))
    start = datetime(2024, 3, 4, 14, 30, tzinfo=UTC).timestamp()
    assert seen == [start + 60 * i for i in range(59)]
    assert len(watched.fills) >= 4
    assert [(f.timestamp, f.side, f.price) for f in watched.fills] == [
        (f.timestamp, f.side, f.price) for f in plain.fills
    ]
    assert watched.account.equity == plain.account.equity


def test_report_files_agree_with_the_ledger(tmp_path: Path) -> None:
    _write_bars(tmp_path / "bars.csv", _prices())
    text = _config(tmp_path, strategy=f"{ROOT}/examples/sma_cross.py:SmaCross", params="{fast: 3, slow: 8}")
    result = run_simulation(parse_config(text, base_dir=tmp_path), out=tmp_path / "report")
    report = tmp_path / "report"
    for name in ("summary.json", "trades.csv", "orders.csv", "equity.csv", "equity.png", "report.html"):
        assert (report / name).stat().st_size > 0
    summary = json.loads((report / "summary.json").read_text())
    last_equity = float((report / "equity.csv").read_text().strip().splitlines()[-1].split(",")[1])
    assert summary["final_equity"] == pytest.approx(result.account.equity, abs=1e-9)
    assert last_equity == pytest.approx(result.account.equity, abs=1e-9)
    assert len((report / "trades.csv").read_text().strip().splitlines()) == len(result.fills) + 1
    assert summary["fills"] == len(result.fills)


class Recorder(Strategy):
    """Buys once per symbol and records what it hears."""

    def __init__(self, quantity: float = 1) -> None:
        self.quantity = quantity
        self.heard: list[OrderEvent] = []
        self.bought: set[str] = set()
        self.started = self.stopped = False

    def on_start(self) -> None:
        self.started = True

    async def on_bar(self, bar: Bar) -> None:
        if bar.symbol not in self.bought:
            self.bought.add(bar.symbol)
            order = await self.broker.buy(bar.symbol, self.quantity)
            final = await self.broker.wait_for(order.id, "filled")  # waits on simulated time, as live
            assert final.status is OrderStatus.FILLED
            assert self.clock.now() >= final.updated_at

    def on_order_event(self, event: OrderEvent) -> None:
        self.heard.append(event)

    def on_stop(self) -> None:
        self.stopped = True


INSTANCES: list[Recorder] = []


class TrackedRecorder(Recorder):
    def __init__(self, quantity: float = 1) -> None:
        super().__init__(quantity)
        INSTANCES.append(self)


def test_strategies_share_one_account_and_hear_only_their_own_orders(tmp_path: Path) -> None:
    INSTANCES.clear()
    _write_bars(tmp_path / "bars.csv", _prices())
    text = """
broker: {adapter: paper, initial_balance: 100000, seed: 1}
models: {latency: {model: uniform, low: 0.5, high: 2.0}}
prices:
  sources: [{source: csv, path: bars.csv, symbol: AAPL}, {source: synthetic, symbols: [MSFT], count: 30}]
strategies:
  - {name: one, class: "tests.test_simulation:TrackedRecorder", params: {quantity: 2}, symbols: [AAPL]}
  - {name: two, class: "tests.test_simulation:TrackedRecorder", params: {quantity: 3}, symbols: [MSFT]}
"""
    result = run_simulation(parse_config(text, base_dir=tmp_path))
    one, two = INSTANCES[-2:]  # validation builds them once too
    assert one.started and one.stopped and two.started and two.stopped
    assert {e.order.symbol for e in one.heard} == {"AAPL"}
    assert {e.order.symbol for e in two.heard} == {"MSFT"}
    assert [e.type.value for e in one.heard] == ["pending_new", "new", "fill"]
    assert all(e.order.client_order_id.startswith("one-") for e in one.heard)
    positions = {f.symbol: f.quantity for f in result.fills}
    assert positions == {"AAPL": 2, "MSFT": 3}


class Heard(Strategy):
    """Keeps every bar it is handed, and the strategies heard by name."""

    BARS: ClassVar[dict[str, list[Bar]]] = {}

    def on_bar(self, bar: Bar) -> None:
        self.BARS.setdefault(self.name, []).append(bar)


@pytest.mark.parametrize("named", [False, True])
def test_a_strategy_that_names_no_symbols_hears_every_symbols_bars_in_time_order(tmp_path: Path, named: bool) -> None:
    # Two symbols' bars interleaved: the strategies that name no symbols hear all of them, and beside one that names
    # its symbol (`named`), which hears only its own, they still do.
    Heard.BARS.clear()
    _write_bars(tmp_path / "bars.csv", _prices(20))
    _write_bars(tmp_path / "msft.csv", [price / 2 for price in _prices(20)])
    other = '\n  - {name: msft, class: "tests.test_simulation:Heard", symbols: [MSFT]}' if named else ""
    text = f"""
broker: {{adapter: paper, initial_balance: 100000, seed: 1}}
prices:
  sources: [{{source: csv, path: bars.csv, symbol: AAPL}}, {{source: csv, path: msft.csv, symbol: MSFT}}]
strategies:
  - {{name: one, class: "tests.test_simulation:Heard"}}
  - {{name: two, class: "tests.test_simulation:Heard"}}{other}
"""
    result = run_simulation(parse_config(text, base_dir=tmp_path))
    assert result.events == 40
    one, two = Heard.BARS["one"], Heard.BARS["two"]
    assert one == two and len(one) == 40 and {bar.symbol for bar in one} == {"AAPL", "MSFT"}
    assert [bar.seconds for bar in one] == sorted(bar.seconds for bar in one)
    assert [bar.symbol for bar in one[:4]] == ["AAPL", "MSFT", "AAPL", "MSFT"]  # each minute's bars in turn
    assert Heard.BARS.get("msft", []) == ([bar for bar in one if bar.symbol == "MSFT"] if named else [])


class Narrowing(Heard):
    """Names the symbol of the first bar it hears as its only one (symbols set after the run started)."""

    def on_bar(self, bar: Bar) -> None:
        if not self.symbols:
            self.symbols = (bar.symbol,)
        super().on_bar(bar)


def test_a_strategy_that_names_its_symbol_on_its_first_bar_hears_only_that_symbol_after(tmp_path: Path) -> None:
    # A symbol's handlers are found when its first event comes: a strategy that names its symbols on its first bar
    # (AAPL's) hears no MSFT bar (review: deciding once, before the first event, whether any strategy names symbols
    # made it hear every symbol).
    Heard.BARS.clear()
    _write_bars(tmp_path / "bars.csv", _prices(20))
    _write_bars(tmp_path / "msft.csv", [price / 2 for price in _prices(20)])
    text = """
broker: {adapter: paper, initial_balance: 100000, seed: 1}
prices:
  sources: [{source: csv, path: bars.csv, symbol: AAPL}, {source: csv, path: msft.csv, symbol: MSFT}]
strategies:
  - {name: narrow, class: "tests.test_simulation:Narrowing"}
"""
    result = run_simulation(parse_config(text, base_dir=tmp_path))
    assert result.events == 40
    assert [bar.symbol for bar in Heard.BARS["narrow"]] == ["AAPL"] * 20


def test_a_raising_subscriber_does_not_stop_the_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write_bars(tmp_path / "bars.csv", _prices())
    text = _config(tmp_path, strategy=f"{ROOT}/examples/sma_cross.py:SmaCross", params="{fast: 3, slow: 8}")
    seen: list[Bar] = []

    def dashboard(event: Bar) -> None:
        raise RuntimeError("dashboard down")

    result = run_simulation(parse_config(text, base_dir=tmp_path), subscribers=[dashboard, seen.append])
    assert result.events == 60
    assert len(seen) == 60
    assert "price subscriber" in caplog.text and "dashboard" in caplog.text and "failed on Bar AAPL" in caplog.text


class Broken(Strategy):
    def on_bar(self, bar: Bar) -> None:
        raise ZeroDivisionError("oops")


def test_a_failing_strategy_is_reported_with_its_handler_and_time(tmp_path: Path) -> None:
    _write_bars(tmp_path / "bars.csv", _prices())
    text = _config(tmp_path, strategy="tests.test_simulation:Broken", params="{}")
    with pytest.raises(
        StrategyError,
        match=r"Broken\.on_bar failed on Bar AAPL at 2024-03-04T14:30:00\+00:00: "
        r"ZeroDivisionError: oops",
    ):
        run_simulation(parse_config(text, base_dir=tmp_path))


async def test_arun_simulation_runs_inside_an_event_loop(tmp_path: Path) -> None:
    _write_bars(tmp_path / "bars.csv", _prices())
    text = _config(tmp_path, strategy=f"{ROOT}/examples/buy_and_hold.py:BuyAndHold", params="{allocation: 0.5}")
    result = await arun_simulation(parse_config(text, base_dir=tmp_path))
    assert len(result.fills) == 1
    assert asyncio.get_running_loop().is_running()


LIVE_SOURCE = '''
from datetime import UTC, datetime

from broker_sim import Trade, hookimpl


class Ticks:
    """A live source that delivers a few trades and ends."""

    def __init__(self, prices=(100.0, 101.0, 102.0), base_dir=None, seed=None):
        self.prices = list(prices)
        self.name = "ticks"

    async def __aiter__(self):
        for price in self.prices:
            yield Trade("LIVE", datetime.now(UTC), price, 10)


@hookimpl
def broker_sim_register(registry):
    registry.add("source", "ticks", Ticks)
'''


class FirstTick(Strategy):
    def on_trade(self, trade: Trade) -> object:
        if trade.price == 100.0:
            return self.broker.buy(trade.symbol, 5)
        return None


def test_a_live_source_runs_on_the_real_time_clock(tmp_path: Path) -> None:
    (tmp_path / "ticks.py").write_text(LIVE_SOURCE)
    text = """
broker: {adapter: paper, initial_balance: 10000, seed: 1, session: always}
models: {latency: none}
plugins: [ticks.py]
prices:
  clock: realtime
  sources: [{source: ticks}]
strategy: {class: "tests.test_simulation:FirstTick"}
"""
    result = run_simulation(parse_config(text, base_dir=tmp_path))
    assert result.events == 3
    assert [(f.symbol, f.quantity, f.price) for f in result.fills] == [("LIVE", 5, pytest.approx(100.05))]
    assert result.account.equity == pytest.approx(10_000 - 5 * 100.05 + 5 * 102.0)


class BuyFirstBar(Strategy):
    """Buys on the first bar; remembers every bar's time stamp (in `stamps`, for the test to read)."""

    stamps: ClassVar[list[datetime]] = []

    def on_start(self) -> None:
        BuyFirstBar.stamps = []

    def on_bar(self, bar: Bar) -> object:
        self.stamps.append(bar.timestamp)
        return self.broker.buy(bar.symbol, 1) if len(self.stamps) == 1 else None


def test_a_replay_source_under_the_real_time_clock_plays_in_real_time_stamped_now(tmp_path: Path) -> None:
    # the bar fill model fills a market order on the next bar: with the bars' 2024 stamps left as they were, every
    # bar would be older than the order (stamped on the wall clock) and nothing would ever fill
    text = """
broker: {adapter: paper, initial_balance: 10000, seed: 1, session: always}
models: {latency: none, fill: {model: bar, timing: next_bar}}
prices:
  clock: realtime
  sources: [{source: synthetic, symbols: [AAPL], start: "2024-01-02T14:30:00Z", interval: 0.05, count: 4}]
strategy: {class: "tests.test_simulation:BuyFirstBar"}
"""
    began = datetime.now(UTC)
    result = run_simulation(parse_config(text, base_dir=tmp_path))
    ended = datetime.now(UTC)
    stamps = BuyFirstBar.stamps
    assert len(stamps) == 4
    assert all(began <= stamp <= ended for stamp in stamps)  # delivered live, stamped on the wall clock
    assert (stamps[-1] - stamps[0]).total_seconds() >= 0.14  # spaced as the source's interval says (3 x 0.05 s)
    assert [(f.symbol, f.quantity) for f in result.fills] == [("AAPL", 1)]
    assert began <= result.fills[0].timestamp <= ended


def test_a_live_source_needs_the_real_time_clock(tmp_path: Path) -> None:
    (tmp_path / "ticks.py").write_text(LIVE_SOURCE)
    text = (
        "plugins: [ticks.py]\nprices: {sources: [{source: ticks}]}\n"
        "strategy: {class: 'tests.test_simulation:FirstTick'}\n"
    )
    with pytest.raises(
        ConfigError, match=r"prices\.sources\[0\]\.source: 'ticks' is a live source: it needs prices\.clock"
    ):
        parse_config(text, base_dir=tmp_path)


async def test_paper_live_run_from_a_websocket_feed(tmp_path: Path) -> None:
    from websockets.asyncio.server import serve

    async def feed(connection: Any) -> None:
        for price in (100.0, 101.0, 102.0):
            await connection.send(json.dumps({"S": "LIVE", "p": price, "t": datetime.now(UTC).isoformat()}))

    async with serve(feed, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        text = f"""
broker: {{adapter: paper, initial_balance: 10000, seed: 1, session: always}}
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
        async with asyncio.timeout(10):
            result = await arun_simulation(parse_config(text, base_dir=tmp_path))
    assert result.events == 3
    assert [(f.symbol, f.quantity) for f in result.fills] == [("LIVE", 5)]


class ShortFirstBar(Strategy):
    """Sells short on the first bar and holds the short."""

    def on_bar(self, bar: Bar) -> object:
        if getattr(self, "_sold", False):
            return None
        self._sold = True
        return self.broker.sell(bar.symbol, 300)


def test_the_report_lists_borrow_fees_margin_calls_and_their_totals(tmp_path: Path) -> None:
    text = """
broker: {adapter: paper, initial_balance: 10000, seed: 1, account: margin, allow_short: true, session: always}
models:
  latency: none
  slippage: none
  borrow_fee: {model: annual_rate, rate: 0.36}
prices:
  sources: [{source: synthetic, symbols: [AAPL], start: "2024-01-02T00:00:00Z", interval: 3600, count: 60,
             start_price: 30, volatility: 0.05}]
strategy: {class: "tests.test_simulation:ShortFirstBar"}
"""
    result = run_simulation(parse_config(text, base_dir=tmp_path), out=tmp_path / "report")
    fees = [e for e in result.account_events if e.type.value == "fee"]
    assert len(fees) >= 2  # one a day the short is held over a close
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["account"]["borrow_fees"] == pytest.approx(sum(e.amount for e in fees))
    assert summary["account"]["margin_calls"] == sum(e.type.value == "margin_call" for e in result.account_events)
    rows = (tmp_path / "report" / "account_events.csv").read_text().splitlines()
    assert rows[0] == "timestamp,type,amount,equity,requirement,symbol,description"
    assert len(rows) == 1 + len(result.account_events)
    assert result.account.fees == pytest.approx(sum(e.amount for e in fees))  # no commission: fees are the charges


class Counted(Strategy):
    """Counts its constructions (class-wide: the test reads `made`)."""

    made: ClassVar[int] = 0

    def __init__(self) -> None:
        type(self).made += 1


COUNTED_SOURCE = """
from broker_sim import hookimpl
from broker_sim.streams.synthetic import SyntheticSource

BUILT = []


class Counted(SyntheticSource):
    def __init__(self, symbols=("SYN",), count=10, base_dir=None, seed=None):
        BUILT.append(self)
        super().__init__(symbols, count=count, base_dir=base_dir, seed=seed)


@hookimpl
def broker_sim_register(registry):
    registry.add("source", "counted", Counted)
"""


def test_a_run_builds_its_plugins_sources_and_strategies_once(tmp_path: Path) -> None:
    # what checking the config builds is what the run uses: one plugin manager (the plugin file runs once), one
    # source, one strategy; a Config loaded (and checked) earlier is built once more, by the run, and only once
    (tmp_path / "counted.py").write_text(COUNTED_SOURCE)
    data = {
        "plugins": ["counted.py"],
        "broker": {"adapter": "paper", "initial_balance": 10_000, "seed": 1, "session": "always"},
        "prices": {"sources": [{"source": "counted", "symbols": ["AAPL"], "count": 5}]},
        "strategy": {"class": "tests.test_simulation:Counted"},
    }
    Counted.made = 0
    result = run_simulation(data, out=False, overrides={"plugins": [str(tmp_path / "counted.py")]})
    assert result.events == 5
    assert Counted.made == 1
    plugin = [m for name, m in sys.modules.items() if name.startswith("broker_sim_plugin") and hasattr(m, "BUILT")]
    assert [len(m.BUILT) for m in plugin] == [1]  # one plugin manager loaded the file once; it built one source
    Counted.made = 0
    config = parse_config(yaml.safe_dump(data), base_dir=tmp_path)
    run_simulation(config, out=False)
    assert Counted.made == 2  # checked when loaded, then built by the run once
