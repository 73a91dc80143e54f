"""A stateful property test of bracket, oto and oco orders: random entries, partial fills, cancels and price moves,
with the rules of exits checked after every step."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from broker_sim import (
    Bar,
    Fill,
    InvalidOrder,
    Order,
    OrderNotCancelable,
    OrderNotReplaceable,
    OrderRefused,
    OrderStatus,
    PaperBroker,
    SimulatedClock,
)
from broker_sim.rules import RuleSettings
from tests.conftest import T0

REFUSALS = (InvalidOrder, OrderNotCancelable, OrderRefused)


class OrderClassMachine(RuleBasedStateMachine):
    """Entries with exits and oco pairs on the paper broker, with partial fills (volume_limited)."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.broker: PaperBroker
        self.clock: SimulatedClock
        self.fills: list[Fill] = []
        self.parents: list[str] = []
        self.price = 100.0
        #: Exit ids that were complete when last checked, with their siblings' filled quantities then.
        self.done: dict[str, dict[str, float]] = {}
        #: An oco's quantity as submitted: what its two exits share.
        self.shared: dict[str, float] = {}
        #: Groups a cancel was accepted for (parent ids; a replaced oco order's successor is tracked by its id).
        self.canceled: set[str] = set()

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def _latest(self, order_id: str) -> Order:
        """The order as it stands now, following replacements (a replaced oco order's successor)."""
        order = self.run(self.broker.get_order(order_id))
        while order.status is OrderStatus.REPLACED and order.replaced_by is not None:
            order = self.run(self.broker.get_order(order.replaced_by))
        return order

    @initialize(latency=st.sampled_from(["none", {"model": "uniform", "low": 0.5, "high": 2.0}]))
    def open_account(self, latency: Any) -> None:
        self.clock = SimulatedClock(T0, auto_advance=False)
        self.broker = PaperBroker(
            100_000,
            seed=3,
            clock=self.clock,
            latency=latency,
            fill={"model": "volume_limited", "volume_limit": 0.05},
            rules=RuleSettings.relaxed(),  # the accounting holds whatever orders the rules let through
        )
        self.broker.add_listener(lambda event: self.fills.append(event.fill) if event.fill is not None else None)
        self.run(self.broker.update_market(Bar("X", T0, 100, 100, 100, 100, 10_000, 60.0)))

    @rule(
        kind=st.sampled_from(["bracket", "oto_take", "oto_stop"]),
        side=st.sampled_from(["buy", "sell"]),
        quantity=st.integers(1, 300),
        limit=st.booleans(),
        width=st.floats(0.005, 0.05),
    )
    def enter(self, kind: str, side: str, quantity: int, limit: bool, width: float) -> None:
        sign = 1 if side == "buy" else -1
        take = {"limit_price": round(self.price * (1 + sign * width), 2)}
        stop = {"stop_price": round(self.price * (1 - sign * width), 2)}
        fields: dict[str, Any] = {"time_in_force": "gtc"}
        if kind == "bracket":
            fields.update(order_class="bracket", take_profit=take, stop_loss=stop)
        else:
            fields.update(order_class="oto", **({"take_profit": take} if kind == "oto_take" else {"stop_loss": stop}))
        if limit:
            fields.update(type="limit", limit_price=round(self.price * (1 - sign * 0.002), 2))
        with contextlib.suppress(*REFUSALS):
            order = self.run(self.broker.submit_order(_request("X", side, quantity, fields)))
            self.parents.append(order.id)

    @rule(quantity=st.integers(1, 300), width=st.floats(0.005, 0.05))
    def oco(self, quantity: int, width: float) -> None:
        position = self.run(self.broker.get_position("X"))
        if position is None:
            return
        side, sign = ("sell", 1) if position.quantity > 0 else ("buy", -1)
        take = round(self.price * (1 + sign * width), 2)
        fields = {
            "type": "limit",
            "limit_price": take,
            "order_class": "oco",
            "take_profit": {"limit_price": take},
            "stop_loss": {"stop_price": round(self.price * (1 - sign * width), 2)},
            "time_in_force": "gtc",
        }
        with contextlib.suppress(*REFUSALS):
            order = self.run(
                self.broker.submit_order(_request("X", side, min(quantity, abs(position.quantity)), fields))
            )
            self.parents.append(order.id)
            self.shared[order.id] = order.quantity

    @precondition(lambda self: self.parents)
    @rule(pick=st.integers(0, 10_000), leg=st.integers(-1, 1))
    def cancel(self, pick: int, leg: int) -> None:
        parent = self._latest(self.parents[pick % len(self.parents)])
        target = parent.id if leg < 0 or not parent.legs else parent.legs[leg % len(parent.legs)]
        with contextlib.suppress(*REFUSALS):
            self.run(self.broker.cancel_order(target))
            self.canceled.add(parent.id)

    @precondition(lambda self: self.parents)
    @rule(pick=st.integers(0, 10_000), leg=st.integers(0, 1), move=st.floats(-0.03, 0.03, allow_nan=False))
    def move_exit(self, pick: int, leg: int, move: float) -> None:
        """Replace an exit's price (a take-profit's limit, a stop-loss's stop), as a bot moves its bracket."""
        parent = self._latest(self.parents[pick % len(self.parents)])
        legs = [self.run(self.broker.get_order(i)) for i in parent.legs]
        exits = [parent, *legs] if parent.order_class.value == "oco" else legs
        target = exits[leg % len(exits)] if exits else None
        if target is None or not target.is_open:
            return
        price = max(1.0, round((target.stop_price or target.limit_price or self.price) * (1 + move), 2))
        change = {"stop_price": price} if target.stop_price is not None else {"limit_price": price}
        with contextlib.suppress(*REFUSALS, OrderNotReplaceable):
            self.run(self.broker.replace_order(target.id, **change))

    @invariant()
    def a_canceled_group_has_nothing_working(self) -> None:
        for parent_id in self.canceled:
            parent = self._latest(parent_id)
            for member in [parent, *(self.run(self.broker.get_order(i)) for i in parent.legs)]:
                assert not member.is_open or member.status is OrderStatus.PENDING_CANCEL, member

    @invariant()
    def a_held_exit_never_filled(self) -> None:
        for parent_id in self.parents:
            parent = self._latest(parent_id)
            for leg in (self.run(self.broker.get_order(i)) for i in parent.legs):
                if leg.status is OrderStatus.HELD:
                    assert leg.filled_quantity == 0 and leg.triggered_at is None

    @rule(move=st.floats(-0.04, 0.04, allow_nan=False), volume=st.integers(0, 8_000))
    def bar(self, move: float, volume: int) -> None:
        when = self.clock.now() + timedelta(minutes=1)
        self.run(self.clock.advance_to(when, events_pending=True))
        new = max(1.0, round(self.price * (1 + move), 2))
        high, low = max(self.price, new) * 1.003, min(self.price, new) * 0.997
        self.run(self.broker.update_market(Bar("X", when, self.price, high, low, new, volume, 60.0)))
        self.price = new

    @invariant()
    def exits_never_exceed_what_they_share(self) -> None:
        for parent_id in self.parents:
            parent = self._latest(parent_id)
            legs = [self.run(self.broker.get_order(i)) for i in parent.legs]
            if parent.order_class.value == "oco":
                group, total = [parent, *legs], self.shared[parent_id]
            else:
                group, total = legs, parent.filled_quantity
            assert math.fsum(o.filled_quantity for o in group) <= total + 1e-9
            sized = parent.order_class.value == "oco" or parent.status.is_final  # exits sized once the entry ended
            for member in group:
                if member.is_open and sized:
                    assert member.quantity <= total + 1e-9
                assert member.id not in self.broker.reservations() or member is parent

    @invariant()
    def no_exit_fills_after_its_sibling_filled(self) -> None:
        for parent_id in self.parents:
            parent = self._latest(parent_id)
            legs = [self.run(self.broker.get_order(i)) for i in parent.legs]
            group = [parent, *legs] if parent.order_class.value == "oco" else legs
            for member in group:
                before = self.done.get(member.id)
                if before is not None:
                    # a sibling still open may be replaced (a held stop moved): its fills are its chain's
                    now = {i: self._chain_filled(i) for i in before}
                    assert now == before, "a sibling filled after its exit filled"
                elif member.status is OrderStatus.FILLED:
                    self.done[member.id] = {o.id: self._chain_filled(o.id) for o in group if o.id != member.id}

    def _chain_filled(self, order_id: str) -> float:
        """What an order and the orders that replaced it, one after the other, filled."""
        order = self.run(self.broker.get_order(order_id))
        filled = order.filled_quantity
        while order.status is OrderStatus.REPLACED and order.replaced_by is not None:
            order = self.run(self.broker.get_order(order.replaced_by))
            filled += order.filled_quantity
        return filled

    @invariant()
    def the_ledger_balances(self) -> None:
        account = self.run(self.broker.get_account())
        positions = self.run(self.broker.get_positions())
        basis = math.fsum(p.cost_basis for p in positions)
        expected = account.initial_balance + account.realized_pnl - account.fees  # type: ignore[operator]
        assert math.isclose(account.cash + basis, expected, abs_tol=1e-6 * max(1.0, abs(account.cash)))
        held = {p.symbol: p.quantity for p in positions}
        assert math.isclose(held.get("X", 0.0), math.fsum(f.signed_quantity for f in self.fills), abs_tol=1e-6)
        if not self.run(self.broker.list_orders("open")):
            assert self.broker.reservations() == {}

    def teardown(self) -> None:
        if hasattr(self, "broker"):
            self.run(self.broker.close())
        self.loop.close()


def _request(symbol: str, side: str, quantity: float, fields: dict[str, Any]) -> Any:
    from broker_sim import OrderRequest

    return OrderRequest(symbol, side, quantity, **fields)  # type: ignore[arg-type]


OrderClassMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("BROKER_SIM_STATE_MACHINE_EXAMPLES", "100")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
test_order_classes_state_machine = OrderClassMachine.TestCase
