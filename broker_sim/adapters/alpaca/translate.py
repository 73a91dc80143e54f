"""The adapter's own side of Alpaca's JSON: our requests (an order, a replace) as Alpaca's request bodies.

What Alpaca answers with (orders, positions, the account, fills, trade updates) is read by
`broker_sim.alpaca_wire`, the codec the server writes them with. Going out, a float is written as the shortest
decimal string that reads back as the same float (``repr``), never in exponent form, so a quantity or price makes
the round trip unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from broker_sim.models import OrderClass, OrderRequest, TimeInForce

__all__ = ["decimal_text", "order_request_json", "replace_json"]


def decimal_text(value: float) -> str:
    """`value` as the shortest plain decimal string that reads back as the same float (no exponent)."""
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


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
