"""Alpaca's Trading API v2 over the paper broker: orders, positions, account, clock, calendar, assets, activities.

Each route reads the served account (`Served`) from the app state, brings a paced clock to the present, calls
the `Broker` interface and answers in Alpaca's JSON (`translate`). Errors are `ApiError`s with Alpaca's status
codes and bodies; a malformed request changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker_sim import alpaca_wire
from broker_sim._numeric import qty_at_least, qty_is_zero
from broker_sim.activities import Activity, ActivityType
from broker_sim.errors import BrokerError
from broker_sim.models import Order, OrderRequest, OrderStatus, Side
from broker_sim.rules import held_for_orders

from . import markets, query, translate
from .errors import ApiError
from .routing import read_json, resource
from .state import Served

__all__ = ["routes"]

#: Alpaca's default and largest page of orders.
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
_LIST_STATUSES = ("open", "closed", "all")
_DIRECTIONS = ("asc", "desc")
#: Alpaca's default and largest page of account activities.
MAX_ACTIVITIES = 100
#: The non-trade activities the paper account books (borrow fees, margin interest).
_CHARGES = frozenset({ActivityType.FEE.value, ActivityType.INT.value})
#: The statuses an order never leaves, as `wait_for` takes them.
_FINAL = ("filled", "canceled", "expired", "rejected", "replaced")
#: The calendar answers at most this many days at once.
MAX_CALENDAR_DAYS = 3660
#: Alpaca's asset classes; the simulator serves US equities only.
ASSET_CLASSES = ("us_equity", "us_option", "crypto")


def _legs(served: Served, order: Order) -> list[Order]:
    return [leg for leg_id in order.legs if (leg := served.broker.state.order(leg_id)) is not None]


def _order(served: Served, order: Order, nested: bool) -> dict[str, Any]:
    return alpaca_wire.order_json(order, _legs(served, order) if nested and order.legs else None)


# -- orders ----------------------------------------------------------------------------------------------------


async def submit_order(request: Request, served: Served) -> Any:
    order_request = translate.order_request(await read_json(request))
    _check_tradable(served, order_request)
    # What Alpaca refuses at the door (403, 422) the paper broker raises as an `OrderRefused`: nothing recorded.
    return _order(served, await served.broker.submit_order(order_request), nested=True)


def _check_tradable(served: Served, order_request: OrderRequest) -> None:
    if order_request.symbol not in served.tradable():
        raise ApiError.invalid(f'asset "{order_request.symbol}" not found')


async def list_orders(request: Request, served: Served) -> Any:
    params = request.query_params
    status = query.choice(params, "status", _LIST_STATUSES, "open")
    limit = query.integer(params, "limit", DEFAULT_LIMIT, high=MAX_LIMIT)
    direction = query.choice(params, "direction", _DIRECTIONS, "desc")
    after, until = query.moment(params, "after"), query.moment(params, "until")
    symbols = query.symbols(params)
    side = query.option(params, "side", ("buy", "sell"))
    nested = query.flag(params, "nested")
    orders = await served.broker.list_orders(status, symbols)
    chosen = [
        order
        for order in orders
        if (after is None or _submitted(order) > after)
        and (until is None or _submitted(order) < until)
        and (side is None or order.side.value == side)
        and not (nested and order.parent_id is not None)
    ]
    chosen.sort(key=_submitted, reverse=direction == "desc")
    return [_order(served, order, nested) for order in chosen[:limit]]


def _submitted(order: Order) -> datetime:
    return order.submitted_at or order.created_at


async def cancel_all_orders(request: Request, served: Served) -> Any:
    return JSONResponse(await _cancel_all(served), status_code=207)


async def _cancel_all(served: Served) -> list[dict[str, Any]]:
    """Cancel every open order, legs included, one answer per order open when asked (Alpaca's 207 body). A cancel
    of a bracket's, oto's or oco's member cancels its group: a member canceled with an earlier one is answered
    as it stands, not asked again."""
    broker = served.broker
    answers = []
    for order in await broker.list_orders("open"):
        current = await broker.get_order(order.id)
        if current.status.is_final or current.status is OrderStatus.PENDING_CANCEL:
            if current.status in (OrderStatus.CANCELED, OrderStatus.PENDING_CANCEL):
                answers.append({"id": order.id, "status": 200, "body": alpaca_wire.order_json(current)})
            continue  # it filled or expired meanwhile
        try:
            canceled = await broker.cancel_order(order.id)
            answers.append({"id": order.id, "status": 200, "body": alpaca_wire.order_json(canceled)})
        except BrokerError as exc:
            error = ApiError.from_broker(exc)
            answers.append({"id": order.id, "status": error.status, "body": error.body})
    return answers


async def get_order(request: Request, served: Served) -> Any:
    order = await served.broker.get_order(request.path_params["order_id"])
    return _order(served, order, query.flag(request.query_params, "nested"))


async def get_order_by_client_id(request: Request, served: Served) -> Any:
    client_order_id = request.query_params.get("client_order_id")
    if not client_order_id:
        raise ApiError.invalid("client_order_id is required")
    return _order(served, await served.broker.get_order_by_client_id(client_order_id), nested=True)


async def replace_order(request: Request, served: Served) -> Any:
    order_id = request.path_params["order_id"]
    fields = translate.replace_fields(await read_json(request))
    await served.broker.get_order(order_id)  # 404 before 422
    return _order(served, await served.broker.replace_order(order_id, **fields), nested=True)


async def cancel_order(request: Request, served: Served) -> Any:
    await served.broker.cancel_order(request.path_params["order_id"])
    return Response(status_code=204)


# -- positions -------------------------------------------------------------------------------------------------


async def _held(served: Served, symbol: str, quantity: float) -> float:
    """How much of a position open closing orders hold (Alpaca's qty_available is the rest; the rule that refuses
    a sell beyond it counts the same way)."""
    closing = Side.SELL if quantity > 0 else Side.BUY
    return held_for_orders(await served.broker.list_orders("open", [symbol]), closing)


async def list_positions(request: Request, served: Served) -> Any:
    exchange = served.settings.exchange
    return [
        alpaca_wire.position_json(p, exchange=exchange, held=await _held(served, p.symbol, p.quantity))
        for p in await served.broker.get_positions()
    ]


async def get_position(request: Request, served: Served) -> Any:
    symbol = request.path_params["symbol"]
    position = await served.broker.get_position(symbol)
    if position is None:
        raise ApiError.not_found("position does not exist")
    held = await _held(served, symbol, position.quantity)
    return alpaca_wire.position_json(position, exchange=served.settings.exchange, held=held)


async def close_position(request: Request, served: Served) -> Any:
    symbol = request.path_params["symbol"]
    params = request.query_params
    asked, percentage = query.positive(params, "qty"), query.positive(params, "percentage")
    if asked is not None and percentage is not None:
        raise ApiError.invalid("give qty or percentage, not both")
    position = await served.broker.get_position(symbol)
    if position is None:
        raise ApiError.not_found("position does not exist")
    whole = abs(position.quantity)
    quantity = whole
    if asked is not None:
        quantity = asked
    elif percentage is not None:
        if percentage > 100:
            raise ApiError.invalid(f"percentage must be <= 100, got {params['percentage']!r}")
        quantity = round(whole * percentage / 100.0, 9)
    # Alpaca refuses at once (403) to close shares an open order already holds: only qty_available can go.
    available = max(whole - await _held(served, symbol, position.quantity), 0.0)
    if not qty_at_least(available, quantity):
        raise ApiError.forbidden(
            f"insufficient qty available for order (requested: {alpaca_wire.number_text(quantity)}, "
            f"available: {alpaca_wire.number_text(available)})"
        )
    if qty_is_zero(quantity - whole):
        order = await served.broker.close_position(symbol)
    else:
        side = Side.SELL if position.quantity > 0 else Side.BUY
        order = await served.broker.submit_order(
            OrderRequest(symbol, side, quantity, reference_price=position.market_price)
        )
    return alpaca_wire.order_json(order)


async def close_all_positions(request: Request, served: Served) -> Any:
    if query.flag(request.query_params, "cancel_orders"):
        # The exits of brackets too (they would trigger on a flat account); a canceling order holds its shares
        # until its cancel is through.
        for answer in await _cancel_all(served):
            if answer["status"] == 200 and answer["body"]["status"] == OrderStatus.PENDING_CANCEL.value:
                await served.broker.wait_for(answer["id"], *_FINAL)
    answers = []
    for position in await served.broker.get_positions():
        held = await _held(served, position.symbol, position.quantity)
        if not qty_is_zero(held):  # as one close: what an open order holds cannot go twice
            available = max(abs(position.quantity) - held, 0.0)
            error = ApiError.forbidden(
                f"insufficient qty available for order (requested: {alpaca_wire.number_text(abs(position.quantity))}, "
                f"available: {alpaca_wire.number_text(available)})"
            )
            answers.append({"symbol": position.symbol, "status": error.status, "body": error.body})
            continue
        try:
            order = await served.broker.close_position(position.symbol)
            answers.append(
                {"symbol": position.symbol, "order_id": order.id, "status": 200, "body": alpaca_wire.order_json(order)}
            )
        except BrokerError as exc:
            error = ApiError.from_broker(exc)
            answers.append({"symbol": position.symbol, "status": error.status, "body": error.body})
    return JSONResponse(answers, status_code=207)


# -- account, clock, calendar, assets, activities --------------------------------------------------------------


async def get_account(request: Request, served: Served) -> Any:
    broker = served.broker
    settings = broker.settings
    rules = broker.rules
    answer = alpaca_wire.account_json(
        await broker.get_account(),
        name=served.settings.account,
        created_at=served.created_at,
        multiplier=settings.margin_multiplier if settings.account == "margin" else 1.0,
        shorting=broker.shorting_enabled,
    )
    answer["trade_suspended_by_user"] = rules.suspend_trade
    return answer


async def get_clock(request: Request, served: Served) -> Any:
    now = served.clock.time()
    session = served.session
    zone = served.timezone
    return {
        "timestamp": translate.local_timestamp(now, zone),
        "is_open": session.in_session(now),
        "next_open": translate.local_timestamp(session.next_open(now), zone),
        "next_close": translate.local_timestamp(session.next_close(now), zone),
    }


async def get_calendar(request: Request, served: Served) -> Any:
    start, end = markets.calendar_window(request, served)
    return [
        {
            "date": day.isoformat(),
            "open": f"{opens:%H:%M}",
            "close": f"{closes:%H:%M}",
            "session_open": f"{opens:%H%M}",
            "session_close": f"{closes:%H%M}",
            "settlement_date": (day + timedelta(days=1)).isoformat(),
        }
        for day, opens, closes in markets.session_days(served, start, end)
    ]


async def list_assets(request: Request, served: Served) -> Any:
    """The served symbols as US equities: a filter on another status, asset class or exchange answers none."""
    params = request.query_params
    status = params.get("status")
    asset_class = query.option(params, "asset_class", ASSET_CLASSES)
    exchange = params.get("exchange")
    if status not in (None, "", "active") or asset_class not in (None, "us_equity"):
        return []
    if exchange not in (None, "", served.settings.exchange):
        return []
    broker, exchange = served.broker, served.settings.exchange
    return [translate.asset_json(s, exchange=exchange, flags=broker.asset(s)) for s in served.tradable()]


async def get_asset(request: Request, served: Served) -> Any:
    symbol = request.path_params["symbol"]
    by_id = {alpaca_wire.asset_id(s): s for s in served.tradable()}
    symbol = by_id.get(symbol, symbol)
    if symbol not in served.tradable():
        raise ApiError.not_found(f"asset not found for {symbol}")
    return translate.asset_json(symbol, exchange=served.settings.exchange, flags=served.broker.asset(symbol))


async def list_activities(request: Request, served: Served) -> Any:
    """Account activities as Alpaca pages them: FILL (each fill), FEE (borrow fees) and INT (margin interest),
    `page_size` (at most 100) from after the activity whose id is `page_token`, in `direction`, within
    `after`/`until` or on one exchange-time `date`, of the `activity_types` asked (all by default)."""
    params = request.query_params
    after, until = query.moment(params, "after"), query.moment(params, "until")
    on = query.day(params, "date")
    direction = query.choice(params, "direction", _DIRECTIONS, "desc")
    page_size = query.integer(params, "page_size", MAX_ACTIVITIES, high=MAX_ACTIVITIES)
    token = params.get("page_token")
    kind = request.path_params.get("activity_type") or params.get("activity_types")
    wanted = set(kind.split(",")) if kind is not None else {"FILL", *_CHARGES}
    account = served.settings.account
    zone = served.timezone
    listed: list[tuple[datetime, str, Any]] = []
    if "FILL" in wanted:
        listed.extend(
            (fill.timestamp, alpaca_wire.activity_id(fill), (fill, order)) for fill, order in served.activities
        )
    if wanted & _CHARGES:
        listed.extend(
            (charge.timestamp, translate.charge_id(charge), charge)
            for charge in served.broker.state.activities
            if charge.type.value in wanted
        )
    listed.sort(key=lambda entry: entry[0])  # stable: fills keep their order
    chosen = [
        entry
        for entry in listed
        if (after is None or entry[0] > after)
        and (until is None or entry[0] < until)
        and (on is None or entry[0].astimezone(zone).date() == on)
    ]
    if direction == "desc":
        chosen.reverse()
    if token is not None:
        at = next((i for i, entry in enumerate(chosen) if entry[1] == token), None)
        if at is None:
            raise ApiError.invalid(f"page_token {token!r} is not the id of an activity in this listing")
        chosen = chosen[at + 1 :]
    return [_activity_json(item, account) for _, _, item in chosen[:page_size]]


def _activity_json(item: Any, account: str) -> dict[str, Any]:
    if isinstance(item, Activity):
        return translate.charge_json(item, account=account)
    fill, order = item
    return alpaca_wire.activity_json(fill, order, account=account)


def routes() -> list[Route]:
    """The Trading API routes."""
    return [
        resource("/v2/account", {"GET": get_account}),
        resource("/v2/account/activities", {"GET": list_activities}),
        resource("/v2/account/activities/{activity_type}", {"GET": list_activities}),
        resource("/v2/orders", {"POST": submit_order, "GET": list_orders, "DELETE": cancel_all_orders}),
        resource("/v2/orders:by_client_order_id", {"GET": get_order_by_client_id}),
        resource("/v2/orders/{order_id}", {"GET": get_order, "PATCH": replace_order, "DELETE": cancel_order}),
        resource("/v2/positions", {"GET": list_positions, "DELETE": close_all_positions}),
        resource("/v2/positions/{symbol}", {"GET": get_position, "DELETE": close_position}),
        resource("/v2/clock", {"GET": get_clock}),
        resource("/v2/calendar", {"GET": get_calendar}),
        resource("/v2/assets", {"GET": list_assets}),
        resource("/v2/assets/{symbol}", {"GET": get_asset}),
    ]
