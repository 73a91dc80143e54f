"""Short selling as Alpaca allows it: margin accounts only (a cash account cannot), $2,000 of equity, symbols that
are shortable and easy to borrow, and never when the account is long-only."""

from __future__ import annotations

import pytest

from broker_sim import PaperBroker, ShortSaleRefused, SimulatedClock, Trade
from tests.conftest import T0


def _broker(balance: float = 100_000, **kwargs: object) -> PaperBroker:
    options: dict[str, object] = {"seed": 1, "clock": SimulatedClock(T0), "latency": "none", "slippage": "none"}
    options.update(kwargs)
    return PaperBroker(balance, **options)  # type: ignore[arg-type]


async def _priced(broker: PaperBroker) -> PaperBroker:
    await broker.update_market(Trade("AAPL", T0, 100.0, 100))
    return broker


async def test_a_cash_account_cannot_short_and_nothing_is_recorded() -> None:
    broker = await _priced(_broker())
    with pytest.raises(ShortSaleRefused, match="a cash account cannot sell short") as caught:
        await broker.sell("AAPL", 666)
    assert caught.value.rule == "short_selling_check" and caught.value.status == 403
    assert await broker.list_orders("all") == [] and await broker.get_positions() == []
    assert not broker.shorting_enabled


async def test_a_margin_account_shorts_by_default() -> None:
    broker = await _priced(_broker(account="margin"))
    assert broker.shorting_enabled
    order = await broker.sell("AAPL", 10)
    assert order.status.value == "filled" and (await broker.get_position("AAPL")).quantity == -10  # type: ignore[union-attr]


async def test_shorting_needs_two_thousand_dollars_of_equity() -> None:
    broker = await _priced(_broker(1_999, account="margin"))
    with pytest.raises(ShortSaleRefused, match=r"equity 1,999\.00 is below the 2,000 short selling needs"):
        await broker.sell("AAPL", 1)


@pytest.mark.parametrize(
    ("flags", "words"),
    [({"shortable": False}, "not shortable"), ({"easy_to_borrow": False}, "only easy-to-borrow symbols")],
)
async def test_only_shortable_easy_to_borrow_symbols_may_be_shorted(flags: dict[str, bool], words: str) -> None:
    broker = await _priced(_broker(account="margin", assets={"AAPL": flags}))
    await broker.update_market(Trade("MSFT", T0, 100.0, 100))
    with pytest.raises(ShortSaleRefused, match=words):
        await broker.sell("AAPL", 1)
    assert (await broker.sell("MSFT", 1)).status.value == "filled"  # symbols not named keep the defaults
    assert broker.asset("AAPL").shortable is flags.get("shortable", True)


async def test_a_long_only_account_refuses_shorts_but_sells_what_it_holds() -> None:
    broker = await _priced(_broker(account="margin", rules={"no_shorting": True}))
    assert not broker.shorting_enabled
    with pytest.raises(ShortSaleRefused, match=r"not allowed to short \(no_shorting\)") as caught:
        await broker.sell("AAPL", 1, client_order_id="short")
    assert caught.value.rule == "no_shorting" and await broker.list_orders("all") == []
    await broker.buy("AAPL", 5)
    assert (await broker.sell("AAPL", 5)).status.value == "filled"
    broker.configure_rules(no_shorting=False)  # at runtime, as PATCH /v2/account/configurations
    assert broker.shorting_enabled and (await broker.sell("AAPL", 1)).status.value == "filled"


async def test_relaxed_a_cash_account_shorts_as_allow_short_lets_it() -> None:
    relaxed = await _priced(_broker(rules={"short_selling_check": False}))
    assert (await relaxed.sell("AAPL", 1)).status.value == "filled"
    allowed = await _priced(_broker(allow_short=True))
    assert (await allowed.sell("AAPL", 1)).status.value == "filled"
