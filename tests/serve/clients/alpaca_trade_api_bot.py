"""The client scenario with alpaca-trade-api (the older official Python SDK), unmodified, in its own venv.

Run by tests/serve/test_real_clients.py with APCA_API_BASE_URL, APCA_API_KEY_ID and APCA_API_SECRET_KEY pointing
at a served broker; writes its answer (JSON) to the file SCENARIO_ANSWER names: the submit round trips, the trade
updates heard, what each read gave.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
from importlib.metadata import version
from typing import Any

import alpaca_trade_api as tradeapi
from alpaca_trade_api.common import URL
from alpaca_trade_api.rest import TimeFrame
from alpaca_trade_api.stream import Stream

URL_ = os.environ["APCA_API_BASE_URL"]
WAIT_S = 30.0
#: How long a probe waits for its `new` before the next is sent (the served venue's latency is milliseconds).
PROBE_WAIT_S = 0.5
#: More submits, to measure the round trip.
TIMED = 20

STARTED = time.perf_counter()
heard: list[tuple[str, str]] = []
changed = threading.Condition()


async def on_update(update: Any) -> None:
    with changed:
        heard.append((update.event, update.order["id"]))
        changed.notify_all()


def wait_for(event: str, order_id: str) -> None:
    with changed:
        if not changed.wait_for(lambda: (event, order_id) in heard, WAIT_S):
            sys.exit(f"no {event} event for {order_id} within {WAIT_S} s; heard {heard}")


def wait_until_listening(api: Any) -> None:
    """The stream connects in its thread and no callback says when: send probes (a day limit buy far below the
    market, canceled at once) until the stream tells one's `new`; every update after that one is heard."""
    deadline = time.monotonic() + WAIT_S
    for attempt in itertools.count():
        probe = api.submit_order(
            symbol="MSFT", qty=1, side="buy", type="limit", limit_price="1", time_in_force="day",
            client_order_id=f"ata-probe-{attempt}",
        )  # fmt: skip
        with changed:
            listening = changed.wait_for(lambda told=("new", probe.id): told in heard, PROBE_WAIT_S)
        api.cancel_order(probe.id)
        if listening:
            return
        if time.monotonic() > deadline:
            sys.exit("the trade_updates stream did not connect")


def main() -> None:
    # Keys from APCA_API_KEY_ID/APCA_API_SECRET_KEY; market data from APCA_API_DATA_URL (the server too).
    assert os.environ["APCA_API_DATA_URL"] == URL_, "market data must come from the server"
    api = tradeapi.REST(base_url=URL(URL_))
    stream = Stream(base_url=URL(URL_), data_stream_url=URL(URL_.replace("http", "ws")))  # trade_updates on /stream/
    stream.subscribe_trade_updates(on_update)
    threading.Thread(target=stream.run, daemon=True).start()
    submits: list[float] = []

    def submit(**order: Any) -> Any:
        started = time.perf_counter()
        placed = api.submit_order(**order)
        submits.append((time.perf_counter() - started) * 1000)
        return placed

    reads: dict[str, Any] = {"cash": float(api.get_account().cash)}
    wait_until_listening(api)
    market = submit(symbol="AAPL", qty=10, side="buy", type="market", time_in_force="day", client_order_id="ata-market")
    wait_for("new", market.id)
    wait_for("fill", market.id)
    limit = submit(
        symbol="MSFT",
        qty=5,
        side="buy",
        type="limit",
        limit_price="1.5",
        time_in_force="gtc",
        client_order_id="ata-limit",
    )
    wait_for("new", limit.id)
    replaced = api.replace_order(limit.id, qty="6", limit_price="1.75")
    wait_for("new", replaced.id)
    api.cancel_order(replaced.id)
    wait_for("canceled", replaced.id)
    bracket = submit(
        symbol="AAPL",
        qty=2,
        side="buy",
        type="market",
        time_in_force="gtc",
        order_class="bracket",
        take_profit={"limit_price": "1000"},
        stop_loss={"stop_price": "10"},
        client_order_id="ata-bracket",
    )
    wait_for("fill", bracket.id)
    oco = submit(
        symbol="AAPL",
        qty=3,
        side="sell",
        type="limit",
        time_in_force="gtc",
        order_class="oco",
        take_profit={"limit_price": "1000"},
        stop_loss={"stop_price": "10"},
        client_order_id="ata-oco",
    )
    wait_for("new", oco.id)
    for _ in range(TIMED):  # limit IOC orders far below the market: they expire at once, untouched
        submit(symbol="MSFT", qty=1, side="buy", type="limit", limit_price="1", time_in_force="ioc")
    reads["position_qty"] = float(api.get_position("AAPL").qty)
    reads["positions"] = sorted(p.symbol for p in api.list_positions())
    reads["activities"] = len(api.get_activities(activity_types="FILL"))
    history = api.get_portfolio_history(period="1D", timeframe="1Min")
    reads["history_points"] = len(history.equity)
    reads["latest_trade"] = float(api.get_latest_trade("AAPL").price)
    quote = api.get_latest_quote("AAPL")
    reads["latest_quote"] = [float(quote.bid_price), float(quote.ask_price)]
    reads["latest_bar"] = float(api.get_latest_bar("AAPL").close)
    reads["bars"] = len(api.get_bars("AAPL", TimeFrame.Minute, limit=50))
    reads["snapshot"] = float(api.get_snapshot("AAPL").latest_trade.price)
    stream.stop()
    print(f"done in {time.perf_counter() - STARTED:.2f} s", file=sys.stderr)
    ids = {"market": market.id, "limit": limit.id, "replaced": replaced.id, "bracket": bracket.id, "oco": oco.id}
    answer = {"client": "alpaca-trade-api", "version": version("alpaca-trade-api"), "submit_ms": submits}
    with open(os.environ["SCENARIO_ANSWER"], "w") as out:
        json.dump({**answer, "heard": heard, "ids": ids, "reads": reads}, out)


if __name__ == "__main__":
    main()
