"""A report never replaces what broker-sim did not write: a folder holding the user's files or earlier reports
is refused before the run (exit 2, one line, every file left as it was), an earlier report is replaced whole,
and the folder follows the user's umask. Through the CLI, as a user runs it."""

from __future__ import annotations

import gc
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from broker_sim import run_simulation
from broker_sim.report.target import MARKER, ReportFolderError

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "demo.yaml"
SMALL = ("--set", "prices.sources.0.count=200", "--no-progress")
SMALL_RUN = {"prices.sources.0.count": 200}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker_sim", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _contents(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its digest: what a refused command must leave as it was."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_run_into_a_folder_of_the_users_files_is_refused_before_the_run(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "thesis.tex").write_text("three years of work\n")
    (mine / "sub" / "data.csv").write_text("1,2,3\n")
    before = _contents(tmp_path)
    process = _cli("run", str(DEMO), "-o", str(mine), *SMALL, cwd=tmp_path)
    assert process.returncode == 2
    line = _one_error_line(process.stderr)
    assert f"report folder {mine} holds files broker-sim did not write (sub/, thesis.tex)" in line
    assert "choose another folder" in line and "writing the report" not in process.stderr
    assert _contents(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no working folder left behind


def test_a_folder_of_earlier_reports_is_refused_and_each_report_kept(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_simulation(DEMO, out=reports / "first", overrides=SMALL_RUN)
    gc.collect()  # its results let go, their working folder (beside the report, in reports/) goes
    assert (reports / "first" / MARKER).is_file()
    before = _contents(tmp_path)
    process = _cli("run", str(DEMO), "-o", str(reports), *SMALL, cwd=tmp_path)
    assert process.returncode == 2
    assert f"report folder {reports} holds files broker-sim did not write (first/)" in _one_error_line(process.stderr)
    assert _contents(tmp_path) == before


def test_the_working_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    process = _cli("run", str(DEMO), "-o", ".", *SMALL, cwd=tmp_path)
    assert process.returncode == 2
    assert "report folder . is the working folder or holds it" in _one_error_line(process.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_earlier_report_is_replaced_but_not_once_the_user_added_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_simulation(DEMO, out=out, overrides=SMALL_RUN)
    first = (out / "summary.json").stat().st_mtime_ns
    run_simulation(DEMO, out=out, overrides=SMALL_RUN)  # a report: replaced
    assert (out / "summary.json").stat().st_mtime_ns != first
    (out / "my_notes.md").write_text("why this run matters\n")
    before = _contents(tmp_path)
    process = _cli("run", str(DEMO), "-o", str(out), *SMALL, cwd=tmp_path)
    assert process.returncode == 2
    assert "holds files broker-sim did not write (my_notes.md)" in _one_error_line(process.stderr)
    assert _contents(tmp_path) == before


def test_an_empty_folder_takes_a_report(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_simulation(DEMO, out=tmp_path / "empty", overrides=SMALL_RUN)
    assert result.report_dir == tmp_path / "empty" and (tmp_path / "empty" / "summary.json").is_file()


def test_account_export_into_a_users_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "paper.yaml").write_text(
        DEMO.read_text().replace("seed: 42", "seed: 42\n  journal: account.db").replace("../", f"{ROOT}/")
    )
    run_simulation(tmp_path / "paper.yaml", out=tmp_path / "run", overrides=SMALL_RUN)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "keep.txt").write_text("mine\n")
    before = _contents(tmp_path)
    process = _cli("account", "account.db", "--export", "export", cwd=tmp_path)
    assert process.returncode == 2
    assert "report folder export holds files broker-sim did not write (keep.txt)" in _one_error_line(process.stderr)
    assert _contents(tmp_path) == before


@pytest.mark.parametrize("command", ["serve", "paper"])
def test_serve_and_paper_refuse_a_users_folder_before_they_start(tmp_path: Path, command: str) -> None:
    config = ROOT / "configs" / ("serve_replay.yaml" if command == "serve" else "paper.yaml")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine\n")
    args = ["--port", "0"] if command == "serve" else ["--no-dashboard"]
    process = _cli(command, str(config), "--out", "out", *args, cwd=tmp_path)
    assert process.returncode == 2, process.stderr
    assert "report folder out holds files broker-sim did not write (keep.txt)" in process.stderr
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_report_folder_follows_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        run_simulation(DEMO, out=tmp_path / "out", overrides=SMALL_RUN)
    finally:
        os.umask(previous)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "out" / "summary.json").stat().st_mode & 0o777 == 0o644


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ReportFolderError, match=r"report folder .*link is a symbolic link"):
        run_simulation(DEMO, out=tmp_path / "link", overrides=SMALL_RUN)
    assert list((tmp_path / "real").iterdir()) == []
