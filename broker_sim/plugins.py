"""The plugin manager: built-in models, installed entry points (group ``broker_sim``) and plugin files by path.

The built-ins in `broker_sim.builtin` are registered exactly like a third-party plugin. Loading failures are
`PluginError`s that name the file or entry point, never a bare traceback from inside the plugin.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pluggy

from broker_sim import hookspecs
from broker_sim.errors import PluginError
from broker_sim.registry import Registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "build_registry",
    "create_plugin_manager",
    "load_entry_points",
    "load_plugin_file",
]

ENTRY_POINT_GROUP = "broker_sim"


def create_plugin_manager(
    plugin_files: Iterable[str | Path] = (),
    *,
    load_installed: bool = True,
    base_dir: str | Path | None = None,
) -> pluggy.PluginManager:
    """A plugin manager with the hook specs, the built-ins, installed entry points and `plugin_files`.

    Relative plugin paths are taken from `base_dir` (the config file's folder), else the working directory.
    Raises `PluginError` naming the file or entry point that failed.
    """
    from broker_sim import builtin

    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(builtin, name="broker_sim.builtin")
    if load_installed:
        load_entry_points(manager)
    for path in plugin_files:
        load_plugin_file(manager, path, base_dir=base_dir)
    return manager


def _check_hooks(manager: pluggy.PluginManager, plugin: object, where: str) -> None:
    """Refuse a plugin whose ``broker_sim_*`` functions match no hook (a typo would otherwise be silent)."""
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        manager.unregister(plugin)
        raise PluginError(f"{where}: {exc}") from exc


def _register(manager: pluggy.PluginManager, plugin: object, name: str, where: str) -> None:
    if manager.get_plugin(name) is not None:
        return
    try:
        manager.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"{where}: {exc}") from exc
    _check_hooks(manager, plugin, where)


def load_entry_points(manager: pluggy.PluginManager) -> list[str]:
    """Register every installed plugin of entry-point group ``broker_sim``; returns their names."""
    loaded = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"plugin entry point {point.name!r} ({point.value})"
        try:
            plugin = point.load()
        except Exception as exc:
            raise PluginError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
        _register(manager, plugin, f"entrypoint:{point.name}", where)
        loaded.append(point.name)
    return loaded


def _import_file(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    module_name = f"broker_sim_plugin_{path.stem}_{digest}"
    cached = sys.modules.get(module_name)
    if cached is not None:
        return cached
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {path} cannot be imported (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # attrs and dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[module_name]
        if not isinstance(exc, Exception):
            raise
        raise PluginError(f"plugin file {path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def load_plugin_file(
    manager: pluggy.PluginManager, path: str | Path, *, base_dir: str | Path | None = None
) -> ModuleType:
    """Import the Python file at `path` and register it as a plugin; returns the module.

    Raises `PluginError` if the file does not exist, fails to import, or defines a ``broker_sim_*`` hook that
    does not exist.
    """
    file = Path(path)
    if not file.is_absolute() and base_dir is not None:
        file = Path(base_dir) / file
    file = file.resolve()
    if not file.is_file():
        raise PluginError(f"plugin file {path} does not exist (looked for {file})")
    module = _import_file(file)
    _register(manager, module, f"file:{file}", f"plugin file {path}")
    return module


def build_registry(manager: pluggy.PluginManager) -> Registry:
    """Ask every plugin's `broker_sim_register` to fill a new `Registry`, recording which plugin added what."""
    registry = Registry()
    for impl in reversed(manager.hook.broker_sim_register.get_hookimpls()):
        registry.current_plugin = impl.plugin_name
        try:
            impl.function(registry=registry)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin {impl.plugin_name}: broker_sim_register failed: {type(exc).__name__}: {exc}"
            ) from exc
    registry.current_plugin = "?"
    return registry
