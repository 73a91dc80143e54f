"""The plugin manager: built-in models, installed entry points (group ``broker_sim``) and plugin files by path.

The built-ins (the modules named in `BUILTIN_PLUGINS`) are registered exactly like a third-party plugin. Loading
failures are `PluginError`s that name the file or entry point, never a bare traceback from inside the plugin.
"""

from __future__ import annotations

import functools
import importlib
import operator
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from broker_sim import hookspecs
from broker_sim._imports import import_file
from broker_sim.errors import PluginError
from broker_sim.registry import Registry

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PluginManager",
    "SelectedHook",
    "build_registry",
    "copy_plugin_manager",
    "create_plugin_manager",
    "load_entry_points",
    "load_plugin_file",
]

ENTRY_POINT_GROUP = "broker_sim"
#: The built-in plugin modules, imported by name when a manager is created (as pytest lists its default
#: plugins), so this module depends on none of them.
BUILTIN_PLUGINS: tuple[str, ...] = ("broker_sim.builtin",)
_PREFIX = "broker_sim_"


class PluginManager(pluggy.PluginManager):
    """pluggy's manager for project ``broker_sim``, which, like pytest's, also takes undecorated functions.

    Any callable attribute named ``broker_sim_*`` is a hook implementation, decorated or not, so a model method
    that forgot ``@hookimpl`` still answers, and a misspelled hook name is refused instead of silently ignored.
    """

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        #: Bumped on every register/unregister, so callers can cache what they derived from the plugin set.
        self.generation = 0

    def register(self, plugin: object, name: str | None = None) -> str | None:
        self.generation += 1
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        self.generation += 1
        return super().unregister(plugin, name)

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        if name.startswith("__"):  # dunders are never hooks: skip the static lookup (brokers register models often)
            return None
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith(_PREFIX) and callable(getattr(plugin, name, None)):
            return {
                "wrapper": False,
                "hookwrapper": False,
                "optionalhook": False,
                "tryfirst": False,
                "trylast": False,
                "specname": None,
            }
        return opts


def copy_plugin_manager(manager: pluggy.PluginManager) -> PluginManager:
    """A new manager with the same plugins under the same names, so one broker can add its own models to it."""
    twin = PluginManager()
    for name, plugin in manager.list_name_plugin():
        if name is not None and twin.get_plugin(name) is None:
            twin.register(plugin, name=name)
    return twin


def _arguments(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function picking an implementation's arguments, in its order, out of the hook's keyword arguments."""
    if not names:
        return lambda kwargs: ()
    if len(names) == 1:
        name = names[0]
        return lambda kwargs: (kwargs[name],)
    return operator.itemgetter(*names)


class SelectedHook:
    """Calls one `firstresult` hook; straight to the selected model's method while it is the only implementation.

    The answer is the one pluggy would give (one non-wrapper implementation answers alone); the direct call saves
    the hook machinery on the paths a replay takes per bar and per order. The choice is re-made whenever the
    manager's plugin set changes, so a plugin added later, wrapper or not, takes the ordinary pluggy path.
    """

    __slots__ = ("_caller", "_direct", "_generation", "_manager", "_model")

    def __init__(self, manager: PluginManager, hook_name: str, model: object) -> None:
        self._manager = manager
        self._caller = getattr(manager.hook, hook_name)
        self._model = model
        self._generation = -1
        self._direct: tuple[Any, Callable[[dict[str, Any]], tuple[Any, ...]]] | None = None

    def __call__(self, **kwargs: Any) -> Any:
        if self._generation != self._manager.generation:
            self._generation = self._manager.generation
            impls = self._caller.get_hookimpls()
            lone = impls[0] if len(impls) == 1 else None
            alone = lone is not None and lone.plugin is self._model and not lone.wrapper and not lone.hookwrapper
            self._direct = (lone.function, _arguments(tuple(lone.argnames))) if alone and lone is not None else None
        direct = self._direct
        if direct is not None:
            function, arguments = direct
            return function(*arguments(kwargs))
        return self._caller(**kwargs)


def create_plugin_manager(
    plugin_files: Iterable[str | Path] = (),
    *,
    load_installed: bool = True,
    base_dir: str | Path | None = None,
) -> PluginManager:
    """A plugin manager with the hook specs, the built-ins, installed entry points and `plugin_files`.

    Relative plugin paths are taken from `base_dir` (the config file's folder), else the working directory.
    Raises `PluginError` naming the file or entry point that failed.
    """
    manager = PluginManager()
    for module_name in BUILTIN_PLUGINS:
        manager.register(importlib.import_module(module_name), name=module_name)
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


@functools.cache
def _installed() -> tuple[Any, ...]:
    """The installed entry points of group ``broker_sim``: read once per process (scanning the installed
    packages' metadata takes milliseconds, and every broker asks)."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def load_entry_points(manager: pluggy.PluginManager) -> list[str]:
    """Register every installed plugin of entry-point group ``broker_sim``; returns their names.

    The installed packages are read once per process: a package installed while it runs is seen by the next."""
    loaded = []
    for point in _installed():
        where = f"plugin entry point {point.name!r} ({point.value})"
        try:
            plugin = point.load()
        except Exception as exc:
            raise PluginError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
        _register(manager, plugin, f"entrypoint:{point.name}", where)
        loaded.append(point.name)
    return loaded


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
    module = import_file(file, prefix="broker_sim_plugin", what="plugin file", error=PluginError)
    _register(manager, module, f"file:{file}", f"plugin file {path}")
    return module


def build_registry(manager: pluggy.PluginManager) -> Registry:
    """Ask every plugin's `broker_sim_register`, in registration order, to fill a new `Registry`.

    The registry records which plugin added what; a name registered twice is refused, blaming the later plugin.
    """
    registry = Registry()
    for impl in manager.hook.broker_sim_register.get_hookimpls():
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
