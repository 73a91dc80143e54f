"""Strategy handlers run as real tasks from their first line to their end: task-bound code (anyio's
``fail_after``, ``asyncio.timeout``) works in a strategy, and a failure after a wait names the strategy, the
handler, the event and the time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from broker_sim import Bar, Order, OrderEvent, Strategy, run_simulation
from broker_sim.errors import OrderRefused
from broker_sim.run.dispatch import EAGER_TASKS, HandlerDispatch
from broker_sim.simulation import Result, StrategyError

STRATEGY = '''
import asyncio
import json

import anyio

from broker_sim import Bar, Strategy


class Waiter(Strategy):
    """Waits inside task-bound scopes on some bars; writes what it saw at the end."""

    def __init__(self, out: str, fail_on: int = 0) -> None:
        self.out, self.fail_on = out, fail_on
        self.bars = 0
        self.same_task: list[bool] = []
        self.filled = 0

    async def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        index = self.bars
        if index % 10:
            return
        task = asyncio.current_task()
        with anyio.fail_after(60):  # wall seconds: the simulated waits below take none
            await self.clock.sleep(90)  # simulated: the replay moves on meanwhile
            order = await self.broker.buy(bar.symbol, 1)
            filled = await self.broker.wait_for(order.id, "filled", timeout=30)
            self.filled += filled.status.value == "filled"
        async with asyncio.timeout(60):
            await self.clock.sleep(1)
        self.same_task.append(asyncio.current_task() is task)
        if index == self.fail_on:
            raise RuntimeError("boom after a wait")

    def on_stop(self) -> None:
        with open(self.out, "w") as file:
            json.dump({"same_task": self.same_task, "filled": self.filled}, file)
'''


def _config(tmp_path: Path, fail_on: int = 0) -> dict:
    (tmp_path / "waiter.py").write_text(STRATEGY)
    return {
        "broker": {"adapter": "paper", "seed": 3, "session": "always"},
        "prices": {"sources": [{"source": "synthetic", "symbols": ["AAA"], "interval": 60, "count": 120}]},
        "strategy": {
            "class": f"{tmp_path / 'waiter.py'}:Waiter",
            "params": {"out": str(tmp_path / "seen.json"), "fail_on": fail_on},
        },
    }


def test_a_handler_keeps_its_task_across_waits_and_task_bound_scopes_work(tmp_path: Path) -> None:
    result = run_simulation(_config(tmp_path), out=False)
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert len(seen["same_task"]) >= 10 and all(seen["same_task"])
    assert seen["filled"] == len(seen["same_task"]) == len(result.fills)


def test_a_handler_that_fails_after_a_wait_is_named_with_its_event_and_time(tmp_path: Path) -> None:
    with pytest.raises(StrategyError) as failed:
        run_simulation(_config(tmp_path, fail_on=30), out=False)
    message = str(failed.value)
    assert "strategy Waiter: handler Waiter.on_bar failed on Bar AAA at 20" in message
    assert "RuntimeError: boom after a wait" in message


class _Handlers:
    """Handlers whose coroutines note the task each step runs in (named like a strategy's, for the errors)."""

    name = "Noter"

    def __init__(self) -> None:
        self.steps: list[tuple[str, asyncio.Task[object] | None]] = []

    async def note(
        self, tag: str, *, wait: asyncio.Future[None] | None = None, fail: BaseException | None = None
    ) -> None:
        self.steps.append((tag, asyncio.current_task()))
        if wait is not None:
            await wait
            self.steps.append((f"{tag} again", asyncio.current_task()))
        if fail is not None:
            raise fail


def _dispatcher() -> tuple[HandlerDispatch, list[StrategyError], list[OrderRefused]]:
    failures: list[StrategyError] = []
    refusals: list[OrderRefused] = []
    return HandlerDispatch(failures.append, lambda handler, argument, error: refusals.append(error)), failures, refusals


async def _settle(dispatch: HandlerDispatch) -> None:
    if dispatch.unsettled and not dispatch.settle_here():
        await dispatch.settle()


async def _run_first_step(dispatch: HandlerDispatch, handlers: _Handlers, coroutine: object) -> None:
    """Dispatch a handler's coroutine and settle it: its first step has run when this returns, and a failure in
    that step raises from here, whether it raised at `dispatch` (3.12+: the task starts eagerly) or at `_settle`
    (3.11)."""
    dispatch.dispatch(coroutine, handlers.note, None)
    await _settle(dispatch)


async def test_first_steps_run_in_order_each_in_its_own_task_and_a_waiting_one_keeps_its_task() -> None:
    handlers, runner = _Handlers(), asyncio.current_task()
    dispatch, failures, refusals = _dispatcher()
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    dispatch.dispatch(handlers.note("first"), handlers.note, None)
    dispatch.dispatch(handlers.note("waits", wait=woken), handlers.note, None)
    dispatch.dispatch(handlers.note("third"), handlers.note, None)
    await _settle(dispatch)
    assert asyncio.current_task() is runner and not dispatch.unsettled
    assert [tag for tag, _ in handlers.steps] == ["first", "waits", "third"]
    tasks = [task for _, task in handlers.steps]
    assert runner not in tasks and len({id(task) for task in tasks}) == 3
    assert len(dispatch.tasks) == 1  # the one that waits is kept; the others ended at their first step
    woken.set_result(None)
    await asyncio.sleep(0)  # the waiting task goes on ...
    await asyncio.sleep(0)  # ... and its end is heard
    assert handlers.steps[-1] == ("waits again", tasks[1]) and not dispatch.tasks
    assert failures == [] and refusals == []


async def test_first_steps_wait_their_turn_behind_work_the_loop_has_ready_on_3_11_and_run_at_once_after() -> None:
    handlers = _Handlers()
    dispatch, _, _ = _dispatcher()
    asyncio.get_running_loop().call_soon(handlers.steps.append, ("ready before", None))
    dispatch.dispatch(handlers.note("handler"), handlers.note, None)
    await _settle(dispatch)
    if EAGER_TASKS:  # 3.12+: the task started eagerly, its first step ran inside `dispatch`, in a task of its own
        assert [tag for tag, _ in handlers.steps] == ["handler"]
        assert handlers.steps[0][1] is not None and handlers.steps[0][1] is not asyncio.current_task()
        await asyncio.sleep(0)
        assert [tag for tag, _ in handlers.steps] == ["handler", "ready before"]
    else:  # 3.11: the loop's next turn runs what was ready first, as `settle` lets it
        assert [tag for tag, _ in handlers.steps] == ["ready before", "handler"]


async def test_a_first_step_that_fails_raises_named_and_a_refused_order_is_only_reported() -> None:
    handlers = _Handlers()
    dispatch, failures, refusals = _dispatcher()
    refusal = OrderRefused("buying power")
    await _run_first_step(dispatch, handlers, handlers.note("refused", fail=refusal))
    assert refusals == [refusal] and failures == []
    with pytest.raises(StrategyError, match=r"strategy Noter: handler _Handlers.note failed on its call .*boom"):
        await _run_first_step(dispatch, handlers, handlers.note("fails", fail=RuntimeError("boom")))
    with pytest.raises(StrategyError, match=r"called sys.exit\(3\)"):
        await _run_first_step(dispatch, handlers, handlers.note("exits", fail=SystemExit(3)))


async def test_a_lone_first_step_is_settled_in_place_whether_it_ends_waits_or_fails() -> None:
    handlers = _Handlers()
    dispatch, failures, refusals = _dispatcher()
    dispatch.dispatch(handlers.note("ends"), handlers.note, None)
    await _settle(dispatch)
    task = handlers.steps[0][1]
    assert task is not None and task.done() and task.get_name() == "_Handlers.note"
    assert not dispatch.tasks and not dispatch.unsettled
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    dispatch.dispatch(handlers.note("waits", wait=woken), handlers.note, None)
    await _settle(dispatch)
    assert len(dispatch.tasks) == 1 and not dispatch.unsettled
    woken.set_result(None)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert handlers.steps[-1] == ("waits again", handlers.steps[1][1]) and not dispatch.tasks
    with pytest.raises(StrategyError, match="RuntimeError: alone"):
        await _run_first_step(dispatch, handlers, handlers.note("fails", fail=RuntimeError("alone")))
    assert failures == [] and refusals == []


def test_a_dispatch_takes_the_loop_of_each_run_and_outside_one_refuses_as_asyncio_does() -> None:
    handlers = _Handlers()
    dispatch, failures, refusals = _dispatcher()

    async def run(tag: str) -> asyncio.AbstractEventLoop:
        dispatch.dispatch(handlers.note(tag), handlers.note, None)
        await _settle(dispatch)
        return asyncio.get_running_loop()

    first, second = asyncio.run(run("first")), asyncio.run(run("second"))  # the first loop is closed by then
    assert first is not second and [tag for tag, _ in handlers.steps] == ["first", "second"]
    loops = [task.get_loop() for _, task in handlers.steps if task is not None]
    assert loops == [first, second]
    outside = handlers.note("outside")
    with pytest.raises(RuntimeError, match="no running event loop"):
        dispatch.dispatch(outside, handlers.note, None)
    outside.close()
    assert failures == [] and refusals == []


class _Awaitable:
    """An awaitable that is not a coroutine (as a compiled module's coroutines are not Python's)."""

    def __init__(self, handlers: _Handlers, tag: str) -> None:
        self.handlers, self.tag = handlers, tag

    def __await__(self):  # type: ignore[no-untyped-def]
        return self.handlers.note(self.tag).__await__()


async def test_an_awaitable_that_is_no_coroutine_runs_as_a_task_each_time() -> None:
    handlers, runner = _Handlers(), asyncio.current_task()
    dispatch, failures, refusals = _dispatcher()
    for tag in ("one", "two"):  # the second of its class is known to be awaitable
        dispatch.dispatch(_Awaitable(handlers, tag), handlers.note, None)
        await _settle(dispatch)
    dispatch.dispatch(object(), handlers.note, None)  # not awaitable: nothing to run
    assert [tag for tag, _ in handlers.steps] == ["one", "two"] and not dispatch.unsettled
    assert all(task is not None and task is not runner for _, task in handlers.steps)
    assert failures == [] and refusals == []


#: What the strategies below saw, in the order they saw it (cleared by each run of `_orders_run`).
SEEN: list[tuple[Any, ...]] = []


class Trader(Strategy):
    """Returns its broker's own order from `on_bar` (`mode`: buys and `order_target`s in turn, an order too big for
    the account, a malformed one); a sync listener notes the task each of its broker's events is heard in."""

    def __init__(self, mode: str = "trade") -> None:
        self.mode, self.bars = mode, 0

    def on_start(self) -> None:
        self.broker.add_listener(self.heard)

    def heard(self, event: OrderEvent) -> None:
        SEEN.append(("event", event.type.value, asyncio.current_task()))

    def on_bar(self, bar: Bar) -> Awaitable[Order] | None:
        self.bars += 1
        SEEN.append(("bar", self.bars, asyncio.current_task()))
        if self.mode == "refused":
            return self.broker.buy(bar.symbol, 1e9)
        if self.mode == "malformed":
            return self.broker.sell(bar.symbol, -5)
        return self.broker.buy(bar.symbol, 1) if self.bars % 2 else self.order_target(bar.symbol, 0)


class Watcher(Strategy):
    """Called after the trader on each bar: notes the events heard by then, and the task it runs in."""

    def on_bar(self, bar: Bar) -> None:
        SEEN.append(("watch", sum(seen[0] == "event" for seen in SEEN), asyncio.current_task()))


class Sleeper(Strategy):
    """A plain `def` handler that returns, every fifth bar, a coroutine that waits (a simulated sleep)."""

    def __init__(self) -> None:
        self.bars = 0

    def on_bar(self, bar: Bar) -> Awaitable[None] | None:
        self.bars += 1
        return self.later(bar) if self.bars % 5 == 0 else None

    async def later(self, bar: Bar) -> None:
        task = asyncio.current_task()
        await self.clock.sleep(30)  # simulated: the replay goes on at the next bar, a minute later
        await self.broker.buy(bar.symbol, 1)
        SEEN.append(("later", asyncio.current_task() is task, task))


class AsyncTrader(Strategy):
    """An `async def` handler: a task of its own, in which `create_task` and `gather` of its orders work as
    anywhere."""

    async def on_bar(self, bar: Bar) -> None:
        task = asyncio.current_task()
        bought = asyncio.create_task(self.broker.buy(bar.symbol, 1))
        orders = await asyncio.gather(self.broker.sell(bar.symbol, 1), bought)
        SEEN.append(("async", asyncio.current_task() is task, task, [order.status.value for order in orders]))


def _orders_run(*strategies: tuple[str, dict[str, Any]], count: int = 20) -> Result:
    """Run `strategies` (this module's classes, by name, with their params) on one paper account, in that order on
    each bar, latency none; `SEEN` holds what they saw."""
    SEEN.clear()
    config = {
        "broker": {"adapter": "paper", "seed": 3, "session": "always", "initial_balance": 1_000_000},
        "models": {"latency": {"model": "none"}},
        "prices": {"sources": [{"source": "synthetic", "symbols": ["AAA"], "interval": 60, "count": count}]},
        "strategies": [
            {"class": f"{__name__}:{name}", "name": name.lower(), "params": params} for name, params in strategies
        ],
    }
    return run_simulation(config, out=False)


def test_a_strategys_order_on_a_paper_broker_is_submitted_in_place_with_no_task_of_its_own() -> None:
    result = _orders_run(("Trader", {}), ("Watcher", {}))
    bars = [task for kind, _, task in SEEN if kind == "bar"]
    assert len(bars) == 20 and len(set(bars)) == 1  # the handlers are called from the run's task ...
    events = [task for kind, _, task in SEEN if kind == "event"]
    assert len(events) == 3 * 20 and set(events) == set(bars)  # ... and the orders submitted in it, no other
    # Submitted when the trader's handler returned, before the watcher's was called: each bar's three events
    # (pending_new, new, fill) are heard by then, on 3.11 as on 3.12+.
    watched = [(heard, task) for kind, heard, task in SEEN if kind == "watch"]
    assert watched == [(3 * bar, bars[0]) for bar in range(1, 21)]
    assert len(result.fills) == 20 and result.metrics.orders_by_status == {"filled": 20}


def test_a_refused_order_in_place_is_counted_and_logged_and_the_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    result = _orders_run(("Trader", {"mode": "refused"}), count=5)
    assert result.metrics.orders_by_status == {"refused": 5} and not result.fills
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len([w for w in warnings if "strategy trader: handler Trader.on_bar failed on Bar AAA" in w]) == 5
    assert not [seen for seen in SEEN if seen[0] == "event"]


def test_a_failing_order_in_place_raises_naming_the_strategy_handler_and_bar() -> None:
    with pytest.raises(StrategyError) as failed:
        _orders_run(("Trader", {"mode": "malformed"}), count=5)
    message = str(failed.value)
    assert "strategy trader: handler Trader.on_bar failed on Bar AAA at 20" in message
    assert "InvalidOrder: quantity must be > 0" in message


def test_a_returned_coroutine_that_waits_and_an_async_handler_each_keep_a_task_of_their_own() -> None:
    result = _orders_run(("Sleeper", {}), ("AsyncTrader", {}), ("Watcher", {}))
    runner = {seen[-1] for seen in SEEN if seen[0] == "watch"}
    later = [seen for seen in SEEN if seen[0] == "later"]
    handled = [seen for seen in SEEN if seen[0] == "async"]
    assert len(later) == 4 and all(same for _, same, _ in later)  # the same task across its wait ...
    assert len(handled) == 20 and all(same for _, same, _, _ in handled)
    assert all(statuses == ["filled", "filled"] for *_, statuses in handled)
    tasks = [task for _, _, task in later] + [task for _, _, task, _ in handled]
    assert len(set(tasks)) == 24 and not runner & set(tasks)  # ... each its own, none the run's
    assert len(result.fills) == 4 + 2 * 20
