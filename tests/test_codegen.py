"""Generated code is visible to tracebacks and `inspect`, and generators refuse class features they cannot honour."""

from __future__ import annotations

import inspect
import traceback

import attrs
import pytest

from broker_sim.models import unchecked_constructor
from broker_sim.orders import _make_copier


def test_a_generated_function_shows_its_source_in_a_traceback() -> None:
    copy = _make_copier(("status",))
    assert "twin = new(Order)" in inspect.getsource(copy)
    with pytest.raises(AttributeError) as caught:
        copy(None, "filled")
    text = "".join(traceback.format_exception(caught.value))
    assert "<broker_sim generated copy Order (status)" in text
    assert "set0(twin, order.id)" in text  # the generated line itself, not "<string>"


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
