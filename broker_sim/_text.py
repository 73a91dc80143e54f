"""Text that can be written anywhere. A Python string may hold a lone surrogate (``"\\udc00"``, from a JSON or
YAML escape) that UTF-8 cannot encode: let in, it breaks every later JSON answer, CSV file and journal row that
holds it. Such text is refused where it enters (the order door, the server's bodies and messages, configs),
with the place it came from.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["depth", "encodable", "unencodable_at"]


def encodable(text: str) -> bool:
    """Whether UTF-8 can encode `text` (no lone surrogate). ASCII, the common case, is checked fast."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unencodable_at(value: object, path: str = "") -> str | None:
    """Where in a JSON-like `value` (mappings, lists, strings: keys included) the first string UTF-8 cannot
    encode is, as a dotted path (``"legs[0].client_order_id"``; ``""`` for `value` itself), or None. Walks
    without recursion, so any depth is safe."""
    stack: list[tuple[object, str]] = [(value, path)]
    while stack:
        item, place = stack.pop()
        if isinstance(item, str):
            if not encodable(item):
                return place
        elif isinstance(item, Mapping):
            children = []
            for key, child in item.items():
                where = f"{place}.{key}" if place else str(key)
                if isinstance(key, str) and not encodable(key):
                    return where
                children.append((child, where))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(child, f"{place}[{index}]") for index, child in enumerate(item)]))
    return None


def depth(value: object) -> int:
    """How deeply a JSON-like `value` nests (a scalar: 0, ``[1]``: 1, ``{"a": [1]}``: 2), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, Mapping):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((child, level + 1) for child in item)
    return deepest
