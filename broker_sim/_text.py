"""Text that can be written anywhere. A Python string may hold a lone surrogate (``"\\udc00"``, from a JSON or
YAML escape) that UTF-8 cannot encode: let in, it breaks every later JSON answer, CSV file and journal row that
holds it. Such text is refused where it enters (the order door, the server's bodies and messages, configs),
with the place it came from.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["encodable", "unencodable_at"]


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
    encode is, as a dotted path (``"legs[0].client_order_id"``; ``""`` for `value` itself), or None."""
    if isinstance(value, str):
        return None if encodable(value) else path
    if isinstance(value, Mapping):
        for key, item in value.items():
            place = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and not encodable(key):
                return place
            found = unencodable_at(item, place)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unencodable_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
