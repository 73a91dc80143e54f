"""Invariants of Alpaca's rules over random sequences of orders (hypothesis): a sub-$25,000 account never makes a
4th day trade within 5 business days, and no fill ever takes a position from long to short (or back) at once;
a refused order changes nothing. Orders travel with latency, so opposite orders race each other."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from broker_sim import (
    InvalidOrder,
    OrderEvent,
    OrderNotCancelable,
    OrderRefused,
    OrderRequest,
    PaperBroker,
    SimulatedClock,
    Trade,
)
from tests.conftest import SLOW, T0

ORDER = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["AAPL", "MSFT"]),
        "side": st.sampled_from(["buy", "sell"]),
        "quantity": st.integers(1, 20),
        "limit": st.one_of(st.none(), st.floats(-0.03, 0.03, allow_nan=False)),
    }
)
SYMBOL = st.sampled_from(["AAPL", "MSFT"])
STEP = st.one_of(
    st.tuples(st.just("order"), ORDER),
    st.tuples(st.just("trip"), SYMBOL, st.integers(1, 20), st.booleans()),  # a round trip, long or short
    st.tuples(st.just("close"), st.sampled_from(["AAPL", "MSFT"])),
    st.tuples(st.just("cancel"), st.integers(0, 100)),
    st.tuples(st.just("price"), st.sampled_from(["AAPL", "MSFT"]), st.floats(-0.04, 0.04, allow_nan=False)),
    st.tuples(st.just("wait"), st.sampled_from([1.0, 60.0, 3_600.0, 86_400.0])),
)


async def _scenario(steps: list[tuple[Any, ...]], rules: dict[str, bool]) -> tuple[Any, list[OrderEvent]]:
    """Run `steps`, checking after each that the rules in force held; returns the account and the fills that took
    a position through zero."""
    clock = SimulatedClock(T0, auto_advance=False)
    broker = PaperBroker(
        10_000,
        seed=9,
        clock=clock,
        account="margin",
        latency={"model": "uniform", "low": 0.5, "high": 2.0},
        slippage="none",
        rules=rules,
    )
    prices = {"AAPL": 100.0, "MSFT": 50.0}
    crossings: list[OrderEvent] = []

    def watch(event: OrderEvent) -> None:
        fill = event.fill
        if fill is not None and event.position_quantity is not None:
            after = event.position_quantity
            before = after - fill.signed_quantity
            if before * after < -1e-12:
                crossings.append(event)

    broker.add_listener(watch)
    ids: list[str] = []
    for symbol, price in prices.items():
        await broker.update_market(Trade(symbol, clock.now(), price, 100))
    for step in steps:
        kind = step[0]
        if kind == "order":
            spec = step[1]
            symbol, price = spec["symbol"], prices[spec["symbol"]]
            fields: dict[str, Any] = {}
            if spec["limit"] is not None:
                fields = {"type": "limit", "time_in_force": "gtc", "limit_price": round(price * (1 + spec["limit"]), 2)}
            request = OrderRequest(symbol, spec["side"], spec["quantity"], **fields)
            before = broker.state.snapshot()
            try:
                ids.append((await broker.submit_order(request)).id)
            except OrderRefused:
                assert broker.state.snapshot() == before  # a refusal changes nothing
        elif kind == "trip":
            _, symbol, quantity, long = step
            for side in ("buy", "sell") if long else ("sell", "buy"):
                with contextlib.suppress(OrderRefused):
                    ids.append((await broker.submit_order(OrderRequest(symbol, side, quantity))).id)
                await clock.advance(3.0)
        elif kind == "close":
            with contextlib.suppress(OrderRefused, InvalidOrder, LookupError):
                ids.append((await broker.close_position(step[1])).id)
        elif kind == "cancel" and ids:
            with contextlib.suppress(OrderNotCancelable):
                await broker.cancel_order(ids[step[1] % len(ids)])
        elif kind == "price":
            symbol = step[1]
            prices[symbol] = round(max(1.0, prices[symbol] * (1 + step[2])), 2)
            await broker.update_market(Trade(symbol, clock.now(), prices[symbol], 100))
        elif kind == "wait":
            await clock.advance(step[1])
        account = await broker.get_account()
        assert account.daytrade_count is not None
        if rules.get("pdt_check", True) and (account.last_equity or 0.0) < 25_000:
            assert account.daytrade_count <= 3, account
            assert not account.pattern_day_trader
        if rules.get("position_flip_check", True):
            assert crossings == []
    await clock.advance(5.0)
    account = await broker.get_account()
    await broker.close()
    return account, crossings


@settings(
    max_examples=300 if SLOW else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(STEP, max_size=60), wash_trade=st.booleans())
def test_no_sequence_makes_a_fourth_day_trade_or_flips_a_position_in_one_order(
    steps: list[tuple[Any, ...]], wash_trade: bool
) -> None:
    account, _ = asyncio.run(_scenario(steps, {"wash_trade": wash_trade}))
    target(float(account.daytrade_count), label="day trades")  # steer the search to the limit
    event(f"day trades: {account.daytrade_count}")


def test_relaxed_the_same_sequences_make_a_fourth_day_trade_and_a_flip() -> None:
    """The invariants are the rules' doing: one sequence, with the rules and without."""
    buy = {"symbol": "AAPL", "side": "buy", "quantity": 5, "limit": None}
    sell = {**buy, "side": "sell"}
    steps: list[tuple[Any, ...]] = []
    for _ in range(4):
        steps += [("order", buy), ("wait", 60.0), ("order", sell), ("wait", 60.0)]
    steps += [("order", buy), ("wait", 60.0), ("order", {**sell, "quantity": 10}), ("wait", 60.0)]
    account, crossings = asyncio.run(_scenario(steps, {}))
    assert account.daytrade_count == 3 and crossings == []
    account, crossings = asyncio.run(_scenario(steps, {"pdt_check": False, "position_flip_check": False}))
    assert account.daytrade_count == 5 and account.pattern_day_trader and len(crossings) == 1
