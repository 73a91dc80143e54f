"""`charts.drawing`: a report's charts are collected without walking the whole process, and the collector is given
back as it was."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from broker_sim.report import charts


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """A process whose collector sees everything (the test suite's conftest freezes what collection left), as a
    user's process does; frozen again afterwards."""
    gc.unfreeze()
    try:
        yield
    finally:
        gc.freeze()


def _chart() -> weakref.ref[object]:
    figure, axes = charts.figure_axes(4, 3)
    axes.plot([1, 2, 3], [3, 1, 2])
    assert charts.png_bytes(figure).startswith(b"\x89PNG")
    return weakref.ref(figure)


def test_drawing_collects_each_figure_and_gives_the_collector_back(unfrozen: None) -> None:
    kept_before = [object() for _ in range(10)]  # alive before: frozen during the window, not lost
    with charts.drawing():
        assert gc.get_freeze_count() > 0
        first = _chart()
        second = _chart()
        assert first() is None  # the previous chart's cycle is collected as the next one starts
        last = _chart()
        assert second() is None
    assert last() is None  # and the last one as the window ends
    assert gc.get_freeze_count() == 0
    assert len(kept_before) == 10

    # garbage cycles made before the window are collected after it, as ever
    cycle: list[object] = []
    cycle.append(cycle)
    ref_holder = _Box(cycle)
    probe = weakref.ref(ref_holder)
    del cycle, ref_holder
    with charts.drawing():
        _chart()
    gc.collect()
    assert probe() is None


class _Box:
    """A weakly referenceable object held in a reference cycle."""

    def __init__(self, cycle: list[object]) -> None:
        self.cycle = cycle
        cycle.append(self)


def test_drawing_leaves_a_freeze_it_did_not_make(unfrozen: None) -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    try:
        with charts.drawing():
            figure = _chart()
            _chart()
            assert figure() is None  # collected as outside a window: the process's own freeze kept
        assert gc.get_freeze_count() > frozen // 2  # still frozen (less what died meanwhile), not given back
    finally:
        gc.unfreeze()


def test_drawing_gives_the_collector_back_when_a_chart_fails(unfrozen: None) -> None:
    with pytest.raises(RuntimeError, match="chart failed"), charts.drawing():
        _chart()
        raise RuntimeError("chart failed")
    assert gc.get_freeze_count() == 0
