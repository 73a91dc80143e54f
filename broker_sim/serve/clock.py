"""The served replay's clock: simulated time that the wall clock drives, `speed` simulated seconds per wall second.

`broker-sim serve` is the one place where wall time moves the simulated clock: bots talk to the server in real
time, so the replay must unfold at a pace they can follow. `PacedClock` is a `SimulatedClock` whose
`advance_to` waits on the wall clock until the simulated time it moves to is due, running latency timers and
expiries as their simulated time comes. A request can call `catch_up` first, so the order it submits is stamped
with the simulated time of the moment it arrived (never past the next market event the replay has not delivered).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from broker_sim.clock import RealtimeClock, SimulatedClock

__all__ = ["MAX_SPEED", "PacedClock"]

#: `speed` for "as fast as the clients read": the replay does not wait on the wall clock at all.
MAX_SPEED = float("inf")
#: The longest wall-clock wait in one go (seconds), so a stop request or a new timer is seen quickly.
_MAX_WAIT_S = 0.25


class PacedClock(SimulatedClock):
    """Simulated time moving at `speed` simulated seconds per wall second from `start` (`MAX_SPEED`: no wall
    waits); `paused`, it stands still until `restart`. `advance_to` is what the replay awaits before each market
    event; `catch_up` what requests call."""

    def __init__(
        self, start: datetime | float, speed: float, *, paused: bool = False, wall: RealtimeClock | None = None
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0 simulated seconds per wall second, got {speed!r}")
        super().__init__(start, auto_advance=False)
        self.speed = float(speed)
        self._wall = wall if wall is not None else RealtimeClock()
        self._origin_sim = self.time()
        self._origin_wall = self._wall.time()
        #: The time of the next market event the replay waits to deliver: nothing may run past it before it is.
        self._horizon: float | None = self.time()
        self._paused = paused
        self._lock = asyncio.Lock()
        self._woken: asyncio.Event | None = None

    def restart(self) -> None:
        """Pace from here: the present simulated time is due now on the wall clock (ends a pause)."""
        self._origin_sim = self.time()
        self._origin_wall = self._wall.time()
        self._paused = False

    def start_at(self, when: datetime | float) -> None:
        """Set the time of a clock with nothing scheduled (a served account resuming from its journal starts at
        its last change), and pace from there."""
        super().start_at(when)
        self._origin_sim = self._horizon = self.time()
        self._origin_wall = self._wall.time()

    @property
    def paced(self) -> bool:
        """False at `MAX_SPEED`: time then jumps from event to event."""
        return self.speed != MAX_SPEED

    def due_time(self) -> float:
        """The simulated time the wall clock says it is now (POSIX seconds); infinite at `MAX_SPEED`."""
        if self._paused:
            return self.time()
        if not self.paced:
            return float("inf")
        return self._origin_sim + (self._wall.time() - self._origin_wall) * self.speed

    def move_to(self, when: float) -> bool:
        """The replay's fast path: only when `when` is due on the wall clock already."""
        if self.paced and when > self.due_time():
            return False
        return super().move_to(when)

    async def advance_to(self, when: datetime | float, *, events_pending: bool = False) -> None:
        """Move to `when`, waiting on the wall clock until it is due and running the timers due on the way."""
        target = when.timestamp() if isinstance(when, datetime) else float(when)
        self._horizon = target
        try:
            while self.paced:
                due = min(self.due_time(), target)
                async with self._lock:
                    await SimulatedClock.advance_to(self, max(due, self.time()))
                if due >= target:
                    break
                upcoming = self.next_timer()
                goal = target if upcoming is None else min(target, upcoming)
                await self._wait_wall((goal - self.due_time()) / self.speed)
            async with self._lock:
                await SimulatedClock.advance_to(self, max(target, self.time()), events_pending=events_pending)
        finally:
            self._horizon = None

    async def catch_up(self) -> None:
        """Bring the clock to the wall clock's simulated time (not past the event the replay waits to deliver),
        running what is due on the way; requests call it so they see, and stamp, the present."""
        if not self.paced:
            return
        due = self.due_time()
        if self._horizon is not None:
            due = min(due, self._horizon)
        if due > self.time():
            async with self._lock:
                await SimulatedClock.advance_to(self, max(due, self.time()), events_pending=True)

    async def run_on(self) -> None:
        """After the replay's last event: time goes on at `speed` (at `MAX_SPEED` it jumps to each timer as it is
        scheduled), so orders still arrive, fill and expire. Runs until cancelled."""
        while True:
            if self.paced:
                await self.advance_to(self.due_time() + self.speed * _MAX_WAIT_S)
                continue
            upcoming = self.next_timer()
            if upcoming is None:
                await self._wait_wall(_MAX_WAIT_S)
            else:
                await self.advance_to(upcoming)

    def _schedule(self, when, phase, callback, args):  # type: ignore[no-untyped-def]
        timer = super()._schedule(when, phase, callback, args)
        if self._woken is not None:
            self._woken.set()  # a new timer may be due before what the replay waits for
        return timer

    async def _wait_wall(self, seconds: float) -> None:
        """Wait up to `seconds` of wall time (at most `_MAX_WAIT_S`), or until a timer is scheduled."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        self._woken = woken = asyncio.Event()
        try:
            await asyncio.wait_for(woken.wait(), min(seconds, _MAX_WAIT_S))
        except TimeoutError:
            pass
        finally:
            self._woken = None
