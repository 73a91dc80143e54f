"""attrs validators for model parameters, so a bad YAML value is refused with its name and what is valid."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["boolean", "number"]


def number(*, minimum: float | None = None, above: float | None = None) -> Callable[[Any, Any, Any], None]:
    """A validator: a finite int or float, `>= minimum` and/or `> above` when given."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and attribute.default is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{attribute.name} must be a finite number, got {value!r}")
        if minimum is not None and value < minimum:
            raise ValueError(f"{attribute.name} must be >= {minimum:g}, got {value!r}")
        if above is not None and value <= above:
            raise ValueError(f"{attribute.name} must be > {above:g}, got {value!r}")

    return check


def boolean(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A validator: true or false (YAML's booleans), nothing else: not 1, not ``"yes"`` in quotes."""
    if value.__class__ is not bool:
        raise ValueError(f"{attribute.name} must be true or false, got {value!r}")
