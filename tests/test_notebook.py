"""Notebook use: run_simulation from a dict or a path with overrides, no report files, DataFrames out, and a
PaperBroker used on its own."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_sim import Bar, ConfigError, PaperBroker, run_simulation
from broker_sim.errors import InvalidMarketData

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.yaml"
DAY23 = ROOT / "configs" / "day23.yaml"


def _small(**changes: object) -> dict:
    """demo.yaml as a dict, with absolute paths, 600 bars and no report folder."""
    data = yaml.safe_load(DEMO.read_text())
    data["strategy"]["class"] = str(ROOT / "examples" / data["strategy"]["class"].split("/")[-1])
    data["prices"]["sources"][0]["count"] = 600
    data["report"].pop("out", None)
    data.update(changes)
    return data


def test_a_parameter_loop_from_a_dict_gives_different_runs_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    returns = {}
    for fast in (3, 8):
        result = run_simulation(_small(), overrides={"strategy.params.fast": fast}, out=False, progress=False)
        assert result.report_dir is None
        assert result.config.strategy is not None and result.config.strategy.params["fast"] == fast
        returns[fast] = result.metrics.total_return
    assert returns[3] != returns[8]
    assert list(tmp_path.iterdir()) == []


def test_out_false_writes_nothing_even_when_the_config_names_a_folder(tmp_path: Path) -> None:
    data = _small(report={"out": str(tmp_path / "reports")})
    assert run_simulation(data, out=False).report_dir is None
    assert not (tmp_path / "reports").exists()
    assert run_simulation(data).report_dir == tmp_path / "reports"
    assert (tmp_path / "reports" / "summary.json").is_file()


def test_overrides_are_checked_like_the_yaml() -> None:
    with pytest.raises(
        ConfigError, match=r"override strategy\.parms\.fast: unknown key 'parms' \(did you mean 'params'"
    ):
        run_simulation(_small(), overrides={"strategy.parms.fast": 5}, out=False)
    with pytest.raises(ConfigError, match=r"SmaCross has no parameter 'fastt'"):
        run_simulation(_small(), overrides={"strategy.params.fastt": 5}, out=False)
    with pytest.raises(ConfigError, match=r"report\.equity_interval"):
        run_simulation(_small(), overrides={"report.equity_interval": "often"}, out=False)
    with pytest.raises(ConfigError, match=r"prices\.sources has no item '3' \(give 0 to 0"):
        run_simulation(_small(), overrides={"prices.sources.3.count": 5}, out=False)


def test_overrides_pick_a_strategy_by_name_and_a_config_path_works(tmp_path: Path) -> None:
    result = run_simulation(
        DAY23,
        overrides={"strategies.trend.params.quantity": 7, "prices.sources.0.count": 300, "broker.seed": 5},
        out=tmp_path / "r",
    )
    trend = next(s for s in result.config.strategies if s.name == "trend")
    assert trend.params["quantity"] == 7 and result.config.broker["seed"] == 5
    frame = result.fills_df()
    assert set(frame.loc[frame.strategy == "trend", "quantity"]) <= {7.0}
    assert "quantity: 7" in (tmp_path / "r" / "report.html").read_text()  # the config as run


def test_result_dataframes_agree_with_the_metrics(tmp_path: Path) -> None:
    result = run_simulation(DAY23, overrides={"prices.sources.0.count": 400}, out=False, progress=True)
    metrics = result.metrics
    fills = result.fills_df()
    assert len(fills) == metrics.fills and set(fills.strategy) <= {"momentum", "trend", "hold"}
    assert str(fills.timestamp.dt.tz) == "UTC"
    trades = result.round_trips_df()
    with pytest.warns(DeprecationWarning, match="round_trips_df"):
        assert len(result.trades_df()) == len(trades)  # the old name, kept for a release
    assert len(trades) == metrics.round_trips
    assert trades.groupby("strategy").size().to_dict() == {
        name: b.round_trips for name, b in metrics.by_strategy.items() if b.round_trips
    }
    assert trades.net_pnl.sum() == pytest.approx(sum(b.realized_pnl - b.fees for b in metrics.by_strategy.values()))
    orders = result.orders_df()
    assert len(orders) == metrics.orders and orders.filled_quantity.dtype.kind == "f"
    assert (orders.strategy != "").all()
    equity = result.equity_df()
    assert equity.equity.iloc[-1] == metrics.final_equity
    assert equity.drawdown.min() == pytest.approx(metrics.max_drawdown)
    assert "benchmark" in equity.columns
    closes = equity.equity.groupby(equity.index.date).last()
    assert (1 + result.returns()).prod() == pytest.approx(closes.iloc[-1] / equity.equity.iloc[0])  # day one counts
    assert len(result.returns(daily=False)) == len(equity) - 1


async def test_a_standalone_paper_broker_starts_its_clock_at_the_first_market_data() -> None:
    broker = PaperBroker()
    first = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    await broker.update_market(Bar("AAPL", first, 190.0, 190.5, 189.5, 190.2, 1000))
    assert broker.clock.now() == first
    order = await broker.buy("AAPL", 10)
    filled = await broker.wait_for(order.id, "filled", timeout=10)
    assert filled.status.value == "filled" and filled.filled_at is not None and filled.filled_at > first
    stale = datetime(2023, 6, 1, tzinfo=UTC)
    account = await broker.get_account()
    with pytest.raises(InvalidMarketData, match=r"2023-06-01T00:00:00\+00:00 is older than the broker's clock \(2024"):
        await broker.update_market(Bar("AAPL", stale, 1.0, 1.0, 1.0, 1.0, 1))
    assert await broker.get_account() == account  # nothing changed
    assert not math.isnan(account.equity)


def test_a_configured_benchmark_symbol_is_bought_and_held(tmp_path: Path) -> None:
    result = run_simulation(
        DAY23, overrides={"prices.sources.0.count": 300, "report.benchmark": "NVDA"}, out=tmp_path / "r"
    )
    assert result.metrics.benchmark == "buy and hold NVDA"
    name, values = result.benchmark
    assert name == result.metrics.benchmark and len(values) == len(result.equity)
    assert values[0] == pytest.approx(result.metrics.initial_balance)
    assert result.metrics.benchmark_return == pytest.approx(values[-1] / values[0] - 1)
    nvda = result.fills_df().query("symbol == 'NVDA'")
    assert not nvda.empty  # the trend strategy trades NVDA, so the benchmark follows a traded symbol
    assert "buy and hold NVDA" in (tmp_path / "r" / "report.html").read_text()


@settings(max_examples=60, deadline=None)
@given(advances=st.lists(st.floats(min_value=0.0, max_value=3600.0, allow_nan=False), min_size=1, max_size=8))
def test_a_bar_stamped_with_the_brokers_own_now_is_never_older_than_its_clock(advances: list[float]) -> None:
    """The clock keeps float seconds and `now()` rounds them to the microsecond: a notebook that stamps its bars
    with `broker.clock.now()` after any advance (0.73... s) is never refused."""

    async def drive() -> None:
        broker = PaperBroker(latency="none", session="always")
        start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
        await broker.update_market(Bar("AAPL", start, 190.0, 190.5, 189.5, 190.2, 1000))
        await broker.buy("AAPL", 1)
        for seconds in advances:
            await broker.clock.advance(seconds)
            await broker.update_market(Bar("AAPL", broker.clock.now(), 190.0, 190.5, 189.5, 190.2, 1000))
        older = broker.clock.now() - timedelta(microseconds=1)
        with pytest.raises(InvalidMarketData, match="is older than the broker's clock"):
            await broker.update_market(Bar("AAPL", older, 190.0, 190.5, 189.5, 190.2, 1000))

    asyncio.run(drive())


def _frame(start: float = 100.0, count: int = 300, **changes: object) -> object:
    """Minute OHLCV bars of a seeded walk, as a notebook would build them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    times = pd.date_range("2024-03-04 14:31", periods=count, freq="1min", tz="UTC")
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.003, count)))
    frame = pd.DataFrame(
        {"Open": close, "High": close * 1.001, "Low": close * 0.999, "Close": close, "Volume": 1_000.0}, index=times
    )
    for column, value in changes.items():
        frame[column] = value
    return frame


def _dataframe_config() -> dict:
    return {
        "broker": {"initial_balance": 100_000, "seed": 1, "session": "always"},
        "strategy": {"class": f"{ROOT / 'examples' / 'sma_cross.py'}:SmaCross", "params": {"quantity": 10}},
    }


def test_a_dataframe_is_a_price_source_with_no_csv() -> None:
    data = {"AAPL": _frame(190.0), "MSFT": _frame(410.0)}
    result = run_simulation(_dataframe_config(), data=data, out=False)
    assert result.events == 600 and result.fills
    assert {fill.symbol for fill in result.fills} == {"AAPL", "MSFT"}
    assert result.equity[0].timestamp >= datetime(2024, 3, 4, 14, 31, tzinfo=UTC)
    listed = {**_dataframe_config(), "prices": {"sources": [{"source": "dataframe", "symbols": ["MSFT"]}]}}
    only = run_simulation(listed, data=data, out=False)
    assert only.events == 300 and {fill.symbol for fill in only.fills} == {"MSFT"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "source 'dataframe' takes its bars from Python: run_simulation(config, data="),
        ({"AAPL": [1, 2]}, "data['AAPL'] must be a pandas DataFrame, got list"),
        ({"AAPL": "frame-without-close"}, "data['AAPL'] has no column 'close'"),
        ({"AAPL": "zero-price"}, "data['AAPL'] row 0 (2024-03-04T14:31:00+00:00): open must be a finite number > 0"),
        ({"MSFT": "ok"}, "symbols: no DataFrame for 'AAPL'; given: MSFT"),
    ],
)
def test_bad_dataframes_are_config_errors_naming_the_symbol(tmp_path: Path, data: object, message: str) -> None:
    frames: dict[str, object] | None = None
    if isinstance(data, dict):
        frames = {}
        for symbol, value in data.items():
            if value == "frame-without-close":
                frames[symbol] = _frame().drop(columns=["Close"])  # type: ignore[attr-defined]
            elif value == "zero-price":
                frames[symbol] = _frame(Open=0.0)
            elif value == "ok":
                frames[symbol] = _frame()
            else:
                frames[symbol] = value
    config = {**_dataframe_config(), "prices": {"sources": [{"source": "dataframe", "symbols": ["AAPL"]}]}}
    config["report"] = {"out": str(tmp_path / "report")}
    with pytest.raises(ConfigError) as refused:
        run_simulation(config, data=frames)
    assert message in str(refused.value)
    assert "prices.sources[0]" in str(refused.value)
    assert not (tmp_path / "report").exists()  # nothing ran, nothing written


async def test_run_simulation_works_inside_a_running_event_loop() -> None:
    """Jupyter runs cells inside an event loop: run_simulation must not need asyncio.run() there."""
    result = run_simulation(_small(), out=False)
    assert result.fills and result.events == 1200


def test_the_example_notebook_runs_top_to_bottom() -> None:
    """examples/notebook.ipynb executed as Jupyter would (a kernel, cells in order), within a bound."""
    import nbclient
    import nbformat

    notebook = nbformat.read(ROOT / "examples" / "notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "examples")}}
    )
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs)  # the plot
    printed = "".join(output.get("text", "") for output in outputs)
    assert "fills" in printed and "orders" in printed
