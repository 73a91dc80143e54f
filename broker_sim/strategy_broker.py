"""A strategy's view of the shared account: a `Broker` that tags the strategy's orders and passes all else on.

Several strategies may share one account; each gets its own `StrategyBroker` over the same adapter. Orders it
submits carry a client order id that starts with the strategy's name (unless the strategy gives its own), so
the runner can route each order event to the strategy that owns the order, and reports can tell who traded.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable
from typing import Any

import attrs

from broker_sim.broker import Broker
from broker_sim.events import Listener
from broker_sim.models import Account, Order, OrderEvent, OrderRequest, OrderStatus, Position, Side, TimeInForce

__all__ = ["StrategyBroker"]


class StrategyBroker(Broker):
    """`inner` seen by the strategy `name`: the same account, with the strategy's orders tagged and tracked."""

    def __init__(self, inner: Broker, name: str) -> None:
        super().__init__(inner.clock)
        self.inner = inner
        self.name = name
        self._ids = itertools.count(1)
        self._prefix = f"{name}-"
        #: Client order ids this strategy chose itself (the ones it lets us number are recognised by their form,
        #: so memory does not grow with the number of orders).
        self.given_client_order_ids: set[str] = set()

    def _numbered(self, client_order_id: str) -> bool:
        """Whether the id is one this view generated: ``<name>-<n>``, or a replacement ``<name>-<n>.r<m>``."""
        prefix = self._prefix
        return client_order_id.startswith(prefix) and client_order_id[len(prefix) :].split(".r", 1)[0].isdigit()

    def owns(self, order: Order) -> bool:
        """Whether `order` was submitted through this view (or replaces one that was)."""
        client_order_id = order.client_order_id
        return self._numbered(client_order_id) or client_order_id.split(".r", 1)[0] in self.given_client_order_ids

    async def buy(self, symbol: str, quantity: float, **fields: Any) -> Order:
        fields.setdefault("client_order_id", f"{self.name}-{next(self._ids)}")
        return await self.submit_order(OrderRequest(symbol, Side.BUY, quantity, **fields))

    async def sell(self, symbol: str, quantity: float, **fields: Any) -> Order:
        fields.setdefault("client_order_id", f"{self.name}-{next(self._ids)}")
        return await self.submit_order(OrderRequest(symbol, Side.SELL, quantity, **fields))

    async def submit_order(self, request: OrderRequest) -> Order:
        if isinstance(request, OrderRequest) and request.client_order_id is None:
            request = attrs.evolve(request, client_order_id=f"{self.name}-{next(self._ids)}")
        if isinstance(request, OrderRequest) and not self._numbered(request.client_order_id or ""):
            self.given_client_order_ids.add(request.client_order_id or "")
        return await self.inner.submit_order(request)

    async def cancel_order(self, order_id: str) -> Order:
        return await self.inner.cancel_order(order_id)

    async def replace_order(
        self,
        order_id: str,
        *,
        quantity: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce | str | None = None,
    ) -> Order:
        return await self.inner.replace_order(
            order_id, quantity=quantity, limit_price=limit_price, stop_price=stop_price, time_in_force=time_in_force
        )

    async def get_order(self, order_id: str) -> Order:
        return await self.inner.get_order(order_id)

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        return await self.inner.get_order_by_client_id(client_order_id)

    async def list_orders(self, status: str = "open", symbols: Iterable[str] | None = None) -> list[Order]:
        return await self.inner.list_orders(status, symbols)

    async def get_position(self, symbol: str) -> Position | None:
        return await self.inner.get_position(symbol)

    async def get_positions(self) -> list[Position]:
        return await self.inner.get_positions()

    async def close_position(self, symbol: str) -> Order:
        position = await self.inner.get_position(symbol)
        if position is None:
            return await self.inner.close_position(symbol)  # raises PositionNotFound
        side = "sell" if position.quantity > 0 else "buy"
        return await self.submit_order(
            OrderRequest(symbol, side, abs(position.quantity), reference_price=position.market_price)
        )

    async def get_account(self) -> Account:
        return await self.inner.get_account()

    def events(self) -> AsyncIterator[OrderEvent]:
        return self.inner.events()

    def add_listener(self, callback: Listener) -> Any:
        return self.inner.add_listener(callback)

    async def wait_for(self, order_id: str, *statuses: str | OrderStatus, timeout: float | None = None) -> Order:
        return await self.inner.wait_for(order_id, *statuses, timeout=timeout)

    async def connect(self) -> None:
        """The runner connects the shared adapter; a strategy's view has nothing of its own to open."""

    async def close(self) -> None:
        """The runner closes the shared adapter; a strategy's view has nothing of its own to close."""
