"""A stateful property test of the paper broker: random submits, cancels, replaces, price moves and time passing,
with latency, partial fills and every order type, and the account's invariants checked after every step.

Also: replaying the changes the account recorded (what a journal keeps) rebuilds exactly the same account.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from broker_sim import (
    Bar,
    EventType,
    Fill,
    FillDecision,
    InvalidOrder,
    Order,
    OrderNotCancelable,
    OrderNotReplaceable,
    OrderRefused,
    OrderRequest,
    OrderStatus,
    PaperBroker,
    SimulatedClock,
    TimeInForce,
    hookimpl,
)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.changes import Change
from broker_sim.ledger import DEFAULT_SHORT_MARGIN
from broker_sim.rules import RuleSettings
from tests.conftest import SLOW, T0

#: What a caller may get for a request that cannot be done now; anything else escaping is a bug.
REFUSALS = (
    InvalidOrder,
    OrderNotCancelable,
    OrderNotReplaceable,
    OrderRefused,
)
INITIAL = 100_000.0
FILL_MODELS = [
    {"model": "immediate"},
    {"model": "bar"},
    {"model": "bar", "timing": "same_bar_close"},
    {"model": "quote"},
    {"model": "volume_limited", "volume_limit": 0.05},
]
LATENCIES: list[Any] = ["none", {"model": "uniform", "low": 0.5, "high": 2.0}]
#: The statuses of an order the venue works (a cancel on its way may have overtaken the order itself: such an
#: order is `pending_cancel` without ever working, so that status is left out).
WORKING = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_REPLACE})


class FillWitness:
    """A plugin that notes each order the venue asks the fill model about, changing no answer. The hookspec's
    promise: an order that works is asked on every market update of its symbol inside the session."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    @hookimpl(wrapper=True)
    def broker_sim_fill(self, order: Order) -> Generator[None, FillDecision | None, FillDecision | None]:
        self.asked.add(order.id)
        return (yield)


class PaperBrokerMachine(RuleBasedStateMachine):
    """The paper broker driven by random operations; its invariants hold after every one."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.broker: PaperBroker
        self.clock: SimulatedClock
        self.fills: list[Fill] = []
        self.changes: list[Change] = []
        self.ids: list[str] = []
        self.price = 100.0
        self.allow_short = False
        self.witness = FillWitness()
        #: The last market data sent (what the account's positions are marked at).
        self.last_bar: Bar | None = None
        #: The margin call's liquidation orders (day market orders the venue sends at an open).
        self.liquidations: set[str] = set()

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @initialize(fill=st.sampled_from(FILL_MODELS), latency=st.sampled_from(LATENCIES), allow_short=st.booleans())
    def open_account(self, fill: dict[str, Any], latency: Any, allow_short: bool) -> None:
        self.clock = SimulatedClock(T0, auto_advance=False)
        self.allow_short = allow_short
        self.broker = PaperBroker(
            INITIAL,
            seed=5,
            clock=self.clock,
            fill=fill,
            latency=latency,
            allow_short=allow_short,
            commission={"model": "per_share", "rate": 0.01, "minimum": 1.0},
            rules=RuleSettings.relaxed(),  # the accounting holds whatever orders the rules let through
        )
        self.broker.state.recorder = self.changes.append
        self.broker.plugin_manager.register(self.witness)
        self.broker.add_listener(lambda event: self.fills.append(event.fill) if event.fill is not None else None)
        self.broker.add_listener(
            lambda event: self.liquidations.add(event.order.id) if event.type is EventType.MARGIN_CALL else None
        )
        self.run(self.send(Bar("X", T0, 100, 100, 100, 100, 10_000)))

    @rule(
        side=st.sampled_from(["buy", "sell"]),
        quantity=st.integers(1, 400),
        kind=st.sampled_from(["market", "limit", "stop", "stop_limit", "trailing_stop"]),
        offset=st.floats(-0.05, 0.05, allow_nan=False),
        tif=st.sampled_from(["day", "gtc", "ioc", "fok", "opg", "cls"]),
    )
    def submit(self, side: str, quantity: int, kind: str, offset: float, tif: str) -> None:
        fields: dict[str, Any] = {"type": kind, "time_in_force": tif}
        if kind in ("limit", "stop_limit"):
            fields["limit_price"] = round(self.price * (1 + offset), 2)
        if kind in ("stop", "stop_limit"):
            fields["stop_price"] = round(self.price * (1 - offset), 2)
        if kind == "trailing_stop":
            fields["trail_percent"] = abs(offset) * 100 + 0.5
        try:
            order = self.run(self.broker.submit_order(OrderRequest("X", side, quantity, **fields)))
        except REFUSALS:
            return
        self.ids.append(order.id)

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(0, 10_000))
    def cancel(self, pick: int) -> None:
        with contextlib.suppress(*REFUSALS):
            self.run(self.broker.cancel_order(self.ids[pick % len(self.ids)]))

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(0, 10_000), quantity=st.integers(1, 400), move=st.floats(-0.03, 0.03, allow_nan=False))
    def replace(self, pick: int, quantity: int, move: float) -> None:
        order = self.run(self.broker.get_order(self.ids[pick % len(self.ids)]))
        changes: dict[str, Any] = {"quantity": quantity}
        if order.limit_price is not None:
            changes["limit_price"] = round(order.limit_price * (1 + move), 2)
        try:
            successor = self.run(self.broker.replace_order(order.id, **changes))
        except REFUSALS:
            return
        self.ids.append(successor.id)

    @rule(move=st.floats(-0.04, 0.04, allow_nan=False), volume=st.integers(0, 5_000), minutes=st.integers(1, 400))
    def bar(self, move: float, volume: int, minutes: int) -> None:
        when = self.clock.now() + timedelta(minutes=minutes)
        self.run(self.clock.advance_to(when))
        new = max(1.0, round(self.price * (1 + move), 2))
        high, low = max(self.price, new) * 1.002, min(self.price, new) * 0.998
        self.run(self.send(Bar("X", when, self.price, high, low, new, volume)))
        self.price = new

    @rule(jump=st.sampled_from([-0.5, -0.25, 0.3, 1.0]))
    def price_jumps(self, jump: float) -> None:
        """A gap: the next bar opens far from the last close (halts, news)."""
        self.bar(0.0, 1_000, 1)
        when = self.clock.now() + timedelta(minutes=1)
        self.run(self.clock.advance_to(when))
        new = max(1.0, round(self.price * (1 + jump), 2))
        self.run(self.send(Bar("X", when, new, new * 1.01, new * 0.99, new, 2_000)))
        self.price = new

    async def send(self, bar: Bar) -> list[Order]:
        """Hand the broker `bar`; every order working when it came (a cls order waits for the close) is asked about
        it if it is inside the session: no working order is off the book. Returns the orders then open."""
        working = [o for o in await self.broker.list_orders("open") if o.status in WORKING]
        self.witness.asked.clear()
        await self.broker.update_market(bar)
        self.last_bar = bar
        if self.broker.session.in_session(bar.timestamp.timestamp()):
            for order in working:
                if order.time_in_force is not TimeInForce.CLS:
                    assert order.id in self.witness.asked, order  # it can fill, expire or be canceled
        return await self.broker.list_orders("open")

    @rule(seconds=st.floats(0, 3, allow_nan=False))
    def time_passes(self, seconds: float) -> None:
        self.run(self.clock.advance(seconds))

    @invariant()
    def the_ledger_balances(self) -> None:
        account = self.run(self.broker.get_account())
        positions = self.run(self.broker.get_positions())
        basis = math.fsum(p.cost_basis for p in positions)
        expected = account.initial_balance + account.realized_pnl - account.fees  # type: ignore[operator]
        assert math.isclose(account.cash + basis, expected, abs_tol=1e-6 * max(1.0, abs(account.cash)))
        held = {p.symbol: p.quantity for p in positions}
        filled = math.fsum(f.signed_quantity for f in self.fills)
        assert math.isclose(held.get("X", 0.0), filled, abs_tol=1e-6)
        if not self.allow_short:
            assert all(p.quantity > 0 for p in positions)

    @invariant()
    def reservations_are_what_working_orders_need(self) -> None:
        open_orders = {o.id: o for o in self.run(self.broker.list_orders("open"))}
        reservations = self.broker.reservations()
        assert set(reservations) <= set(open_orders)
        for order_id, held in reservations.items():
            order = open_orders[order_id]
            remaining = order.quantity - order.filled_quantity
            assert held.cash_units <= remaining + QTY_EPSILON and held.shares <= remaining + QTY_EPSILON
            assert held.cash_units >= 0 and held.shares >= 0 and held.cash_per_unit >= 0
        position = self.run(self.broker.get_position("X"))
        long_quantity = position.quantity if position is not None and position.quantity > 0 else 0.0
        assert math.fsum(r.shares for r in reservations.values()) <= long_quantity + 1e-6
        if not open_orders:
            account = self.run(self.broker.get_account())
            assert reservations == {}
            short = -position.market_value if position is not None and position.quantity < 0 else 0.0
            assert math.isclose(
                account.buying_power, account.cash - (1 + DEFAULT_SHORT_MARGIN) * short, abs_tol=1e-6 * INITIAL
            )

    def teardown(self) -> None:
        if hasattr(self, "broker"):
            self.run(self.recovery_rebuilds_the_same_account())
            self.run(self.only_gtc_orders_outlive_the_week())
            self.the_ledger_balances()
            self.reservations_are_what_working_orders_need()
            self.run(self.broker.close())
        self.loop.close()

    async def only_gtc_orders_outlive_the_week(self) -> None:
        """A week later every request has arrived and every day, ioc, fok, opg and cls order has ended, except a
        liquidation sent at today's open (a margin call no fill met is made again at each close); the gtc orders
        left still work (`send` checks that the next bar reaches them)."""
        session = self.broker.session
        for week in (0, 0, 0, 7 * 86_400):  # queued orders work from the next open; opg ones on its first bar
            inside = session.next_open(self.clock.time() + week) + 60
            await self.clock.advance_to(inside)
            price = self.price
            still_open = await self.send(Bar("X", self.clock.now(), price, price, price, price, 0))
        today = session.next_open(self.clock.time() - 86_400)
        for order in still_open:
            if order.id in self.liquidations and order.created_at.timestamp() >= today:
                continue
            assert order.time_in_force is TimeInForce.GTC and order.status in WORKING, order

    async def recovery_rebuilds_the_same_account(self) -> None:
        twin = PaperBroker(
            INITIAL,
            seed=5,
            clock=SimulatedClock(self.clock.now(), auto_advance=False),
            allow_short=self.allow_short,
            rules=RuleSettings.relaxed(),
        )
        if self.last_bar is not None:  # the same marks; nothing works on the twin (replay resumes no venue)
            await twin.update_market(self.last_bar)
        assert twin.state.replay(self.changes) == len(self.changes)
        assert await twin.get_account() == await self.broker.get_account()
        assert await twin.get_positions() == await self.broker.get_positions()
        assert await twin.list_orders("all") == await self.broker.list_orders("all")
        assert twin.reservations() == self.broker.reservations()
        assert twin.fills == self.fills


#: Sequences run: 1,000 in CI (bounded: `make test`'s time budget), 20,000 with ``pytest --slow`` (issue 11 asked for
#: 2,000); BROKER_SIM_STATE_MACHINE_EXAMPLES overrides.
EXAMPLES = int(os.environ.get("BROKER_SIM_STATE_MACHINE_EXAMPLES", "20000" if SLOW else "1000"))
#: The sequences are split into shards that pytest-xdist can run on different cores; each shard draws its own.
SHARDS = 8

SETTINGS = settings(
    max_examples=max(1, EXAMPLES // SHARDS),
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_paper_broker_state_machine(shard: int) -> None:
    """EXAMPLES random sequences in all, an eighth per shard; every invariant holds after every step."""
    run_state_machine_as_test(PaperBrokerMachine, settings=SETTINGS)
