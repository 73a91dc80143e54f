"""Cash and margin accounts: Reg T initial margin, Alpaca's maintenance margin table, and margin calls made at the
close and liquidated at the next open when not met (https://docs.alpaca.markets/docs/margin-and-short-selling)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker_sim import (
    AccountEvent,
    AccountEventType,
    Bar,
    InsufficientBuyingPower,
    OrderStatus,
    PaperBroker,
    SimulatedClock,
)
from tests.conftest import T0


def _broker(**settings: Any) -> PaperBroker:
    # Orders valued at their price, not Alpaca's collar above it: these tests size orders to the margin's edge.
    settings.setdefault("rules", {"buying_power_collar": False})
    return PaperBroker(100_000, clock=SimulatedClock(T0), latency="none", slippage="none", **settings)


async def _price(broker: PaperBroker, price: float) -> None:
    await broker.update_market(Bar("AAPL", broker.clock.now(), price, price, price, price, 1e9))


async def test_a_margin_account_shorts_up_to_twice_its_equity_as_reg_t_allows() -> None:
    broker = _broker(account="margin", allow_short=True)
    await _price(broker, 100.0)
    assert (await broker.get_account()).buying_power == pytest.approx(200_000)
    with pytest.raises(InsufficientBuyingPower):
        await broker.sell("AAPL", 2_001)
    short = await broker.sell("AAPL", 2_000)
    assert short.status is OrderStatus.FILLED
    account = await broker.get_account()
    assert account.equity == pytest.approx(100_000) and account.buying_power == pytest.approx(0.0, abs=1e-6)
    assert account.initial_margin == pytest.approx(100_000) and account.maintenance_margin == pytest.approx(60_000)


async def test_a_cash_account_keeps_the_150_percent_rule_for_shorts() -> None:
    broker = _broker(allow_short=True)
    await _price(broker, 100.0)
    with pytest.raises(InsufficientBuyingPower):
        await broker.sell("AAPL", 667)
    assert (await broker.sell("AAPL", 666)).status is OrderStatus.FILLED


async def test_a_margin_account_buys_up_to_twice_its_equity_and_borrows_the_cash() -> None:
    broker = _broker(account="margin")
    await _price(broker, 100.0)
    assert (await broker.buy("AAPL", 2_000)).status is OrderStatus.FILLED
    account = await broker.get_account()
    assert account.cash == pytest.approx(-100_000) and account.equity == pytest.approx(100_000)
    with pytest.raises(InsufficientBuyingPower):
        await broker.buy("AAPL", 1)
    with_cash = _broker()
    await _price(with_cash, 100.0)
    with pytest.raises(InsufficientBuyingPower):  # cash: nothing beyond cash
        await with_cash.buy("AAPL", 1_001)


CLOSE = T0.replace(hour=21)  # Monday 16:00 New York
NEXT_OPEN = T0 + timedelta(days=1)  # Tuesday 09:30 New York


def _account_events(broker: PaperBroker) -> list[AccountEvent]:
    events: list[AccountEvent] = []
    broker.add_account_listener(events.append)
    return events


async def test_a_short_that_runs_away_is_called_at_the_close_and_liquidated_at_the_next_open() -> None:
    broker = _broker(account="margin", allow_short=True)
    orders: list[tuple[str, str]] = []
    broker.add_listener(lambda event: orders.append((event.type.value, event.order.side.value)))
    events = _account_events(broker)
    await _price(broker, 100.0)
    await broker.sell("AAPL", 2_000)
    await _price(broker, 120.0)  # equity 60,000 < 30 % of 240,000 = 72,000, but Alpaca calls at the close
    assert events == [] and len(await broker.get_positions()) == 1
    await broker.clock.advance_to(CLOSE)  # type: ignore[attr-defined]
    (call,) = events
    assert (call.type, call.equity, call.requirement, call.amount) == (
        AccountEventType.MARGIN_CALL, pytest.approx(60_000), pytest.approx(72_000), pytest.approx(12_000),
    )  # fmt: skip
    assert ("margin_call", "buy") not in orders  # nothing is liquidated before the call is due
    await broker.clock.advance_to(NEXT_OPEN)  # type: ignore[attr-defined]
    assert [e.type for e in events] == [AccountEventType.MARGIN_CALL, AccountEventType.LIQUIDATION]
    assert ("margin_call", "buy") in orders
    # The call needed 12,000 of requirement freed: 36 a share (30 % of 120) -> 334 shares bought back.
    (position,) = await broker.get_positions()
    assert position.quantity == -1_666
    account = await broker.get_account()
    assert account.equity >= account.maintenance_margin  # type: ignore[operator]


async def test_a_call_met_before_it_is_due_ends_without_a_liquidation() -> None:
    broker = _broker(account="margin", allow_short=True)
    events = _account_events(broker)
    await _price(broker, 100.0)
    await broker.sell("AAPL", 2_000)
    await _price(broker, 120.0)
    await broker.clock.advance_to(CLOSE)  # type: ignore[attr-defined]
    await broker.clock.advance_to(NEXT_OPEN - timedelta(hours=1))  # type: ignore[attr-defined]
    await _price(broker, 100.0)  # before the open the price came back
    await broker.clock.advance_to(NEXT_OPEN)  # type: ignore[attr-defined]
    assert [e.type for e in events] == [AccountEventType.MARGIN_CALL, AccountEventType.MARGIN_CALL_MET]
    assert (await broker.get_position("AAPL")).quantity == -2_000  # type: ignore[union-attr]


async def test_a_cash_account_short_is_no_longer_bought_back_intraday_but_at_the_open_after_its_call() -> None:
    broker = _broker(allow_short=True)
    await _price(broker, 100.0)
    await broker.sell("AAPL", 666)
    for price in (150.0, 200.0, 300.0, 400.0):
        await _price(broker, price)
    assert len(await broker.get_positions()) == 1  # intraday: no call
    await broker.clock.advance_to(NEXT_OPEN)  # type: ignore[attr-defined]
    assert await broker.get_positions() == []  # the call at the close needed every share bought back


async def test_without_liquidation_a_call_is_reported_and_positions_are_kept(caplog: pytest.LogCaptureFixture) -> None:
    broker = _broker(account="margin", allow_short=True, liquidate_on_margin_call=False)
    events = _account_events(broker)
    await _price(broker, 100.0)
    await broker.sell("AAPL", 2_000)
    await _price(broker, 120.0)
    await broker.clock.advance_to(NEXT_OPEN)  # type: ignore[attr-defined]
    assert [e.type for e in events] == [AccountEventType.MARGIN_CALL]
    assert len(await broker.get_positions()) == 1
    assert "margin call not met (liquidate_on_margin_call is off" in caplog.text
    await _price(broker, 100.0)
    await broker.clock.advance_to(CLOSE + timedelta(days=1))  # type: ignore[attr-defined]
    assert [e.type for e in events] == [AccountEventType.MARGIN_CALL, AccountEventType.MARGIN_CALL_MET]


async def test_longs_within_alpacas_30_percent_are_never_called() -> None:
    broker = _broker(account="margin", margin_interest="none")
    events = _account_events(broker)
    await _price(broker, 100.0)
    await broker.buy("AAPL", 2_000)  # 200,000 of stock on 100,000 of equity
    await _price(broker, 72.0)  # equity 44,000 >= 30 % of 144,000 = 43,200
    await broker.clock.advance_to(CLOSE)  # type: ignore[attr-defined]
    assert events == []
    await _price(broker, 70.0)  # equity 40,000 < 42,000: called at the next close
    await broker.clock.advance_to(CLOSE + timedelta(days=1))  # type: ignore[attr-defined]
    assert [e.type for e in events] == [AccountEventType.MARGIN_CALL]
    assert events[0].amount == pytest.approx(2_000)


@pytest.mark.parametrize(
    ("quantity", "price", "requirement"),
    [
        (1_000, 2.00, 2_000.0),  # a long under $2.50: 100 % of its value
        (1_000, 10.00, 3_000.0),  # a long at $2.50 or more: 30 %
        (-1_000, 3.00, 3_000.0),  # a short under $5: the greater of $2.50 a share (2,500) and 100 % (3,000)
        (-1_000, 2.00, 2_500.0),  # ... and here the $2.50 a share
        (-100, 10.00, 500.0),  # a short at $5 or more: the greater of $5.00 a share (500) and 30 % (300)
        (-100, 20.00, 600.0),  # ... and here the 30 %
    ],
)
async def test_the_maintenance_margin_is_alpacas_table(quantity: int, price: float, requirement: float) -> None:
    broker = _broker(account="margin", allow_short=True)
    await _price(broker, price)
    await (broker.buy if quantity > 0 else broker.sell)("AAPL", abs(quantity))
    assert (await broker.get_account()).maintenance_margin == pytest.approx(requirement)


async def test_relaxing_the_table_keeps_flat_rates() -> None:
    broker = _broker(account="margin", rules={"maintenance_table": False}, maintenance_margin_long=0.25)
    await _price(broker, 2.0)
    await broker.buy("AAPL", 1_000)
    assert (await broker.get_account()).maintenance_margin == pytest.approx(500.0)  # 25 %, not 100 %


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"account": "credit"}, "account must be one of cash, margin"),
        ({"margin_multiplier": 10}, "margin_multiplier must be a number from 1 to 4"),
        ({"maintenance_margin_short": 1.5}, "maintenance_margin_short must be a fraction"),
        ({"liquidate_on_margin_call": "yes"}, "liquidate_on_margin_call must be true or false"),
    ],
)
def test_bad_margin_settings_are_config_errors(settings: dict[str, Any], message: str) -> None:
    from broker_sim import ConfigError

    with pytest.raises(ConfigError, match=message):
        PaperBroker(**settings)
