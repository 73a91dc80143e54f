"""Order, client order and execution ids: UUID strings, as Alpaca gives them, derived from the seed.

Ids come from their own `random.Random`, seeded from the broker's seed, so the same config and seed give the
same ids (and byte-identical reports), and drawing an id never shifts a model's random draws. An account
recovered from a journal `reseed`s with a stream of its own, so ids never repeat after a restart.
"""

from __future__ import annotations

import random

__all__ = ["IdSource"]


class IdSource:
    """Ids shaped as version-4 UUID strings: a random head drawn from a stream seeded by `seed` (None: from the
    OS), then a counter in the last twelve hex digits, so each id costs one string format."""

    __slots__ = ("_head", "issued")

    def __init__(self, seed: int | str | None) -> None:
        self._head = ""
        self.issued = 0
        self.reseed(seed)

    def next(self) -> str:
        """A new id, e.g. ``'0f8fad5b-d9cb-469f-a165-000000000001'``."""
        self.issued += 1
        return f"{self._head}{self.issued:012x}"

    def reseed(self, seed: int | str | None) -> None:
        """Draw a new head from `seed`'s stream: ids from here on never equal the ones issued before (after
        recovery, a head of their own)."""
        bits = random.Random(None if seed is None else f"{seed}:ids").getrandbits(80)
        text = f"{bits:020x}"
        self._head = f"{text[:8]}-{text[8:12]}-4{text[12:15]}-{'89ab'[bits & 3]}{text[16:19]}-"
