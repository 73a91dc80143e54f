"""A bar that crosses both exits of a position: the stop first by default (the conservative reading, at the open
if the bar opened through it), or along an O-H-L-C / adaptive path as NautilusTrader does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker_sim import Bar, OrderStatus, PaperBroker, SimulatedClock
from tests.conftest import T0

BRACKET = {"order_class": "bracket", "take_profit": {"limit_price": 110.0}, "stop_loss": {"stop_price": 94.0}}


class Tape:
    def __init__(self, **fill: Any) -> None:
        fill.setdefault("model", "bar")
        self.broker = PaperBroker(100_000, clock=SimulatedClock(T0), latency="none", slippage="none", fill=fill)
        self.minute = 0

    async def bar(self, open_: float, high: float, low: float, close: float) -> None:
        self.minute += 1
        when = T0 + timedelta(minutes=self.minute)
        await self.broker.clock.advance_to(when, events_pending=True)  # type: ignore[attr-defined]
        await self.broker.update_market(Bar("AAPL", when, open_, high, low, close, 1e6, 60.0))

    async def long_with_exits(self, **exits: Any) -> tuple[str, str]:
        """Buy 10 at 100 with a take-profit at 110 and a stop at 94; returns (take-profit id, stop id)."""
        await self.bar(100, 100, 100, 100)
        entry = await self.broker.buy("AAPL", 10, **(exits or BRACKET))
        await self.bar(100, 100, 100, 100)  # the entry fills at 100
        assert (await self.broker.get_order(entry.id)).status is OrderStatus.FILLED
        take, stop = entry.legs
        return take, stop

    async def realized(self) -> float:
        return (await self.broker.get_account()).realized_pnl  # type: ignore[return-value]


async def test_a_bar_crossing_both_exits_stops_the_position_out_by_default() -> None:
    tape = Tape()
    take, stop = await tape.long_with_exits()
    await tape.bar(100, 111, 93, 100)  # reaches 110 and 94: which came first is unknown
    assert (await tape.broker.get_order(stop)).filled_avg_price == 94.0
    assert (await tape.broker.get_order(take)).status is OrderStatus.CANCELED
    assert await tape.realized() == pytest.approx(-60.0)  # 10 x (94 - 100), not the +100 of the take-profit


async def test_a_bar_opening_through_the_stop_stops_out_at_the_open_even_if_it_later_reaches_the_target() -> None:
    tape = Tape()
    take, stop = await tape.long_with_exits()
    await tape.bar(92, 111, 91, 105)
    assert (await tape.broker.get_order(stop)).filled_avg_price == 92.0  # the open: it gapped through 94
    assert (await tape.broker.get_order(take)).status is OrderStatus.CANCELED
    assert await tape.realized() == pytest.approx(-80.0)  # 10 x (92 - 100)


async def test_a_bar_opening_through_the_target_takes_the_profit_at_the_open() -> None:
    tape = Tape()
    take, stop = await tape.long_with_exits()
    await tape.bar(112, 113, 90, 95)  # the open already beyond 110: it traded first
    assert (await tape.broker.get_order(take)).filled_avg_price == 112.0
    assert (await tape.broker.get_order(stop)).status is OrderStatus.CANCELED


async def test_the_ohlc_path_fills_the_exit_the_path_reaches_first() -> None:
    tape = Tape(intrabar="ohlc")
    take, stop = await tape.long_with_exits()
    await tape.bar(100, 111, 93, 100)  # O -> H (110 at t = 10/11 x 1/3) before H -> L (94 at t > 1/3)
    assert (await tape.broker.get_order(take)).filled_avg_price == 110.0
    assert (await tape.broker.get_order(stop)).status is OrderStatus.CANCELED
    assert await tape.realized() == pytest.approx(100.0)


async def test_the_adaptive_path_visits_the_extreme_nearer_the_open_first() -> None:
    tape = Tape(intrabar="adaptive")
    take, stop = await tape.long_with_exits()
    await tape.bar(100, 111, 93, 100)  # the low (7 away) is nearer the open than the high (11): O -> L -> H -> C
    assert (await tape.broker.get_order(stop)).filled_avg_price == 94.0
    assert (await tape.broker.get_order(take)).status is OrderStatus.CANCELED


async def test_an_oco_pair_crossed_in_one_bar_stops_out_first() -> None:
    tape = Tape()
    await tape.bar(100, 100, 100, 100)
    await tape.broker.buy("AAPL", 10)
    await tape.bar(100, 100, 100, 100)
    oco = await tape.broker.sell(
        "AAPL", 10, type="limit", limit_price=110.0, order_class="oco",
        take_profit={"limit_price": 110.0}, stop_loss={"stop_price": 94.0},
    )  # fmt: skip
    await tape.bar(100, 111, 93, 100)
    assert (await tape.broker.get_order(oco.legs[0])).filled_avg_price == 94.0
    assert (await tape.broker.get_order(oco.id)).status is OrderStatus.CANCELED


async def test_a_strategys_separate_stop_and_limit_crossed_in_one_bar_fill_stop_first() -> None:
    tape = Tape()
    await tape.bar(100, 100, 100, 100)
    await tape.broker.buy("AAPL", 10)
    await tape.bar(100, 100, 100, 100)
    target = await tape.broker.sell("AAPL", 5, type="limit", limit_price=110.0, time_in_force="gtc")
    stop = await tape.broker.sell("AAPL", 5, type="stop", stop_price=94.0, time_in_force="gtc")
    fills: list[str] = []
    tape.broker.add_listener(lambda event: fills.append(event.order.id) if event.fill is not None else None)
    await tape.bar(100, 111, 93, 100)
    assert fills == [stop.id, target.id]  # both fill (each its own 5 shares), the stop first
