"""The venue's hot-path helpers give exactly what their plain forms give."""

from __future__ import annotations

import pytest

from broker_sim import Order, OrderRequest, OrderStatus
from broker_sim.adapters.paper.venue import first_snapshot
from tests.conftest import T0

REQUESTS = [
    OrderRequest(
        "AAPL", "sell", 3, type="stop_limit", time_in_force="gtc", limit_price=99.0, stop_price=99.5,
        client_order_id="mine", reference_price=100.0,
    ),
    OrderRequest("AAPL", "buy", notional=250.0, reference_price=100.0),
    OrderRequest("MSFT", "sell", 2, type="trailing_stop", time_in_force="gtc", trail_price=1.5),
    OrderRequest("MSFT", "buy", 1, type="trailing_stop", trail_percent=2.0),
    OrderRequest("MSFT", "buy", 1, type="limit", limit_price=10.0, extended_hours=True),
]  # fmt: skip


@pytest.mark.parametrize("request_", REQUESTS)
def test_first_snapshot_is_the_order_built_by_keyword_from_its_request(request_: OrderRequest) -> None:
    expected = Order(
        id="o1",
        client_order_id="c1",
        symbol=request_.symbol,
        side=request_.side,
        quantity=4.0,
        type=request_.type,
        time_in_force=request_.time_in_force,
        limit_price=request_.limit_price,
        stop_price=request_.stop_price,
        status=OrderStatus.PENDING_NEW,
        filled_quantity=0.0,
        filled_avg_price=None,
        reject_reason=None,
        created_at=T0,
        updated_at=T0,
        reference_price=request_.reference_price,
        trail_price=request_.trail_price,
        trail_percent=request_.trail_percent,
        replaces="o0",
        submitted_at=T0,
        order_class=request_.order_class,
        extended_hours=request_.extended_hours,
        notional=request_.notional,
    )
    made = first_snapshot("o1", "c1", request_, 4.0, T0, replaces="o0")
    assert made == expected
    assert type(made) is Order
