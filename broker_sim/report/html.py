"""report.html: one self-contained page (charts embedded as data URIs, inline CSS, no script, nothing fetched)
with the run's sections, each figure shown as the CLI shows it (percentages, money to the cent) and defined in
one line at the end of the page. The template is ``report.html.j2`` beside this module."""

from __future__ import annotations

import base64
import calendar
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2

from broker_sim.report.metrics import Metrics
from broker_sim.report.tearsheet import DrawdownPeriod, Excursion
from broker_sim.report.trades import ClosedTrade

__all__ = ["DEFINITIONS", "PERCENT", "render_html", "shown"]

#: Figures shown as percentages.
PERCENT = frozenset(
    {
        "total_return",
        "cagr",
        "annual_volatility",
        "max_drawdown",
        "win_rate",
        "time_in_market",
        "benchmark_return",
        "alpha",
        "value_at_risk",
    }
)
#: Figures shown as money (two decimals, thousands separators).
MONEY = frozenset(
    {
        "initial_balance", "final_equity", "pnl", "average_win", "average_loss", "expectancy", "fees",
        "slippage_cost", "realized_pnl", "unrealized_pnl", "traded_value",
    }
)  # fmt: skip

#: Each headline figure in one line (the page ends with these; the README repeats them).
DEFINITIONS: dict[str, str] = {
    "pnl": "final equity - initial balance, after fees",
    "total_return": "final equity / initial balance - 1",
    "cagr": "compound annual growth rate; only for runs of a year or more (a few days annualised says nothing)",
    "annual_volatility": "stdev of the returns (daily closes; within one day, the samples) x sqrt(periods per year)",
    "sharpe": "mean excess return / its standard deviation x sqrt(periods per year); risk-free rate 0 unless set",
    "sortino": "mean excess return / downside deviation (root mean square of the negative returns) x sqrt(periods)",
    "max_drawdown": "the deepest fall of equity below its running peak",
    "max_drawdown_duration_days": "the longest time from a peak to the sample that regains it (or to the end)",
    "round_trips": "closed trades: a quantity opened and closed by the same strategy in the same symbol, FIFO",
    "win_rate": "round trips whose P&L after their share of fees is > 0, over all round trips",
    "profit_factor": "sum of winning round trips' net P&L / sum of losing ones' (inf: no loss)",
    "average_win": "mean net P&L of the winning round trips (average_loss: of the losing ones)",
    "expectancy": "mean net P&L per round trip",
    "average_holding_hours": "mean time from a round trip's entry fill to its exit fill",
    "time_in_market": "share of equity samples with an open position (equity.csv's gross_exposure is the dollars)",
    "slippage_cost": "sum over fills of |fill price - price before slippage| x quantity",
    "benchmark_return": "the benchmark's buy-and-hold return over the run",
    "alpha": "(mean return - beta x mean benchmark return) x periods per year",
    "beta": "covariance of the returns with the benchmark's / variance of the benchmark's",
    "calmar": "CAGR / |max drawdown|; only with a CAGR (runs of a year or more)",
    "skew": "the skewness of the returns (adjusted Fisher-Pearson, as pandas): > 0, a longer tail of gains",
    "tail_ratio": "|95th percentile return / 5th percentile return|: > 1, the best days outweigh the worst",
    "value_at_risk": "one-period 95 % value at risk, normal: mean + stdev x the 5 % quantile of a standard normal",
    "short samples": "volatility, Sharpe, Sortino, alpha, skew, tail ratio and VaR need 30 returns; below, they "
    "are left out with a note (as CAGR and Calmar below a year)",
    "MAE / MFE": "worst / best unrealized P&L of a round trip while open, at the sampled prices",
}


def shown(name: str, value: Any, notes: Mapping[str, str] | None = None) -> str:
    """A figure as the report and the CLI show it: percentages, money to the cent, NaN as "-" with its note."""
    if isinstance(value, float):
        if math.isnan(value):
            note = (notes or {}).get(name)
            return f"- ({note})" if note else "-"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if name in PERCENT:
            return f"{value:.2%}"
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _money(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.2f}"


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2%}"


def _time(moment: datetime) -> str:
    """A time on the page: UTC to the second, without the offset (the page says UTC once)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell_colour(value: float) -> str:
    """A background for a monthly return: green up, red down, stronger with size (saturating at 10 %)."""
    if math.isnan(value):
        return "#ffffff"
    strength = min(abs(value) / 0.10, 1.0)
    shade = int(255 - 110 * strength)
    return f"rgb({shade},255,{shade})" if value >= 0 else f"rgb(255,{shade},{shade})"


_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_ENV.filters.update(money=_money, percent=_percent, stamp=_time, colour=_cell_colour)
#: The page's template, shipped beside this module (package data).
_TEMPLATE = _ENV.from_string(resources.files("broker_sim.report").joinpath("report.html.j2").read_text("utf-8"))

_HEADLINE = (
    ("initial_balance", "final_equity", "pnl", "total_return", "cagr", "fees", "slippage_cost"),
    ("annual_volatility", "sharpe", "sortino", "calmar", "max_drawdown", "max_drawdown_duration_days"),
    ("skew", "tail_ratio", "value_at_risk", "time_in_market", "returns_count"),
    ("benchmark", "benchmark_return", "alpha", "beta", "orders", "fills", "round_trips"),
)
_TRADE_STATS = (
    "round_trips", "win_rate", "profit_factor", "average_win", "average_loss", "expectancy", "average_holding_hours",
)  # fmt: skip


def render_html(
    *,
    title: str,
    metrics: Metrics,
    charts: Mapping[str, bytes | None],
    monthly: Mapping[int, Mapping[int, float]],
    drawdowns: Sequence[DrawdownPeriod],
    trades: Sequence[ClosedTrade],
    trade_count: int,
    excursions: Sequence[Excursion],
    returns_count: int,
    basis: str,
    config_text: str | None,
    complete: bool,
    reason: str | None,
) -> str:
    """The page, from the figures `report.files` computed."""

    def figure(name: str) -> tuple[str, str]:
        value = getattr(metrics, name)
        if name == "benchmark" and not value:
            return ("benchmark", "none (no prices sampled)")
        if name == "returns_count":
            return (f"{metrics.returns_basis} returns", shown(name, value))
        return (name.replace("_", " "), shown(name, value, metrics.notes))

    stats = [figure(name) for name in _TRADE_STATS]
    if excursions:
        stats.append(("average MAE", _money(sum(x.mae for x in excursions) / len(excursions))))
        stats.append(("average MFE", _money(sum(x.mfe for x in excursions) / len(excursions))))
        best = max(trades, key=lambda t: t.net_pnl)
        worst = min(trades, key=lambda t: t.net_pnl)
        stats.append(("best round trip (net)", f"{_money(best.net_pnl)} ({best.strategy} {best.symbol})"))
        stats.append(("worst round trip (net)", f"{_money(worst.net_pnl)} ({worst.strategy} {worst.symbol})"))
    return _TEMPLATE.render(
        title=title,
        metrics=metrics,
        period=f"{metrics.start.replace('T', ' ')[:19]} to {metrics.end.replace('T', ' ')[:19]}",
        strategies=[name for name in metrics.by_strategy if name] or [""],
        headline=[[figure(name) for name in block] for block in _HEADLINE],
        charts={k: base64.b64encode(v).decode("ascii") if v else "" for k, v in charts.items()},
        month_names=[calendar.month_abbr[m] for m in range(1, 13)],
        monthly=monthly,
        drawdowns=drawdowns,
        breakdowns=[("By strategy", metrics.by_strategy), ("By symbol", metrics.by_symbol)],
        fmt=lambda name, value: shown(name, value),
        trade_stats=stats,
        trades=list(zip(trades, excursions, strict=True)),
        trade_count=trade_count,
        returns_count=returns_count,
        basis=basis,
        definitions=DEFINITIONS,
        config_text=config_text,
        complete=complete,
        reason=reason,
    )
