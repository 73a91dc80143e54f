"""Whether mypyc pays for the functions broker-sim generates at run time: each function that
`broker_sim._codegen.compile_function` makes during a short order storm, timed as the package runs it (exec'd
source, interpreted) and compiled by mypyc, on the arguments the storm gave it.

    python benchmarks/codegen_compiled.py [--bars 3000]

Prints one JSON object: for each generated function, its calls per order in the storm (`storm.py`'s config, latency
none), ns per call both ways (the best of 5 runs, interleaved), ``speedup`` (exec'd / compiled: above 1, compiled
is faster), whether both gave equal results, and ``ns_per_order`` (what compiling it would save per order, calls
per order times the difference; negative: it would cost). A compiled function is the source unchanged, wrapped in
a function taking the generated function's globals as arguments (its closure), so one source with several
namespaces is several functions, as exec'd. Generated ``__init__`` methods are left out (a compiled function does
not bind as a method). Needs mypyc (the dev extras' mypy) and a C compiler: the module is built in a temporary
folder in ~15 s. CONTRIBUTING's "The compiled build (mypyc)" says what this found.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import subprocess
import sys
import tempfile
import textwrap
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import broker_sim._codegen as codegen  # noqa: E402 (patched below, before any module generates a function)

#: Calls of a generated function whose arguments are kept to time it (the last one is timed).
KEPT_CALLS = 20


class Generated:
    """One generated function: its source and globals, and what the storm called it with."""

    def __init__(self, source: str, name: str, namespace: dict[str, Any], purpose: str) -> None:
        self.source, self.name, self.purpose = source, name, purpose
        self.names = sorted(key for key in namespace if key not in ("__builtins__", name))
        self.values = [namespace[key] for key in self.names]
        self.function: Callable[..., Any] = lambda *arguments: None
        self.calls = 0
        self.arguments: list[tuple[Any, ...]] = []
        #: For a caller made by a generated maker (the hook callers): the maker's record and its argument.
        self.made_by: tuple[Generated, Any] | None = None

    @property
    def is_maker(self) -> bool:
        """Whether this is a maker of hook callers (`adapters/paper/model_set.py`), timed by the callers it makes."""
        return self.name == "make" and self.purpose.startswith("hook call") and self.made_by is None

    def watched(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function`, counting its calls and keeping copies of the first arguments (a batch list is cleared after
        its call)."""
        self.function = function

        def watch(*arguments: Any) -> Any:
            self.calls += 1
            if len(self.arguments) < KEPT_CALLS:
                self.arguments.append(tuple(list(a) if a.__class__ is list else a for a in arguments))
            result = function(*arguments)
            if self.is_maker:
                made = Generated(self.source, "call", {}, f"{self.purpose} caller")
                made.made_by = (self, arguments[0])
                GENERATED.append(made)
                return made.watched(result)
            return result

        return watch


GENERATED: list[Generated] = []
_compile_function = codegen.compile_function


def _recording(source: str, name: str, namespace: dict[str, Any], *, purpose: str) -> Callable[..., Any]:
    function = _compile_function(source, name, namespace, purpose=purpose)
    if name == "__init__":
        return function
    record = Generated(source, name, namespace, purpose)
    GENERATED.append(record)
    return record.watched(function)


codegen.compile_function = _recording

from replay import ROOT, config_text, generate  # noqa: E402

from broker_sim import run_simulation  # noqa: E402
from broker_sim.wiring import parse_config  # noqa: E402


def storm(bars: int) -> None:
    """`storm.py`'s run on `bars` bars, so that the order path and the spools make and call their functions."""
    path = HERE / ".data" / f"bars_{bars}.csv"
    if not path.exists():
        generate(path, bars)
    strategy = f"class: '{HERE / 'storm.py'}:Storm'"
    result = run_simulation(parse_config(config_text(path, strategy=strategy, latency="{model: none}"), base_dir=ROOT))
    result.close()


def compiled_module(records: list[Generated], folder: Path) -> Any:
    """The records' sources as one module compiled by mypyc in `folder`: ``define_<n>(<globals>)`` returns the
    function of record n."""
    lines = ["# mypy: allow-untyped-defs", "from typing import Any", ""]
    for index, record in enumerate(records):
        lines.append(f"def define_{index}({', '.join(f'{name}: Any' for name in record.names)}) -> Any:")
        lines.append(textwrap.indent(record.source, "    ").rstrip())
        lines.append(f"    return {record.name}\n")
    (folder / "generated_probe.py").write_text("\n".join(lines))
    command = [sys.executable, "-m", "mypyc", "--follow-imports=skip", "generated_probe.py"]
    built = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if built.returncode:
        raise SystemExit(f"mypyc failed:\n{built.stdout}{built.stderr}")
    sys.path.insert(0, str(folder))
    return importlib.import_module("generated_probe")


def best_ns(function: Callable[..., Any], arguments: tuple[Any, ...], number: int) -> float:
    return min(timeit.repeat(lambda: function(*arguments), number=number, repeat=5)) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--bars", type=int, default=3000)
    args = parser.parse_args()
    storm(args.bars)
    called = [record for record in GENERATED if record.arguments and not record.is_maker]
    makers = [record for record in GENERATED if record.is_maker]
    report: dict[str, Any] = {
        "benchmark": "broker_sim.codegen_compiled",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "orders": args.bars,
        "functions": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        module = compiled_module([*called, *makers], Path(folder))
        factories = {id(record): getattr(module, f"define_{index}") for index, record in enumerate([*called, *makers])}
        for record in called:
            if record.made_by is not None:
                maker, target = record.made_by
                twin = factories[id(maker)](*maker.values)(target)
            else:
                twin = factories[id(record)](*record.values)
            arguments = record.arguments[-1]
            same = bool(record.function(*arguments) == twin(*arguments))
            number = 50 if record.name == "lines" else 20_000
            exec_ns, compiled_ns = best_ns(record.function, arguments, number), best_ns(twin, arguments, number)
            per_order = record.calls / args.bars
            report["functions"].append(
                {
                    "purpose": record.purpose,
                    "calls_per_order": round(per_order, 3),
                    "exec_ns": round(exec_ns),
                    "compiled_ns": round(compiled_ns),
                    "speedup": round(exec_ns / compiled_ns, 2),
                    "same": same,
                    "ns_per_order": round(per_order * (exec_ns - compiled_ns)),
                }
            )
    report["ns_per_order_all"] = sum(entry["ns_per_order"] for entry in report["functions"])
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
