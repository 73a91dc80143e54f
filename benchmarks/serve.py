"""Round trip of an order submitted to `broker-sim serve`, and the orders/s one client reaches.

Run with ``python benchmarks/serve.py`` (needs the ``[serve]`` extra and alpaca-py); prints one JSON object. It
starts ``broker-sim serve`` on configs/serve_replay.yaml (without its request rate limit) in a subprocess on a
free port, then one client (the official alpaca-py ``TradingClient``, as a bot would use it) submits market buys
of 0.1 share one after the other. Measured: the median and 95th
percentile wall time of one submit (request to parsed answer), and the orders/s of that one client.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET = "bench-key", "bench-secret"
ORDERS = 1000
WARM_UP = 50


def main() -> None:
    env = {**os.environ, "APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}
    config = ROOT / "reports" / "bench_serve.yaml"
    config.parent.mkdir(exist_ok=True)
    text = (ROOT / "configs" / "serve_replay.yaml").read_text()
    config.write_text(re.sub(r"\n  rate_limit: .*", "", text))
    command = ["serve", str(config), "--port", "0", "--out", str(config.with_suffix(""))]
    server = subprocess.Popen(
        [sys.executable, "-m", "broker_sim", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        found = re.search(r"on (http://\S+) ", server.stderr.readline())
        assert found is not None, "the server did not say where it listens"
        trading = TradingClient(KEY, SECRET, paper=True, url_override=found.group(1))
        times = []
        for number in range(WARM_UP + ORDERS):
            request = MarketOrderRequest(symbol="AAPL", qty=0.1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
            started = time.perf_counter()
            trading.submit_order(request)
            if number >= WARM_UP:
                times.append(time.perf_counter() - started)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    times.sort()
    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "orders": ORDERS,
                "submit_round_trip_ms_median": round(statistics.median(times) * 1000, 3),
                "submit_round_trip_ms_p95": round(times[int(len(times) * 0.95)] * 1000, 3),
                "orders_per_second_one_client": round(len(times) / sum(times), 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
