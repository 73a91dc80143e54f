"""Our value types as Alpaca's JSON, and Alpaca's request bodies as ours.

Field names, string-encoded numbers, RFC 3339 timestamps and status values follow Alpaca's Trading API v2, so
alpaca-py's pydantic models (a strict schema) parse every response. Requests accept numbers as JSON numbers or
as numeric strings, as Alpaca does; anything malformed raises `ApiError` (422) naming the field and the value.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from broker_sim.activities import Activity
from broker_sim.models import Account, Fill, Order, OrderClass, OrderEvent, OrderRequest, Position, Side, TimeInForce
from broker_sim.rules import AssetFlags

from .errors import ApiError
from .query import DECIMAL_TEXT

__all__ = [
    "account_json",
    "activity_id",
    "activity_json",
    "asset_id",
    "asset_json",
    "number",
    "order_json",
    "order_request",
    "position_json",
    "replace_fields",
    "timestamp",
    "trade_update_json",
]

#: The namespace of the ids this server derives from names (asset ids, the account id).
_NAMESPACE = uuid.UUID("6f1c5f0e-6a52-4c8e-9a55-2d2a3f0b7c11")
#: Digits kept after the point in string-encoded numbers (Alpaca takes up to 9 for quantities).
_DIGITS = 9
#: The order body fields Alpaca's POST /v2/orders takes.
ORDER_FIELDS = frozenset(
    {
        "symbol",
        "qty",
        "notional",
        "side",
        "type",
        "time_in_force",
        "limit_price",
        "stop_price",
        "trail_price",
        "trail_percent",
        "extended_hours",
        "client_order_id",
        "order_class",
        "take_profit",
        "stop_loss",
        "position_intent",
    }
)
#: The body fields of PATCH /v2/orders/{id}.
REPLACE_FIELDS = frozenset({"qty", "time_in_force", "limit_price", "stop_price", "trail", "client_order_id"})
_POSITION_INTENTS = frozenset({"buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close"})


def asset_id(symbol: str) -> str:
    """The stable id this server gives `symbol`'s asset (a UUID derived from the name)."""
    return str(uuid.uuid5(_NAMESPACE, f"asset:{symbol}"))


def account_id(name: str) -> str:
    """The stable id of the served account."""
    return str(uuid.uuid5(_NAMESPACE, f"account:{name}"))


def number(value: float | None) -> str | None:
    """A number as Alpaca encodes it: a string, integral values without a point, at most 9 decimals."""
    if value is None:
        return None
    if not math.isfinite(value):
        return "0"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    text = f"{value:.{_DIGITS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, as Alpaca writes timestamps."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_timestamp(posix: float, zone: tzinfo) -> str:
    """RFC 3339 in the exchange's time zone (Alpaca's clock answers in New York time)."""
    return datetime.fromtimestamp(posix, zone).isoformat()


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
        "notional": number(order.notional),
        "qty": None if order.notional is not None and not order.filled_quantity else number(order.quantity),
        "filled_qty": number(order.filled_quantity),
        "filled_avg_price": number(order.filled_avg_price),
        "order_class": "" if order.order_class is OrderClass.SIMPLE else order.order_class.value,
        "order_type": order.type.value,
        "type": order.type.value,
        "side": order.side.value,
        "time_in_force": order.time_in_force.value,
        "limit_price": number(order.limit_price),
        "stop_price": number(order.stop_price),
        "status": order.status.value,
        "extended_hours": order.extended_hours,
        "legs": None if legs is None else [order_json(leg) for leg in legs],
        "trail_percent": number(order.trail_percent),
        "trail_price": number(order.trail_price),
        "hwm": number(order.hwm),
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
        "avg_entry_price": number(position.avg_price),
        "qty": number(quantity),
        "qty_available": number(math.copysign(max(abs(quantity) - held, 0.0), quantity) if quantity else 0.0),
        "side": "long" if quantity > 0 else "short",
        "market_value": number(position.market_value),
        "cost_basis": number(position.cost_basis),
        "unrealized_pl": number(position.unrealized_pnl),
        "unrealized_plpc": number(plpc),
        "unrealized_intraday_pl": number(position.unrealized_pnl),
        "unrealized_intraday_plpc": number(plpc),
        "current_price": number(position.market_price),
        "lastday_price": number(position.market_price),
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
        "buying_power": number(account.buying_power),
        "regt_buying_power": number(account.buying_power),
        "daytrading_buying_power": number(account.daytrading_buying_power or 0.0),
        "non_marginable_buying_power": number(max(min(account.cash, account.buying_power), 0.0)),
        "options_buying_power": "0",
        "cash": number(account.cash),
        "accrued_fees": number(account.fees or 0.0),
        "pending_transfer_out": "0",
        "pending_transfer_in": "0",
        "portfolio_value": number(account.equity),
        "pattern_day_trader": bool(account.pattern_day_trader),
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "created_at": timestamp(created_at),
        "trade_suspended_by_user": False,
        "multiplier": number(multiplier),
        "shorting_enabled": shorting,
        "equity": number(account.equity),
        "last_equity": number(last_equity),
        "long_market_value": number(account.long_market_value),
        "short_market_value": number(account.short_market_value),
        "initial_margin": number(account.initial_margin or 0.0),
        "maintenance_margin": number(account.maintenance_margin or 0.0),
        "last_maintenance_margin": number(last_maintenance),
        "sma": "0",
        "daytrade_count": account.daytrade_count or 0,
        "options_approved_level": 0,
        "options_trading_level": 0,
    }


def asset_json(symbol: str, *, exchange: str, flags: AssetFlags) -> dict[str, Any]:
    """A tradable US equity named `symbol` (every symbol of the config's sources), with the flags the config's
    ``broker.assets`` gives it (all true by default)."""
    return {
        "id": asset_id(symbol),
        "class": "us_equity",
        "exchange": exchange,
        "symbol": symbol,
        "name": symbol,
        "status": "active",
        "tradable": True,
        "marginable": flags.marginable,
        "shortable": flags.shortable,
        "easy_to_borrow": flags.easy_to_borrow,
        "fractionable": flags.fractionable,
        "attributes": [],
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
        "price": number(fill.price),
        "qty": number(fill.quantity),
        "side": fill.side.value,
        "symbol": fill.symbol,
        "leaves_qty": number(max(order.quantity - order.filled_quantity, 0.0)),
        "order_id": fill.order_id,
        "cum_qty": number(order.filled_quantity),
        "order_status": order.status.value,
    }


def charge_id(activity: Activity) -> str:
    """The id of a non-trade activity, as Alpaca shapes activity ids: its time, ``::``, its own id."""
    when = activity.timestamp.astimezone(UTC)
    return f"{when:%Y%m%d%H%M%S}{when.microsecond // 1000:03d}::{activity.id}"


def charge_json(activity: Activity, *, account: str) -> dict[str, Any]:
    """A borrow fee or margin interest as Alpaca's non-trade activity (``FEE``/``INT``): `net_amount` negative,
    the money left the account."""
    return {
        "id": charge_id(activity),
        "account_id": account_id(account),
        "activity_type": activity.type.value,
        "date": activity.date,
        "net_amount": number(-activity.amount),
        "description": activity.description,
        "status": "executed",
        "symbol": activity.symbol,
        "qty": number(activity.quantity),
        "price": number(activity.price),
        "per_share_amount": None,
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
        data["price"] = number(fill.price)
        data["qty"] = number(fill.quantity)
        data["position_qty"] = number(event.position_quantity)
    return data


# -- requests --------------------------------------------------------------------------------------------------


def _check_body(body: object, fields: frozenset[str], what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ApiError.invalid(f"{what}: the body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - fields)
    if unknown:
        raise ApiError.invalid(f"{what}: unknown field {unknown[0]!r}; valid: {', '.join(sorted(fields))}")
    return body


def _decimal(body: Mapping[str, Any], name: str, label: str | None = None) -> float | None:
    """A number given as a JSON number or a numeric string; None when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    field = label or name
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ApiError.invalid(f"{field} must be a number, got {value!r}")
    if isinstance(value, str) and not DECIMAL_TEXT.fullmatch(value):
        raise ApiError.invalid(f'invalid {field}: {value!r} is not a number (a decimal such as "1.5")')
    try:
        result = float(value)
    except (ValueError, OverflowError):
        raise ApiError.invalid(f"invalid {field}: {value!r} is not a number") from None
    if not math.isfinite(result):
        raise ApiError.invalid(f"invalid {field}: {value!r} is not a finite number")
    if result <= 0:
        raise ApiError.invalid(f"{field} must be > 0, got {value!r}")
    return result


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError.invalid(f"{name} must be a string, got {value!r}")
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ApiError.invalid(f"{name} must be true or false, got {value!r}")


def _leg(body: Mapping[str, Any], name: str, fields: tuple[str, ...]) -> dict[str, float] | None:
    value = body.get(name)
    if value is None:
        return None
    leg = _check_body(value, frozenset(fields), name)
    return {key: number_ for key in fields if (number_ := _decimal(leg, key, f"{name}.{key}")) is not None}


def order_request(body: object) -> OrderRequest:
    """The `OrderRequest` an Alpaca order body asks for; `ApiError` (422) naming what is wrong.

    `OrderRequest` itself checks the combinations (a limit order needs a limit price, a bracket both exits);
    its `InvalidOrder` becomes a 422 in the route."""
    fields = _check_body(body, ORDER_FIELDS, "order")
    for required in ("symbol", "side", "type", "time_in_force"):
        if fields.get(required) in (None, ""):
            raise ApiError.invalid(f"{required} is required")
    intent = _text(fields, "position_intent")
    if intent is not None and intent not in _POSITION_INTENTS:
        raise ApiError.invalid(f"position_intent must be one of {', '.join(sorted(_POSITION_INTENTS))}; got {intent!r}")
    order_class = _text(fields, "order_class") or OrderClass.SIMPLE.value
    take_profit = _leg(fields, "take_profit", ("limit_price",))
    limit_price = _decimal(fields, "limit_price")
    if order_class == OrderClass.OCO.value and limit_price is None and take_profit:
        # Alpaca's OCO body names its limit price once, in take_profit (docs.alpaca.markets/docs/orders-at-alpaca).
        limit_price = take_profit.get("limit_price")
    return OrderRequest(
        symbol=_text(fields, "symbol") or "",
        side=_text(fields, "side"),
        quantity=_decimal(fields, "qty"),
        type=_text(fields, "type"),
        time_in_force=_text(fields, "time_in_force"),
        limit_price=limit_price,
        stop_price=_decimal(fields, "stop_price"),
        trail_price=_decimal(fields, "trail_price"),
        trail_percent=_decimal(fields, "trail_percent"),
        notional=_decimal(fields, "notional"),
        extended_hours=_flag(fields, "extended_hours"),
        client_order_id=_text(fields, "client_order_id") or None,
        order_class=order_class,  # type: ignore[arg-type]
        take_profit=take_profit,  # type: ignore[arg-type]
        stop_loss=_leg(fields, "stop_loss", ("stop_price", "limit_price")),  # type: ignore[arg-type]
    )


def replace_fields(body: object) -> dict[str, Any]:
    """The keyword arguments of `Broker.replace_order` a PATCH body asks for."""
    fields = _check_body(body, REPLACE_FIELDS, "replace")
    time_in_force = _text(fields, "time_in_force")
    if time_in_force is not None:
        try:
            TimeInForce(time_in_force)
        except ValueError:
            valid = ", ".join(t.value for t in TimeInForce)
            raise ApiError.invalid(f"time_in_force must be one of {valid}; got {time_in_force!r}") from None
    return {
        "quantity": _decimal(fields, "qty"),
        "limit_price": _decimal(fields, "limit_price"),
        "stop_price": _decimal(fields, "stop_price"),
        "trail": _decimal(fields, "trail"),
        "time_in_force": time_in_force,
        "client_order_id": _text(fields, "client_order_id") or None,
    }


def opposite(side: Side) -> Side:
    """The side that reduces a position opened with `side`."""
    return Side.SELL if side is Side.BUY else Side.BUY
