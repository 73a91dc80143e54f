"""The door asks a rule only about the requests it could refuse (`Concern`): the request's kind, and whether the
account gives the rule anything to check (open orders in the symbol, a position the order reduces, perhaps beyond
what it has available, a sale beyond what is held). Skipping never changes an answer: over random sequences the
door refuses exactly what asking every rule in force refuses, with the same words."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker_sim import OrderNotCancelable, OrderRefused, OrderRequest, PaperBroker, SimulatedClock, Trade
from broker_sim.models import Order
from broker_sim.rules import ALPACA_RULES, AccountView, Concern, Door, RuleSettings, ShortSaleRefused, check_order
from tests.conftest import SLOW, T0


@attrs.define
class _Asked:
    """A rule that refuses nothing and notes each request it is asked about."""

    concern: ClassVar[Concern] = Concern.ANY
    setting: str | None = None
    asked: list[str] = attrs.field(factory=list)

    def check(self, request: OrderRequest, view: AccountView, replacing: Order | None = None) -> None:
        self.asked.append(f"{request.side.value} {request.quantity or request.notional:g}")


@attrs.define
class _AskedWithOpenOrders(_Asked):
    concern: ClassVar[Concern] = Concern.OPEN_ORDERS


@attrs.define
class _AskedWhenClosing(_Asked):
    concern: ClassVar[Concern] = Concern.CLOSING


@attrs.define
class _AskedForFlips(_Asked):
    concern: ClassVar[Concern] = Concern.FLIPS


@attrs.define
class _AskedForShortSales(_Asked):
    concern: ClassVar[Concern] = Concern.SHORT_SALES


async def _broker() -> PaperBroker:
    broker = PaperBroker(100_000, seed=3, clock=SimulatedClock(T0), latency="none", allow_short=True)
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    return broker


async def test_a_rule_about_open_orders_is_asked_only_when_the_symbol_has_some() -> None:
    broker = await _broker()
    rule = _AskedWithOpenOrders()
    door = Door([rule], RuleSettings())
    door.check(OrderRequest("AAPL", "buy", 1), broker._view)
    assert rule.asked == []
    await broker.buy("AAPL", 1, type="limit", limit_price=90.0, time_in_force="gtc")  # rests on the book
    door.check(OrderRequest("AAPL", "sell", 2), broker._view)
    door.check(OrderRequest("MSFT", "sell", 3), broker._view)  # nothing open in MSFT
    assert rule.asked == ["sell 2"]


async def test_rules_about_closing_and_flips_are_asked_only_for_orders_against_the_position() -> None:
    """A rule about closing hears of every order against the position; one about flips only of those that may be
    more than the position still available."""
    broker = await _broker()
    closing, flips = _AskedWhenClosing(), _AskedForFlips()
    door = Door([closing, flips], RuleSettings())
    door.check(OrderRequest("AAPL", "sell", 1), broker._view)  # flat: opens a short, closes nothing
    await broker.buy("AAPL", 5)
    door.check(OrderRequest("AAPL", "buy", 9), broker._view)  # grows the long
    door.check(OrderRequest("AAPL", "sell", 5), broker._view)  # closes the long exactly
    door.check(OrderRequest("AAPL", "sell", 6), broker._view)
    door.check(OrderRequest("AAPL", "sell", notional=100.0), broker._view)  # its quantity is the rule's to size
    await broker.sell("AAPL", 1, type="limit", limit_price=110.0, time_in_force="gtc")  # holds 1 of the 5
    door.check(OrderRequest("AAPL", "sell", 4), broker._view)
    await broker.cancel_order((await broker.list_orders())[0].id)
    await broker.sell("AAPL", 5)
    await broker.sell("AAPL", 3)  # now short 3
    door.check(OrderRequest("AAPL", "buy", 3), broker._view)  # covers the short exactly
    door.check(OrderRequest("AAPL", "buy", 4), broker._view)
    assert closing.asked == ["sell 5", "sell 6", "sell 100", "sell 4", "buy 3", "buy 4"]
    assert flips.asked == ["sell 6", "sell 100", "sell 4", "buy 4"]


async def test_a_rule_about_short_sales_is_asked_only_for_a_sale_beyond_the_position() -> None:
    broker = await _broker()
    rule = _AskedForShortSales()
    door = Door([rule], RuleSettings())
    await broker.buy("AAPL", 5)
    door.check(OrderRequest("AAPL", "buy", 1), broker._view)
    door.check(OrderRequest("AAPL", "sell", 5), broker._view)  # closes the long exactly
    door.check(OrderRequest("AAPL", "sell", 6), broker._view)
    door.check(OrderRequest("AAPL", "sell", notional=100.0), broker._view)  # its quantity is the rule's to size
    await broker.sell("AAPL", 1, type="limit", limit_price=110.0, time_in_force="gtc")  # holds 1 of the 5
    door.check(OrderRequest("AAPL", "sell", 4), broker._view)
    assert rule.asked == ["sell 6", "sell 100", "sell 4"]


async def test_a_rule_of_any_concern_is_asked_about_every_order() -> None:
    broker = await _broker()
    rule = _Asked()
    door = Door([rule], RuleSettings())
    door.check(OrderRequest("AAPL", "buy", 1), broker._view)
    door.check(OrderRequest("AAPL", "sell", 2), broker._view)
    assert rule.asked == ["buy 1", "sell 2"]


async def test_a_sale_of_shares_open_orders_hold_is_still_a_short_sale() -> None:
    """With the flip check relaxed, a sell within the position but beyond what resting sells leave free is the short
    sale a cash account may not make: the door must ask the short-selling rule though the position covers it."""
    relaxed = {"position_flip_check": False}
    broker = PaperBroker(100_000, seed=3, clock=SimulatedClock(T0), latency="none", rules=relaxed)
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    await broker.buy("AAPL", 5)
    await broker.sell("AAPL", 3, type="limit", limit_price=110.0, time_in_force="gtc")  # holds 3 of the 5
    with pytest.raises(ShortSaleRefused, match="a cash account cannot sell short"):
        await broker.sell("AAPL", 3)
    assert (await broker.sell("AAPL", 2)).status.value == "filled"


ORDER = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["AAPL", "MSFT"]),
        "side": st.sampled_from(["buy", "sell"]),
        "quantity": st.one_of(st.integers(1, 20), st.sampled_from([0.5, 2.25])),
        "limit": st.one_of(st.none(), st.floats(-0.03, 0.03, allow_nan=False)),
    }
)
STEP = st.one_of(
    st.tuples(st.just("order"), ORDER),
    st.tuples(st.just("cancel"), st.integers(0, 100)),
    st.tuples(st.just("wait"), st.sampled_from([0.5, 1.0, 3.0])),
)


def _answer(ask: Any) -> str | None:
    """What asking gives: the refusal's kind and words, or None."""
    try:
        ask()
    except OrderRefused as refused:
        return f"{type(refused).__name__}: {refused}"
    return None


async def _same_answers(steps: list[tuple[Any, ...]], account: str, relaxed: set[str]) -> None:
    clock = SimulatedClock(T0, auto_advance=False)
    broker = PaperBroker(
        10_000,
        seed=9,
        clock=clock,
        account=account,
        latency={"model": "uniform", "low": 0.5, "high": 2.0},
        rules=dict.fromkeys(relaxed, False),
    )
    door, view = broker._door, broker._view
    everyone = [rule for rule in ALPACA_RULES if rule.setting is None or getattr(broker.rules, rule.setting)]
    for symbol, price in {"AAPL": 100.0, "MSFT": 50.0}.items():
        await broker.update_market(Trade(symbol, clock.now(), price, 100))
    ids: list[str] = []
    for step in steps:
        if step[0] == "order":
            spec = step[1]
            fields: dict[str, Any] = {}
            if spec["limit"] is not None:
                limit = round((100.0 if spec["symbol"] == "AAPL" else 50.0) * (1 + spec["limit"]), 2)
                fields = {"type": "limit", "time_in_force": "gtc", "limit_price": limit}
            request = OrderRequest(spec["symbol"], spec["side"], spec["quantity"], **fields)
            asked = _answer(lambda: door.check(request, view))  # noqa: B023 (called at once)
            assert asked == _answer(lambda: check_order(request, view, everyone))  # noqa: B023
            if asked is None:
                with contextlib.suppress(OrderRefused):
                    ids.append((await broker.submit_order(request)).id)
        elif step[0] == "cancel" and ids:
            with contextlib.suppress(OrderNotCancelable):
                await broker.cancel_order(ids[step[1] % len(ids)])
        elif step[0] == "wait":
            await clock.advance(step[1])
    await broker.close()


@settings(max_examples=200 if SLOW else 30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(STEP, max_size=40),
    account=st.sampled_from(["cash", "margin"]),
    relaxed=st.sets(st.sampled_from(["position_flip_check", "pdt_check", "wash_trade"])),  # a rule masks another
)
def test_the_door_refuses_exactly_what_asking_every_rule_refuses(
    steps: list[tuple[Any, ...]], account: str, relaxed: set[str]
) -> None:
    asyncio.run(_same_answers(steps, account, relaxed))
