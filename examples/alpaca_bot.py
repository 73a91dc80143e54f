"""An Alpaca bot written only against alpaca-py, nothing of broker-sim: it subscribes to minute bars, keeps a fast
and a slow simple moving average of the closes, buys `BOT_QTY` shares when the fast one crosses above the slow
one and sells them when it crosses back (the rule of examples/sma_cross.py).

Against Alpaca's paper account it runs as it is (``APCA_API_BASE_URL`` unset). Against the simulator, serve a
replay and point the bot at it::

    APCA_API_KEY_ID=key APCA_API_SECRET_KEY=secret broker-sim serve configs/serve_replay.yaml
    APCA_API_KEY_ID=key APCA_API_SECRET_KEY=secret APCA_API_BASE_URL=http://127.0.0.1:8000 python examples/alpaca_bot.py

Settings come from the environment: ``BOT_SYMBOL`` (AAPL), ``BOT_FAST`` (10), ``BOT_SLOW`` (30), ``BOT_QTY``
(100) and ``BOT_BARS`` (stop after that many bars; 0, the default, runs until interrupted).
"""

from __future__ import annotations

import os
from collections import deque

from alpaca.data.live.stock import StockDataStream
from alpaca.data.models import Bar
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

KEY = os.environ["APCA_API_KEY_ID"]
SECRET = os.environ["APCA_API_SECRET_KEY"]
BASE_URL = os.environ.get("APCA_API_BASE_URL")  # None: Alpaca's own paper account
SYMBOL = os.environ.get("BOT_SYMBOL", "AAPL")
FAST = int(os.environ.get("BOT_FAST", "10"))
SLOW = int(os.environ.get("BOT_SLOW", "30"))
QTY = float(os.environ.get("BOT_QTY", "100"))
BARS = int(os.environ.get("BOT_BARS", "0"))

trading = TradingClient(KEY, SECRET, paper=True, url_override=BASE_URL)
stream = StockDataStream(KEY, SECRET, url_override=BASE_URL.replace("http", "ws", 1) + "/v2/iex" if BASE_URL else None)
closes: deque[float] = deque(maxlen=SLOW)
seen = 0
long = False


async def on_bar(bar: Bar) -> None:
    """One minute bar: update the averages; trade on a crossing."""
    global seen, long
    seen += 1
    closes.append(bar.close)
    if len(closes) == SLOW:  # the slow average has its SLOW closes
        fast = sum(list(closes)[-FAST:])
        slow = sum(closes)
        above = fast * SLOW > slow * FAST
        if above is not long:
            long = above
            side = OrderSide.BUY if above else OrderSide.SELL
            order = trading.submit_order(
                MarketOrderRequest(symbol=SYMBOL, qty=QTY, side=side, time_in_force=TimeInForce.DAY)
            )
            print(f"{bar.timestamp:%Y-%m-%d %H:%M} {side.value} {QTY:g} {SYMBOL}: order {order.id}", flush=True)
    if BARS and seen >= BARS:
        await stream.stop_ws()


stream.subscribe_bars(on_bar, SYMBOL)

if __name__ == "__main__":
    account = trading.get_account()
    print(f"account {account.account_number}: buying power {account.buying_power}", flush=True)
    stream.run()
