"""Alpaca's documented JSON shapes (as in Alpaca's API reference and alpaca-py's test fixtures) read into our
types, and our requests written as Alpaca's: numbers as decimal strings, without losing precision."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker_sim import alpaca_wire
from broker_sim.adapters.alpaca import translate
from broker_sim.models import EventType, OrderClass, OrderRequest, OrderStatus, OrderType, Side, TimeInForce

ORDER = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
    "client_order_id": "eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4",
    "created_at": "2021-03-16T18:38:01.942282Z",
    "updated_at": "2021-03-16T18:38:01.942282Z",
    "submitted_at": "2021-03-16T18:38:01.937734Z",
    "filled_at": None,
    "expired_at": None,
    "canceled_at": None,
    "failed_at": None,
    "replaced_at": None,
    "replaced_by": None,
    "replaces": None,
    "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
    "symbol": "AAPL",
    "asset_class": "us_equity",
    "notional": None,
    "qty": "0.123456789",
    "filled_qty": "0",
    "filled_avg_price": None,
    "order_class": "",
    "order_type": "limit",
    "type": "limit",
    "side": "buy",
    "time_in_force": "day",
    "limit_price": "172.0999",
    "stop_price": None,
    "status": "accepted",
    "extended_hours": False,
    "legs": None,
    "trail_percent": None,
    "trail_price": None,
    "hwm": None,
}


def _order(**fields: object) -> dict[str, object]:
    return {**ORDER, **fields}


def test_an_order_entity_keeps_every_field_and_its_decimal_strings_exactly() -> None:
    order = alpaca_wire.order_from_json(ORDER)
    assert order.id == ORDER["id"] and order.client_order_id == ORDER["client_order_id"]
    assert (order.symbol, order.side, order.type, order.time_in_force) == (
        "AAPL",
        Side.BUY,
        OrderType.LIMIT,
        TimeInForce.DAY,
    )
    assert order.quantity == float(Decimal("0.123456789")) and order.limit_price == 172.0999
    assert order.status is OrderStatus.ACCEPTED and order.filled_quantity == 0 and order.filled_avg_price is None
    assert order.created_at == datetime(2021, 3, 16, 18, 38, 1, 942282, tzinfo=UTC)
    assert order.submitted_at == datetime(2021, 3, 16, 18, 38, 1, 937734, tzinfo=UTC)
    assert order.order_class is OrderClass.SIMPLE and order.legs == ()


@pytest.mark.parametrize(
    ("fields", "check"),
    [
        ({"type": "market", "order_type": "market", "limit_price": None}, lambda o: o.type is OrderType.MARKET),
        (
            {"type": "stop_limit", "stop_price": "170.5", "time_in_force": "gtc"},
            lambda o: (o.type, o.stop_price, o.time_in_force) == (OrderType.STOP_LIMIT, 170.5, TimeInForce.GTC),
        ),
        (
            {"type": "trailing_stop", "limit_price": None, "trail_percent": "1.25", "hwm": "180.01"},
            lambda o: (o.trail_percent, o.hwm) == (1.25, 180.01),
        ),
        (
            {"type": "market", "limit_price": None, "qty": None, "notional": "500.25", "status": "new"},
            lambda o: (o.notional, o.quantity) == (500.25, 0.0),
        ),
        (
            {
                "status": "filled",
                "filled_qty": "0.123456789",
                "filled_avg_price": "171.98",
                "filled_at": "2021-03-16T18:38:02Z",
            },
            lambda o: o.filled_quantity == o.quantity and o.filled_avg_price == 171.98 and o.filled_at is not None,
        ),
        (
            {
                "status": "replaced",
                "replaced_by": "f8e3b8c1-1d2b-4a5c-9b8e-0a5f4d3c2b1a",
                "replaced_at": "2021-03-16T18:39:00Z",
            },
            lambda o: o.status is OrderStatus.REPLACED and o.replaced_by.startswith("f8e3"),
        ),
        ({"time_in_force": "opg", "type": "market", "limit_price": None}, lambda o: o.time_in_force is TimeInForce.OPG),
        ({"status": "done_for_day"}, lambda o: o.status is OrderStatus.DONE_FOR_DAY),
    ],
)
def test_orders_of_every_type_and_status_parse(fields: dict[str, object], check: object) -> None:
    assert check(alpaca_wire.order_from_json(_order(**fields)))  # type: ignore[operator]


def test_a_bracket_order_carries_its_legs_with_their_parent() -> None:
    take = _order(id="leg-take", type="limit", limit_price="190", status="held", side="sell", order_class="bracket")
    stop = _order(id="leg-stop", type="stop", limit_price=None, stop_price="160", status="held", side="sell")
    data = _order(order_class="bracket", legs=[take, stop])
    order = alpaca_wire.order_from_json(data)
    assert order.order_class is OrderClass.BRACKET and order.legs == ("leg-take", "leg-stop")
    legs = alpaca_wire.legs_from_json(data)
    assert [(leg.id, leg.parent_id, leg.status) for leg in legs] == [
        ("leg-take", ORDER["id"], OrderStatus.HELD),
        ("leg-stop", ORDER["id"], OrderStatus.HELD),
    ]


def test_a_short_position_is_negative_and_its_values_are_exact() -> None:
    position = alpaca_wire.position_from_json(
        {
            "asset_id": "904837e3-3b76-47ec-b432-046db621571b",
            "symbol": "AAPL",
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "avg_entry_price": "100.0",
            "qty": "5",
            "qty_available": "5",
            "side": "short",
            "market_value": "-600.0",
            "cost_basis": "-500.0",
            "unrealized_pl": "-100.0",
            "unrealized_plpc": "-0.20",
            "current_price": "120.0",
            "lastday_price": "119.0",
            "change_today": "0.0084033613445378",
        }
    )
    assert (position.quantity, position.avg_price, position.market_price) == (-5, 100.0, 120.0)
    assert (position.market_value, position.cost_basis, position.unrealized_pnl) == (-600.0, -500.0, -100.0)
    assert position.realized_pnl is None


def test_the_account_entity_reads_cash_equity_and_buying_power() -> None:
    account = alpaca_wire.account_from_json(
        {
            "id": "e6fe16f3-64a4-4921-8928-cadf02f92f98",
            "account_number": "010203ABCD",
            "status": "ACTIVE",
            "currency": "USD",
            "cash": "-23140.2",
            "portfolio_value": "103820.56",
            "equity": "103820.56",
            "buying_power": "262113.632",
            "long_market_value": "126960.76",
            "short_market_value": "0",
            "initial_margin": "63480.38",
            "maintenance_margin": "38088.228",
            "pattern_day_trader": False,
            "multiplier": "4",
        }
    )
    assert (account.cash, account.equity, account.buying_power) == (-23140.2, 103820.56, 262113.632)
    assert (account.long_market_value, account.maintenance_margin) == (126960.76, 38088.228)
    assert account.realized_pnl is None and account.fees is None and account.initial_balance is None


def test_a_fill_activity_gives_the_execution_id_after_the_double_colon() -> None:
    fill = alpaca_wire.fill_from_activity(
        {
            "id": "20190524113406977::8efc7b9a-8b2b-4000-9955-d36e7db0df74",
            "activity_type": "FILL",
            "transaction_time": "2019-05-24T15:34:06.977Z",
            "type": "fill",
            "price": "1.63",
            "qty": "0.5",
            "side": "buy",
            "symbol": "LPCN",
            "leaves_qty": "0",
            "order_id": "904837e3-3b76-47ec-b432-046db621571b",
            "cum_qty": "1",
        }
    )
    assert fill.execution_id == "8efc7b9a-8b2b-4000-9955-d36e7db0df74"
    assert (fill.order_id, fill.symbol, fill.side, fill.quantity, fill.price) == (
        "904837e3-3b76-47ec-b432-046db621571b",
        "LPCN",
        Side.BUY,
        0.5,
        1.63,
    )


@pytest.mark.parametrize("event", [e.value for e in EventType if e is not EventType.MARGIN_CALL])
def test_every_trade_update_event_parses(event: str) -> None:
    data: dict[str, object] = {"event": event, "order": ORDER, "timestamp": "2021-03-16T18:38:02.000000Z"}
    if event in ("fill", "partial_fill"):
        data.update(price="172.0999", qty="0.1", position_qty="10.1", execution_id="exec-1")
    update = alpaca_wire.event_from_json(data)
    assert update.type is EventType(event) and update.order.id == ORDER["id"]
    assert update.timestamp == datetime(2021, 3, 16, 18, 38, 2, tzinfo=UTC)
    if event in ("fill", "partial_fill"):
        assert update.fill is not None and update.fill.execution_id == "exec-1"
        assert (update.fill.price, update.fill.quantity, update.position_quantity) == (172.0999, 0.1, 10.1)
    else:
        assert update.fill is None


def test_a_fill_update_without_price_is_refused_naming_it() -> None:
    with pytest.raises(alpaca_wire.PayloadError, match="needs price and qty"):
        alpaca_wire.event_from_json({"event": "fill", "order": ORDER, "qty": "1"})
    with pytest.raises(alpaca_wire.PayloadError, match="qty must be a decimal string, got 'lots'"):
        alpaca_wire.order_from_json(_order(qty="lots"))


def test_requests_are_written_as_alpacas_bodies_with_decimal_strings() -> None:
    request = OrderRequest(
        "AAPL",
        "buy",
        0.000000001,
        type="limit",
        limit_price=123456789.12,
        time_in_force="gtc",
        client_order_id="cid-1",
        order_class="bracket",
        take_profit={"limit_price": 130000000.5},
        stop_loss={"stop_price": 100000000.25, "limit_price": 99999999.75},
    )
    assert translate.order_request_json(request) == {
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "time_in_force": "gtc",
        "qty": "0.000000001",
        "limit_price": "123456789.12",
        "client_order_id": "cid-1",
        "order_class": "bracket",
        "take_profit": {"limit_price": "130000000.5"},
        "stop_loss": {"stop_price": "100000000.25", "limit_price": "99999999.75"},
    }


def test_an_oco_request_is_written_in_alpacas_documented_shape_without_a_top_level_limit_price() -> None:
    request = OrderRequest(
        "AAPL", "sell", 10, type="limit", time_in_force="gtc", order_class="oco",
        take_profit={"limit_price": 325}, stop_loss={"stop_price": 250, "limit_price": 249.5},
    )  # fmt: skip
    assert translate.order_request_json(request) == {  # the body of Alpaca's oco example
        "symbol": "AAPL",
        "side": "sell",
        "type": "limit",
        "time_in_force": "gtc",
        "qty": "10",
        "order_class": "oco",
        "take_profit": {"limit_price": "325"},
        "stop_loss": {"stop_price": "250", "limit_price": "249.5"},
    }


@given(st.floats(min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_a_number_makes_the_round_trip_through_its_decimal_string_unchanged(value: float) -> None:
    text = translate.decimal_text(value)
    assert "e" not in text.lower() and alpaca_wire.parse_number(text) == value


async def test_a_bracket_keeps_its_legs_when_the_stream_told_a_later_status_before_the_post_answered() -> None:
    import httpx

    from broker_sim import PaperBroker, SimulatedClock, Trade
    from broker_sim.adapters.alpaca import AlpacaBroker
    from broker_sim.alpaca_wire import order_json, trade_update_json
    from tests.adapters.alpaca.feed import TradeUpdatesFeed
    from tests.conftest import T0

    paper = PaperBroker(100_000, clock=SimulatedClock(T0), latency={"model": "constant", "seconds": 1.0})
    seen: list[Any] = []
    paper.add_listener(seen.append)
    await paper.update_market(Trade("AAPL", T0, 100.0, 100.0))
    request = OrderRequest(
        "AAPL", "buy", 10, order_class="bracket", client_order_id="bracket-1",
        take_profit={"limit_price": 110.0}, stop_loss={"stop_price": 95.0},
    )  # fmt: skip
    entry = await paper.submit_order(request)  # pending_new: on its way to the venue
    legs = [await paper.get_order(i) for i in entry.legs]
    await paper.clock.advance(2.0)  # type: ignore[attr-defined]  # it arrives and fills
    fill = next(e for e in seen if e.order.id == entry.id and e.fill is not None)
    alpaca: AlpacaBroker | None = None

    async def venue(asked: httpx.Request) -> httpx.Response:
        assert alpaca is not None
        if asked.method == "POST":  # the stream is first: filled, no legs in the update
            await feed.tell(alpaca, trade_update_json(fill))
            return httpx.Response(200, json=order_json(entry, legs))  # the POST's answer: pending_new, legs nested
        return httpx.Response(200, json=[order_json(fill.order)])  # a list without nesting: no legs

    async with TradeUpdatesFeed(ORDER).running() as feed:
        alpaca = AlpacaBroker(
            base_url="http://venue.test", key_id="k", secret_key="s", stream_url=feed.url,
            transport=httpx.MockTransport(venue),
        )  # fmt: skip
        await alpaca.connect()
        kept = await alpaca.submit_order(request)
        assert kept.status.value == "filled" and kept.legs == entry.legs
        await feed.tell(alpaca, trade_update_json(fill))  # a later report without legs does not drop them
        (listed,) = await alpaca.list_orders("all")
        assert listed.id == entry.id and listed.legs == entry.legs
        await alpaca.close()
