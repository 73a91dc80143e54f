"""Config -> the built broker, price sources and plugin manager; and the check that builds them without running.

`load_config` / `parse_config` (``broker_sim.load_config`` is this one) read the YAML through
`broker_sim.config` and then `validate` it: the adapter, model and source names and their parameters (against
the plugin registry, plugin files included), the strategy classes and their parameters, the files they name.
Everything is built once, nothing connects or runs. Every mistake is one `ConfigError` that names the file,
the key path and the line (through `Config.error_at`). `simulation.py` and `cli.py` build runs from here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from broker_sim.broker import Broker
from broker_sim.clock import Clock, SimulatedClock
from broker_sim.config import MODEL_KINDS, Config, KeyPath, StrategyConfig, parse_text, read_config
from broker_sim.errors import ConfigError
from broker_sim.plugins import PluginManager, build_registry, create_plugin_manager, load_plugin_file
from broker_sim.registry import Registry
from broker_sim.strategy import check_strategy_params, load_strategy_class

__all__ = ["build_broker", "build_source", "load_config", "parse_config", "plugin_manager", "validate"]

#: Broker keys that come from elsewhere in the config and may not be set under `broker:`.
_WIRED = {"clock": "prices.clock", "plugin_manager": "plugins", "plugins": "plugins"} | {
    kind: f"models.{kind}" for kind in MODEL_KINDS
}


def load_config(
    source: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    served: bool = False,
) -> Config:
    """Read, check and return the config in the YAML file `source`; raises `ConfigError` naming key and line.

    The full check: `broker_sim.config.read_config`, then `validate`. `env` replaces ``os.environ`` for
    ``${VAR}`` substitution (tests use it); `overrides` set dotted keys first (`config.apply_overrides`).
    `served`: the config is for `broker-sim serve`, so one without a ``serve:`` section takes its defaults (and
    needs no strategy: the bots are the clients).
    """
    config = read_config(source, env=env, overrides=overrides)
    if served and config.serve is None:
        config = attrs.evolve(config, serve={})
    validate(config)
    return config


def resolve_config(
    source: Config | str | Path | Mapping[str, Any],
    *,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """A checked `Config` from a `Config`, a YAML path or the YAML's data as a dict (relative paths from the
    working folder), with `overrides` applied. A `Config` with overrides is re-read from its YAML text."""
    if isinstance(source, Config):
        if not overrides:
            return source
        config = parse_config(source.text, base_dir=source.base_dir, env=env, overrides=overrides)
        return attrs.evolve(config, path=source.path)
    if isinstance(source, Mapping):
        return parse_config(yaml.safe_dump(dict(source), sort_keys=False), env=env, overrides=overrides)
    return load_config(source, env=env, overrides=overrides)


def parse_config(
    text: str,
    *,
    base_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Like `load_config`, from YAML text; relative paths are taken from `base_dir` (default: the working dir)."""
    config = parse_text(text, base_dir=base_dir, env=env, overrides=overrides)
    validate(config)
    return config


def plugin_manager(config: Config) -> PluginManager:
    """The plugin manager a run of `config` uses: the built-ins, installed entry points and its plugin files.

    Raises `PluginError` naming a plugin file that fails to load."""
    return create_plugin_manager(config.plugins, base_dir=config.base_dir)


def build_broker(
    config: Config,
    *,
    clock: Clock | None = None,
    manager: PluginManager | None = None,
    history: int | None = None,
) -> Broker:
    """The broker the config's ``broker:`` and ``models:`` sections describe, from any registered adapter.

    `history` bounds the closed orders an adapter keeps in memory, when it takes that parameter."""
    manager = manager if manager is not None else plugin_manager(config)
    registry = build_registry(manager)
    spec = dict(config.broker)
    spec.setdefault("adapter", "paper")
    entry = registry.get("adapter", spec["adapter"])
    accepted = {p.name for p in entry.parameters}
    wiring: dict[str, Any] = {kind: model for kind, model in config.models.given().items()}
    if "clock" in accepted:
        wiring["clock"] = clock
    if "plugin_manager" in accepted:
        wiring["plugin_manager"] = manager
    if history is not None and "history" in accepted and "history" not in spec and not spec.get("journal"):
        wiring["history"] = history  # a journaled account keeps its own, smaller default: its journal keeps all
    if "journal" in accepted and isinstance(spec.get("journal"), str):
        spec["journal"] = str(config.resolve(spec["journal"]))  # relative to the config file, as every path
    return registry.create("adapter", spec, **wiring)


def build_source(config: Config, registry: Registry, spec: Mapping[str, Any]) -> Any:
    """The price source one entry of ``prices.sources`` describes (its factory also gets `base_dir` and `seed`).

    One calendar serves the broker and every source of a run: a source that takes a `session` (the csv source's
    daily bars are delivered at their session's close) gets the broker's ``broker.session``; one that names
    another is a `ConfigError`."""
    extra: dict[str, Any] = {"base_dir": config.base_dir, "seed": config.seed}
    name = spec.get("source")
    if isinstance(name, str) and name in registry.names("source"):
        takes_session = any(p.name == "session" for p in registry.get("source", name).parameters)
        session = config.broker.get("session")
        if takes_session and session is not None:
            given = spec.get("session")
            if given is not None and given != session:
                raise ConfigError(
                    f"session: {given!r} differs from broker.session {session!r}; one calendar serves the broker "
                    "and every source (leave the source's session out: it takes the broker's)"
                )
            extra["session"] = session
            spec = {key: value for key, value in spec.items() if key != "session"}
    return registry.create("source", spec, **extra)


# -- the check -------------------------------------------------------------------------------------------------


def validate(config: Config) -> None:
    """Everything a run needs, checked without running: names, parameters, files, strategy classes.

    Builds the plugin manager, the models, the adapter (unconnected), the sources and the strategies once, and
    raises the first mistake as a `ConfigError` at its key and line."""
    manager = create_plugin_manager()
    for index, path in enumerate(config.plugins):
        try:
            load_plugin_file(manager, path, base_dir=config.base_dir)
        except ConfigError as exc:
            raise config.error_at(("plugins", index), str(exc)) from None
    try:
        registry = build_registry(manager)
    except ConfigError as exc:
        raise config.error_at(("plugins",), str(exc)) from None
    _check_broker(config, registry)
    for kind, spec in config.models.given().items():
        try:
            registry.create(kind, spec)
        except ConfigError as exc:
            raise _spec_error(config, ("models", kind), spec, "model", exc) from None
    _build_adapter(config, manager)
    _check_sources(config, registry)
    _check_strategies(config)
    if not config.report.equity_interval > 0:
        raise config.error_at(("report", "equity_interval"), f"must be > 0, got {config.report.equity_interval!r}")


def _check_broker(config: Config, registry: Registry) -> None:
    spec = config.broker
    for key, home in _WIRED.items():
        if key in spec:
            raise config.error_at(("broker", key), f"{key} is not set under broker: set it in {home}")
    name = spec.get("adapter", "paper")
    try:
        entry = registry.get("adapter", name)
        parameters = entry.parameters
        any_keyword = entry.accepts_any_keyword
    except ConfigError as exc:
        raise config.error_at(("broker", "adapter"), str(exc)) from None
    valid = {p.name for p in parameters} - set(_WIRED)
    if not any_keyword:
        for key in spec:
            if key != "adapter" and key not in valid:
                raise config.error_at(
                    ("broker", key),
                    f"unknown key {key!r} for adapter {name!r}; valid keys: adapter, {', '.join(sorted(valid))}",
                )
    accepted = {p.name for p in parameters}
    for kind in config.models.given():
        if kind not in accepted and not any_keyword:
            raise config.error_at(("models", kind), f"adapter {name!r} takes no {kind} model")


def _build_adapter(config: Config, manager: PluginManager) -> None:
    """Build the adapter once (it does not connect), so its own parameter checks run at validation time."""
    try:
        build_broker(config, clock=SimulatedClock(0.0), manager=manager)
    except ConfigError as exc:
        raise _spec_error(config, ("broker",), config.broker, "adapter", exc) from None


def _check_sources(config: Config, registry: Registry) -> None:
    if not config.prices.sources:
        raise config.error_at(("prices",), "no price sources: add prices.sources (e.g. {source: synthetic})")
    for index, spec in enumerate(config.prices.sources):
        try:
            built = build_source(config, registry, spec)
        except ConfigError as exc:
            raise _spec_error(config, ("prices", "sources", index), spec, "source", exc) from None
        if config.prices.clock == "simulated" and not hasattr(built, "timed_events"):
            raise config.error_at(
                ("prices", "sources", index, "source"),
                f"{spec.get('source')!r} is a live source: it needs prices.clock: realtime",
            )


def _check_strategies(config: Config) -> None:
    entries: list[tuple[KeyPath, StrategyConfig]] = [(("strategies", i), s) for i, s in enumerate(config.strategies)]
    if config.strategy is not None:
        entries.insert(0, (("strategy",), config.strategy))
    if not entries and config.serve is None:
        raise config.error_at(
            (), "no strategy: set strategy (or strategies) with a class and its params (or serve: for broker-sim serve)"
        )
    for path, strategy in entries:
        try:
            cls = load_strategy_class(strategy.class_, base_dir=config.base_dir)
        except ConfigError as exc:
            raise config.error_at((*path, "class"), str(exc)) from None
        try:
            check_strategy_params(cls, strategy.params)
            cls(**strategy.params)
        except Exception as exc:  # the strategy's own constructor: whatever it raised, the config is wrong
            key = _key_in(str(exc), strategy.params, "")
            if isinstance(exc, ConfigError):
                message = str(exc)
            elif isinstance(exc, TypeError | ValueError):
                message = f"{cls.__name__}: {exc}"
            else:  # a bug in the constructor: its type says more than its text
                message = f"{cls.__name__}: {type(exc).__name__}: {exc}"
            raise config.error_at((*path, "params", key) if key else (*path, "params"), message) from None


def _key_in(message: str, spec: Mapping[str, Any], name_key: str) -> str | None:
    """The key of `spec` a message is about: one it quotes, else the first it names."""
    keys = [str(key) for key in spec if key != name_key]
    for key in keys:
        if repr(key) in message:
            return key
    for key in keys:
        if re.search(rf"(?<![\w]){re.escape(key)}(?![\w])", message):
            return key
    return None


def _spec_error(config: Config, path: KeyPath, spec: Mapping[str, Any], name_key: str, exc: Exception) -> ConfigError:
    message = str(exc)
    where = getattr(exc, "path", ())
    if where:  # the checker knew the key: point at it (its message starts with it; the located error names it again)
        dotted = ".".join(str(part) for part in where)
        return config.error_at((*path, *where), message.removeprefix(f"{dotted}: "))
    key = _key_in(message, spec, name_key)
    if key is None and name_key in spec and repr(spec[name_key]) in message:
        key = name_key
    return config.error_at((*path, key) if key else path, message)
