"""`EventFanout.offer`: a broker whose one listener's owner keeps an order event's parts without the event (a run's
strategies, `RunStrategies.event_taker`) is handed the parts instead of the event; anyone else who would read the
event gets it made again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from broker_sim import Bar, OrderEvent, PaperBroker, SimulatedClock
from tests.conftest import T0


class Taker:
    """A listener's owner that keeps the parts (what it kept and what it heard as events, by type)."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.heard: list[str] = []

    def on_order_event(self, event: OrderEvent) -> None:
        self.heard.append(event.type.value)

    def event_taker(self) -> Any:
        return lambda order, fill, kind: self.kept.append(kind.value)


async def _bar(broker: PaperBroker, minute: int) -> None:
    when = T0 + timedelta(minutes=minute)
    await broker.clock.advance_to(when, events_pending=True)  # type: ignore[attr-defined]
    await broker.update_market(Bar("X", when, 100, 100, 100, 100, 1e6, 60.0))


async def test_the_sole_takers_events_are_not_made_and_another_reader_brings_them_back() -> None:
    broker = PaperBroker(100_000, clock=SimulatedClock(T0), latency="none")
    taker = Taker()
    broker.add_listener(taker.on_order_event)
    await _bar(broker, 0)
    await broker.buy("X", 1)
    await broker.buy("X", 1)
    await _bar(broker, 1)
    assert taker.kept.count("fill") == 2 and "fill" not in taker.heard
    assert sorted(taker.kept + taker.heard) == sorted(["pending_new", "new", "fill"] * 2)
    others: list[OrderEvent] = []
    broker.add_listener(others.append)  # someone else reads them: every event is made, for both
    taker.kept.clear()
    await broker.sell("X", 2)
    await _bar(broker, 2)
    assert taker.kept == [] and taker.heard[-3:] == [e.type.value for e in others] == ["pending_new", "new", "fill"]
    await broker.close()


async def test_a_taker_that_raises_is_logged_as_its_listener_and_the_broker_goes_on(caplog: Any) -> None:
    broker = PaperBroker(100_000, clock=SimulatedClock(T0), latency="none")

    class Failing(Taker):
        def event_taker(self) -> Any:
            def keep(order: Any, fill: Any, kind: Any) -> None:
                raise RuntimeError("keeping failed")

            return keep

    taker = Failing()
    broker.add_listener(taker.on_order_event)
    await _bar(broker, 0)
    order = await broker.buy("X", 1)
    await _bar(broker, 1)
    assert (await broker.get_order(order.id)).status.value == "filled"
    failures = [r for r in caplog.records if "Taker.on_order_event failed on" in r.getMessage()]
    assert failures and all("keeping failed" in str(r.exc_info[1]) for r in failures)
    await broker.close()


async def test_a_listener_without_a_taker_hears_every_event() -> None:
    broker = PaperBroker(100_000, clock=SimulatedClock(T0), latency="none")
    events: list[OrderEvent] = []
    broker.add_listener(events.append)
    await _bar(broker, 0)
    await broker.buy("X", 1)
    await _bar(broker, 1)
    assert [e.type.value for e in events] == ["pending_new", "new", "fill"]
    await broker.close()


class NoTaker(Taker):
    """An owner that needs the events themselves (a run whose strategy listens to order events)."""

    def event_taker(self) -> Any:
        return None


async def test_the_account_offers_nothing_until_a_listener_with_a_taker_comes_and_then_hands_it_the_parts() -> None:
    broker = PaperBroker(100_000, clock=SimulatedClock(T0), latency="none")
    needs_events = NoTaker()
    remove = broker.add_listener(needs_events.on_order_event)
    assert broker.state.offer is None  # nothing would take the parts: the account makes its events unasked
    await _bar(broker, 0)
    await broker.buy("X", 1)
    await _bar(broker, 1)
    assert needs_events.heard == ["pending_new", "new", "fill"] and needs_events.kept == []
    taker = Taker()
    broker.add_listener(taker.on_order_event)
    assert broker.state.offer is not None
    await broker.sell("X", 1)
    await _bar(broker, 2)
    assert needs_events.heard[3:] == taker.heard == ["pending_new", "new", "fill"] and taker.kept == []
    remove()  # the taker is the sole listener now: it is handed the parts
    await broker.buy("X", 1)
    await _bar(broker, 3)
    assert sorted(taker.kept + taker.heard[3:]) == sorted(["pending_new", "new", "fill"]) and "fill" in taker.kept
    await broker.close()
