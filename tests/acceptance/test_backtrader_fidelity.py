"""Fidelity against backtrader: the shipped SMA crossover on the sample data with broker-sim's defaults (0.5-2 s
uniform latency, the `bar` model with next-bar timing, 5 bps slippage) makes the same trades, to the cent, as
backtrader's next-open run of the same strategy (market orders at the next bar's open, 5 bps slippage on it).

backtrader is in the ``[bench]`` extra (``pip install -e '.[bench]'``); without it these tests are skipped.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from broker_sim import run_simulation
from broker_sim.indicators import SMA
from broker_sim.nyse_calendar import is_holiday

bt = pytest.importorskip("backtrader", reason="backtrader (the [bench] extra) is not installed")

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
FAST, SLOW, QUANTITY = 10, 30, 50
SLIPPAGE = 0.0005  # 5 bps, broker-sim's default
NEW_YORK = ZoneInfo("America/New_York")


class _Feed(bt.feeds.DataBase):  # type: ignore[misc]
    """`symbol`'s bars from a list of (naive UTC datetime, open, high, low, close, volume)."""

    def __init__(self, symbol: str, rows: list[tuple[datetime, float, float, float, float, float]]) -> None:
        super().__init__()
        self.symbol = symbol
        self._rows = iter(rows)

    def _load(self) -> bool:
        row = next(self._rows, None)
        if row is None:
            return False
        self.lines.datetime[0] = bt.date2num(row[0])
        for line, value in zip(("open", "high", "low", "close", "volume"), row[1:], strict=True):
            getattr(self.lines, line)[0] = value
        self.lines.openinterest[0] = 0.0
        return True


class _SmaCross(bt.Strategy):  # type: ignore[misc]
    """examples/sma_cross.py in backtrader's words: hold QUANTITY while SMA(FAST) > SMA(SLOW), nothing otherwise,
    deciding from the first full window on. The averages are broker_sim's `SMA` (the same float arithmetic), so
    both engines see the same crossings and the test compares what they do with them: fills, times, prices."""

    def __init__(self) -> None:
        self.averages = {data: (SMA(FAST), SMA(SLOW)) for data in self.datas}
        self.long: dict[Any, bool | None] = {data: None for data in self.datas}
        self.trades: list[tuple[datetime, str, str, float, float]] = []

    def next(self) -> None:
        for data in self.datas:
            fast_average, slow_average = self.averages[data]
            close = data.close[0]
            fast, slow = fast_average.update(close), slow_average.update(close)
            if fast is None or slow is None:
                continue
            above = fast > slow
            if above is self.long[data]:
                continue
            self.long[data] = above
            self.order_target_size(data=data, target=QUANTITY if above else 0)

    def notify_order(self, order: Any) -> None:
        if order.status == order.Completed:
            when = bt.num2date(order.executed.dt).replace(tzinfo=UTC)
            side = "buy" if order.isbuy() else "sell"
            self.trades.append((when, order.data.symbol, side, abs(order.executed.size), order.executed.price))


def _rows(path: Path) -> list[tuple[datetime, float, float, float, float, float]]:
    rows = []
    with path.open() as handle:
        for row in csv.DictReader(handle):
            stamp = datetime.fromisoformat(row["timestamp"]).replace(tzinfo=None)  # UTC, or a date
            rows.append((stamp, *(float(row[k]) for k in ("open", "high", "low", "close", "volume"))))
    return rows


def _backtrader(files: dict[str, Path]) -> list[tuple[datetime, str, str, float, float]]:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(100_000)
    cerebro.broker.set_slippage_perc(SLIPPAGE, slip_open=True, slip_match=True, slip_out=True)
    for symbol, path in files.items():
        cerebro.adddata(_Feed(symbol, _rows(path)), name=symbol)
    cerebro.addstrategy(_SmaCross)
    strategy = cerebro.run()[0]
    return sorted(strategy.trades)


def _broker_sim(files: dict[str, Path], *, session: str) -> list[tuple[datetime, str, str, float, float]]:
    config = {
        "broker": {"adapter": "paper", "initial_balance": 100_000, "seed": 42, "session": session},
        "models": {"fill": {"model": "bar"}},  # every other model: the defaults (5 bps, 0.5-2 s latency)
        "prices": {"sources": [{"source": "csv", "path": str(p), "symbol": s} for s, p in files.items()]},
        "strategy": {
            "class": str(ROOT / "examples" / "sma_cross.py") + ":SmaCross",
            "params": {"fast": FAST, "slow": SLOW, "quantity": QUANTITY},
        },
    }
    result = run_simulation(config, out=False, progress=False)
    return sorted((f.timestamp, f.symbol, f.side.value, f.quantity, f.price) for f in result.fills)


def _same_to_the_cent(ours: list[Any], theirs: list[Any]) -> None:
    assert len(ours) == len(theirs) > 10
    for mine, other in zip(ours, theirs, strict=True):
        assert mine[1:4] == other[1:4], (mine, other)
        assert round(mine[4], 2) == round(other[4], 2), (mine, other)


def test_minute_bars_with_default_latency_trade_as_backtraders_next_open_run() -> None:
    files = {"AAPL": SAMPLE / "AAPL_1m.csv", "MSFT": SAMPLE / "MSFT_1m.csv"}
    ours, theirs = _broker_sim(files, session="always"), _backtrader(files)
    _same_to_the_cent(ours, theirs)
    assert [t[0] for t in ours] == [t[0] for t in theirs]  # each fill on the same bar


def test_daily_bars_with_default_latency_trade_as_backtraders_next_open_run() -> None:
    files = {"AAPL": SAMPLE / "AAPL_1d.csv"}
    ours, theirs = _broker_sim(files, session="us_equity"), _backtrader(files)
    _same_to_the_cent(ours, theirs)
    # broker-sim stamps a fill when the bar that made it is complete (its session's close), backtrader with the
    # bar's date: the same day, except that the sample (a synthetic walk) has bars on NYSE holidays, which
    # broker-sim's calendar delivers at the next session's close.
    for mine, other in zip(ours, theirs, strict=True):
        day = other[0].date()
        expected = day if not is_holiday(day) else min(d for d in _next_days(day) if not is_holiday(d))
        assert mine[0].astimezone(NEW_YORK).date() == expected


def _next_days(day: date) -> list[date]:
    return [day + timedelta(days=n) for n in range(1, 5) if (day + timedelta(days=n)).weekday() < 5]
