"""Shared fixtures: a fixed start time and paper brokers on the simulated clock."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

#: `make test-compiled`: the folder of the mypyc-compiled copy of the package, which the suite then runs against
#: (first on the path, ahead of the checkout that pytest puts there for the `tests` package).
COMPILED = os.environ.get("BROKER_SIM_COMPILED")
if COMPILED:
    sys.path.insert(0, COMPILED)

from broker_sim import Broker, Fill, OrderEvent, PaperBroker, SimulatedClock  # noqa: E402

if COMPILED:
    import importlib.machinery
    import tomllib

    _listed = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    for _path in _listed["tool"]["broker-sim"]["compiled"]["modules"]:
        _module = __import__(_path.removesuffix(".py").replace("/", "."), fromlist=["_"])
        if not _module.__file__ or not _module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            raise RuntimeError(f"BROKER_SIM_COMPILED is set but {_module.__name__} is {_module.__file__}, not compiled")

#: Whether ``pytest --slow`` asked for the long fuzz, stress and crash loops (CI runs them bounded).
SLOW = os.environ.get("BROKER_SIM_SLOW") == "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="run the long fuzz, stress and crash loops in full")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: needs a long setup (a large client install); runs only with --slow (`make test-slow`)"
    )
    if config.getoption("--slow"):
        os.environ["BROKER_SIM_SLOW"] = "1"  # read by test modules as they are collected
        global SLOW
        SLOW = True


#: The tests that take seconds each (each parametrization; `pytest --durations=60`), longest first. They run first,
#: so that pytest-xdist hands them out while every core still has a queue: a long test collected last would
#: leave one core running it alone at the end while the other idles. A name no longer collected is ignored.
#: Not the Ray sweep: Ray's node, started while both workers start up in a fresh environment (compiling every
#: module they import) on a loaded machine, timed out; it runs in its place, among the sweeps.
LONG_FIRST = (
    "journal/test_crash.py::test_kill_9_at_random_moments_loses_and_duplicates_nothing",
    "journal/test_attribution.py::test_export_keeps_each_fills_strategy_and_a_resumed_runs_report_covers_every_session",
    "test_simulation.py::test_same_config_and_seed_give_byte_identical_trades",
    "acceptance/test_interrupts.py::test_the_same_strategy_bug_exits_1_with_its_traceback_under_run_and_serve",
    "sweeps/test_sweep.py::test_reports_all_writes_every_points_full_report_with_the_config_as_the_user_wrote_it",
    "test_secrets.py::test_a_runs_report_output_and_validate_never_show_the_secret",
    "serve/test_openapi.py::test_schemathesis_finds_no_failure_in_any_operation",
    "adapters/test_paper_state_machine.py::test_paper_broker_state_machine",
    "acceptance/test_report_folders.py::test_an_earlier_report_is_replaced_but_not_once_the_user_added_a_file",
    "acceptance/test_cli_options.py::test_set_and_seed_change_the_run_and_the_title_is_reports",
    "journal/test_checkpoints.py::test_a_full_disk_stops_the_run_keeps_its_records_and_the_journal_opens_once_space_is_freed",
    "journal/test_checkpoints.py::test_kill_9_during_checkpoints_never_refuses_the_journal",
    "test_replay_imports.py::test_a_replay_imports_neither_pandas_nor_the_alpaca_adapter",
    "acceptance/test_cli.py::test_plugin_file_and_example_package_change_fills_as_their_formulas_say",
    "acceptance/test_interrupts.py::test_a_report_replaces_an_earlier_report_whole",
    "report/test_tearsheet.py::test_tearsheet_option_writes_quantstats_page",
    "acceptance/test_interrupts.py::test_a_run_killed_outright_leaves_its_working_folder_and_the_next_run_removes_it",
    "serve/test_text.py::test_fuzzed_text_leaves_the_listings_the_report_and_the_journal_readable",
    "acceptance/test_serve_cli.py::test_serve_refuses_a_taken_port_and_missing_keys",
    "acceptance/test_serve_cli.py::test_serve_trades_then_stops_on_a_signal_and_writes_the_report",
    "sweeps/test_sweep.py::test_a_grid_sweep_gives_one_row_per_point_each_equal_to_a_single_run",
    "serve/test_realtime.py::test_a_live_feed_served_in_real_time_trades_at_the_live_price",
    "acceptance/test_interrupts.py::test_a_signal_stops_a_replay_at_once_with_a_partial_report",
    "acceptance/test_bench_targets.py::test_a_tiny_run_on_the_pure_package_tables_every_target_from_the_benchmarks_reports",
    "sweeps/test_sweep.py::test_the_best_points_report_shows_the_users_config_too",
    "sweeps/test_search.py::test_an_optuna_search_resumes_with_the_trials_it_had",
    "acceptance/test_report_folders.py::test_a_folder_of_earlier_reports_is_refused_and_each_report_kept",
    "serve/test_example_bot.py::test_the_example_bot_fills_as_the_same_rule_run_by_broker_sim",
    "acceptance/test_interrupts.py::test_sys_exit_in_a_strategy_exits_1_from_the_cli_with_a_partial_report",
    "acceptance/test_cli.py::test_every_shipped_config_runs_and_its_report_agrees_with_the_ledger",
    "acceptance/test_report_folders.py::test_account_export_into_a_users_folder_is_refused",
    "test_notebook.py::test_the_example_notebook_runs_top_to_bottom",
    "report/test_attribution.py::test_day23_strategies_add_up_to_the_account_cent_for_cent",
    "test_notebook.py::test_overrides_pick_a_strategy_by_name_and_a_config_path_works",
    "journal/test_cli.py::test_paper_shows_a_live_dashboard_stops_on_ctrl_c_and_sigterm_and_resumes",
    "serve/test_real_clients.py::test_alpaca_trade_api_runs_unchanged",
    "test_notebook.py::test_a_configured_benchmark_symbol_is_bought_and_held",
    "report/test_attribution.py::test_day23_trades_and_orders_csv_name_each_rows_strategy",
    "sweeps/test_ctrl_c.py::test_ctrl_c_keeps_the_finished_points_and_resume_gives_the_uninterrupted_table",
    "test_simulation.py::test_the_report_lists_borrow_fees_margin_calls_and_their_totals",
    "report/test_curve.py::test_the_report_writes_the_same_numbers_as_the_list_based_code",
    "test_notebook.py::test_out_false_writes_nothing_even_when_the_config_names_a_folder",
    "acceptance/test_cli.py::test_a_bad_csv_row_exits_2_with_the_line_number",
    "test_simulation.py::test_report_files_agree_with_the_ledger",
    "acceptance/test_cli.py::test_init_writes_a_config_that_runs",
    "adapters/test_order_class_state_machine.py::test_order_classes_state_machine::runTest",
    "sweeps/test_ctrl_c.py::test_sigterm_to_the_sweep_alone_stops_its_workers_too",
    "test_imports.py::test_each_layer_imported_alone_loads_only_what_it_needs",
)


#: How many modules were loaded when the collector last froze what was alive (`_freeze`).
_FROZEN_AT = [0]


def _freeze() -> None:
    """Moves every object alive now out of the cyclic collector's reach (`gc.freeze`). The report's charts collect
    garbage after each picture (`report.charts.png_bytes`); in a test process each full collection walked every
    imported module's objects again (~0.1 s a chart, about a third of a report's CPU). Objects a test makes are
    collected as before; only the long-lived ones are never looked at again."""
    _FROZEN_AT[0] = len(sys.modules)
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Once collected (the test modules and what they import: ~270,000 objects), freeze them."""
    _freeze()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """After a test that imported modules (matplotlib at its first chart, pandas, Ray...) has been torn down:
    collect its garbage, then freeze what is left, so that the new modules are not walked again either."""
    if len(sys.modules) > _FROZEN_AT[0]:
        gc.collect()
        _freeze()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests in LONG_FIRST first, in its order (the rest keep theirs); without --slow, tests marked ``slow`` are
    deselected (not skipped): `make test` runs the rest."""
    rank = {name: index for index, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("[")[0].removeprefix("tests/"), len(rank)))
    if config.getoption("--slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


#: A Monday, 14:30 UTC (09:30 New York): the regular session is open.
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


@pytest.fixture
def broker(clock: SimulatedClock) -> PaperBroker:
    """The seed's models (5 bps, 0.5-2 s uniform latency) on a simulated clock."""
    return PaperBroker(100_000, seed=7, clock=clock)


@pytest.fixture
def instant(clock: SimulatedClock) -> PaperBroker:
    """5 bps slippage and no latency: every order reaches the venue as it is submitted."""
    return PaperBroker(100_000, seed=7, clock=clock, latency="none")


def collect_fills(broker: Broker) -> list[Fill]:
    """Every fill `broker` reports from now on, collected from its order events (any adapter)."""
    fills: list[Fill] = []

    def on_event(event: OrderEvent) -> None:
        if event.fill is not None:
            fills.append(event.fill)

    broker.add_listener(on_event)
    return fills


@pytest.fixture
def tmpfs() -> Iterator[Callable[..., Path]]:
    """``tmpfs(path, size="2m", read_only=False)`` mounts a small tmpfs at `path` (made if missing) for a full-disk
    or read-only-media test, and unmounts it after; the test is skipped, saying why, where the sandbox lets no
    test mount one (it takes root, and a kernel namespace that allows it)."""
    mounted: list[Path] = []

    def mount(path: Path, size: str = "2m", read_only: bool = False) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root where mounting is allowed): {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)
