"""The terminal view of a paper account: balance, positions, open orders, last fills and an equity sparkline.

`account_tables` renders an `AccountView` (a value: what to show) with rich; `broker-sim account` prints it once,
and `Dashboard` keeps it on screen during a `broker-sim paper` session, refreshed a few times a second from the
broker's public API (and its order events, for the fills).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from broker_sim.broker import Broker, KeepsFills
from broker_sim.models import Account, Fill, Order, OrderEvent, Position

__all__ = ["AccountView", "Dashboard", "account_tables", "sparkline"]

_BLOCKS = "▁▂▃▄▅▆▇█"


@attrs.frozen(slots=True)
class AccountView:
    """What the account view shows: the account, its positions, its open orders, its latest fills (oldest
    first) and the equity samples the sparkline draws."""

    title: str
    account: Account
    positions: tuple[Position, ...]
    orders: tuple[Order, ...]
    fills: tuple[Fill, ...]
    equity: tuple[float, ...] = ()
    status: str = ""
    total_fills: int | None = None


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """`values` (the last `width` of them) as a line of block characters, lowest to highest."""
    shown = [v for v in values[-width:] if math.isfinite(v)]
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    if high <= low:  # one level: a flat line in the middle
        return _BLOCKS[len(_BLOCKS) // 2] * len(shown)
    scale = (len(_BLOCKS) - 1) / (high - low)
    return "".join(_BLOCKS[round((v - low) * scale)] for v in shown)


def _money(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.2f}"


def _signed(value: float | None) -> Text:
    if value is None or not math.isfinite(value):
        return Text("-")
    return Text(f"{value:+,.2f}", style="green" if value > 0 else "red" if value < 0 else "")


def _qty(value: float) -> str:
    return f"{value:,.6g}"


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def account_tables(view: AccountView) -> RenderableType:
    """The view as rich tables: balance, equity sparkline, positions, open orders, last fills."""
    account = view.account
    balance = Table(title="balance", show_header=False, expand=False, title_justify="left")
    balance.add_column("what")
    balance.add_column("value", justify="right")
    balance.add_row("cash", _money(account.cash))
    balance.add_row("equity", _money(account.equity))
    balance.add_row("buying power", _money(account.buying_power))
    if account.initial_balance is not None:
        balance.add_row("P&L", _signed(account.equity - account.initial_balance))
    balance.add_row("realized P&L", _signed(account.realized_pnl))
    balance.add_row("unrealized P&L", _signed(account.unrealized_pnl))
    balance.add_row("fees", _money(account.fees))
    parts: list[RenderableType] = [Text(view.title, style="bold"), balance]
    if view.equity:
        parts.append(Text(f"equity {sparkline(view.equity)}", style="cyan"))

    positions = Table(title=f"positions ({len(view.positions)})", title_justify="left")
    for column in ("symbol", "quantity", "avg price", "market price", "market value", "unrealized P&L"):
        positions.add_column(column, justify="left" if column == "symbol" else "right")
    for p in view.positions:
        positions.add_row(
            p.symbol,
            _qty(p.quantity),
            _money(p.avg_price),
            _money(p.market_price),
            _money(p.market_value),
            _signed(p.unrealized_pnl),
        )
    parts.append(positions)

    orders = Table(title=f"open orders ({len(view.orders)})", title_justify="left")
    for column in ("client id", "symbol", "side", "qty", "filled", "type", "limit", "stop", "tif", "status"):
        orders.add_column(column, justify="right" if column in ("qty", "filled", "limit", "stop") else "left")
    for o in view.orders:
        orders.add_row(
            o.client_order_id,
            o.symbol,
            o.side.value,
            _qty(o.quantity),
            _qty(o.filled_quantity),
            o.type.value,
            _money(o.limit_price),
            _money(o.stop_price),
            o.time_in_force.value,
            o.status.value,
        )
    parts.append(orders)

    total = view.total_fills if view.total_fills is not None else len(view.fills)
    fills = Table(title=f"last fills ({len(view.fills)} of {total:,})", title_justify="left")
    for column in ("time", "symbol", "side", "qty", "price", "fee"):
        fills.add_column(column, justify="right" if column in ("qty", "price", "fee") else "left")
    for f in view.fills:
        fills.add_row(_time(f.timestamp), f.symbol, f.side.value, _qty(f.quantity), _money(f.price), _money(f.fee))
    parts.append(fills)
    if view.status:
        parts.append(Text(view.status, style="dim"))
    return Group(*parts)


class Dashboard:
    """A live view of `broker`'s account in the terminal, while a paper session runs.

    `attach(broker)` starts it (``watch`` of `arun_simulation`): it listens for fills and redraws every
    `interval` seconds of the broker's clock (4 times a second by default) until `stop`. Without a terminal
    (output to a file or a pipe) nothing is drawn.
    """

    def __init__(
        self, console: Console, *, title: str, interval: float = 0.25, fills: int = 8, history: int = 120
    ) -> None:
        self.console = console
        self.title = title
        self.interval = interval
        self.fills: deque[Fill] = deque(maxlen=fills)
        self.total_fills = 0
        self.equity: deque[float] = deque(maxlen=history)
        self.status = "starting"
        self._task: asyncio.Task[None] | None = None
        self._live: Live | None = None
        self._broker: Broker | None = None

    def attach(self, broker: Broker) -> None:
        """Start showing `broker`'s account (its fills so far, for an account resumed from a journal)."""
        self._broker = broker
        if isinstance(broker, KeepsFills):
            known = broker.fills
            self.fills.extend(known)
            self.total_fills = len(known)
        broker.add_listener(self._on_event)
        self._live = Live(console=self.console, auto_refresh=False, transient=False, redirect_stderr=False)
        self._live.start()
        self._task = asyncio.get_running_loop().create_task(self._loop(broker), name="dashboard")

    def _on_event(self, event: OrderEvent) -> None:
        if event.fill is not None:
            self.fills.append(event.fill)
            self.total_fills += 1

    async def view(self, broker: Broker) -> AccountView:
        """The account now, as the dashboard shows it."""
        account = await broker.get_account()
        self.equity.append(account.equity)
        positions = tuple(await broker.get_positions())
        orders = tuple(await broker.list_orders("open"))
        return AccountView(
            self.title,
            account,
            positions,
            orders,
            tuple(self.fills),
            tuple(self.equity),
            f"{broker.clock.now().strftime('%H:%M:%S')} UTC · {self.status}"
            + (" · Ctrl-C stops (working orders stay in the journal)" if self.status == "running" else ""),
            self.total_fills,
        )

    async def _loop(self, broker: Broker) -> None:
        self.status = "running"
        while True:
            await self.draw(broker)
            await broker.clock.sleep(self.interval)

    async def draw(self, broker: Broker) -> None:
        """Redraw once."""
        if self._live is not None:
            self._live.update(account_tables(await self.view(broker)), refresh=True)

    async def stop(self, status: str) -> None:
        """Stop refreshing, draw the last state with `status`, and leave it on screen."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.status = status
        if self._broker is not None:
            with contextlib.suppress(Exception):  # the broker itself failed: the screen keeps its last state
                await self.draw(self._broker)
        if self._live is not None:
            self._live.stop()
            self._live = None


def latest(items: Iterable[Any], count: int) -> list[Any]:
    """The last `count` of `items`."""
    return list(deque(items, maxlen=count))
