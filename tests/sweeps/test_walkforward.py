"""Walk-forward: the folds, the stitched out-of-sample curve, and a walk-forward sweep end to end."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from broker_sim import ConfigError
from broker_sim.sweeps import sweep
from broker_sim.sweeps.walkforward import Fold, Length, WalkForward, folds, parse_walk_forward, stitch


def _seconds(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_walk_forward_lengths_are_read_in_bars_or_calendar_units() -> None:
    assert parse_walk_forward("train=6M,test=1M") == WalkForward(Length(6, "M"), Length(1, "M"))
    assert parse_walk_forward({"train": 5000, "test": "1000"}) == WalkForward(Length(5000), Length(1000))
    assert str(parse_walk_forward("train=2W, test=3D")) == "train=2W,test=3D"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("train 6M, test 1M", "--walk-forward takes train=LENGTH,test=LENGTH"),
        ("train=6M;test=1M", "--walk-forward takes train= and test=, got train"),
        ("train=6M,test=1M,step=1M", "--walk-forward takes train= and test=, got step, test, train"),
        ("train=6X,test=1M", "--walk-forward train: '6X' is not a length"),
        ("train=0,test=10", "--walk-forward train: '0' is not a length"),
        ("train=6M,test=100", "give both windows in bars or both in time"),
    ],
)
def test_bad_walk_forward_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_walk_forward(spec)


def test_folds_in_bars_roll_by_the_test_window() -> None:
    times = np.arange(10, dtype=float)
    result = folds(parse_walk_forward("train=4,test=2"), times)
    assert result == [
        Fold(0, (0.0, 4.0), (4.0, 6.0)),
        Fold(1, (2.0, 6.0), (6.0, 8.0)),
        Fold(2, (4.0, 8.0), (8.0, None)),
    ]


def test_folds_in_months_follow_the_calendar() -> None:
    times = np.array([_seconds(2024, 1, 1), _seconds(2024, 5, 15)])
    result = folds(parse_walk_forward("train=2M,test=1M"), times)
    assert [(f.train, f.test) for f in result] == [
        ((_seconds(2024, 1, 1), _seconds(2024, 3, 1)), (_seconds(2024, 3, 1), _seconds(2024, 4, 1))),
        ((_seconds(2024, 2, 1), _seconds(2024, 4, 1)), (_seconds(2024, 4, 1), _seconds(2024, 5, 1))),
        ((_seconds(2024, 3, 1), _seconds(2024, 5, 1)), (_seconds(2024, 5, 1), _seconds(2024, 6, 1))),
    ]
    with pytest.raises(ConfigError, match="too short for one training window"):
        folds(parse_walk_forward("train=1Y,test=1M"), times)


def test_stitching_compounds_each_test_window_from_where_the_last_ended() -> None:
    rows = stitch([(0, [(1.0, 100.0), (2.0, 110.0)]), (1, [(3.0, 100.0), (4.0, 90.0)])])
    assert rows == [(1.0, 100.0, 0), (2.0, 110.0, 0), (3.0, pytest.approx(110.0), 1), (4.0, pytest.approx(99.0), 1)]


def test_a_walk_forward_sweep_optimises_each_fold_and_runs_its_winner_out_of_sample(
    config_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "wf"
    table = sweep(
        config_file,
        grid={"strategy.params.fast": [3, 5]},
        walk_forward="train=400,test=200",
        executor="serial",
        out=out,
        reports="none",
    )
    walk = table.attrs["walk_forward"]
    assert len(walk["folds"]) == 4  # training windows start at bars 0, 200, 400, 600 of 1200
    train, test = table[table["window"] == "train"], table[table["window"] == "test"]
    assert len(train) == 8 and len(test) == 4
    for fold in walk["folds"]:
        rows = train[train["fold"] == fold["fold"]]
        winner = rows.loc[rows["sharpe"].idxmax()]
        assert fold["params"] == {"strategy.params.fast": int(winner["strategy.params.fast"])}
        tested = test[test["fold"] == fold["fold"]].iloc[0]
        assert tested["strategy.params.fast"] == winner["strategy.params.fast"]
        assert tested["events"] == 400  # 200 bars of two symbols
    assert math.isfinite(walk["out_of_sample"]["total_return"])
    curve = (out / "oos_equity.csv").read_text().splitlines()
    assert curve[0] == "timestamp,equity,fold" and float(curve[1].split(",")[1]) == 100_000.0
    assert json.loads((out / "summary.json").read_text())["walk_forward"]["spec"] == "train=400,test=200"
    assert "Walk-forward (train=400,test=200)" in (out / "sweep.html").read_text()
