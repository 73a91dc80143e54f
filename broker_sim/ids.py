"""Order, client order and execution ids: UUID strings, as Alpaca gives them, derived from the seed.

Ids come from their own `random.Random`, seeded from the broker's seed, so the same config and seed give the
same ids (and byte-identical reports), and drawing an id never shifts a model's random draws. An account
recovered from a journal `reseed`s with a stream of its own, so ids never repeat after a restart.
"""

from __future__ import annotations

import random
from typing import Final

__all__ = ["IdSource"]

#: The last three hex digits of an id, for each value: an id is its block's prefix plus one of these (three per
#: order: formatting a 12-digit counter each time costs about twice as much).
_LOW_DIGITS: Final = tuple(f"{low:03x}" for low in range(4096))


class IdSource:
    """Ids shaped as version-4 UUID strings: a random head drawn from a stream seeded by `seed` (None: from the
    OS), then a counter in the last twelve hex digits (``f"{head}{issued:012x}"``), so each id is one string
    concatenation: the counter's upper nine digits change once every 4096 ids and are formatted then."""

    __slots__ = ("_head", "_issued", "_prefix")

    def __init__(self, seed: int | str | None) -> None:
        self._head = ""
        self._issued = 0
        self._prefix = ""
        self.reseed(seed)

    @property
    def issued(self) -> int:
        """How many ids this source has given."""
        return self._issued

    def next(self) -> str:
        """A new id, e.g. ``'0f8fad5b-d9cb-469f-a165-000000000001'``."""
        issued = self._issued = self._issued + 1
        low = issued & 0xFFF
        if not low:  # a new block of 4096: its prefix
            self._prefix = f"{self._head}{issued >> 12:09x}"
        return self._prefix + _LOW_DIGITS[low]

    def reseed(self, seed: int | str | None) -> None:
        """Draw a new head from `seed`'s stream: ids from here on never equal the ones issued before (after
        recovery, a head of their own)."""
        bits = random.Random(None if seed is None else f"{seed}:ids").getrandbits(80)
        text = f"{bits:020x}"
        self._head = f"{text[:8]}-{text[8:12]}-4{text[12:15]}-{'89ab'[bits & 3]}{text[16:19]}-"
        self._prefix = f"{self._head}{self._issued >> 12:09x}"
