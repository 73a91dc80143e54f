"""`AlpacaBroker`: the `Broker` interface over Alpaca's Trading API v2, with order events from trade_updates.

The adapter keeps the latest snapshot of every order it has seen and hands each reported status to
`orders.observe`, so a stale or repeated report never moves an order backwards. Fills are de-duplicated by
execution id: after a dropped stream the adapter re-reads recent orders and fill activities and publishes only
what it had not heard of, so no fill is missed or delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs
import httpx

from broker_sim import alpaca_wire
from broker_sim.broker import Broker, ReplaceOrderRequest
from broker_sim.clock import Clock, RealtimeClock
from broker_sim.errors import (
    ConfigError,
    DuplicateClientOrderId,
    InvalidOrder,
    OrderNotFound,
    PositionNotFound,
    TransientError,
)
from broker_sim.models import (
    Account,
    EventType,
    Order,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Position,
    TimeInForce,
)
from broker_sim.orders import observe
from broker_sim.rules import same_request

from . import translate
from .errors import RateLimited
from .http import AlpacaHttp
from .settings import AlpacaSettings
from .stream import TradeUpdatesStream

__all__ = ["AlpacaBroker"]

#: How far back, before the last update heard, a reconnect re-reads orders and fills.
_RESYNC_MARGIN = timedelta(minutes=5)
log = logging.getLogger(__name__)
_PAGE = 500
_ACTIVITY_PAGE = 100
_TICK = timedelta(microseconds=1)
_STATUS_EVENTS = {
    status: EventType(status.value) for status in OrderStatus if status.value in EventType._value2member_map_
}
_STATUS_EVENTS[OrderStatus.PARTIALLY_FILLED] = EventType.PARTIAL_FILL
_STATUS_EVENTS[OrderStatus.FILLED] = EventType.FILL


class AlpacaBroker(Broker):
    """An Alpaca account (paper or live) as a `Broker`.

    `base_url`, `key_id` and `secret_key` default to APCA_API_BASE_URL, APCA_API_KEY_ID and APCA_API_SECRET_KEY,
    and `base_url` then to Alpaca's paper endpoint; `stream_url` is derived from it. Trading real money needs
    `live: true` and the live `base_url`. `retries`/`backoff` govern retried calls, `reconnect_backoff` the
    stream's reconnects (seconds, jittered, on the clock); `seed` seeds the jitter. Client order ids the adapter
    makes are random UUIDs so they never collide with another run's. `transport` (an httpx transport, for
    tests) can be given from Python only, never from a config.
    """

    #: Keyword arguments a config may not set (the registry leaves them out of its parameters).
    code_only_parameters: ClassVar[frozenset[str]] = frozenset({"transport"})

    def __init__(
        self,
        base_url: str | None = None,
        key_id: str | None = None,
        secret_key: str | None = None,
        stream_url: str | None = None,
        live: bool = False,
        *,
        clock: Clock | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 10.0,
        reconnect_backoff: float = 0.5,
        max_reconnect_backoff: float = 30.0,
        seed: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(clock if clock is not None else RealtimeClock())
        self.settings = AlpacaSettings.resolve(
            base_url=base_url, key_id=key_id, secret_key=secret_key, stream_url=stream_url, live=live
        )
        for name, value in (("backoff", backoff), ("timeout", timeout), ("reconnect_backoff", reconnect_backoff)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ConfigError(f"broker.{name} must be a number >= 0, got {value!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"broker.retries must be an integer >= 0, got {retries!r}")
        self._rng = random.Random(seed)
        self.retries = retries
        self._transport = transport
        self._backoff = float(backoff)
        self._timeout = float(timeout)
        self._stream_options = {"backoff": float(reconnect_backoff), "max_backoff": float(max_reconnect_backoff)}
        self._http: AlpacaHttp | None = None
        self.stream: TradeUpdatesStream | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._orders: dict[str, Order] = {}
        self._executions: set[str] = set()
        self._last_update: Any = None
        self._lock = asyncio.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------------

    @property
    def http(self) -> AlpacaHttp:
        """The REST client (made on first use)."""
        if self._http is None:
            self._http = AlpacaHttp(
                self.settings,
                sleep=self.clock.sleep,
                rng=self._rng,
                retries=self.retries,
                backoff=self._backoff,
                timeout=self._timeout,
                transport=self._transport,
            )
        return self._http

    async def connect(self) -> None:
        """Open the trade_updates stream (authenticated and listening when this returns)."""
        if self._stream_task is not None:
            return
        self.stream = TradeUpdatesStream(
            self.settings,
            clock=self.clock,
            rng=self._rng,
            on_update=self._on_update,
            on_gap=self.resync,
            **self._stream_options,
        )
        self._stream_task = await self.stream.start()

    async def close(self) -> None:
        """Stop the stream, close the connections and end every `events()` iterator."""
        if self.stream is not None:
            self.stream.stop()
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stream_task
            self._stream_task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        await super().close()

    # -- events ---------------------------------------------------------------------------------------------

    async def _on_update(self, data: Mapping[str, Any]) -> None:
        self._accept(alpaca_wire.event_from_json(data))

    def _accept(self, event: OrderEvent) -> bool:
        """Record and publish `event` unless it is a fill already delivered or a stale report; True if published."""
        fill = event.fill
        if fill is not None and fill.execution_id:
            if fill.execution_id in self._executions:
                self._remember(event.order)  # a repeat of a fill heard already; its order may be newer
                return False
            self._executions.add(fill.execution_id)
        if self._last_update is None or event.timestamp > self._last_update:
            self._last_update = event.timestamp
        newer = self._remember(event.order)
        if newer is None and fill is None and event.type not in _REJECTIONS:
            return False
        self._publish(event)
        return True

    def _remember(self, order: Order) -> Order | None:
        """Keep `order` if it is news (`observe`); a report without legs (a trade update's order) keeps the legs
        known from a nested one (a bracket's exits never go away)."""
        current = self._orders.get(order.id)
        newer = observe(current, order)
        if newer is not None:
            if not newer.legs and current is not None and current.legs:
                newer = attrs.evolve(newer, legs=current.legs)
            self._orders[order.id] = newer
        return newer

    async def resync(self) -> None:
        """After a gap in the stream: re-read fills and open and recent orders and publish what was missed.

        Fills are read first: the orders read after them are at least as new, so a missed fill is published with
        its order as it stands after that fill (a waiter for the order's status hears it, and the stream's own
        copy of the fill, dropped as a repeat, is not needed to tell it)."""
        since = self._last_update - _RESYNC_MARGIN if self._last_update is not None else None
        activities = await self._fill_activities(since)
        recent = await self._orders_since({"status": "all", "nested": "false"}, since)
        latest = {o.id: o for o in map(alpaca_wire.order_from_json, recent)}
        for order_id, known in list(self._orders.items()):
            if known.is_open and order_id not in latest:
                with contextlib.suppress(OrderNotFound):
                    latest[order_id] = alpaca_wire.order_from_json(await self._get(f"/v2/orders/{order_id}"))
        missed: list[OrderEvent] = []
        for activity in activities:
            fill = alpaca_wire.fill_from_activity(activity)
            if fill.execution_id in self._executions or fill.order_id not in latest:
                continue
            kind = EventType.PARTIAL_FILL if activity.get("type") == "partial_fill" else EventType.FILL
            missed.append(OrderEvent(kind, latest[fill.order_id], fill.timestamp, fill))
        filled_ids = {event.order.id for event in missed}
        for event in sorted(missed, key=lambda e: e.timestamp):
            self._accept(event)
        for order in sorted(latest.values(), key=lambda o: o.updated_at):
            if order.id in filled_ids or order.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
                self._remember(order)
                continue
            current = self._orders.get(order.id)
            if current is not None and current.status is order.status:
                continue
            if self._remember(order) is not None and order.status in _STATUS_EVENTS:
                self._publish(OrderEvent(_STATUS_EVENTS[order.status], order, order.updated_at))

    async def _orders_since(self, params: Mapping[str, Any], since: datetime | None) -> list[Mapping[str, Any]]:
        """Every order submitted after `since` (all when None) that `params` select, oldest first, page by page
        by submission time (Alpaca's `after` on orders). An order submitted earlier that changed since is not
        among them: the resync asks for each open order it knows by id."""
        return await self._paged(
            "/v2/orders", params, size="limit", page_size=_PAGE, since=since, cursor="submitted_at"
        )

    async def _fill_activities(self, since: datetime | None) -> list[Mapping[str, Any]]:
        """Every FILL activity after `since`, oldest first (paged by `page_token`, the last activity's id)."""
        return await self._paged(
            "/v2/account/activities/FILL", {}, size="page_size", page_size=_ACTIVITY_PAGE, since=since, cursor=None
        )

    async def _paged(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        size: str,
        page_size: int,
        since: datetime | None,
        cursor: str | None,
    ) -> list[Mapping[str, Any]]:
        """Every item of a list Alpaca answers in pages, oldest first, after `since`. The next page starts after
        the last item: by its id as ``page_token`` (`cursor` None), or a microsecond before its `cursor` time
        field, so items sharing a time are not skipped (repeats are dropped by id)."""
        found: dict[str, Mapping[str, Any]] = {}
        token: str | None = None
        after = since
        while True:
            asked: dict[str, Any] = {**params, "direction": "asc", size: page_size}
            if after is not None:
                asked["after"] = alpaca_wire.timestamp(after)
            if token is not None:
                asked["page_token"] = token
            page = await self._get(path, asked)
            new = [item for item in page if str(item.get("id")) not in found]
            found.update((str(item.get("id")), item) for item in new)
            if len(page) < page_size:
                return list(found.values())
            if not new:
                log.warning(
                    "%s: a whole page of %d shares one %s; the items past it cannot be read", path, page_size, cursor
                )
                return list(found.values())
            if cursor is None:
                token = str(page[-1].get("id"))
            else:
                after = alpaca_wire.parse_time(page[-1].get(cursor), cursor) - _TICK

    # -- orders ---------------------------------------------------------------------------------------------

    async def submit_order(self, request: OrderRequest) -> Order:
        """POST /v2/orders. A request without a client order id gets one, so a retry (after a timeout or 5xx,
        only ever with the same id) can never place a second order; a repeated id returns the existing order."""
        if not isinstance(request, OrderRequest):
            raise InvalidOrder(f"submit_order takes an OrderRequest, got {type(request).__name__}")
        if request.client_order_id is None:
            request = attrs.evolve(request, client_order_id=str(uuid.uuid4()))
        client_order_id = request.client_order_id
        assert client_order_id is not None
        body = translate.order_request_json(request)
        attempt = 0
        while True:
            try:
                data = await self.http.request("POST", "/v2/orders", json=body, context="submit")
                break
            except DuplicateClientOrderId:
                existing = await self._by_client_id(client_order_id)
                if existing is not None and same_request(existing, request):
                    return existing
                raise
            except TransientError as exc:  # no answer, a 5xx or a 429: the same submit may pass later
                if attempt >= self.retries:
                    raise
                if not isinstance(exc, RateLimited):  # the order may have arrived: look before sending again
                    existing = await self._by_client_id(client_order_id)
                    if existing is not None:
                        return existing
                wait = exc.retry_after if isinstance(exc, RateLimited) and exc.retry_after else None
                await self.clock.sleep(wait if wait is not None else self.http.delay(attempt))
                attempt += 1
        return self._snapshot(data)

    async def _by_client_id(self, client_order_id: str) -> Order | None:
        try:
            return await self.get_order_by_client_id(client_order_id)
        except OrderNotFound:
            return None

    def _snapshot(self, data: Any) -> Order:
        order = alpaca_wire.order_from_json(data)
        for leg in alpaca_wire.legs_from_json(data):
            self._remember(leg)
        kept = self._remember(order) or self._orders.get(order.id, order)
        if order.legs and not kept.legs:  # the stream told a later status first, without the legs
            kept = self._orders[order.id] = attrs.evolve(kept, legs=order.legs)
        return kept

    async def cancel_order(self, order_id: str) -> Order:
        """DELETE /v2/orders/{id}, then the order's snapshot."""
        await self.http.request("DELETE", f"/v2/orders/{order_id}", context="cancel", retry=False)
        return await self.get_order(order_id)

    async def replace(self, order_id: str, changes: ReplaceOrderRequest) -> Order:
        """PATCH /v2/orders/{id}; returns the new order. Malformed values are refused before anything is sent."""
        quantity, limit_price, stop_price = changes.quantity, changes.limit_price, changes.stop_price
        time_in_force, trail, client_order_id = changes.time_in_force, changes.trail, changes.client_order_id
        numbers = {"quantity": quantity, "limit_price": limit_price, "stop_price": stop_price, "trail": trail}
        for name, value in numbers.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidOrder(f"{name} must be a finite number, got {value!r} (replace of order {order_id})")
            if value <= 0:
                raise InvalidOrder(f"{name} must be > 0, got {value!r} (replace of order {order_id})")
        if time_in_force is not None:
            try:
                time_in_force = TimeInForce(time_in_force)
            except ValueError:
                raise InvalidOrder(f"time_in_force {time_in_force!r} is not one of Alpaca's") from None
        fields = {**numbers, "time_in_force": time_in_force, "client_order_id": client_order_id}
        body = translate.replace_json(fields)
        if not body or set(body) == {"client_order_id"}:
            raise InvalidOrder(f"replace of order {order_id} changes nothing: give quantity, prices or time_in_force")
        data = await self.http.request("PATCH", f"/v2/orders/{order_id}", json=body, context="replace")
        return self._snapshot(data)

    async def get_order(self, order_id: str) -> Order:
        """GET /v2/orders/{id} (``nested``, so a bracket's, oto's or oco's `legs` are its exits as they stand)."""
        return self._snapshot(await self._get(f"/v2/orders/{order_id}", {"nested": "true"}, context="order"))

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        """GET /v2/orders:by_client_order_id."""
        data = await self._get("/v2/orders:by_client_order_id", {"client_order_id": client_order_id}, "order")
        return self._snapshot(data)

    async def list_orders(self, status: str = "open", symbols: Iterable[str] | None = None) -> list[Order]:
        """GET /v2/orders, oldest first: every page of them (Alpaca answers at most 500 at a time)."""
        self._check_list_status(status)
        params: dict[str, Any] = {"status": status}
        if symbols is not None:
            wanted = [symbols] if isinstance(symbols, str) else list(symbols)
            if not wanted:
                return []  # as the paper broker: a filter naming no symbol selects no order
            params["symbols"] = ",".join(wanted)
        orders = [self._snapshot(data) for data in await self._orders_since(params, None)]
        return sorted(orders, key=lambda o: o.created_at)

    # -- positions and account ------------------------------------------------------------------------------

    async def get_position(self, symbol: str) -> Position | None:
        """GET /v2/positions/{symbol}; None when flat."""
        try:
            return alpaca_wire.position_from_json(await self._get(f"/v2/positions/{symbol}", context="position"))
        except PositionNotFound:
            return None

    async def get_positions(self) -> list[Position]:
        """GET /v2/positions."""
        return [alpaca_wire.position_from_json(data) for data in await self._get("/v2/positions")]

    async def close_position(self, symbol: str) -> Order:
        """DELETE /v2/positions/{symbol}: Alpaca sends the closing market order; `PositionNotFound` when flat."""
        data = await self.http.request("DELETE", f"/v2/positions/{symbol}", context="position")
        return self._snapshot(data)

    async def cancel_all_orders(self) -> list[Order]:
        """DELETE /v2/orders: Alpaca cancels every open order (the legs of brackets included) and answers each
        one's status (207); returns the snapshots of those it canceled."""
        answers = await self.http.request("DELETE", "/v2/orders", context="cancel")
        return self._multi_status(answers)

    async def close_all_positions(self, *, cancel_orders: bool = False) -> list[Order]:
        """DELETE /v2/positions (``cancel_orders=true`` cancels every open order first, as Alpaca does): Alpaca
        sends one closing market order per position and answers each (207); returns those orders."""
        params = {"cancel_orders": "true"} if cancel_orders else None
        answers = await self.http.request("DELETE", "/v2/positions", params=params, context="position")
        return self._multi_status(answers)

    def _multi_status(self, answers: Any) -> list[Order]:
        """The orders of a 207 answer that succeeded (each item's ``body`` an order); a failed item is logged."""
        orders = []
        for answer in answers or ():
            body = answer.get("body") if isinstance(answer, Mapping) else None
            if isinstance(answer, Mapping) and answer.get("status") == 200 and isinstance(body, Mapping):
                orders.append(self._snapshot(body))
            else:
                log.warning("Alpaca refused part of a bulk request: %s", answer)
        return orders

    async def get_account(self) -> Account:
        """GET /v2/account."""
        return alpaca_wire.account_from_json(await self._get("/v2/account"))

    async def _get(self, path: str, params: Mapping[str, Any] | None = None, context: str = "other") -> Any:
        return await self.http.request("GET", path, params=params, context=context, retry=True)


_REJECTIONS = frozenset({EventType.ORDER_CANCEL_REJECTED, EventType.ORDER_REPLACE_REJECTED})
