"""Value types refuse malformed input at construction, naming the field."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_sim import (
    Bar,
    InvalidMarketData,
    InvalidOrder,
    OrderRequest,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    Trade,
)
from broker_sim.models import OrderClass, market_order_request, order_request
from tests.conftest import T0


def test_seed_style_upper_case_side_is_accepted() -> None:
    request = OrderRequest("AAPL", "BUY", 10)  # type: ignore[arg-type]
    assert request.side is Side.BUY
    assert request.type is OrderType.MARKET
    assert request.time_in_force is TimeInForce.DAY


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"quantity": 0}, "quantity must be > 0, got 0"),
        ({"quantity": -5}, "quantity must be > 0, got -5"),
        ({"quantity": math.nan}, "quantity must be finite"),
        ({"quantity": math.inf}, "quantity must be finite"),
        ({"quantity": "10"}, "quantity must be a number"),
        ({"quantity": True}, "quantity must be a number"),
        ({"side": "hold"}, "side must be one of buy, sell; got 'hold'"),
        ({"type": "iceberg"}, "type must be one of market, limit"),
        ({"time_in_force": "forever"}, "time_in_force must be one of day, gtc"),
        ({"type": "limit"}, "limit_price is required for a limit order"),
        ({"type": "limit", "limit_price": math.nan}, "limit_price must be finite"),
        ({"type": "limit", "limit_price": -1.0}, "limit_price must be > 0"),
        ({"type": "stop"}, "stop_price is required for a stop order"),
        ({"limit_price": 10.0}, "limit_price is not allowed on a market order"),
        ({"reference_price": math.inf}, "reference_price must be finite"),
        ({"symbol": ""}, "symbol must be a non-empty string"),
        ({"client_order_id": ""}, "client_order_id must be a non-empty string"),
    ],
)
def test_malformed_order_request_names_the_field(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"symbol": "AAPL", "side": "buy", "quantity": 10}
    with pytest.raises(InvalidOrder, match=message):
        OrderRequest(**{**base, **fields})  # type: ignore[arg-type]


@attrs.frozen(slots=True)
class _CheckedByAttrs(OrderRequest):
    """Built by attrs' own ``__init__`` (converters, then every check of ``__attrs_post_init__``): the generated
    ``__init__`` leaves a subclass to it."""


_PRICES = [None, 10.0, 10, 0.5, 0.0, -1.0, math.nan, math.inf, "1", True]
#: Values of each `OrderRequest` argument, the common valid ones and each kind of mistake.
_REQUEST_ARGUMENTS = {
    "symbol": st.sampled_from(["AAPL", "BRK.B", "", " ", "é", "\ud800", 5]),
    "side": st.sampled_from([Side.BUY, Side.SELL, "sell", "BUY", "hold"]),
    "quantity": st.sampled_from([1, 100, 2**53, 2**53 + 1, 1.0, 0.5, 0.1234567891, 1e300, 0, -1, math.nan, True, None]),
    "type": st.sampled_from([*OrderType, "limit", "market", "iceberg"]),
    "time_in_force": st.sampled_from([TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, "gtc", "forever"]),
    "limit_price": st.sampled_from(_PRICES),
    "stop_price": st.sampled_from(_PRICES),
    "reference_price": st.sampled_from(_PRICES),
    "trail_price": st.sampled_from([None, 1.0]),
    "trail_percent": st.sampled_from([None, 5.0, 150.0]),
    "client_order_id": st.sampled_from([None, "a-1", "", "x" * 128, "x" * 129, "é", "\ud800", 5]),
    "order_class": st.sampled_from([OrderClass.SIMPLE, "simple", OrderClass.BRACKET, "oto", "oco"]),
    "extended_hours": st.sampled_from([False, True, 1]),
    "notional": st.sampled_from([None, 100.0, 0.5]),
    "take_profit": st.sampled_from([None, {"limit_price": 110.0}]),
    "stop_loss": st.sampled_from([None, {"stop_price": 90.0}]),
}


def _built(make: object, arguments: dict[str, object]) -> object:
    """What `make(**arguments)` gives: each field's class and value, or the error's class and message."""
    try:
        request = make(**arguments)  # type: ignore[operator]
    except (InvalidOrder, TypeError) as error:
        return type(error), str(error)
    return [(value.__class__, value) for value in attrs.astuple(request, recurse=False)], type(request)


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional=_REQUEST_ARGUMENTS), st.sampled_from(["AAPL", ""]), st.just(Side.BUY))
def test_the_fast_ways_to_build_a_request_build_what_every_check_builds(
    arguments: dict[str, object], symbol: str, side: Side
) -> None:
    arguments = {"symbol": symbol, "side": side, "quantity": 10, **arguments}
    checked = _built(_CheckedByAttrs, arguments)
    if isinstance(checked[0], list):
        checked = checked[0], OrderRequest
    assert _built(OrderRequest, arguments) == checked  # the generated __init__, its checks skipped when they pass
    assert _built(order_request, arguments) == checked  # the function, the class call skipped likewise


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {name: _REQUEST_ARGUMENTS[name] for name in ("symbol", "side", "quantity")},
        optional={"client_order_id": _REQUEST_ARGUMENTS["client_order_id"]},
    )
)
def test_the_market_order_request_builds_what_every_check_builds(arguments: dict[str, object]) -> None:
    checked = _built(_CheckedByAttrs, arguments)
    if isinstance(checked[0], list):
        checked = checked[0], OrderRequest
    assert _built(market_order_request, arguments) == checked


def test_order_request_is_frozen() -> None:
    request = OrderRequest("AAPL", Side.BUY, 1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.quantity = 2  # type: ignore[misc]


def test_final_statuses_are_closed() -> None:
    finals = {s for s in OrderStatus if s.is_final}
    assert finals == {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.REPLACED,
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: Bar("AAPL", T0, 1.0, 2.0, 0.5, math.nan, 10),
        lambda: Bar("AAPL", T0, 1.0, math.inf, 0.5, 1.0, 10),
        lambda: Quote("AAPL", T0, math.nan, 1.0),
        lambda: Trade("AAPL", T0, -math.inf),
    ],
)
def test_market_data_with_non_finite_price_is_refused(make: object) -> None:
    with pytest.raises(InvalidMarketData, match="must be a finite number"):
        make()  # type: ignore[operator]


def test_market_data_with_naive_timestamp_is_refused() -> None:
    with pytest.raises(InvalidMarketData, match="naive"):
        Trade("AAPL", datetime(2026, 3, 2, 14, 30), 100.0)


def test_bar_with_low_above_high_is_refused() -> None:
    with pytest.raises(InvalidMarketData, match=r"low 3\.0 is above high 2\.0"):
        Bar("AAPL", T0, 2.0, 2.0, 3.0, 2.0)


def test_market_timestamps_are_stored_in_utc() -> None:
    new_york = timezone(timedelta(hours=-5))
    trade = Trade("AAPL", T0.astimezone(new_york), 100.0)
    assert trade.timestamp == T0
    assert trade.timestamp.utcoffset() == timedelta(0)


def test_market_data_tells_a_last_price() -> None:
    assert Bar("A", T0, 1, 3, 1, 2).price == 2
    assert Quote("A", T0, 9.0, 11.0).price == 10.0
    assert Trade("A", T0, 5.0).price == 5.0
