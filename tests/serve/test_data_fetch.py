"""`broker-sim data fetch` against `broker-sim serve`'s market-data routes: the files hold the served bars, stamped
at their end as the csv source reads them, across pages; bad arguments and refused keys leave no file behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker_sim.adapters.alpaca.history import Timeframe, data_url, fetch_to_csv
from broker_sim.cli import app
from broker_sim.errors import ConfigError
from broker_sim.models import Bar
from broker_sim.streams.csv_source import CsvSource

from .conftest import KEY, SECRET, Server, serving

START = datetime(2024, 1, 2, 14, 0, tzinfo=UTC)
END = datetime(2024, 1, 3, tzinfo=UTC)


async def _replayed(server: Server, symbol: str, count: int) -> list[Bar]:
    """The served replay's first `count` one-minute bars of `symbol`, once the simulated clock has passed them."""
    while len(bars := server.served.market.series(Bar, symbol, None, None)) < count:
        await server.broker.clock.sleep(60)
    return bars[:count]  # type: ignore[return-value]


async def test_fetched_files_replay_as_the_served_bars(tmp_path: Path) -> None:
    async with serving(tmp_path, speed=3600) as server:
        served = {symbol: await _replayed(server, symbol, 30) for symbol in ("AAPL", "MSFT")}
        end = served["AAPL"][-1].start  # the window ends at the 30th bar's start: 30 bars, whatever came since
        written = await fetch_to_csv(
            ["AAPL", "MSFT"], START, end, Timeframe.parse("1Min"), tmp_path / "data",
            key_id=KEY, secret_key=SECRET, url=server.url, page_limit=7,
        )  # fmt: skip
    for symbol, bars in served.items():
        path, count = written[symbol]
        assert path == tmp_path / "data" / f"{symbol}_1Min.csv" and count == 30
        replayed = [event for _, event in CsvSource(str(path), symbol=symbol).timed_events()]
        assert [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in replayed] == [  # type: ignore[attr-defined]
            (b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in bars
        ]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["AAPL_1Min.csv", "MSFT_1Min.csv"]


async def test_the_command_fetches_with_keys_from_the_environment_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "data"
    args = ["data", "fetch", "--symbols", "AAPL", "--start", "2024-01-02", "--end", "2024-01-03", "--out", str(out)]
    async with serving(tmp_path, speed=3600) as server:
        await _replayed(server, "AAPL", 5)
        env = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET, "APCA_API_DATA_URL": server.ws_url}
        first = await asyncio.to_thread(runner.invoke, app, args, env=env)
        assert first.exit_code == 0, first.output
        assert "AAPL:" in first.stdout and "{source: csv, path:" in first.stdout
        kept = (out / "AAPL_1Min.csv").read_bytes()
        again = await asyncio.to_thread(runner.invoke, app, args, env=env)
        assert again.exit_code == 2 and "exists: pass --force to overwrite" in again.stderr
        assert (out / "AAPL_1Min.csv").read_bytes() == kept
        wrong = await asyncio.to_thread(
            runner.invoke, app, [*args[:-1], str(tmp_path / "other")], env={**env, "APCA_API_SECRET_KEY": "wrong"}
        )
        assert wrong.exit_code == 2 and "Alpaca refused the keys" in wrong.stderr
        assert SECRET not in wrong.stderr and "wrong" not in wrong.stderr
        assert not (tmp_path / "other").exists() or list((tmp_path / "other").iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--timeframe", "1Week"], "--timeframe must be 1-59Min, 1-23Hour or 1Day"),
        (["--timeframe", "60Min"], "got '60Min'"),
        (["--start", "yesterday"], "--start must be an ISO 8601 date or time"),
        (["--end", "2024-01-01"], "--end (2024-01-01T00:00:00+00:00) must be after --start"),
        (["--symbols", "AA PL"], "--symbols must be ticker symbols"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option_and_write_nothing(
    tmp_path: Path, change: list[str], message: str
) -> None:
    args = {"--symbols": "AAPL", "--start": "2024-01-02", "--end": "2024-01-03", "--out": str(tmp_path / "data")}
    args.update(dict(zip(change[::2], change[1::2], strict=True)))
    env = {"APCA_API_KEY_ID": "k", "APCA_API_SECRET_KEY": "s", "APCA_API_DATA_URL": "http://127.0.0.1:9"}
    result = CliRunner().invoke(app, ["data", "fetch", *[part for item in args.items() for part in item]], env=env)
    assert result.exit_code == 2 and message in " ".join(result.stderr.split())
    assert not (tmp_path / "data").exists()


def test_missing_keys_and_the_data_url() -> None:
    with pytest.raises(ConfigError, match="set APCA_API_KEY_ID and APCA_API_SECRET_KEY"):
        asyncio.run(fetch_to_csv(["AAPL"], START, END, Timeframe.parse("1Min"), Path("unused"), key_id=None,
                                 secret_key=None))  # fmt: skip
    assert data_url({}) == "https://data.alpaca.markets"
    assert data_url({"APCA_API_DATA_URL": "wss://stream.data.alpaca.markets"}) == "https://data.alpaca.markets"
    assert data_url({"APCA_API_DATA_URL": "ws://127.0.0.1:8000/"}) == "http://127.0.0.1:8000"
    assert Timeframe.parse("1Day").daily and Timeframe.parse("15Min").seconds == 900
