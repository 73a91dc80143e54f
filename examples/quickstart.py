"""Quick start: a few orders through the paper broker on the simulated clock, then the fills and the account.

Run it with ``make demo`` (or ``python examples/quickstart.py``). Everything here is seeded: run it twice, get
the same table twice.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from broker_sim import Bar, Broker, Fill, OrderRefused, OrderStatus, PaperBroker, SimulatedClock

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # a Monday, 09:30 in New York


async def trade(broker: Broker, market: PaperBroker) -> None:
    """Some trading through the `Broker` interface; `market` is only used to feed prices to the paper venue."""
    clock = market.clock
    await market.update_market(Bar("AAPL", clock.now(), 189.0, 190.5, 188.7, 190.0, 120_000))
    await market.update_market(Bar("MSFT", clock.now(), 411.0, 412.0, 409.5, 410.0, 80_000))

    buy = await broker.buy("AAPL", 100)
    await broker.wait_for(buy.id, OrderStatus.FILLED)
    dip = await broker.buy("MSFT", 50, type="limit", limit_price=405.0, time_in_force="gtc")
    try:
        await broker.buy("MSFT", 1_000)  # more than the account can pay: refused at once, as Alpaca answers 403
    except OrderRefused as refusal:
        refused = str(refusal)

    await clock.advance(60)
    await market.update_market(Bar("AAPL", clock.now(), 190.0, 192.4, 189.9, 192.0, 98_000))
    await market.update_market(Bar("MSFT", clock.now(), 410.0, 410.0, 404.0, 404.5, 91_000))
    await broker.wait_for(dip.id, OrderStatus.FILLED, timeout=60)

    half = await broker.sell("AAPL", 50)
    await broker.wait_for(half.id)
    stale = await broker.buy("AAPL", 10, type="limit", limit_price=150.0, time_in_force="gtc")
    await broker.cancel_order(stale.id)
    await broker.wait_for(stale.id, timeout=10)
    print(f"refused: {refused}")


async def show(broker: Broker, fills: list[Fill]) -> None:
    """Print the fills heard from the broker's events, then its positions and account (any Broker)."""
    console = Console(width=max(Console().width, 100))
    table = Table(title="Fills")
    for column in ("order", "time (UTC)", "symbol", "side", "qty", "reference", "price", "fee"):
        table.add_column(column, justify="right" if column in {"qty", "reference", "price", "fee"} else "left")
    for fill in fills:
        table.add_row(
            fill.order_id,
            fill.timestamp.strftime("%H:%M:%S.%f")[:-3],
            fill.symbol,
            fill.side.value,
            f"{fill.quantity:g}",
            f"{fill.reference_price:.2f}",
            f"{fill.price:.4f}",
            f"{fill.fee:.2f}",
        )
    console.print(table)

    positions = Table(title="Positions")
    for column in ("symbol", "qty", "avg price", "market", "unrealized P&L", "realized P&L"):
        positions.add_column(column, justify="left" if column == "symbol" else "right")
    for p in await broker.get_positions():
        positions.add_row(
            p.symbol,
            f"{p.quantity:g}",
            f"{p.avg_price:.4f}",
            f"{p.market_price:.2f}",
            f"{p.unrealized_pnl:,.2f}",
            "-" if p.realized_pnl is None else f"{p.realized_pnl:,.2f}",
        )
    console.print(positions)

    account = await broker.get_account()
    summary = Table(title="Account")
    summary.add_column("")
    summary.add_column("value", justify="right")
    for name in (
        "initial_balance",
        "cash",
        "equity",
        "buying_power",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
    ):
        value = getattr(account, name)
        summary.add_row(name, "-" if value is None else f"{value:,.2f}")
    console.print(summary)


async def main() -> None:
    async with PaperBroker(initial_balance=100_000, seed=42, clock=SimulatedClock(START)) as broker:
        fills: list[Fill] = []
        broker.add_listener(lambda event: fills.append(event.fill) if event.fill is not None else None)
        await trade(broker, broker)
        await show(broker, fills)


if __name__ == "__main__":
    asyncio.run(main())
