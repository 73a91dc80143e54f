"""Equity sampling: the account's equity and gross exposure through `Broker.get_account()` (any adapter), and the
last market prices the positions are marked at, when the broker can tell them; kept columnar (`EquityCurve`)."""

from __future__ import annotations

import logging
import math
import weakref
from typing import cast

from broker_sim.broker import Broker, KnowsPrices
from broker_sim.models import Account
from broker_sim.report.curve import EquityCurve, SampledPrices
from broker_sim.report.metrics import EquitySample

__all__ = ["EquitySampler", "last_prices"]

log = logging.getLogger(__name__)


class EquitySampler:
    """The run's equity curve: a sample per `report.equity_interval` of market time (the loop decides when), and
    the market prices at each sample (empty when the adapter cannot tell them), for the benchmark."""

    def __init__(self) -> None:
        #: The samples, in columns (8 bytes a number): read as a sequence of `EquitySample`.
        self.curve = EquityCurve()
        #: The broker sampled last, weakly (the sampler keeps no broker alive), and whether it can tell its market
        #: prices (`KnowsPrices`): a runtime protocol's isinstance looks its members up each time (~15 us), so it is
        #: asked once per broker, not per sample. (None: no broker yet, or one that cannot be weakly referenced,
        #: which is then asked at every sample.)
        self._priced: tuple[weakref.ref[Broker] | None, bool] = (None, False)

    @property
    def equity(self) -> EquityCurve:
        """The equity samples so far (a sequence of `EquitySample`, columnar underneath)."""
        return self.curve

    @property
    def prices(self) -> SampledPrices:
        """The last market prices at each equity sample (empty mappings when the adapter cannot tell them)."""
        return self.curve.prices

    async def sample(self, broker: Broker) -> None:
        """Record the account's equity and gross exposure now (any adapter: through `get_account`)."""
        account = await broker.get_account()
        seen, priced = self._priced
        if seen is None or seen() is not broker:
            priced = isinstance(broker, KnowsPrices)
            try:
                self._priced = (weakref.ref(broker), priced)
            except TypeError:  # (a broker without weak references: asked each time, as none is remembered)
                self._priced = (None, False)
        prices = _read_prices(cast(KnowsPrices, broker)) if priced else None
        self.curve.append(broker.clock.time(), account.equity, account.gross_exposure, prices)

    def prepend(self, earlier: list[EquitySample]) -> None:
        """Samples from before the run (a journaled account's earlier sessions), without prices."""
        self.curve.prepend(earlier)

    async def final_account(self, broker: Broker) -> Account:
        """The account at the end; after a failure, the last equity sample stands in if the broker cannot say."""
        try:
            await self.sample(broker)
        except Exception:  # the broker itself failed: what was sampled before stands
            log.exception("the final equity sample failed")
        try:
            return await broker.get_account()
        except Exception:
            last = self.curve.equity[-1] if self.curve else math.nan
            return Account(cash=math.nan, equity=last, buying_power=math.nan)


def last_prices(broker: Broker) -> dict[str, float] | None:
    """The broker's last market prices, if it can tell them (the paper broker); positions are marked at these."""
    return _read_prices(broker) if isinstance(broker, KnowsPrices) else None


def _read_prices(broker: KnowsPrices) -> dict[str, float] | None:
    """`broker.last_prices()`, or None (logged) when the broker fails to tell them."""
    try:
        return broker.last_prices()
    except Exception:  # the broker itself failed: the report marks at the last fills instead
        log.exception("reading the last market prices failed")
        return None
