"""A refusal Alpaca sends over the wire (its HTTP status and message) as the `OrderRefused` our adapters raise, so a
strategy catches the same error from `AlpacaBroker` as from `PaperBroker`.

Alpaca's messages (and ours, which `broker-sim serve` sends) are matched by the phrases below; a 403 no phrase
matches is a plain `OrderRefused`, a 422 none matches is not a refusal (a malformed request: `InvalidOrder`).
"""

from __future__ import annotations

from broker_sim.errors import (
    DayTradeRefused,
    InsufficientBuyingPower,
    InsufficientQuantity,
    OrderNotAccepted,
    OrderRefused,
    ShortSaleRefused,
    TradingSuspended,
    WashTradeRefused,
)

__all__ = ["refusal_for"]

#: (phrase in the lowered message, refusal, the setting that relaxes it), first match wins.
_FORBIDDEN: tuple[tuple[str, type[OrderRefused], str | None], ...] = (
    ("insufficient buying power", InsufficientBuyingPower, None),
    ("insufficient qty", InsufficientQuantity, "position_flip_check"),
    ("pattern day trad", DayTradeRefused, "pdt_check"),
    ("wash trade", WashTradeRefused, "wash_trade"),
    ("suspend", TradingSuspended, "suspend_trade"),
    ("short", ShortSaleRefused, "short_selling_check"),
)
_UNACCEPTED: tuple[tuple[str, str], ...] = (
    ("extended hours", "extended_hours_check"),
    ("extended_hours", "extended_hours_check"),
    ("opg order", "auction_cutoffs"),
    ("cls order", "auction_cutoffs"),
    ("fractional", "fractional_check"),
    ("notional", "fractional_check"),
)


def refusal_for(status: int, message: str) -> OrderRefused | None:
    """The refusal for Alpaca's answer `status` with `message` to an order (a submit or a replace), or None when
    the answer is not a refusal of the order (a 422 for a malformed request, any other status)."""
    lowered = message.lower()
    if status == 403:
        for phrase, kind, rule in _FORBIDDEN:
            if phrase in lowered:
                return kind(message, rule=rule)
        return OrderRefused(message)
    if status == 422:
        for phrase, rule in _UNACCEPTED:
            if phrase in lowered:
                return OrderNotAccepted(message, rule=rule)
    return None
