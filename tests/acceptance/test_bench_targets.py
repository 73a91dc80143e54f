"""`benchmarks/targets.py` (the end of `make bench`): runs the replay, storm and memory benchmarks per build and
tables issue 25's targets with a verdict each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import targets  # noqa: E402

SIZES = (2_000, 4_000)


def test_a_tiny_run_on_the_pure_package_tables_every_target_from_the_benchmarks_reports(tmp_path: Path) -> None:
    out = tmp_path / "targets.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks/targets.py"),
        "--builds",
        "pure",
        "--replay-bars",
        "2000",
        "--storm-bars",
        "300",
        "--memory-bars",
        ",".join(map(str, SIZES)),
        "--memory-parts",
        "sma",
        "--json",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    written = json.loads(out.read_text())
    reports = written["builds"]["pure"]
    assert reports["replay"]["compiled"] is False and reports["storm"]["compiled"] is False
    assert reports["storm"]["ours"]["orders"] == 300  # the storm ran whole: an order filled on every bar
    assert "sma" in reports["memory"] and "empty" not in reports["memory"]
    names = [target.name for target in targets.targets(SIZES)]
    assert [entry["target"] for entry in written["targets"]] == names
    for entry, target in zip(written["targets"], targets.targets(SIZES), strict=True):
        value = entry["pure"]["value"]
        assert value is not None and value == target.read(reports)  # every figure came from a report
        assert entry["pure"]["verdict"] == target.verdict(value)
    assert written["targets"][0]["pure"]["value"] == reports["replay"]["ours_vs_floor"]
    assert written["targets"][3]["pure"]["value"] == reports["storm"]["ours_vs_backtrader"]
    assert written["targets"][4]["pure"]["value"] == reports["memory"]["sma"][str(SIZES[0])]["peak_rss_mb"]
    table = done.stdout[done.stdout.index("Issue 25's targets") :]
    for name in names:
        assert name in table
    assert ">= 50,000" in table and "<= 200 MB" in table and "(ideal >= 0.7x)" in table
    assert "(not the issue's sizes: the verdicts are indicative)" in table
    assert written["issue_sizes"] is False and written["failures"] == []
    assert "ours_vs_backtrader" in reports["replay"]  # backtrader in the replay's run too


def test_the_compiled_build_is_reported_as_not_built_when_make_compiled_has_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(targets, "COMPILED", tmp_path / "nothing-here")
    out = tmp_path / "targets.json"
    assert targets.main(["--builds", "compiled", "--json", str(out)]) == 1  # nothing measured: a failure
    written = json.loads(out.read_text())
    assert "not built" in written["builds"]["compiled"]["error"]
    assert all(entry["compiled"] == {"value": None, "verdict": "no figure"} for entry in written["targets"])
    assert "compiled: not built: run `make compiled` first" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("value", "at_most", "ideal", "verdict"),
    [
        (0.49, False, 0.7, "not met"),
        (0.5, False, 0.7, "met"),
        (0.7, False, 0.7, "met, ideal too"),
        (200.0, True, None, "met"),
        (200.1, True, None, "not met"),
        (None, False, None, "no figure"),
    ],
)
def test_a_verdict_weighs_the_figure_against_the_bound_and_the_ideal(
    value: float | None, at_most: bool, ideal: float | None, verdict: str
) -> None:
    bound = 200.0 if at_most else 0.5
    target = targets.Target("t", lambda reports: value, bound, at_most=at_most, ideal=ideal)
    assert target.verdict(value) == verdict


def test_a_report_that_ran_the_other_build_gives_no_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    report: dict[str, Any] = {"compiled": False, "ours": {"cpu_orders_per_s": 99_999}}

    class Done:
        returncode = 0
        stdout = json.dumps(report)
        stderr = ""

    monkeypatch.setattr(targets.subprocess, "run", lambda *args, **kwargs: Done())
    assert "did not run the compiled build" in targets.run_benchmark("compiled", "storm.py", [])["error"]
    assert targets.run_benchmark("pure", "storm.py", []) == report


def test_a_failed_benchmark_gives_its_last_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    class Done:
        returncode = 1
        stdout = ""
        stderr = "Traceback (most recent call last):\nValueError: bad bars\n"

    monkeypatch.setattr(targets.subprocess, "run", lambda *args, **kwargs: Done())
    assert targets.run_benchmark("pure", "replay.py", []) == {"error": "ValueError: bad bars"}


def test_a_failed_benchmark_is_named_under_the_table_and_the_run_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Done:
        returncode = 1
        stdout = ""
        stderr = "ValueError: bad bars\n"

    monkeypatch.setattr(targets.subprocess, "run", lambda *args, **kwargs: Done())
    assert targets.main(["--builds", "pure"]) == 1
    out = capsys.readouterr().out
    assert "pure: replay: ValueError: bad bars" in out and "pure: memory: ValueError: bad bars" in out
    assert "(not the issue's sizes" not in out  # the sizes: the verdicts are the issue's


def test_a_benchmark_whose_every_part_failed_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    report = {"benchmark": "broker_sim.memory", "sma": {"1000000": {"error": "MemoryError"}}}

    class Done:
        returncode = 0
        stdout = json.dumps(report)
        stderr = ""

    monkeypatch.setattr(targets.subprocess, "run", lambda *args, **kwargs: Done())
    assert targets.run_benchmark("pure", "memory.py", []) == {"error": "memory.py: no part ran (MemoryError)"}


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [(200.04, " MB", "200.0 MB"), (200.06, " MB", "200.1 MB"), (0.4996, "x", "0.500x"), (78_750.4, "", "78,750")],
)
def test_a_figure_is_shown_finely_enough_to_be_read_against_its_bound(value: float, unit: str, shown: str) -> None:
    assert targets.figure(value, targets.Target("t", lambda reports: value, 1.0, unit=unit)) == shown


def test_bad_builds_and_sizes_are_refused_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        targets.main(["--builds", "fast"])
    assert "--builds: fast: the builds are pure, compiled" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        targets.main(["--memory-bars", "1000"])
    assert "--memory-bars: two sizes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        targets.main(["--memory-bars", "1M,10M"])
    assert "--memory-bars: two sizes" in capsys.readouterr().err
