"""YAML config -> frozen attrs classes (through a cattrs converter), with errors that name file, key and line.

`read_config` reads a file, substitutes ``${ENV_VAR}`` (or ``${ENV_VAR:-default}``) in string values and
structures the data into a `Config`; `parse_text` does the same from text. Both check only what the YAML alone
can say (keys, types, literal choices). The full check, which builds the adapter, models, sources and strategies
without running them, is `broker_sim.wiring.load_config` / `parse_config` (what ``broker_sim.load_config`` is);
it reports through `Config.error_at`, which keeps the YAML's line numbers. Every mistake is one `ConfigError`
whose message reads ``configs/demo.yaml:12: models.slippage.bps: bps must be >= 0, got -1``.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs
import cattrs
import yaml
from cattrs.gen import make_dict_structure_fn, override

from broker_sim._text import encodable, unencodable_at
from broker_sim.errors import ConfigError, did_you_mean
from broker_sim.redact import HIDDEN, is_key_id, is_secret

__all__ = [
    "MODEL_KINDS",
    "Config",
    "KeyPath",
    "ModelsConfig",
    "PricesConfig",
    "ReportConfig",
    "SourceLines",
    "StrategyConfig",
    "apply_overrides",
    "did_you_mean",
    "parse_text",
    "read_config",
    "structure_section",
]

_T = TypeVar("_T")
#: The kinds of model a config may set under ``models:``.
MODEL_KINDS = ("slippage", "latency", "fill", "commission", "borrow_fee", "margin_interest")
#: A key path in the YAML document: mapping keys and sequence indexes, e.g. ``("prices", "sources", 0)``.
KeyPath = tuple[str | int, ...]


# -- lines -----------------------------------------------------------------------------------------------------


#: The largest config file read (bytes): a config is a page of settings, not data.
MAX_CONFIG_BYTES = 1 << 20
#: The most keys, items and values a config may expand to, aliases included (a few thousand is already a lot).
MAX_CONFIG_NODES = 100_000
#: How deeply a config may nest (the shipped ones nest 4 levels).
MAX_CONFIG_DEPTH = 32


class SourceLines:
    """The line of every key and item in a YAML document, to point errors at the right line, and the document
    itself (`data`), read once with limits: at most `MAX_CONFIG_BYTES` of text and `MAX_CONFIG_NODES` values
    once aliases are expanded (a few hundred bytes of nested aliases can otherwise expand to gigabytes)."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.lines: dict[KeyPath, int] = {}
        #: Paths of quoted scalars: an environment value put there stays text.
        self.quoted: set[KeyPath] = set()
        self._nodes = 0
        if len(text) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{name}: the config is {len(text):,} bytes; configs are limited to {MAX_CONFIG_BYTES:,}")
        try:
            loader = yaml.SafeLoader(text)
        except yaml.YAMLError as exc:  # the reader refuses some characters outright
            raise ConfigError(f"{name}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
        try:
            node = loader.get_single_node()
            if node is not None:
                self._walk(node, (), set())
            self.data: Any = loader.construct_document(node) if node is not None else None
        except RecursionError:  # PyYAML's composer recurses per level: thousands of "[" in a few kilobytes
            raise ConfigError(f"{name}: the config nests deeper than {MAX_CONFIG_DEPTH} levels") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{name}{line}: not valid YAML: {problem}") from None
        finally:
            loader.dispose()

    def _walk(self, node: yaml.Node, path: KeyPath, inside: set[int]) -> None:
        """Record the lines and quoted scalars under `node` at `path`, refusing what no config needs: more than
        `MAX_CONFIG_NODES` values, nesting past `MAX_CONFIG_DEPTH`, an alias inside itself (`inside`: the
        nodes above), a key given twice in one mapping, text UTF-8 cannot encode."""
        self._nodes += 1
        line = node.start_mark.line + 1
        if len(path) > MAX_CONFIG_DEPTH:
            raise _located(self.name, line, path[:MAX_CONFIG_DEPTH], f"nests deeper than {MAX_CONFIG_DEPTH} levels")
        if id(node) in inside:
            raise _located(self.name, line, path, "a recursive alias (a value that contains itself)")
        if self._nodes > MAX_CONFIG_NODES:
            raise ConfigError(
                f"{self.name}: the config expands to more than {MAX_CONFIG_NODES:,} values "
                f"(nested aliases?); near line {node.start_mark.line + 1}"
            )
        if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) and not encodable(node.value):
            raise _located(
                self.name,
                node.start_mark.line + 1,
                path,
                "not valid text: a lone surrogate (an escape such as "
                "\\udc00 that is not a character), which UTF-8 cannot encode",
            )
        if isinstance(node, yaml.MappingNode):
            inside.add(id(node))
            seen: dict[object, int] = {}
            for key, value in node.value:
                child = (*path, str(key.value))
                key_line = key.start_mark.line + 1
                if isinstance(key.value, str) and not encodable(key.value):
                    raise _located(self.name, key_line, path, f"key {key.value!r} is not valid text")
                if key.tag != "tag:yaml.org,2002:merge" and isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise _located(
                            self.name, key_line, child,
                            f"given twice, on lines {seen[key.value]} and {key_line}: keep one",
                        )  # fmt: skip
                    seen[key.value] = key_line
                self.lines.setdefault(child, key_line)
                self._walk(value, child, inside)
            inside.discard(id(node))
        elif isinstance(node, yaml.SequenceNode):
            inside.add(id(node))
            for index, item in enumerate(node.value):
                child = (*path, index)
                self.lines.setdefault(child, item.start_mark.line + 1)
                self._walk(item, child, inside)
            inside.discard(id(node))
        elif isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
            self.quoted.add(path)

    def line(self, path: KeyPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def error(self, path: KeyPath, message: str) -> ConfigError:
        """A `ConfigError` reading ``name:line: key.path: message``."""
        return _located(self.name, self.line(path), path, message)


def _located(name: str, line: int | None, path: KeyPath, message: str) -> ConfigError:
    where = f"{name}:{line}" if line is not None else name
    key = _dotted(path)
    if path and (is_secret(path[-1]) or is_key_id(path[-1])):
        message = _GOT.sub(f"got a value ({HIDDEN}: a secret)", message)  # never echo a secret's value
    return ConfigError(f"{where}: {key + ': ' if key else ''}{message}")


#: The "got <value>" part of a message, up to where it ends (`_located` hides it for a secret's key).
_GOT = re.compile(r"got .*?(?=(; |$))")


def _dotted(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# -- the config classes ----------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class ModelsConfig:
    """The paper adapter's models, each ``{model: name, **parameters}``; None keeps the adapter's default."""

    slippage: dict[str, Any] | None = None
    latency: dict[str, Any] | None = None
    fill: dict[str, Any] | None = None
    commission: dict[str, Any] | None = None
    #: What a short position costs to hold, charged at each session close (``FEE``).
    borrow_fee: dict[str, Any] | None = None
    #: The interest on a margin debit balance, charged at each session close (``INT``).
    margin_interest: dict[str, Any] | None = None

    def given(self) -> dict[str, dict[str, Any]]:
        """The models the config sets, by kind."""
        return {kind: spec for kind in MODEL_KINDS if (spec := getattr(self, kind)) is not None}


@attrs.frozen(slots=True)
class PricesConfig:
    """Where market data comes from and which clock the run keeps."""

    clock: Literal["simulated", "realtime"] = "simulated"
    sources: tuple[dict[str, Any], ...] = ()


@attrs.frozen(slots=True)
class StrategyConfig:
    """One strategy: ``class`` is ``module:Class`` or ``path/to/file.py:Class`` (relative to the config file)."""

    class_: str
    params: dict[str, Any] = attrs.Factory(dict)
    symbols: tuple[str, ...] | None = None
    name: str | None = None


@attrs.frozen(slots=True)
class ReportConfig:
    """Where the report goes (relative to the config file), how finely equity is sampled (seconds), the
    benchmark symbol (default: an equal-weight basket of the run's symbols) and whether to add quantstats'
    tearsheet.html (the ``[tearsheet]`` extra)."""

    out: str | None = None
    title: str | None = None
    equity_interval: float = 3600.0
    benchmark: str | None = None
    tearsheet: bool = False


@attrs.frozen(slots=True)
class Config:
    """A whole run: adapter, models, prices, strategies, plugins, report. Built by `load_config`."""

    broker: dict[str, Any] = attrs.Factory(lambda: {"adapter": "paper"})
    models: ModelsConfig = ModelsConfig()
    prices: PricesConfig = PricesConfig()
    strategy: StrategyConfig | None = None
    strategies: tuple[StrategyConfig, ...] = ()
    plugins: tuple[str, ...] = ()
    report: ReportConfig = ReportConfig()
    #: `broker-sim serve`'s settings (host, port, speed, keys, limits); checked by `broker_sim.serve`.
    serve: dict[str, Any] | None = None
    #: The file the config came from (None for text), and the folder relative paths are taken from.
    path: Path | None = None
    base_dir: Path = attrs.Factory(Path.cwd)
    #: The YAML text after environment substitution, for the report.
    text: str = ""
    #: Where each key stands in the YAML, for `error_at`; not part of the config's value.
    source_lines: SourceLines | None = attrs.field(default=None, eq=False, repr=False)
    #: In-memory market data given from Python (``run_simulation(config, data={"AAPL": frame})``), read by the
    #: ``dataframe`` source; never from YAML.
    data: Mapping[str, Any] | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def all_strategies(self) -> tuple[StrategyConfig, ...]:
        """`strategy` and `strategies` together."""
        return ((self.strategy,) if self.strategy is not None else ()) + self.strategies

    def broker_setting(self, key: str, default: Any = None) -> Any:
        """A ``broker:`` key as the selected adapter reads it: from its own section (``broker.paper:``) if set
        there, else from ``broker:`` itself."""
        section = self.broker.get(self.broker.get("adapter", "paper"))
        if isinstance(section, dict) and key in section:
            return section[key]
        return self.broker.get(key, default)

    @property
    def seed(self) -> int | None:
        """The run's seed (``broker.seed``, or the selected adapter's section's), default 42."""
        seed = self.broker_setting("seed", 42)
        return seed if isinstance(seed, int) or seed is None else None

    def resolve(self, path: str | Path) -> Path:
        """`path` relative to the config file's folder."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()

    def error_at(self, path: KeyPath, message: str) -> ConfigError:
        """A `ConfigError` for the key at `path`, reading ``file:line: key.path: message``.

        The line is that of `path` (or its nearest ancestor) in the YAML the config was read from; a config
        built in Python has no lines and names no line."""
        if self.source_lines is not None:
            return self.source_lines.error(path, message)
        return _located(str(self.path) if self.path is not None else "<config>", None, path, message)


#: Config fields that come from where the YAML was read, never from the YAML itself.
_DERIVED = ("path", "base_dir", "text", "source_lines")

for _cls in (ModelsConfig, PricesConfig, StrategyConfig, ReportConfig, Config):
    attrs.resolve_types(_cls)


# -- the converter ---------------------------------------------------------------------------------------------


def _strict(kind: type, label: str) -> Any:
    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise ConfigError(f"expected {label}, got {value!r}")
        if kind is float and isinstance(value, int | float):
            if not math.isfinite(value):
                raise ConfigError(f"expected a finite number, got {value!r}")
            return float(value)
        if not isinstance(value, kind):
            raise ConfigError(f"expected {label}, got {value!r}")
        return value

    return structure


def _mapping(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping (key: value), got {value!r}")
    return dict(value)


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(float, _strict(float, "a number"))
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    converter.register_structure_hook_func(lambda t: t == dict[str, Any], _mapping)
    converter.register_structure_hook(
        StrategyConfig,
        make_dict_structure_fn(
            StrategyConfig, converter, _cattrs_forbid_extra_keys=True, class_=override(rename="class")
        ),
    )
    return converter


_CONVERTER = _converter()

# -- YAML and environment --------------------------------------------------------------------------------------

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


_INTEGER = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
_BOOLEANS = {"true": True, "false": False}
_NULLS = {"null", "Null", "NULL", "~", ""}


def _scalar(text: str) -> Any:
    """An environment value put alone in a YAML value: a number, a boolean, null or else text, read as YAML 1.2
    scalars are (``0123`` is 123, not octal 83) and never as a mapping or list (``{`` and ``@abc`` stay text)."""
    if text.lower() in _BOOLEANS:
        return _BOOLEANS[text.lower()]
    if text in _NULLS:
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text.lower().replace(".inf", "inf").replace(".nan", "nan"))
    return text


def _substitute(value: Any, path: KeyPath, source: SourceLines, env: Mapping[str, str]) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in string values, from `env`. Text is put in as text: a value that is
    only ``${VAR}`` becomes a number, boolean or null if the text reads as one (unless the YAML quoted it)."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise source.error(path, f"environment variable {name} is not set")

        substituted = _ENV.sub(replace, value)
        if substituted != value and _ENV.fullmatch(value) and path not in source.quoted:
            return _scalar(substituted)
        return substituted
    if isinstance(value, dict):
        return {k: _substitute(v, (*path, str(k)), source, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*path, i), source, env) for i, v in enumerate(value)]
    return value


_CATTRS_PATH = re.compile(r"^(?P<message>.*) @ \$(?P<path>.*)$")
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\['([^']*)'\]")


def _first_error(exc: Exception, valid_keys: Callable[[KeyPath], list[str]]) -> tuple[KeyPath, str]:
    """The first structuring error of `exc`: its key path and message (an unknown key named, with the valid keys
    `valid_keys` gives for its mapping and a "did you mean")."""
    messages = cattrs.transform_error(exc, path="$", format_exception=_describe)
    match = _CATTRS_PATH.match(messages[0])
    if match is None:
        return (), messages[0]
    path: list[str | int] = []
    for name, index, key in _PATH_PART.findall(match.group("path")):
        path.append(int(index) if index else ("class" if name == "class_" else name or key))
    message = match.group("message")
    extra = re.match(r"extra fields found \((.*)\)", message)
    if extra:
        names = [n.strip() for n in extra.group(1).split(",")]
        valid = valid_keys(tuple(path))
        first = names[0]
        return (*path, first), f"unknown key {first!r}{did_you_mean(first, valid)}; valid keys: {', '.join(valid)}"
    return tuple(path), message


def _cattrs_errors(exc: Exception, source: SourceLines) -> ConfigError:
    """The first structuring error as a `ConfigError` with its key path, line and the valid keys."""
    path, message = _first_error(exc, _valid_keys)
    return source.error(path, message)


def structure_section(data: Any, cls: type[_T], path: KeyPath) -> _T:
    """`data`, one section of a config (a mapping), as the frozen attrs class `cls`, checked as the config's own
    sections are: unknown keys (with the valid ones), wrong types, literal choices.

    `path` is where the section stands in its parent (``("rules",)`` under ``broker:``). Raises `ConfigError`
    reading ``rules.pdt_check: expected true or false, got 'yes'`` with the key path in its `path`, so the config
    loader can point at the key's line."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{_dotted(path)}: expected a mapping (key: value), got {data!r}", path=path)
    try:
        return _CONVERTER.structure(dict(data), cls)
    except (cattrs.BaseValidationError, cattrs.ForbiddenExtraKeysError) as exc:
        where, message = _first_error(exc, lambda _: [f.name for f in attrs.fields(cls)])  # type: ignore[arg-type]
        full = (*path, *where)
        raise ConfigError(f"{_dotted(full)}: {message}", path=full) from None


def _describe(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, KeyError):
        return "required key missing"
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"extra fields found ({', '.join(sorted(exc.extra_fields))})"
    name = getattr(type_, "__name__", None) or str(type_)
    choices = getattr(type_, "__args__", None)
    if choices and all(isinstance(c, str) for c in choices):
        return f"must be one of {', '.join(choices)}"
    return f"invalid value for {name}: {exc}"


def _section_at(path: KeyPath) -> Any:
    """The config class whose keys are fixed at `path` (list indexes pass through), or None where the keys are
    free-form parameters or unknown."""
    cls: Any = Config
    for part in path:
        if isinstance(part, int):
            continue
        field = attrs.fields_dict(cls).get("class_" if part == "class" else part)
        if field is None:
            return None
        args = getattr(field.type, "__args__", ())
        cls = next((a for a in (field.type, *args) if attrs.has(a)), None)
        if cls is None:
            return None
    return cls


def _valid_keys(path: KeyPath) -> list[str]:
    """The keys the config classes allow at `path`."""
    cls = _section_at(path)
    if cls is None:
        return []
    names = [("class" if f.name == "class_" else f.name) for f in attrs.fields(cls)]
    return [n for n in names if n not in _DERIVED]


# -- loading ---------------------------------------------------------------------------------------------------


def _override_value(text: Any) -> Any:
    """An override's value: a string is read as a YAML value (``5`` is 5, ``true`` True, ``[a, b]`` a list)."""
    if not isinstance(text, str):
        return text
    if not text.strip():
        return text
    try:  # with a config's limits: no alias bomb, no recursive alias, no nesting thousands deep
        return SourceLines("--set", text).data
    except ConfigError as exc:
        if "not valid YAML" in str(exc):
            return text  # plain text, e.g. a title with a colon
        raise


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the config `data` (the YAML as a dict) with each dotted key of `overrides` set to its value.

    ``strategy.params.fast`` sets a nested key (made if missing); a number picks a list item
    (``prices.sources.0.count``) and so does a strategy's name (``strategies.momentum.params.fast``). Keys of the
    config's own sections are checked: an unknown one is a `ConfigError` naming the override and the valid keys
    (with a "did you mean"). String values are read as YAML values. The result is then checked like any YAML."""
    result = copy.deepcopy(dict(data))
    for dotted, value in overrides.items():
        parts = [p for p in str(dotted).split(".")]
        if not dotted or not all(parts):
            raise ConfigError(f"override {dotted!r}: give a dotted key such as strategy.params.fast")
        node: Any = result
        path: list[str | int] = []
        for position, part in enumerate(parts):
            last = position == len(parts) - 1
            where = f"override {dotted}"
            if isinstance(node, list):
                index = _list_index(node, part)
                if index is None:
                    raise ConfigError(
                        f"{where}: {_dotted(tuple(path)) or 'the config'} has no item {part!r} "
                        f"(give 0 to {len(node) - 1} or a strategy's name)"
                    )
                path.append(index)
                if last:
                    node[index] = _override_value(value)
                else:
                    node = node[index]
                continue
            if not isinstance(node, dict):
                raise ConfigError(f"{where}: {_dotted(tuple(path))} is a value, not a section")
            valid = _valid_keys(tuple(path)) if _is_section(tuple(path)) else []
            if valid and part not in valid:
                raise ConfigError(
                    f"{where}: unknown key {part!r}{did_you_mean(part, valid)}; valid keys: {', '.join(valid)}"
                )
            path.append(part)
            if last:
                node[part] = _override_value(value)
            else:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
                node = child
    return result


def _list_index(items: list[Any], part: str) -> int | None:
    """The item of `items` that `part` names: its index, or the item whose ``name`` is `part`."""
    if part.isdigit():
        index = int(part)
        return index if index < len(items) else None
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == part:
            return index
    return None


def _is_section(path: KeyPath) -> bool:
    """Whether `path` is one of the config's own classes (its keys are fixed), not free-form parameters."""
    return _section_at(path) is not None


def read_config(
    source: str | Path, *, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Config:
    """The `Config` in the YAML file `source`, checked only as far as the YAML goes (keys, types, choices).

    `env` replaces ``os.environ`` for ``${VAR}`` substitution; `overrides` are `apply_overrides`'. Raises
    `ConfigError` naming file, key and line. For the full check (names, parameters, files, strategies) use
    `broker_sim.wiring.load_config`.
    """
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: the config is {size:,} bytes; configs are limited to {MAX_CONFIG_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    return _parse(text, str(path), path.parent.resolve(), path, env, overrides)


def parse_text(
    text: str,
    *,
    base_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Like `read_config`, from YAML text; relative paths are taken from `base_dir` (default: the working dir)."""
    return _parse(text, "<config>", Path(base_dir or Path.cwd()).resolve(), None, env, overrides)


def _parse(
    text: str,
    name: str,
    base_dir: Path,
    path: Path | None,
    env: Mapping[str, str] | None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    source = SourceLines(name, text)
    data = source.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise source.error((), f"the config must be a mapping of sections, got {type(data).__name__}")
    for reserved in _DERIVED:
        if reserved in data:
            raise source.error((reserved,), f"unknown key {reserved!r}; valid keys: {', '.join(_valid_keys(()))}")
    data = _substitute(data, (), source, os.environ if env is None else env)
    if overrides:
        data = apply_overrides(data, overrides)
    place = unencodable_at(data)  # a ${VAR} or --set value (the environment and argv carry undecodable bytes so)
    if place is not None:
        raise source.error(
            tuple(
                int(part) if part.isdigit() else part for part in place.replace("[", ".").replace("]", "").split(".")
            ),
            "not valid text: a lone surrogate (an escape such as \\udc00, or bytes that are not UTF-8), which "
            "UTF-8 cannot encode",
        )
    _expand_names(data)
    for section in _SECTIONS:
        if section in data and data[section] is None:  # `models:` with nothing under it: the defaults
            del data[section]
    try:
        config = _CONVERTER.structure(data, Config)
    except (cattrs.BaseValidationError, cattrs.ForbiddenExtraKeysError) as exc:
        raise _cattrs_errors(exc, source) from None
    return attrs.evolve(
        config, path=path, base_dir=base_dir, text=yaml.safe_dump(data, sort_keys=False), source_lines=source
    )


#: Sections that may be left empty in YAML (a key with nothing under it), meaning their defaults.
_SECTIONS = ("broker", "models", "prices", "report")


def _expand_names(data: dict[str, Any]) -> None:
    """Let a bare name stand for a model or a source with its defaults: ``latency: none``."""
    models = data.get("models")
    if isinstance(models, dict):
        for kind, spec in models.items():
            if isinstance(spec, str):
                models[kind] = {"model": spec}
    prices = data.get("prices")
    if isinstance(prices, dict) and isinstance(prices.get("sources"), list):
        prices["sources"] = [{"source": s} if isinstance(s, str) else s for s in prices["sources"]]
