"""CONTRIBUTING.md's "Architecture" table matches the code: every module is on a floor, and no import points up."""

from __future__ import annotations

import re
from pathlib import Path

from .test_imports import _graph

CONTRIBUTING = Path(__file__).resolve().parent.parent / "CONTRIBUTING.md"


def _floors() -> dict[str, int]:
    """The table's floors: `module.py` or `package/` -> floor number (1 is the top)."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    floors: dict[str, int] = {}
    for row in re.findall(r"^\| (\d+) \| ([^|]+) \|", section, flags=re.M):
        for name in re.findall(r"`([\w/.]+)`", row[1]):
            floors[name.removesuffix(".py").rstrip("/").replace("/", ".")] = int(row[0])
    return floors


def _floor_of(module: str, floors: dict[str, int]) -> int | None:
    parts = module.split(".")[1:]  # without broker_sim
    while parts:
        found = floors.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None


def test_every_module_is_on_a_floor_and_no_import_points_up() -> None:
    floors = _floors()
    assert len(set(floors.values())) >= 8, floors
    graph = _graph()
    unplaced = sorted(m for m in graph if m != "broker_sim" and _floor_of(m, floors) is None)
    assert unplaced == [], f"modules missing from CONTRIBUTING's Architecture table: {unplaced}"
    upward = []
    for module, targets in graph.items():
        here = _floor_of(module, floors)
        for target in targets:
            there = _floor_of(target, floors)
            if here is not None and there is not None and there < here:
                upward.append(f"{module} (floor {here}) imports {target} (floor {there})")
    assert upward == []
