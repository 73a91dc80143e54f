"""Financing on the paper adapter: borrow fees on shorts and interest on a margin debit, charged at each session
close as Alpaca computes them (https://alpaca.markets/support/short-selling-fees,
https://alpaca.markets/support/determine-margin-account/), booked as FEE/INT activities and account events, and
chosen in YAML as commission models are (pluggy models, wrapped like any)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from broker_sim import (
    AccountEvent,
    AccountEventType,
    ActivityType,
    Bar,
    ConfigError,
    PaperBroker,
    SimulatedClock,
    hookimpl,
)
from broker_sim.clock import TimerHandle
from broker_sim.rules import RuleSettings
from tests.conftest import T0

MONDAY_CLOSE = T0.replace(hour=21)  # 16:00 New York, Monday 2 March 2026
FRIDAY_CLOSE = MONDAY_CLOSE + timedelta(days=4)


def _broker(**settings: Any) -> PaperBroker:
    settings.setdefault("latency", "none")
    settings.setdefault("slippage", "none")
    return PaperBroker(100_000, clock=SimulatedClock(T0), account="margin", allow_short=True, **settings)


async def _price(broker: PaperBroker, symbol: str, price: float) -> None:
    await broker.update_market(Bar(symbol, broker.clock.now(), price, price, price, price, 1e9))


def _events(broker: PaperBroker) -> list[AccountEvent]:
    events: list[AccountEvent] = []
    broker.add_account_listener(events.append)
    return events


async def test_alpacas_borrow_fee_example_one_share_short_pays_for_a_round_lot() -> None:
    # Alpaca's example: 1 share of AAPL short at 205.00, 2.5 % a year -> charged on 100 shares: 20,500 x 2.5 % /
    # 360 = 1.42 a day, 9.94 a week (https://forum.alpaca.markets/t/short-1-share-interest-on-100-shares/14424).
    broker = _broker(borrow_fee={"model": "annual_rate", "rate": 0.025})
    events = _events(broker)
    await _price(broker, "AAPL", 205.0)
    await broker.sell("AAPL", 1)
    await broker.clock.advance_to(MONDAY_CLOSE)  # type: ignore[attr-defined]
    (fee,) = events
    assert (fee.type, fee.amount) == (AccountEventType.FEE, 1.42)
    activity = fee.activity
    assert activity is not None
    assert (activity.type, activity.symbol, activity.quantity, activity.price, activity.days, activity.date) == (
        ActivityType.FEE, "AAPL", 1.0, 205.0, 1, "2026-03-02",
    )  # fmt: skip
    account = await broker.get_account()
    assert account.fees == 1.42 and account.cash == pytest.approx(100_000 + 205 - 1.42)
    assert broker.state.activities == [activity]


async def test_a_short_held_over_a_weekend_pays_three_days_at_fridays_close() -> None:
    broker = _broker(borrow_fee={"model": "annual_rate", "rate": 0.025})
    events = _events(broker)
    await _price(broker, "AAPL", 205.0)
    await broker.sell("AAPL", 1)
    await broker.clock.advance_to(FRIDAY_CLOSE)  # type: ignore[attr-defined]
    assert [(e.activity.days, e.amount) for e in events if e.activity] == [(1, 1.42)] * 4 + [(3, 4.27)]
    assert sum(e.amount for e in events) == pytest.approx(9.95)  # a week: 7 days (Alpaca's 9.94 before rounding)


async def test_easy_to_borrow_names_cost_nothing_by_default_and_hard_to_borrow_ones_their_rate() -> None:
    broker = _broker(borrow_fee={"model": "annual_rate", "rates": {"GME": 0.36}})
    events = _events(broker)
    for symbol in ("AAPL", "GME"):
        await _price(broker, symbol, 100.0)
        await broker.sell(symbol, 200)
    await broker.clock.advance_to(MONDAY_CLOSE)  # type: ignore[attr-defined]
    assert [(e.activity.symbol, e.amount) for e in events if e.activity] == [("GME", 20.0)]  # 20,000 x 36 % / 360


async def test_margin_interest_is_charged_daily_on_the_closing_debit() -> None:
    # Alpaca: daily interest = end-of-day debit x rate / 360; its page names 3.75 % (the default here).
    broker = _broker()
    events = _events(broker)
    await _price(broker, "AAPL", 100.0)
    await broker.buy("AAPL", 1_500)  # 150,000 of stock on 100,000: a 50,000 debit
    await broker.clock.advance_to(MONDAY_CLOSE)  # type: ignore[attr-defined]
    (interest,) = events
    assert (interest.type, interest.amount) == (AccountEventType.INTEREST, 5.21)  # 50,000 x 3.75 % / 360
    assert interest.activity is not None and interest.activity.type is ActivityType.INT
    account = await broker.get_account()
    assert account.cash == pytest.approx(-50_005.21) and account.fees == 5.21


class _CountingClock(SimulatedClock):
    """A simulated clock that counts the callbacks scheduled for each moment (what the broker watches)."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.scheduled: Counter[float] = Counter()

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        self.scheduled[when] += 1
        return super().call_at(when, callback, *args)

    def call_after(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        self.scheduled[when] += 1
        return super().call_after(when, callback, *args)


async def test_no_debit_and_no_short_pays_nothing_and_a_cash_account_needs_no_watch() -> None:
    clock = _CountingClock(T0)
    broker = PaperBroker(100_000, clock=clock, latency="none", slippage="none")
    events = _events(broker)
    await _price(broker, "AAPL", 100.0)
    await broker.buy("AAPL", 100)
    await clock.advance_to(FRIDAY_CLOSE)
    assert events == [] and broker.state.activities == []
    # No financing close is watched: the one timer at each close notes the account (Alpaca's last_equity).
    closes = [broker.session.next_close(T0.timestamp())]
    while len(closes) < 5:
        closes.append(broker.session.next_close(closes[-1] + 1.0))
    assert [clock.scheduled[close] for close in closes] == [1] * 5


async def test_a_plugin_wraps_the_borrow_fee_as_it_wraps_any_model() -> None:
    class Double:
        @hookimpl(wrapper=True)
        def broker_sim_borrow_fee(self, symbol: str) -> Any:
            fee = yield
            return fee * 2

    broker = _broker(borrow_fee={"model": "annual_rate", "rate": 0.025})
    broker.plugin_manager.register(Double())
    events = _events(broker)
    await _price(broker, "AAPL", 205.0)
    await broker.sell("AAPL", 1)
    await broker.clock.advance_to(MONDAY_CLOSE)  # type: ignore[attr-defined]
    assert [e.amount for e in events] == [2.85]


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ({"borrow_fee": {"model": "annual_rate", "rate": -0.1}}, "rate must be >= 0"),
        ({"borrow_fee": {"model": "annual_rate", "rates": {"GME": "high"}}}, r"rates\.GME must be a finite number"),
        ({"margin_interest": {"model": "annual_rate", "days_per_year": 0}}, "days_per_year must be > 0"),
        ({"margin_interest": {"model": "monthly"}}, "monthly"),
    ],
)
def test_bad_financing_models_are_config_errors(models: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PaperBroker(**models)


def test_financing_models_are_chosen_in_yaml(tmp_path: Path) -> None:
    from broker_sim import build_broker
    from broker_sim.wiring import parse_config

    config = parse_config(
        "broker: {adapter: paper, account: margin}\n"
        "models:\n"
        "  borrow_fee: {model: annual_rate, rate: 0.01, rates: {GME: 0.5}}\n"
        "  margin_interest: {model: annual_rate, rate: 0.06}\n"
        "prices: {sources: [{source: synthetic, symbols: [AAPL], count: 10}]}\n"
        "strategy: {class: examples.buy_and_hold:BuyAndHold}\n",
        base_dir=tmp_path,
    )
    broker = build_broker(config)
    assert isinstance(broker, PaperBroker)
    assert broker.models["borrow_fee"].rates == {"GME": 0.5}
    assert broker.models["margin_interest"].rate == 0.06


async def test_relaxed_rules_leave_financing_on() -> None:
    broker = _broker(rules=RuleSettings.relaxed(), margin_interest={"model": "annual_rate", "rate": 0.036})
    events = _events(broker)
    await _price(broker, "AAPL", 100.0)
    await broker.buy("AAPL", 2_000)
    await broker.clock.advance_to(MONDAY_CLOSE)  # type: ignore[attr-defined]
    assert [e.amount for e in events] == [10.0]  # 100,000 x 3.6 % / 360
