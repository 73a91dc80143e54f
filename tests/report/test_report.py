"""Report metrics checked by hand, and the report's files as a user opens them."""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_sim.models import Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from broker_sim.report import EquitySample, closed_trades, compute_metrics, write_report
from broker_sim.report.metrics import OrderOutcomes, TradeTally, metrics_from

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
DAY = timedelta(days=1)
EXACT = 1e-9


def _fill(
    side: str,
    quantity: float,
    price: float,
    *,
    n: int = 0,
    fee: float = 0.0,
    reference_price: float | None = None,
    symbol: str = "AAPL",
) -> Fill:
    return Fill(
        order_id=f"o{n}",
        symbol=symbol,
        side=Side(side),
        quantity=quantity,
        price=price,
        fee=fee,
        timestamp=T0 + timedelta(minutes=n),
        reference_price=price if reference_price is None else reference_price,
    )


def _order(fill: Fill) -> Order:
    return Order(
        id=fill.order_id,
        client_order_id=f"c-{fill.order_id}",
        symbol=fill.symbol,
        side=fill.side,
        quantity=fill.quantity,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        limit_price=None,
        stop_price=None,
        status=OrderStatus.FILLED,
        filled_quantity=fill.quantity,
        filled_avg_price=fill.price,
        reject_reason=None,
        created_at=fill.timestamp,
        updated_at=fill.timestamp,
        reference_price=fill.reference_price,
    )


def _daily(*equities: float, exposure: float = 0.0) -> list[EquitySample]:
    return [EquitySample(T0 + i * DAY, equity, exposure) for i, equity in enumerate(equities)]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _stdev(values: list[float]) -> float:
    mean = _mean(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


# -- returns and drawdowns -------------------------------------------------------------------------------------


def test_total_return_is_final_over_initial_equity() -> None:
    metrics = compute_metrics(_daily(1000.0, 1100.0, 1150.0), [], [], 1000.0)
    assert metrics.final_equity == 1150.0
    assert metrics.total_return == pytest.approx(1150.0 / 1000.0 - 1.0, abs=EXACT)


def test_max_drawdown_and_its_duration_run_from_peak_to_recovery_or_to_the_end() -> None:
    # day 1 peak 110, trough 99 on day 2, regained on day 4: 3 days.
    # day 5 peak 120, trough 100 on day 6, still below on day 7 (the end): 2 days.
    equity = _daily(100.0, 110.0, 99.0, 105.0, 110.0, 120.0, 100.0, 115.0)
    metrics = compute_metrics(equity, [], [], 100.0)
    assert metrics.max_drawdown == pytest.approx(min(99 / 110 - 1, 100 / 120 - 1, 115 / 120 - 1), abs=EXACT)
    assert metrics.max_drawdown == pytest.approx(-1 / 6, abs=EXACT)
    assert metrics.max_drawdown_duration_days == pytest.approx(3.0, abs=EXACT)


def test_drawdown_never_regained_lasts_to_the_end() -> None:
    # peak on day 1, below it for the 4.5 days that follow until the last sample.
    equity = [*_daily(100.0, 120.0, 90.0, 95.0), EquitySample(T0 + 5.5 * DAY, 110.0, 0.0)]
    metrics = compute_metrics(equity, [], [], 100.0)
    assert metrics.max_drawdown == pytest.approx(90 / 120 - 1, abs=EXACT)
    assert metrics.max_drawdown_duration_days == pytest.approx(4.5, abs=EXACT)


def test_a_curve_that_never_falls_has_no_drawdown_and_no_drawdown_duration() -> None:
    metrics = compute_metrics(_daily(100.0, 101.0, 102.0, 103.0), [], [], 100.0)
    assert metrics.max_drawdown == 0.0
    assert metrics.max_drawdown_duration_days == pytest.approx(0.0, abs=EXACT)


def test_cagr_over_exactly_one_year_is_the_total_return() -> None:
    year = timedelta(days=365.25)
    equity = [EquitySample(T0, 1000.0, 0.0), EquitySample(T0 + year, 1100.0, 0.0)]
    assert compute_metrics(equity, [], [], 1000.0).cagr == pytest.approx(0.1, abs=EXACT)


def test_cagr_over_two_years_is_the_geometric_annual_rate() -> None:
    equity = [EquitySample(T0, 1000.0, 0.0), EquitySample(T0 + timedelta(days=2 * 365.25), 1210.0, 0.0)]
    assert compute_metrics(equity, [], [], 1000.0).cagr == pytest.approx(0.1, abs=EXACT)


def test_cagr_is_nan_for_a_zero_span() -> None:
    assert math.isnan(compute_metrics([EquitySample(T0, 1000.0, 0.0)], [], [], 1000.0).cagr)


def test_a_run_shorter_than_a_year_has_no_cagr_and_a_note_saying_why() -> None:
    equity = [EquitySample(T0, 100_000.0, 0.0), EquitySample(T0 + timedelta(days=17), 92_680.0, 0.0)]
    metrics = compute_metrics(equity, [], [], 100_000.0)
    assert math.isnan(metrics.cagr)
    assert "365 days" in metrics.notes["cagr"] and "17.0 days" in metrics.notes["cagr"]
    assert metrics.total_return == pytest.approx(-0.0732, abs=EXACT)


def test_sharpe_and_sortino_say_why_they_are_missing() -> None:
    flat = compute_metrics(_daily(*[100.0] * 40), [], [], 100.0)
    assert math.isnan(flat.sharpe) and "zero standard deviation" in flat.notes["sharpe"]
    rising = compute_metrics(_daily(*[100.0 + day for day in range(40)]), [], [], 100.0)
    assert rising.sharpe > 0 and math.isnan(rising.sortino) and "downside" in rising.notes["sortino"]


def test_figures_from_the_spread_of_returns_are_suppressed_below_thirty_returns() -> None:
    """The issue's run: 17 daily returns gave a Sharpe of -10.46 and an alpha of -111 % with no caveat."""
    closes = [100.0 * (1 + 0.01 * ((-1) ** day) - 0.004 * day) for day in range(18)]
    short = compute_metrics(_daily(*closes), [], [], 100.0, benchmark=("SPY", [100.0 + day for day in range(18)]))
    for name in ("annual_volatility", "sharpe", "sortino", "alpha", "skew", "tail_ratio", "value_at_risk"):
        assert math.isnan(getattr(short, name)), name
        assert "needs at least 30 returns, the run has 17" in short.notes[name]
    assert math.isfinite(short.beta) and short.returns_count == 17
    assert math.isnan(short.calmar) and "365 days" in short.notes["calmar"]
    longer = compute_metrics(_daily(*(closes * 2)), [], [], 100.0)
    assert all(math.isfinite(getattr(longer, n)) for n in ("sharpe", "skew", "tail_ratio", "value_at_risk"))


def test_the_first_day_counts_from_the_runs_start() -> None:
    """A run that starts mid-day: the first day's return is from the first sample to that day's close."""
    equity = [EquitySample(T0 + hour * timedelta(hours=1), 100.0 - hour, 0.0) for hour in range(3)]
    equity += [EquitySample(T0 + DAY * day, 98.0 + day, 0.0) for day in range(1, 40)]
    metrics = compute_metrics(equity, [], [], 100.0)
    assert metrics.returns_count == 40  # 39 closes after the first day's, and the first day's own
    closes = [98.0 + day for day in range(40)]
    returns = [0.98 - 1] + [closes[i] / closes[i - 1] - 1 for i in range(1, 40)]
    assert metrics.annual_volatility == pytest.approx(_stdev(returns) * math.sqrt(252), abs=EXACT)


def test_report_timestamps_have_no_microseconds() -> None:
    moment = T0 + timedelta(microseconds=123_456)
    metrics = compute_metrics([EquitySample(moment, 1.0, 0.0), EquitySample(moment + DAY, 1.0, 0.0)], [], [], 1.0)
    assert metrics.start == "2026-03-02T14:30:00+00:00"


CLOSES = [100.0 * (1 + 0.02 * math.sin(day)) + day / 4 for day in range(35)]


def test_volatility_and_sharpe_use_daily_closes_sample_stdev_and_sqrt_252() -> None:
    # Several samples a day: only the last of each UTC date counts (the first day's from the first sample).
    equity = []
    for day, close in enumerate(CLOSES):
        equity.append(EquitySample(T0 + day * DAY - timedelta(hours=4), close * 0.9, 0.0))
        equity.append(EquitySample(T0 + day * DAY, close, 0.0))
    returns = [CLOSES[0] / (CLOSES[0] * 0.9) - 1] + [CLOSES[i] / CLOSES[i - 1] - 1 for i in range(1, len(CLOSES))]
    metrics = compute_metrics(equity, [], [], 100.0)
    assert metrics.annual_volatility == pytest.approx(_stdev(returns) * math.sqrt(252), abs=EXACT)
    assert metrics.sharpe == pytest.approx(_mean(returns) / _stdev(returns) * math.sqrt(252), abs=EXACT)


def test_sharpe_subtracts_the_risk_free_rate_per_period() -> None:
    returns = [CLOSES[i] / CLOSES[i - 1] - 1 for i in range(1, len(CLOSES))]
    excess = [r - 0.05 / 252 for r in returns]
    metrics = compute_metrics(_daily(*CLOSES), [], [], 100.0, risk_free_rate=0.05)
    assert metrics.sharpe == pytest.approx(_mean(excess) / _stdev(returns) * math.sqrt(252), abs=EXACT)


def test_sortino_divides_by_the_root_mean_square_of_negative_returns_over_all_returns() -> None:
    returns = [CLOSES[i] / CLOSES[i - 1] - 1 for i in range(1, len(CLOSES))]
    downside = math.sqrt(sum(min(0.0, r) ** 2 for r in returns) / len(returns))
    metrics = compute_metrics(_daily(*CLOSES), [], [], 100.0)
    assert metrics.sortino == pytest.approx(_mean(returns) / downside * math.sqrt(252), abs=EXACT)


def test_ratios_are_nan_with_fewer_than_two_returns() -> None:
    metrics = compute_metrics(_daily(100.0, 101.0), [], [], 100.0)
    assert math.isnan(metrics.annual_volatility)
    assert math.isnan(metrics.sharpe)
    assert math.isnan(metrics.sortino)


# -- trades ----------------------------------------------------------------------------------------------------

#: Buy 10 and 5, sell 4 (partial close), sell 16 (closes 11 long, opens 5 short), buy 5 (closes the short).
ROUND_TRIPS = [
    _fill("buy", 10, 100.0, n=1, fee=1.0, reference_price=99.5),
    _fill("buy", 5, 110.0, n=2, fee=0.5, reference_price=110.0),
    _fill("sell", 4, 120.0, n=3, fee=0.4, reference_price=120.25),
    _fill("sell", 16, 90.0, n=4, fee=3.2, reference_price=90.5),
    _fill("buy", 5, 80.0, n=5, fee=0.5, reference_price=79.0),
]


def test_closed_trades_match_fifo_with_a_partial_close_and_a_flip_through_zero() -> None:
    trades = closed_trades(ROUND_TRIPS)
    entry_fee = {1: 1.0 / 10, 2: 0.5 / 5, 4: 3.2 / 16}  # per unit
    exit_fee = {3: 0.4 / 4, 4: 3.2 / 16, 5: 0.5 / 5}
    expected = [
        # (side, quantity, entry n, exit n, entry price, exit price, pnl, fees)
        ("long", 4, 1, 3, 100.0, 120.0, 4 * (120 - 100), 4 * (entry_fee[1] + exit_fee[3])),
        ("long", 6, 1, 4, 100.0, 90.0, 6 * (90 - 100), 6 * (entry_fee[1] + exit_fee[4])),
        ("long", 5, 2, 4, 110.0, 90.0, 5 * (90 - 110), 5 * (entry_fee[2] + exit_fee[4])),
        ("short", 5, 4, 5, 90.0, 80.0, 5 * (90 - 80), 5 * (entry_fee[4] + exit_fee[5])),
    ]
    assert len(trades) == len(expected)
    for trade, (side, quantity, entry, exit_, entry_price, exit_price, pnl, fees) in zip(trades, expected, strict=True):
        assert trade.symbol == "AAPL"
        assert trade.side == side
        assert trade.quantity == pytest.approx(quantity, abs=EXACT)
        assert trade.entry_time == T0 + timedelta(minutes=entry)
        assert trade.exit_time == T0 + timedelta(minutes=exit_)
        assert trade.entry_price == entry_price
        assert trade.exit_price == exit_price
        assert trade.pnl == pytest.approx(pnl, abs=EXACT)
        assert trade.fees == pytest.approx(fees, abs=EXACT)
    assert sum(t.fees for t in trades) == pytest.approx(sum(f.fee for f in ROUND_TRIPS), abs=EXACT)


def test_a_tally_keeps_the_first_round_trips_and_counts_them_all() -> None:
    full = closed_trades(ROUND_TRIPS)
    tally = TradeTally(keep=2)
    for fill in ROUND_TRIPS[:3]:
        tally.add(fill)
    assert tally.trades == full[:1]  # read between fills: the trades so far
    for fill in ROUND_TRIPS[3:]:
        tally.add(fill)
    assert tally.trades == full[:2] and tally.count == len(full) == 4
    assert tally.holding == pytest.approx(sum(t.holding_seconds for t in full), abs=EXACT)
    assert tally.wins + tally.losing == 4 and tally.gains - tally.losses == pytest.approx(
        sum(t.net_pnl for t in full), abs=EXACT
    )


_TALLIED_FILLS = st.lists(
    st.builds(
        lambda strategy, symbol, buying, quantity, price, fee, minutes: Fill(
            "o",
            symbol,
            Side.BUY if buying else Side.SELL,
            quantity,
            price,
            fee,
            datetime(2024, 3, 1, 14, 30, tzinfo=UTC) + timedelta(minutes=minutes),
            price,
            "e",
            strategy,
        ),
        st.sampled_from(["sma", "sma", "sma", "momentum"]),
        st.sampled_from(["AAPL", "AAPL", "MSFT"]),
        st.booleans(),
        st.sampled_from([1.0, 2.5, 100.0]),
        st.floats(90.0, 110.0),
        st.sampled_from([0.0, 0.013, 1.0]),
        st.integers(0, 10_000),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(_TALLIED_FILLS)
def test_a_tallys_totals_are_its_fills_and_round_trips_summed_in_order(fills: list[Fill]) -> None:
    """The account's totals (fills, fees, round trips, wins, losses, holding time) are exactly the sums over the
    fills and the round trips in the order they came, whether one strategy in one symbol made them all (the tally
    then keeps one set of totals) or several did."""
    tally = TradeTally()
    for fill in sorted(fills, key=lambda fill: fill.timestamp):
        tally.add(fill)
    fees = gains = losses = holding = 0.0
    for fill in sorted(fills, key=lambda fill: fill.timestamp):
        fees += fill.fee
    for trade in tally.trades:
        holding += trade.holding_seconds
        if trade.net_pnl > 0:
            gains += trade.net_pnl
        elif trade.net_pnl < 0:
            losses -= trade.net_pnl
    assert (tally.fills, tally.count) == (len(fills), len(tally.trades))
    assert (tally.wins, tally.losing) == (
        sum(trade.net_pnl > 0 for trade in tally.trades),
        sum(trade.net_pnl < 0 for trade in tally.trades),
    )
    assert (tally.fees, tally.gains, tally.losses, tally.holding) == (fees, gains, losses, holding)


def test_trades_are_matched_per_symbol() -> None:
    fills = [
        _fill("buy", 2, 10.0, n=1, symbol="AAPL"),
        _fill("sell", 3, 50.0, n=2, symbol="MSFT"),
        _fill("sell", 2, 12.0, n=3, symbol="AAPL"),
        _fill("buy", 3, 45.0, n=4, symbol="MSFT"),
    ]
    trades = closed_trades(fills)
    assert [(t.symbol, t.side, t.pnl) for t in trades] == [("AAPL", "long", 4.0), ("MSFT", "short", 15.0)]


def test_win_rate_profit_factor_fees_slippage_and_counts() -> None:
    equity = _daily(10_000.0, 10_050.0, 10_020.0)
    orders = [_order(f) for f in ROUND_TRIPS]
    metrics = compute_metrics(equity, ROUND_TRIPS, orders, 10_000.0)
    assert metrics.round_trips == 4
    # net of each round trip's share of fees (see test_closed_trades_match_fifo...)
    wins = [80 - 4 * (0.1 + 0.1), 50 - 5 * (0.2 + 0.1)]
    losses = [60 + 6 * (0.1 + 0.2), 100 + 5 * (0.1 + 0.2)]
    assert metrics.win_rate == pytest.approx(2 / 4, abs=EXACT)
    assert metrics.profit_factor == pytest.approx(sum(wins) / sum(losses), abs=EXACT)
    assert metrics.average_win == pytest.approx(sum(wins) / 2, abs=EXACT)
    assert metrics.average_loss == pytest.approx(-sum(losses) / 2, abs=EXACT)
    assert metrics.expectancy == pytest.approx((sum(wins) - sum(losses)) / 4, abs=EXACT)
    assert metrics.average_holding_hours == pytest.approx((2 + 3 + 2 + 1) / 60 / 4, abs=EXACT)
    assert metrics.fees == pytest.approx(1.0 + 0.5 + 0.4 + 3.2 + 0.5, abs=EXACT)
    slippage = 0.5 * 10 + 0.0 * 5 + 0.25 * 4 + 0.5 * 16 + 1.0 * 5
    assert metrics.slippage_cost == pytest.approx(slippage, abs=EXACT)
    assert metrics.orders == 5
    assert metrics.fills == 5


def test_profit_factor_is_inf_without_a_loss_and_nan_without_trades() -> None:
    equity = _daily(1000.0, 1010.0)
    winners = [_fill("buy", 1, 10.0, n=1), _fill("sell", 1, 20.0, n=2)]
    assert compute_metrics(equity, winners, [], 1000.0).profit_factor == math.inf
    assert compute_metrics(equity, winners, [], 1000.0).win_rate == 1.0
    no_trades = compute_metrics(equity, [_fill("buy", 1, 10.0)], [], 1000.0)
    assert no_trades.round_trips == 0
    assert math.isnan(no_trades.profit_factor)
    assert math.isnan(no_trades.win_rate)


def test_time_in_market_is_the_share_of_samples_with_an_open_position() -> None:
    equity = [
        EquitySample(T0, 1000.0, 0.0),
        EquitySample(T0 + DAY, 1000.0, 500.0),
        EquitySample(T0 + 2 * DAY, 1000.0, 250.0),
        EquitySample(T0 + 3 * DAY, 1000.0, 0.0),
        EquitySample(T0 + 4 * DAY, 1000.0, 10.0),
    ]
    assert compute_metrics(equity, [], [], 1000.0).time_in_market == pytest.approx(3 / 5, abs=EXACT)


_signed_quantities = st.lists(st.integers(-50, 50).filter(bool), min_size=1, max_size=25)
_prices = st.integers(100, 100_000).map(lambda cents: cents / 100)


@settings(max_examples=200, deadline=None)
@given(quantities=_signed_quantities, data=st.data())
def test_closed_trade_pnl_of_a_flat_sequence_equals_its_cash_pnl(quantities: list[int], data: st.DataObject) -> None:
    position = sum(quantities)
    if position:
        quantities = [*quantities, -position]
    fills = [
        _fill("buy" if q > 0 else "sell", abs(q), data.draw(_prices), n=n, fee=data.draw(st.floats(0, 5)))
        for n, q in enumerate(quantities)
    ]
    cash_pnl = sum(-f.signed_quantity * f.price for f in fills)
    trades = closed_trades(fills)
    assert sum(t.pnl for t in trades) == pytest.approx(cash_pnl, abs=1e-6)
    assert sum(t.fees for t in trades) == pytest.approx(sum(f.fee for f in fills), abs=1e-6)


# -- report files ----------------------------------------------------------------------------------------------

REPORT_FILES = (
    "summary.json",
    "trades.csv",
    "orders.csv",
    "equity.csv",
    "account_events.csv",
    "equity.png",
    "report.html",
)


def _write(out_dir: Path, equity: list[EquitySample], fills: list[Fill]) -> dict[str, Path]:
    orders = [_order(f) for f in fills]
    metrics = compute_metrics(equity, fills, orders, equity[0].equity)
    return write_report(out_dir, metrics=metrics, equity=equity, fills=fills, orders=orders, config_text="seed: 1")


def test_write_report_writes_every_file(tmp_path: Path) -> None:
    paths = _write(tmp_path / "out", _daily(10_000.0, 10_050.0, 10_020.0, exposure=100.0), ROUND_TRIPS)
    for name in REPORT_FILES:
        assert (tmp_path / "out" / name).is_file()
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert {p.name for p in paths.values()} == set(REPORT_FILES)


def test_summary_json_has_null_for_nan(tmp_path: Path) -> None:
    _write(tmp_path, _daily(10_000.0, 10_050.0), [])
    text = (tmp_path / "summary.json").read_text(encoding="utf-8")
    assert "NaN" not in text
    summary = json.loads(text)
    assert summary["win_rate"] is None
    assert summary["profit_factor"] is None
    assert summary["sharpe"] is None
    assert summary["round_trips"] == 0
    assert "needs at least 30 returns, the run has 1" in summary["notes"]["sharpe"]


def test_equity_csv_ends_at_the_summarys_final_equity(tmp_path: Path) -> None:
    _write(tmp_path, _daily(10_000.0, 10_050.0, 10_020.125, exposure=1.0), ROUND_TRIPS)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    with (tmp_path / "equity.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    assert float(rows[-1]["equity"]) == summary["final_equity"] == 10_020.125


def test_trades_csv_reads_back_to_the_very_same_fills(tmp_path: Path) -> None:
    awkward = [attrs.evolve(fill, price=fill.price + 0.1 + 1e-12, fee=1 / 3) for fill in ROUND_TRIPS]
    _write(tmp_path, _daily(10_000.0, 10_050.0, 10_020.0), awkward)
    with (tmp_path / "trades.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(awkward)
    for row, fill in zip(rows, awkward, strict=True):
        assert float(row["price"]) == fill.price and float(row["fee"]) == fill.fee  # shortest round-trip repr
        assert datetime.fromisoformat(row["timestamp"]) == fill.timestamp and row["order_id"] == fill.order_id


def test_equity_csv_drawdowns_bottom_out_at_the_summarys_max_drawdown(tmp_path: Path) -> None:
    _write(tmp_path, _daily(100.0, 110.0, 99.0, 105.0, 120.0, 100.0), [])
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    with (tmp_path / "equity.csv").open(newline="", encoding="utf-8") as handle:
        drawdowns = [float(row["drawdown"]) for row in csv.DictReader(handle)]
    assert drawdowns == pytest.approx([0.0, 0.0, 99 / 110 - 1, 105 / 110 - 1, 0.0, 100 / 120 - 1], abs=EXACT)
    assert min(drawdowns) == summary["max_drawdown"]


def test_report_html_is_self_contained(tmp_path: Path) -> None:
    _write(tmp_path, _daily(10_000.0, 10_050.0, 10_020.0), ROUND_TRIPS)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html
    assert "http://" not in html
    assert "https://" not in html
    assert "<script" not in html.lower()


def test_an_empty_run_writes_every_file(tmp_path: Path) -> None:
    equity = [EquitySample(T0, 10_000.0, 0.0)]
    metrics = compute_metrics(equity, [], [], 10_000.0)
    write_report(tmp_path, metrics=metrics, equity=equity, fills=[], orders=[])
    for name in REPORT_FILES:
        assert (tmp_path / name).is_file()
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["final_equity"] == 10_000.0
    assert summary["total_return"] == 0.0
    assert summary["cagr"] is None
    assert (tmp_path / "trades.csv").read_text(encoding="utf-8").count("\n") == 1


def test_orders_by_final_status_come_with_their_reasons(tmp_path: Path) -> None:
    filled = _order(ROUND_TRIPS[0])
    poor = attrs.evolve(filled, id="r1", status=OrderStatus.REJECTED, reject_reason="insufficient buying power: 12.5")
    poorer = attrs.evolve(poor, id="r2", reject_reason="insufficient buying power: 99")
    short = attrs.evolve(filled, id="r3", status=OrderStatus.REJECTED, reject_reason="shorting is disabled")
    outcomes = OrderOutcomes()
    for order in (filled, poor, poorer, short):
        outcomes.add(order)
    equity = _daily(10_000.0, 10_050.0)
    metrics = metrics_from(equity, TradeTally(), 4, 10_000.0, outcomes=outcomes)
    assert metrics.orders_by_status == {"filled": 1, "rejected": 3}
    assert metrics.reasons_by_status == {"rejected": (("insufficient buying power", 2), ("shorting is disabled", 1))}
    write_report(tmp_path, metrics=metrics, equity=equity, fills=[], orders=[filled, poor, poorer, short])
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["reasons_by_status"]["rejected"][0] == ["insufficient buying power", 2]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "insufficient buying power (2); shorting is disabled (1)" in html
