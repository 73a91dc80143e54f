"""The --grid syntax and the grids it makes."""

from __future__ import annotations

import pytest

from broker_sim.errors import ConfigError
from broker_sim.sweeps.space import MAX_POINTS, Span, Values, grid_points, params_from, parse_param


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("strategy.params.fast=5,10,20", (5, 10, 20)),
        ("strategy.params.slow=30:90:10", (30, 40, 50, 60, 70, 80, 90)),
        ("strategy.params.slow=30:95:10", (30, 40, 50, 60, 70, 80, 90)),
        ("strategy.params.fast=3:6", (3, 4, 5, 6)),
        ("models.slippage.bps=0.5:2:0.5", (0.5, 1.0, 1.5, 2.0)),
        ("models.slippage.bps=0.1:0.3:0.1", (0.1, 0.2, 0.3)),
        ("broker.allow_short=true,false", (True, False)),
        (
            "models.fill=[immediate, {model: bar, timing: next_bar}]",
            ("immediate", {"model": "bar", "timing": "next_bar"}),
        ),
        ("strategy.params.name=fast", ("fast",)),
    ],
)
def test_grid_values_are_read_as_the_user_wrote_them(item: str, expected: tuple[object, ...]) -> None:
    assert parse_param(item).grid() == expected


def test_a_range_without_a_step_is_a_search_space_and_log_ranges_are_search_only() -> None:
    assert parse_param("models.slippage.bps=0.5:2") == Span("models.slippage.bps", 0.5, 2)
    log = parse_param("models.slippage.bps=0.01:1:log")
    assert log == Span("models.slippage.bps", 0.01, 1, None, True)
    with pytest.raises(ConfigError, match="a log range has no grid"):
        log.grid()
    with pytest.raises(ConfigError, match=r"needs a step, e\.g\. 0\.5:2:0\.5"):
        parse_param("models.slippage.bps=0.5:2").grid()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("strategy.params.fast", "--grid takes KEY=VALUES"),
        ("=5,10", "--grid takes KEY=VALUES"),
        ("strategy.params.fast=", "--grid takes KEY=VALUES"),
        ("strategy.params.fast=90:30", "the range must go up, got 90:30"),
        ("strategy.params.fast=1:9:0", "the step must be > 0, got 0"),
        ("strategy.params.fast=1:9:x", "is not a range"),
        ("models.slippage.bps=0:1:log", "a log range needs LOW > 0"),
        ("models.fill=[a, b", "is not a YAML value"),
        ("models.fill=[]", "must be a non-empty YAML list"),
    ],
)
def test_bad_grid_values_are_refused_naming_the_key(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_param(item)


def test_the_grid_is_every_combination_with_the_last_key_fastest() -> None:
    points = grid_points(params_from({"a.b": [1, 2], "c.d": "x,y,z"}))
    assert [p.index for p in points] == list(range(6))
    assert [tuple(p.params.values()) for p in points] == [
        (1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z"),
    ]  # fmt: skip
    assert points[4].label == "a.b=2, c.d=y"


def test_python_grids_take_lists_ranges_tuples_and_strings() -> None:
    params = params_from({"a.x": range(1, 4), "a.y": (10, 30, 10), "a.z": "5,6", "a.w": 7})
    assert params == [
        Values("a.x", (1, 2, 3)),
        Span("a.y", 10, 30, 10),
        Values("a.z", (5, 6)),
        Values("a.w", (7,)),
    ]
    assert len(grid_points(params)) == 3 * 3 * 2


def test_a_key_given_twice_and_a_grid_too_large_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"--grid a\.b is given twice"):
        params_from(["a.b=1,2", "a.b=3"])
    with pytest.raises(ConfigError, match=f"a sweep takes at most {MAX_POINTS:,}"):
        grid_points(params_from(["a.b=1:1000", "a.c=1:1000"]))
    with pytest.raises(ConfigError, match=r"grid a\.b: give at least one value"):
        params_from({"a.b": []})
