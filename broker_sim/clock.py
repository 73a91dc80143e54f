"""Clocks: where every timestamp, latency, timeout and expiry in broker-sim takes its time from.

`SimulatedClock` keeps virtual time: scheduled callbacks run when the clock is advanced past them, so a 2-second
latency or a day order's expiry costs no wall time. `RealtimeClock` is the wall clock of paper-live and live
trading; it is the only object in broker-sim that reads the wall clock.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
import math
from collections.abc import Callable
from datetime import UTC, datetime
from heapq import heappop, heappush
from typing import Any, ClassVar, Final, Protocol, TypeVar

from broker_sim._mypyc import mypyc_attr

__all__ = ["Clock", "RealtimeClock", "SimulatedClock", "TimerHandle"]

_T = TypeVar("_T")

#: On the wall clock, "after the events stamped t" is this long after t.
_AFTER_EVENTS_S = 0.001
#: How many event-loop turns `SimulatedClock` gives woken coroutines before time moves on (see `_settle`).
_SETTLE_TURNS = 64
#: The due time of no timer at all.
_NEVER = math.inf
#: `datetime.fromtimestamp` and `UTC`, as `SimulatedClock.now` calls them for each new instant (under latency, twice
#: per order): compiled, a C static each, not a module lookup, a class attribute's and a bound method made per call.
_FROM_TIMESTAMP: Final = datetime.fromtimestamp
_UTC: Final = UTC


class TimerHandle(Protocol):
    """What scheduling returns: something that can be cancelled."""

    def cancel(self) -> None: ...


@mypyc_attr(allow_interpreted_subclasses=True)
class Clock(abc.ABC):
    """The time source of a broker, a stream and a strategy. Timestamps are timezone-aware UTC datetimes."""

    #: True for virtual time (the simulated clock), False for the wall clock.
    is_simulated: ClassVar[bool] = False

    @abc.abstractmethod
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    @abc.abstractmethod
    def time(self) -> float:
        """The current time as POSIX seconds (what `now()` tells, cheaper)."""

    @abc.abstractmethod
    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        """Run `callback(*args)` at POSIX time `when` (at once if it is past); returns a cancellable handle."""

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        """Run `callback(*args)` `delay` seconds from now; returns a cancellable handle."""
        return self.call_at(self.time() + max(0.0, delay), callback, *args)

    @abc.abstractmethod
    def call_after(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        """Run `callback(*args)` at POSIX time `when`, but after the market events stamped `when` were delivered
        (a day order expires at the close after the session's last bar was offered to it)."""

    @abc.abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""

    @abc.abstractmethod
    async def wait(self, future: asyncio.Future[_T], timeout: float | None = None) -> _T:
        """Wait for `future` for at most `timeout` seconds of this clock's time; raises `TimeoutError`."""


class _Timer:
    """One callback scheduled on a `SimulatedClock`: its handle. No ``__init__``: `SimulatedClock._schedule` sets
    each field (once per order under latency, a constructor frame saved in pure Python)."""

    __slots__ = ("args", "callback", "cancelled")

    callback: Callable[..., object]
    args: tuple[Any, ...]
    cancelled: bool

    def cancel(self) -> None:
        self.cancelled = True


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@mypyc_attr(allow_interpreted_subclasses=True)
class SimulatedClock(Clock):
    """Virtual time. Scheduled callbacks run, in time order, when the clock is advanced past them.

    With `auto_advance` (the default) `sleep` and `wait` move time forward themselves, straight to the next
    scheduled callback, so `await broker.wait_for(order_id, "filled")` returns at once in wall time. A replay
    runner that moves time bar by bar sets `auto_advance=False`: then only `advance`/`advance_to` move time.
    """

    is_simulated: ClassVar[bool] = True

    def __init__(self, start: datetime | float | None = None, *, auto_advance: bool = True) -> None:
        if start is None:
            start = RealtimeClock().now().replace(microsecond=0)
        if isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError(f"start {start.isoformat()} is naive; give it a timezone (UTC)")
            start = start.timestamp()
        #: The time as POSIX seconds, and `now()`'s last answer with the seconds it was for. The paper venue's order
        #: path (`adapters/paper/submission.py`, `venue.py`) reads both, and `_schedule`, directly when the clock is
        #: exactly this class (a call saved per read); change them together with those readers.
        self._now = float(start)
        self._now_datetime: tuple[float, datetime] = (self._now, datetime.fromtimestamp(self._now, UTC))
        self.auto_advance = auto_advance
        #: (when, phase, sequence, timer): phase 1 timers (`call_after`) wait for the events at their instant.
        self._timers: list[tuple[float, int, int, _Timer]] = []
        #: No timer is due before this time, at most the first timer's: the replay's step to each event (`move_to`)
        #: looks at the timers only from there on. Each timer scheduled lowers it; `_run_due` sets it to the first
        #: timer left, infinite when none is (`next_timer`'s pops leave it lower: still true).
        self._due: float = _NEVER
        self._sequence = itertools.count()
        self._timer_added: asyncio.Future[None] | None = None
        #: The event loop last seen running this clock's coroutines, and its queue of ready callbacks (None when
        #: the loop does not tell): asked again only when that loop is no longer running (`_run_due`).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: Any = None
        #: The remembered loop again when it is asyncio's own kind (its `is_running` is `BaseEventLoop`'s, which tells
        #: whether `_thread_id` is set): whether it still runs is then read as that attribute, without the call.
        self._base_loop: Any = None
        #: Whether `move_to` runs the timers due before an event itself: only while `advance_to` is this class's own
        #: (a subclass that overrides it, as `serve`'s `PacedClock` does, decides how and when its timers run).
        self._runs_due = type(self).advance_to is SimulatedClock.advance_to
        #: Set by `move_to` when a timer it ran woke coroutines: the `advance_to` that follows lets them run first.
        self._unsettled = False

    def now(self) -> datetime:
        cached_at, cached = self._now_datetime
        if cached_at == self._now:
            return cached  # many events happen at one simulated instant: build its datetime once
        cached = _FROM_TIMESTAMP(self._now, _UTC)
        self._now_datetime = (self._now, cached)
        return cached

    def time(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        return self._schedule(when, 0, callback, args)

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        # `Clock.call_later` without its `time`, `max` and `call_at` calls (an order's arrival under latency).
        return self._schedule(self._now + delay if delay > 0 else self._now, 0, callback, args)

    def call_after(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        return self._schedule(when, 1, callback, args)

    def _schedule(self, when: float, phase: int, callback: Callable[..., object], args: tuple[Any, ...]) -> _Timer:
        # Once per order under latency: no builtin max() and no `_Timer.__init__` frame (~1.2k instructions).
        now = self._now
        if when < now:
            when = now
        timer = _Timer()  # (its time is in its heap entry)
        timer.callback = callback
        timer.args = args
        timer.cancelled = False
        heappush(self._timers, (when, phase, next(self._sequence), timer))
        if when < self._due:
            self._due = when
        added = self._timer_added
        if added is not None and not added.done():
            added.set_result(None)
        return timer

    def next_timer(self) -> float | None:
        """POSIX time of the next scheduled callback, or None when nothing is scheduled."""
        timers = self._timers
        while timers and timers[0][3].cancelled:
            heappop(timers)
        return timers[0][0] if timers else None

    def start_at(self, when: datetime | float) -> None:
        """Set the time of a clock that has nothing scheduled, forward or back (a broker's own clock starting at
        its first market data). Raises `RuntimeError` if callbacks are scheduled."""
        if self.next_timer() is not None:
            raise RuntimeError("start_at: callbacks are scheduled on this clock; it can no longer be restarted")
        self._now = when.timestamp() if isinstance(when, datetime) else float(when)

    def move_to(self, when: float) -> bool:
        """Bring the time to `when` for an event stamped `when`, running the timers due before that event as
        ``advance_to(when, events_pending=True)`` runs them, and return True. The replay's per-event fast path: no
        coroutine, even when an order arrives between two events.

        Returns False where the caller must await ``advance_to(when, events_pending=True)`` instead: at once,
        having run nothing, when a timer is due and the clock's `advance_to` is not this class's own; or right
        after a timer that woke coroutines (that `advance_to` lets them run first, then goes on).

        `run.loop.make_processor` does the no-timer-due step itself (``_now`` raised to `when` while `when` is before
        `_due`) for this class's own `move_to`: change both together."""
        if when >= self._due:  # a timer may be due (the bars between two orders' arrivals skip this)
            if self._runs_due:
                if not self._run_due(when, 0):  # (it looks at the first timer itself)
                    self._unsettled = True
                    return False
            else:
                timers = self._timers
                if timers and (timers[0][0] < when or (timers[0][0] == when and timers[0][1] == 0)):
                    return False
        if when > self._now:
            self._now = when
        return True

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, running everything scheduled in that span in time order."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        await self.advance_to(self._now + seconds)

    async def advance_to(self, when: datetime | float, *, events_pending: bool = False) -> None:
        """Move time forward to `when`, running everything scheduled until then in time order.

        With `events_pending` (a replay about to deliver events stamped `when`), the `call_after` callbacks of
        that very instant wait for the next move. Coroutines woken by a callback (sleepers, waiters, listeners)
        get to run before time moves past it. When nothing is due this is a plain assignment: no event-loop
        round trip. Moving backwards is refused.
        """
        target = when.timestamp() if isinstance(when, datetime) else float(when)
        if target < self._now:
            raise ValueError(
                f"the simulated clock cannot go back from {self.now().isoformat()} "
                f"to {datetime.fromtimestamp(target, UTC).isoformat()}"
            )
        if self._unsettled:  # `move_to` stopped after a timer that woke coroutines: they run before time moves on
            self._unsettled = False
            await self._settle()
        last_phase = 0 if events_pending else 1
        while not self._run_due(target, last_phase):
            await self._settle()
        if target > self._now:
            self._now = target

    def _run_due(self, target: float, last_phase: int) -> bool:
        """Run the timers due by `target` in time order (at `target` itself, those of phase `last_phase` or
        lower), each at its own time. Returns False right after a timer that woke coroutines, which must run
        before time moves on (the caller lets them, then calls again); True when nothing due is left.

        Whether a timer woke coroutines is whether the running loop has callbacks ready (True when the loop does
        not tell). The loop is remembered: on Python 3.11 `asyncio.get_running_loop` makes a system call (getpid)
        each time. A remembered loop that still runs is the one running us (a loop runs in one thread, and a clock
        serves one thread); one that stopped (an `asyncio.run` ended) is asked for again."""
        timers = self._timers
        while timers:
            first = timers[0]
            due = first[0]
            if due > target or (due == target and first[1] > last_phase):
                self._due = due
                return True
            timer = heappop(timers)[3]
            if timer.cancelled:
                continue
            if due > self._now:
                self._now = due
            timer.callback(*timer.args)
            if timers and timers[0][0] <= due:
                continue  # another timer of this instant first
            # `_ready_callbacks()`, written out here, with no `bool()` call: this runs once per order under latency.
            base = self._base_loop
            if base is None or base._thread_id is None:
                loop = self._loop
                if loop is None or not loop.is_running():
                    self._remember_loop()
            ready = self._ready
            if ready is None or ready:
                self._due = timers[0][0] if timers else _NEVER
                return False
        self._due = _NEVER
        return True

    def _ready_callbacks(self) -> Any:
        """The running loop's queue of ready callbacks (empty: no coroutine is ready to run), or None when the loop
        does not tell. The loop is remembered as `_run_due` remembers it."""
        base = self._base_loop
        if base is None or base._thread_id is None:
            loop = self._loop
            if loop is None or not loop.is_running():
                self._remember_loop()
        return self._ready

    def _remember_loop(self) -> None:
        """Remember the running loop, its queue of ready callbacks, and whether it is asyncio's own kind."""
        loop = self._loop = asyncio.get_running_loop()
        self._ready = getattr(loop, "_ready", None)
        self._base_loop = loop if type(loop).is_running is asyncio.BaseEventLoop.is_running else None

    @staticmethod
    async def _settle() -> None:
        """Let coroutines that callbacks woke run until they wait again (bounded, so a busy task can't hang us)."""
        loop = asyncio.get_running_loop()
        for _ in range(_SETTLE_TURNS):
            await asyncio.sleep(0)
            if not getattr(loop, "_ready", None):
                break

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_later(seconds, _wake, future)
        try:
            await self.wait(future)
        finally:
            timer.cancel()

    async def wait(self, future: asyncio.Future[_T], timeout: float | None = None) -> _T:
        deadline = None if timeout is None else self._now + max(0.0, timeout)
        while not future.done():
            if not self.auto_advance:
                await self._wait_for_change(future, deadline)
                continue
            # Let tasks that are ready run first: they may schedule earlier work or finish the future. (When the loop
            # says none is, `_settle` would only turn it once for nothing: ~22k instructions per wait on 3.11.)
            ready = self._ready_callbacks()
            if ready is None or ready:
                await self._settle()
                if future.done():
                    break
            upcoming = self.next_timer()
            if upcoming is not None and (deadline is None or upcoming <= deadline):
                if self._runs_due and not self._unsettled:
                    # `advance_to(upcoming)`, inline (this class's own, nothing unsettled): no coroutine of its own.
                    while not self._run_due(upcoming, 1):
                        await self._settle()
                    if upcoming > self._now:
                        self._now = upcoming
                else:
                    await self.advance_to(upcoming)
                continue
            # Nothing is scheduled before the deadline, and no task is ready that could change that.
            if deadline is None:
                await self._wait_for_change(future, None)
                continue
            await self.advance_to(deadline)
            if not future.done():
                raise TimeoutError(f"timed out after {timeout} simulated seconds")
        return future.result()

    async def _wait_for_change(self, future: asyncio.Future[Any], deadline: float | None) -> None:
        """Idle until `future` is done, a new callback is scheduled, or (externally driven) the deadline passes."""
        loop = asyncio.get_running_loop()
        if self._timer_added is None or self._timer_added.done():
            self._timer_added = loop.create_future()
        waiting: list[asyncio.Future[Any]] = [future, self._timer_added]
        timer = None
        if deadline is not None:
            expired: asyncio.Future[None] = loop.create_future()
            timer = self.call_at(deadline, _wake, expired)
            waiting.append(expired)
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if timer is not None:
                timer.cancel()
        if deadline is not None and not future.done() and self._now >= deadline:
            raise TimeoutError(f"timed out at {self.now().isoformat()} (simulated)")


@mypyc_attr(allow_interpreted_subclasses=True)
class RealtimeClock(Clock):
    """The wall clock, for paper-live and live trading: latency is a real wait."""

    is_simulated: ClassVar[bool] = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return datetime.now(UTC).timestamp()

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, when - self.time()), callback, *args)

    def call_after(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        return self.call_at(when + _AFTER_EVENTS_S, callback, *args)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait(self, future: asyncio.Future[_T], timeout: float | None = None) -> _T:
        return await asyncio.wait_for(asyncio.shield(future), timeout)
