"""The report's files: summary.json, trades.csv, orders.csv, equity.csv, equity.png and a self-contained
report.html (the plot embedded as a data URI, inline CSS, nothing fetched from anywhere).

CSV numbers are written with ``repr`` (shortest round-trip form), so identical runs give byte-identical files.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import jinja2

from broker_sim.errors import ConfigError
from broker_sim.models import Fill, Order
from broker_sim.report.metrics import EquitySample, Metrics, TradeTally, drawdowns
from broker_sim.report.spool import FILL_COLUMNS, ORDER_CSV_COLUMNS, Spool, fill_row, order_row, write_rows

__all__ = ["HTML_TRADES", "check_target", "write_report"]

#: Closed trades shown in report.html's table (trades.csv has every fill); a run keeps no more than these.
HTML_TRADES = 500


def _json_value(value: Any) -> Any:
    """`value` for JSON: NaN and inf as null, attrs classes as objects, tuples as lists, all the way down."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if attrs.has(type(value)):
        return {k: _json_value(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _plot(equity: Sequence[EquitySample], series: list[float], title: str) -> bytes:
    # Imported here, not at the top: matplotlib costs ~0.7 s and ~30 MB, and a run without a report (a notebook,
    # the benchmarks) imports this module but never plots.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 6), dpi=100)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    times = [s.timestamp for s in equity]
    top.plot(times, [s.equity for s in equity], color="#1f5fa8", linewidth=1.2)
    top.set_title(title)
    top.set_ylabel("equity")
    top.grid(alpha=0.3)
    bottom.fill_between(times, [d * 100 for d in series], 0, color="#c0392b", alpha=0.4, step="post")
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td.left, th.left { text-align: left; }
p.incomplete { background: #fde2e1; padding: 0.6rem; border: 1px solid #c0392b; }
pre { background: #f7f7f7; padding: 1rem; overflow-x: auto; } img { max-width: 100%; }
</style></head><body>
<h1>{{ title }}</h1>
{% if not complete %}<p class="incomplete"><strong>Incomplete run:</strong>
{{ reason }}. Everything up to that moment is here.</p>{% endif %}
<img alt="equity and drawdown" src="data:image/png;base64,{{ image }}">
<h2>Metrics</h2>
<table>{% for name, value in metrics %}<tr><th class="left">{{ name }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
{% for heading, rows in breakdowns %}<h2>{{ heading }}</h2>
<table><tr><th class="left">name</th><th>P&amp;L (net)</th><th>realized</th><th>unrealized</th><th>fees</th>
<th>fills</th><th>round trips</th><th>win rate</th><th>profit factor</th></tr>
{% for name, b in rows.items() %}<tr><td class="left">{{ name or "(no strategy)" }}</td>
<td>{{ "{:,.2f}".format(b.pnl) }}</td><td>{{ "{:,.2f}".format(b.realized_pnl) }}</td>
<td>{{ "{:,.2f}".format(b.unrealized_pnl) }}</td><td>{{ "{:,.2f}".format(b.fees) }}</td><td>{{ b.fills }}</td>
<td>{{ b.round_trips }}</td><td>{{ pct(b.win_rate) }}</td><td>{{ num(b.profit_factor) }}</td></tr>{% endfor %}
</table>{% endfor %}
<h2>Closed trades ({{ trade_count }})</h2>
{% if trade_count > trades|length %}<p>The first {{ trades|length }} of {{ trade_count }} are shown;
trades.csv has every fill.</p>{% endif %}
<table><tr><th class="left">symbol</th><th class="left">side</th><th>quantity</th><th class="left">entry</th>
<th class="left">exit</th><th>entry price</th><th>exit price</th><th>P&amp;L</th><th>fees</th></tr>
{% for t in trades %}<tr><td class="left">{{ t.symbol }}</td><td class="left">{{ t.side }}</td>
<td>{{ "%g"|format(t.quantity) }}</td>
<td class="left">{{ t.entry_time.isoformat() }}</td><td class="left">{{ t.exit_time.isoformat() }}</td>
<td>{{ "%.4f"|format(t.entry_price) }}</td><td>{{ "%.4f"|format(t.exit_price) }}</td>
<td>{{ "%.2f"|format(t.pnl) }}</td><td>{{ "%.2f"|format(t.fees) }}</td></tr>{% endfor %}
</table>
{% if config_text %}<h2>Config</h2><pre>{{ config_text }}</pre>{% endif %}
</body></html>
"""
)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else ("inf" if math.isinf(value) else f"{value:,.6g}")
    return str(value)


def check_target(out_dir: str | Path) -> Path:
    """`out_dir` as a report folder, refused with a `ConfigError` before a run if it cannot be one (it is a
    file, or inside one)."""
    target = Path(out_dir)
    for place in (target, *target.parents):
        if place.exists() and not place.is_dir():
            raise ConfigError(f"report folder {target}: {place} is a file, not a folder")
    return target


def _swap_into(staging: Path, target: Path) -> None:
    """Put the finished `staging` folder where `target` is, so `target` is always one whole run: the old folder
    is moved aside first and removed last."""
    aside = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(aside)
    staging.rename(target)
    if aside.exists():
        shutil.rmtree(aside, ignore_errors=True)


def write_report(
    out_dir: str | Path,
    *,
    metrics: Metrics,
    equity: Sequence[EquitySample],
    fills: Iterable[Fill],
    orders: Iterable[Order],
    title: str = "broker-sim report",
    config_text: str | None = None,
    tally: TradeTally | None = None,
    complete: bool = True,
    reason: str | None = None,
) -> dict[str, Path]:
    """Write summary.json, trades.csv, orders.csv, equity.csv, equity.png and report.html into `out_dir`;
    returns their paths by name.

    The files are written into a folder beside `out_dir` and moved into place whole, so an interrupted write
    never leaves a folder that mixes two runs. A run that stopped early passes ``complete=False`` and the
    `reason`: summary.json and the page say so. `tally` (the run's `TradeTally`, keeping `HTML_TRADES` trades)
    saves going through the fills again for the closed-trades table."""
    target = check_target(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    out_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        _write_files(out_dir, metrics, equity, fills, orders, title, config_text, tally, complete, reason)
        _swap_into(out_dir, target)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    return {name: target / path.name for name, path in _paths(target).items()}


def _paths(out_dir: Path) -> dict[str, Path]:
    return {
        name: out_dir / file
        for name, file in (
            ("summary", "summary.json"),
            ("trades", "trades.csv"),
            ("orders", "orders.csv"),
            ("equity", "equity.csv"),
            ("plot", "equity.png"),
            ("html", "report.html"),
        )
    }


def _write_files(
    out_dir: Path,
    metrics: Metrics,
    equity: Sequence[EquitySample],
    fills: Iterable[Fill],
    orders: Iterable[Order],
    title: str,
    config_text: str | None,
    tally: TradeTally | None,
    complete: bool,
    reason: str | None,
) -> None:
    paths = _paths(out_dir)
    summary = {
        "title": title,
        "complete": complete,
        "reason": reason,
        **_json_value(metrics),
    }
    paths["summary"].write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    write_rows(paths["trades"], FILL_COLUMNS, fills.rows() if isinstance(fills, Spool) else map(fill_row, fills))
    write_rows(
        paths["orders"], ORDER_CSV_COLUMNS, orders.rows() if isinstance(orders, Spool) else map(order_row, orders)
    )
    series = drawdowns(equity)
    write_rows(
        paths["equity"],
        ("timestamp", "equity", "gross_exposure", "drawdown"),
        (
            [s.timestamp.isoformat(), repr(s.equity), repr(s.exposure), repr(d)]
            for s, d in zip(equity, series, strict=True)
        ),
    )
    image = _plot(equity, series, title)
    paths["plot"].write_bytes(image)
    if tally is None:
        tally = TradeTally(keep=HTML_TRADES)
        for fill in fills:
            tally.add(fill)
    html = _TEMPLATE.render(
        title=title,
        image=base64.b64encode(image).decode("ascii"),
        metrics=[(k.replace("_", " "), _shown(v)) for k, v in attrs.asdict(metrics).items()],
        breakdowns=[("By strategy", metrics.by_strategy), ("By symbol", metrics.by_symbol)],
        pct=lambda v: "-" if math.isnan(v) else f"{v:.2%}",
        num=_shown,
        trades=tally.trades[:HTML_TRADES],
        trade_count=tally.count,
        config_text=config_text,
        complete=complete,
        reason=reason,
    )
    paths["html"].write_text(html, encoding="utf-8")
