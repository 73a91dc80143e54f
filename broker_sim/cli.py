"""The ``broker-sim`` command: a thin shell over `run_simulation`, `load_config` and the plugin registry.

Exit codes: 0 ok; 2 a bad config or bad input (one line naming file, key and line; no traceback); 1 an
internal error (a bug: the traceback is printed).
"""

from __future__ import annotations

import asyncio
import importlib
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from broker_sim.errors import BrokerError, ConfigError, describe_error
from broker_sim.interrupts import RunInterrupted
from broker_sim.plugins import build_registry, create_plugin_manager
from broker_sim.simulation import Result, StrategyError, run_simulation
from broker_sim.wiring import load_config

__all__ = ["app", "main"]

app = typer.Typer(
    name="broker-sim",
    help="Run config-driven trading simulations on the paper broker and read their reports.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

#: Below this many estimated events no progress bar is shown: the run is over before it would matter.
_PROGRESS_MIN_EVENTS = 200_000

ConfigPath = Annotated[Path, typer.Argument(help="The YAML config file.", show_default=False)]


def _fail(exc: BaseException) -> typer.Exit:
    err.print(f"[bold red]error:[/] {describe_error(exc)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


class _RateColumn(ProgressColumn):
    """Events per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} bars/s" if speed else "", style="progress.data.speed")


@app.command()
def run(
    config: ConfigPath,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report folder (default: the config's report.out).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on long runs.")] = True,
) -> None:
    """Run the simulation CONFIG describes, write its report, print a summary."""
    try:
        loaded = load_config(config)
    except BrokerError as exc:
        raise _fail(exc) from None
    started = time.perf_counter()
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task_id = None

    def report(done: int, total: int | None) -> None:
        nonlocal task_id
        if not progress or (total or 0) < _PROGRESS_MIN_EVENTS:
            return
        if task_id is None:
            bar.start()
            task_id = bar.add_task(config.name, total=total)
        bar.update(task_id, completed=done, total=max(total or done, done))

    try:
        result = run_simulation(loaded, out=out_dir, progress=report)
    except RunInterrupted as exc:
        bar.stop()
        err.print(f"[bold yellow]{exc}[/]{_partial(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=exc.exit_code) from None
    except KeyboardInterrupt:
        bar.stop()
        err.print("[bold yellow]interrupted[/]", highlight=False)
        raise typer.Exit(code=130) from None
    except StrategyError as exc:
        bar.stop()
        # The strategy's own bug: its traceback is what its author needs.
        err.print(f"[bold red]error:[/] {exc}{_partial(exc)}", highlight=False, soft_wrap=True)
        if exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        raise typer.Exit(code=1) from None
    except BrokerError as exc:
        bar.stop()
        err.print(f"[bold red]error:[/] {describe_error(exc)}{_partial(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    finally:
        bar.stop()
    _summary(result, time.perf_counter() - started)


def _partial(exc: BaseException) -> str:
    """Where the partial report of a run that stopped early went, as the end of the message line."""
    report_dir = getattr(exc, "report_dir", None)
    return f"; partial report (complete: false) in {report_dir}" if report_dir is not None else ""


def _format(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf"
        return f"{value:,.4f}"
    return str(value)


_PERCENT = {"total_return", "cagr", "annual_volatility", "max_drawdown", "win_rate", "exposure"}
#: A run whose orders were rejected or expired more than this often gets a warning line.
FAILED_ORDERS_WARNING = 0.10


def _warnings(metrics: Any) -> list[str]:
    """What a user must not miss in a summary: most orders failing, or a run without a single fill."""
    warnings = []
    if metrics.orders and metrics.failed_share > FAILED_ORDERS_WARNING:
        by_status = metrics.orders_by_status
        reasons = "; ".join(f"{reason} ({count:,})" for reason, count in metrics.top_reasons[:3])
        warnings.append(
            f"{metrics.failed_share:.0%} of {metrics.orders:,} orders were rejected ({by_status.get('rejected', 0):,}) "
            f"or expired ({by_status.get('expired', 0):,}); top reasons: {reasons or 'none given'}"
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


def _summary(result: Result, elapsed: float) -> None:
    metrics = result.metrics
    table = Table(title=f"{result.config.path.name if result.config.path else 'run'}: summary", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in type(metrics).__attrs_attrs__:
        value = getattr(metrics, name.name)
        if name.name == "orders_by_status":
            shown = ", ".join(f"{status} {count:,}" for status, count in value.items()) or "-"
        elif name.name == "top_reasons":
            shown = "; ".join(f"{reason} ({count:,})" for reason, count in value) or "-"
        elif name.name in _PERCENT and isinstance(value, float) and math.isfinite(value):
            shown = f"{value:.2%}"
        else:
            shown = _format(value)
        table.add_row(name.name.replace("_", " "), shown)
    out.print(table)
    for warning in _warnings(metrics):
        err.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    rate = result.events / elapsed if elapsed > 0 else float("inf")
    out.print(f"{result.events:,} market events in {elapsed:.2f} s ({rate:,.0f}/s)")
    if result.report_dir is not None:
        out.print(f"report: {result.report_dir}")


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
    report. Needs the [serve] extra."""
    try:
        loaded = load_config(config)
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
    except KeyboardInterrupt:
        err.print("[bold yellow]interrupted[/]", highlight=False)
        raise typer.Exit(code=130) from None
    except BrokerError as exc:
        err.print(f"[bold red]error:[/] {describe_error(exc)}{_partial(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
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
def validate(config: ConfigPath) -> None:
    """Check CONFIG without running it: keys, types, names, parameters, files, strategy classes."""
    try:
        loaded = load_config(config)
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
"""A starter strategy: buy when the fast average crosses above the slow one, sell when it crosses below."""

from collections import deque

from broker_sim import Bar, Strategy


class MyStrategy(Strategy):
    def __init__(self, fast: int = 10, slow: int = 30, quantity: float = 100) -> None:
        self.fast, self.slow, self.quantity = fast, slow, quantity
        self.closes: deque[float] = deque(maxlen=slow)
        self.long = False

    async def on_bar(self, bar: Bar) -> None:
        self.closes.append(bar.close)
        if len(self.closes) < self.slow:
            return
        closes = list(self.closes)
        above = sum(closes[-self.fast:]) / self.fast > sum(closes) / self.slow
        if above and not self.long:
            await self.broker.buy(bar.symbol, self.quantity)
            self.long = True
        elif not above and self.long:
            await self.broker.sell(bar.symbol, self.quantity)
            self.long = False
'''


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
