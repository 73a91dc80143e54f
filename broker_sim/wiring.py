"""Config -> the built broker, price sources and plugin manager; and the check that builds them without running.

`load_config` / `parse_config` (``broker_sim.load_config`` is this one) read the YAML through
`broker_sim.config` and then `validate` it: the adapter, model and source names and their parameters (against
the plugin registry, plugin files included), the strategy classes and their parameters, the files they name.
Everything is built once, nothing connects or runs, and what a run needs of it (the plugin manager, the
registry, the sources, the strategies: a `Wiring`) is handed to the run as built (`prepare_run`, `build_wiring`).
Every mistake is one `ConfigError` that names the file, the key path and the line (through `Config.error_at`).
`broker_sim.run` and `cli.py` build runs from here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from broker_sim.broker import Broker, MarketDataConsumer
from broker_sim.clock import Clock, SimulatedClock
from broker_sim.config import MODEL_KINDS, Config, KeyPath, StrategyConfig, parse_text, read_config
from broker_sim.errors import ConfigError, JournalError, did_you_mean
from broker_sim.plugins import PluginManager, build_registry, create_plugin_manager, load_plugin_file
from broker_sim.registry import Registry
from broker_sim.strategy import Strategy, check_strategy_params, load_strategy_class
from broker_sim.streams.base import ReplaySource

__all__ = [
    "ALLOW_REPLAY",
    "Wiring",
    "adapter_spec",
    "build_broker",
    "build_source",
    "build_wiring",
    "check_live_safety",
    "load_config",
    "parse_config",
    "plugin_manager",
    "prepare_run",
    "validate",
    "with_data",
]

log = logging.getLogger(__name__)

#: Broker keys that come from elsewhere in the config and may not be set under `broker:`.
_WIRED = {"clock": "prices.clock", "plugin_manager": "plugins", "plugins": "plugins"} | {
    kind: f"models.{kind}" for kind in MODEL_KINDS
}
#: The broker key that lets a replay (a simulated clock, a csv or synthetic source) trade a live adapter's
#: account: read by the run, never passed to the adapter.
ALLOW_REPLAY = "allow_replay"


@attrs.frozen(slots=True)
class Wiring:
    """What checking a config built, for one run to use as built: the plugin manager and its registry, the price
    sources (in ``prices.sources`` order) and the strategies (in `Config.all_strategies` order, constructed with
    their params, not yet attached to a broker). Its sources and strategies serve one run only."""

    manager: PluginManager
    registry: Registry
    sources: tuple[Any, ...]
    strategies: tuple[Strategy, ...]


def adapter_spec(config: Config, registry: Registry) -> tuple[dict[str, Any], dict[str, KeyPath]]:
    """The selected adapter's parameters, and where each stands in the config.

    ``broker:`` holds the adapter's name, keys for it, and optionally one section per adapter (``paper:``,
    ``alpaca:``): the selected adapter's section is laid over the shared keys and the other adapters' sections
    are left out, so switching ``adapter: paper`` to ``adapter: alpaca`` is the one line that changes."""
    broker = config.broker
    name = broker.get("adapter", "paper")
    adapters = set(registry.names("adapter"))
    spec: dict[str, Any] = {"adapter": name}
    where: dict[str, KeyPath] = {"adapter": ("broker", "adapter")}
    for key, value in broker.items():
        if key in ("adapter", ALLOW_REPLAY) or (key in adapters and isinstance(value, Mapping | type(None))):
            continue
        spec[key], where[key] = value, ("broker", key)
    section = broker.get(name)
    if isinstance(section, Mapping):
        for key, value in section.items():
            spec[str(key)], where[str(key)] = value, ("broker", name, str(key))
    return spec, where


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
    data: Mapping[str, Any] | None = None,
) -> Config:
    """A checked `Config` from a `Config`, a YAML path or the YAML's data as a dict (relative paths from the
    working folder), with `overrides` applied. A `Config` with overrides is re-read from its YAML text.

    `data` is in-memory market data for the ``dataframe`` source (``{"AAPL": frame}``); a config without
    ``prices.sources`` then gets ``{source: dataframe}``."""
    return prepare_run(source, overrides=overrides, env=env, data=data)[0]


def prepare_run(
    source: Config | str | Path | Mapping[str, Any],
    *,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> tuple[Config, Wiring | None]:
    """`resolve_config`, and what checking it built for the run (`Wiring`), so that a run builds it once. A
    `Config` taken as it is was checked when it was loaded: its wiring is None (the run builds it, `build_wiring`)."""
    if isinstance(source, Config):
        if not overrides and data is None:
            return source, None
        config = parse_text(source.text, base_dir=source.base_dir, env=env, overrides=overrides)
        config = attrs.evolve(config, path=source.path)
    elif isinstance(source, Mapping):
        config = parse_text(yaml.safe_dump(dict(source), sort_keys=False), env=env, overrides=overrides)
    else:
        config = read_config(source, env=env, overrides=overrides)
    if data is not None:
        config = with_data(config, data)
    return config, validate(config)


def with_data(config: Config, data: Mapping[str, Any]) -> Config:
    """`config` with in-memory market data for its ``dataframe`` sources (one added when it has no source)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"data must map symbols to DataFrames, got {type(data).__name__}")
    prices = config.prices
    if not prices.sources:
        prices = attrs.evolve(prices, sources=({"source": "dataframe"},))
    return attrs.evolve(config, data=dict(data), prices=prices)


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
    registry: Registry | None = None,
) -> Broker:
    """The broker the config's ``broker:`` and ``models:`` sections describe, from any registered adapter.

    `history` bounds the closed orders an adapter keeps in memory, when it takes that parameter; `registry` is
    `manager`'s, when the caller built it already."""
    manager = manager if manager is not None else plugin_manager(config)
    registry = registry if registry is not None else build_registry(manager)
    spec, _ = adapter_spec(config, registry)
    entry = registry.get("adapter", spec["adapter"])
    accepted = {p.name for p in entry.parameters}
    # The models are the simulated venue's: an adapter whose venue fills for real takes none (and ignores them).
    wiring: dict[str, Any] = {}
    for kind, model in config.models.given().items():
        if kind in accepted or entry.accepts_any_keyword:
            wiring[kind] = model
        else:
            log.info("models.%s is not used: adapter %r fills at its own venue", kind, spec["adapter"])
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
    """The price source one entry of ``prices.sources`` describes (its factory also gets `base_dir` and `seed`,
    and the config's in-memory `data` if it takes it).

    One calendar serves the broker and every source of a run: a source that takes a `session` (the csv source's
    daily bars are delivered at their session's close) gets the broker's ``broker.session``; one that names
    another is a `ConfigError`."""
    wiring: dict[str, Any] = {"base_dir": config.base_dir, "seed": config.seed}
    name = spec.get("source") if isinstance(spec, Mapping) else spec
    if isinstance(name, str) and name in registry.names("source"):
        entry = registry.get("source", name)
        try:
            takes_data = "data" in entry.code_only_parameters
        except ConfigError:  # a missing extra: create() names it
            takes_data = False
        if takes_data:
            wiring["data"] = config.data
        takes_session = any(p.name == "session" for p in entry.parameters)
        session = config.broker.get("session")
        if takes_session and session is not None and isinstance(spec, Mapping):
            given = spec.get("session")
            if given is not None and given != session:
                raise ConfigError(
                    f"session: {given!r} differs from broker.session {session!r}; one calendar serves the broker "
                    "and every source (leave the source's session out: it takes the broker's)"
                )
            wiring["session"] = session
            spec = {key: value for key, value in spec.items() if key != "session"}
    return registry.create("source", spec, **wiring)


# -- the check -------------------------------------------------------------------------------------------------


def validate(config: Config) -> Wiring:
    """Everything a run needs, checked without running: names, parameters, files, strategy classes.

    Builds the plugin manager, the models, the adapter (unconnected), the sources and the strategies once, and
    raises the first mistake as a `ConfigError` at its key and line. Returns what a run uses of it (`Wiring`)."""
    manager, registry = _check_plugins(config)
    _check_broker(config, registry)
    for kind, spec in config.models.given().items():
        try:
            registry.create(kind, spec)
        except ConfigError as exc:
            raise _spec_error(config, ("models", kind), spec, "model", exc) from None
    broker = _build_adapter(config, manager, registry)
    sources = _check_sources(config, registry)
    check_live_safety(config, broker, sources)
    strategies = _check_strategies(config)
    if not config.report.equity_interval > 0:
        raise config.error_at(("report", "equity_interval"), f"must be > 0, got {config.report.equity_interval!r}")
    return Wiring(manager, registry, tuple(sources), strategies)


def build_wiring(config: Config) -> Wiring:
    """What a run uses of a config `validate` passed already (a `Config` from `load_config`): the plugin manager,
    the registry, the sources and the strategies, built once (a mistake is still a located `ConfigError`)."""
    manager, registry = _check_plugins(config)
    return Wiring(manager, registry, tuple(_check_sources(config, registry)), _check_strategies(config))


def _check_plugins(config: Config) -> tuple[PluginManager, Registry]:
    """The plugin manager (the built-ins, entry points and the config's plugin files) and its registry."""
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
    return manager, registry


def _check_broker(config: Config, registry: Registry) -> None:
    broker = config.broker
    name = broker.get("adapter", "paper")
    try:
        entry = registry.get("adapter", name)
        entry.parameters  # noqa: B018 - imports the adapter: a missing extra is named at broker.adapter
    except ConfigError as exc:
        raise config.error_at(("broker", "adapter"), str(exc)) from None
    if not isinstance(broker.get(ALLOW_REPLAY, False), bool):
        raise config.error_at(("broker", ALLOW_REPLAY), f"must be true or false, got {broker[ALLOW_REPLAY]!r}")
    for adapter in registry.names("adapter"):
        section = broker.get(adapter)
        if adapter == name or section is None:
            continue
        if not isinstance(section, Mapping):
            raise config.error_at(("broker", adapter), f"adapter {adapter!r}'s section must be a mapping of its keys")
        other = registry.get("adapter", adapter)
        try:
            other.parameters  # noqa: B018 - imports the adapter
        except ConfigError:  # its optional extra is not installed: its section cannot be checked here
            log.info("broker.%s is not checked: adapter %r cannot be loaded", adapter, adapter)
            continue
        _check_adapter_keys(config, other, section, ("broker", adapter))
    spec, where = adapter_spec(config, registry)
    _check_adapter_keys(config, entry, spec, None, where, _other_adapters(registry, name))


def _other_adapters(registry: Registry, name: str) -> Iterator[tuple[str, set[str]]]:
    """Each other adapter's keys, for the hint on a key that belongs to another adapter: imported only when such
    a key is found (the Alpaca adapter's httpx and websockets cost a paper run ~25 MB, issue 25)."""
    for adapter in registry.names("adapter"):
        if adapter != name:
            try:
                yield adapter, {p.name for p in registry.get("adapter", adapter).parameters}
            except ConfigError:  # its optional extra is not installed
                continue


def _check_adapter_keys(
    config: Config,
    entry: Any,
    spec: Mapping[str, Any],
    section: KeyPath | None,
    where: Mapping[str, KeyPath] | None = None,
    others: Iterable[tuple[str, set[str]]] = (),
) -> None:
    """Refuse keys `entry`'s adapter does not take (`section`: the adapter's own ``broker.<name>:`` section)."""
    name = entry.name
    for key, home in _WIRED.items():
        if key in spec:
            path = (*section, key) if section else (where or {}).get(key, ("broker", key))
            raise config.error_at(path, f"{key} is not set under broker: set it in {home}")
    if entry.accepts_any_keyword:
        return
    valid = {p.name for p in entry.parameters} - set(_WIRED)
    for key in spec:
        if key != "adapter" and key not in valid:
            path = (*section, key) if section else (where or {}).get(key, ("broker", key))
            owners = [other for other in others if key in other[1]]
            hint = (
                f" (adapter {owners[0][0]!r} takes {key!r}: put it under broker.{owners[0][0]}: and each adapter reads "
                "its own section, so switching adapters is one line)"
                if owners and not section
                else did_you_mean(str(key), sorted(valid))
            )
            raise config.error_at(
                path, f"unknown key {key!r} for adapter {name!r}{hint}; valid keys: adapter, {', '.join(sorted(valid))}"
            )


def check_live_safety(config: Config, broker: Broker, sources: Iterable[Any]) -> None:
    """Refuse a replay against an adapter that trades a real account: orders at replay speed, at prices that are
    not the market's. An adapter that is not fed market data (`MarketDataConsumer`) trades at its venue's prices,
    so a simulated clock or a replay source (csv, synthetic) with it is a `ConfigError`, unless the config says
    ``broker.allow_replay: true`` (a served replay: ``broker-sim serve`` on 127.0.0.1)."""
    if isinstance(broker, MarketDataConsumer) or config.broker.get(ALLOW_REPLAY) is True:
        return
    name = config.broker.get("adapter", "paper")
    replays = [index for index, source in enumerate(sources) if isinstance(source, ReplaySource)]
    path: KeyPath
    if config.prices.clock == "simulated":
        why, path = "prices.clock is simulated (a replay at CPU speed)", ("prices", "clock")
    elif replays:
        kind = config.prices.sources[replays[0]].get("source")
        why, path = f"source {kind!r} replays recorded or made-up prices", ("prices", "sources", replays[0], "source")
    else:
        return
    raise config.error_at(
        path,
        f"adapter {name!r} trades a real account and {why}: its orders would reach that account. Use live "
        "sources on the real-time clock (prices.clock: realtime, e.g. {source: alpaca, symbols: [...]}), or set "
        f"broker.{ALLOW_REPLAY}: true to send a replay's orders to this account on purpose (a served replay)",
    )


def _build_adapter(config: Config, manager: PluginManager, registry: Registry) -> Broker:
    """Build the adapter once (it does not connect), so its own parameter checks run at validation time; a
    journal it refuses at once (another account's) is named at the config's ``broker`` key, as a config error."""
    try:
        return build_broker(config, clock=SimulatedClock(0.0), manager=manager, registry=registry)
    except (ConfigError, JournalError) as exc:
        raise _spec_error(config, ("broker",), config.broker, "adapter", exc) from None


def _check_sources(config: Config, registry: Registry) -> list[Any]:
    built_sources = []
    if not config.prices.sources:
        raise config.error_at(("prices",), "no price sources: add prices.sources (e.g. {source: synthetic})")
    for index, spec in enumerate(config.prices.sources):
        try:
            built = build_source(config, registry, spec)
        except ConfigError as exc:
            raise _spec_error(config, ("prices", "sources", index), spec, "source", exc) from None
        if config.prices.clock == "simulated" and not isinstance(built, ReplaySource):
            raise config.error_at(
                ("prices", "sources", index, "source"),
                f"{spec.get('source')!r} is a live source: it needs prices.clock: realtime",
            )
        built_sources.append(built)
    return built_sources


def _check_strategies(config: Config) -> tuple[Strategy, ...]:
    """The config's strategies (in `Config.all_strategies` order), each constructed with its params."""
    built: list[Strategy] = []
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
            built.append(cls(**strategy.params))
        except Exception as exc:  # the strategy's own constructor: whatever it raised, the config is wrong
            key = _key_in(str(exc), strategy.params, "")
            if isinstance(exc, ConfigError):
                message = str(exc)
            elif isinstance(exc, TypeError | ValueError):
                message = f"{cls.__name__}: {exc}"
            else:  # a bug in the constructor: its type says more than its text
                message = f"{cls.__name__}: {type(exc).__name__}: {exc}"
            raise config.error_at((*path, "params", key) if key else (*path, "params"), message) from None
    return tuple(built)


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
