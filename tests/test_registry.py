"""Registry entries given as "module:Class" references: imported only when needed, and a missing optional extra
is a ConfigError that says what to install."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker_sim import ConfigError, PluginError
from broker_sim.registry import Registry

#: A module that cannot be imported, standing for an adapter whose optional extra is not installed.
MISSING = "broker_sim_tests_no_such_module"


@pytest.fixture
def lazy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a fresh importable module defining `Venue(fee=1.0)`, not imported yet."""
    name = f"broker_sim_tests_lazy_{tmp_path.name}"
    source = '''
        class Venue:
            """A venue for tests."""

            def __init__(self, fee: float = 1.0) -> None:
                self.fee = fee
    '''
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_a_reference_is_imported_only_when_its_entry_is_created(lazy_module: str) -> None:
    registry = Registry()
    registry.add("adapter", "venue", f"{lazy_module}:Venue")
    assert lazy_module not in sys.modules
    venue = registry.create("adapter", {"adapter": "venue", "fee": 2.5})
    assert lazy_module in sys.modules
    assert type(venue).__name__ == "Venue" and venue.fee == 2.5


def test_a_reference_gives_its_parameters_and_description_when_listed(lazy_module: str) -> None:
    registry = Registry()
    registry.add("adapter", "venue", f"{lazy_module}:Venue")
    entry = registry.get("adapter", "venue")
    assert [str(p) for p in entry.parameters] == ["fee=1.0"]
    assert entry.description == "A venue for tests."


def test_a_missing_module_behind_an_extra_names_the_extra_to_install() -> None:
    registry = Registry()
    registry.add("adapter", "alpaca", f"{MISSING}:AlpacaBroker", extra="alpaca")
    with pytest.raises(ConfigError) as raised:
        registry.create("adapter", {"adapter": "alpaca"})
    assert str(raised.value) == (
        "adapter 'alpaca' needs the optional extra [alpaca]: pip install 'broker-sim[alpaca]' "
        f"(No module named '{MISSING}')"
    )
    with pytest.raises(ConfigError, match=r"needs the optional extra \[alpaca\]"):
        _ = registry.get("adapter", "alpaca").parameters


def test_a_missing_module_without_an_extra_names_the_reference() -> None:
    registry = Registry()
    registry.add("source", "ticks", f"{MISSING}:Ticks")
    with pytest.raises(ConfigError, match=rf"source 'ticks' cannot be imported from '{MISSING}:Ticks'"):
        registry.create("source", "ticks")


def test_a_reference_to_a_missing_class_blames_the_plugin(lazy_module: str) -> None:
    registry = Registry()
    registry.current_plugin = "my_plugin"
    registry.add("adapter", "venue", f"{lazy_module}:Nowhere")
    with pytest.raises(PluginError, match=rf"plugin my_plugin: adapter 'venue' refers to '{lazy_module}:Nowhere'"):
        registry.create("adapter", "venue")


@pytest.mark.parametrize("factory", ["no_colon", "a:b:c", "mod:", ":Class", "my-mod:Class", 42])
def test_a_factory_that_is_neither_callable_nor_a_reference_is_refused(factory: object) -> None:
    registry = Registry()
    with pytest.raises(ConfigError, match=r"the factory must be a callable or a 'module:Class' reference, got"):
        registry.add("adapter", "venue", factory)  # type: ignore[arg-type]
    assert registry.names("adapter") == []


def test_the_same_reference_may_be_registered_again_but_not_another_under_its_name(lazy_module: str) -> None:
    registry = Registry()
    registry.current_plugin = "first"
    registry.add("adapter", "venue", f"{lazy_module}:Venue")
    registry.add("adapter", "venue", f"{lazy_module}:Venue")
    registry.current_plugin = "second"
    with pytest.raises(ConfigError, match="adapter 'venue' is registered twice: by first and by second"):
        registry.add("adapter", "venue", f"{MISSING}:Venue")
    assert registry.get("adapter", "venue").target == f"{lazy_module}:Venue"
