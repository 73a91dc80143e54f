"""The plugin system through the public API: model selection and its errors, plugin files, wrappers, observers,
the registry, and per-model random streams."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest

from broker_sim import Bar, ConfigError, OrderEvent, OrderStatus, PaperBroker, PluginError, SimulatedClock, hookimpl
from broker_sim.builtin.commission import NoCommission
from broker_sim.builtin.fill import ImmediateFill
from broker_sim.builtin.latency import UniformLatency
from broker_sim.builtin.slippage import FixedBpsSlippage
from broker_sim.plugins import build_registry, create_plugin_manager
from tests.conftest import T0

#: The built-in entries, by kind, that `broker_sim.builtin` registers.
BUILTINS: dict[str, list[str]] = {
    "slippage": ["fixed", "fixed_bps", "none", "spread", "volume_share"],
    "latency": ["constant", "lognormal", "none", "per_action", "uniform"],
    "fill": ["bar", "immediate", "quote", "volume_limited"],
    "commission": ["bps", "fixed", "none", "per_share"],
    "borrow_fee": ["annual_rate", "none"],
    "margin_interest": ["annual_rate", "none"],
    "source": ["alpaca", "arrow", "csv", "dataframe", "synthetic", "websocket"],
    "adapter": ["alpaca", "paper"],
}

#: A third-party slippage model: buys pay, sells give up, `k` bps times the square root of the fill quantity.
SQRT_IMPACT = """
    import math

    import attrs

    from broker_sim import Side, hookimpl


    @attrs.frozen
    class SqrtImpact:
        \"\"\"Impact of k bps per square root of the quantity filled.\"\"\"

        k: float = 10.0

        @hookimpl
        def broker_sim_slippage(self, order, price, market, ctx, quantity):
            move = self.k * math.sqrt(quantity) / 10_000
            return price * (1 + move) if order.side is Side.BUY else price * (1 - move)


    @hookimpl
    def broker_sim_register(registry):
        registry.add("slippage", "sqrt_impact", SqrtImpact)
"""

#: A slippage model that draws from its own random stream, to show it does not shift other models' draws.
NOISY_SLIPPAGE = """
    import attrs

    from broker_sim import hookimpl


    @attrs.frozen
    class Noisy:
        @hookimpl
        def broker_sim_slippage(self, order, price, market, ctx):
            return price * (1 + ctx.rng.random() / 10_000)


    @hookimpl
    def broker_sim_register(registry):
        registry.add("slippage", "noisy", Noisy)
"""

#: An observer that records every order event it hears, and a spot for the test to interleave its own notes.
OBSERVER = """
    from broker_sim import hookimpl

    seen = []


    @hookimpl
    def broker_sim_order_event(event):
        seen.append(("observer", event.type.value, event.order.status.value))
"""


def _write_plugin(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _loaded_module(broker: PaperBroker, path: Path) -> ModuleType:
    """The module a broker loaded from plugin file `path`."""
    for plugin in broker.plugin_manager.get_plugins():
        if isinstance(plugin, ModuleType) and getattr(plugin, "__file__", None) == str(path.resolve()):
            return plugin
    raise AssertionError(f"{path} is not loaded")


def _instant(**kwargs: Any) -> PaperBroker:
    """A broker on a simulated clock at T0 with no latency, so orders fill as they are submitted."""
    kwargs.setdefault("latency", {"model": "none"})
    return PaperBroker(100_000, seed=7, clock=SimulatedClock(T0), **kwargs)


# -- choosing a model by name: every mistake is a ConfigError that says what is valid -------------------------


def test_unknown_model_name_lists_the_valid_names() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown slippage model 'nope' \(did you mean 'none'\?\); valid: fixed, fixed_bps, .*none"
    ):
        PaperBroker(slippage={"model": "nope"})


def test_unknown_latency_model_given_as_a_bare_name_lists_the_valid_names() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown latency model 'slow'; valid: constant, lognormal, none, per_action, uniform"
    ):
        PaperBroker(latency="slow")


def test_missing_model_key_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"slippage: missing 'model'; valid models: fixed, fixed_bps, .*none, spread"):
        PaperBroker(slippage={"bps": 3})


def test_model_name_that_is_not_a_string_raises_config_error() -> None:
    # YAML turns `model: [fixed_bps]` into a list; that is a config mistake, not a crash.
    with pytest.raises(ConfigError, match=r"slippage.*\['fixed_bps'\].*valid.*fixed, fixed_bps, .*none, spread"):
        PaperBroker(slippage={"model": ["fixed_bps"]})


def test_model_spec_that_is_neither_mapping_nor_name_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"slippage must be a mapping .* got 5"):
        PaperBroker(slippage=5)  # type: ignore[arg-type]


def test_unknown_parameter_is_named_and_valid_parameters_listed() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown parameter 'bpz' \(did you mean 'bps'\?\); valid parameters: bps=5\.0"
    ):
        PaperBroker(slippage={"model": "fixed_bps", "bpz": 3})


def test_missing_required_parameter_is_named() -> None:
    with pytest.raises(ConfigError, match=r"slippage model 'fixed': missing parameter 'amount'"):
        PaperBroker(slippage={"model": "fixed"})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, r"bps must be >= 0, got -1"),
        ("abc", r"bps must be a finite number, got 'abc'"),
        (math.nan, r"bps must be a finite number, got nan"),
        (True, r"bps must be a finite number, got True"),
    ],
)
def test_bad_parameter_value_names_the_field_and_the_value(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"slippage model 'fixed_bps': {message}"):
        PaperBroker(slippage={"model": "fixed_bps", "bps": value})


def test_uniform_latency_with_high_below_low_raises() -> None:
    with pytest.raises(ConfigError, match=r"latency model 'uniform': high must be >= low, got low=2\.0 high=1\.0"):
        PaperBroker(latency={"model": "uniform", "low": 2.0, "high": 1.0})


def test_uniform_latency_with_high_below_the_default_low_raises() -> None:
    with pytest.raises(ConfigError, match=r"high must be >= low, got low=0\.5 high=0\.1"):
        PaperBroker(latency={"model": "uniform", "high": 0.1})


def test_default_broker_uses_the_seed_models() -> None:
    models = PaperBroker().models
    assert models["slippage"] == FixedBpsSlippage(bps=5)
    assert models["latency"] == UniformLatency(0.5, 2.0)
    assert models["fill"] == ImmediateFill()
    assert models["commission"] == NoCommission()


# -- plugin files that cannot be loaded ---------------------------------------------------------------------


def test_missing_plugin_file_raises_plugin_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_plugin.py"
    with pytest.raises(PluginError, match=r"plugin file .*no_such_plugin\.py does not exist"):
        PaperBroker(plugins=[str(missing)])


def test_plugin_file_that_raises_on_import_names_the_file_and_the_exception(tmp_path: Path) -> None:
    path = _write_plugin(tmp_path, "broken.py", "raise RuntimeError('no API key set')\n")
    with pytest.raises(PluginError, match=r"broken\.py failed to import: RuntimeError: no API key set"):
        PaperBroker(plugins=[str(path)])


def test_plugin_file_with_a_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = _write_plugin(tmp_path, "typo.py", "def broker_sim_slippage(:\n")
    with pytest.raises(PluginError, match=r"typo\.py failed to import: SyntaxError"):
        PaperBroker(plugins=[str(path)])


def test_plugin_file_with_a_misspelled_hook_raises_plugin_error(tmp_path: Path) -> None:
    source = """
        from broker_sim import hookimpl


        @hookimpl
        def broker_sim_slipage(order, price, market, ctx):
            return price
    """
    path = _write_plugin(tmp_path, "misspelled.py", source)
    with pytest.raises(PluginError, match=r"misspelled\.py.*broker_sim_slipage"):
        PaperBroker(plugins=[str(path)])


def test_plugin_hook_with_an_argument_the_spec_lacks_raises_plugin_error(tmp_path: Path) -> None:
    source = """
        from broker_sim import hookimpl


        @hookimpl
        def broker_sim_slippage(order, px):
            return px
    """
    path = _write_plugin(tmp_path, "bad_args.py", source)
    with pytest.raises(PluginError, match=r"(?s)bad_args\.py.*broker_sim_slippage.*px"):
        PaperBroker(plugins=[str(path)])


def test_plugin_whose_register_hook_raises_is_named(tmp_path: Path) -> None:
    source = """
        from broker_sim import hookimpl


        @hookimpl
        def broker_sim_register(registry):
            raise KeyError("oops")
    """
    path = _write_plugin(tmp_path, "bad_register.py", source)
    with pytest.raises(PluginError, match=r"bad_register\.py: broker_sim_register failed: KeyError"):
        PaperBroker(plugins=[str(path)])


def test_plugin_that_reuses_a_builtin_name_names_both_plugins(tmp_path: Path) -> None:
    source = SQRT_IMPACT.replace('"sqrt_impact"', '"fixed_bps"')
    path = _write_plugin(tmp_path, "clash.py", source)
    with pytest.raises(PluginError, match=r"slippage 'fixed_bps' is registered twice") as raised:
        PaperBroker(plugins=[str(path)])
    assert str(path) in str(raised.value)
    assert "broker_sim.builtin" in str(raised.value)


async def test_model_method_without_hookimpl_still_answers(tmp_path: Path) -> None:
    # Like pytest, any broker_sim_* method is a hook implementation, decorated or not: never silently ignored.
    source = """
        import attrs

        from broker_sim import hookimpl


        @attrs.frozen
        class Undecorated:
            def broker_sim_slippage(self, order, price, market, ctx):
                return price + 100.0


        @hookimpl
        def broker_sim_register(registry):
            registry.add("slippage", "undecorated", Undecorated)
    """
    path = _write_plugin(tmp_path, "undecorated.py", source)
    broker = _instant(plugins=[str(path)], slippage="undecorated")
    order = await broker.buy("AAPL", 1, reference_price=100.0)
    assert order.filled_avg_price == 200.0


def test_model_without_its_kinds_hook_raises_config_error(tmp_path: Path) -> None:
    source = """
        import attrs

        from broker_sim import hookimpl


        @attrs.frozen
        class NotASlippage:
            pass


        @hookimpl
        def broker_sim_register(registry):
            registry.add("slippage", "hollow", NotASlippage)
    """
    path = _write_plugin(tmp_path, "hollow.py", source)
    with pytest.raises(ConfigError, match=r"slippage model 'hollow' does not implement the broker_sim_slippage hook"):
        PaperBroker(plugins=[str(path)], slippage="hollow")


def test_undecorated_misspelled_hook_is_refused(tmp_path: Path) -> None:
    path = _write_plugin(tmp_path, "typo.py", "def broker_sim_slipage(order, price, market, ctx):\n    return price\n")
    with pytest.raises(PluginError, match=r"typo\.py"):
        PaperBroker(plugins=[str(path)])


# -- plugin files that provide or adjust a model --------------------------------------------------------------


async def test_plugin_model_selected_by_name_sets_fill_prices_by_its_formula(tmp_path: Path) -> None:
    path = _write_plugin(tmp_path, "sqrt_impact.py", SQRT_IMPACT)
    broker = _instant(plugins=[str(path)], slippage={"model": "sqrt_impact", "k": 20.0})
    buy = await broker.buy("AAPL", 16, reference_price=100.0)
    sell = await broker.sell("AAPL", 9, reference_price=100.0)
    assert buy.status is OrderStatus.FILLED
    assert buy.filled_avg_price == pytest.approx(100.0 * (1 + 20.0 * 4 / 10_000), rel=1e-12)
    assert sell.filled_avg_price == pytest.approx(100.0 * (1 - 20.0 * 3 / 10_000), rel=1e-12)


async def test_plugin_model_uses_its_own_default_parameter(tmp_path: Path) -> None:
    path = _write_plugin(tmp_path, "sqrt_impact.py", SQRT_IMPACT)
    broker = _instant(plugins=[str(path)], slippage="sqrt_impact")
    order = await broker.buy("AAPL", 10, reference_price=100.0)
    assert order.filled_avg_price == pytest.approx(100.0 * (1 + 10.0 * math.sqrt(10) / 10_000), rel=1e-12)


def test_unknown_parameter_of_a_plugin_model_lists_its_parameters(tmp_path: Path) -> None:
    path = _write_plugin(tmp_path, "sqrt_impact.py", SQRT_IMPACT)
    with pytest.raises(
        ConfigError, match=r"'sqrt_impact': unknown parameter 'kk' \(did you mean 'k'\?\); valid parameters: k=10\.0"
    ):
        PaperBroker(plugins=[str(path)], slippage={"model": "sqrt_impact", "kk": 1})


async def test_wrapper_plugin_adds_to_the_default_slippage(tmp_path: Path) -> None:
    source = """
        from broker_sim import hookimpl


        @hookimpl(wrapper=True)
        def broker_sim_slippage(order, price, market, ctx):
            result = yield
            return result + 1.0
    """
    path = _write_plugin(tmp_path, "plus_one.py", source)
    broker = PaperBroker(100_000, seed=7, clock=SimulatedClock(T0), plugins=[str(path)])
    order = await broker.buy("AAPL", 10, reference_price=100.0)
    filled = await broker.wait_for(order.id, "filled")
    assert filled.filled_avg_price == pytest.approx(100.05 + 1.0, abs=1e-9)
    assert broker.fills[0].reference_price == 100.0


async def test_tryfirst_plugin_answers_before_the_model_and_none_passes_the_turn(tmp_path: Path) -> None:
    source = """
        from broker_sim import hookimpl


        @hookimpl(tryfirst=True)
        def broker_sim_slippage(order, price, market, ctx):
            return price + 2.0 if order.symbol == "MSFT" else None
    """
    path = _write_plugin(tmp_path, "msft_only.py", source)
    broker = _instant(plugins=[str(path)])
    msft = await broker.buy("MSFT", 10, reference_price=100.0)
    aapl = await broker.buy("AAPL", 10, reference_price=100.0)
    assert msft.filled_avg_price == pytest.approx(102.0, abs=1e-9)
    assert aapl.filled_avg_price == pytest.approx(100.05, abs=1e-9)


async def test_plain_module_level_hook_answers_only_after_the_selected_model(tmp_path: Path) -> None:
    source = """
        from broker_sim import hookimpl


        @hookimpl
        def broker_sim_slippage(order, price, market, ctx):
            return price * 2
    """
    path = _write_plugin(tmp_path, "late.py", source)
    broker = _instant(plugins=[str(path)], slippage={"model": "fixed", "amount": 0.25})
    order = await broker.buy("AAPL", 10, reference_price=100.0)
    assert order.filled_avg_price == pytest.approx(100.25, abs=1e-9)


async def test_same_plugin_file_listed_twice_is_loaded_once(tmp_path: Path) -> None:
    path = _write_plugin(tmp_path, "sqrt_impact.py", SQRT_IMPACT)
    broker = _instant(plugins=[str(path), str(path)], slippage={"model": "sqrt_impact", "k": 20.0})
    order = await broker.buy("AAPL", 4, reference_price=100.0)
    assert order.filled_avg_price == pytest.approx(100.0 * (1 + 20.0 * 2 / 10_000), rel=1e-12)


def test_relative_plugin_path_is_taken_from_base_dir(tmp_path: Path) -> None:
    _write_plugin(tmp_path, "sqrt_impact.py", SQRT_IMPACT)
    manager = create_plugin_manager(["sqrt_impact.py"], base_dir=tmp_path)
    assert "sqrt_impact" in build_registry(manager).names("slippage")


async def test_two_brokers_on_one_plugin_manager_each_fill_with_their_own_models() -> None:
    manager = create_plugin_manager()
    plain = PaperBroker(plugin_manager=manager, clock=SimulatedClock(T0), slippage="none", latency="none")
    costly = PaperBroker(
        plugin_manager=manager,
        clock=SimulatedClock(T0),
        slippage={"model": "fixed", "amount": 1.0},
        latency="none",
    )
    assert (await plain.buy("AAPL", 10, reference_price=100.0)).filled_avg_price == 100.0
    assert (await costly.buy("AAPL", 10, reference_price=100.0)).filled_avg_price == 101.0


# -- observers ----------------------------------------------------------------------------------------------


async def test_order_event_observer_sees_new_accepted_fill_in_order(tmp_path: Path) -> None:
    path = _write_plugin(tmp_path, "observer.py", OBSERVER)
    broker = PaperBroker(100_000, seed=7, clock=SimulatedClock(T0), plugins=[str(path)])
    seen = _loaded_module(broker, path).seen
    order = await broker.buy("AAPL", 10, reference_price=100.0)
    assert seen == [("observer", "pending_new", "pending_new")]
    await broker.wait_for(order.id, "filled")
    assert seen == [
        ("observer", "pending_new", "pending_new"),
        ("observer", "new", "new"),
        ("observer", "fill", "filled"),
    ]


async def test_order_event_observer_hears_each_event_before_the_listeners(tmp_path: Path) -> None:
    path = _write_plugin(tmp_path, "observer.py", OBSERVER)
    broker = _instant(plugins=[str(path)])
    seen = _loaded_module(broker, path).seen

    def listener(event: OrderEvent) -> None:
        seen.append(("listener", event.type.value, event.order.status.value))

    broker.add_listener(listener)
    await broker.buy("AAPL", 10, reference_price=100.0)
    assert [(who, kind) for who, kind, _ in seen] == [
        ("observer", "pending_new"),
        ("listener", "pending_new"),
        ("observer", "new"),
        ("listener", "new"),
        ("observer", "fill"),
        ("listener", "fill"),
    ]


# -- the registry -------------------------------------------------------------------------------------------


def test_registry_lists_every_builtin_by_kind_with_its_plugin() -> None:
    registry = build_registry(create_plugin_manager())
    builtins = [entry for entry in registry.entries() if entry.plugin == "broker_sim.builtin"]
    by_kind: dict[str, list[str]] = {}
    for entry in builtins:
        by_kind.setdefault(entry.kind, []).append(entry.name)
    assert by_kind == BUILTINS
    for kind, names in BUILTINS.items():
        assert set(names) <= set(registry.names(kind))
    assert all(entry.description for entry in builtins)


def test_registry_records_the_plugin_file_that_added_a_model(tmp_path: Path) -> None:
    path = _write_plugin(tmp_path, "sqrt_impact.py", SQRT_IMPACT)
    registry = build_registry(create_plugin_manager([path]))
    entry = registry.get("slippage", "sqrt_impact")
    assert str(path.resolve()) in entry.plugin
    assert entry.description == "Impact of k bps per square root of the quantity filled."
    assert [str(parameter) for parameter in entry.parameters] == ["k=10.0"]


# -- randomness: one stream per model -----------------------------------------------------------------------


async def _fill_times(slippage: dict[str, Any], plugins: Sequence[str] = (), seed: int = 11) -> list[datetime]:
    """When each of six sequential market orders fills under 0.5-2.0 s uniform latency."""
    broker = PaperBroker(
        100_000,
        seed=seed,
        clock=SimulatedClock(T0),
        slippage=slippage,
        latency={"model": "uniform", "low": 0.5, "high": 2.0},
        plugins=plugins,
    )
    times = []
    for _ in range(6):
        order = await broker.buy("AAPL", 1, reference_price=100.0)
        times.append((await broker.wait_for(order.id, "filled")).updated_at)
    return times


async def test_changing_the_slippage_model_does_not_change_the_latency_draws(tmp_path: Path) -> None:
    noisy = _write_plugin(tmp_path, "noisy.py", NOISY_SLIPPAGE)
    without = await _fill_times({"model": "none"})
    assert await _fill_times({"model": "fixed_bps", "bps": 5}) == without
    assert await _fill_times({"model": "noisy"}, plugins=[str(noisy)]) == without
    gaps = {(later - earlier).total_seconds() for earlier, later in zip([T0, *without], without, strict=False)}
    assert len(gaps) == len(without) and all(0.5 <= gap <= 2.0 for gap in gaps)
    assert await _fill_times({"model": "none"}, seed=12) != without


async def test_a_plugin_registered_after_trading_starts_takes_effect_on_the_next_fill() -> None:
    class PlusOne:
        @hookimpl(tryfirst=True)
        def broker_sim_slippage(self, order, price, market, ctx, quantity):  # type: ignore[no-untyped-def]
            return price + 1.0

    broker = _instant()
    first = await broker.buy("AAPL", 10, reference_price=100.0)
    assert first.filled_avg_price == pytest.approx(100.05, abs=1e-9)  # the default 5 bps
    broker.plugin_manager.register(PlusOne())
    second = await broker.buy("AAPL", 10, reference_price=100.0)
    assert second.filled_avg_price == pytest.approx(101.0, abs=1e-9)


async def test_reading_the_deprecated_fill_quantity_warns_and_still_answers(tmp_path: Path) -> None:
    source = """
        from broker_sim import hookimpl


        @hookimpl(tryfirst=True)
        def broker_sim_slippage(order, price, market, ctx):
            return price + ctx.fill_quantity / 100
    """
    broker = _instant(plugins=[str(_write_plugin(tmp_path, "old_style.py", source))])
    with pytest.warns(DeprecationWarning, match=r"ctx.fill_quantity is deprecated; take the hook's `quantity`"):
        order = await broker.buy("AAPL", 10, reference_price=100.0)
    assert order.filled_avg_price == pytest.approx(100.1, abs=1e-9)


# -- a deterministic slippage model is not asked again for the arguments of its estimate ------------------------

#: A slippage model counting what it is asked (`calls`), deterministic when the test says so.
COUNTING_SLIPPAGE = """
    from broker_sim import Side, hookimpl

    calls = []


    class Counting:
        deterministic = {deterministic}

        @hookimpl
        def broker_sim_slippage(self, order, price, market, quantity, estimate):
            calls.append((order.id, price, quantity, estimate))
            return price + 0.25 if order.side is Side.BUY else price - 0.25


    @hookimpl
    def broker_sim_register(registry):
        registry.add("slippage", "counting", Counting)
"""


@pytest.mark.parametrize("deterministic", [True, False])
async def test_a_deterministic_slippage_model_answers_a_fill_at_its_estimate_once(
    tmp_path: Path, deterministic: bool
) -> None:
    path = _write_plugin(tmp_path, "counting.py", COUNTING_SLIPPAGE.format(deterministic=deterministic))
    broker = _instant(slippage={"model": "counting"}, plugins=[str(path)])
    calls = _loaded_module(broker, path).calls
    await broker.update_market(Bar("AAPL", T0, 100.0, 100.0, 100.0, 100.0, 1000.0))
    order = await broker.buy("AAPL", 2)

    assert order.status is OrderStatus.FILLED
    assert order.filled_avg_price == 100.25
    estimate = (order.id, 100.0, 2, True)
    assert calls == ([estimate] if deterministic else [estimate, (order.id, 100.0, 2, False)])


async def test_a_deterministic_slippage_model_is_asked_again_when_a_wrapper_takes_part(tmp_path: Path) -> None:
    wrapper = """
        from broker_sim import hookimpl


        @hookimpl(wrapper=True)
        def broker_sim_slippage(price):
            answer = yield
            return answer + 0.5
    """
    path = _write_plugin(tmp_path, "counting.py", COUNTING_SLIPPAGE.format(deterministic=True))
    wrapping = _write_plugin(tmp_path, "wrapping.py", wrapper)
    broker = _instant(slippage={"model": "counting"}, plugins=[str(path), str(wrapping)])
    calls = _loaded_module(broker, path).calls
    await broker.update_market(Bar("AAPL", T0, 100.0, 100.0, 100.0, 100.0, 1000.0))
    order = await broker.buy("AAPL", 2)

    assert order.filled_avg_price == 100.75
    assert [call[3] for call in calls] == [True, False]


# -- a model may declare the one answer its hook always gives -----------------------------------------------------


def test_a_declared_constant_answer_counts_only_for_the_class_that_defines_the_implementation() -> None:
    from broker_sim.adapters.paper.model_set import constant_answer
    from broker_sim.builtin.latency import NoLatency

    assert constant_answer(NoCommission(), NoCommission().broker_sim_commission) == 0.0
    assert constant_answer(NoLatency(), NoLatency().broker_sim_latency) == 0.0

    class Flat:
        constant_answer = 1.5

        @hookimpl
        def broker_sim_commission(self, order: Any, fill: Any, ctx: Any) -> float:
            return 1.5

    assert constant_answer(Flat(), Flat().broker_sim_commission) == 1.5

    class Charging(NoCommission):  # overrides the implementation: the parent's promise is not inherited
        @hookimpl
        def broker_sim_commission(self, order: Any, fill: Any, ctx: Any) -> float:
            return 2.0

    assert constant_answer(Charging(), Charging().broker_sim_commission) is None
    assert constant_answer(FixedBpsSlippage(5.0), FixedBpsSlippage(5.0).broker_sim_slippage) is None


def _manager_registering(kind: str, name: str, model: type) -> Any:
    """A plugin manager with the default plugins and one more that registers `model` as the `kind` model `name`."""

    def register(registry: Any) -> None:
        registry.add(kind, name, model)

    plugin = ModuleType(f"{name}_plugin")
    plugin.broker_sim_register = hookimpl(register)  # type: ignore[attr-defined]
    manager = create_plugin_manager()
    manager.register(plugin)
    return manager


async def test_a_subclass_that_overrides_a_constant_model_is_asked() -> None:
    class Charging(NoCommission):
        @hookimpl
        def broker_sim_commission(self, order: Any, fill: Any, ctx: Any) -> float:
            return 2.0

    manager = _manager_registering("commission", "charging", Charging)
    broker = PaperBroker(
        1e6, clock=SimulatedClock(T0), plugin_manager=manager, commission={"model": "charging"}, latency="none"
    )
    await broker.update_market(Bar("ABC", T0, 10.0, 10.0, 10.0, 10.0, 1000))
    order = await broker.buy("ABC", 10)
    assert [f.fee for f in broker.fills if f.order_id == order.id] == [2.0]


@pytest.mark.parametrize("declared", [math.nan, -1.0, math.inf])
async def test_a_declared_constant_answer_that_no_latency_may_be_is_asked_and_named(declared: float) -> None:
    class Broken:
        constant_answer = declared

        @hookimpl
        def broker_sim_latency(self, order: Any, action: Any) -> float:
            return declared

    manager = _manager_registering("latency", "broken", Broken)
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), plugin_manager=manager, latency={"model": "broken"})
    await broker.update_market(Bar("ABC", T0, 10.0, 10.0, 10.0, 10.0, 1000))
    order = await broker.buy("ABC", 10)
    assert order.status is OrderStatus.REJECTED
    assert f"latency model 'broken' returned {declared!r} seconds" in (order.reject_reason or "")
    assert broker.reservations() == {} and broker.fills == []


# -- a model may declare that it draws uniformly: the broker makes that very draw without the call ------------------


def test_a_declared_uniform_draw_counts_only_for_the_class_that_defines_it_and_float_bounds() -> None:
    from broker_sim.adapters.paper.model_set import uniform_draw
    from broker_sim.builtin.latency import ConstantLatency, UniformLatency

    model = UniformLatency(0.5, 2.0)
    assert uniform_draw(model, model.broker_sim_latency) == (0.5, 1.5)
    whole = UniformLatency(1, 3)  # int bounds: asked, so that its own arithmetic decides
    assert uniform_draw(whole, whole.broker_sim_latency) is None
    constant = ConstantLatency(1.0)
    assert uniform_draw(constant, constant.broker_sim_latency) is None

    class Slower(UniformLatency):  # overrides the implementation: the parent's promise is not inherited
        @hookimpl
        def broker_sim_latency(self, order: Any, action: Any, ctx: Any) -> float:
            return 2 * (UniformLatency.broker_sim_latency(self, order, action, ctx) or 0.0)

    slower = Slower(0.5, 2.0)
    assert uniform_draw(slower, slower.broker_sim_latency) is None


async def test_uniform_latency_drawn_by_the_broker_is_the_models_own_draw() -> None:
    from broker_sim.hookspecs import Action, HookContext

    clock = SimulatedClock(T0)
    broker = PaperBroker(1e6, seed=7, clock=clock, latency={"model": "uniform", "low": 0.25, "high": 1.75})
    await broker.update_market(Bar("ABC", T0, 10.0, 10.0, 10.0, 10.0, 1000))
    orders = [await broker.buy("ABC", 1) for _ in range(5)]
    await clock.advance(10)
    filled_at = [(await broker.get_order(order.id)).filled_at for order in orders]
    # The model's own answers, asked with a context seeded as the broker seeds its latency model's.
    model = UniformLatency(0.25, 1.75)
    ctx = HookContext("latency", "uniform", 7, clock.time, lambda: None)  # type: ignore[arg-type,return-value]
    delays = [model.broker_sim_latency(order, Action.SUBMIT, ctx) or 0.0 for order in orders]
    assert filled_at == [datetime.fromtimestamp(T0.timestamp() + delay, UTC) for delay in delays]
    assert len(set(filled_at)) == 5


async def test_a_latency_wrapper_over_the_uniform_model_takes_part_from_the_start_and_once_added(
    tmp_path: Path,
) -> None:
    """The paper broker's own uniform draw stands in for the model only while the model is the hook's one
    implementation: a wrapper given with the broker, or registered after its first order, adds to every delay."""
    source = """
        from broker_sim import hookimpl


        @hookimpl(wrapper=True)
        def broker_sim_latency(order, action, ctx):
            delay = yield
            return delay + 3.0
    """
    path = _write_plugin(tmp_path, "three_more.py", source)
    latency = {"model": "uniform", "low": 0.25, "high": 1.75}

    async def delays(broker: PaperBroker, clock: SimulatedClock, wrap_after: int | None = None) -> list[float]:
        await broker.update_market(Bar("ABC", T0, 10.0, 10.0, 10.0, 10.0, 1000))
        orders = []
        for number in range(4):
            if number == wrap_after:

                class ThreeMore:
                    @hookimpl(wrapper=True)
                    def broker_sim_latency(self, order: Any, action: Any, ctx: Any) -> Any:
                        delay = yield
                        return delay + 3.0

                broker.plugin_manager.register(ThreeMore())
            orders.append(await broker.buy("ABC", 1))
        await clock.advance(60)
        filled = [await broker.get_order(order.id) for order in orders]
        return [(order.filled_at - order.created_at).total_seconds() for order in filled]  # type: ignore[operator]

    plain_clock, wrapped_clock, later_clock = SimulatedClock(T0), SimulatedClock(T0), SimulatedClock(T0)
    plain = await delays(PaperBroker(1e6, seed=7, clock=plain_clock, latency=latency), plain_clock)
    wrapped = await delays(
        PaperBroker(1e6, seed=7, clock=wrapped_clock, latency=latency, plugins=[str(path)]), wrapped_clock
    )
    later = await delays(PaperBroker(1e6, seed=7, clock=later_clock, latency=latency), later_clock, wrap_after=1)
    assert all(0.25 <= delay <= 1.75 for delay in plain)
    assert wrapped == pytest.approx([delay + 3.0 for delay in plain], abs=1e-5)
    assert later == pytest.approx([plain[0]] + [delay + 3.0 for delay in plain[1:]], abs=1e-5)


def test_a_market_fill_at_the_last_price_is_promised_only_by_the_class_that_defines_the_implementation() -> None:
    from broker_sim.adapters.paper.model_set import fills_market_at_last
    from broker_sim.builtin.fill import BarFill, QuoteFill

    immediate = ImmediateFill()
    assert fills_market_at_last(immediate, immediate.broker_sim_fill)
    assert not fills_market_at_last(BarFill(), BarFill().broker_sim_fill)
    assert not fills_market_at_last(QuoteFill(), QuoteFill().broker_sim_fill)

    class Halves(ImmediateFill):  # overrides the implementation: the parent's promise is not inherited
        @hookimpl
        def broker_sim_fill(self, order: Any, market: Any, ctx: Any) -> Any:
            decision = ImmediateFill.broker_sim_fill(self, order, market, ctx)
            return None if decision is None else attrs.evolve(decision, quantity=decision.quantity / 2)

    halves = Halves()
    assert not fills_market_at_last(halves, halves.broker_sim_fill)


async def test_market_orders_filled_without_the_immediate_models_call_fill_at_its_answer() -> None:
    """The venue's own fill of a market order (the immediate model the fill hook's one implementation) is the
    model's answer: the whole order at the bar's close, the quote's price, or the reference price with no data."""
    from broker_sim import OrderRequest, Quote
    from broker_sim.hookspecs import HookContext

    clock = SimulatedClock(T0)
    broker = PaperBroker(1e6, seed=7, clock=clock, latency={"model": "none"}, slippage={"model": "none"})
    # (the bar's prices given as ints: its close is still the price, as the model answers)
    bar, quote = Bar("ABC", T0, 10, 11, 9, 10, 1000), Quote("XYZ", T0, 20.0, 20.5, 100, 100)
    await broker.update_market(bar)
    await broker.update_market(quote)
    orders = [
        await broker.buy("ABC", 3),
        await broker.buy("XYZ", 2),
        await broker.submit_order(OrderRequest("NEW", "buy", 4, reference_price=7.25)),
    ]
    model = ImmediateFill()
    ctx = HookContext("fill", "immediate", 7, clock.time, lambda: None)  # type: ignore[arg-type,return-value]
    # What the model answers for each order as it arrived (nothing filled yet).
    arrived = [attrs.evolve(order, filled_quantity=0.0, filled_avg_price=None) for order in orders]
    answers = [
        model.broker_sim_fill(order, market, ctx) for order, market in zip(arrived, [bar, quote, None], strict=True)
    ]
    assert [(order.filled_quantity, order.filled_avg_price) for order in orders] == [
        (answer.quantity, answer.price) for answer in answers if answer is not None
    ]
    assert [order.filled_avg_price for order in orders] == [10, 20.25, 7.25]


async def test_a_fill_wrapper_over_the_immediate_model_takes_part_from_the_start_and_once_added(tmp_path: Path) -> None:
    """The venue fills a market order itself only while the immediate model is the fill hook's one implementation:
    a wrapper given with the broker, or registered after its first order, changes every fill after."""
    source = """
        import attrs
        from broker_sim import hookimpl


        @hookimpl(wrapper=True)
        def broker_sim_fill(order, market, ctx):
            decision = yield
            return attrs.evolve(decision, price=decision.price + 1.0)
    """
    path = _write_plugin(tmp_path, "one_more.py", source)

    class OneMore:
        @hookimpl(wrapper=True)
        def broker_sim_fill(self, order: Any, market: Any, ctx: Any) -> Any:
            decision = yield
            return attrs.evolve(decision, price=decision.price + 1.0)

    async def prices(broker: PaperBroker, wrap_after: int | None = None) -> list[float | None]:
        await broker.update_market(Bar("ABC", T0, 10.0, 10.0, 10.0, 10.0, 1000))
        filled = []
        for number in range(3):
            if number == wrap_after:
                broker.plugin_manager.register(OneMore())
            filled.append((await broker.buy("ABC", 1)).filled_avg_price)
        return filled

    none = {"model": "none"}
    plain = await prices(PaperBroker(1e6, seed=7, clock=SimulatedClock(T0), latency=none, slippage=none))
    wrapped = await prices(
        PaperBroker(1e6, seed=7, clock=SimulatedClock(T0), latency=none, slippage=none, plugins=[str(path)])
    )
    later = await prices(PaperBroker(1e6, seed=7, clock=SimulatedClock(T0), latency=none, slippage=none), wrap_after=1)
    assert plain == [10.0, 10.0, 10.0]
    assert wrapped == [11.0, 11.0, 11.0]
    assert later == [10.0, 11.0, 11.0]


def test_fixed_basis_points_are_promised_only_by_the_class_that_defines_the_implementation() -> None:
    from broker_sim.adapters.paper.model_set import bps_factor
    from broker_sim.builtin.slippage import FixedAmountSlippage, NoSlippage

    assert bps_factor(FixedBpsSlippage(5.0), FixedBpsSlippage(5.0).broker_sim_slippage) == 5.0 / 10_000.0
    assert bps_factor(FixedBpsSlippage(3), FixedBpsSlippage(3).broker_sim_slippage) == 3 / 10_000.0
    assert bps_factor(NoSlippage(), NoSlippage().broker_sim_slippage) is None
    assert bps_factor(FixedAmountSlippage(0.1), FixedAmountSlippage(0.1).broker_sim_slippage) is None

    class Doubled(FixedBpsSlippage):  # overrides the implementation: the parent's promise is not inherited
        @hookimpl
        def broker_sim_slippage(self, order: Any, price: float, market: Any, ctx: Any) -> float:
            return 2 * (FixedBpsSlippage.broker_sim_slippage(self, order, price, market, ctx) or 0.0)

    assert bps_factor(Doubled(5.0), Doubled(5.0).broker_sim_slippage) is None


@pytest.mark.parametrize("bps", [5.0, 7, 12.5])
async def test_fixed_bps_prices_worked_out_by_the_broker_are_the_models_own_answers(bps: float) -> None:
    from broker_sim.hookspecs import HookContext

    broker = PaperBroker(
        1e6, seed=7, clock=SimulatedClock(T0), latency={"model": "none"}, slippage={"model": "fixed_bps", "bps": bps}
    )
    bar = Bar("ABC", T0, 10.0, 10.0, 10.0, 10.0, 1000)
    await broker.update_market(bar)
    bought, sold = await broker.buy("ABC", 3), await broker.sell("ABC", 3)
    model = FixedBpsSlippage(bps)
    ctx = HookContext("slippage", "fixed_bps", 7, lambda: 0.0, lambda: None)  # type: ignore[arg-type,return-value]
    assert bought.filled_avg_price == model.broker_sim_slippage(bought, 10.0, bar, ctx)
    assert sold.filled_avg_price == model.broker_sim_slippage(sold, 10.0, bar, ctx)
    assert bought.filled_avg_price > 10.0 > sold.filled_avg_price  # type: ignore[operator]


async def test_a_slippage_wrapper_over_fixed_bps_takes_part_once_added() -> None:
    """The broker's own fixed-bps price stands in for the model only while it is the hook's one implementation: a
    wrapper registered after the first order adds to every price after (estimate and execution alike)."""

    class HalfMore:
        @hookimpl(wrapper=True)
        def broker_sim_slippage(self, price: float) -> Any:
            answer = yield
            return answer + 0.5

    broker = PaperBroker(
        1e6, seed=7, clock=SimulatedClock(T0), latency={"model": "none"}, slippage={"model": "fixed_bps", "bps": 10}
    )
    await broker.update_market(Bar("ABC", T0, 10.0, 10.0, 10.0, 10.0, 1000))
    first = await broker.buy("ABC", 1)
    broker.plugin_manager.register(HalfMore())
    second = await broker.buy("ABC", 1)
    assert first.filled_avg_price == 10.0 * (1.0 + 10 / 10_000.0)
    assert second.filled_avg_price == 10.0 * (1.0 + 10 / 10_000.0) + 0.5


async def test_the_immediate_models_market_price_is_its_answer_and_zero_where_the_hook_must_be_asked() -> None:
    """`ModelSet.market_price`: the price the immediate model fills a market order at (a bar's close, a quote's or a
    trade's price, the reference price with no data), and 0.0 (ask the hook) for anything its checks or the
    promise do not cover: no price, a price `fill` would refuse, a limit order, a triggered stop, a wrapper."""
    from broker_sim import OrderRequest, Quote, Trade

    clock = SimulatedClock(T0)
    broker = PaperBroker(1e6, seed=7, clock=clock, latency={"model": "constant", "seconds": 1.0})
    models = broker._venue.models
    market = await broker.submit_order(OrderRequest("ABC", "buy", 3, reference_price=7.25))
    limit = await broker.submit_order(OrderRequest("ABC", "buy", 3, type="limit", limit_price=9.0, reference_price=9.0))
    unpriced = await broker.submit_order(OrderRequest("ABC", "buy", 3, reference_price=7.25))
    unpriced = attrs.evolve(unpriced, reference_price=None)
    bar = Bar("ABC", T0, 10.0, 11.0, 9.0, 10.5, 1000)
    assert models.market_price(market, bar) == 10.5
    assert models.market_price(market, Quote("ABC", T0, 20.0, 20.5, 100, 100)) == 20.25
    assert models.market_price(market, Trade("ABC", T0, 30.5, 10)) == 30.5
    assert models.market_price(market, None) == 7.25
    assert models.market_price(unpriced, None) == 0.0
    for price in (math.nan, 0.0, -1.0, math.inf, True):
        assert models.market_price(attrs.evolve(market, reference_price=price), None) == 0.0
    assert models.market_price(limit, bar) == 0.0
    assert models.market_price(attrs.evolve(market, triggered_at=T0), bar) == 0.0

    class Wrapper:
        @hookimpl(wrapper=True)
        def broker_sim_fill(self) -> Any:
            return (yield)

    broker.plugin_manager.register(Wrapper())
    assert models.market_price(market, bar) == 0.0
    await broker.close()


async def test_the_immediate_models_call_is_saved_only_for_a_market_order_arriving_in_a_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The venue fills a plain market order at `market_price` without calling the fill model: the immediate model,
    counting its calls (its promise kept), is not called for a market order, and is for a limit order."""
    from broker_sim import OrderRequest

    calls: list[str] = []
    original = ImmediateFill.broker_sim_fill

    def broker_sim_fill(self: ImmediateFill, order: Any, market: Any, ctx: Any) -> Any:
        calls.append(order.type.value)
        return original(self, order, market, ctx)

    monkeypatch.setattr(ImmediateFill, "broker_sim_fill", hookimpl(broker_sim_fill))
    broker = PaperBroker(1e6, seed=7, clock=SimulatedClock(T0), latency={"model": "none"})
    await broker.update_market(Bar("ABC", T0, 10.0, 10.0, 10.0, 10.0, 1000))
    bought = await broker.buy("ABC", 2)
    limited = await broker.submit_order(OrderRequest("ABC", "buy", 1, type="limit", limit_price=11.0))
    assert bought.status is OrderStatus.FILLED and bought.filled_avg_price == 10.0 * (1.0 + 5 / 10_000.0)
    assert limited.status is OrderStatus.FILLED
    assert calls == ["limit"]
    await broker.close()


async def test_a_fill_priced_by_the_broker_under_latency_is_the_fixed_bps_models_answer() -> None:
    """With latency, the fill is priced on the bar it arrives on (not the estimate's): the broker's own fixed-bps
    price (`execution_price`) is the model's answer there too."""
    from broker_sim.hookspecs import HookContext

    clock = SimulatedClock(T0)
    latency, slippage = {"model": "constant", "seconds": 30.0}, {"model": "fixed_bps", "bps": 7}
    broker = PaperBroker(1e6, seed=7, clock=clock, latency=latency, slippage=slippage)
    await broker.update_market(Bar("ABC", T0, 10.0, 10.0, 10.0, 10.0, 1000))
    bought = await broker.buy("ABC", 3)
    later = T0 + timedelta(seconds=10)  # (before the order arrives: the fill is priced on this bar)
    await clock.advance_to(later, events_pending=True)
    bar = Bar("ABC", later, 12.5, 12.5, 12.5, 12.5, 1000)
    await broker.update_market(bar)
    await clock.advance_to(T0 + timedelta(seconds=31), events_pending=True)  # it arrives
    filled = await broker.get_order(bought.id)
    ctx = HookContext("slippage", "fixed_bps", 7, lambda: 0.0, lambda: None)  # type: ignore[arg-type,return-value]
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == FixedBpsSlippage(7).broker_sim_slippage(filled, 12.5, bar, ctx)
    assert filled.filled_avg_price != 10.0 * (1.0 + 7 / 10_000.0)
    await broker.close()
