"""Historical bars from Alpaca's market-data API, written as the csv price source reads them.

``broker-sim data fetch`` calls `fetch_to_csv`: it pages through ``GET /v2/stocks/bars`` (Alpaca's multi-symbol
historical bars, https://docs.alpaca.markets/reference/stockbars) with the keys from ``APCA_API_KEY_ID`` /
``APCA_API_SECRET_KEY``, and writes one CSV per symbol, ``<SYMBOL>_<timeframe>.csv`` with the columns
``timestamp,open,high,low,close,volume``. Alpaca stamps a bar at its start; the file stamps it at its end, as the
csv source reads by default (``bar_timestamp: end``), and a daily bar by its New York date (a session bar), so
``{source: csv, path: data/AAPL_1Min.csv, symbol: AAPL}`` replays it with no option. `broker-sim serve` answers
the same route, so a served replay can be fetched too (the tests do).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import attrs
import httpx

from broker_sim.clock import RealtimeClock
from broker_sim.errors import ConfigError

from .http import AlpacaHttp
from .settings import AlpacaSettings

__all__ = ["DATA_URL", "Timeframe", "data_url", "fetch_to_csv"]

#: Alpaca's market-data REST API.
DATA_URL = "https://data.alpaca.markets"
#: The most bars Alpaca returns per page.
PAGE_LIMIT = 10_000
_NEW_YORK = ZoneInfo("America/New_York")
_TIMEFRAME = re.compile(r"^(\d+)(Min|Hour|Day)$")
_UNITS = {"Min": (60, 59), "Hour": (3600, 23), "Day": (86_400, 1)}


@attrs.frozen(slots=True)
class Timeframe:
    """An Alpaca bar timeframe this command writes: 1-59 ``Min``, 1-23 ``Hour`` or ``1Day``."""

    text: str
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """Read ``5Min``, ``1Hour``, ``1Day``; raises `ConfigError` naming the valid forms."""
        match = _TIMEFRAME.match(text or "")
        if match:
            amount, unit = int(match.group(1)), match.group(2)
            seconds, most = _UNITS[unit]
            if 1 <= amount <= most:
                return cls(text, amount * seconds)
        raise ConfigError(
            f"--timeframe must be 1-59Min, 1-23Hour or 1Day (Alpaca's; Week and Month bars have no fixed length), "
            f"got {text!r}"
        )

    @property
    def daily(self) -> bool:
        """Whether these are session (daily) bars."""
        return self.seconds == 86_400


def data_url(env: Mapping[str, str]) -> str:
    """The market-data REST URL: ``APCA_API_DATA_URL`` when it names one (a ws:// URL read as its http://
    twin, so a served replay's stream address works), else Alpaca's."""
    value = env.get("APCA_API_DATA_URL", "").strip().rstrip("/")
    if not value or "stream.data.alpaca.markets" in value:
        return DATA_URL
    if value.startswith("ws"):
        value = "http" + value[2:]
    return value


def _stamp(start: str, timeframe: Timeframe) -> str:
    """The csv timestamp of a bar Alpaca stamped `start`: its end (UTC), or its New York date for a daily bar."""
    moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
    if timeframe.daily:
        return moment.astimezone(_NEW_YORK).date().isoformat()
    return (moment + timedelta(seconds=timeframe.seconds)).isoformat()


def _targets(symbols: Sequence[str], timeframe: Timeframe, out_dir: Path, force: bool) -> dict[str, Path]:
    """Each symbol's file in `out_dir` (made if missing); an existing one is refused unless `force`."""
    targets = {symbol: out_dir / f"{symbol.replace('/', '-')}_{timeframe.text}.csv" for symbol in symbols}
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing and not force:
        raise ConfigError(f"{', '.join(existing)} exists: pass --force to overwrite")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file, not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    return targets


def _open_beside(target: Path) -> tuple[IO[str], Path]:
    """A new hidden file beside `target`, with the csv header written: moved onto `target` once complete."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the caller closes it, then moves or deletes it
        "w", dir=target.parent, prefix=f".{target.name}.", delete=False, encoding="utf-8"
    )
    handle.write("timestamp,open,high,low,close,volume\n")
    return handle, Path(handle.name)


async def fetch_to_csv(
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    timeframe: Timeframe,
    out_dir: Path,
    *,
    key_id: str | None,
    secret_key: str | None,
    url: str = DATA_URL,
    feed: str | None = "iex",
    force: bool = False,
    page_limit: int = PAGE_LIMIT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, tuple[Path, int]]:
    """Fetch `symbols`' bars from `start` to `end` and write ``<out_dir>/<SYMBOL>_<timeframe>.csv`` each; returns
    each symbol's file and bar count. Files are written beside their target and moved into place at the end, so
    an interrupted fetch leaves none half-written; an existing file is refused unless `force`. Raises
    `ConfigError` for bad arguments and our Alpaca errors (`Unauthorized`, ...) for Alpaca's answers.
    `page_limit` is the bars asked per page (Alpaca's most, 10,000, unless a test pages smaller)."""
    if not symbols or not all(re.fullmatch(r"[A-Za-z0-9.\-/]+", s) for s in symbols):
        raise ConfigError(f"--symbols must be ticker symbols separated by commas, got {','.join(symbols)!r}")
    if end <= start:
        raise ConfigError(f"--end ({end.isoformat()}) must be after --start ({start.isoformat()})")
    if not key_id or not secret_key:
        raise ConfigError("Alpaca's market data needs keys: set APCA_API_KEY_ID and APCA_API_SECRET_KEY")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--url must be an http(s) URL, got {url!r}")
    settings = AlpacaSettings.resolve(base_url=url, key_id=key_id, secret_key=secret_key, env={})
    targets = _targets(symbols, timeframe, out_dir, force)
    http = AlpacaHttp(settings, sleep=RealtimeClock().sleep, rng=random.Random(0), transport=transport)
    files: dict[str, tuple[IO[str], Path]] = {}
    counts = dict.fromkeys(symbols, 0)
    try:
        params: dict[str, Any] = {
            "symbols": ",".join(symbols),
            "timeframe": timeframe.text,
            "start": start.isoformat().replace("+00:00", "Z"),
            "end": end.isoformat().replace("+00:00", "Z"),
            "limit": page_limit,
            "adjustment": "raw",
            "sort": "asc",
        }
        if feed:
            params["feed"] = feed
        while True:
            page = await http.request("GET", "/v2/stocks/bars", params=params, retry=True)
            for symbol, bars in (page.get("bars") or {}).items():
                if symbol not in counts:
                    continue
                if symbol not in files:
                    files[symbol] = _open_beside(targets[symbol])
                handle = files[symbol][0]
                for bar in bars:
                    handle.write(f"{_stamp(bar['t'], timeframe)},{bar['o']!r},{bar['h']!r},{bar['l']!r},")
                    handle.write(f"{bar['c']!r},{bar['v']!r}\n")
                counts[symbol] += len(bars)
            token = page.get("next_page_token")
            if not token:
                break
            params["page_token"] = token
        written: dict[str, tuple[Path, int]] = {}
        for symbol, (handle, temporary) in files.items():
            handle.close()
            os.replace(temporary, targets[symbol])
            written[symbol] = (targets[symbol], counts[symbol])
        files.clear()
        return written
    finally:
        await http.close()
        for handle, temporary in files.values():  # an error: nothing half-written is left behind
            handle.close()
            with contextlib.suppress(OSError):
                temporary.unlink()
