"""House rules read from the source: tolerances live in `_numeric.py`, and only clocks read the wall clock.

STYLE.md: "every comparison that decides a fill or a rejection uses a stated tolerance in one helper; never scatter
1e-9s" and "Nothing reads the wall clock except RealtimeClock". These tests read the package's syntax trees, so a
new stray tolerance or wall-clock read fails here with its file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "broker_sim"

#: Modules that tell time: the clocks themselves.
CLOCKS = {"clock.py", "serve/clock.py"}
#: Where a float below 1e-3 is a unit, not a tolerance: epoch time stamps in s, ms, us or ns.
UNIT_TABLES = {"streams/_parse.py"}
#: Wall-clock reads: module-level functions and methods of `datetime`/`date`.
WALL_CLOCK_CALLS = {
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
}
#: The CLI prints how long a run took in wall seconds (a fact about the machine, never simulated time).
ELAPSED_ONLY = {"cli.py": {"time.perf_counter"}}


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path))


def _calls(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node.lineno, ast.unparse(node.func)


def test_tolerances_live_only_in_the_numeric_module() -> None:
    stray = []
    for name, tree in _modules():
        if name == "_numeric.py":
            continue
        for node in ast.walk(tree):
            tiny = isinstance(node, ast.Constant) and isinstance(node.value, float) and 0 < abs(node.value) < 1e-3
            if tiny and name not in UNIT_TABLES:
                stray.append(f"broker_sim/{name}:{node.lineno}: the literal {node.value!r}")
        stray.extend(f"broker_sim/{name}:{line}: {call}()" for line, call in _calls(tree) if call.endswith("isclose"))
    assert not stray, "tolerances belong in broker_sim/_numeric.py:\n" + "\n".join(stray)


def test_only_clocks_read_the_wall_clock() -> None:
    stray = []
    for name, tree in _modules():
        if name in CLOCKS:
            continue
        allowed = ELAPSED_ONLY.get(name, set())
        for line, call in _calls(tree):
            reads = call in WALL_CLOCK_CALLS or call in {"time.perf_counter", "time.perf_counter_ns"}
            if reads and call not in allowed:
                stray.append(f"broker_sim/{name}:{line}: {call}()")
    assert not stray, "read time from a clock object (broker_sim/clock.py):\n" + "\n".join(stray)


def test_the_rules_catch_what_they_forbid() -> None:
    tree = ast.parse("import math, time\nx = math.isclose(a, b, abs_tol=1e-9)\nt = time.time()\n")
    assert {call for _, call in _calls(tree)} >= {"math.isclose", "time.time"}
    assert any(isinstance(n, ast.Constant) and n.value == 1e-9 for n in ast.walk(tree))
