"""The accounting invariants of PaperBroker, checked after every step of random sequences of operations.

After each buy, sell, cancel, market update and clock step:

* ``cash + sum(cost_basis) == initial_balance + realized_pnl - fees``;
* each symbol's position quantity is the sum of its signed fills, and the fees are the sum of the fills' fees;
* without shorting, cash and buying power never go negative and no position is short.

Hypothesis drives plain functions that run each scenario with ``asyncio.run`` on a fresh simulated clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_sim import (
    Bar,
    Fill,
    Order,
    OrderNotCancelable,
    OrderRequest,
    PaperBroker,
    SimulatedClock,
    Trade,
)
from broker_sim._numeric import MONEY_EPSILON
from broker_sim.ledger import DEFAULT_SHORT_MARGIN
from broker_sim.rules import RuleSettings
from tests.conftest import T0, collect_fills

SYMBOLS = ("AAPL", "MSFT")
#: Small enough that random orders regularly run out of buying power, so rejections are exercised too.
INITIAL_BALANCE = 50_000.0
#: Non-zero fees on every fill: 1 cent a share, at least 1.00.
COMMISSION = {"model": "per_share", "rate": 0.01, "minimum": 1.0}
NO_LATENCY = {"model": "none"}
UNIFORM_LATENCY = {"model": "uniform", "low": 0.5, "high": 2.0}
#: Cash amounts agree to a millionth of their size (at least a micro-dollar): float sums lose digits with size.
MONEY_TOLERANCE = 1e-6
#: Quantities agree to the ledger's own quantity epsilon (fractional shares sum with float error far below it).
QUANTITY_TOLERANCE = 1e-9
#: Without shorting, cash may not dip below zero by more than float noise.
CASH_FLOOR = -MONEY_EPSILON  # the documented tolerance: a fill may take buying power to -MONEY_EPSILON
#: Long enough for every submit and cancel in flight to reach the venue (latency is at most 2 s).
SETTLE_S = 60.0

EXAMPLES = settings(max_examples=50, deadline=None)

prices = st.floats(min_value=1.0, max_value=500.0, allow_nan=False, allow_infinity=False)
quantities = st.one_of(
    st.integers(min_value=1, max_value=200).map(float),
    st.floats(min_value=0.001, max_value=50.0, allow_nan=False).map(lambda q: round(q, 3)),
)
sides = st.sampled_from(["buy", "sell"])
symbols = st.sampled_from(SYMBOLS)

market_orders = st.tuples(st.just("market"), sides, symbols, quantities, prices)
limit_orders = st.tuples(st.just("limit"), sides, symbols, quantities, prices)
cancels = st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=10_000))
market_updates = st.tuples(st.sampled_from(["bar", "trade"]), symbols, prices)
clock_steps = st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=3.0, allow_nan=False))

instant_operations = st.lists(st.one_of(market_orders, limit_orders, cancels, market_updates), max_size=40)
delayed_operations = st.lists(st.one_of(market_orders, limit_orders, cancels, market_updates, clock_steps), max_size=40)


def _broker(*, allow_short: bool, latency: dict[str, Any], seed: int = 42) -> PaperBroker:
    return PaperBroker(
        INITIAL_BALANCE,
        seed=seed,
        allow_short=allow_short,
        latency=latency,
        commission=COMMISSION,
        clock=SimulatedClock(T0),
        rules=RuleSettings.relaxed(),  # the accounting holds whatever orders the rules let through
    )


def _clock(broker: PaperBroker) -> SimulatedClock:
    """The broker's simulated clock, which these tests move by hand."""
    clock = broker.clock
    assert isinstance(clock, SimulatedClock)
    return clock


async def _step(broker: PaperBroker, operation: tuple[Any, ...], orders: list[Order]) -> None:
    """Apply one random operation through the public API."""
    kind = operation[0]
    if kind == "market":
        _, side, symbol, quantity, price = operation
        orders.append(await broker.submit_order(OrderRequest(symbol, side, quantity, reference_price=price)))
    elif kind == "limit":
        _, side, symbol, quantity, price = operation
        request = OrderRequest(symbol, side, quantity, type="limit", time_in_force="gtc", limit_price=price)
        orders.append(await broker.submit_order(request))
    elif kind == "cancel":
        if orders:
            with contextlib.suppress(OrderNotCancelable):
                await broker.cancel_order(orders[operation[1] % len(orders)].id)
    elif kind == "bar":
        _, symbol, price = operation
        await broker.update_market(Bar(symbol, broker.clock.now(), price, price, price, price, 1e6))
    elif kind == "trade":
        _, symbol, price = operation
        await broker.update_market(Trade(symbol, broker.clock.now(), price, 100.0))
    elif kind == "advance":
        await _clock(broker).advance(operation[1])
    else:  # pragma: no cover - the strategies above make only these
        raise AssertionError(f"unknown operation {operation!r}")


async def _check_invariants(broker: PaperBroker, fills: list[Fill], *, allow_short: bool) -> None:
    account = await broker.get_account()
    positions = await broker.get_positions()
    assert account.realized_pnl is not None and account.fees is not None

    assert account.initial_balance == INITIAL_BALANCE
    money = MONEY_TOLERANCE * max(1.0, abs(account.cash))
    cost_basis = math.fsum(position.cost_basis for position in positions)
    assert account.cash + cost_basis == pytest.approx(
        account.initial_balance + account.realized_pnl - account.fees, abs=money
    )
    assert account.fees == pytest.approx(math.fsum(fill.fee for fill in fills), abs=money)
    assert all(fill.fee >= 1.0 for fill in fills), "per-share commission has a 1.00 minimum"

    held = {position.symbol: position.quantity for position in positions}
    assert set(held) <= set(SYMBOLS)
    for symbol in SYMBOLS:
        filled = math.fsum(fill.signed_quantity for fill in fills if fill.symbol == symbol)
        assert held.get(symbol, 0.0) == pytest.approx(filled, abs=QUANTITY_TOLERANCE), symbol

    if not allow_short:
        assert account.cash >= CASH_FLOOR
        assert account.buying_power >= -money
        assert all(position.quantity > 0 for position in positions), positions


async def _settle_and_check(broker: PaperBroker, fills: list[Fill], *, allow_short: bool) -> None:
    """Cancel whatever is still open, let it all reach the venue, and check that nothing stays reserved."""
    for order in await broker.list_orders("open"):
        with contextlib.suppress(OrderNotCancelable):
            await broker.cancel_order(order.id)
    await _clock(broker).advance(SETTLE_S)
    await _check_invariants(broker, fills, allow_short=allow_short)

    assert await broker.list_orders("open") == []
    account = await broker.get_account()
    positions = await broker.get_positions()
    short_value = math.fsum(-position.market_value for position in positions if position.quantity < 0)
    # With no open order, buying power is cash less the margin of the shorts: no reservation is left behind.
    assert account.buying_power == pytest.approx(
        account.cash - (1 + DEFAULT_SHORT_MARGIN) * short_value, abs=MONEY_TOLERANCE * max(1.0, abs(account.cash))
    )


async def _run(
    operations: Sequence[tuple[Any, ...]], *, allow_short: bool, latency: dict[str, Any], seed: int = 42
) -> list[Fill]:
    broker = _broker(allow_short=allow_short, latency=latency, seed=seed)
    fills = collect_fills(broker)
    orders: list[Order] = []
    for operation in operations:
        await _step(broker, operation, orders)
        await _check_invariants(broker, fills, allow_short=allow_short)
    await _settle_and_check(broker, fills, allow_short=allow_short)
    assert broker.reservations() == {}
    await broker.close()
    return fills


@pytest.mark.parametrize("allow_short", [False, True], ids=["long_only", "shorting"])
@EXAMPLES
@given(operations=instant_operations)
def test_accounting_invariants_hold_after_every_step_without_latency(
    allow_short: bool, operations: list[tuple[Any, ...]]
) -> None:
    asyncio.run(_run(operations, allow_short=allow_short, latency=NO_LATENCY))


@pytest.mark.parametrize("allow_short", [False, True], ids=["long_only", "shorting"])
@EXAMPLES
@given(operations=delayed_operations)
def test_accounting_invariants_hold_after_every_step_with_uniform_latency(
    allow_short: bool, operations: list[tuple[Any, ...]]
) -> None:
    asyncio.run(_run(operations, allow_short=allow_short, latency=UNIFORM_LATENCY))


@EXAMPLES
@given(operations=delayed_operations, allow_short=st.booleans())
def test_same_seed_gives_identical_fills(operations: list[tuple[Any, ...]], allow_short: bool) -> None:
    first = asyncio.run(_run(operations, allow_short=allow_short, latency=UNIFORM_LATENCY, seed=7))
    second = asyncio.run(_run(operations, allow_short=allow_short, latency=UNIFORM_LATENCY, seed=7))

    assert first == second


async def _fill_times(seed: int) -> list[object]:
    broker = _broker(allow_short=False, latency=UNIFORM_LATENCY, seed=seed)
    fills = collect_fills(broker)
    for quantity in range(1, 6):
        await broker.buy("AAPL", quantity, reference_price=100.0)
    await _clock(broker).advance(SETTLE_S)
    await broker.close()
    assert len(fills) == 5
    return [fill.timestamp for fill in fills]


def test_different_seed_gives_different_fill_timestamps_under_uniform_latency() -> None:
    assert asyncio.run(_fill_times(1)) != asyncio.run(_fill_times(2))


def test_same_seed_gives_the_same_fill_timestamps_under_uniform_latency() -> None:
    assert asyncio.run(_fill_times(1)) == asyncio.run(_fill_times(1))
