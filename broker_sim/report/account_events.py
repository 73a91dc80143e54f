"""The account's events in the report: account_events.csv (one row per margin call, liquidation, borrow fee and
margin interest charge) and the counts and totals summary.json shows under ``account``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from broker_sim.activities import AccountEvent, AccountEventType

__all__ = ["ACCOUNT_EVENT_COLUMNS", "account_event_row", "account_summary"]

#: account_events.csv's columns.
ACCOUNT_EVENT_COLUMNS = ("timestamp", "type", "amount", "equity", "requirement", "symbol", "description")


def account_event_row(event: AccountEvent) -> list[str]:
    """One account event as account_events.csv writes it (numbers by ``repr``, absent ones empty)."""
    activity = event.activity
    return [
        event.timestamp.isoformat(),
        event.type.value,
        repr(event.amount),
        "" if event.equity is None else repr(event.equity),
        "" if event.requirement is None else repr(event.requirement),
        (activity.symbol or "") if activity is not None else "",
        event.description,
    ]


def account_summary(events: Iterable[AccountEvent]) -> dict[str, Any]:
    """How many margin calls were made, met and liquidated, and what borrow fees and margin interest cost."""
    counts = dict.fromkeys(AccountEventType, 0)
    totals = {AccountEventType.FEE: 0.0, AccountEventType.INTEREST: 0.0}
    for event in events:
        counts[event.type] += 1
        if event.type in totals:
            totals[event.type] += event.amount
    return {
        "margin_calls": counts[AccountEventType.MARGIN_CALL],
        "margin_calls_met": counts[AccountEventType.MARGIN_CALL_MET],
        "liquidations": counts[AccountEventType.LIQUIDATION],
        "borrow_fees": round(totals[AccountEventType.FEE], 2),
        "margin_interest": round(totals[AccountEventType.INTEREST], 2),
    }
