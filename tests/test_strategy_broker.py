"""A strategy's view of the shared account tags and recognises its own orders, replacements included."""

from __future__ import annotations

import pytest

from broker_sim import Bar, InvalidOrder, OrderRequest, PaperBroker, SimulatedClock
from broker_sim.strategy_book import StrategyBook
from broker_sim.strategy_broker import OrderOwners, StrategyBroker
from tests.conftest import T0


async def test_each_view_owns_its_orders_and_their_replacements() -> None:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none")
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    alpha, alpha2 = StrategyBroker(broker, "alpha"), StrategyBroker(broker, "alpha-2")
    numbered = await alpha.buy("AAPL", 1, type="limit", limit_price=90.0, time_in_force="gtc")
    chosen = await alpha.buy("AAPL", 1, type="limit", limit_price=90.0, time_in_force="gtc", client_order_id="mine")
    other = await alpha2.buy("AAPL", 1, type="limit", limit_price=90.0, time_in_force="gtc")
    assert numbered.client_order_id == "alpha-1" and other.client_order_id == "alpha-2-1"
    assert alpha.owns(numbered) and alpha.owns(chosen)
    assert not alpha.owns(other) and alpha2.owns(other) and not alpha2.owns(numbered)
    successor = await alpha.replace_order(chosen.id, limit_price=91.0)
    assert successor.client_order_id == "alpha-2" and alpha.owns(successor)  # numbered by the view, no suffix
    renumbered = await alpha.replace_order(numbered.id, limit_price=92.0, client_order_id="mine-too")
    assert alpha.owns(renumbered) and not alpha2.owns(renumbered)
    assert alpha.given_client_order_ids == {"mine", "mine-too"}


async def test_a_view_closes_a_position_with_its_own_tagged_order() -> None:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none")
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    alpha = StrategyBroker(broker, "alpha")
    await alpha.buy("AAPL", 5)
    closing = await alpha.close_position("AAPL")
    assert closing.client_order_id == "alpha-2" and alpha.owns(closing)
    assert await broker.get_position("AAPL") is None


async def test_each_event_concerns_the_strategy_of_its_order_however_the_orders_events_interleave() -> None:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none")
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    alpha, beta = StrategyBroker(broker, "alpha"), StrategyBroker(broker, "beta")
    owners = OrderOwners([alpha, beta])
    seen: list[tuple[str, tuple[tuple[str, float], ...]]] = []
    broker.add_listener(lambda event: seen.append((event.order.client_order_id, owners.holders(event))))
    resting = {"type": "limit", "limit_price": 90.0, "time_in_force": "gtc"}
    first = await alpha.buy("AAPL", 1, **resting)
    second = await beta.buy("AAPL", 1, **resting)
    await broker.buy("AAPL", 1, client_order_id="a-bot", **resting)  # no strategy's
    await alpha.cancel_order(first.id)
    await beta.cancel_order(second.id)
    await alpha.buy("AAPL", 2)  # fills at once: its events come in a row
    expected = {"alpha-1": (("alpha", 1.0),), "beta-1": (("beta", 1.0),), "a-bot": (), "alpha-2": (("alpha", 1.0),)}
    assert [client_order_id for client_order_id, _ in seen].count("alpha-1") >= 2
    assert all(holders == expected[client_order_id] for client_order_id, holders in seen)
    assert {client_order_id for client_order_id, _ in seen} == set(expected)


async def test_buy_and_sell_number_remember_and_track_their_orders_as_submit_order_does() -> None:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none")
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    book = StrategyBook("alpha")
    alpha = StrategyBroker(broker, "alpha", book)
    bought = await alpha.buy("AAPL", 3)
    chosen = await alpha.sell("AAPL", 1, client_order_id="mine")
    resting = await alpha.buy("AAPL", 1, type="limit", limit_price=50.0, time_in_force="gtc")
    with pytest.raises(InvalidOrder, match="quantity must be > 0"):
        await alpha.buy("AAPL", 0)  # refused: numbered all the same, as `Broker.buy` numbers before it builds
    with pytest.raises(InvalidOrder, match="client_order_id must be a non-empty string"):
        await alpha.buy("AAPL", 1, client_order_id="")
    for symbol, quantity, message in ((5, 1, "symbol must be"), ("AAPL", True, "quantity must be a number")):
        with pytest.raises(InvalidOrder, match=message):  # as given, compiled or not
            await alpha.sell(symbol, quantity)
    after = await alpha.buy("AAPL", 1, client_order_id=None)
    assert [o.client_order_id for o in (bought, chosen, resting, after)] == ["alpha-1", "mine", "alpha-2", "alpha-6"]
    assert alpha.given_client_order_ids == {"mine"} and all(alpha.owns(o) for o in (bought, resting, chosen, after))
    assert [o.id for o in book.open_orders] == [resting.id]  # tracked: the filled ones ended, the limit rests
    assert book.position("AAPL").quantity == 0  # (the book's fills come from the run's events, not from here)


async def test_a_restarted_view_numbers_on_after_its_highest_order_whichever_way_it_sends_them() -> None:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none")
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    first = StrategyBroker(broker, "alpha")
    await first.buy("AAPL", 2)
    await first.sell("AAPL", 1)
    await first.submit_order(OrderRequest("AAPL", "sell", 1))  # alpha-1 .. alpha-3
    restarted = StrategyBroker(broker, "alpha")
    restarted.continue_numbering(await broker.list_orders("all"))
    sent = [
        await restarted.buy("AAPL", 1),
        await restarted.sell("AAPL", 1, type="limit", limit_price=90.0),
        await restarted.submit_order(OrderRequest("AAPL", "buy", 1)),
        await restarted.sell("AAPL", 1),
    ]
    assert [o.client_order_id for o in sent] == ["alpha-4", "alpha-5", "alpha-6", "alpha-7"]
    untouched = StrategyBroker(broker, "beta")  # none of its own among them: it starts at 1
    untouched.continue_numbering(await broker.list_orders("all"))
    assert (await untouched.buy("AAPL", 1)).client_order_id == "beta-1"


class _Lettered(StrategyBroker):
    """A view whose subclass names its orders its own way (``alpha/a``, ``alpha/b``, ...)."""

    def __init__(self, inner: PaperBroker, name: str, book: StrategyBook | None = None) -> None:
        super().__init__(inner, name, book)
        self.letters = iter("abcdefgh")

    def _new_client_order_id(self) -> str:
        return f"{self.name}/{next(self.letters)}"


async def test_a_subclass_naming_its_orders_is_asked_whichever_way_an_order_is_sent() -> None:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none")
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    alpha = _Lettered(broker, "alpha")  # (no book: `close_position` is `Broker`'s, which asks for an id itself)
    sent = [
        await alpha.buy("AAPL", 2),
        await alpha.sell("AAPL", 1),
        await alpha.sell("AAPL", 1, time_in_force="gtc"),
        await alpha.submit_order(OrderRequest("AAPL", "buy", 1)),
        await alpha.buy("AAPL", 1, client_order_id="mine"),
        await alpha.close_position("AAPL"),
        await alpha.buy("AAPL", 1, type="limit", limit_price=90.0, time_in_force="gtc"),
    ]
    successor = await alpha.replace_order(sent[-1].id, limit_price=91.0)
    ids = [o.client_order_id for o in (*sent, successor)]
    assert ids == ["alpha/a", "alpha/b", "alpha/c", "alpha/d", "mine", "alpha/e", "alpha/f", "alpha/g"]
    owners = OrderOwners([alpha, StrategyBroker(broker, "beta")])
    assert all(alpha.owns(o) and owners(o) == "alpha" for o in (*sent, successor))


async def test_a_view_of_its_own_numbers_every_way_in_one_sequence() -> None:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none")
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    alpha = StrategyBroker(broker, "alpha")
    sent = [
        await alpha.buy("AAPL", 2),
        await alpha.sell("AAPL", 1, time_in_force="gtc"),
        await alpha.submit_order(OrderRequest("AAPL", "buy", 1)),
        await alpha.sell("AAPL", 1),
    ]
    assert [o.client_order_id for o in sent] == ["alpha-1", "alpha-2", "alpha-3", "alpha-4"]
    assert alpha.given_client_order_ids == set() and all(alpha.owns(o) for o in sent)


async def test_a_strategys_orders_have_the_same_holders_and_a_remembered_owner_is_read_first() -> None:
    """Every order of one strategy has the same holders, ``(("alpha", 1.0),)`` (in pure Python one tuple a strategy,
    not one an order; the compiled build may box it anew, so equality is what is asserted); an order no view sent
    has none, unless the account's journal remembered its owner (`known`)."""
    from broker_sim.models import EventType

    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", slippage="none")
    await broker.update_market(Bar("AAPL", T0, 100, 100, 100, 100))
    alpha = StrategyBroker(broker, "alpha")
    owners = OrderOwners([alpha])
    first = await alpha.buy("AAPL", 1)
    second = await alpha.buy("AAPL", 1)
    bot = await broker.buy("AAPL", 1, client_order_id="a-bot")
    held = owners.holders_of(first, EventType.FILL)
    assert held == (("alpha", 1.0),)
    assert owners.holders_of(second, EventType.FILL) == held
    assert owners.holders_of(bot, EventType.FILL) == () and owners(bot) == ""
    remembered = OrderOwners([alpha])
    remembered.known[bot.id] = "alpha"
    assert remembered.holders_of(bot, EventType.FILL) == remembered.holders_of(first, EventType.NEW) == held
    assert remembered(bot) == "alpha"
