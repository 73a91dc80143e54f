"""The replay loop's market update: each event reaches the paper broker, which offers it to the orders resting on its
symbol; something that is no market event is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker_sim import InvalidMarketData, run_simulation
from broker_sim.wiring import parse_config

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)

SOURCE = """
from datetime import UTC, datetime, timedelta

from broker_sim import Bar, hookimpl


class NotAnEvent:
    symbol = "AAPL"


class Scripted:
    '''A replay source: AAPL bars at the closes given, one a minute, then (with `odd`) something that is no event.'''

    def __init__(self, closes=(), odd=False, base_dir=None, seed=None):
        self.closes, self.odd, self.name = list(closes), odd, "scripted"

    def timed_events(self):
        start = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
        for i, close in enumerate(self.closes):
            bar = Bar("AAPL", start + timedelta(minutes=i), close, close + 0.5, close - 0.5, close, 1000)
            yield bar.timestamp.timestamp(), bar
        if self.odd:
            yield (start + timedelta(minutes=len(self.closes))).timestamp(), NotAnEvent()


@hookimpl
def broker_sim_register(registry):
    registry.add("source", "scripted", Scripted)
"""

STRATEGY = """
from broker_sim import Strategy


class BuyTheDip(Strategy):
    '''A limit buy at 98 on the first bar: it rests until a bar's low reaches it.'''

    def on_bar(self, bar):
        if not hasattr(self, "placed"):
            self.placed = True
            return self.broker.buy(bar.symbol, 10, type="limit", limit_price=98.0, time_in_force="gtc")
        return None
"""


def _run(tmp_path: Path, closes: list[float], *, odd: bool = False, strategy: str = STRATEGY) -> object:
    """A replay of the scripted source with `strategy` (its module's source; the first class defined in it)."""
    (tmp_path / "scripted.py").write_text(SOURCE)
    (tmp_path / "chosen.py").write_text(strategy)
    name = strategy.split("class ", 1)[1].split("(", 1)[0]
    text = f"""
broker: {{adapter: paper, initial_balance: 100000, seed: 1, session: always}}
models: {{latency: none}}
plugins: [scripted.py]
prices: {{sources: [{{source: scripted, closes: {closes}, odd: {str(odd).lower()}}}]}}
strategy: {{class: "chosen.py:{name}"}}
"""
    return run_simulation(parse_config(text, base_dir=tmp_path), out=False)


def test_a_resting_limit_order_fills_on_the_first_bar_whose_price_reaches_it_in_a_replay(tmp_path: Path) -> None:
    result = _run(tmp_path, [100.0, 99.5, 99.0, 98.2, 97.9, 99.0])
    fills = result.fills  # type: ignore[attr-defined]
    # (the immediate fill model at the bar's price, 97.9, with the default 5 bps of slippage)
    assert [(fill.symbol, fill.quantity) for fill in fills] == [("AAPL", 10)]
    assert fills[0].price == pytest.approx(97.9 * 1.0005)
    assert fills[0].timestamp == datetime(2024, 3, 4, 14, 34, tzinfo=UTC)
    assert result.events == 6  # type: ignore[attr-defined]


def test_something_that_is_no_market_event_stops_the_replay_as_the_broker_refuses_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidMarketData, match="update_market takes a Bar, Quote or Trade, got NotAnEvent"):
        _run(tmp_path, [100.0, 99.0], odd=True)


BUY_ON_THE_THIRD = """
from broker_sim import Strategy


class BuyOnTheThird(Strategy):
    '''A market buy on the third bar, nothing else: no order ever rests, so every bar is stored in line.'''

    def on_bar(self, bar):
        self.seen = getattr(self, "seen", 0) + 1
        return self.broker.buy(bar.symbol, 10) if self.seen == 3 else None
"""


def test_a_market_order_fills_at_the_bar_the_replay_stored_in_line_for_its_symbol(tmp_path: Path) -> None:
    # No order rests, so the loop stores each bar as the broker's market itself (`market_in_line`): the order placed
    # on the third bar fills at that bar's price, not an older one.
    result = _run(tmp_path, [100.0, 101.0, 102.0, 103.0], strategy=BUY_ON_THE_THIRD)
    fills = result.fills  # type: ignore[attr-defined]
    assert [(fill.symbol, fill.quantity) for fill in fills] == [("AAPL", 10)]
    assert fills[0].price == pytest.approx(102.0 * 1.0005)
    assert fills[0].timestamp == datetime(2024, 3, 4, 14, 32, tzinfo=UTC)


def test_something_that_is_no_market_event_is_refused_while_no_order_rests(tmp_path: Path) -> None:
    with pytest.raises(InvalidMarketData, match="update_market takes a Bar, Quote or Trade, got NotAnEvent"):
        _run(tmp_path, [100.0, 99.0], odd=True, strategy=BUY_ON_THE_THIRD)


def test_market_in_line_gives_the_paper_brokers_own_dicts_only_for_its_feeds_own_update() -> None:
    from broker_sim import Bar, PaperBroker, SimulatedClock
    from broker_sim.run.loop import market_in_line

    broker = PaperBroker(clock=SimulatedClock(T0))
    market, book = market_in_line(broker.update_market_nowait)
    assert market is not None and book == {}
    bar = Bar("AAPL", T0, 100.0, 101.0, 99.0, 100.5, 1000)
    market["AAPL"] = bar  # the very dict the broker prices from
    assert broker.last_prices() == {"AAPL": 100.5}

    class Counting(PaperBroker):
        def update_market_nowait(self, event: object) -> None:  # type: ignore[override]
            super().update_market_nowait(event)  # type: ignore[arg-type]

    assert market_in_line(Counting(clock=SimulatedClock(T0)).update_market_nowait) == (None, {})
    assert market_in_line(PaperBroker().update_market_nowait) == (None, {})  # its own clock: checked per event
    assert market_in_line(None) == (None, {})
    assert market_in_line(print) == (None, {})
