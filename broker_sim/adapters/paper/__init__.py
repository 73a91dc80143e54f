"""The paper adapter: `PaperBroker` (the Broker methods), its simulated venue, its model set and its settings."""

from broker_sim.adapters.paper.broker import PaperBroker

__all__ = ["PaperBroker"]
