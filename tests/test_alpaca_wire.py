"""The Alpaca wire codec (`broker_sim.alpaca_wire`) round-trips: whatever the server encodes, the adapter decodes
back to the same value, for every order, fill, position, account and order event the wire can carry.

The wire carries what Alpaca's entities have. Fields it has no place for are generated at the value decoding
gives them: an order's `reference_price`, `reject_reason`, `triggered_at` (None) and `submitted_at` (always set:
Alpaca always sends one); a fill's `fee` (0: Alpaca reports fees apart) and `reference_price` (its price); an
account's realized and unrealized P&L, fees and initial balance (None); a position's realized P&L (None).
Numbers have at most 9 decimals, as Alpaca's strings do.

Requests go the other way and are each side's own (the adapter writes order and replace bodies, the server reads
them): the same round trip holds from one to the other.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import attrs
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from broker_sim import alpaca_wire
from broker_sim.adapters.alpaca import translate as alpaca_translate
from broker_sim.errors import InvalidOrder
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
    StopLoss,
    TakeProfit,
    TimeInForce,
)
from broker_sim.serve import translate as serve_translate

#: Each example builds whole orders (30 fields): a few dozen keep the file at a few seconds.
EXAMPLES = settings(max_examples=25, deadline=None)

#: Prices and money: cents, up to ten million either way.
money = st.integers(min_value=-(10**9), max_value=10**9).map(lambda cents: cents / 100)
prices = st.integers(min_value=1, max_value=10**9).map(lambda cents: cents / 100)
#: Quantities: up to a million shares, fractional to 4 decimals.
quantities = st.integers(min_value=1, max_value=10**10).map(lambda n: n / 10**4)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
ids = st.uuids().map(str)
symbols = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=5)
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)


@st.composite
def orders(draw: st.DrawFn, order_class: OrderClass | None = None, legs: tuple[str, ...] = ()) -> Order:
    quantity = draw(quantities)
    filled = draw(st.one_of(st.just(0.0), quantities.filter(lambda q: q <= quantity)))
    # A notional order has no qty on the wire until it fills: only a filled one carries its quantity back.
    notional = draw(st.none() | prices) if filled else None
    return Order(
        id=draw(ids),
        client_order_id=draw(words),
        symbol=draw(symbols),
        side=draw(st.sampled_from(Side)),
        quantity=quantity,
        type=draw(st.sampled_from(OrderType)),
        time_in_force=draw(st.sampled_from(TimeInForce)),
        limit_price=draw(st.none() | prices),
        stop_price=draw(st.none() | prices),
        status=draw(st.sampled_from(OrderStatus)),
        filled_quantity=filled,
        filled_avg_price=draw(prices) if filled else None,
        reject_reason=None,
        created_at=draw(times),
        updated_at=draw(times),
        trail_price=draw(st.none() | prices),
        trail_percent=draw(st.none() | prices),
        replaces=draw(st.none() | ids),
        replaced_by=draw(st.none() | ids),
        submitted_at=draw(times),
        filled_at=draw(st.none() | times),
        canceled_at=draw(st.none() | times),
        expired_at=draw(st.none() | times),
        failed_at=draw(st.none() | times),
        replaced_at=draw(st.none() | times),
        hwm=draw(st.none() | prices),
        order_class=order_class if order_class is not None else draw(st.sampled_from(OrderClass)),
        legs=legs,
        extended_hours=draw(st.booleans()),
        notional=notional,
    )


@st.composite
def fills_of(draw: st.DrawFn, order: Order, when: datetime | None = None) -> Fill:
    price = draw(prices)
    return Fill(
        order_id=order.id,
        symbol=order.symbol,
        side=order.side,
        quantity=draw(quantities),
        price=price,
        fee=0.0,
        timestamp=when if when is not None else draw(times),
        reference_price=price,
        execution_id=draw(words),
    )


@given(orders())
@EXAMPLES
def test_an_order_makes_the_round_trip(order: Order) -> None:
    assert alpaca_wire.order_from_json(alpaca_wire.order_json(order)) == order


@given(st.data())
@settings(max_examples=10, deadline=None)
def test_a_bracket_and_its_legs_make_the_round_trip(data: st.DataObject) -> None:
    legs = data.draw(st.lists(orders(order_class=OrderClass.BRACKET), min_size=1, max_size=2))
    parent = data.draw(orders(order_class=OrderClass.BRACKET, legs=tuple(leg.id for leg in legs)))
    legs = [attrs.evolve(leg, parent_id=parent.id) for leg in legs]

    encoded = alpaca_wire.order_json(parent, legs)

    assert alpaca_wire.order_from_json(encoded) == parent
    assert alpaca_wire.legs_from_json(encoded) == legs


@given(
    st.builds(
        Position,
        symbol=symbols,
        quantity=st.one_of(quantities, quantities.map(lambda q: -q)),
        avg_price=prices,
        market_price=prices,
        market_value=money,
        cost_basis=money,
        realized_pnl=st.none(),
        unrealized_pnl=money,
    ),
    st.sampled_from(["NASDAQ", "NYSE"]),
)
@EXAMPLES
def test_a_position_makes_the_round_trip(position: Position, exchange: str) -> None:
    encoded = alpaca_wire.position_json(position, exchange=exchange)

    assert alpaca_wire.position_from_json(encoded) == position


@given(
    st.builds(
        Account,
        cash=money,
        equity=money,
        buying_power=money,
        realized_pnl=st.none(),
        unrealized_pnl=st.none(),
        fees=st.none(),
        initial_balance=st.none(),
        long_market_value=money.map(abs),
        short_market_value=money.map(lambda value: -abs(value)),
        initial_margin=money.map(abs),
        maintenance_margin=money.map(abs),
        daytrade_count=st.integers(min_value=0, max_value=50),
        pattern_day_trader=st.booleans(),
        last_equity=money,
        last_maintenance_margin=money.map(abs),
        daytrading_buying_power=money.map(abs),
    ),
    times,
)
@EXAMPLES
def test_an_account_makes_the_round_trip(account: Account, created_at: datetime) -> None:
    encoded = alpaca_wire.account_json(account, name="PA1", created_at=created_at, multiplier=2.0, shorting=True)

    assert alpaca_wire.account_from_json(encoded) == account


@given(st.data())
@EXAMPLES
def test_a_fill_makes_the_round_trip_as_a_fill_activity(data: st.DataObject) -> None:
    order = data.draw(orders())
    fill = data.draw(fills_of(order))

    encoded = alpaca_wire.activity_json(fill, order, account="PA1")

    assert alpaca_wire.fill_from_activity(encoded) == fill


@given(st.data(), st.sampled_from(EventType))
@EXAMPLES
def test_an_order_event_makes_the_round_trip_as_a_trade_update(data: st.DataObject, kind: EventType) -> None:
    order = data.draw(orders())
    when = data.draw(times)
    if kind in (EventType.FILL, EventType.PARTIAL_FILL):
        fill = data.draw(fills_of(order, when))
        position = data.draw(st.none() | money)
        event = OrderEvent(kind, order, when, fill, position)
    else:
        event = OrderEvent(kind, order, when)

    assert alpaca_wire.event_from_json(alpaca_wire.trade_update_json(event)) == event


# -- requests: the adapter writes them (adapters/alpaca/translate.py), the server reads them (serve/translate.py) --


@st.composite
def order_requests(draw: st.DrawFn) -> OrderRequest:
    """Well-formed requests of every simple type and the three order classes (the server checks the rest)."""
    kind = draw(st.sampled_from(["market", "limit", "stop", "stop_limit", "trailing_stop", "bracket", "oco"]))
    fields: dict[str, object] = {
        "symbol": draw(symbols),
        "side": draw(st.sampled_from(Side)),
        "quantity": draw(quantities),
        "time_in_force": draw(st.sampled_from([TimeInForce.DAY, TimeInForce.GTC])),
        "client_order_id": draw(st.none() | words),
    }
    limit, stop = draw(prices), draw(prices)
    if kind == "market":
        fields["type"] = OrderType.MARKET
    elif kind == "limit":
        fields.update(type=OrderType.LIMIT, limit_price=limit, extended_hours=draw(st.booleans()))
        if fields["extended_hours"]:
            fields["time_in_force"] = TimeInForce.DAY
    elif kind == "stop":
        fields.update(type=OrderType.STOP, stop_price=stop)
    elif kind == "stop_limit":
        fields.update(type=OrderType.STOP_LIMIT, stop_price=stop, limit_price=limit)
    elif kind == "trailing_stop":
        fields["type"] = OrderType.TRAILING_STOP
        fields[draw(st.sampled_from(["trail_price", "trail_percent"]))] = draw(prices.map(lambda p: min(p, 50.0)))
    else:
        low, high = sorted(draw(st.lists(prices, min_size=2, max_size=2, unique=True)))
        # A bracket's exits close what it opens; an oco's close a position held on the other side.
        long_exits = (fields["side"] is Side.BUY) == (kind == "bracket")
        profit, loss = (high, low) if long_exits else (low, high)
        # A bracket enters at market; an oco (exits only) is a limit order at its take-profit price.
        entry = {"type": OrderType.MARKET} if kind == "bracket" else {"type": OrderType.LIMIT, "limit_price": profit}
        fields.update(entry, order_class=OrderClass(kind), take_profit=TakeProfit(profit), stop_loss=StopLoss(loss))
    try:
        return OrderRequest(**fields)  # type: ignore[arg-type]
    except InvalidOrder:
        assume(False)
        raise


@given(order_requests())
@EXAMPLES
def test_an_order_request_makes_the_round_trip_from_the_adapter_to_the_server(request: OrderRequest) -> None:
    body = json.loads(json.dumps(alpaca_translate.order_request_json(request)))

    assert serve_translate.order_request(body) == request


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "quantity": quantities,
            "limit_price": prices,
            "stop_price": prices,
            "trail": prices,
            "time_in_force": st.sampled_from([t.value for t in TimeInForce]),
            "client_order_id": words,
        },
    )
)
@EXAMPLES
def test_a_replace_makes_the_round_trip_from_the_adapter_to_the_server(fields: dict[str, object]) -> None:
    body = json.loads(json.dumps(alpaca_translate.replace_json(fields)))
    every = dict.fromkeys(("quantity", "limit_price", "stop_price", "trail", "time_in_force", "client_order_id"))

    assert serve_translate.replace_fields(body) == {**every, **fields}
