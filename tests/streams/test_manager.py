"""PriceStreamManager: fan-out to sync and async subscribers, its drop policy, streams and merged replay."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from broker_sim.clock import SimulatedClock
from broker_sim.models import MarketData, Trade
from broker_sim.streams.manager import PriceStreamManager
from broker_sim.streams.synthetic import SyntheticSource

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
LOGGER = "broker_sim.streams.manager"


def _trade(n: int, symbol: str = "AAPL") -> Trade:
    """The n-th trade on the tape; its price is 100 + n so a test can tell which events arrived."""
    return Trade(symbol, T0 + timedelta(seconds=n), 100.0 + n, 1.0)


def _prices(events: list[MarketData]) -> list[int]:
    return [int(e.price - 100) for e in events]  # type: ignore[union-attr]


async def _until(flag: asyncio.Event) -> None:
    async with asyncio.timeout(2):
        await flag.wait()


async def _yield_until_subscribed(manager: PriceStreamManager) -> None:
    """One turn of the loop: a new task runs up to its first wait, where a stream has registered its queue."""
    await asyncio.sleep(0)
    assert manager.has_subscribers


def _failures(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.ERROR and name in r.getMessage()]


def test_a_sync_subscriber_receives_every_event_in_order() -> None:
    manager = PriceStreamManager()
    received: list[MarketData] = []
    manager.subscribe(received.append, name="recorder")
    events = [_trade(n, "AAPL" if n % 2 else "MSFT") for n in range(10)]
    for event in events:
        manager.publish(event)
    assert received == events
    assert manager.published == 10


def test_a_symbols_filter_delivers_only_those_symbols() -> None:
    manager = PriceStreamManager()
    aapl: list[MarketData] = []
    both: list[MarketData] = []
    manager.subscribe(aapl.append, symbols="AAPL")
    manager.subscribe(both.append, symbols=["AAPL", "SPY"])
    events = [_trade(0, "AAPL"), _trade(1, "MSFT"), _trade(2, "SPY"), _trade(3, "AAPL")]
    for event in events:
        manager.publish(event)
    assert aapl == [events[0], events[3]]
    assert both == [events[0], events[2], events[3]]


async def test_an_async_subscriber_receives_every_event_in_order() -> None:
    manager = PriceStreamManager()
    received: list[MarketData] = []
    done = asyncio.Event()

    async def on_event(event: MarketData) -> None:
        received.append(event)
        if len(received) == 20:
            done.set()

    manager.subscribe(on_event, name="dashboard")
    events = [_trade(n) for n in range(20)]
    for event in events:
        manager.publish(event)
    await _until(done)
    assert received == events
    assert manager.dropped == {}


async def test_a_raising_sync_subscriber_is_logged_and_keeps_receiving_while_others_get_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    manager = PriceStreamManager()
    calls: list[MarketData] = []

    def flaky(event: MarketData) -> None:
        calls.append(event)
        raise RuntimeError("boom")

    others: list[MarketData] = []
    manager.subscribe(flaky, name="flaky-sync")
    manager.subscribe(others.append, name="recorder")
    events = [_trade(n) for n in range(3)]
    for event in events:
        manager.publish(event)
    assert calls == events
    assert others == events
    assert len(_failures(caplog, "flaky-sync")) == 3


async def test_a_raising_async_subscriber_is_logged_and_keeps_receiving_while_others_get_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    manager = PriceStreamManager()
    calls: list[MarketData] = []
    others: list[MarketData] = []
    flaky_done, others_done = asyncio.Event(), asyncio.Event()

    async def flaky(event: MarketData) -> None:
        calls.append(event)
        if len(calls) == 3:
            flaky_done.set()
        raise RuntimeError("boom")

    async def steady(event: MarketData) -> None:
        others.append(event)
        if len(others) == 3:
            others_done.set()

    manager.subscribe(flaky, name="flaky-async")
    manager.subscribe(steady, name="steady")
    events = [_trade(n) for n in range(3)]
    for event in events:
        manager.publish(event)
    await _until(flaky_done)
    await _until(others_done)
    assert calls == events
    assert others == events
    assert len(_failures(caplog, "flaky-async")) == 3


async def test_a_slow_async_subscriber_drops_its_oldest_events_and_nobody_elses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    manager = PriceStreamManager()
    release, started, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    seen: list[MarketData] = []
    recorded: list[MarketData] = []

    async def slow(event: MarketData) -> None:
        seen.append(event)
        started.set()
        await release.wait()
        if len(seen) == 4:
            done.set()

    manager.subscribe(slow, name="slow", maxsize=3)
    manager.subscribe(recorded.append, name="recorder")
    events = [_trade(n) for n in range(10)]
    manager.publish(events[0])
    await _until(started)  # event 0 is in the callback, its queue is empty
    for event in events[1:]:
        manager.publish(event)  # 1..9 into a queue of 3: 1..6 are dropped, oldest first
    assert manager.dropped == {"slow": 6}
    release.set()
    await _until(done)
    assert _prices(seen) == [0, 7, 8, 9]
    assert recorded == events
    assert "recorder" not in manager.dropped
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "slow" in r.getMessage()]
    assert len(warnings) == 1


async def test_async_for_over_a_stream_gets_its_symbols_until_the_manager_closes() -> None:
    manager = PriceStreamManager()

    async def collect() -> list[MarketData]:
        return [event async for event in manager.stream(["AAPL"])]

    task = asyncio.create_task(collect())
    await _yield_until_subscribed(manager)
    events = [_trade(0, "AAPL"), _trade(1, "MSFT"), _trade(2, "AAPL"), _trade(3, "SPY"), _trade(4, "AAPL")]
    for event in events:
        manager.publish(event)
    manager.close()
    async with asyncio.timeout(2):
        received = await task
    assert received == [events[0], events[2], events[4]]
    assert not manager.has_subscribers


def test_unsubscribe_stops_delivery_to_a_sync_subscriber() -> None:
    manager = PriceStreamManager()
    received: list[MarketData] = []
    unsubscribe = manager.subscribe(received.append)
    manager.publish(_trade(0))
    unsubscribe()
    manager.publish(_trade(1))
    assert received == [_trade(0)]
    assert not manager.has_subscribers
    unsubscribe()  # a second call does nothing


async def test_unsubscribe_stops_delivery_to_an_async_subscriber() -> None:
    manager = PriceStreamManager()
    gone: list[MarketData] = []
    witness: list[MarketData] = []
    first, second = asyncio.Event(), asyncio.Event()

    async def leaving(event: MarketData) -> None:
        gone.append(event)
        first.set()

    async def staying(event: MarketData) -> None:
        witness.append(event)
        if len(witness) == 2:
            second.set()

    unsubscribe = manager.subscribe(leaving, name="leaving")
    manager.subscribe(staying, name="staying")
    manager.publish(_trade(0))
    await _until(first)
    unsubscribe()
    manager.publish(_trade(1))
    await _until(second)
    assert gone == [_trade(0)]
    assert witness == [_trade(0), _trade(1)]


def test_update_price_publishes_a_trade() -> None:
    manager = PriceStreamManager()
    received: list[MarketData] = []
    manager.subscribe(received.append)
    manager.update_price("AAPL", 187.25, T0, size=3.0)
    assert received == [Trade("AAPL", T0, 187.25, 3.0)]


def test_update_price_without_a_timestamp_stamps_it_with_the_managers_clock() -> None:
    manager = PriceStreamManager(clock=SimulatedClock(T0))
    received: list[MarketData] = []
    manager.subscribe(received.append)
    manager.update_price("AAPL", 187.25)
    assert received == [Trade("AAPL", T0, 187.25, 0.0)]


def test_update_price_without_a_timestamp_stamps_it_in_utc() -> None:
    manager = PriceStreamManager()
    received: list[MarketData] = []
    manager.subscribe(received.append)
    manager.update_price("AAPL", 187.25)
    (trade,) = received
    assert isinstance(trade, Trade)
    assert trade.price == 187.25
    assert trade.timestamp.tzinfo is UTC


@pytest.mark.parametrize("thing", [object(), [1, 2, 3], "AAPL.csv"])
def test_add_source_refuses_what_is_neither_a_replay_nor_a_live_source(thing: object) -> None:
    manager = PriceStreamManager()
    with pytest.raises(TypeError, match="neither a replay source"):
        manager.add_source(thing)  # type: ignore[arg-type]
    assert manager.sources == []


def test_replay_merges_two_sources_in_time_order() -> None:
    fast = SyntheticSource(["AAPL"], start="2024-01-02T14:30:00+00:00", interval=60, count=12, seed=1)
    slow = SyntheticSource(["MSFT", "SPY"], start="2024-01-02T14:30:00+00:00", interval=90, count=8, seed=1)
    manager = PriceStreamManager()
    manager.add_source(fast)
    manager.add_source(slow)
    merged = list(manager.replay())
    times = [seconds for seconds, _ in merged]
    assert times == sorted(times)
    assert len(merged) == 12 + 8 * 2
    # Stable: at equal times the first source's events come first, each source keeps its own order.
    expected = sorted([*fast.timed_events(), *slow.timed_events()], key=lambda pair: pair[0])
    assert merged == expected
    assert [e for _, e in merged if e.symbol == "AAPL"] == [e for _, e in fast.timed_events()]
