"""Alpaca's portfolio history (``GET /v2/account/portfolio/history``) from the served run's equity curve.

The run samples the account's equity every ``report.equity_interval`` (an hour unless the config says less); the
history answers, per `timeframe` bucket of the asked window, the last sample in it, and ends with the equity
now. `base_value` is the equity at the window's start (the last sample before it, or the initial balance);
`profit_loss` and `profit_loss_pct` are measured from it, as Alpaca's are. Reference:
https://docs.alpaca.markets/reference/getaccountportfoliohistory-1
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from broker_sim.report.metrics import EquitySample

from . import query
from .errors import ApiError
from .routing import resource
from .state import Served

__all__ = ["PERIOD", "TIMEFRAMES", "portfolio_history", "routes"]

#: Alpaca's periods: a number of days, weeks, months or years (``A``).
PERIOD = re.compile(r"([1-9][0-9]{0,3})(D|W|M|A)")
_PERIOD_DAYS = {"D": 1, "W": 7, "M": 30, "A": 365}
#: Alpaca's timeframes of a portfolio history, in seconds.
TIMEFRAMES = {"1Min": 60, "5Min": 300, "15Min": 900, "1H": 3600, "1D": 86_400}


def _default_timeframe(span: timedelta) -> str:
    """Alpaca's: 1Min under 7 days, 15Min under 30 days, else 1D."""
    if span < timedelta(days=7):
        return "1Min"
    if span < timedelta(days=30):
        return "15Min"
    return "1D"


def _window(params: Any, now: datetime) -> tuple[datetime, datetime]:
    """The asked window: `start`/`end`, or `period` back from `end` (or `date_end`, or now); a month by default."""
    period = params.get("period")
    if period is not None and not PERIOD.fullmatch(period):
        raise ApiError.invalid(f"period must be a number and one of D, W, M, A (e.g. 1M), got {period!r}")
    start, end = query.moment(params, "start"), query.moment(params, "end")
    date_start, date_end = query.day(params, "date_start"), query.day(params, "date_end")
    if start is None and date_start is not None:  # the older name (alpaca-trade-api sends it)
        start = datetime.combine(date_start, datetime.min.time(), now.tzinfo)
    if end is None:
        end = (
            now if date_end is None else datetime.combine(date_end + timedelta(days=1), datetime.min.time(), now.tzinfo)
        )
    end = min(end, now)  # nothing past the simulated now
    if start is None:
        match = PERIOD.fullmatch(period or "1M")
        assert match is not None
        start = end - timedelta(days=int(match.group(1)) * _PERIOD_DAYS[match.group(2)])
    if start > end:
        raise ApiError.invalid(f"start {start.isoformat()} is after end {end.isoformat()}")
    return start, end


def portfolio_history(
    samples: Sequence[EquitySample], now: datetime, equity_now: float, initial: float, params: Any
) -> dict[str, Any]:
    """The history Alpaca answers for `params`, from the run's equity `samples` and the equity now."""
    start, end = _window(params, now)
    timeframe = params.get("timeframe") or _default_timeframe(end - start)
    if timeframe not in TIMEFRAMES:
        raise ApiError.invalid(f"timeframe must be one of {', '.join(TIMEFRAMES)}; got {timeframe!r}")
    step = TIMEFRAMES[timeframe]
    series = [*samples, EquitySample(now, equity_now, 0.0)] if now <= end else list(samples)
    stamps = [s.timestamp for s in series]
    before = bisect.bisect_left(stamps, start)
    base = series[before - 1].equity if before > 0 else initial
    buckets: dict[int, float] = {}
    for sample in series[before : bisect.bisect_right(stamps, end)]:
        posix = sample.timestamp.timestamp()
        buckets[int(posix // step * step)] = sample.equity  # the last sample in each bucket
    equity = list(buckets.values())
    return {
        "timestamp": list(buckets),
        "equity": equity,
        "profit_loss": [value - base for value in equity],
        "profit_loss_pct": [(value - base) / base if base else 0.0 for value in equity],
        "base_value": base,
        "base_value_asof": start.date().isoformat(),
        "timeframe": timeframe,
        "cashflow": {},
    }


async def get_portfolio_history(request: Request, served: Served) -> Any:
    account = await served.broker.get_account()
    initial = served.broker.settings.initial_balance
    return portfolio_history(served.equity, served.clock.now(), account.equity, initial, request.query_params)


def routes() -> list[Route]:
    """The portfolio history route."""
    return [resource("/v2/account/portfolio/history", {"GET": get_portfolio_history})]
