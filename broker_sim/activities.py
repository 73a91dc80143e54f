"""What happens to an account rather than to an order: its non-trade activities (Alpaca's account activities
``FEE`` and ``INT``: a borrow fee on a short, interest on a margin debit) and its account events (those charges,
and margin calls: made at a close, then met or liquidated).

Account events reach `Broker.add_account_listener` callbacks, `Broker.account_events()` iterators and the
`broker_sim_account_event` observers, as order events reach theirs; the run's report lists them. They are the
simulator's own: Alpaca's trade_updates stream has no account events (its activities API has FEE and INT).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

__all__ = ["AccountEvent", "AccountEventType", "Activity", "ActivityType", "charge_event"]


class ActivityType(StrEnum):
    """A non-trade activity's type, as Alpaca names it in ``/v2/account/activities``."""

    #: A fee: the borrow fee of a short position.
    FEE = "FEE"
    #: Interest: on the margin debit balance.
    INT = "INT"


class AccountEventType(StrEnum):
    """What happened to the account."""

    #: At a session close the equity was below the maintenance requirement: a call for the difference.
    MARGIN_CALL = "margin_call"
    #: An open margin call is met: the equity covers the requirement again.
    MARGIN_CALL_MET = "margin_call_met"
    #: An open margin call was not met when due: the venue closes positions (each order announced by a
    #: ``margin_call`` order event).
    LIQUIDATION = "liquidation"
    #: A borrow fee was charged (a ``FEE`` activity).
    FEE = "fee"
    #: Margin interest was charged (an ``INT`` activity).
    INTEREST = "interest"


@attrs.frozen(slots=True)
class Activity:
    """A non-trade activity booked to cash: `amount` (> 0, rounded to the cent) was charged at `timestamp` for
    the session dated `date` (``YYYY-MM-DD``, the exchange's date); `symbol` names the short a borrow fee is for
    (None for interest); `quantity`, `price` and `days` say what it was computed on."""

    id: str
    type: ActivityType
    amount: float
    timestamp: datetime
    date: str
    description: str
    symbol: str | None = None
    quantity: float | None = None
    price: float | None = None
    days: int = 1


@attrs.frozen(slots=True)
class AccountEvent:
    """Something that happened to the account at `timestamp`: `amount` is the charge, or the margin call's size
    (how far the equity was below the requirement); `equity` and `requirement` are the account's then (margin
    events); `activity` is the charge's booking (fee and interest events)."""

    type: AccountEventType
    timestamp: datetime
    amount: float
    description: str
    equity: float | None = None
    requirement: float | None = None
    activity: Activity | None = None


def charge_event(activity: Activity) -> AccountEvent:
    """The account event a booked charge is announced by: ``fee`` for a ``FEE``, ``interest`` for an ``INT``."""
    kind = AccountEventType.FEE if activity.type is ActivityType.FEE else AccountEventType.INTEREST
    return AccountEvent(kind, activity.timestamp, activity.amount, activity.description, activity=activity)
