"""Generated functions that debuggers can see: source compiled under a unique file name kept in `linecache`.

The hot path builds a few functions from source (constructors and copiers of value types, CSV row formatters), as
attrs builds its own ``__init__``. Registering the source with `linecache` under a unique name lets tracebacks,
`inspect.getsource` and pdb show the generated lines instead of ``<string>``. The compiled build leaves these
functions interpreted, as measured (CONTRIBUTING, "The compiled build (mypyc)"; `benchmarks/codegen_compiled.py`),
so all of this holds there too.
"""

from __future__ import annotations

import itertools
import linecache
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["compile_function", "plain_fields", "writable_twin"]

_serial = itertools.count(1)
#: Each class's writable twin (`writable_twin`), made once.
_TWINS: dict[type, type] = {}


def compile_function(source: str, name: str, namespace: dict[str, Any], *, purpose: str) -> Callable[..., Any]:
    """Compile `source` (which defines the function `name`) with `namespace` as its globals and return it.

    `purpose` names the generated code in its file name (``<broker_sim generated copy Order #3>``), so a
    traceback says what generated it; the source stays in `linecache` for as long as the function lives."""
    filename = f"<broker_sim generated {purpose} #{next(_serial)}>"
    code = compile(source, filename, "exec")
    exec(code, namespace)
    lines = source.splitlines(keepends=True)
    # attrs' trick: a None mtime marks an entry that linecache.checkcache() must never evict.
    linecache.cache[filename] = (len(source), None, lines, filename)
    function: Callable[..., Any] = namespace[name]
    return function


def plain_fields(cls: Any, *, purpose: str) -> tuple[attrs.Attribute[Any], ...]:
    """The attrs fields of `cls`, refusing what a field-by-field generator cannot honour.

    Generated constructors store each value as given: a factory default would be stored as the `attrs.Factory`
    object itself, and a converter would never run. Raises `TypeError` naming the class and the field."""
    fields = attrs.fields(cls)
    for field in fields:
        feature = "a factory default" if isinstance(field.default, attrs.Factory) else None  # type: ignore[arg-type]
        if field.converter is not None:
            feature = "a converter"
        if feature is not None:
            raise TypeError(f"cannot generate a {purpose} for {cls.__name__}: field {field.name!r} has {feature}")
    return fields


def writable_twin(cls: type) -> type:
    """A subclass of the slotted (frozen) class `cls` with the same layout, whose instances take plain attribute
    stores: generated constructors and copiers fill one field by field, then make it a `cls` by assigning
    ``__class__`` (allowed, the layouts being the same). The finished object is an ordinary, frozen `cls`.

    Why: a frozen attrs class refuses ``obj.field = value``, and setting a slot through its descriptor's
    ``__set__`` costs a call per field (~700 instructions); a plain store into a slot is a specialized bytecode
    (~150), and the order and bar paths build objects of 8 to 35 fields many times. Both ``__setattr__`` and
    ``__delattr__`` must be object's own: they share one type slot, and either one overridden makes every store
    go through a Python-level lookup. Its ``__init__`` is object's own too, so ``twin()`` makes an empty one to
    fill: cheaper than ``object.__new__(twin)``, whose wrapper takes its arguments as a tuple and slices it.
    Raises `TypeError` for a class without ``__slots__``, or with a ``__new__`` of its own (``twin()`` would
    call it)."""
    twin = _TWINS.get(cls)
    if twin is not None:
        return twin
    if "__slots__" not in cls.__dict__ or "__dict__" in cls.__dict__:
        raise TypeError(f"cannot make a writable twin of {cls.__name__}: it is not a slotted class")
    if cls.__new__ is not object.__new__:
        raise TypeError(f"cannot make a writable twin of {cls.__name__}: it has a __new__ of its own")
    namespace = {
        "__slots__": (),
        "__init__": object.__init__,
        "__setattr__": object.__setattr__,
        "__delattr__": object.__delattr__,
        "__module__": cls.__module__,
        "__doc__": f"{cls.__name__} while a generated function fills it (see `broker_sim._codegen.writable_twin`).",
    }
    twin = _TWINS[cls] = type(f"_Writable{cls.__name__}", (cls,), namespace)
    return twin
