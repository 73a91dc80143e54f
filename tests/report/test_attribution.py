"""Per-strategy and per-symbol attribution: round trips matched within a strategy, and the strategies' P&L adding
up to the account's."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker_sim import PaperBroker, Trade
from broker_sim.cli import app
from broker_sim.clock import SimulatedClock
from broker_sim.models import Fill, OrderRequest, Side
from broker_sim.report import EquitySample, closed_trades, compute_metrics
from broker_sim.strategy_broker import OrderOwners, StrategyBroker

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
CENT = 0.005


def _fill(strategy: str, side: str, quantity: float, price: float, n: int, *, symbol: str = "MSFT", fee: float = 0.0):
    return Fill(f"o{n}", symbol, Side(side), quantity, price, fee, T0 + timedelta(minutes=n), price, f"e{n}", strategy)


def test_one_strategys_sell_never_closes_another_strategys_buy() -> None:
    fills = [
        _fill("hold", "buy", 72, 410.0, 1),
        _fill("momentum", "buy", 50, 411.0, 2),
        _fill("momentum", "sell", 50, 409.0, 3),
    ]
    trades = closed_trades(fills)
    assert [(t.strategy, t.quantity, t.entry_price, t.exit_price) for t in trades] == [("momentum", 50, 411.0, 409.0)]
    metrics = compute_metrics([EquitySample(T0, 100_000.0, 0.0)], fills, [], 100_000.0, prices={"MSFT": 405.0})
    hold = metrics.by_strategy["hold"]
    assert hold.round_trips == 0 and hold.open_quantity == {"MSFT": 72}
    assert hold.pnl == pytest.approx(72 * (405.0 - 410.0)) == hold.unrealized_pnl
    momentum = metrics.by_strategy["momentum"]
    assert momentum.realized_pnl == pytest.approx(50 * (409.0 - 411.0)) == momentum.pnl
    assert metrics.by_symbol["MSFT"].pnl == pytest.approx(hold.pnl + momentum.pnl)


def test_a_small_win_eaten_by_fees_is_a_loss() -> None:
    fills = [_fill("s", "buy", 1, 100.0, 1, fee=1.0), _fill("s", "sell", 1, 100.5, 2, fee=1.0)]
    metrics = compute_metrics([EquitySample(T0, 1000.0, 0.0)], fills, [], 1000.0)
    assert metrics.round_trips == 1
    assert metrics.win_rate == 0.0
    assert metrics.expectancy == pytest.approx(0.5 - 2.0)
    assert metrics.by_strategy["s"].pnl == pytest.approx(-1.5)


@pytest.fixture
def day23(tmp_path: Path) -> Path:
    """configs/day23.yaml (three strategies on one account) run through the CLI; its report folder."""
    for folder in ("configs", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(tmp_path / "configs/day23.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_day23_strategies_add_up_to_the_account_cent_for_cent(day23: Path) -> None:
    summary = json.loads((day23 / "summary.json").read_text())
    strategies = summary["by_strategy"]
    assert set(strategies) == {"momentum", "trend", "hold"}
    account_pnl = summary["final_equity"] - summary["initial_balance"]
    assert summary["pnl"] == pytest.approx(account_pnl, abs=1e-9)
    assert sum(s["pnl"] for s in strategies.values()) == pytest.approx(account_pnl, abs=CENT)
    assert sum(s["pnl"] for s in summary["by_symbol"].values()) == pytest.approx(account_pnl, abs=CENT)
    assert sum(s["round_trips"] for s in strategies.values()) == summary["round_trips"]
    assert sum(s["fills"] for s in strategies.values()) == summary["fills"]
    assert sum(s["fees"] for s in strategies.values()) == pytest.approx(summary["fees"], abs=CENT)
    # hold bought once and never sold: no round trip, its P&L all unrealized
    assert strategies["hold"]["round_trips"] == 0 and strategies["hold"]["fills"] == 1
    assert strategies["hold"]["pnl"] == pytest.approx(strategies["hold"]["unrealized_pnl"], abs=1e-9)


def test_day23_trades_and_orders_csv_name_each_rows_strategy(day23: Path) -> None:
    fills = _rows(day23 / "trades.csv")
    orders = _rows(day23 / "orders.csv")
    assert {row["strategy"] for row in fills} == {"momentum", "trend", "hold"}
    assert {row["strategy"] for row in orders} == {"momentum", "trend", "hold"}
    symbols = {"momentum": {"AAPL", "MSFT"}, "trend": {"NVDA"}, "hold": {"MSFT"}}
    for row in fills:
        assert row["symbol"] in symbols[row["strategy"]]
    for row in orders:
        assert row["client_order_id"].startswith(row["strategy"] + "-")
    summary = json.loads((day23 / "summary.json").read_text())
    for name, figures in summary["by_strategy"].items():
        assert figures["fills"] == sum(1 for row in fills if row["strategy"] == name)
    html = (day23 / "report.html").read_text()
    assert "By strategy" in html and "By symbol" in html
    for section in ("summary", "returns", "drawdowns", "attribution", "trades", "orders", "closed-trades"):
        assert f'id="{section}"' in html
    assert "buy and hold equal-weight AAPL, MSFT, NVDA" in html  # the default benchmark: the traded symbols
    assert summary["benchmark"] == "buy and hold equal-weight AAPL, MSFT, NVDA"


async def test_a_brackets_exit_belongs_to_the_strategy_of_its_entry() -> None:
    broker = PaperBroker(clock=SimulatedClock(T0), latency="none", session="always")
    owners = OrderOwners([StrategyBroker(broker, "scalper"), StrategyBroker(broker, "other")])
    seen: list[tuple[str, str]] = []
    broker.add_listener(lambda event: event.fill and seen.append((event.order.id, owners(event.order))))
    await broker.update_market(Trade("AAPL", T0, 100.0, 10))
    view = owners.views[0]
    entry = await view.submit_order(
        OrderRequest("AAPL", "buy", 5, order_class="bracket", take_profit={"limit_price": 101.0},
                     stop_loss={"stop_price": 99.0})
    )  # fmt: skip
    await broker.clock.advance(1)
    await broker.update_market(Trade("AAPL", T0 + timedelta(seconds=5), 101.5, 10))
    await broker.clock.advance(1)
    exit_ids = set(entry.legs)
    assert any(order_id in exit_ids for order_id, _ in seen), seen  # the take-profit filled
    assert {owner for _, owner in seen} == {"scalper"}


def test_what_each_strategy_and_each_symbol_holds_is_its_fills_summed_in_order() -> None:
    """A (strategy, symbol) group keeps what it holds as one running sum of its fills' signed quantities; a
    strategy's open quantities (by symbol) and a symbol's (its strategies' summed) are built from them: the same sums,
    in the same order, as adding each fill to a strategy's and to a symbol's holding; flat ones left out."""
    from broker_sim.report.trades import TradeTally

    fills = [
        _fill("a", "buy", 0.1, 10.0, 1),
        _fill("a", "buy", 0.2, 10.0, 2, symbol="AAPL"),
        _fill("b", "sell", 0.3, 10.0, 3),
        _fill("a", "buy", 0.7, 10.0, 4),
        _fill("b", "buy", 0.3, 10.0, 5),
        _fill("a", "sell", 0.2, 10.0, 6, symbol="AAPL"),
        _fill("b", "buy", 1.5, 10.0, 7, symbol="AAPL"),
    ]
    tally = TradeTally()
    for fill in fills:
        tally.add(fill)
    by_group: dict[tuple[str, str], float] = {}
    for fill in fills:
        key = (fill.strategy, fill.symbol)
        by_group[key] = by_group.get(key, 0.0) + (fill.quantity if fill.side is Side.BUY else -fill.quantity)
    strategies = tally.by_strategy({"MSFT": 10.0, "AAPL": 10.0})
    symbols = tally.by_symbol({"MSFT": 10.0, "AAPL": 10.0})
    assert strategies["a"].open_quantity == {"MSFT": by_group["a", "MSFT"]} == {"MSFT": 0.1 + 0.7}
    assert strategies["b"].open_quantity == {"AAPL": 1.5}  # its MSFT is flat
    assert symbols["MSFT"].open_quantity == {"MSFT": by_group["a", "MSFT"] + by_group["b", "MSFT"]}
    assert symbols["AAPL"].open_quantity == {"AAPL": by_group["a", "AAPL"] + by_group["b", "AAPL"]}
