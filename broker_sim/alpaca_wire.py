"""Alpaca's wire format, both ways, in one place: our value types as the JSON entities of Alpaca's Trading API v2
and those entities as our value types. `broker-sim serve` encodes with it, the Alpaca adapter decodes with it,
and `tests/test_alpaca_wire.py` checks that decoding what was encoded gives back what was encoded.

The pairs: `order_json` / `order_from_json` (+ `legs_from_json`), `position_json` / `position_from_json`,
`account_json` / `account_from_json`, `activity_json` / `fill_from_activity` (a fill as a FILL activity),
`trade_update_json` / `event_from_json` (an order event as a trade_updates message), and for the pieces
`number_text` / `parse_number`, `timestamp` / `parse_time`.

Going out, numbers are strings (integral values without a point, at most 9 decimals) and timestamps RFC 3339 in
UTC with a ``Z``, as Alpaca writes them, so alpaca-py's strict pydantic models parse every entity. Coming in,
decimal strings (or JSON numbers) are parsed with `Decimal` and converted once to the nearest float; anything
that cannot be read raises `PayloadError` naming the field and the value. Requests (order and replace bodies)
are each side's own: the adapter writes them (`adapters/alpaca/translate.py`), the server reads them, checking
them as Alpaca does (`serve/translate.py`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, overload

import attrs

from broker_sim.errors import BrokerError
from broker_sim.models import (
    Account,
    EventType,
    Fill,
    Order,
    OrderClass,
    OrderEvent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
)

__all__ = [
    "PayloadError",
    "account_from_json",
    "account_id",
    "account_json",
    "activity_id",
    "activity_json",
    "asset_id",
    "event_from_json",
    "fill_from_activity",
    "legs_from_json",
    "number_text",
    "order_from_json",
    "order_json",
    "parse_number",
    "parse_time",
    "position_from_json",
    "position_json",
    "timestamp",
    "trade_update_json",
]

#: The namespace of the ids this server derives from names (asset ids, the account id).
_NAMESPACE = uuid.UUID("6f1c5f0e-6a52-4c8e-9a55-2d2a3f0b7c11")
#: Digits kept after the point in string-encoded numbers (Alpaca takes up to 9 for quantities).
_DIGITS = 9


# -- encoding: our values as Alpaca's entities ------------------------------------------------------------------


def asset_id(symbol: str) -> str:
    """The stable id this server gives `symbol`'s asset (a UUID derived from the name)."""
    return str(uuid.uuid5(_NAMESPACE, f"asset:{symbol}"))


def account_id(name: str) -> str:
    """The stable id of the served account."""
    return str(uuid.uuid5(_NAMESPACE, f"account:{name}"))


def number_text(value: float | None) -> str | None:
    """A number as Alpaca encodes it: a string, integral values without a point, at most 9 decimals."""
    if value is None:
        return None
    if not math.isfinite(value):
        return "0"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    text = f"{value:.{_DIGITS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@overload
def timestamp(value: datetime) -> str: ...
@overload
def timestamp(value: None) -> None: ...
def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, as Alpaca writes timestamps (in its entities and its query parameters)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def order_json(order: Order, legs: list[Order] | None = None) -> dict[str, Any]:
    """`order` as Alpaca's order entity; `legs` (a bracket's exits) nested when given."""
    return {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "created_at": timestamp(order.created_at),
        "updated_at": timestamp(order.updated_at),
        "submitted_at": timestamp(order.submitted_at or order.created_at),
        "filled_at": timestamp(order.filled_at),
        "expired_at": timestamp(order.expired_at),
        "expires_at": None,
        "canceled_at": timestamp(order.canceled_at),
        "failed_at": timestamp(order.failed_at),
        "replaced_at": timestamp(order.replaced_at),
        "replaced_by": order.replaced_by,
        "replaces": order.replaces,
        "asset_id": asset_id(order.symbol),
        "symbol": order.symbol,
        "asset_class": "us_equity",
        "notional": number_text(order.notional),
        "qty": None if order.notional is not None and not order.filled_quantity else number_text(order.quantity),
        "filled_qty": number_text(order.filled_quantity),
        "filled_avg_price": number_text(order.filled_avg_price),
        "order_class": "" if order.order_class is OrderClass.SIMPLE else order.order_class.value,
        "order_type": order.type.value,
        "type": order.type.value,
        "side": order.side.value,
        "time_in_force": order.time_in_force.value,
        "limit_price": number_text(order.limit_price),
        "stop_price": number_text(order.stop_price),
        "status": order.status.value,
        "extended_hours": order.extended_hours,
        "legs": None if legs is None else [order_json(leg) for leg in legs],
        "trail_percent": number_text(order.trail_percent),
        "trail_price": number_text(order.trail_price),
        "hwm": number_text(order.hwm),
    }


def position_json(position: Position, *, exchange: str, held: float = 0.0) -> dict[str, Any]:
    """`position` as Alpaca's position entity (`held`: the quantity open orders hold, for qty_available)."""
    quantity = position.quantity
    cost = abs(position.cost_basis)
    plpc = position.unrealized_pnl / cost if cost else 0.0
    return {
        "asset_id": asset_id(position.symbol),
        "symbol": position.symbol,
        "exchange": exchange,
        "asset_class": "us_equity",
        "asset_marginable": True,
        "avg_entry_price": number_text(position.avg_price),
        "qty": number_text(quantity),
        "qty_available": number_text(math.copysign(max(abs(quantity) - held, 0.0), quantity) if quantity else 0.0),
        "side": "long" if quantity > 0 else "short",
        "market_value": number_text(position.market_value),
        "cost_basis": number_text(position.cost_basis),
        "unrealized_pl": number_text(position.unrealized_pnl),
        "unrealized_plpc": number_text(plpc),
        "unrealized_intraday_pl": number_text(position.unrealized_pnl),
        "unrealized_intraday_plpc": number_text(plpc),
        "current_price": number_text(position.market_price),
        "lastday_price": number_text(position.market_price),
        "change_today": "0",
    }


def account_json(
    account: Account, *, name: str, created_at: datetime, multiplier: float, shorting: bool
) -> dict[str, Any]:
    """`account` as Alpaca's account entity (the day-trading fields as the paper broker counts them)."""
    last_equity = account.last_equity if account.last_equity is not None else account.initial_balance or 0.0
    last_maintenance = account.last_maintenance_margin
    if last_maintenance is None:
        last_maintenance = account.maintenance_margin or 0.0
    return {
        "id": account_id(name),
        "account_number": name,
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "buying_power": number_text(account.buying_power),
        "regt_buying_power": number_text(account.buying_power),
        "daytrading_buying_power": number_text(account.daytrading_buying_power or 0.0),
        "non_marginable_buying_power": number_text(max(min(account.cash, account.buying_power), 0.0)),
        "options_buying_power": "0",
        "cash": number_text(account.cash),
        "accrued_fees": number_text(account.fees or 0.0),
        "pending_transfer_out": "0",
        "pending_transfer_in": "0",
        "portfolio_value": number_text(account.equity),
        "pattern_day_trader": bool(account.pattern_day_trader),
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "created_at": timestamp(created_at),
        "trade_suspended_by_user": False,
        "multiplier": number_text(multiplier),
        "shorting_enabled": shorting,
        "equity": number_text(account.equity),
        "last_equity": number_text(last_equity),
        "long_market_value": number_text(account.long_market_value),
        "short_market_value": number_text(account.short_market_value),
        "initial_margin": number_text(account.initial_margin or 0.0),
        "maintenance_margin": number_text(account.maintenance_margin or 0.0),
        "last_maintenance_margin": number_text(last_maintenance),
        "sma": "0",
        "daytrade_count": account.daytrade_count or 0,
        "options_approved_level": 0,
        "options_trading_level": 0,
    }


def activity_id(fill: Fill) -> str:
    """The id of a fill's account activity, as Alpaca shapes them: its time, ``::``, its execution id."""
    when = fill.timestamp.astimezone(UTC)
    return f"{when:%Y%m%d%H%M%S}{when.microsecond // 1000:03d}::{fill.execution_id}"


def activity_json(fill: Fill, order: Order, *, account: str) -> dict[str, Any]:
    """One fill as Alpaca's FILL account activity; `order` is the order right after the fill."""
    partial = order.filled_quantity < order.quantity
    return {
        "id": activity_id(fill),
        "account_id": account_id(account),
        "activity_type": "FILL",
        "transaction_time": timestamp(fill.timestamp),
        "type": "partial_fill" if partial else "fill",
        "price": number_text(fill.price),
        "qty": number_text(fill.quantity),
        "side": fill.side.value,
        "symbol": fill.symbol,
        "leaves_qty": number_text(max(order.quantity - order.filled_quantity, 0.0)),
        "order_id": fill.order_id,
        "cum_qty": number_text(order.filled_quantity),
        "order_status": order.status.value,
    }


def trade_update_json(event: OrderEvent) -> dict[str, Any]:
    """An order event as the ``data`` of a trade_updates message."""
    data: dict[str, Any] = {
        "event": event.type.value,
        "order": order_json(event.order),
        "timestamp": timestamp(event.timestamp),
    }
    fill = event.fill
    if fill is not None:
        data["execution_id"] = fill.execution_id or None
        data["price"] = number_text(fill.price)
        data["qty"] = number_text(fill.quantity)
        data["position_qty"] = number_text(event.position_quantity)
    return data


# -- decoding: Alpaca's entities as our values ----------------------------------------------------------------


class PayloadError(BrokerError):
    """Alpaca sent JSON this adapter cannot read; the message names the field and the value."""


def parse_number(value: object, field: str = "number") -> float | None:
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
    quantity = parse_number(data.get("qty"), "qty")
    notional = parse_number(data.get("notional"), "notional")
    filled = parse_number(data.get("filled_qty"), "filled_qty") or 0.0
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
        limit_price=parse_number(data.get("limit_price"), "limit_price"),
        stop_price=parse_number(data.get("stop_price"), "stop_price"),
        status=OrderStatus(_required(data, "status", "order")),
        filled_quantity=filled,
        filled_avg_price=parse_number(data.get("filled_avg_price"), "filled_avg_price"),
        reject_reason=data.get("reject_reason") or None,
        created_at=created,
        updated_at=updated,
        trail_price=parse_number(data.get("trail_price"), "trail_price"),
        trail_percent=parse_number(data.get("trail_percent"), "trail_percent"),
        replaces=data.get("replaces") or None,
        replaced_by=data.get("replaced_by") or None,
        submitted_at=_time(data.get("submitted_at"), "submitted_at"),
        filled_at=_time(data.get("filled_at"), "filled_at"),
        canceled_at=_time(data.get("canceled_at"), "canceled_at"),
        expired_at=_time(data.get("expired_at"), "expired_at"),
        failed_at=_time(data.get("failed_at"), "failed_at"),
        replaced_at=_time(data.get("replaced_at"), "replaced_at"),
        hwm=parse_number(data.get("hwm"), "hwm"),
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
    quantity = parse_number(_required(data, "qty", "position"), "qty") or 0.0
    if data.get("side") == "short" and quantity > 0:
        quantity = -quantity
    avg = parse_number(data.get("avg_entry_price"), "avg_entry_price") or 0.0
    price = parse_number(data.get("current_price"), "current_price") or avg
    value = parse_number(data.get("market_value"), "market_value")
    cost = parse_number(data.get("cost_basis"), "cost_basis")
    return Position(
        symbol=str(_required(data, "symbol", "position")),
        quantity=quantity,
        avg_price=avg,
        market_price=price,
        market_value=value if value is not None else quantity * price,
        cost_basis=cost if cost is not None else quantity * avg,
        realized_pnl=None,
        unrealized_pnl=parse_number(data.get("unrealized_pl"), "unrealized_pl") or 0.0,
    )


def account_from_json(data: Mapping[str, Any]) -> Account:
    """Alpaca's account entity as an `Account` (Alpaca reports no realized P&L, fees total or initial balance)."""
    cash = parse_number(_required(data, "cash", "account"), "cash") or 0.0
    equity = parse_number(data.get("equity") or data.get("portfolio_value"), "equity")
    margin = parse_number(data.get("initial_margin"), "initial_margin")
    maintenance = parse_number(data.get("maintenance_margin"), "maintenance_margin")
    return Account(
        cash=cash,
        equity=cash if equity is None else equity,
        buying_power=parse_number(data.get("buying_power"), "buying_power") or 0.0,
        fees=None,
        long_market_value=parse_number(data.get("long_market_value"), "long_market_value") or 0.0,
        short_market_value=parse_number(data.get("short_market_value"), "short_market_value") or 0.0,
        initial_margin=margin,
        maintenance_margin=maintenance,
        daytrade_count=_count(data.get("daytrade_count")),
        pattern_day_trader=data.get("pattern_day_trader") if isinstance(data.get("pattern_day_trader"), bool) else None,
        last_equity=parse_number(data.get("last_equity"), "last_equity"),
        last_maintenance_margin=parse_number(data.get("last_maintenance_margin"), "last_maintenance_margin"),
        daytrading_buying_power=parse_number(data.get("daytrading_buying_power"), "daytrading_buying_power"),
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
        price = parse_number(data.get("price"), "price")
        quantity = parse_number(data.get("qty"), "qty")
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
        position_quantity = parse_number(data.get("position_qty"), "position_qty")
    return OrderEvent(event, order, when, fill, position_quantity)


def fill_from_activity(data: Mapping[str, Any]) -> Fill:
    """A FILL account activity as a `Fill`; the execution id is the part of the activity id after ``::``."""
    activity_id = str(_required(data, "id", "fill activity"))
    when = _time(data.get("transaction_time"), "transaction_time")
    price = parse_number(_required(data, "price", "fill activity"), "price")
    quantity = parse_number(_required(data, "qty", "fill activity"), "qty")
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
