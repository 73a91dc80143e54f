"""Issue 25's targets in one table, for the pure package and for the compiled build: `make bench`'s summary.

    python benchmarks/targets.py [--builds pure,compiled] [--replay-bars 1000000] [--storm-bars 100000]
                                 [--memory-bars 1000000,10000000] [--memory-parts sma,empty] [--json FILE]

Runs, once per build, `replay.py` (the SMA crossover, the empty strategy and the plain loop in one run),
`storm.py` (the order storm and backtrader in one run) and `memory.py` (peak RSS with the report written at two
sizes), each in processes of its own; prints each benchmark's JSON as it ends, then a table of the targets: each
figure, the bound, and whether it is met. `pure` runs this checkout's `broker_sim/`; `compiled` runs `make
compiled`'s mypyc build (``build/compiled``, first on the path as `make bench-compiled` puts it), reported as not
built when it is missing. ``--json`` also writes every report and verdict to FILE. Progress goes to stderr. The
replay's ratios are of wall-clock bars/s (its parts run one after the other, each in its own process), the storm's
of CPU time, as the benchmarks report them. Verdicts at other sizes than the issue's (1M replayed bars, a 100k-bar
storm, memory at 1M and 10M) are marked indicative. It exits 1 when a benchmark failed (a target merely missed is a
verdict, not a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COMPILED = ROOT / "build" / "compiled"
BUILDS = ("pure", "compiled")


@attrs.frozen
class Target:
    """One of issue 25's targets: what it measures, where the figure is in the benchmarks' reports, its bound."""

    name: str
    read: Callable[[Mapping[str, Any]], float | None]
    bound: float
    at_most: bool = False  # a ceiling (memory), else a floor
    ideal: float | None = None  # the issue's goal beyond the bound it accepts at the least
    unit: str = ""

    def verdict(self, value: float | None) -> str:
        """``met`` (``met, ideal too`` when beyond the ideal), ``not met``, or ``no figure`` (the benchmark failed,
        was not installed or its build not built)."""
        if value is None:
            return "no figure"
        if self.at_most:
            return "met" if value <= self.bound else "not met"
        if value < self.bound:
            return "not met"
        return "met, ideal too" if self.ideal is not None and value >= self.ideal else "met"

    def bound_text(self) -> str:
        sign = "<=" if self.at_most else ">="
        ideal = f" (ideal >= {self.ideal:g}{self.unit})" if self.ideal is not None else ""
        return f"{sign} {self.bound:,g}{self.unit}{ideal}"


def _path(*keys: str) -> Callable[[Mapping[str, Any]], float | None]:
    """A reader of the number at `keys` in the reports (None when a part failed or did not run)."""

    def read(reports: Mapping[str, Any]) -> float | None:
        value: Any = reports
        for key in keys:
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    return read


def _worst(reading: Callable[[str], Callable[[Mapping[str, Any]], float | None]]) -> Callable[..., float | None]:
    """The larger of the SMA's and the empty strategy's memory figure (the bound holds for both)."""

    def read(reports: Mapping[str, Any]) -> float | None:
        values = [reading(part)(reports) for part in ("sma", "empty")]
        known = [value for value in values if value is not None]
        return max(known) if known else None

    return read


def targets(memory_sizes: tuple[int, int]) -> tuple[Target, ...]:
    """Issue 25's targets, read from the reports of `replay.py`, `storm.py` and `memory.py` (at `memory_sizes`)."""
    small, large = memory_sizes
    return (
        Target("SMA crossover vs the plain loop (wall)", _path("replay", "ours_vs_floor"), 0.5, ideal=0.7, unit="x"),
        Target("empty strategy vs the plain loop (wall)", _path("replay", "empty_vs_floor"), 1.0, unit="x"),
        Target("order storm, orders/s (CPU)", _path("storm", "ours", "cpu_orders_per_s"), 50_000),
        Target("order storm vs backtrader (CPU)", _path("storm", "ours_vs_backtrader"), 10.0, unit="x"),
        Target(
            f"peak RSS at {small:,} bars, report written",
            _worst(lambda part: _path("memory", part, str(small), "peak_rss_mb")),
            200.0,
            at_most=True,
            unit=" MB",
        ),
        Target(
            f"RSS growth from {small:,} to {large:,} bars",
            _worst(lambda part: _path("memory", part, f"growth_mb_{small}_to_{large}")),
            10.0,
            at_most=True,
            unit=" MB",
        ),
    )


def environment(build: str) -> dict[str, str]:
    """The environment a build's benchmarks run in: this checkout's pure package, or `make compiled`'s build first
    on the path (`make bench-compiled`'s: PYTHONSAFEPATH keeps the checkout's own package from coming first)."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "BROKER_SIM_COMPILED")}
    if build == "pure":
        env["PYTHONPATH"] = str(ROOT)
        return env
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONSAFEPATH="1", PYTHONPATH=f"{COMPILED}{os.pathsep}{ROOT}", BROKER_SIM_COMPILED=str(COMPILED))
    return env


def run_benchmark(build: str, script: str, arguments: list[str]) -> dict[str, Any]:
    """Run `benchmarks/<script>` on `build` and return its JSON report (``{"error": ...}`` when it failed)."""
    print(f"{build}: {script} {' '.join(arguments)} ...", file=sys.stderr, flush=True)
    command = [sys.executable, str(HERE / script), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, env=environment(build))
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        return {"error": f"{script} printed no JSON report ({exc})"}
    print(json.dumps(report, indent=2), flush=True)
    ran = _compiled_flags(report)
    if not ran:
        return {"error": f"{script}: no part ran ({_first_error(report) or 'no error given'})"}
    if ran != {build == "compiled"}:
        return {"error": f"{script} did not run the {build} build (its reports say compiled: {sorted(ran)})"}
    return report


def _first_error(report: Any) -> str:
    """The first ``error`` a report holds (a part's), else an empty string."""
    if not isinstance(report, Mapping):
        return ""
    if isinstance(report.get("error"), str):
        return str(report["error"])
    for value in report.values():
        found = _first_error(value)
        if found:
            return found
    return ""


def _compiled_flags(report: Any) -> set[bool]:
    """Every ``compiled`` flag in a benchmark's report: which build its processes ran (replay.py's and storm.py's
    from their parent process, which runs in the same environment as their parts; memory.py's from each run)."""
    if not isinstance(report, Mapping):
        return set()
    flags = {report["compiled"]} if isinstance(report.get("compiled"), bool) else set()
    for value in report.values():
        flags |= _compiled_flags(value)
    return flags


def table(rows: list[tuple[str, ...]]) -> str:
    """`rows` as aligned plain-text columns, the first row a header."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def figure(value: float | None, target: Target) -> str:
    """`value` as the table shows it: never rounded across its bound (MB to a tenth, ratios to a thousandth)."""
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}{target.unit}"
    return f"{value:.1f}{target.unit}" if target.unit == " MB" else f"{value:.3f}{target.unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--builds", default=",".join(BUILDS), help="pure, compiled (comma-separated)")
    parser.add_argument("--replay-bars", type=int, default=1_000_000)
    parser.add_argument("--storm-bars", type=int, default=100_000)
    parser.add_argument("--memory-bars", default="1000000,10000000", help="two sizes, smallest first")
    parser.add_argument("--memory-parts", default="sma,empty", help="memory.py's strategies: sma, empty")
    parser.add_argument("--json", type=Path, help="also write every report and verdict to this file")
    args = parser.parse_args(argv)
    builds = [build.strip() for build in args.builds.split(",") if build.strip()]
    unknown = sorted(set(builds) - set(BUILDS))
    if unknown or not builds:
        parser.error(f"--builds: {', '.join(unknown) or 'none given'}: the builds are {', '.join(BUILDS)}")
    try:
        sizes = sorted(int(size) for size in args.memory_bars.split(","))
    except ValueError:
        sizes = []
    if len(sizes) != 2:
        parser.error(f"--memory-bars: two sizes, smallest first (got {args.memory_bars!r})")
    memory_sizes = (sizes[0], sizes[1])
    results: dict[str, dict[str, Any]] = {}
    for build in builds:
        if build == "compiled" and not (COMPILED / ".built").exists():
            results[build] = {"error": f"not built: run `make compiled` first ({COMPILED})"}
            continue
        results[build] = {
            "replay": run_benchmark(
                build, "replay.py", ["--bars", str(args.replay_bars), "--parts", "ours,empty,floor,backtrader"]
            ),
            "storm": run_benchmark(build, "storm.py", ["--bars", str(args.storm_bars), "--parts", "ours,backtrader"]),
            "memory": run_benchmark(build, "memory.py", ["--bars", args.memory_bars, "--parts", args.memory_parts]),
        }
    verdicts: list[dict[str, Any]] = []
    rows = [("target", "bound", *(f"{build}" for build in builds))]
    for target in targets(memory_sizes):
        cells = []
        entry: dict[str, Any] = {"target": target.name, "bound": target.bound_text()}
        for build in builds:
            value = target.read(results[build])
            entry[build] = {"value": value, "verdict": target.verdict(value)}
            cells.append(f"{figure(value, target)} ({target.verdict(value)})")
        verdicts.append(entry)
        rows.append((target.name, target.bound_text(), *cells))
    failures = [
        f"{build}: {report['error']}" if name is None else f"{build}: {name}: {report['error']}"
        for build in builds
        for name, report in [(None, results[build]), *results[build].items()]
        if isinstance(report, Mapping) and isinstance(report.get("error"), str)
    ]
    issue_sizes = (args.replay_bars, args.storm_bars, memory_sizes) == (1_000_000, 100_000, (1_000_000, 10_000_000))
    notes = [] if issue_sizes else ["(not the issue's sizes: the verdicts are indicative)"]
    print("\nIssue 25's targets (each ratio from one run of its benchmark):\n" + table(rows), flush=True)
    for line in notes + failures:
        print(line, flush=True)
    if args.json is not None:
        written = {"builds": results, "targets": verdicts, "issue_sizes": issue_sizes, "failures": failures}
        args.json.write_text(json.dumps(written, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
