"""``broker-sim data``: market data for replays. ``data fetch`` downloads Alpaca's historical bars as csv files.

A thin shell, as the rest of the CLI: `broker_sim.adapters.alpaca.history` does the work (it needs the
``[alpaca]`` extra, imported when the command runs).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from broker_sim.errors import BrokerError, ConfigError, describe_error

__all__ = ["data_app"]

data_app = typer.Typer(
    help="Market data for replays: fetch Alpaca's historical bars as csv files.", no_args_is_help=True
)
_out = Console()
_err = Console(stderr=True)


def _history() -> Any:
    """`broker_sim.adapters.alpaca.history`: it needs the optional [alpaca] extra (httpx)."""
    try:
        return importlib.import_module("broker_sim.adapters.alpaca.history")
    except ImportError as exc:
        raise ConfigError(
            f"broker-sim data fetch needs the \\[alpaca] extra ({exc.name or exc} is missing): "
            "pip install 'broker-sim[alpaca]'"
        ) from None


def _moment(option: str, text: str) -> datetime:
    """A --start/--end: an ISO 8601 date or time; a date or a naive time is UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{option} must be an ISO 8601 date or time (2024-01-02 or 2024-01-02T14:30Z), got {text!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@data_app.command()
def fetch(
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated symbols, e.g. AAPL,MSFT.")],
    start: Annotated[str, typer.Option("--start", help="First bar's time, ISO 8601 (a date is midnight UTC).")],
    end: Annotated[str, typer.Option("--end", help="Last bar's time, ISO 8601.")],
    timeframe: Annotated[str, typer.Option("--timeframe", help="1-59Min, 1-23Hour or 1Day.")] = "1Min",
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for <SYMBOL>_<timeframe>.csv.")] = Path("data"),
    feed: Annotated[str, typer.Option("--feed", help="iex (free) or sip.")] = "iex",
    url: Annotated[
        str | None, typer.Option("--url", help="Market-data URL (default: APCA_API_DATA_URL, else Alpaca's).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Download historical bars from Alpaca's market-data API (keys from APCA_API_KEY_ID and
    APCA_API_SECRET_KEY) into one csv file per symbol, stamped as the csv source reads them."""
    try:
        history = _history()
        frame = history.Timeframe.parse(timeframe)
        chosen = [s.strip() for s in symbols.split(",") if s.strip()]
        written = asyncio.run(
            history.fetch_to_csv(
                chosen,
                _moment("--start", start),
                _moment("--end", end),
                frame,
                out_dir,
                key_id=os.environ.get("APCA_API_KEY_ID"),
                secret_key=os.environ.get("APCA_API_SECRET_KEY"),
                url=url or history.data_url(os.environ),
                feed=feed or None,
                force=force,
            )
        )
    except BrokerError as exc:
        _err.print(f"[bold red]error:[/] {describe_error(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    for symbol in chosen:
        path, count = written.get(symbol, (None, 0))
        if path is None:
            _out.print(f"{symbol}: no bars in that window", highlight=False)
        else:
            _out.print(f"{symbol}: {count:,} bars -> {path}", highlight=False)
    if written:
        first_symbol, (first_path, _) = next(iter(written.items()))
        _out.print(f"replay it: {{source: csv, path: {first_path}, symbol: {first_symbol}}}", highlight=False)
