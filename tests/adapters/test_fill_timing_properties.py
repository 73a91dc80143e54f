"""Property: under next-bar timing, no fill is ever priced from market data stamped before its order started
working, whatever the latency (shorter or longer than a bar), the order type, the time in force, trade prints
between bars or the bar model's options; and every fill price is one the bar that made it traded (after the
order came in, along a path) or the print's price."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from broker_sim import Bar, InvalidOrder, OrderEvent, OrderRefused, OrderRequest, PaperBroker, SimulatedClock, Trade
from broker_sim.builtin.bar_path import Intrabar, Path
from tests.conftest import SLOW, T0

INTERVAL = 60.0
ORDER = st.fixed_dictionaries(
    {
        "bar": st.integers(0, 11),
        "side": st.sampled_from(["buy", "sell"]),
        "type": st.sampled_from(["market", "limit", "stop", "stop_limit"]),
        "offset": st.floats(-0.03, 0.03, allow_nan=False),
        "tif": st.sampled_from(["day", "gtc", "ioc", "fok"]),
    }
)
FILLS = st.sampled_from(
    [
        {"model": "bar"},
        {"model": "bar", "intrabar": "ohlc"},
        {"model": "bar", "arrival": "path", "intrabar": "ohlc"},
        {"model": "bar", "arrival": "path", "intrabar": "adaptive", "limit_fill": "through"},
        {"model": "volume_limited", "volume_limit": 0.5},
    ]
)


def _fields(spec: dict[str, Any], price: float) -> dict[str, Any]:
    kind = spec["type"]
    fields: dict[str, Any] = {"type": kind, "time_in_force": spec["tif"]}
    if kind in ("limit", "stop_limit"):
        fields["limit_price"] = round(price * (1 + spec["offset"]), 2)
    if kind in ("stop", "stop_limit"):
        fields["stop_price"] = round(price * (1 - spec["offset"]), 2)
    return fields


async def _scenario(
    moves: list[float], prints: list[int], orders: list[dict[str, Any]], latency: float, fill: dict[str, Any]
) -> None:
    broker = PaperBroker(
        1e9,
        seed=5,
        clock=SimulatedClock(T0, auto_advance=False),
        fill=fill,
        latency={"model": "constant", "seconds": latency},
        slippage="none",
        session="always",
        allow_short=True,
    )
    working: dict[str, datetime] = {}
    fills: list[Any] = []

    def on_event(event: OrderEvent) -> None:
        if event.type.value == "new":
            working[event.order.id] = event.timestamp
        if event.fill is not None:
            fills.append(event.fill)

    broker.add_listener(on_event)
    events: list[Bar | Trade] = []
    price = 100.0
    for index, move in enumerate(moves):
        when = T0 + timedelta(seconds=INTERVAL * index)
        await broker.clock.advance_to(when, events_pending=True)  # type: ignore[attr-defined]
        close = round(price * (1 + move), 2)
        bar = Bar("X", when, price, max(price, close) + 0.5, min(price, close) - 0.5, close, 1e6, INTERVAL)
        events.append(bar)
        await broker.update_market(bar)
        for spec in orders:
            if spec["bar"] == index:
                with contextlib.suppress(InvalidOrder, OrderRefused):  # e.g. a sell that would flip a long
                    await broker.submit_order(OrderRequest("X", spec["side"], 10, **_fields(spec, close)))
        if index < len(prints) and prints[index]:  # a trade print inside the next bar's interval
            at = when + timedelta(seconds=prints[index])
            await broker.clock.advance_to(at, events_pending=True)  # type: ignore[attr-defined]
            events.append(Trade("X", at, close + 0.25, 100))
            await broker.update_market(events[-1])
        price = close
    await broker.clock.advance_to(T0 + timedelta(seconds=INTERVAL * (len(moves) + 5)))  # type: ignore[attr-defined]
    on_path = fill.get("arrival") == "path"
    for made in fills:
        started = working[made.order_id]
        event = [e for e in events if e.timestamp <= made.timestamp][-1]  # the market data that made the fill
        if isinstance(event, Trade):  # a print prices an order from the moment it started working on
            assert event.timestamp >= started and made.reference_price == event.price, (made, event, started)
            continue
        assert event.timestamp > started  # never a bar stamped before (or when) the order started working
        high, low = event.high, event.low
        if on_path and event.start < started:  # came in mid-bar: only what traded after it
            path = Path(event.open, event.high, event.low, event.close, Intrabar(fill["intrabar"]))
            high, low = path.extremes((started - event.start).total_seconds() / INTERVAL)
        assert low - 1e-9 <= made.reference_price <= high + 1e-9, (made, event, started)


@settings(max_examples=300 if SLOW else 40, deadline=None)
@given(
    moves=st.lists(st.floats(-0.02, 0.02, allow_nan=False), min_size=4, max_size=12),
    prints=st.lists(st.sampled_from([0, 0, 1, 30, 59]), max_size=12),
    orders=st.lists(ORDER, max_size=8),
    latency=st.one_of(st.just(0.0), st.floats(0.1, 150.0)),
    fill=FILLS,
)
def test_no_fill_is_priced_from_data_stamped_before_its_order_started_working(
    moves: list[float], prints: list[int], orders: list[dict[str, Any]], latency: float, fill: dict[str, Any]
) -> None:
    asyncio.run(_scenario(moves, prints, orders, latency, fill))
