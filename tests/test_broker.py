"""The adapter contract's capabilities (`broker_sim.broker`'s Protocols): what each shipped adapter offers
beyond `Broker`, as the run checks it once when it wires a broker, never by probing attributes."""

from __future__ import annotations

import dis
from pathlib import Path

import pytest

from broker_sim import PaperBroker, SimulatedClock, Trade
from broker_sim.adapters.alpaca import AlpacaBroker
from broker_sim.broker import Broker, Journaled, KeepsFills, KnowsPrices, MarketDataConsumer, Resumable
from broker_sim.models import Order, OrderRequest
from broker_sim.strategy_broker import StrategyBroker
from tests.conftest import T0

CAPABILITIES = (MarketDataConsumer, KeepsFills, Journaled, Resumable, KnowsPrices)


def test_the_paper_broker_offers_every_capability(tmp_path: Path) -> None:
    broker = PaperBroker(100_000, clock=SimulatedClock(0.0), journal=tmp_path / "account.db")

    assert isinstance(broker, Broker)
    assert [cap.__name__ for cap in CAPABILITIES if not isinstance(broker, cap)] == []
    assert broker.journal is None  # journaled, though not open until it connects


async def test_the_alpaca_broker_offers_none_of_them_its_venue_keeps_prices_fills_and_the_account() -> None:
    broker = AlpacaBroker(base_url="http://127.0.0.1:9", key_id="k", secret_key="s", clock=SimulatedClock(0.0))

    assert isinstance(broker, Broker)
    assert [cap.__name__ for cap in CAPABILITIES if isinstance(broker, cap)] == []
    await broker.close()


@pytest.mark.parametrize("capability", CAPABILITIES, ids=lambda cap: cap.__name__)
def test_an_object_without_the_methods_has_no_capability(capability: type) -> None:
    assert not isinstance(object(), capability)


def _template() -> type[Broker]:
    """The adapter template of CONTRIBUTING.md's "Writing a broker adapter", as a reader would paste it."""
    text = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text()
    section = text[text.index("## Writing a broker adapter") :]
    code = section[section.index("```python\n") + len("```python\n") : section.index("\n```\n")]
    namespace: dict[str, object] = {"__name__": "contributing_template"}
    exec(compile(code, "CONTRIBUTING.md", "exec"), namespace)
    broker = namespace["MyBroker"]
    assert isinstance(broker, type) and issubclass(broker, Broker)
    return broker


async def test_the_adapter_template_in_contributing_is_a_working_broker_with_no_capabilities() -> None:
    from broker_sim import OrderNotCancelable, OrderNotReplaceable, OrderRequest

    template = _template()
    broker = template(SimulatedClock(0.0))
    async with broker:
        heard = []
        broker.add_listener(heard.append)
        order = await broker.submit_order(OrderRequest("AAPL", "buy", 3, client_order_id="mine"))
        assert await broker.get_order_by_client_id("mine") == order
        assert await broker.list_orders() == [order]
        with pytest.raises(OrderNotReplaceable, match=r"ReplaceOrderRequest\(quantity=None, limit_price=5.0"):
            await broker.replace_order(order.id, limit_price=5.0)  # the keywords reach `replace` as one value
        canceled = await broker.cancel_order(order.id)
        assert canceled.status.value == "canceled"
        with pytest.raises(OrderNotCancelable, match=order.id):
            await broker.cancel_order(order.id)
        assert [event.type.value for event in heard] == ["new", "canceled"]
        assert (await broker.get_account()).cash == 100_000.0
    assert [cap.__name__ for cap in CAPABILITIES if isinstance(broker, cap)] == []


def test_the_sources_that_name_their_symbols_say_so_and_sessions_name_their_time_zone(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    from broker_sim.broker import NamesSymbol, NamesSymbols, ZonedSession
    from broker_sim.calendar import session_from
    from broker_sim.streams.csv_source import CsvSource
    from broker_sim.streams.synthetic import SyntheticSource

    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n2024-01-02T14:30:00Z,1,1,1,1,1\n")
    csv, synthetic = CsvSource(bars, symbol="AAPL"), SyntheticSource(symbols=["AAPL", "MSFT"])
    assert isinstance(csv, NamesSymbol) and csv.symbol == "AAPL" and not isinstance(csv, NamesSymbols)
    assert isinstance(synthetic, NamesSymbols) and list(synthetic.symbols) == ["AAPL", "MSFT"]
    assert not isinstance(synthetic, NamesSymbol)
    new_york = session_from("us_equity")
    assert isinstance(new_york, ZonedSession) and new_york.timezone == ZoneInfo("America/New_York")
    assert not any(isinstance(object(), capability) for capability in (NamesSymbol, NamesSymbols, ZonedSession))


def test_only_a_broker_whose_orders_never_wait_submits_in_place_and_an_override_of_submit_order_must_say_so() -> None:
    assert PaperBroker.submits_in_place and not AlpacaBroker.submits_in_place and not Broker.submits_in_place
    # The paper broker's promise, as its code keeps it: no await in `submit_order`, so nothing in it can suspend.
    assert [op.opname for op in dis.get_instructions(PaperBroker.submit_order) if op.opname == "GET_AWAITABLE"] == []

    class Counting(PaperBroker):  # changes no order method: still in place
        pass

    class Waiting(PaperBroker):  # its orders wait: not in place, though its base is
        async def submit_order(self, request: OrderRequest) -> Order:
            await self.clock.sleep(1)
            return await super().submit_order(request)

    class Checked(PaperBroker):  # overrides it without a wait, and says so
        submits_in_place = True

        async def submit_order(self, request: OrderRequest) -> Order:
            return await super().submit_order(request)

    assert Counting.submits_in_place and not Waiting.submits_in_place and Checked.submits_in_place
    assert not type("StillWaiting", (Waiting,), {}).submits_in_place


async def test_a_view_over_a_broker_that_overrides_submit_order_calls_the_override() -> None:
    """`submits_nowait` lets `buy`, `sell` and a strategy's view skip `submit_order`'s coroutine: only where it
    is `submit_order_nowait` and nothing more. An override of `submit_order` is called, whatever else it says."""
    asked: list[str] = []

    class Checked(PaperBroker):  # overrides it without a wait, and says so (in place), but not nowait
        submits_in_place = True

        async def submit_order(self, request: OrderRequest) -> Order:
            asked.append(request.side.value)
            return await super().submit_order(request)

    assert PaperBroker.submits_nowait and not Broker.submits_nowait and not AlpacaBroker.submits_nowait
    assert not Checked.submits_nowait and type("Counting", (PaperBroker,), {}).submits_nowait
    broker = Checked(100_000, clock=SimulatedClock(T0), latency="none", slippage="none", symbols=["AAPL"])
    view = StrategyBroker(broker, "s")
    await broker.update_market(Trade("AAPL", T0, 100.0, 10))
    await broker.buy("AAPL", 2)
    await view.sell("AAPL", 1)
    await view.buy("AAPL", 1, type="limit", limit_price=90.0)
    assert asked == ["buy", "sell", "buy"]
    with pytest.raises(NotImplementedError):
        Broker.submit_order_nowait(view, OrderRequest("AAPL", "buy", 1))  # a view submits only by its coroutine
