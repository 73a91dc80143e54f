"""The adapter contract's capabilities (`broker_sim.broker`'s Protocols): what each shipped adapter offers
beyond `Broker`, as the run checks it once when it wires a broker, never by probing attributes."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_sim import PaperBroker, SimulatedClock
from broker_sim.adapters.alpaca import AlpacaBroker
from broker_sim.broker import Broker, Journaled, KeepsFills, KnowsPrices, MarketDataConsumer, Resumable

CAPABILITIES = (MarketDataConsumer, KeepsFills, Journaled, Resumable, KnowsPrices)


def test_the_paper_broker_offers_every_capability(tmp_path: Path) -> None:
    broker = PaperBroker(100_000, clock=SimulatedClock(0.0), journal=tmp_path / "account.db")

    assert isinstance(broker, Broker)
    assert [cap.__name__ for cap in CAPABILITIES if not isinstance(broker, cap)] == []
    assert broker.journal is None  # journaled, though not open until it connects


async def test_the_alpaca_broker_offers_none_of_them_its_venue_keeps_prices_fills_and_the_account() -> None:
    broker = AlpacaBroker(base_url="http://127.0.0.1:9", key_id="k", secret_key="s", clock=SimulatedClock(0.0))

    assert isinstance(broker, Broker)
    assert [cap.__name__ for cap in CAPABILITIES if isinstance(broker, cap)] == []
    await broker.close()


@pytest.mark.parametrize("capability", CAPABILITIES, ids=lambda cap: cap.__name__)
def test_an_object_without_the_methods_has_no_capability(capability: type) -> None:
    assert not isinstance(object(), capability)
