"""The order types, times in force and quantities Alpaca takes: extended hours only on limit day orders, opg and
cls cutoffs, fractional and notional orders only where Alpaca supports them. Refused with 422 (`OrderNotAccepted`,
an `InvalidOrder` too), nothing recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker_sim import InvalidOrder, OrderNotAccepted, OrderRefused, PaperBroker, SimulatedClock, Trade
from tests.conftest import T0  # Monday 09:30 New York


async def _broker(at: Any = T0, **kwargs: object) -> PaperBroker:
    options: dict[str, object] = {"seed": 2, "clock": SimulatedClock(at), "latency": "none", "slippage": "none"}
    options.update(kwargs)
    broker = PaperBroker(100_000, **options)  # type: ignore[arg-type]
    await broker.update_market(Trade("AAPL", at, 100.0, 100))
    return broker


async def _refused(broker: PaperBroker, rule: str, words: str, **order: Any) -> None:
    order.setdefault("side", "buy")
    before = await broker.list_orders("all")
    side = order.pop("side")
    with pytest.raises(OrderNotAccepted, match=words) as caught:
        await (broker.buy if side == "buy" else broker.sell)("AAPL", order.pop("quantity", 1), **order)
    refusal = caught.value
    assert refusal.rule == rule and refusal.status == 422 and refusal.code == 40010001
    assert isinstance(refusal, OrderRefused) and isinstance(refusal, InvalidOrder)
    assert await broker.list_orders("all") == before


@pytest.mark.parametrize(
    "order",
    [
        {"type": "market", "extended_hours": True},
        {"type": "stop", "stop_price": 110.0, "extended_hours": True},
        {"type": "trailing_stop", "trail_percent": 1.0, "extended_hours": True},
        {"type": "limit", "limit_price": 99.0, "time_in_force": "gtc", "extended_hours": True},
    ],
)
async def test_extended_hours_only_on_limit_day_orders(order: dict[str, Any]) -> None:
    words = "extended hours orders must be simple limit orders"
    await _refused(await _broker(), "extended_hours_check", words, **order)


async def test_a_limit_day_order_may_work_in_extended_hours_and_relaxed_any_may() -> None:
    evening = T0.replace(hour=22)  # 17:00 New York
    broker = await _broker(evening)
    order = await broker.buy("AAPL", 1, type="limit", limit_price=101.0, extended_hours=True)
    assert order.status.value == "filled"
    relaxed = await _broker(evening, rules={"extended_hours_check": False})
    assert (await relaxed.buy("AAPL", 1, extended_hours=True)).status.value == "filled"


@pytest.mark.parametrize(
    ("tif", "new_york", "refused"),
    [
        ("opg", (9, 27), False),
        ("opg", (9, 28), True),
        ("opg", (18, 59), True),
        ("opg", (19, 0), False),
        ("cls", (15, 49), False),
        ("cls", (15, 50), True),
        ("cls", (18, 59), True),
        ("cls", (19, 0), False),
    ],
)
async def test_opg_and_cls_cutoffs_follow_alpaca(tif: str, new_york: tuple[int, int], refused: bool) -> None:
    hour, minute = new_york
    when = T0 + timedelta(hours=hour - 9, minutes=minute - 30)
    broker = await _broker(when)
    if refused:
        await _refused(broker, "auction_cutoffs", f"{tif} orders are not accepted from", time_in_force=tif)
    else:
        assert (await broker.buy("AAPL", 1, time_in_force=tif)).status.value in ("accepted", "new")


@pytest.mark.parametrize(
    ("order", "words"),
    [
        ({"quantity": 1.5, "time_in_force": "gtc"}, "fractional orders must be market, limit, stop or stop_limit"),
        ({"quantity": 1.5, "type": "trailing_stop", "trail_percent": 1.0}, "fractional orders must be"),
    ],
)
async def test_fractional_quantities_only_with_time_in_force_day(order: dict[str, Any], words: str) -> None:
    await _refused(await _broker(), "fractional_check", words, **order)


async def test_a_fractional_or_notional_sell_never_opens_a_short() -> None:
    broker = await _broker(account="margin")
    await broker.buy("AAPL", 2)
    await _refused(broker, "fractional_check", "cannot open a short", side="sell", quantity=2.5)
    assert (await broker.sell("AAPL", 1.5)).status.value == "filled"  # within the position: fine


async def test_a_symbol_not_fractionable_takes_whole_shares_only() -> None:
    broker = await _broker(assets={"AAPL": {"fractionable": False}})
    await _refused(broker, "fractional_check", "requested asset AAPL is not fractionable", quantity=0.5)
    assert (await broker.buy("AAPL", 1)).status.value == "filled"


async def test_fractional_trading_off_refuses_fractions_and_notional() -> None:
    broker = await _broker(rules={"fractional_trading": False})
    await _refused(broker, "fractional_trading", "fractional orders are not enabled", quantity=0.5)
    with pytest.raises(OrderNotAccepted):
        await broker.submit_order(_notional())
    assert (await broker.buy("AAPL", 1)).status.value == "filled"


def _notional() -> Any:
    from broker_sim import OrderRequest

    return OrderRequest("AAPL", "buy", notional=50.0)
