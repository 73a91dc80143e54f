"""Market data keeps POSIX seconds and builds its datetime on first use (issue 25), and is still the immutable,
comparable, picklable value the attrs classes were."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import attrs
import pytest

from broker_sim import Bar, InvalidMarketData, Quote, Trade
from broker_sim.journal.schema import _CONVERTER
from broker_sim.models import MarketData, unchecked_bar
from tests.conftest import T0

SECONDS = T0.timestamp()


def lazy_and_eager() -> list[tuple[Any, Any]]:
    """Each kind built from seconds (lazy timestamp) and from a datetime (checked constructor)."""
    return [
        (
            Bar.from_seconds("AAPL", SECONDS, 1.0, 2.0, 0.5, 1.5, 10.0, 60.0),
            Bar("AAPL", T0, 1.0, 2.0, 0.5, 1.5, 10.0, 60.0),
        ),
        (Quote.from_seconds("AAPL", SECONDS, 9.0, 11.0, 5.0, 6.0), Quote("AAPL", T0, 9.0, 11.0, 5.0, 6.0)),
        (Trade.from_seconds("AAPL", SECONDS, 5.0, 3.0), Trade("AAPL", T0, 5.0, 3.0)),
    ]


@pytest.mark.parametrize(("lazy", "eager"), lazy_and_eager())
def test_a_lazy_timestamp_equals_the_eager_one_in_utc(lazy: Any, eager: Any) -> None:
    assert lazy._timestamp is None  # nothing built yet
    assert lazy.timestamp == eager.timestamp == T0
    assert lazy.timestamp.tzinfo is UTC
    assert lazy.timestamp is lazy.timestamp  # built once, then kept
    assert lazy.seconds == eager.seconds == SECONDS
    assert lazy == eager
    assert hash(lazy) == hash(eager)
    assert repr(lazy) == repr(eager)


def test_a_lazy_timestamp_keeps_the_microseconds() -> None:
    stamp = datetime(2026, 3, 2, 14, 30, 0, 123456, tzinfo=UTC)
    bar = Bar.from_seconds("AAPL", stamp.timestamp(), 1.0, 1.0, 1.0, 1.0)
    assert bar.timestamp == stamp
    assert bar.start == stamp


def test_a_checked_bar_keeps_its_time_in_utc_and_seconds() -> None:
    new_york = timezone(timedelta(hours=-5))
    bar = Bar("AAPL", T0.astimezone(new_york), 1.0, 2.0, 0.5, 1.5, interval=60.0)
    assert bar.timestamp.utcoffset() == timedelta(0)
    assert bar.seconds == SECONDS
    assert bar.start == T0 - timedelta(seconds=60)
    assert unchecked_bar("AAPL", T0, 1.0, 2.0, 0.5, 1.5) == Bar("AAPL", T0, 1.0, 2.0, 0.5, 1.5)


@pytest.mark.parametrize(("lazy", "eager"), lazy_and_eager())
@pytest.mark.parametrize("field", ["symbol", "seconds", "timestamp", "_timestamp", "price", "extra"])
def test_market_data_refuses_changes(lazy: Any, eager: Any, field: str) -> None:
    for event in (lazy, eager):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(event, field, 1.0)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            delattr(event, field)
    assert lazy == eager


@pytest.mark.parametrize(("lazy", "eager"), lazy_and_eager())
def test_market_data_pickles_and_copies(lazy: Any, eager: Any) -> None:
    for event in (lazy, eager):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            again = pickle.loads(pickle.dumps(event, protocol))
            assert again == event
            assert type(again) is type(event)
            assert again.seconds == event.seconds
            assert again.timestamp == T0
        assert copy.copy(event) == event
        assert copy.deepcopy(event) == event
    unread = pickle.loads(pickle.dumps(Bar.from_seconds("AAPL", SECONDS, 1.0, 1.0, 1.0, 1.0)))
    assert unread._timestamp is None  # still lazy after the round trip


@pytest.mark.parametrize(("lazy", "eager"), lazy_and_eager())
def test_market_data_answers_attrs_and_cattrs_as_before(lazy: Any, eager: Any) -> None:
    assert attrs.has(type(lazy))
    names = [field.name for field in attrs.fields(type(lazy))]
    assert names[:2] == ["symbol", "timestamp"]
    assert attrs.asdict(lazy) == attrs.asdict(eager)
    assert attrs.asdict(lazy)["timestamp"] == T0
    later = attrs.evolve(lazy, timestamp=T0 + timedelta(minutes=1))
    assert later.seconds == SECONDS + 60
    assert later.symbol == "AAPL"
    row = _CONVERTER.unstructure(lazy, MarketData)
    assert row["type"] == type(lazy).__name__
    assert row["timestamp"] == SECONDS
    assert _CONVERTER.structure(row, cast(Any, MarketData)) == eager


def test_evolve_checks_through_the_public_constructor() -> None:
    bar = Bar.from_seconds("AAPL", SECONDS, 1.0, 2.0, 0.5, 1.5)
    with pytest.raises(InvalidMarketData, match=r"low 3\.0 is above high 2\.0"):
        attrs.evolve(cast(Any, bar), low=3.0)


def test_market_data_matches_by_position() -> None:
    match Bar.from_seconds("AAPL", SECONDS, 1.0, 2.0, 0.5, 1.5):
        case Bar(symbol, timestamp, open_, high, low, close):
            assert (symbol, timestamp, open_, high, low, close) == ("AAPL", T0, 1.0, 2.0, 0.5, 1.5)
        case _:
            pytest.fail("a bar matches Bar(...) by position")


def test_kinds_never_compare_equal() -> None:
    bar = Bar.from_seconds("AAPL", SECONDS, 5.0, 5.0, 5.0, 5.0)
    trade = Trade.from_seconds("AAPL", SECONDS, 5.0)
    assert bar != trade
    assert bar != Bar.from_seconds("AAPL", SECONDS + 1, 5.0, 5.0, 5.0, 5.0)


def test_a_subclass_is_built_by_the_checked_constructor() -> None:
    class Tagged(Bar):
        pass

    bar = Tagged("AAPL", T0, 1.0, 2.0, 0.5, 1.5)
    assert bar.timestamp == T0
    assert bar == Tagged("AAPL", T0, 1.0, 2.0, 0.5, 1.5)
    assert bar != Bar("AAPL", T0, 1.0, 2.0, 0.5, 1.5)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        bar.close = 2.0
