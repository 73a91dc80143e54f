"""Property tests across every order type: the ledger invariant holds, and next-bar fills never look ahead."""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from broker_sim import (
    Bar,
    Fill,
    InvalidOrder,
    OrderNotCancelable,
    OrderNotReplaceable,
    OrderRequest,
    OrderStatus,
    PaperBroker,
    SimulatedClock,
)
from broker_sim.rules import RuleSettings
from tests.conftest import T0, collect_fills

#: The errors a caller may get for a request that cannot be done now; anything else (InvalidTransition) is a bug.
REFUSALS = (InvalidOrder, OrderNotCancelable, OrderNotReplaceable)

ORDER = st.fixed_dictionaries(
    {
        "side": st.sampled_from(["buy", "sell"]),
        "quantity": st.integers(1, 300),
        "type": st.sampled_from(["market", "limit", "stop", "stop_limit", "trailing_stop"]),
        "offset": st.floats(-0.05, 0.05, allow_nan=False),
        "tif": st.sampled_from(["day", "gtc", "ioc", "fok", "opg", "cls"]),
    }
)
STEP = st.one_of(
    st.tuples(st.just("order"), ORDER),
    st.tuples(st.just("bar"), st.floats(-0.04, 0.04, allow_nan=False), st.integers(0, 5000)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("replace"), st.integers(0, 50), st.integers(1, 300)),
)


def _request(spec: dict[str, Any], price: float) -> dict[str, Any]:
    kind = spec["type"]
    fields: dict[str, Any] = {"type": kind, "time_in_force": spec["tif"]}
    level = round(price * (1 + spec["offset"]), 2)
    if kind in ("limit", "stop_limit"):
        fields["limit_price"] = level
    if kind in ("stop", "stop_limit"):
        fields["stop_price"] = round(price * (1 - spec["offset"]), 2)
    if kind == "trailing_stop":
        fields["trail_percent"] = abs(spec["offset"]) * 100 + 0.5
    return fields


async def _check(broker: PaperBroker, fills: list[Fill], allow_short: bool) -> None:
    account = await broker.get_account()
    positions = await broker.get_positions()
    assert account.initial_balance is not None and account.realized_pnl is not None and account.fees is not None
    basis = math.fsum(p.cost_basis for p in positions)
    expected = account.initial_balance + account.realized_pnl - account.fees
    assert math.isclose(account.cash + basis, expected, abs_tol=1e-6 * max(1.0, abs(account.cash)))
    by_symbol: dict[str, float] = {}
    for fill in fills:
        by_symbol[fill.symbol] = by_symbol.get(fill.symbol, 0.0) + fill.signed_quantity
    held = {p.symbol: p.quantity for p in positions}
    for symbol, quantity in by_symbol.items():
        assert math.isclose(held.get(symbol, 0.0), quantity, abs_tol=1e-9)
    if not allow_short:
        assert all(p.quantity > 0 for p in positions)
    working = {o.id for o in await broker.list_orders("open")}
    assert set(broker.reservations()) <= working  # nothing is held for an order that ended


async def _scenario(steps: list[Any], fill: dict[str, Any], allow_short: bool, latency: Any) -> None:
    broker = PaperBroker(
        100_000,
        seed=3,
        clock=SimulatedClock(T0, auto_advance=False),
        allow_short=allow_short,
        fill=fill,
        latency=latency,
        commission={"model": "per_share", "rate": 0.01, "minimum": 1.0},
        rules=RuleSettings.relaxed(),  # the accounting holds whatever orders the rules let through
    )
    fills = collect_fills(broker)
    price, minute, ids = 100.0, 0, []
    await broker.update_market(Bar("X", T0, price, price, price, price, 10_000))
    for step in steps:
        if step[0] == "order":
            with contextlib.suppress(*REFUSALS):
                request = OrderRequest("X", step[1]["side"], step[1]["quantity"], **_request(step[1], price))
                order = await broker.submit_order(request)
                ids.append(order.id)
        elif step[0] == "bar":
            minute += 37
            when = T0 + timedelta(minutes=minute)
            await broker.clock.advance_to(when)  # type: ignore[attr-defined]
            new = max(1.0, round(price * (1 + step[1]), 2))
            bar = Bar("X", when, price, max(price, new) * 1.002, min(price, new) * 0.998, new, step[2])
            await broker.update_market(bar)
            price = new
        elif ids:
            target = ids[step[1] % len(ids)]
            with contextlib.suppress(*REFUSALS):
                if step[0] == "cancel":
                    await broker.cancel_order(target)
                else:
                    await broker.replace_order(target, quantity=step[2])
        await _check(broker, fills, allow_short)
    await broker.clock.advance(3 * 86_400)  # type: ignore[attr-defined]
    await _check(broker, fills, allow_short)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(STEP, max_size=35),
    fill=st.sampled_from(
        [
            {"model": "immediate"},
            {"model": "bar"},
            {"model": "bar", "timing": "same_bar_close"},
            {"model": "quote"},
            {"model": "volume_limited", "volume_limit": 0.05},
        ]
    ),
    allow_short=st.booleans(),
    latency=st.sampled_from(["none", {"model": "uniform", "low": 0.5, "high": 2.0}]),
)
def test_ledger_invariant_holds_across_every_order_type(
    steps: list[Any], fill: dict[str, Any], allow_short: bool, latency: Any
) -> None:
    asyncio.run(_scenario(steps, fill, allow_short, latency))


@settings(max_examples=40, deadline=None)
@given(
    moves=st.lists(st.floats(-0.03, 0.03, allow_nan=False), min_size=3, max_size=30),
    submit_at=st.lists(st.integers(0, 29), max_size=8),
    latency=st.sampled_from(["none", {"model": "uniform", "low": 0.5, "high": 2.0}]),
)
def test_next_bar_fills_never_use_the_submission_bar(moves: list[float], submit_at: list[int], latency: Any) -> None:
    async def scenario() -> None:
        broker = PaperBroker(
            1e9, clock=SimulatedClock(T0, auto_advance=False), fill="bar", latency=latency, slippage="none"
        )
        fills = collect_fills(broker)
        price = 100.0
        bars: dict[Any, Bar] = {}
        submitted: dict[str, Any] = {}
        for index, move in enumerate(moves):
            when = T0 + timedelta(minutes=index)
            await broker.clock.advance_to(when)  # type: ignore[attr-defined]
            new = round(price * (1 + move), 4)
            bar = Bar("X", when, price, max(price, new), min(price, new), new, 1e6)
            bars[when] = bar
            await broker.update_market(bar)
            if index in submit_at:
                order = await broker.buy("X", 1)
                submitted[order.id] = when
            price = new
        by_time = sorted(bars)
        for fill in fills:
            seen_in = submitted[fill.order_id]
            assert fill.timestamp > seen_in  # never from the bar it was submitted in
            filled_on = max(t for t in by_time if t <= fill.timestamp)
            assert filled_on > seen_in
            assert fill.price == bars[filled_on].open  # a market order takes the next bar's open
        for order_id, seen_in in submitted.items():
            order = await broker.get_order(order_id)
            assert order.status in (OrderStatus.FILLED, OrderStatus.NEW, OrderStatus.PENDING_NEW)
            if sum(t > seen_in for t in by_time) >= 2:  # latency (< 2 s) is over long before the second bar
                assert order.status is OrderStatus.FILLED, order

    asyncio.run(scenario())
