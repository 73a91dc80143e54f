"""The server's own side of Alpaca's JSON: assets, non-trade activities, and Alpaca's request bodies as ours.

The entities both sides share (orders, positions, the account, fills, trade updates) are `broker_sim.alpaca_wire`'s.
Requests accept numbers as JSON numbers or as numeric strings, as Alpaca does; anything malformed raises
`ApiError` (422) naming the field and the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from broker_sim.activities import Activity
from broker_sim.alpaca_wire import account_id, asset_id, number_text
from broker_sim.models import OrderClass, OrderRequest, Side, TimeInForce
from broker_sim.rules import AssetFlags

from .errors import ApiError
from .query import DECIMAL_TEXT
from .routing import json_object

__all__ = [
    "asset_json",
    "charge_id",
    "charge_json",
    "local_timestamp",
    "order_request",
    "replace_fields",
]

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


def local_timestamp(posix: float, zone: tzinfo) -> str:
    """RFC 3339 in the exchange's time zone (Alpaca's clock answers in New York time)."""
    return datetime.fromtimestamp(posix, zone).isoformat()


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
        "net_amount": number_text(-activity.amount),
        "description": activity.description,
        "status": "executed",
        "symbol": activity.symbol,
        "qty": number_text(activity.quantity),
        "price": number_text(activity.price),
        "per_share_amount": None,
    }


# -- requests --------------------------------------------------------------------------------------------------


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
    leg = json_object(value, frozenset(fields), name)
    return {key: number_ for key in fields if (number_ := _decimal(leg, key, f"{name}.{key}")) is not None}


def order_request(body: object) -> OrderRequest:
    """The `OrderRequest` an Alpaca order body asks for; `ApiError` (422) naming what is wrong.

    `OrderRequest` itself checks the combinations (a limit order needs a limit price, a bracket both exits);
    its `InvalidOrder` becomes a 422 in the route."""
    fields = json_object(body, ORDER_FIELDS, "order")
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
    fields = json_object(body, REPLACE_FIELDS, "replace")
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
