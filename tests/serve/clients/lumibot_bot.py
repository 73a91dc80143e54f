"""A lumibot strategy, written as lumibot's documentation writes one, run live against `broker-sim serve` by
lumibot's own Trader and Alpaca broker, unmodified: lumibot takes caller-owned alpaca-py clients, so the recipe
is to hand it a TradingClient and a StockHistoricalDataClient pointed at the server.

Run by tests/serve/test_real_clients.py (in lumibot's own venv) against a server playing a replay stamped
relative to the present (``clock: realtime``, ``serve.history_days``), since lumibot asks for history from its
own wall clock. Writes its answer (JSON) to the file SCENARIO_ANSWER names: the prices and history the strategy
saw, its orders and what it held.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from importlib.metadata import version
from typing import Any

from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from lumibot.brokers import Alpaca
from lumibot.data_sources import AlpacaData
from lumibot.strategies import Strategy
from lumibot.traders import Trader

URL = os.environ["APCA_API_BASE_URL"]
KEY, SECRET = os.environ["APCA_API_KEY_ID"], os.environ["APCA_API_SECRET_KEY"]
WAIT_S = 60.0
CONFIG = {"API_KEY": KEY, "API_SECRET": SECRET, "PAPER": True}

seen: dict[str, Any] = {"orders": [], "submits_ms": []}
done = threading.Event()


class BuyAndBid(Strategy):
    """Buy 10 AAPL at the market and bid for one MSFT far below it, noting the price and the last 30 minutes'
    bars; once lumibot holds the 10 shares, cancel the bid. (Fills reach lumibot by its polling of the orders,
    as with any caller-owned client; its position is what it synced from the broker.)"""

    parameters = {"symbol": "AAPL", "quantity": 10}  # noqa: RUF012 (lumibot's own convention)

    def initialize(self) -> None:
        self.sleeptime = "1S"
        self.set_market("24/7")

    def on_trading_iteration(self) -> None:
        symbol, quantity = self.parameters["symbol"], self.parameters["quantity"]
        if self.first_iteration:
            seen["last_price"] = float(self.get_last_price(symbol))
            bars = self.get_historical_prices(symbol, 30, "minute")
            seen["history_bars"] = 0 if bars is None else len(bars.df)
            for order in (
                self.create_order(symbol, quantity, "buy"),
                self.create_order("MSFT", 1, "buy", limit_price=1.0),
            ):
                started = time.perf_counter()
                seen["orders"].append(str(self.submit_order(order).identifier))
                seen["submits_ms"].append((time.perf_counter() - started) * 1000)
            return
        position = self.get_position(symbol)
        if position is not None and float(position.quantity) == quantity:
            seen["position"] = float(position.quantity)
            seen["statuses"] = {o.asset.symbol: str(o.status) for o in self.get_orders()}
            for order in self.get_orders():
                if order.is_active():
                    self.cancel_order(order)
            done.set()


def main() -> None:
    trading = TradingClient(KEY, SECRET, paper=True, url_override=URL)
    stocks = StockHistoricalDataClient(KEY, SECRET, url_override=URL)
    data = AlpacaData(CONFIG, stock_client=stocks)
    broker = Alpaca(CONFIG, trading_client=trading, data_source=data, polling_interval=0.2)
    strategy = BuyAndBid(broker=broker)
    trader = Trader(quiet_logs=True)
    trader.add_strategy(strategy)
    threading.Thread(target=trader.run_all, daemon=True).start()
    if not done.wait(WAIT_S):
        tracked = [(o.identifier, o.status) for o in broker.get_all_orders()]
        sys.exit(f"lumibot did not hold its shares within {WAIT_S} s: {seen}; its orders: {tracked}")
    with open(os.environ["SCENARIO_ANSWER"], "w") as out:
        json.dump({"client": "lumibot", "version": version("lumibot"), **seen}, out)
    os._exit(0)  # lumibot's threads (polling, scheduler) do not stop on their own


if __name__ == "__main__":
    main()
