"""`PaperTradingEngine`: the seed engine's day-23 API, kept working on top of `PaperBroker`.

Code written against the original keeps running: ``await engine.submit_order(symbol, action, price, quantity)``
returns an order id at once, the order fills 0.5-2 s later (wall clock) with `slippage_bps` (5) against it,
and `balance`, `positions`, `orders`, `trades_executed` and `trade_log` tell the outcome. Underneath it is an
ordinary `PaperBroker` on a `RealtimeClock` (`engine.broker`), read only through the `Broker` interface, so new
code can move to the `Broker` API bit by bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from broker_sim.adapters.paper import PaperBroker
from broker_sim.clock import RealtimeClock
from broker_sim.errors import OrderRefused
from broker_sim.hookspecs import HookContext, hookimpl
from broker_sim.models import EventType, MarketData, OrderEvent, OrderRequest, Position, Side
from broker_sim.rules import RuleSettings

__all__ = ["CompatOrder", "PaperTradingEngine"]

#: The seed's order states: "pending" until the order fills ("filled") or is refused ("cancelled").
_STATUS = {
    EventType.FILL: "filled",
    EventType.REJECTED: "cancelled",
    EventType.CANCELED: "cancelled",
    EventType.EXPIRED: "cancelled",
}


@attrs.define
class CompatOrder:
    """An order as the seed engine tracked it (mutable, as it was): updated in place when it fills."""

    order_id: str
    symbol: str
    action: str
    entry_price: float
    quantity: float
    timestamp: datetime
    status: str = "pending"
    fill_price: float | None = None
    fill_time: datetime | None = None
    reason: str | None = None


class _SeedSlippage:
    """Applies the engine's `slippage_bps` (read at each fill, so changing the attribute takes effect)."""

    def __init__(self, engine: PaperTradingEngine) -> None:
        self._engine = engine

    @hookimpl(tryfirst=True)
    def broker_sim_slippage(
        self, order: Any, price: float, market: MarketData | None, ctx: HookContext
    ) -> float | None:
        factor = self._engine.slippage_bps / 10_000.0
        return price * (1.0 + factor) if order.side is Side.BUY else price * (1.0 - factor)


class PaperTradingEngine:
    """Simulate order execution with market-like fills: the seed's API, on `PaperBroker` with a wall clock.

    `latency` and `seed` are optional extras; by default latency is the seed's uniform 0.5-2.0 s.
    """

    def __init__(
        self,
        initial_balance: float = 100000.0,
        *,
        latency: Mapping[str, Any] | str | None = None,
        seed: int | None = None,
    ) -> None:
        # The seed engine knew no trading hours and none of Alpaca's rules: orders fill whenever they are sent.
        self.broker = PaperBroker(
            initial_balance,
            seed=seed,
            clock=RealtimeClock(),
            latency=latency,
            session="always",
            allow_short=False,
            rules=RuleSettings.relaxed(),
        )
        self.broker.plugin_manager.register(_SeedSlippage(self), name=f"compat-slippage:{id(self)}")
        self.orders: dict[str, CompatOrder] = {}
        #: Orders the broker refused at its door (never recorded there): cancelled at once, as the seed did.
        self._refused: dict[str, CompatOrder] = {}
        self.trades_executed = 0
        self.trade_log: list[dict[str, Any]] = []
        self.slippage_bps: float = 5
        self._cash = float(initial_balance)
        self._positions: list[Position] = []
        self.broker.add_listener(self._on_event)
        self.broker.add_listener(self._refresh_after_fill)

    @property
    def balance(self) -> float:
        """Cash on the account (as of the last fill the engine has heard of)."""
        return self._cash

    @property
    def positions(self) -> dict[str, dict[str, float]]:
        """Open positions as the seed kept them: ``{symbol: {"quantity": q, "avg_price": p}}``."""
        return {p.symbol: {"quantity": p.quantity, "avg_price": p.avg_price} for p in self._positions}

    async def refresh(self) -> None:
        """Read the account and positions from the broker (done after every fill, and by `wait`)."""
        self._cash = (await self.broker.get_account()).cash
        self._positions = await self.broker.get_positions()

    async def _refresh_after_fill(self, event: OrderEvent) -> None:
        if event.fill is not None:
            await self.refresh()

    async def submit_order(self, symbol: str, action: str, price: float, quantity: float) -> str:
        """Submit an order for execution at about `price` (the entry price); returns its id at once.

        `action` is "BUY" or "SELL". A malformed order raises `InvalidOrder`; an order the balance cannot pay
        for (or a sale of shares not held) ends "cancelled" with a `reason`, as in the seed.
        """
        request = OrderRequest(symbol=symbol, side=action, quantity=quantity, reference_price=price)
        try:
            order = await self.broker.submit_order(request)
        except OrderRefused as refusal:  # the seed cancelled what it could not pay for; so does this engine
            order_id = self.broker.ids.next()
            now = self.broker.clock.now()
            action_text = request.side.value.upper()
            refused = CompatOrder(order_id, symbol, action_text, price, request.quantity or 0.0, now, "cancelled")
            refused.reason = str(refusal)
            self.orders[order_id] = self._refused[order_id] = refused
            return order_id
        return order.id

    async def wait(self, order_id: str, timeout: float | None = None) -> CompatOrder:
        """Wait until the order is filled or cancelled (not in the seed's API; handy in tests)."""
        if order_id in self._refused:
            return self._refused[order_id]
        await self.broker.wait_for(order_id, timeout=timeout)
        await self.refresh()
        return self.orders[order_id]

    def _on_event(self, event: OrderEvent) -> None:
        order = event.order
        if order.id not in self.orders:
            self.orders[order.id] = CompatOrder(
                order.id,
                order.symbol,
                order.side.value.upper(),
                order.reference_price if order.reference_price is not None else float("nan"),
                order.quantity,
                order.created_at,
            )
        tracked = self.orders.get(order.id)
        if tracked is None:
            return
        status = _STATUS.get(event.type)
        if status is None:
            return
        tracked.status = status
        tracked.reason = order.reject_reason
        fill = event.fill
        if fill is not None:
            tracked.fill_price = fill.price
            tracked.fill_time = fill.timestamp
            self.trades_executed += 1
            self.trade_log.append(
                {
                    "order_id": order.id,
                    "symbol": fill.symbol,
                    "action": tracked.action,
                    "quantity": fill.quantity,
                    "entry_price": tracked.entry_price,
                    "fill_price": fill.price,
                    "slippage": fill.price - fill.reference_price,
                    "timestamp": fill.timestamp,
                }
            )
