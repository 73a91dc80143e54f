"""Value types refuse malformed input at construction, naming the field."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import attrs
import pytest

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
