"""Generated code is visible to tracebacks and `inspect`, and generators refuse class features they cannot honour."""

from __future__ import annotations

import inspect
import traceback
from datetime import UTC, datetime

import attrs
import pytest

from broker_sim._codegen import writable_twin
from broker_sim.models import Order, OrderStatus, OrderType, Side, TimeInForce, install_fast_init, unchecked_constructor
from broker_sim.orders import _make_copier


def test_a_generated_function_shows_its_source_in_a_traceback() -> None:
    copy = _make_copier(("status",))
    assert "twin = Writable()" in inspect.getsource(copy)
    with pytest.raises(AttributeError) as caught:
        copy(None, "filled")
    text = "".join(traceback.format_exception(caught.value))
    assert "<broker_sim generated copy Order (status)" in text
    assert "twin.id = order.id" in text  # the generated line itself, not "<string>"


def test_an_unchecked_constructor_refuses_a_factory_default() -> None:
    @attrs.define
    class Basket:
        items: list[str] = attrs.Factory(list)

    with pytest.raises(TypeError, match=r"Basket: field 'items' has a factory default"):
        unchecked_constructor(Basket)


def test_an_unchecked_constructor_refuses_a_converter() -> None:
    @attrs.define
    class Lot:
        quantity: float = attrs.field(converter=float)

    with pytest.raises(TypeError, match=r"Lot: field 'quantity' has a converter"):
        unchecked_constructor(Lot)


def test_an_unchecked_constructor_skips_checks_only_when_told() -> None:
    @attrs.define
    class Price:
        value: float = attrs.field(validator=attrs.validators.gt(0))

        def __attrs_post_init__(self) -> None:
            if self.value > 1e9:
                raise ValueError("too dear")

    with pytest.raises(TypeError, match=r"it checks value, __attrs_post_init__; pass skips_checks=True"):
        unchecked_constructor(Price)
    make = unchecked_constructor(Price, skips_checks=True)
    assert make(-1.0).value == -1.0  # the caller vouched for its values


def test_a_generated_copy_is_a_frozen_order_equal_to_an_evolved_one() -> None:
    when = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    order = Order(
        "o1", "c1", "AAPL", Side.BUY, 2.0, OrderType.MARKET, TimeInForce.DAY, None, None, OrderStatus.NEW, 0.0, None,
        None, when, when,
    )  # fmt: skip
    copy = _make_copier(("status", "filled_quantity"))(order, OrderStatus.FILLED, 2.0)
    evolved = attrs.evolve(order, status=OrderStatus.FILLED, filled_quantity=2.0)
    assert type(copy) is Order
    assert copy == evolved
    assert hash(copy) == hash(evolved)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        copy.status = OrderStatus.NEW  # type: ignore[misc]
    assert order.status is OrderStatus.NEW  # the original is untouched


def test_an_unchecked_constructor_makes_an_object_of_the_class_itself() -> None:
    @attrs.frozen
    class Lot:
        symbol: str
        quantity: float = 1.0

    lot = unchecked_constructor(Lot)("AAPL")
    assert type(lot) is Lot
    assert lot == Lot("AAPL", 1.0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        lot.quantity = 2.0  # type: ignore[misc]


def test_a_writable_twin_refuses_a_class_without_slots() -> None:
    @attrs.define(slots=False)
    class Loose:
        symbol: str

    with pytest.raises(TypeError, match=r"cannot make a writable twin of Loose: it is not a slotted class"):
        writable_twin(Loose)


def test_a_writable_twin_refuses_a_class_with_its_own_new() -> None:
    @attrs.frozen
    class Interned:
        symbol: str

        def __new__(cls, symbol: str) -> Interned:
            return super().__new__(cls)

    with pytest.raises(TypeError, match=r"cannot make a writable twin of Interned: it has a __new__ of its own"):
        writable_twin(Interned)


def test_a_writable_twin_called_makes_an_empty_object_to_fill() -> None:
    twin = writable_twin(Order)
    empty = twin()
    assert empty.__class__ is twin
    with pytest.raises(AttributeError):
        empty.id  # noqa: B018 (nothing is stored yet: no __init__ ran)


def test_a_fast_init_builds_what_attrs_init_builds() -> None:
    @attrs.frozen
    class Lot:
        symbol: str
        side: Side = attrs.field(converter=Side)
        quantity: float = 1.0

        def __attrs_post_init__(self) -> None:
            if self.quantity <= 0:
                raise ValueError(f"quantity must be > 0, got {self.quantity}")

    built_by_attrs = Lot("AAPL", "sell", 2.0)
    install_fast_init(Lot)
    fast = Lot("AAPL", "sell", quantity=2.0)
    assert type(fast) is Lot
    assert fast == built_by_attrs
    assert Lot("AAPL", Side.BUY).quantity == 1.0  # the default
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.quantity = 3.0  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"quantity must be > 0, got -1"):
        Lot("AAPL", "buy", -1.0)  # the post-init check still runs

    class Odd(Lot):
        """A subclass: built by attrs' own __init__."""

    assert type(Odd("AAPL", "buy")) is Odd


def test_a_fast_init_refuses_a_validator() -> None:
    @attrs.frozen
    class Price:
        value: float = attrs.field(validator=attrs.validators.gt(0))

    with pytest.raises(TypeError, match=r"fast __init__ for Price: field 'value' is special"):
        install_fast_init(Price)
    assert Price(1.0).value == 1.0  # left as it was
