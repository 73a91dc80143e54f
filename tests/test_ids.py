"""Ids are version-4 UUID strings: a head drawn from the seed, then a counter in the last twelve hex digits, the
same for the same seed, across the counter's blocks of 4096 and after a reseed."""

from __future__ import annotations

import uuid

from broker_sim.ids import IdSource


def test_ids_are_the_seeds_head_then_the_counter_in_twelve_hex_digits() -> None:
    ids = IdSource(42)
    drawn = [ids.next() for _ in range(10_000)]  # past two block boundaries (4096, 8192)
    head = drawn[0][:24]
    assert drawn == [f"{head}{n:012x}" for n in range(1, 10_001)]
    assert ids.issued == 10_000
    assert uuid.UUID(drawn[-1]).version == 4
    again = IdSource(42)
    assert [again.next() for _ in range(3)] == drawn[:3]  # the same seed, the same ids


def test_a_reseeded_source_goes_on_counting_under_a_new_head() -> None:
    ids = IdSource(7)
    before = [ids.next() for _ in range(4095)]
    ids.reseed("7:recovered")
    after = [ids.next() for _ in range(2)]  # the second crosses into the next block
    assert after[0][:24] != before[0][:24]
    assert after == [f"{after[0][:24]}{n:012x}" for n in (4096, 4097)]
    assert not set(before) & set(after)
