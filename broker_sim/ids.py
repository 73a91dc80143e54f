"""Order, client order and execution ids: UUID strings, as Alpaca gives them, drawn from a seeded stream.

Ids come from their own `random.Random`, seeded from the broker's seed, so the same config and seed give the
same ids (and byte-identical reports), and drawing an id never shifts a model's random draws. An account
recovered from a journal `reseed`s from a stream of its own, so ids never repeat after a restart.
"""

from __future__ import annotations

import random

__all__ = ["IdSource"]

#: The version (4) and variant (RFC 4122) bits of a random UUID.
_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48)
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


class IdSource:
    """Random (version 4) UUID strings from a stream seeded by `seed` (None: seeded from the OS)."""

    __slots__ = ("_bits", "issued")

    def __init__(self, seed: int | str | None) -> None:
        self._bits = random.Random(None if seed is None else f"{seed}:ids").getrandbits
        self.issued = 0

    def next(self) -> str:
        """A new UUID string, e.g. ``'0f8fad5b-d9cb-469f-a165-70867728950e'``."""
        self.issued += 1
        text = "%032x" % (self._bits(128) & _VERSION_MASK | _VERSION_BITS)
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def reseed(self, seed: int | str) -> None:
        """Draw from a new stream from now on (after recovery: a stream the ids issued before never came from)."""
        self._bits = random.Random(f"{seed}:ids").getrandbits
