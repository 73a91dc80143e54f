"""Every event of every order a strategy caused reaches it (bracket exits, replacements, its share of a margin
call), and its share of the account — position, open orders, fills — is kept by the runner and restored when a
journaled account resumes; the shipped SMA crossover holds exactly what it is configured to."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from broker_sim import Bar, PaperBroker, SimulatedClock, Strategy, run_simulation
from broker_sim.journal import read_account
from broker_sim.strategy_book import StrategyBook
from broker_sim.wiring import parse_config

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)

RECORDER = '''
import json
from broker_sim import Bar, Strategy


class Recorder(Strategy):
    """Sends the orders `plan` names on the bars it names, hears every order event, and writes what it heard and
    what its share of the account was at the end to `out`."""

    def __init__(self, out: str, plan: dict, quantity: float = 10) -> None:
        self.out, self.plan, self.quantity = out, plan, quantity
        self.heard: list = []
        self.bars = 0
        self.sent: dict = {}

    async def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        action = self.plan.get(str(self.bars))
        if action == "bracket":
            self.sent["bracket"] = (await self.broker.buy(
                bar.symbol, self.quantity, order_class="bracket", take_profit={"limit_price": bar.close + 2},
                stop_loss={"stop_price": bar.close - 5},
            )).id
        elif action == "buy":
            await self.broker.buy(bar.symbol, self.quantity)
        elif action == "limit":
            self.sent["limit"] = (await self.broker.buy(
                bar.symbol, self.quantity, type="limit", limit_price=bar.close - 50, time_in_force="gtc"
            )).id
            self.open_after_send = [o.id for o in self.open_orders]
        elif action == "replace":
            replacement = await self.broker.replace_order(self.sent["limit"], limit_price=bar.close - 40)
            self.sent["replacement"] = replacement.id

    def on_order_event(self, event) -> None:
        self.heard.append([event.type.value, event.order.id, event.order.parent_id, event.order.status.value,
                           self.position(event.order.symbol).quantity])

    def on_stop(self) -> None:
        with open(self.out, "w") as file:
            json.dump({
                "heard": self.heard, "sent": self.sent,
                "open_after_send": getattr(self, "open_after_send", None),
                "positions": {s: p.quantity for s, p in self.positions.items()},
                "open": [o.id for o in self.open_orders],
                "fills": [[f.order_id, f.quantity, f.fee] for f in self.fills],
            }, file)
'''


def _bars(path: Path, closes: list[float], stamps: list[datetime] | None = None) -> Path:
    """Minute bars from START (or at `stamps`) closing at `closes`."""
    lines = ["timestamp,open,high,low,close,volume"]
    for index, close in enumerate(closes):
        stamp = (START + timedelta(minutes=index) if stamps is None else stamps[index]).isoformat()
        lines.append(f"{stamp},{close},{close},{close},{close},100000")
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(
    tmp_path: Path,
    closes: list[float],
    strategies: list[dict[str, Any]],
    stamps: list[datetime] | None = None,
    **broker: Any,
) -> Any:
    (tmp_path / "recorder.py").write_text(RECORDER)
    bars = _bars(tmp_path / "bars.csv", closes, stamps)
    data = {
        "broker": {"adapter": "paper", "initial_balance": 100_000, "seed": 1, "session": "always", **broker},
        "models": {"slippage": "none", "latency": "none", "fill": "immediate"},
        "prices": {"sources": [{"source": "csv", "path": str(bars), "symbol": "X"}]},
        "strategies": [
            {
                "class": f"{tmp_path / 'recorder.py'}:Recorder",
                **spec,
                "params": {"out": str(tmp_path / f"{spec['name']}.json"), **spec["params"]},
            }
            for spec in strategies
        ],
    }
    return data


def _heard(tmp_path: Path, name: str) -> dict[str, Any]:
    return json.loads((tmp_path / f"{name}.json").read_text())


def test_a_strategy_hears_its_brackets_exits_fill_and_cancel(tmp_path: Path) -> None:
    config = _config(tmp_path, [100, 100, 101, 103, 103], [{"name": "b", "params": {"plan": {"1": "bracket"}}}])
    result = run_simulation(config, out=False)
    heard = _heard(tmp_path, "b")
    entry = heard["sent"]["bracket"]
    legs = {order_id for _, order_id, parent, _, _ in heard["heard"] if parent == entry}
    assert len(legs) == 2  # the take-profit and the stop-loss
    exits = {(kind, status) for kind, _, parent, status, _ in heard["heard"] if parent == entry}
    assert ("fill", "filled") in exits and ("canceled", "canceled") in exits
    assert heard["positions"] == {} and heard["open"] == []
    assert [kind for kind, *_ in heard["heard"] if kind == "fill"] == ["fill", "fill"]  # entry and take-profit
    assert {fill.strategy for fill in result.fills} == {"b"}


def test_a_strategy_hears_its_replacement_and_sees_the_order_as_soon_as_it_sent_it(tmp_path: Path) -> None:
    plan = {"1": "limit", "3": "replace"}
    run_simulation(_config(tmp_path, [100, 100, 100, 100], [{"name": "r", "params": {"plan": plan}}]), out=False)
    heard = _heard(tmp_path, "r")
    assert heard["open_after_send"] == [heard["sent"]["limit"]]  # in open_orders before any event was delivered
    replaced = [status for kind, order_id, _, status, _ in heard["heard"] if order_id == heard["sent"]["limit"]]
    assert replaced[-1] == "replaced"
    assert any(order_id == heard["sent"]["replacement"] for _, order_id, *_ in heard["heard"])
    assert heard["open"] == [heard["sent"]["replacement"]]  # the replacement still works at the end


def test_a_margin_call_reaches_every_holder_and_splits_by_their_shares(tmp_path: Path) -> None:
    strategies = [
        {"name": "big", "params": {"plan": {"1": "buy"}, "quantity": 1000}},
        {"name": "small", "params": {"plan": {"1": "buy"}, "quantity": 600}},
    ]
    # Alpaca calls at the session close and liquidates at the next open what the call still needs: at 20 the
    # equity is negative, so both positions go whole.
    day = START.replace(hour=14, minute=30)  # 09:30 New York
    stamps = [day, day + timedelta(minutes=1), day + timedelta(minutes=2), day + timedelta(hours=6, minutes=29)]
    stamps += [day + timedelta(days=1), day + timedelta(days=1, minutes=1)]
    closes = [100, 100, 100, 20, 20, 20]
    config = _config(tmp_path, closes, strategies, stamps, account="margin", session="us_equity")
    result = run_simulation(config, out=False)
    for name in ("big", "small"):
        heard = _heard(tmp_path, name)
        assert any(kind == "margin_call" for kind, *_ in heard["heard"]), heard["heard"]
        assert heard["positions"] == {}  # its share was sold: the strategy knows it holds nothing
    sold = {fill.strategy: fill.quantity for fill in result.fills if fill.side.value == "sell"}
    assert sold == pytest.approx({"big": 1000, "small": 600})
    assert {fill.strategy for fill in result.fills} == {"big", "small"}  # none unattributed


def test_a_resumed_strategy_knows_what_it_holds_and_does_not_buy_again(tmp_path: Path) -> None:
    """The issue's restart: the SMA crossover long 10 shares, stopped and started again, must stay at 10."""
    journal = tmp_path / "account.db"
    text = (ROOT / "configs" / "paper.yaml").read_text().replace("../reports/paper-account.db", str(journal))
    held: list[dict[str, float]] = []
    for count in (300, 500, 700):  # the old SmaCross held 20 AAPL after the restart at 500
        config = parse_config(text, base_dir=ROOT / "configs")
        run_simulation(config, overrides={"prices.sources.0.count": count}, out=False)
        quantities: dict[str, float] = {}
        for fill in read_account(journal).fills:
            quantities[fill.symbol] = quantities.get(fill.symbol, 0.0) + fill.signed_quantity
        assert set(quantities.values()) <= {0.0, 10.0}, quantities
        held.append(quantities)
    assert any(10.0 in quantities.values() for quantities in held)  # it was long across a restart


async def test_a_book_restored_from_orders_has_the_positions_and_open_orders() -> None:
    broker = PaperBroker(clock=SimulatedClock(START), latency="none", slippage="none", session="always")
    await broker.update_market(Bar("X", START, 100, 100, 100, 100))
    bought = await broker.buy("X", 10)
    sold = await broker.sell("X", 4)
    working = await broker.buy("X", 3, type="limit", limit_price=90.0, time_in_force="gtc")
    book = StrategyBook("s")
    book.restore(await broker.list_orders("all"), broker.fills)
    assert book.position("X").quantity == pytest.approx(6)
    assert book.position("X").realized_pnl == pytest.approx(0.0)
    assert [o.id for o in book.open_orders] == [working.id]
    assert book.pending_quantity("X") == pytest.approx(3)
    assert [f.order_id for f in book.fills] == [bought.id, sold.id]


async def test_an_ended_order_never_reopens_and_one_ended_out_of_sight_is_forgotten() -> None:
    broker = PaperBroker(clock=SimulatedClock(START), latency="none", slippage="none", session="always")
    await broker.update_market(Bar("X", START, 100, 100, 100, 100))
    book = StrategyBook("s")
    snapshots: list[Any] = []
    broker.add_listener(lambda event: (snapshots.append(event.order), book.apply(event)))
    bought = await broker.buy("X", 10)
    book.track(bought)  # as the strategy's view does once the adapter answers
    assert book.open_orders == [] and book.position("X").quantity == pytest.approx(10)
    book.track(snapshots[0])  # a late snapshot of the order, still pending_new
    assert book.open_orders == []
    working = await broker.buy("X", 3, type="limit", limit_price=90.0, time_in_force="gtc")
    assert [o.id for o in book.open_orders] == [working.id]
    quiet = StrategyBook("quiet")  # hears no events: only the answers
    quiet.track(working)
    canceled = await broker.cancel_order(working.id)
    quiet.track(canceled)
    quiet.track(working)
    assert quiet.open_orders == [] and book.open_orders == []


async def test_a_position_read_stays_as_it_was_and_the_next_read_shows_the_fills_since() -> None:
    broker = PaperBroker(
        clock=SimulatedClock(START),
        latency="none",
        slippage="none",
        session="always",
        commission={"model": "fixed", "amount": 1.0},
    )
    await broker.update_market(Bar("X", START, 100, 100, 100, 100))
    book = StrategyBook("s")
    broker.add_listener(book.apply)
    await broker.buy("X", 10)
    long = book.position("X")
    await broker.update_market(Bar("X", START + timedelta(minutes=1), 110, 110, 110, 110))
    await broker.sell("X", 10)
    flat = book.position("X")
    assert (long.quantity, long.avg_price, long.realized_pnl, long.fees) == pytest.approx((10, 100, 0, 1))
    assert flat.is_flat and flat.avg_price == 0.0
    assert (flat.realized_pnl, flat.fees) == pytest.approx((100, 2))
    assert book.positions == {} and book.position("Y").is_flat


def test_a_strategy_outside_a_run_has_an_empty_book() -> None:
    strategy = Strategy()
    assert strategy.position("AAPL").quantity == 0.0 and strategy.position("AAPL").is_flat
    assert strategy.positions == {} and strategy.open_orders == [] and list(strategy.fills) == []


@pytest.mark.parametrize("name", ["csv_replay", "demo", "day23", "daily", "paper"])
def test_the_shipped_sma_crossover_holds_exactly_its_quantity_or_nothing(name: str) -> None:
    config = parse_config((ROOT / "configs" / f"{name}.yaml").read_text(), base_dir=ROOT / "configs")
    overrides = {"broker.journal": None} if name == "paper" else {}
    result = run_simulation(config, overrides=overrides, out=False)
    quantities: dict[tuple[str, str], float] = {}
    for fill in result.fills:
        key = (fill.strategy, fill.symbol)
        quantities[key] = quantities.get(key, 0.0) + fill.signed_quantity
    targets = {spec.name or "SmaCross": spec.params.get("quantity", 100) for spec in config.all_strategies}
    for (strategy, symbol), quantity in quantities.items():
        if strategy in targets and "hold" not in strategy:
            assert quantity in (0.0, pytest.approx(targets[strategy])), (strategy, symbol, quantity)
