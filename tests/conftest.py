"""Shared fixtures: a fixed start time and paper brokers on the simulated clock."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker_sim import Broker, Fill, OrderEvent, PaperBroker, SimulatedClock

#: Whether ``pytest --slow`` asked for the long fuzz, stress and crash loops (CI runs them bounded).
SLOW = os.environ.get("BROKER_SIM_SLOW") == "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="run the long fuzz, stress and crash loops in full")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: needs a long setup (a large client install); runs only with --slow (`make test-slow`)"
    )
    if config.getoption("--slow"):
        os.environ["BROKER_SIM_SLOW"] = "1"  # read by test modules as they are collected
        global SLOW
        SLOW = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --slow, tests marked ``slow`` are deselected (not skipped): `make test` runs the rest."""
    if config.getoption("--slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


#: A Monday, 14:30 UTC (09:30 New York): the regular session is open.
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


@pytest.fixture
def broker(clock: SimulatedClock) -> PaperBroker:
    """The seed's models (5 bps, 0.5-2 s uniform latency) on a simulated clock."""
    return PaperBroker(100_000, seed=7, clock=clock)


@pytest.fixture
def instant(clock: SimulatedClock) -> PaperBroker:
    """5 bps slippage and no latency: every order reaches the venue as it is submitted."""
    return PaperBroker(100_000, seed=7, clock=clock, latency="none")


def collect_fills(broker: Broker) -> list[Fill]:
    """Every fill `broker` reports from now on, collected from its order events (any adapter)."""
    fills: list[Fill] = []

    def on_event(event: OrderEvent) -> None:
        if event.fill is not None:
            fills.append(event.fill)

    broker.add_listener(on_event)
    return fills


@pytest.fixture
def tmpfs() -> Iterator[Callable[..., Path]]:
    """``tmpfs(path, size="2m", read_only=False)`` mounts a small tmpfs at `path` (made if missing) for a full-disk
    or read-only-media test, and unmounts it after; the test is skipped, saying why, where the sandbox lets no
    test mount one (it takes root, and a kernel namespace that allows it)."""
    mounted: list[Path] = []

    def mount(path: Path, size: str = "2m", read_only: bool = False) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root where mounting is allowed): {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)
