"""Alpaca's Trading API v2 over the paper broker: orders, positions, account, clock, calendar, assets, activities.

Each route reads the served account (`Served`) from the app state, brings a paced clock to the present, calls
the `Broker` interface and answers in Alpaca's JSON (`translate`). Errors are `ApiError`s with Alpaca's status
codes and bodies; a malformed request changes nothing.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker_sim._numeric import QTY_EPSILON, qty_is_zero
from broker_sim.errors import BrokerError
from broker_sim.models import Order, OrderRequest, OrderStatus, Side

from . import query, translate
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
#: The calendar answers at most this many days at once.
MAX_CALENDAR_DAYS = 3660


def _legs(served: Served, order: Order) -> list[Order]:
    return [leg for leg_id in order.legs if (leg := served.broker.state.order(leg_id)) is not None]


def _order(served: Served, order: Order, nested: bool) -> dict[str, Any]:
    return translate.order_json(order, _legs(served, order) if nested and order.legs else None)


# -- orders ----------------------------------------------------------------------------------------------------


async def submit_order(request: Request, served: Served) -> Any:
    order_request = translate.order_request(await read_json(request))
    _check_tradable(served, order_request)
    order = await served.broker.submit_order(order_request)
    if order.status is OrderStatus.REJECTED and order.failed_at == order.created_at and order.reject_reason:
        # Alpaca refuses what the account cannot pay for at once, with 403; the run records the rejection.
        raise ApiError.forbidden(order.reject_reason)
    return _order(served, order, nested=True)


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
    answers = []
    for order in await served.broker.list_orders("open"):
        if order.parent_id is not None:
            continue  # a leg goes with its parent's cancel
        try:
            canceled = await served.broker.cancel_order(order.id)
            answers.append({"id": order.id, "status": 200, "body": translate.order_json(canceled)})
        except BrokerError as exc:
            error = ApiError.from_broker(exc)
            answers.append({"id": order.id, "status": error.status, "body": error.body})
    return JSONResponse(answers, status_code=207)


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
    """How much of a position open closing orders hold (Alpaca's qty_available is the rest)."""
    closing = Side.SELL if quantity > 0 else Side.BUY
    return sum(
        order.remaining_quantity
        for order in await served.broker.list_orders("open", [symbol])
        if order.side is closing and order.parent_id is None
    )


async def list_positions(request: Request, served: Served) -> Any:
    exchange = served.settings.exchange
    return [
        translate.position_json(p, exchange=exchange, held=await _held(served, p.symbol, p.quantity))
        for p in await served.broker.get_positions()
    ]


async def get_position(request: Request, served: Served) -> Any:
    symbol = request.path_params["symbol"]
    position = await served.broker.get_position(symbol)
    if position is None:
        raise ApiError.not_found("position does not exist")
    held = await _held(served, symbol, position.quantity)
    return translate.position_json(position, exchange=served.settings.exchange, held=held)


async def close_position(request: Request, served: Served) -> Any:
    symbol = request.path_params["symbol"]
    params = request.query_params
    asked, percentage = query.positive(params, "qty"), query.positive(params, "percentage")
    if asked is not None and percentage is not None:
        raise ApiError.invalid("give qty or percentage, not both")
    position = await served.broker.get_position(symbol)
    if position is None:
        raise ApiError.not_found("position does not exist")
    held = abs(position.quantity)
    quantity = held
    if asked is not None:
        quantity = asked
        if quantity > held + QTY_EPSILON:
            raise ApiError.forbidden(
                f"insufficient qty available for order (requested: {params['qty']}, "
                f"available: {translate.number(held)})"
            )
    elif percentage is not None:
        if percentage > 100:
            raise ApiError.invalid(f"percentage must be <= 100, got {params['percentage']!r}")
        quantity = round(held * percentage / 100.0, 9)
    if qty_is_zero(quantity - held):
        order = await served.broker.close_position(symbol)
    else:
        side = Side.SELL if position.quantity > 0 else Side.BUY
        order = await served.broker.submit_order(
            OrderRequest(symbol, side, quantity, reference_price=position.market_price)
        )
    return translate.order_json(order)


async def close_all_positions(request: Request, served: Served) -> Any:
    if query.flag(request.query_params, "cancel_orders"):
        for order in await served.broker.list_orders("open"):
            if order.parent_id is None:
                with contextlib.suppress(BrokerError):  # it ended on its own meanwhile
                    await served.broker.cancel_order(order.id)
    answers = []
    for position in await served.broker.get_positions():
        try:
            order = await served.broker.close_position(position.symbol)
            answers.append(
                {"symbol": position.symbol, "order_id": order.id, "status": 200, "body": translate.order_json(order)}
            )
        except BrokerError as exc:
            error = ApiError.from_broker(exc)
            answers.append({"symbol": position.symbol, "status": error.status, "body": error.body})
    return JSONResponse(answers, status_code=207)


# -- account, clock, calendar, assets, activities --------------------------------------------------------------


async def get_account(request: Request, served: Served) -> Any:
    broker = served.broker
    settings = broker.settings
    return translate.account_json(
        await broker.get_account(),
        name=served.settings.account,
        created_at=served.created_at,
        multiplier=settings.margin_multiplier if settings.account == "margin" else 1.0,
        shorting=settings.allow_short,
        last_equity=settings.initial_balance,
    )


def _zone(served: Served) -> Any:
    return getattr(served.session, "timezone", None) or UTC


async def get_clock(request: Request, served: Served) -> Any:
    now = served.clock.time()
    session = served.session
    zone = _zone(served)
    return {
        "timestamp": translate.local_timestamp(now, zone),
        "is_open": session.in_session(now),
        "next_open": translate.local_timestamp(session.next_open(now), zone),
        "next_close": translate.local_timestamp(session.next_close(now), zone),
    }


async def get_calendar(request: Request, served: Served) -> Any:
    zone = _zone(served)
    today = datetime.fromtimestamp(served.clock.time(), zone).date()
    params = request.query_params
    start = query.day(params, "start") or today
    end = query.day(params, "end") or start + timedelta(days=30)
    if end < start:
        raise ApiError.invalid(f"end {end} is before start {start}")
    if (end - start).days > MAX_CALENDAR_DAYS:
        raise ApiError.invalid(f"the calendar spans at most {MAX_CALENDAR_DAYS} days")
    days = []
    day = start
    while day <= end:
        bounds = served.session.close_on(day)
        if bounds is not None:
            opens = datetime.fromtimestamp(bounds[0], zone)
            closes = datetime.fromtimestamp(bounds[1], zone)
            if closes.date() != opens.date() and closes.time() == time(0):
                closes -= timedelta(minutes=1)  # a session to midnight: Alpaca's calendar has no 24:00
            if opens.date() == closes.date():  # nor overnight sessions
                days.append(
                    {
                        "date": day.isoformat(),
                        "open": f"{opens:%H:%M}",
                        "close": f"{closes:%H:%M}",
                        "session_open": f"{opens:%H%M}",
                        "session_close": f"{closes:%H%M}",
                        "settlement_date": (day + timedelta(days=1)).isoformat(),
                    }
                )
        day += timedelta(days=1)
    return days


async def list_assets(request: Request, served: Served) -> Any:
    status = request.query_params.get("status")
    if status not in (None, "", "active"):
        return []
    shortable = served.broker.settings.allow_short
    return [translate.asset_json(s, exchange=served.settings.exchange, shortable=shortable) for s in served.tradable()]


async def get_asset(request: Request, served: Served) -> Any:
    symbol = request.path_params["symbol"]
    by_id = {translate.asset_id(s): s for s in served.tradable()}
    symbol = by_id.get(symbol, symbol)
    if symbol not in served.tradable():
        raise ApiError.not_found(f"asset not found for {symbol}")
    return translate.asset_json(symbol, exchange=served.settings.exchange, shortable=served.broker.settings.allow_short)


async def list_activities(request: Request, served: Served) -> Any:
    """FILL activities, as Alpaca pages them: `page_size` (at most 100) from after the activity whose id is
    `page_token`, in `direction`, within `after`/`until` or on one exchange-time `date`."""
    params = request.query_params
    after, until = query.moment(params, "after"), query.moment(params, "until")
    on = query.day(params, "date")
    direction = query.choice(params, "direction", _DIRECTIONS, "desc")
    page_size = query.integer(params, "page_size", MAX_ACTIVITIES, high=MAX_ACTIVITIES)
    token = params.get("page_token")
    kind = request.path_params.get("activity_type") or params.get("activity_types")
    if kind is not None and "FILL" not in kind.split(","):
        return []
    zone = _zone(served)
    chosen = [
        (fill, order)
        for fill, order in served.activities
        if (after is None or fill.timestamp > after)
        and (until is None or fill.timestamp < until)
        and (on is None or fill.timestamp.astimezone(zone).date() == on)
    ]
    if direction == "desc":
        chosen.reverse()
    if token is not None:
        at = next((i for i, (fill, _) in enumerate(chosen) if translate.activity_id(fill) == token), None)
        if at is None:
            raise ApiError.invalid(f"page_token {token!r} is not the id of an activity in this listing")
        chosen = chosen[at + 1 :]
    account = served.settings.account
    return [translate.activity_json(fill, order, account=account) for fill, order in chosen[:page_size]]


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
