"""Importing by name: a Python file by its path, a ``"module:attribute"`` reference, a package's lazy exports.

Plugin files, strategy files, registry entries given as references and the package ``__init__``s all import
through here, so each rule (unique module names, clean-up after a failed import, what a reference looks like)
is written once.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["import_file", "import_reference", "is_reference", "lazy_exports"]


def import_file(path: Path, *, prefix: str, what: str, error: type[Exception]) -> ModuleType:
    """Import the Python file at `path` (absolute) as a module named uniquely after its path; cached by path.

    `prefix` starts the module's name (``broker_sim_plugin``); `what` names the file in an error
    (``plugin file``), raised as `error` when the file is not importable or raises while it runs.
    """
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    module_name = f"{prefix}_{path.stem}_{digest}"
    cached = sys.modules.get(module_name)
    if cached is not None:
        return cached
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise error(f"{what} {path} cannot be imported (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # attrs and dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[module_name]
        if not isinstance(exc, Exception):
            raise
        raise error(f"{what} {path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def is_reference(value: object) -> bool:
    """Whether `value` looks like ``"package.module:Attribute"`` (a dotted module, a colon, a dotted name)."""
    if not isinstance(value, str) or value.count(":") != 1:
        return False
    module, _, attribute = value.partition(":")
    return all(part.isidentifier() for part in (*module.split("."), *attribute.split(".")))


def import_reference(reference: str) -> Any:
    """The object ``"module:Attribute"`` names, importing the module; raises ImportError or AttributeError."""
    module_name, _, attribute = reference.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562) for names imported from submodules on first use.

    `exports` maps a module name to the names taken from it; `namespace` is the package's ``globals()``, where
    each name is kept once imported. Used as ``__getattr__, __dir__ = lazy_exports(globals(), {...})``.
    """
    home = {name: module for module, names in exports.items() for name in names}
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(home))

    return __getattr__, __dir__
