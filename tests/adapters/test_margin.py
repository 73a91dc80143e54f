"""Cash and margin accounts: Reg T initial margin, maintenance margin and margin calls."""

from __future__ import annotations

from typing import Any

import pytest

from broker_sim import Bar, EventType, InsufficientBuyingPower, OrderStatus, PaperBroker, SimulatedClock
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


async def test_a_short_that_runs_away_is_liquidated_by_a_margin_call() -> None:
    broker = _broker(account="margin", allow_short=True)
    events: list[tuple[str, str]] = []
    broker.add_listener(lambda event: events.append((event.type.value, event.order.side.value)))
    await _price(broker, 100.0)
    await broker.sell("AAPL", 2_000)
    await _price(broker, 120.0)  # equity 60,000 >= maintenance 72,000? no: 60,000 < 0.3 x 240,000 = 72,000
    assert ("margin_call", "buy") in events
    assert await broker.get_positions() == []  # the short was bought back at the market
    account = await broker.get_account()
    assert account.equity == pytest.approx(60_000)


async def test_the_four_times_short_of_a_cash_account_no_longer_goes_deeply_negative() -> None:
    broker = _broker(allow_short=True)
    await _price(broker, 100.0)
    await broker.sell("AAPL", 666)
    for price in (150.0, 200.0, 300.0, 400.0):
        await _price(broker, price)
    account = await broker.get_account()
    assert await broker.get_positions() == []  # liquidated when the equity fell below 30 % of the short
    assert account.equity > 0


async def test_without_liquidation_a_margin_call_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    broker = _broker(account="margin", allow_short=True, liquidate_on_margin_call=False)
    await _price(broker, 100.0)
    await broker.sell("AAPL", 2_000)
    await _price(broker, 120.0)
    await _price(broker, 121.0)
    assert len(await broker.get_positions()) == 1
    assert caplog.text.count("margin call: equity") == 1  # once per breach


async def test_longs_within_maintenance_are_never_called() -> None:
    broker = _broker(account="margin")
    seen: list[EventType] = []
    broker.add_listener(lambda event: seen.append(event.type))
    await _price(broker, 100.0)
    await broker.buy("AAPL", 2_000)  # 200,000 of stock on 100,000 of equity
    await _price(broker, 70.0)  # equity 40,000 >= 25 % of 140,000 = 35,000
    assert EventType.MARGIN_CALL not in seen
    await _price(broker, 65.0)  # equity 30,000 < 32,500: called
    assert EventType.MARGIN_CALL in seen


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
