"""The ``broker-sim`` command: a thin shell over `run_simulation`, `load_config` and the plugin registry.

Exit codes, the same for every command (`_stopped`): 0 ok; 2 a bad config or bad input (one line naming file,
key and line; no traceback); 1 a failing strategy (its traceback) or an internal error (a bug: the traceback is
printed); 128 + the signal for a stop asked for (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from broker_sim.cli_data import data_app
from broker_sim.errors import BrokerError, ConfigError, describe_error
from broker_sim.interrupts import RunInterrupted

if TYPE_CHECKING:
    from rich.progress import Progress
    from rich.table import Table

    from broker_sim.simulation import Result

# The engine, the report and the dashboard are imported by the commands that use them: ``broker-sim --help``,
# ``--version`` and a config error answer without loading numpy, pyarrow or jinja (~0.5 s of imports).

__all__ = ["app", "main"]

app = typer.Typer(
    name="broker-sim",
    help="Run config-driven trading simulations on the paper broker and read their reports.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
out = Console()
err = Console(stderr=True)

#: Below this many estimated events no progress bar is shown: the run is over before it would matter.
_PROGRESS_MIN_EVENTS = 200_000

ConfigPath = Annotated[Path, typer.Argument(help="The YAML config file.", show_default=False)]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a config value by dotted key, e.g. strategy.params.fast=5 (repeatable; VALUE read as YAML).",
    ),
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Override broker.seed.")]


def _version(value: bool) -> None:
    if value:
        out.print(f"broker-sim {_installed_version()}", highlight=False)
        raise typer.Exit()


def _installed_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("broker-sim")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run config-driven trading simulations on the paper broker and read their reports."""


def _overrides(sets: list[str] | None, seed: int | None) -> dict[str, str | int]:
    """``--set KEY=VALUE`` and ``--seed`` as `run_simulation` overrides; a malformed one is a `ConfigError`."""
    overrides: dict[str, str | int] = {}
    for item in sets or ():
        key, sign, value = item.partition("=")
        if not sign or not key.strip():
            raise ConfigError(f"--set takes KEY=VALUE (e.g. strategy.params.fast=5), got {item!r}")
        overrides[key.strip()] = value
    if seed is not None:
        overrides["broker.seed"] = seed
    return overrides


def _fail(exc: BaseException) -> typer.Exit:
    err.print(f"[bold red]error:[/] {describe_error(exc)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _progress(title: str, rate: str, *more: str) -> Progress:
    """A transient progress bar on stderr: `title`, the bar, done/total, the rate (`rate` formats the speed, e.g.
    ``"{:,.0f} bars/s"``), the time left, then `more` text columns (``"{task.fields[name]}"``)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Units per second."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(rate.format(speed) if speed else "", style="progress.data.speed")

    columns = (TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeRemainingColumn())
    return Progress(*columns, *(TextColumn(text) for text in more), console=err, transient=True)


@app.command()
def run(
    config: ConfigPath,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report folder (default: the config's report.out).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on long runs.")] = True,
    sets: SetOption = None,
    seed: SeedOption = None,
) -> None:
    """Run the simulation CONFIG describes, write its report, print a summary."""
    from broker_sim.simulation import run_simulation
    from broker_sim.wiring import load_config

    try:
        loaded = load_config(config, overrides=_overrides(sets, seed))
    except BrokerError as exc:
        raise _fail(exc) from None
    started = time.perf_counter()
    bar = _progress("{task.description}", "{:,.0f} bars/s")
    task_id = None

    def report(done: int, total: int | None) -> None:
        nonlocal task_id
        if not progress or (total or 0) < _PROGRESS_MIN_EVENTS:
            return
        if task_id is None:
            bar.start()
            task_id = bar.add_task(config.name, total=total)
        bar.update(task_id, completed=done, total=max(total or done, done))

    def status(message: str) -> None:
        if task_id is not None:
            bar.stop()
        err.print(f"{message} ...", highlight=False, soft_wrap=True)

    try:
        result = run_simulation(loaded, out=out_dir, progress=report, status=status)
    except (BrokerError, KeyboardInterrupt) as exc:
        bar.stop()
        raise _stopped(exc) from None
    finally:
        bar.stop()
    _summary(result, time.perf_counter() - started)


def _stopped(exc: BrokerError | KeyboardInterrupt, after: str = "") -> typer.Exit:
    """Say why a run (`run`, `serve` or `paper`) stopped, and its exit code: one mapping for every command.

    128 + the signal for a stop asked for (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP); 1 and the strategy's traceback
    for a failing strategy (its author's bug); 2 and one line for everything else broker-sim refuses (a bad
    config or data, a report or journal it cannot use). `after` follows the signal's words."""
    if isinstance(exc, RunInterrupted):
        err.print(f"[bold yellow]{exc}[/]{after}{_partial(exc)}", highlight=False, soft_wrap=True)
        return typer.Exit(code=exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        err.print("[bold yellow]interrupted[/]", highlight=False)
        return typer.Exit(code=130)
    from broker_sim.run.dispatch import StrategyError

    if isinstance(exc, StrategyError):
        err.print(f"[bold red]error:[/] {exc}{_partial(exc)}", highlight=False, soft_wrap=True)
        if exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        return typer.Exit(code=1)
    err.print(f"[bold red]error:[/] {describe_error(exc)}{_partial(exc)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _partial(exc: BaseException) -> str:
    """Where the partial report of a run that stopped early went, as the end of the message line."""
    report_dir = getattr(exc, "report_dir", None)
    return f"; partial report (complete: false) in {report_dir}" if report_dir is not None else ""


#: A run whose orders were rejected or expired more than this often gets a warning line.
FAILED_ORDERS_WARNING = 0.10


def _warnings(metrics: Any) -> list[str]:
    """What a user must not miss in a summary: most orders failing, or a run without a single fill."""
    warnings = []
    by_status = metrics.orders_by_status
    refused = by_status.get("refused", 0)
    if (metrics.orders or refused) and metrics.failed_share > FAILED_ORDERS_WARNING:
        reasons = "; ".join(f"{reason} ({count:,})" for reason, count in metrics.top_reasons[:3])
        warnings.append(
            f"{metrics.failed_share:.0%} of {metrics.orders + refused:,} orders were refused ({refused:,}), "
            f"rejected ({by_status.get('rejected', 0):,}) or expired ({by_status.get('expired', 0):,}); "
            f"top reasons: {reasons or 'none given'}"
        )
    if metrics.skipped_rows:
        warnings.append(
            f"{metrics.skipped_rows:,} bad rows of the price data were skipped (each is logged with its line)"
        )
    if metrics.fills == 0:
        warnings.append(
            f"the run made no fill ({metrics.orders:,} orders)"
            + (": check the session, the time in force and the fill model" if metrics.orders else "")
        )
    return warnings


#: Metrics fields the summary shows in their own table, or not at all (the notes go beside the missing figures).
_SHOWN_APART = {"notes", "by_strategy", "by_symbol", "reasons_by_status"}
_BENCHMARK = {"benchmark", "benchmark_return", "alpha", "beta"}


def _title(result: Result) -> str:
    """The run's name in the summary: the config's report.title, else its file name."""
    if result.config is not None and result.config.report.title:
        return result.config.report.title
    return result.config.path.name if result.config is not None and result.config.path else "run"


def _breakdown_table(metrics: Any) -> Table:
    """Net P&L, fees, fills, round trips and win rate per strategy and per symbol."""
    from rich.table import Table

    table = Table(title="by strategy and symbol")
    for column in ("", "P&L (net)", "fees", "fills", "round trips", "win rate"):
        table.add_column(column, justify="left" if not column else "right")
    for kind, rows in (("strategy", metrics.by_strategy), ("symbol", metrics.by_symbol)):
        for name, figures in rows.items():
            table.add_row(
                f"{kind} {name or '(none)'}",
                f"{figures.pnl:,.2f}",
                f"{figures.fees:,.2f}",
                f"{figures.fills:,}",
                f"{figures.round_trips:,}",
                "-" if math.isnan(figures.win_rate) else f"{figures.win_rate:.2%}",
            )
    return table


def _summary(result: Result, elapsed: float) -> None:
    """The run's figures, its breakdown by strategy and symbol, its warnings and where its report went."""
    from rich.table import Table

    from broker_sim.report.html import shown as figure

    metrics = result.metrics
    table = Table(title=f"{_title(result)}: summary", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in type(metrics).__attrs_attrs__:
        value = getattr(metrics, name.name)
        if name.name in _SHOWN_APART or (name.name in _BENCHMARK and not metrics.benchmark):
            continue
        if name.name == "orders_by_status":
            shown = ", ".join(f"{status} {count:,}" for status, count in value.items()) or "-"
        elif name.name == "top_reasons":
            shown = "; ".join(f"{reason} ({count:,})" for reason, count in value) or "-"
        else:
            shown = figure(name.name, value, metrics.notes)
        table.add_row(name.name.replace("_", " "), shown)
    out.print(table)
    if len(metrics.by_strategy) > 1 or len(metrics.by_symbol) > 1:
        out.print(_breakdown_table(metrics))
    for warning in _warnings(metrics):
        err.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    rate = result.events / elapsed if elapsed > 0 else float("inf")
    out.print(f"{result.events:,} market events in {elapsed:.2f} s ({rate:,.0f}/s)")
    if result.report_dir is not None:
        out.print(f"report: {result.report_dir}")


def _sweep_folder(config: Any, given: Path | None) -> Path:
    """Where a sweep writes: --out, else the config's report folder with ``-sweep``, else ``sweep-<name>``."""
    if given is not None:
        return given
    if config.report.out:
        target = config.resolve(config.report.out)
        return target.with_name(f"{target.name}-sweep")
    return Path(f"sweep-{config.path.stem if config.path else 'config'}")


@app.command()
def sweep(
    config: ConfigPath,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            "-g",
            metavar="KEY=VALUES",
            help="A parameter and its values: 5,10,20 or 30:90:10 (ends included) or a YAML list; any --set key "
            "(repeatable; the grid is every combination). With --search optuna: the space to search (LOW:HIGH).",
        ),
    ] = None,
    search: Annotated[str, typer.Option(help="grid (every point) or optuna ([optuna] extra).")] = "grid",
    trials: Annotated[int, typer.Option(help="Points an optuna search runs.")] = 100,
    objective: Annotated[
        str, typer.Option(help="The figure to optimise: sharpe, total_return, calmar, ...")
    ] = "sharpe",
    direction: Annotated[str, typer.Option(help="max or min.")] = "max",
    executor: Annotated[
        str, typer.Option(help="process (every core), serial (this process) or ray ([ray] extra).")
    ] = "process",
    workers: Annotated[int | None, typer.Option(help="Processes (default: every core) or local Ray CPUs.")] = None,
    address: Annotated[
        str | None, typer.Option(help="The Ray cluster: auto or ray://host:10001 (default: a local Ray instance).")
    ] = None,
    walk_forward: Annotated[
        str | None,
        typer.Option("--walk-forward", help="train=6M,test=1M (h, D, W, M, Y) or in bars: train=5000,test=1000."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="The sweep's folder (default: the report folder + -sweep).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Go on with the sweep in --out: finished points are kept.")] = False,
    reports: Annotated[str, typer.Option(help="Full reports for the best point, all points, or none.")] = "best",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    sets: SetOption = None,
    seed: SeedOption = None,
) -> None:
    """Run CONFIG once per point of a grid or a search, on every core or a Ray cluster; write the results table,
    sweep.html, best.yaml and the overfitting statistics. Needs the [sweep] extra (pandas)."""
    import broker_sim
    from broker_sim.wiring import load_config

    shown = _SweepBar() if progress else None
    folder: Path | None = None
    try:
        overrides = _overrides(sets, seed)
        loaded = load_config(config, overrides=overrides)
        folder = _sweep_folder(loaded, out_dir)
        started = time.perf_counter()
        table = broker_sim.sweep(
            loaded,
            grid=grid or [],
            search=search,
            trials=trials,
            objective=objective,
            direction=direction,
            executor=executor,
            workers=workers,
            address=address,
            out=folder,
            resume=resume,
            reports=reports,
            walk_forward=walk_forward,
            overrides=overrides,
            progress=shown,
        )
    except RunInterrupted as exc:
        err.print(
            f"[bold yellow]{exc}[/]: the finished points are kept in {folder}; --resume goes on",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=exc.exit_code) from None
    except KeyboardInterrupt:  # a second Ctrl-C while the sweep was stopping
        err.print(f"[bold yellow]interrupted[/]: the finished points are kept in {folder}", highlight=False)
        raise typer.Exit(code=130) from None
    except BrokerError as exc:
        raise _fail(exc) from None
    finally:
        if shown is not None:
            shown.stop()
    _sweep_summary(table, folder, objective, time.perf_counter() - started)


class _SweepBar:
    """A sweep's progress on stderr: a bar with points/s and the ETA on a terminal; elsewhere (a log, a batch
    job) a line for the first point, then at most one every `_LOG_EVERY_S` seconds, and one for the last."""

    def __init__(self) -> None:
        self.bar: Progress | None = None
        self.task: Any = None
        self.started = time.perf_counter()
        self.logged: float | None = None

    def __call__(self, state: Any) -> None:
        failed = f"{state.failed} failed" if state.failed else ""
        if err.is_terminal:
            if self.bar is None:
                self.bar = _progress("sweep", "{:,.2f} points/s", "{task.fields[failed]}")
                self.bar.start()
                self.task = self.bar.add_task("sweep", total=state.total, failed="")
            self.bar.update(self.task, completed=state.done, total=max(state.total, state.done), failed=failed)
            return
        now = time.perf_counter()
        if self.logged is not None and now - self.logged < _LOG_EVERY_S and state.done < state.total:
            return
        self.logged = now
        elapsed = now - self.started
        rate = state.done / elapsed if elapsed > 0 else math.inf
        left = (state.total - state.done) / rate if rate > 0 else math.inf
        eta = f", about {left:,.0f} s left" if math.isfinite(left) and state.done < state.total else ""
        err.print(
            f"sweep: {state.done:,}/{state.total:,} points{f' ({failed})' if failed else ''}, "
            f"{rate:,.2f} points/s{eta}",
            highlight=False,
            soft_wrap=True,
        )

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


#: Seconds between two progress lines of a sweep whose stderr is not a terminal.
_LOG_EVERY_S = 30.0


def _sweep_summary(table: Any, folder: Path, objective: str, elapsed: float) -> None:
    """The best points, the overfitting figures and where the files are."""
    from rich.table import Table

    from broker_sim.report.html import shown as figure

    summary = table.attrs
    ranked = table.loc[summary["ranking"]]
    keys = [c for c in table.columns if "." in c]
    shown = Table(title=f"best points by {objective}")
    for column in ("point", *(["fold"] if "fold" in table else []), *keys, objective, "total_return", "dsr"):
        shown.add_column(column.rpartition(".")[2], justify="right")
    for row in ranked.head(10).to_dict("records"):
        cells = [row["point"], *([row["fold"]] if "fold" in table else []), *(row[k] for k in keys)]
        best, dsr = figure(objective, float(row[objective])), figure("dsr", float(row["dsr"]))
        figures = [best, f"{row['total_return']:.2%}", dsr]
        shown.add_row(*(str(c) for c in cells), *figures)
    out.print(shown)
    points = summary.get("points", len(table))
    out.print(f"{points:,} points ({summary.get('failed', 0):,} failed) in {elapsed:.1f} s")
    pbo = summary.get("pbo", math.nan)
    note = f" ({summary['pbo_note']})" if summary.get("pbo_note") else ""
    sr0 = summary.get("sr0", math.nan)
    out.print(f"probability of backtest overfitting: {figure('pbo', pbo)}{note}; SR0 {sr0:.4f}")
    walk = summary.get("walk_forward")
    if walk:
        oos = walk["out_of_sample"]
        out.print(
            f"walk-forward {walk['spec']}: {len(walk['folds'])} folds; out of sample: total return "
            f"{oos['total_return']:.2%}, Sharpe {figure('sharpe', oos['sharpe'])}, "
            f"max drawdown {oos['max_drawdown']:.2%}"
        )
    if summary.get("failed"):
        err.print(
            f"[bold yellow]warning:[/] {summary['failed']} points failed: see results.csv (error)", highlight=False
        )
    out.print(f"sweep: {folder} (results.csv, results.parquet, sweep.html, best.yaml, summary.json)")


@app.command()
def serve(
    config: ConfigPath,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000; 0 picks a free one).")] = None,
    speed: Annotated[
        str | None,
        typer.Option(help="Simulated seconds per wall second (default 60), or max: as fast as clients read."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report folder (default: the config's report.out).")
    ] = None,
) -> None:
    """Serve CONFIG's paper broker as an Alpaca-compatible API until Ctrl-C (SIGINT) or SIGTERM, then write the
    report. Needs the \\[serve] extra (pip install 'broker-sim\\[serve]')."""
    import asyncio

    from broker_sim.wiring import load_config

    try:
        loaded = load_config(config, served=True)
        serving = _serve_module()
        settings = serving.ServeSettings.from_config(loaded, env=os.environ, host=host, port=port, speed=speed)
    except BrokerError as exc:
        raise _fail(exc) from None

    def ready(run: Any) -> None:
        where = f"{settings.host}:{run.port}"
        pace = "max" if math.isinf(settings.speed) else f"{settings.speed:g}x"
        err.print(
            f"serving {config.name} on http://{where} (trade_updates ws://{where}/stream, data ws://{where}/v2/iex; "
            f"speed {pace}); Ctrl-C stops and writes the report",
            highlight=False,
            soft_wrap=True,
        )

    started = time.perf_counter()
    try:
        result = asyncio.run(serving.aserve(loaded, settings, out=out_dir, on_ready=ready))
    except (BrokerError, KeyboardInterrupt) as exc:
        raise _stopped(exc) from None
    _summary(result, time.perf_counter() - started)


def _serve_module() -> Any:
    """`broker_sim.serve`, imported when `serve` is run: it needs the optional [serve] extra."""
    try:
        return importlib.import_module("broker_sim.serve")
    except ImportError as exc:
        raise ConfigError(
            f"broker-sim serve needs the [serve] extra ({exc.name or exc} is missing): pip install 'broker-sim[serve]'"
        ) from None


@app.command()
def validate(config: ConfigPath, sets: SetOption = None, seed: SeedOption = None) -> None:
    """Check CONFIG without running it: keys, types, names, parameters, files, strategy classes."""
    from broker_sim.wiring import load_config

    try:
        loaded = load_config(config, overrides=_overrides(sets, seed))
    except BrokerError as exc:
        raise _fail(exc) from None
    strategies = ", ".join(s.class_ for s in loaded.all_strategies) or "none (served to bots)"
    out.print(f"{config}: ok ({len(loaded.prices.sources)} source(s); strategies: {strategies})")


@app.command()
def plugins(
    plugin_file: Annotated[
        list[Path] | None, typer.Option("--plugin", "-p", help="Also load this plugin file.")
    ] = None,
) -> None:
    """List every registered model, price source and adapter, with its parameters and its plugin."""
    from rich.table import Table
    from rich.text import Text

    from broker_sim.plugins import build_registry, create_plugin_manager

    try:
        registry = build_registry(create_plugin_manager(plugin_file or ()))
    except BrokerError as exc:
        raise _fail(exc) from None
    table = Table(title="broker-sim plugins")
    for column in ("kind", "name", "parameters", "plugin", "what"):
        table.add_column(column)
    for entry in registry.entries():
        hidden = {"base_dir", "seed"} if entry.kind == "source" else set()
        try:
            parameters = ", ".join(str(p) for p in entry.parameters if p.name not in hidden)
            description = entry.description
        except ConfigError as exc:  # a lazy entry whose module (or its optional extra) is not importable
            parameters, description = "", str(exc)
        # Text, not markup: a description or a default may hold brackets, e.g. [alpaca].
        table.add_row(*map(Text, (entry.kind, entry.name, parameters or "-", entry.plugin, description)))
    Console(width=max(out.width, 160)).print(table)


STARTER_CONFIG = """\
# A starter config: an SMA crossover on synthetic data through the paper broker.
# Run it: broker-sim run {config}
broker:
  adapter: paper
  initial_balance: 100000
  seed: 42
  session: always                # synthetic bars run around the clock, so does the session
models:
  slippage: {{model: fixed_bps, bps: 5}}
  latency: {{model: uniform, low: 0.5, high: 2.0}}
  fill: {{model: immediate}}
  commission: {{model: none}}
prices:
  clock: simulated
  sources:
    - {{source: synthetic, symbols: [AAPL], interval: 60, count: 2000}}
strategy:
  class: {strategy}:MyStrategy
  params: {{fast: 10, slow: 30, quantity: 100}}
report:
  out: reports/{stem}
"""

STARTER_STRATEGY = '''\
"""A starter strategy: hold `quantity` shares while the fast average is above the slow one, none otherwise."""

from broker_sim import Bar, Strategy
from broker_sim.indicators import SMA, PerSymbol


class MyStrategy(Strategy):
    def __init__(self, fast: int = 10, slow: int = 30, quantity: float = 100) -> None:
        self.quantity = quantity
        self.fast = PerSymbol(lambda: SMA(fast))  # one moving average per symbol, O(1) per bar
        self.slow = PerSymbol(lambda: SMA(slow))

    async def on_bar(self, bar: Bar) -> None:
        fast = self.fast[bar.symbol].update(bar.close)
        slow = self.slow[bar.symbol].update(bar.close)
        if fast is None or slow is None:
            return  # not enough bars yet
        # What this strategy holds and has on its way is kept for it: order the difference to the target, if any.
        order = self.order_target(bar.symbol, self.quantity if fast > slow else 0)
        if order is not None:
            await order
'''


@app.command()
def paper(
    config: ConfigPath,
    speed: Annotated[
        float,
        typer.Option(
            "--speed", help="Play replay sources (synthetic, csv) this many times faster than real time.", min=0.001
        ),
    ] = 1.0,
    dashboard: Annotated[bool, typer.Option(help="Show the live dashboard (off: log lines only).")] = True,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report folder (default: the config's report.out).")
    ] = None,
) -> None:
    """Run a paper-trading session on the real-time clock with a live dashboard, until the sources end or Ctrl-C
    / SIGTERM. With broker.journal the account survives: working orders stay in the journal, and the next
    session on the same journal carries on from them. Live sources (websocket) stream as they come; replay
    sources (synthetic, csv) are played in real time (--speed to hurry them), stamped with the present."""
    import asyncio

    from broker_sim.dashboard import Dashboard
    from broker_sim.simulation import arun_simulation
    from broker_sim.wiring import load_config

    try:
        loaded = load_config(config)
    except BrokerError as exc:
        raise _fail(exc) from None
    journal = loaded.broker_setting("journal") if isinstance(loaded.broker, dict) else None
    if not journal:
        err.print(
            "[bold yellow]warning:[/] no broker.journal in the config: the account is lost when the session stops",
            highlight=False,
        )
    board = Dashboard(out, title=f"paper session: {config.name}" + (f" · journal {journal}" if journal else ""))
    watch = board.attach if dashboard and out.is_terminal else None

    async def session() -> Result:
        try:
            result = await arun_simulation(loaded, out=out_dir, realtime=speed, watch=watch)
        except BaseException as exc:
            await board.stop(f"stopped: {_stop_words(exc)}")
            raise
        await board.stop("finished: the sources ended")
        return result

    started = time.perf_counter()
    try:
        result = asyncio.run(session())
    except (BrokerError, KeyboardInterrupt) as exc:
        raise _stopped(exc, ": the account is in its journal") from None
    _summary(result, time.perf_counter() - started)


def _stop_words(exc: BaseException) -> str:
    if isinstance(exc, RunInterrupted | KeyboardInterrupt):
        return str(exc) or "interrupted"
    return describe_error(exc)


@app.command()
def account(
    journal: Annotated[Path, typer.Argument(help="The account's journal file (broker.journal).", show_default=False)],
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Also write the account's report (CSV/JSON/HTML, as a run's) into this folder."),
    ] = None,
    fills: Annotated[int, typer.Option("--fills", help="How many of the latest fills to list.", min=0)] = 20,
) -> None:
    """Print a paper account from its journal: balance, positions, open orders, latest fills. The file is only
    read; a journal in use by a running session can be read once it stops."""
    from broker_sim.dashboard import AccountView, account_tables, latest
    from broker_sim.journal import read_account
    from broker_sim.report.account import export_account
    from broker_sim.report.target import check_target

    try:
        if export is not None:
            check_target(export)  # refused before anything is read or written
        stored = read_account(journal)
    except BrokerError as exc:
        raise _fail(exc) from None
    ledger = stored.state.ledger
    info = stored.info
    positions = tuple(sorted(ledger.positions(), key=lambda p: p.symbol))
    view = AccountView(
        title=f"account {info.account_id}",
        account=ledger.account(),
        positions=positions,
        orders=tuple(stored.state.open_orders()),
        fills=tuple(latest(stored.fills, fills)),
        status=(
            f"{journal}: {info.changes:,} changes, {len(stored.orders):,} orders, created {info.created_at}, "
            f"schema {info.schema_version}"
        ),
        total_fills=len(stored.fills),
    )
    out.print(account_tables(view))
    for problem in stored.problems:
        err.print(f"[bold yellow]warning:[/] {problem}", highlight=False, soft_wrap=True)
    if export is not None:
        try:
            folder = export_account(stored, export)
        except BrokerError as exc:
            raise _fail(exc) from None
        out.print(f"report: {folder}")


@app.command()
def init(
    config: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("broker-sim.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write a starter config and a starter strategy next to it, ready to run."""
    strategy = config.with_name("my_strategy.py")
    for path in (config, strategy):
        if path.exists() and not force:
            err.print(f"[bold red]error:[/] {path} exists; pass --force to overwrite it", highlight=False)
            raise typer.Exit(code=2)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(STARTER_CONFIG.format(config=config, strategy=strategy.name, stem=config.stem))
    strategy.write_text(STARTER_STRATEGY)
    out.print(f"wrote {config} and {strategy}; run: broker-sim run {config}")


def main() -> None:
    """Entry point for ``python -m broker_sim``."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
