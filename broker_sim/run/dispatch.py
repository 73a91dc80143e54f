"""Strategy handlers as real asyncio tasks, and their failures named with the strategy, handler, event and time.

A handler is called as a plain function. What it returns, when it is a coroutine (an ``async def`` handler, or
a ``def`` that returns ``self.broker.buy(...)``), runs as an asyncio task of its own from its first line to its
end, so ``asyncio.current_task()`` never changes under it and task-bound code works in a strategy (anyio's
``fail_after``, httpx's cancel scopes, ``asyncio.timeout``). Handlers that return None cost no task at all.

One kind needs no task: the strategy broker's own order (``return self.broker.buy(...)``, ``sell``,
``submit_order``, what ``order_target`` returns) over a broker whose orders never suspend
(`Broker.submits_in_place`: the paper broker). It always completes at its first step, so the run
(`run_in_place`) runs it to its end right where the handler's result is dispatched, as an eager task would
(3.12+) but without the task, its scheduling and its done-checks, on 3.11 as on 3.12+: the order is submitted
before the next handler is called, and its events are delivered after the event's handlers, as any order's.
Everything else that may suspend (a user's coroutine, a live adapter's orders) keeps a task of its own: a
coroutine that waited outside a task could not go on in one.

How the first step of a task runs without an event-loop round trip per call:

* Python 3.12+: an eager task (``asyncio.Task(..., eager_start=True)``): the coroutine runs at once inside its
  task; one that never waits completes there and is never scheduled.
* Python 3.11 has no eager tasks: the task is created as usual and, after the handlers of an event, the
  runner `settle`s: each task's first step runs before the next market event, in the order the handlers were
  called. When the loop has nothing else ready, `settle_here` runs those first steps at once, exactly as the
  loop's next turn would (each in its own task, taken from the loop's queue), without the turn itself (a sleep,
  a poll of the selector, the runner's own wake-up); otherwise `settle` lets the loop turn once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from asyncio import Task
from asyncio import get_running_loop as _running_loop
from asyncio.tasks import _enter_task, _leave_task
from collections.abc import Callable, Iterable
from types import CoroutineType, GeneratorType
from typing import Any, NoReturn

from broker_sim.errors import BrokerError, OrderRefused
from broker_sim.models import MarketData, OrderEvent

__all__ = ["EAGER_TASKS", "HandlerDispatch", "StrategyError", "handler_error"]

log = logging.getLogger(__name__)

#: Whether this Python starts tasks eagerly (3.12+); else the runner `settle`s after the handlers of an event.
EAGER_TASKS = sys.version_info >= (3, 12)

if EAGER_TASKS:
    _current_task: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None] = asyncio.current_task
else:  # 3.11's `asyncio.current_task` is a Python function over this dict
    from asyncio.tasks import _current_tasks  # type: ignore[attr-defined]

    _current_task = _current_tasks.get


class StrategyError(BrokerError):
    """A strategy's handler raised; the message names the strategy, the handler and the simulated time."""


def handler_error(handler: Any, event: MarketData | OrderEvent | None, exc: BaseException) -> StrategyError:
    """A handler's failure, alike for every handler: the strategy, the handler, what it was handling and when."""
    strategy = getattr(handler, "__self__", None)
    name = getattr(strategy, "name", "") or type(strategy).__name__
    method = getattr(handler, "__qualname__", repr(handler))
    if isinstance(event, OrderEvent):
        what = f"{event.type.value} of order {event.order.id} ({event.order.symbol})"
        when: Any = event.timestamp
    elif event is None:
        what, when = "its call", getattr(getattr(strategy, "clock", None), "now", lambda: None)()
    else:
        what, when = f"{type(event).__name__} {event.symbol}", getattr(event, "timestamp", None)
    failure = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
    error = StrategyError(
        f"strategy {name}: handler {method} failed on {what} at {when.isoformat() if when else '?'}: {failure}"
    )
    error.__cause__ = exc
    return error


async def _no_exit(awaitable: Any, handler: Callable[..., Any], argument: Any) -> Any:
    """Await what a handler returned; ``sys.exit`` in it is the strategy's failure, not the end of the process
    (asyncio would let SystemExit out of the event loop, report unwritten)."""
    try:
        return await awaitable
    except SystemExit as exc:
        raise handler_error(handler, argument, exc) from exc


def _as_strategy_error(handler: Callable[..., Any], argument: Any, error: BaseException) -> StrategyError:
    """`error` as the strategy's failure (one already named, from `_no_exit`, as it is)."""
    return error if isinstance(error, StrategyError) else handler_error(handler, argument, error)


class HandlerDispatch:
    """Runs what strategy handlers return as tasks (the broker's own orders that never suspend in place:
    `run_in_place`), keeps the ones still waiting, and reports the first failure (`on_failure`) of one that
    failed after its first step; one that fails at once raises from `dispatch`.

    An `OrderRefused` a handler does not catch is not a failure: it goes to `on_refused` (with the handler and
    what it was handling) and the run goes on, as a bot's does on Alpaca after a 403. ``sys.exit`` in a handler
    is its failure, never the end of the process."""

    def __init__(
        self,
        on_failure: Callable[[StrategyError], None],
        on_refused: Callable[[Callable[..., Any], Any, OrderRefused], None],
    ) -> None:
        self.on_failure = on_failure
        self.on_refused = on_refused
        #: Handler tasks still waiting (``wait_for``, ``clock.sleep``): they go on while the replay does.
        self.tasks: set[asyncio.Task[Any]] = set()
        #: 3.11: tasks were started since the last `settle` (with their handler and what it was handling).
        self.unsettled = False
        self._started: list[tuple[asyncio.Task[Any], Callable[..., Any], Any]] = []
        #: The running loop, taken at the first `dispatch` and kept while it runs a task (`_running`), and its
        #: queue of ready callbacks (`settle_here` reads it; None for a loop that does not show it).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: Any = None
        #: Classes other than Python's coroutine found awaitable (`inspect.isawaitable` asked once for each).
        self._awaitable_types: set[type] = set()
        #: The coroutines run in place (`run_in_place`), by the id of their kind: a code object, or a compiled
        #: coroutine function's class (the kind is kept alive beside its id).
        self._in_place: dict[int, object] = {}

    def run_in_place(self, kinds: Iterable[object]) -> None:
        """Run the coroutines of `kinds` to their end right in `dispatch`, with no task: the strategy broker's own
        order coroutines (`broker_sim.strategy_broker.order_coroutine_kinds`: code objects in pure Python, classes
        in the compiled build), over a broker whose orders never suspend (`Broker.submits_in_place`, which the
        run checks before it asks). Every other awaitable keeps its task."""
        self._in_place = {id(kind): kind for kind in kinds}

    def call(self, handler: Callable[..., Any], argument: Any = None) -> None:
        """Call `handler` (with `argument`, if not None) and run what it returns. Raises `StrategyError`."""
        try:
            result = handler() if argument is None else handler(argument)
        except OrderRefused as exc:
            self.on_refused(handler, argument, exc)
            return
        except (Exception, SystemExit) as exc:
            raise handler_error(handler, argument, exc) from exc
        if result is not None:
            self.dispatch(result, handler, argument)

    def dispatch(self, result: Any, handler: Callable[..., Any], argument: Any) -> None:
        """Run `result`, which `handler` returned for `argument`, as a task of its own (nothing if it is not
        awaitable), or, one of the broker's own orders that never suspend (`run_in_place`), to its end here. A
        failure before its first wait raises `StrategyError` here (3.12+, and an order run in place) or at
        `settle` (3.11)."""
        kind = type(result)
        in_place = self._in_place
        if in_place and id(result.cr_code if kind is CoroutineType else kind) in in_place:
            # Run to its end (its one step), as an eager task's first step would, without the task: a refusal goes
            # to `on_refused`, any other failure raises. The step by iterating, not by ``result.send(None)`` caught
            # as StopIteration: the loop drops the order it returns without raising it (~700 instructions an order).
            try:
                for _ in result.__await__():
                    break
                else:
                    return
            except OrderRefused as exc:
                self.on_refused(handler, argument, exc)
                return
            except (Exception, SystemExit) as exc:
                raise handler_error(handler, argument, exc) from exc
            self._waited(result, handler, argument)
        if kind is not CoroutineType and kind not in self._awaitable_types:
            if not inspect.isawaitable(result):
                return
            if not isinstance(result, GeneratorType):  # a generator is awaitable or not by its code, not its class
                self._awaitable_types.add(kind)  # (a compiled module's coroutines: mypyc's own class for each)
        loop = self._loop
        if loop is None or _current_task(loop) is None:
            loop = self._running()
        coroutine = _no_exit(result, handler, argument)
        name = getattr(handler, "__qualname__", "handler")
        if EAGER_TASKS:
            task: asyncio.Task[Any] = Task(  # type: ignore[call-arg,unused-ignore]
                coroutine, loop=loop, name=name, eager_start=True
            )
            if task.done():
                if not task.cancelled() and (error := task.exception()) is not None:
                    self._ended_badly(handler, argument, error)
                return
        else:
            # The task built directly, as `loop.create_task` builds it (without its Python frame); as on 3.12,
            # a loop's task factory is not asked: the handler's task is an `asyncio.Task`.
            task = Task(coroutine, loop=loop, name=name)
            self._started.append((task, handler, argument))
            self.unsettled = True
            return
        self._watch(task, handler, argument)

    def _waited(self, order: Any, handler: Callable[..., Any], argument: Any) -> NoReturn:
        """An order run in place that waited: its broker's `submits_in_place` is wrong, and no task can take the
        wait over. Raises `StrategyError`."""
        order.close()
        suspended = RuntimeError("the order waited, though its broker says its orders never do (submits_in_place)")
        raise handler_error(handler, argument, suspended)

    def _running(self) -> asyncio.AbstractEventLoop:
        """The running loop (RuntimeError outside one), kept with its ready queue for the next calls.

        `dispatch` asks asyncio only when the kept loop is running no task in this thread (a new run, or the first
        call): on 3.11 `asyncio.get_running_loop` makes a getpid system call each time, ~220 ns an order; the
        current task's lookup is a dict read. The dispatch is called from a task (the runner's, a handler's)."""
        loop = self._loop = _running_loop()
        self._ready = getattr(loop, "_ready", None)
        return loop

    def _watch(self, task: asyncio.Task[Any], handler: Callable[..., Any], argument: Any) -> None:
        """Keep a task that is waiting, and hear how it ends."""
        self.tasks.add(task)
        task.add_done_callback(lambda done: self._done(done, handler, argument))

    def _done(self, task: asyncio.Task[Any], handler: Callable[..., Any], argument: Any) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            if isinstance(error, OrderRefused):
                self.on_refused(handler, argument, error)
            else:
                self.on_failure(_as_strategy_error(handler, argument, error))

    def _ended_badly(self, handler: Callable[..., Any], argument: Any, error: BaseException) -> None:
        """A task that ended at its first step with `error`: a refusal is reported, anything else raised."""
        if isinstance(error, OrderRefused):
            self.on_refused(handler, argument, error)
            return
        raise _as_strategy_error(handler, argument, error) from error

    def settle_here(self) -> bool:
        """3.11: run the first step of each task started since the last settling here and now, in the order they
        were started and each in its own task, when they are all the loop has ready (its next turn would run just
        them), then settle them as `settle` does; True when done. False, changing nothing, when the loop has other
        work ready (or does not show its queue): then ``await settle()``."""
        started = self._started
        # The tasks' loop, kept by `dispatch` when it started them, while it runs a task here; else asyncio's
        loop = self._loop
        runner = None if loop is None or not started else _current_task(loop)
        if loop is None or runner is None:
            loop = self._running()
            runner = _current_task(loop)
        ready = self._ready
        count = len(started)
        if ready is None or len(ready) != count:
            return False
        if count == 1:  # the usual case: one task (the loop below, for it)
            if getattr(ready[0]._callback, "__self__", None) is not started[0][0]:
                return False
        else:
            for handle, (task, _, _) in zip(ready, started, strict=True):
                if getattr(handle._callback, "__self__", None) is not task:
                    return False
        self.unsettled = False
        if runner is not None:
            _leave_task(loop, runner)  # as between the loop's callbacks: each step enters its own task
        try:
            for _ in range(count):
                handle = ready.popleft()
                if not handle._cancelled:
                    # `handle._run()`, inline: a task's step lets out nothing but SystemExit and KeyboardInterrupt
                    try:
                        if handle._args:
                            handle._context.run(handle._callback, *handle._args)
                        else:  # a task's step takes none
                            handle._context.run(handle._callback)
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:  # as `Handle._run` reports it
                        loop.call_exception_handler(
                            {"message": f"Exception in callback {handle!r}", "exception": exc, "handle": handle}
                        )
        finally:
            if runner is not None:
                _enter_task(loop, runner)
        if len(started) == 1:  # one task (none started meanwhile), which ended at its first step (`_settled`, inline)
            task = started[0][0]
            if task.done() and (task.cancelled() or task.exception() is None):
                started.clear()
                return True
        self._settled()
        return True

    async def settle(self) -> None:
        """3.11: let the tasks started since the last call run their first step (one turn of the loop, unless
        `settle_here` can run them without it). One that failed at once raises `StrategyError` here; one that
        completed costs nothing more (no done callback, so no further loop turn); one that waits is kept, as on
        3.12."""
        if self.settle_here():
            return
        self.unsettled = False
        await asyncio.sleep(0)
        self._settled()

    def _settled(self) -> None:
        """The tasks started since the last settling have run their first step: keep the ones that wait, report
        a refusal, raise the first failure (keeping the waiting tasks after it)."""
        started, self._started = self._started, []
        for index, (task, handler, argument) in enumerate(started):
            if not task.done():
                self._watch(task, handler, argument)
            elif not task.cancelled() and (error := task.exception()) is not None:
                if isinstance(error, OrderRefused):
                    self.on_refused(handler, argument, error)
                    continue
                for waiting, waiting_handler, waiting_argument in started[index + 1 :]:
                    if not waiting.done():
                        self._watch(waiting, waiting_handler, waiting_argument)
                raise _as_strategy_error(handler, argument, error) from error

    async def finish(self) -> None:
        """At the end of a run: cancel the handlers still waiting (logged) and wait for them to end."""
        if not self.tasks:
            return
        await asyncio.sleep(0)
        left = list(self.tasks)
        if left:
            log.warning("%d strategy handler(s) were still waiting at the end of the run and were cancelled", len(left))
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
