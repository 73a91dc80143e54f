"""Clocks: simulated time runs scheduled work in order and costs no wall time; the real clock is the wall."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from broker_sim import RealtimeClock, SimulatedClock
from tests.conftest import T0


async def test_advance_runs_callbacks_in_time_order(clock: SimulatedClock) -> None:
    ran: list[tuple[str, datetime]] = []
    clock.call_later(2.0, lambda: ran.append(("b", clock.now())))
    clock.call_later(1.0, lambda: ran.append(("a", clock.now())))
    clock.call_later(5.0, lambda: ran.append(("late", clock.now())))
    await clock.advance(3.0)
    assert ran == [("a", T0 + timedelta(seconds=1)), ("b", T0 + timedelta(seconds=2))]
    assert clock.now() == T0 + timedelta(seconds=3)


async def test_cancelled_timer_never_runs(clock: SimulatedClock) -> None:
    ran: list[int] = []
    handle = clock.call_later(1.0, ran.append, 1)
    handle.cancel()
    await clock.advance(2.0)
    assert ran == []
    assert clock.next_timer() is None


async def test_time_cannot_go_backwards(clock: SimulatedClock) -> None:
    with pytest.raises(ValueError, match="cannot go back"):
        await clock.advance_to(T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        await clock.advance(-1)


async def test_simulated_sleep_costs_no_wall_time(clock: SimulatedClock) -> None:
    # Counted in event-loop turns, not wall seconds: an hour of simulated sleep ends within a bounded number of turns.
    sleeper = asyncio.ensure_future(clock.sleep(3600))
    turns = 0
    while not sleeper.done() and turns < 1000:
        await asyncio.sleep(0)
        turns += 1
    assert sleeper.done(), f"an hour's simulated sleep still waiting after {turns} loop turns"
    assert clock.now() == T0 + timedelta(hours=1)


async def test_concurrent_sleepers_wake_in_time_order(clock: SimulatedClock) -> None:
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.time() - T0.timestamp()))

    await asyncio.gather(sleeper("slow", 10), sleeper("fast", 1), sleeper("mid", 5))
    assert woke == [("fast", 1.0), ("mid", 5.0), ("slow", 10.0)]


async def test_wait_times_out_at_the_simulated_deadline(clock: SimulatedClock) -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await clock.wait(never, timeout=30)
    assert clock.now() == T0 + timedelta(seconds=30)


async def test_externally_driven_clock_only_moves_when_advanced() -> None:
    clock = SimulatedClock(T0, auto_advance=False)
    done: list[datetime] = []

    async def sleeper() -> None:
        await clock.sleep(5)
        done.append(clock.now())

    task = asyncio.create_task(sleeper())
    await asyncio.sleep(0)
    await clock.advance(4)
    assert done == []
    await clock.advance(1)
    await task
    assert done == [T0 + timedelta(seconds=5)]


def test_a_clock_used_under_two_event_loops_lets_woken_coroutines_run_before_time_moves_on() -> None:
    # The clock remembers the loop it last ran under; a second `asyncio.run` (a new loop) must be seen, or a
    # coroutine a timer woke would only run after time had moved past the next timer.
    clock = SimulatedClock(T0, auto_advance=False)

    async def one_run() -> list[tuple[str, float]]:
        seen: list[tuple[str, float]] = []
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def waiter() -> None:
            await woken
            seen.append(("woken", clock.time()))

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        start = clock.time()
        clock.call_at(start + 1, woken.set_result, None)
        clock.call_at(start + 10, lambda: seen.append(("later timer", clock.time())))
        await clock.advance(20)
        await task
        return [(what, when - start) for what, when in seen]

    assert asyncio.run(one_run()) == [("woken", 1.0), ("later timer", 10.0)]
    assert asyncio.run(one_run()) == [("woken", 1.0), ("later timer", 10.0)]


async def test_move_to_runs_what_is_due_before_the_event_and_leaves_the_events_own_close_timers() -> None:
    # The replay's step to its next event: timers due before the event run in time order at their own times;
    # a `call_after` at the event's instant waits for the event.
    clock = SimulatedClock(T0, auto_advance=False)
    start = clock.time()
    ran: list[tuple[str, float]] = []
    clock.call_at(start + 2, lambda: ran.append(("b", clock.time() - start)))
    clock.call_at(start + 1, lambda: ran.append(("a", clock.time() - start)))
    clock.call_at(start + 5, lambda: ran.append(("at the event", clock.time() - start)))
    clock.call_after(start + 5, lambda: ran.append(("after the event", clock.time() - start)))
    assert clock.move_to(start + 5) is True
    assert ran == [("a", 1.0), ("b", 2.0), ("at the event", 5.0)]
    assert clock.time() == start + 5
    assert clock.next_timer() == start + 5
    await clock.advance_to(start + 5)
    assert ran[-1] == ("after the event", 5.0)


async def test_move_to_stops_where_a_woken_coroutine_must_run_before_time_moves_on() -> None:
    clock = SimulatedClock(T0, auto_advance=False)
    start = clock.time()
    seen: list[tuple[str, float]] = []
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def waiter() -> None:
        await woken
        seen.append(("woken", clock.time() - start))

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    clock.call_at(start + 1, woken.set_result, None)
    clock.call_at(start + 2, lambda: seen.append(("later timer", clock.time() - start)))
    assert clock.move_to(start + 5) is False
    await clock.advance_to(start + 5, events_pending=True)
    await task
    assert seen == [("woken", 1.0), ("later timer", 2.0)]
    assert clock.time() == start + 5


async def test_move_to_leaves_the_timers_to_a_clock_that_moves_time_its_own_way() -> None:
    class Stepped(SimulatedClock):
        async def advance_to(self, when: datetime | float, *, events_pending: bool = False) -> None:
            await super().advance_to(when, events_pending=events_pending)

    clock = Stepped(T0, auto_advance=False)
    start = clock.time()
    ran: list[float] = []
    clock.call_at(start + 1, lambda: ran.append(clock.time() - start))
    assert clock.move_to(start + 5) is False
    assert ran == []
    assert clock.time() == start
    await clock.advance_to(start + 5, events_pending=True)
    assert ran == [1.0]


def test_simulated_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="naive"):
        SimulatedClock(datetime(2026, 1, 1))


async def test_realtime_clock_tells_aware_utc_time_and_runs_timers() -> None:
    clock = RealtimeClock()
    now = clock.now()
    assert now.tzinfo is UTC
    assert abs(now.timestamp() - clock.time()) < 1.0
    ran = asyncio.get_running_loop().create_future()
    clock.call_later(0.0, ran.set_result, "ran")
    assert await clock.wait(ran, timeout=1.0) == "ran"
