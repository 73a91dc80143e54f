"""Pattern day trader protection, with FINRA's examples from Alpaca's page and Alpaca's own pending-orders example:
a sub-$25,000 account cannot make a 4th day trade within 5 business days; the account reports its day trades."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from broker_sim import DayTradeRefused, PaperBroker, SimulatedClock, Trade
from broker_sim.calendar import TradingSession
from broker_sim.models import Side
from broker_sim.rules import DayTradeCounter
from broker_sim.rules.day_trading import pending_day_trades
from tests.conftest import T0  # Monday 2026-03-02, 09:30 New York


def _counter() -> DayTradeCounter:
    return DayTradeCounter(TradingSession.us_equity())


def _count(fills: list[tuple[str, float]], start: float = 0.0) -> int:
    """Day trades that buys and sells (side, quantity) make in one day from a position of `start`."""
    counter, position = _counter(), start
    for minute, (side, quantity) in enumerate(fills):
        counter.record("ABC", Side(side), quantity, position, T0 + timedelta(minutes=minute))
        position += quantity if side == "buy" else -quantity
    return counter.count(T0)


@pytest.mark.parametrize(
    ("fills", "start", "day_trades"),
    [
        ([("buy", 250), ("buy", 250), ("sell", 500)], 0, 1),  # FINRA example A
        ([("buy", 100), ("sell", 100), ("buy", 100), ("sell", 100)], 0, 2),  # FINRA example B
        ([("buy", 10), ("sell", 5), ("sell", 5)], 0, 1),
        ([("sell", 10), ("buy", 5)], 0, 1),  # selling short and covering the same day
        ([("buy", 10), ("sell", 5)], 100, 1),  # adding to yesterday's position, then selling
        ([("sell", 10), ("buy", 5)], 100, 0),  # selling yesterday's shares, then buying: not a day trade
        ([("buy", 10), ("sell", 5), ("buy", 5), ("sell", 10)], 0, 2),
        ([("buy", 500)] + [("sell", 100)] * 5, 0, 1),
    ],
)
def test_day_trades_count_as_finra_and_alpaca_define_them(
    fills: list[tuple[str, float]], start: float, day_trades: int
) -> None:
    assert _count(fills, start) == day_trades


def test_the_window_is_five_business_days_and_weekends_do_not_count() -> None:
    counter = _counter()
    counter.record("ABC", Side.BUY, 1, 0, T0)
    counter.record("ABC", Side.SELL, 1, 1, T0 + timedelta(minutes=1))
    friday = T0 + timedelta(days=4)
    assert counter.count(friday) == 1 and counter.count(friday + timedelta(days=2)) == 1  # Sunday: Mon-Fri
    assert counter.count(T0 + timedelta(days=7)) == 0  # the next Monday: the window is Tue..Mon


def test_the_count_walks_a_year_of_nyse_days_as_the_calendar_says() -> None:
    """Day after day over a year with holidays (each session day asked of the calendar once, then remembered), the
    count is the day trades on the last 5 session days, as the calendar lists them."""
    session = TradingSession.us_equity()
    counter = DayTradeCounter(session)
    traded: dict[object, int] = {}
    for offset in range(400):
        when = T0 + timedelta(days=offset)
        day = counter.day_of(when)
        if offset % 3 == 0 and session.close_on(day) is not None:  # a day trade on every third session day
            counter.record("ABC", Side.BUY, 1, 0, when)
            counter.record("ABC", Side.SELL, 1, 1, when + timedelta(minutes=1))
            traded[day] = traded.get(day, 0) + 1
        window, probe = [], day
        while len(window) < 5:
            if session.close_on(probe) is not None:
                window.append(probe)
            probe -= timedelta(days=1)
        assert counter.count(when) == sum(traded.get(d, 0) for d in window), day


def test_an_account_that_never_day_traded_counts_none_on_any_day() -> None:
    counter = _counter()
    counter.record("ABC", Side.BUY, 1, 0, T0)  # an opening only
    assert [counter.count(T0 + timedelta(days=offset)) for offset in range(0, 30, 3)] == [0] * 10
    counter.record("ABC", Side.SELL, 1, 1, T0 + timedelta(days=30))  # yesterday's position: no day trade either
    counter.record("ABC", Side.BUY, 2, 0, T0 + timedelta(days=31))
    counter.record("ABC", Side.SELL, 2, 2, T0 + timedelta(days=31, minutes=1))  # the first one
    assert counter.count(T0 + timedelta(days=31)) == 1


def test_pending_pairs_bound_the_day_trades_still_possible() -> None:
    assert pending_day_trades(1, 1, 0.0, (False, False)) == 1
    assert pending_day_trades(2, 1, 0.0, (False, False)) == 1
    assert pending_day_trades(0, 1, 10.0, (True, False)) == 1  # a sell against today's opening
    assert pending_day_trades(0, 1, 10.0, (False, False)) == 0  # against yesterday's: none


async def _account(balance: float, **kwargs: object) -> PaperBroker:
    options: dict[str, object] = {"seed": 4, "clock": SimulatedClock(T0), "latency": "none", "slippage": "none"}
    options.update(kwargs)
    broker = PaperBroker(balance, **options)  # type: ignore[arg-type]
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    return broker


async def _round_trips(broker: PaperBroker, count: int) -> None:
    for _ in range(count):
        await broker.buy("AAPL", 10)
        await broker.sell("AAPL", 10)


async def test_a_small_account_cannot_make_a_fourth_day_trade_and_nothing_is_recorded() -> None:
    broker = await _account(10_000)
    await _round_trips(broker, 3)
    account = await broker.get_account()
    assert account.daytrade_count == 3 and account.pattern_day_trader is False
    await broker.buy("AAPL", 10)  # opening is allowed: alone it is no day trade
    before = await broker.list_orders("all")
    with pytest.raises(DayTradeRefused, match="trade denied due to pattern day trading protection") as caught:
        await broker.sell("AAPL", 10, client_order_id="fourth")
    assert caught.value.rule == "pdt_check" and caught.value.status == 403
    assert await broker.list_orders("all") == before
    assert (await broker.get_position("AAPL")).quantity == 10  # type: ignore[union-attr]


async def test_alpacas_example_a_pending_sell_then_a_buy_counts_as_a_potential_day_trade() -> None:
    # "even if your sell limit order is submitted first (without being filled yet) and another buy order on the
    # same security is submitted later, this buy order will be blocked if your account already has 3 day trades"
    broker = await _account(10_000)
    await _round_trips(broker, 3)
    await broker.buy("AAPL", 5)
    await broker.clock.advance(86_400)  # the next day: the opening is yesterday's now
    await broker.update_market(Trade("AAPL", broker.clock.now(), 100.0, 100))
    resting = await broker.sell("AAPL", 5, type="limit", limit_price=120.0, time_in_force="gtc")
    assert resting.status.value == "new"
    with pytest.raises(DayTradeRefused):  # (a limit that does not cross the sell: no wash trade)
        await broker.buy("AAPL", 1, type="limit", limit_price=90.0, time_in_force="gtc")


async def test_an_account_over_25000_at_the_last_close_day_trades_freely_and_is_flagged() -> None:
    broker = await _account(30_000)
    await _round_trips(broker, 5)
    account = await broker.get_account()
    assert account.daytrade_count == 5 and account.pattern_day_trader is True
    assert account.last_equity == 30_000 and account.daytrading_buying_power == 0  # a cash account


async def test_equity_at_the_previous_close_decides_not_the_equity_now() -> None:
    broker = await _account(26_000, account="margin")
    await broker.buy("AAPL", 200)  # 20,000 of AAPL
    close = datetime(2026, 3, 2, 21, 0, tzinfo=T0.tzinfo)  # 16:00 New York
    await broker.update_market(Trade("AAPL", close - timedelta(minutes=1), 50.0, 100))  # equity 16,000 at the close
    await broker.clock.advance_to(close.timestamp() + 1)
    assert (await broker.get_account()).last_equity == pytest.approx(16_000)
    tuesday = T0 + timedelta(days=1)
    await broker.clock.advance_to(tuesday.timestamp())
    await broker.update_market(Trade("AAPL", tuesday, 150.0, 100))  # equity 36,000 now, 16,000 at the close
    await broker.sell("AAPL", 200)
    await _round_trips(broker, 3)
    with pytest.raises(DayTradeRefused):
        await _round_trips(broker, 1)


async def test_day_trades_five_business_days_old_no_longer_count() -> None:
    broker = await _account(10_000)
    await _round_trips(broker, 3)
    await broker.clock.advance(7 * 86_400)
    await broker.update_market(Trade("AAPL", broker.clock.now(), 100.0, 100))
    assert (await broker.get_account()).daytrade_count == 0
    await _round_trips(broker, 3)


async def test_relaxed_the_fourth_day_trade_goes_through() -> None:
    broker = await _account(10_000, rules={"pdt_check": False})
    await _round_trips(broker, 4)
    assert (await broker.get_account()).pattern_day_trader is True
