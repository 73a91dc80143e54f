"""The registry of named models, price sources and adapters that configs select by name.

Plugins fill it through the `broker_sim_register` hook, each entry a factory or a ``"module:Class"`` reference
that is imported only when a config selects it; `create` builds a selected entry from a config mapping
such as ``{"model": "fixed_bps", "bps": 5}``, and refuses an unknown name or parameter with a `ConfigError` that
lists what is valid.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from broker_sim._imports import import_reference, is_reference
from broker_sim.errors import ConfigError, PluginError, did_you_mean

__all__ = ["KINDS", "Factory", "Parameter", "Registry", "RegistryEntry"]

#: The kinds of things a plugin can register, and the key that names the choice in a config mapping.
KINDS: dict[str, str] = {
    "slippage": "model",
    "latency": "model",
    "fill": "model",
    "commission": "model",
    "borrow_fee": "model",
    "margin_interest": "model",
    "source": "source",
    "adapter": "adapter",
}


@functools.cache
def _signature(factory: Callable[..., Any]) -> inspect.Signature:
    """A factory's signature, read once: every broker a test or a sweep builds asks again."""
    return inspect.signature(factory)


@attrs.frozen(slots=True)
class Parameter:
    """One keyword parameter of a registered factory, for `broker-sim plugins` and error messages."""

    name: str
    default: Any
    required: bool

    def __str__(self) -> str:
        return self.name if self.required else f"{self.name}={self.default!r}"


#: What `Registry.add` takes as a factory: a callable, or a ``"module:Class"`` reference imported when needed.
Factory = Callable[..., Any] | str


@attrs.define(slots=True, eq=False)
class RegistryEntry:
    """A named factory of one kind, and the plugin that registered it.

    `target` is what was registered: the factory itself, or a ``"module:Class"`` reference that is imported the
    first time the factory, its parameters or its description are asked for (`extra` names the optional extra
    that installs what the module needs).
    """

    kind: str
    name: str
    target: Factory
    plugin: str
    extra: str | None = None
    _description: str | None = attrs.field(default=None, alias="description")
    _factory: Callable[..., Any] | None = attrs.field(default=None, init=False, repr=False)

    @property
    def factory(self) -> Callable[..., Any]:
        """The callable that builds the entry; imports a reference on first use (`ConfigError` if it cannot)."""
        if self._factory is None:
            self._factory = self.target if callable(self.target) else self._resolve(self.target)
        return self._factory

    @property
    def description(self) -> str:
        """The description given at registration, else the first paragraph of the factory's docstring."""
        if self._description is None:
            # the first paragraph, whole: a sentence wrapped over two lines is not cut in half
            self._description = " ".join((inspect.getdoc(self.factory) or "").strip().split("\n\n", 1)[0].split())
        return self._description

    @property
    def code_only_parameters(self) -> frozenset[str]:
        """The parameters the factory lists in its `code_only_parameters`: objects only Python code can hand it
        (a test's transport, an in-memory data frame), never a config."""
        return frozenset(getattr(self.factory, "code_only_parameters", ()))

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        """The keyword parameters the factory takes (what a config may pass): all but its
        `code_only_parameters`."""
        code_only = self.code_only_parameters
        return tuple(
            Parameter(p.name, None if p.default is p.empty else p.default, p.default is p.empty)
            for p in _signature(self.factory).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in code_only
        )

    @property
    def accepts_any_keyword(self) -> bool:
        return any(p.kind is p.VAR_KEYWORD for p in _signature(self.factory).parameters.values())

    def _resolve(self, reference: str) -> Callable[..., Any]:
        what = f"{self.kind} {self.name!r}"
        try:
            factory = import_reference(reference)
        except ImportError as exc:
            if self.extra is not None:
                raise ConfigError(
                    f"{what} needs the optional extra [{self.extra}]: pip install 'broker-sim[{self.extra}]' ({exc})"
                ) from exc
            raise ConfigError(f"{what} cannot be imported from {reference!r}: {exc}") from exc
        except AttributeError as exc:
            raise PluginError(f"plugin {self.plugin}: {what} refers to {reference!r}, which does not exist") from exc
        except Exception as exc:
            raise PluginError(
                f"plugin {self.plugin}: {what} ({reference}) failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(factory):
            raise PluginError(f"plugin {self.plugin}: {what} refers to {reference!r}, which is not callable")
        return factory


class Registry:
    """Named factories by kind. `add` is what plugins call; `create` is what brokers and configs call."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, RegistryEntry]] = {kind: {} for kind in KINDS}
        #: Set by the plugin manager while a plugin's `broker_sim_register` runs, to record who added what.
        self.current_plugin = "?"

    def add(
        self,
        kind: str,
        name: str,
        factory: Factory,
        *,
        description: str | None = None,
        extra: str | None = None,
    ) -> None:
        """Register `factory` as `name` of `kind` (slippage, latency, fill, commission, borrow_fee, margin_interest,
        source, adapter).

        `factory` is a callable, or a ``"module:Class"`` reference imported only when a config selects the
        entry or its parameters are listed, so registering costs no import. `extra` names the optional extra
        (``pip install 'broker-sim[extra]'``) that the referenced module needs; when that import fails the
        `ConfigError` says which extra installs it.
        """
        if kind not in self._entries:
            raise ConfigError(f"cannot register {name!r}: unknown kind {kind!r}; valid: {', '.join(KINDS)}")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"cannot register a {kind} with name {name!r}: names are non-empty strings")
        if not callable(factory) and not is_reference(factory):
            raise ConfigError(
                f"cannot register {kind} {name!r}: the factory must be a callable or a 'module:Class' reference, "
                f"got {factory!r}"
            )
        existing = self._entries[kind].get(name)
        if existing is not None and existing.target is not factory and existing.target != factory:
            raise ConfigError(f"{kind} {name!r} is registered twice: by {existing.plugin} and by {self.current_plugin}")
        self._entries[kind][name] = RegistryEntry(kind, name, factory, self.current_plugin, extra, description)

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
            names = self.names(kind)
            raise ConfigError(f"unknown {what} {name!r}{did_you_mean(name, names)}; valid: {', '.join(names)}")
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
                    f"{kind} {key} {name!r}: unknown parameter {', '.join(map(repr, unknown))}"
                    f"{did_you_mean(unknown[0], valid)}; valid parameters: {listed}"
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
