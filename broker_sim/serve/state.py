"""What the server's routes share: the broker, its clock, the settings, the delivered market data, the fills."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from broker_sim.adapters.paper import PaperBroker
from broker_sim.broker import ZonedSession
from broker_sim.calendar import Session
from broker_sim.models import Fill, Order, OrderEvent
from broker_sim.report.metrics import EquitySample

from .clock import PacedClock
from .market import MarketHistory
from .settings import ServeSettings

__all__ = ["Served"]

#: Fills kept for /v2/account/activities.
MAX_ACTIVITIES = 100_000


class Served:
    """The served account: one `PaperBroker` and what the API needs around it."""

    def __init__(self, broker: PaperBroker, settings: ServeSettings, market: MarketHistory) -> None:
        self.broker = broker
        self.settings = settings
        self.market = market
        self.clock = broker.clock
        self.created_at: datetime = broker.clock.now()
        #: Every fill with the order right after it, newest last (Alpaca's FILL activities).
        self.activities: deque[tuple[Fill, Order]] = deque(maxlen=MAX_ACTIVITIES)
        self.session: Session = broker.session
        zone = self.session.timezone if isinstance(self.session, ZonedSession) else None
        self._timezone = zone if isinstance(zone, tzinfo) else UTC
        broker.add_listener(self._on_event)
        self.hubs: list[Any] = []
        #: The run's equity curve (sampled every ``report.equity_interval``): the portfolio history's source.
        self.equity: Sequence[EquitySample] = ()

    def recall(self) -> None:
        """Put the fills a journaled account recovered (earlier sessions') first among the activities, each with
        its order as it stands now (the order right after the fill is not kept)."""
        orders = {order.id: order for order in self.broker.state.orders()}
        earlier = [(fill, orders[fill.order_id]) for fill in self.broker.fills if fill.order_id in orders]
        self.activities.extendleft(reversed(earlier))

    def _on_event(self, event: OrderEvent) -> None:
        if event.fill is not None:
            self.activities.append((event.fill, event.order))

    async def catch_up(self) -> None:
        """Bring a paced clock to the present before a request reads or changes the account."""
        if isinstance(self.clock, PacedClock):
            await self.clock.catch_up()

    @property
    def timezone(self) -> tzinfo:
        """The exchange's time zone (the session's; UTC for a session that names none)."""
        return self._timezone

    def tradable(self) -> list[str]:
        """The symbols the account trades: the broker's own list when it has one, else the sources'."""
        symbols = self.broker.symbols
        return sorted(symbols if symbols is not None else self.market.symbols)
