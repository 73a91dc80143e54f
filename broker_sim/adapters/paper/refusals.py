"""The paper venue's reasons for not taking an order, as the `OrderRefused` Alpaca answers at its door."""

from __future__ import annotations

from broker_sim.errors import InsufficientBuyingPower, InsufficientQuantity, OrderRefused, ShortSaleRefused

__all__ = ["refusal_for_reason"]


def refusal_for_reason(reason: str) -> OrderRefused:
    """The refusal for a reservation the account cannot hold (the ledger's or the account door's `reason`)."""
    if reason.startswith("insufficient buying power"):
        return InsufficientBuyingPower(reason)
    if reason.startswith("short selling is disabled"):
        return ShortSaleRefused(reason, rule="no_shorting")
    if "held by other orders" in reason:
        return InsufficientQuantity(reason, rule="position_flip_check")
    return OrderRefused(reason)
