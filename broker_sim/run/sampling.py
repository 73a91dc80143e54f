"""Equity sampling: the account's equity and gross exposure through `Broker.get_account()`, and the last market
prices the positions are marked at, when the broker can tell them."""

from __future__ import annotations

import logging

from broker_sim.broker import Broker

__all__ = ["last_prices"]

log = logging.getLogger(__name__)


def last_prices(broker: Broker) -> dict[str, float] | None:
    """The broker's last market prices, if it can tell them (the paper broker); positions are marked at these."""
    last_prices = getattr(broker, "last_prices", None)
    try:
        return last_prices() if last_prices is not None else None
    except Exception:  # the broker itself failed: the report marks at the last fills instead
        log.exception("reading the last market prices failed")
        return None
