"""The accounting invariants with financing: random trading on a margin account (longs on margin, shorts, price
moves, session closes that charge borrow fees and margin interest and make margin calls), checked after every step.

* ``cash + sum(cost_basis) == initial_balance + realized_pnl - fees``, fees now commissions plus every charge;
* ``fees == sum(fill fees) + sum(activity amounts)``; each account event of a charge is its activity;
* each charge is what its model says for what the account held at that close (to the cent), a ``FEE`` only for a
  short and an ``INT`` only for a debit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_sim import AccountEvent, ActivityType, Bar, Fill, OrderRefused, OrderRequest, PaperBroker, SimulatedClock
from broker_sim.rules import RuleSettings
from tests.conftest import T0, collect_fills

SYMBOLS = ("AAPL", "GME")
BORROW = {"model": "annual_rate", "rate": 0.03, "rates": {"GME": 0.4}, "round_lot": 100}
INTEREST = {"model": "annual_rate", "rate": 0.08}
COMMISSION = {"model": "per_share", "rate": 0.005, "minimum": 1.0}

trades = st.tuples(st.just("trade"), st.sampled_from(["buy", "sell"]), st.sampled_from(SYMBOLS), st.integers(1, 400))
moves = st.tuples(st.just("move"), st.sampled_from(SYMBOLS), st.floats(0.5, 1.6, allow_nan=False))
closes = st.tuples(st.just("close"))
operations = st.lists(st.one_of(trades, moves, closes), max_size=20)


async def _run(steps: list[tuple[Any, ...]]) -> list[ActivityType]:
    """Run `steps`, checking the invariants after each; returns the types of the charges made."""
    clock = SimulatedClock(T0)
    broker = PaperBroker(
        50_000,
        clock=clock,
        account="margin",
        allow_short=True,
        latency="none",
        slippage="none",
        commission=COMMISSION,
        borrow_fee=BORROW,
        margin_interest=INTEREST,
        rules=RuleSettings.relaxed(),
    )
    fills: list[Fill] = collect_fills(broker)
    events: list[AccountEvent] = []
    broker.add_account_listener(events.append)
    prices = dict.fromkeys(SYMBOLS, 50.0)
    for symbol in SYMBOLS:
        await broker.update_market(Bar(symbol, clock.now(), 50.0, 50.0, 50.0, 50.0, 1e9))
    close = T0.replace(hour=21)
    held_at_close: list[tuple[dict[str, tuple[float, float]], float]] = []
    for step in steps:
        if step[0] == "trade":
            _, side, symbol, quantity = step
            with contextlib.suppress(OrderRefused):  # the rules refuse what the account cannot carry: no change
                await broker.submit_order(OrderRequest(symbol, side, float(quantity)))
        elif step[0] == "move":
            _, symbol, factor = step
            prices[symbol] = round(max(1.0, prices[symbol] * factor), 2)
            price = prices[symbol]
            await broker.update_market(Bar(symbol, clock.now(), price, price, price, price, 1e9))
        else:
            while close <= clock.now():
                close += timedelta(days=1)
            await clock.advance_to(close - timedelta(seconds=1))  # what is held just before the close
            positions = {p.symbol: (p.quantity, p.market_price) for p in await broker.get_positions()}
            held_at_close.append((positions, (await broker.get_account()).cash))
            await clock.advance_to(close)
        await _check(broker, fills, events, held_at_close)
    await broker.close()
    return [activity.type for activity in broker.state.activities]


async def _check(
    broker: PaperBroker,
    fills: list[Fill],
    events: list[AccountEvent],
    held_at_close: list[tuple[dict[str, tuple[float, float]], float]],
) -> None:
    account = await broker.get_account()
    positions = await broker.get_positions()
    activities = broker.state.activities
    assert account.fees is not None and account.realized_pnl is not None
    money = 1e-6 * max(1.0, abs(account.cash))
    basis = math.fsum(p.cost_basis for p in positions)
    assert account.cash + basis == pytest.approx(
        account.initial_balance + account.realized_pnl - account.fees, abs=money
    )
    charged = math.fsum(a.amount for a in activities)
    assert account.fees == pytest.approx(math.fsum(f.fee for f in fills) + charged, abs=money)
    assert [e.activity for e in events if e.activity is not None] == activities
    for activity in activities:
        assert activity.amount > 0 and round(activity.amount, 2) == activity.amount
        if activity.type is ActivityType.FEE:
            assert activity.symbol is not None and activity.quantity is not None and activity.price is not None
            rate = BORROW["rates"].get(activity.symbol, BORROW["rate"])  # type: ignore[attr-defined]
            lots = math.ceil(activity.quantity / 100 - 1e-9) * 100
            assert activity.amount == round(lots * activity.price * rate * activity.days / 360, 2)
            assert any(held.get(activity.symbol, (0.0, 0.0))[0] < 0 for held, _ in held_at_close)
        else:
            assert any(cash < 0 for _, cash in held_at_close)


@settings(max_examples=20, deadline=None)
@given(steps=operations)
def test_the_ledger_balances_with_borrow_fees_and_margin_interest(steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(_run(steps))


def test_a_long_short_book_held_over_days_pays_what_the_formulas_say() -> None:
    steps: list[tuple[Any, ...]] = [
        ("trade", "buy", "AAPL", 1_500),
        ("trade", "sell", "GME", 150),
        ("close",),
        ("move", "GME", 1.2),
        ("close",),
        ("close",),
    ]
    charged = asyncio.run(_run(steps))
    assert charged.count(ActivityType.FEE) == 3 and charged.count(ActivityType.INT) == 3
