"""The registry of named models, price sources and adapters that configs select by name.

Plugins fill it through the `broker_sim_register` hook; `create` builds a selected entry from a config mapping
such as ``{"model": "fixed_bps", "bps": 5}``, and refuses an unknown name or parameter with a `ConfigError` that
lists what is valid.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from broker_sim.errors import ConfigError

__all__ = ["KINDS", "Parameter", "Registry", "RegistryEntry"]

#: The kinds of things a plugin can register, and the key that names the choice in a config mapping.
KINDS: dict[str, str] = {
    "slippage": "model",
    "latency": "model",
    "fill": "model",
    "commission": "model",
    "source": "source",
    "adapter": "adapter",
}


@attrs.frozen(slots=True)
class Parameter:
    """One keyword parameter of a registered factory, for `broker-sim plugins` and error messages."""

    name: str
    default: Any
    required: bool

    def __str__(self) -> str:
        return self.name if self.required else f"{self.name}={self.default!r}"


@attrs.frozen(slots=True)
class RegistryEntry:
    """A named factory of one kind, and the plugin that registered it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        """The keyword parameters the factory takes (what a config may pass)."""
        return tuple(
            Parameter(p.name, None if p.default is p.empty else p.default, p.default is p.empty)
            for p in inspect.signature(self.factory).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )

    @property
    def accepts_any_keyword(self) -> bool:
        return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(self.factory).parameters.values())


class Registry:
    """Named factories by kind. `add` is what plugins call; `create` is what brokers and configs call."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, RegistryEntry]] = {kind: {} for kind in KINDS}
        #: Set by the plugin manager while a plugin's `broker_sim_register` runs, to record who added what.
        self.current_plugin = "?"

    def add(self, kind: str, name: str, factory: Callable[..., Any], *, description: str | None = None) -> None:
        """Register `factory` as `name` of `kind` (slippage, latency, fill, commission, source, adapter)."""
        if kind not in self._entries:
            raise ConfigError(f"cannot register {name!r}: unknown kind {kind!r}; valid: {', '.join(KINDS)}")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"cannot register a {kind} with name {name!r}: names are non-empty strings")
        existing = self._entries[kind].get(name)
        if existing is not None and existing.factory is not factory:
            raise ConfigError(f"{kind} {name!r} is registered twice: by {existing.plugin} and by {self.current_plugin}")
        doc = description or (inspect.getdoc(factory) or "").strip().split("\n", 1)[0]
        self._entries[kind][name] = RegistryEntry(kind, name, factory, self.current_plugin, doc)

    def names(self, kind: str) -> list[str]:
        """The registered names of `kind`, sorted."""
        return sorted(self._entries[kind])

    def entries(self, kind: str | None = None) -> list[RegistryEntry]:
        """Every entry (of `kind`, if given), sorted by kind then name."""
        kinds = [kind] if kind is not None else list(KINDS)
        return [self._entries[k][n] for k in kinds for n in sorted(self._entries[k])]

    def get(self, kind: str, name: str) -> RegistryEntry:
        """The entry `name` of `kind`; raises `ConfigError` listing the valid names."""
        if not isinstance(name, str):
            raise ConfigError(
                f"{kind} {KINDS[kind]} must be a name, got {name!r}; valid: {', '.join(self.names(kind))}"
            )
        entry = self._entries[kind].get(name)
        if entry is None:
            what = kind if KINDS[kind] == kind else f"{kind} {KINDS[kind]}"
            raise ConfigError(f"unknown {what} {name!r}; valid: {', '.join(self.names(kind))}")
        return entry

    def create(self, kind: str, spec: Mapping[str, Any] | str, **extra: Any) -> Any:
        """Build the entry a config mapping selects, e.g. ``{"model": "uniform", "low": 0.5, "high": 2}``.

        A bare string selects the entry with its defaults. `extra` keyword arguments are passed to the factory
        too (the caller's own wiring, not user parameters). Raises `ConfigError` naming the bad name, parameter
        or value and listing what is valid.
        """
        key = KINDS[kind]
        if isinstance(spec, str):
            spec = {key: spec}
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{kind} must be a mapping like {{{key}: name, ...}} or a name, got {spec!r}")
        params = dict(spec)
        name = params.pop(key, None)
        if name is None:
            raise ConfigError(f"{kind}: missing {key!r}; valid {key}s: {', '.join(self.names(kind))}")
        entry = self.get(kind, name)
        valid = {p.name: p for p in entry.parameters}
        if not entry.accepts_any_keyword:
            unknown = sorted(set(params) - set(valid))
            if unknown:
                listed = ", ".join(str(p) for p in entry.parameters if p.name not in extra) or "none"
                raise ConfigError(
                    f"{kind} {key} {name!r}: unknown parameter {', '.join(map(repr, unknown))}; "
                    f"valid parameters: {listed}"
                )
        missing = [p.name for p in entry.parameters if p.required and p.name not in params and p.name not in extra]
        if missing:
            raise ConfigError(f"{kind} {key} {name!r}: missing parameter {', '.join(map(repr, missing))}")
        try:
            return entry.factory(**params, **extra)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{kind} {key} {name!r}: {exc}") from exc
