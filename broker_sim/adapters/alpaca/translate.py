"""Alpaca's JSON as our value types and our requests as Alpaca's JSON.

Alpaca sends quantities and prices as decimal strings ("0.123456789"). They are parsed with `Decimal` and
converted once to the nearest float, which is what `Order`/`Fill` carry; going out, a float is written as the
shortest decimal string that reads back as the same float (``repr``), never in exponent form, so a quantity or
price makes the round trip unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from broker_sim.errors import BrokerError
from broker_sim.models import (
    Account,
    EventType,
    Fill,
    Order,
    OrderClass,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
)

__all__ = [
    "account_from_json",
    "decimal_text",
    "event_from_json",
    "number",
    "order_from_json",
    "order_request_json",
    "position_from_json",
    "replace_json",
]


class PayloadError(BrokerError):
    """Alpaca sent JSON this adapter cannot read; the message names the field and the value."""


def number(value: object, field: str = "number") -> float | None:
    """A decimal string (or JSON number) from Alpaca as a float; None for null or ""."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(f"{field} must be a decimal string, got {value!r}")
    try:
        decimal = Decimal(value) if isinstance(value, str) else Decimal(repr(value))
    except InvalidOperation:
        raise PayloadError(f"{field} must be a decimal string, got {value!r}") from None
    if not decimal.is_finite():
        raise PayloadError(f"{field} must be finite, got {value!r}")
    return float(decimal)


def decimal_text(value: float) -> str:
    """`value` as the shortest plain decimal string that reads back as the same float (no exponent)."""
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def parse_time(value: object, field: str) -> datetime:
    """An RFC 3339 timestamp from Alpaca, in UTC; `PayloadError` naming `field` if it is missing or malformed."""
    parsed = _time(value, field)
    if parsed is None:
        raise PayloadError(f"{field} must be an RFC 3339 timestamp, got {value!r}")
    return parsed


def _time(value: object, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{field} must be an RFC 3339 timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{field} must be an RFC 3339 timestamp, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _required(data: Mapping[str, Any], field: str, what: str) -> Any:
    if field not in data or data[field] is None:
        raise PayloadError(f"{what} has no {field!r}: {dict(data)!r}")
    return data[field]


def order_from_json(data: Mapping[str, Any]) -> Order:
    """Alpaca's order entity as an `Order` (nested `legs` become leg ids)."""
    if not isinstance(data, Mapping):
        raise PayloadError(f"an order must be a JSON object, got {data!r}")
    created = _time(_required(data, "created_at", "order"), "created_at")
    assert created is not None
    updated = _time(data.get("updated_at"), "updated_at") or created
    quantity = number(data.get("qty"), "qty")
    notional = number(data.get("notional"), "notional")
    filled = number(data.get("filled_qty"), "filled_qty") or 0.0
    if quantity is None:
        quantity = filled
    order_class = data.get("order_class") or "simple"
    legs = data.get("legs") or ()
    return Order(
        id=str(_required(data, "id", "order")),
        client_order_id=str(data.get("client_order_id") or ""),
        symbol=str(_required(data, "symbol", "order")),
        side=Side(_required(data, "side", "order")),
        quantity=quantity,
        type=OrderType(data.get("type") or data.get("order_type") or "market"),
        time_in_force=TimeInForce(data.get("time_in_force") or "day"),
        limit_price=number(data.get("limit_price"), "limit_price"),
        stop_price=number(data.get("stop_price"), "stop_price"),
        status=OrderStatus(_required(data, "status", "order")),
        filled_quantity=filled,
        filled_avg_price=number(data.get("filled_avg_price"), "filled_avg_price"),
        reject_reason=data.get("reject_reason") or None,
        created_at=created,
        updated_at=updated,
        trail_price=number(data.get("trail_price"), "trail_price"),
        trail_percent=number(data.get("trail_percent"), "trail_percent"),
        replaces=data.get("replaces") or None,
        replaced_by=data.get("replaced_by") or None,
        submitted_at=_time(data.get("submitted_at"), "submitted_at"),
        filled_at=_time(data.get("filled_at"), "filled_at"),
        canceled_at=_time(data.get("canceled_at"), "canceled_at"),
        expired_at=_time(data.get("expired_at"), "expired_at"),
        failed_at=_time(data.get("failed_at"), "failed_at"),
        replaced_at=_time(data.get("replaced_at"), "replaced_at"),
        hwm=number(data.get("hwm"), "hwm"),
        order_class=OrderClass(order_class),
        legs=tuple(str(leg["id"]) for leg in legs if isinstance(leg, Mapping) and "id" in leg),
        extended_hours=bool(data.get("extended_hours") or False),
        notional=notional,
    )


def legs_from_json(data: Mapping[str, Any]) -> list[Order]:
    """The nested leg orders of a bracket/oco/oto order entity, with their parent's id."""
    parent = str(data.get("id"))
    result = []
    for leg in data.get("legs") or ():
        order = order_from_json(leg)
        result.append(_with_parent(order, parent))
    return result


def _with_parent(order: Order, parent: str) -> Order:
    return attrs.evolve(order, parent_id=parent)


def position_from_json(data: Mapping[str, Any]) -> Position:
    """Alpaca's position entity as a `Position` (signed quantity: short positions are negative)."""
    quantity = number(_required(data, "qty", "position"), "qty") or 0.0
    if data.get("side") == "short" and quantity > 0:
        quantity = -quantity
    avg = number(data.get("avg_entry_price"), "avg_entry_price") or 0.0
    price = number(data.get("current_price"), "current_price") or avg
    value = number(data.get("market_value"), "market_value")
    cost = number(data.get("cost_basis"), "cost_basis")
    return Position(
        symbol=str(_required(data, "symbol", "position")),
        quantity=quantity,
        avg_price=avg,
        market_price=price,
        market_value=value if value is not None else quantity * price,
        cost_basis=cost if cost is not None else quantity * avg,
        realized_pnl=None,
        unrealized_pnl=number(data.get("unrealized_pl"), "unrealized_pl") or 0.0,
    )


def account_from_json(data: Mapping[str, Any]) -> Account:
    """Alpaca's account entity as an `Account` (Alpaca reports no realized P&L, fees total or initial balance)."""
    cash = number(_required(data, "cash", "account"), "cash") or 0.0
    equity = number(data.get("equity") or data.get("portfolio_value"), "equity")
    margin = number(data.get("initial_margin"), "initial_margin")
    maintenance = number(data.get("maintenance_margin"), "maintenance_margin")
    return Account(
        cash=cash,
        equity=cash if equity is None else equity,
        buying_power=number(data.get("buying_power"), "buying_power") or 0.0,
        fees=None,
        long_market_value=number(data.get("long_market_value"), "long_market_value") or 0.0,
        short_market_value=number(data.get("short_market_value"), "short_market_value") or 0.0,
        initial_margin=margin,
        maintenance_margin=maintenance,
        daytrade_count=_count(data.get("daytrade_count")),
        pattern_day_trader=data.get("pattern_day_trader") if isinstance(data.get("pattern_day_trader"), bool) else None,
        last_equity=number(data.get("last_equity"), "last_equity"),
        last_maintenance_margin=number(data.get("last_maintenance_margin"), "last_maintenance_margin"),
        daytrading_buying_power=number(data.get("daytrading_buying_power"), "daytrading_buying_power"),
    )


def _count(value: Any) -> int | None:
    """An integer field Alpaca sends as a number (or a numeric string); None when absent or not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def event_from_json(data: Mapping[str, Any]) -> OrderEvent:
    """The ``data`` of a trade_updates message as an `OrderEvent`; fill events carry a `Fill`."""
    event = EventType(_required(data, "event", "trade update"))
    order = order_from_json(_required(data, "order", "trade update"))
    when = _time(data.get("timestamp"), "timestamp") or order.updated_at
    fill = None
    position_quantity = None
    if event in (EventType.FILL, EventType.PARTIAL_FILL):
        price = number(data.get("price"), "price")
        quantity = number(data.get("qty"), "qty")
        if price is None or quantity is None:
            raise PayloadError(f"a {event.value} update needs price and qty: {dict(data)!r}")
        fill = Fill(
            order_id=order.id,
            symbol=order.symbol,
            side=order.side,
            quantity=quantity,
            price=price,
            fee=0.0,
            timestamp=when,
            reference_price=price,
            execution_id=str(data.get("execution_id") or ""),
        )
        position_quantity = number(data.get("position_qty"), "position_qty")
    return OrderEvent(event, order, when, fill, position_quantity)


def order_request_json(request: OrderRequest) -> dict[str, Any]:
    """An `OrderRequest` as the body of POST /v2/orders (numbers as decimal strings)."""
    body: dict[str, Any] = {
        "symbol": request.symbol,
        "side": request.side.value,
        "type": request.type.value,
        "time_in_force": request.time_in_force.value,
    }
    if request.quantity is not None:
        body["qty"] = decimal_text(request.quantity)
    for name in ("notional", "limit_price", "stop_price", "trail_price", "trail_percent"):
        value = getattr(request, name)
        if value is not None:
            body[name] = decimal_text(value)
    if request.order_class is OrderClass.OCO:
        body.pop("limit_price", None)  # Alpaca's documented oco shape: the price is take_profit.limit_price
    if request.client_order_id is not None:
        body["client_order_id"] = request.client_order_id
    if request.extended_hours:
        body["extended_hours"] = True
    if request.order_class is not OrderClass.SIMPLE:
        body["order_class"] = request.order_class.value
    if request.take_profit is not None:
        body["take_profit"] = {"limit_price": decimal_text(request.take_profit.limit_price)}
    if request.stop_loss is not None:
        leg = {"stop_price": decimal_text(request.stop_loss.stop_price)}
        if request.stop_loss.limit_price is not None:
            leg["limit_price"] = decimal_text(request.stop_loss.limit_price)
        body["stop_loss"] = leg
    return body


def replace_json(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The body of PATCH /v2/orders/{id} from `replace_order`'s keyword arguments (None ones left out)."""
    names = {"quantity": "qty", "limit_price": "limit_price", "stop_price": "stop_price", "trail": "trail"}
    body: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in names:
            body[names[name]] = decimal_text(value)
        elif name == "time_in_force":
            body[name] = TimeInForce(value).value
        else:
            body[name] = value
    return body


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as Alpaca's query parameters take it."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fill_from_activity(data: Mapping[str, Any]) -> Fill:
    """A FILL account activity as a `Fill`; the execution id is the part of the activity id after ``::``."""
    activity_id = str(_required(data, "id", "fill activity"))
    when = _time(data.get("transaction_time"), "transaction_time")
    price = number(_required(data, "price", "fill activity"), "price")
    quantity = number(_required(data, "qty", "fill activity"), "qty")
    assert when is not None and price is not None and quantity is not None
    return Fill(
        order_id=str(_required(data, "order_id", "fill activity")),
        symbol=str(_required(data, "symbol", "fill activity")),
        side=Side(_required(data, "side", "fill activity")),
        quantity=quantity,
        price=price,
        fee=0.0,
        timestamp=when,
        reference_price=price,
        execution_id=activity_id.split("::", 1)[1] if "::" in activity_id else activity_id,
    )
