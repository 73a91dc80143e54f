"""The package's import graph: no cycle, no import inside a function, and each layer loads only what it needs.

The graph is read from the source (imports inside functions count, ``if TYPE_CHECKING:`` blocks do not);
what a module really loads is checked by importing it alone in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import broker_sim

PACKAGE = Path(broker_sim.__file__).resolve().parent

#: What importing a module alone must not load (module names; a name also covers its submodules).
MUST_NOT_LOAD: dict[str, tuple[str, ...]] = {
    "broker_sim": ("broker_sim.adapters", "broker_sim.simulation", "broker_sim.cli", "pyarrow", "matplotlib"),
    "broker_sim.builtin": (
        "broker_sim.adapters",
        "broker_sim.streams.csv_source",
        "broker_sim.streams.websocket",
        "pyarrow",
        "websockets",
    ),
    "broker_sim.config": ("broker_sim.simulation", "broker_sim.wiring", "broker_sim.plugins", "broker_sim.strategy"),
    "broker_sim.models": ("broker_sim.adapters", "pyarrow", "matplotlib"),
    "broker_sim.orders": ("broker_sim.adapters", "pyarrow", "matplotlib"),
    "broker_sim.ledger": ("broker_sim.adapters", "pyarrow", "matplotlib"),
    "broker_sim.clock": ("broker_sim.adapters", "pyarrow", "matplotlib"),
    "broker_sim.report.metrics": ("matplotlib", "jinja2"),
    "broker_sim.simulation": ("matplotlib",),  # plotted only when a report is written
    "broker_sim.registry": ("broker_sim.adapters", "broker_sim.builtin"),
    "broker_sim.plugins": ("broker_sim.adapters", "broker_sim.builtin", "pyarrow", "websockets"),
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """The package modules `name` imports, each with whether the import is inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inside.update(id(child) for child in ast.walk(node) if child is not node)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not target.startswith(name + "."):
                found.append((target, id(node) in inside))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {target for target, _ in _imports(name, path, modules)} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                cycles.append([*stack[stack.index(child) :], child])
            elif child not in state:
                visit(child)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def _loaded_alone(modules: list[str]) -> dict[str, set[str]]:
    """The `sys.modules` keys after importing each module alone, each in its own fresh interpreter (in parallel)."""
    script = "import importlib, json, sys; importlib.import_module(sys.argv[1]); print(json.dumps(sorted(sys.modules)))"
    processes = {
        module: subprocess.Popen(
            [sys.executable, "-c", script, module], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for module in modules
    }
    loaded = {}
    for module, process in processes.items():
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, f"import {module} failed alone:\n{stderr}"
        loaded[module] = set(json.loads(stdout))
    return loaded


# -- the graph -------------------------------------------------------------------------------------------------


def test_the_package_import_graph_has_no_cycle() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


#: Modules that import inside functions by design. The command line is the top of the graph (nothing imports it,
#: so no cycle can hide there): each command imports the engine, the report or the dashboard when it runs, so that
#: ``--help``, ``--version`` and a config error answer without them (tests/acceptance/test_cli_options.py checks).
_LAZY_BY_DESIGN = frozenset({"broker_sim.cli"})


def test_no_package_module_is_imported_inside_a_function() -> None:
    modules = _modules()
    inside = sorted(
        {
            f"{name} imports {target}"
            for name, path in modules.items()
            if name not in _LAZY_BY_DESIGN
            for target, in_function in _imports(name, path, modules)
            if in_function
        }
    )
    assert not inside, "imports inside functions (import at the top; a cycle means a module is in the wrong place)"


def test_the_cycle_check_sees_imports_inside_functions_and_skips_type_checking() -> None:
    graph = {"a": {"b"}, "b": {"a"}}
    assert _cycles(graph) == [["a", "b", "a"]]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\ndef f():\n    import sys\n")
    skipped = _type_checking_nodes(tree)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import)]
    assert [id(n) in skipped for n in imports] == [True, False]


# -- what each layer loads -------------------------------------------------------------------------------------


def test_each_layer_imported_alone_loads_only_what_it_needs() -> None:
    loaded = _loaded_alone(list(MUST_NOT_LOAD))
    wrong = {
        module: sorted(m for m in loaded[module] if any(m == bad or m.startswith(bad + ".") for bad in forbidden))
        for module, forbidden in MUST_NOT_LOAD.items()
    }
    assert wrong == {module: [] for module in MUST_NOT_LOAD}


def test_every_public_name_resolves_on_first_use_and_is_listed_by_dir() -> None:
    script = (
        "import json, broker_sim; names = broker_sim.__all__; "
        "missing = [n for n in names if getattr(broker_sim, n, None) is None]; "
        "print(json.dumps({'missing': missing, 'undirred': sorted(set(names) - set(dir(broker_sim)))}))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == {"missing": [], "undirred": []}


def test_an_unknown_package_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        _ = broker_sim.NoSuchThing  # type: ignore[attr-defined]


def test_the_type_checking_imports_of_the_package_are_its_public_names() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and id(node) in skipped
        for alias in node.names
    }
    assert imported == set(broker_sim.__all__) - {"__version__"}
