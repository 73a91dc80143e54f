"""Where a `PaperBroker`'s order and account events go: its plugins' ``broker_sim_order_event`` and
``broker_sim_account_event`` observers (each on its own: one that raises is logged, the rest still hear it),
then the broker's waiters, listeners and iterators. The account's door calls `order_event` for every event on
the order path it makes, so the observers are looked up again only when the plugin manager changes, and when the
broker's hub has a single listener (a run's strategies) the event goes straight to it (`EventHub.sole_listener`).
Before it makes a pending_new, new or fill event, the account offers its parts (`EventFanout.offer`): while no
observer is installed and that single listener's owner keeps them without the event (`EventTaker`), the event is
not made at all."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from broker_sim.activities import AccountEvent
from broker_sim.broker import EventTaker
from broker_sim.events import EventHub
from broker_sim.models import EventType, Fill, Order, OrderEvent, unchecked_event
from broker_sim.plugins import PluginManager

__all__ = ["EventFanout", "taker_of"]


#: The broker's logger: a failing observer is the broker's news.
log = logging.getLogger("broker_sim.adapters.paper.broker")


def taker_of(listener: object) -> Callable[[Order, Fill | None, EventType], object] | None:
    """What keeps an order event's parts for `listener` without the event: its owner's `event_taker()` when the
    listener is the `on_order_event` of an `EventTaker` (a run's strategies), else None."""
    owner = getattr(listener, "__self__", None)  # (a listener that is a bound method: its owner)
    if isinstance(owner, EventTaker) and owner.on_order_event == listener:
        return owner.event_taker()
    return None


class EventFanout:
    """Tells `manager`'s event observers of each order and account event, then `publish` (order events) or
    `publish_account` (account events): the broker's own hubs."""

    __slots__ = (
        "_account_hook",
        "_hub",
        "_manager",
        "_observed",
        "_observer_hook",
        "_observers",
        "_publish",
        "_publish_account",
        "_quiet",
        "_taken_by",
        "_taker",
    )

    def __init__(
        self,
        manager: PluginManager,
        publish: Callable[[OrderEvent], None],
        publish_account: Callable[[AccountEvent], None],
    ) -> None:
        self._manager = manager
        self._observer_hook = manager.hook.broker_sim_order_event
        self._account_hook = manager.hook.broker_sim_account_event
        self._observed = -1
        #: The order event observers as (plugin name, function), read at `_observed`'s plugin manager generation;
        #: None when a wrapper is among them (then the hook is called as a whole).
        self._observers: list[tuple[str, Any]] | None = []
        self._publish = publish
        self._publish_account = publish_account
        #: The hub `publish` belongs to (an `EventHub`'s own `publish`), whose single listener may be called here.
        hub = getattr(publish, "__self__", None)
        exact = isinstance(hub, EventHub) and getattr(type(hub), "publish", None) is EventHub.publish
        self._hub: EventHub | None = hub if exact else None
        #: `_hub` while no order event observer is installed (at `_observed`'s generation), else None: then an
        #: event goes straight to the hub (the common case: a run's strategies, no observer plugin).
        self._quiet: EventHub | None = None
        #: The sole listener `_taker` was found for, and its owner's `event_taker()` (None: it has none).
        self._taken_by: Callable[[OrderEvent], Any] | None = None
        self._taker: Callable[[Order, Fill | None, EventType], object] | None = None

    def order_event(self, event: OrderEvent) -> None:
        """Tell the `broker_sim_order_event` observers (each on its own: one that raises is logged), then
        waiters, listeners and `events()` iterators."""
        hub = self._quiet
        if hub is None or self._observed != self._manager.generation:
            self._tell_observers(event)
            hub = self._hub
            if hub is None:
                self._publish(event)
                return
        listener = hub.sole_listener
        if listener is not None:  # `hub.publish(event)`, inline: its one listener hears the event
            try:
                listener(event)
            except Exception:
                hub.listener_failed(listener, event)
            if hub.sole_listener is not listener:
                hub.publish_rest(event)
            return
        hub.publish(event)

    def offer(self, order: Order, fill: Fill | None, kind: EventType) -> bool:
        """Offer the `order`, `fill` and `kind` of an order event instead of the event (the account's door asks
        this for its most frequent events: pending_new, new, and fills): taken (True) when no observer is installed
        and the broker's one listener's owner keeps them without the event (`EventTaker`), so no one would have read
        the event; else False, and the account emits the event. A taker that raises is logged as the listener would
        be (`EventHub.listener_failed`); what it keeps adds no listener (that would hear the event too)."""
        hub = self._quiet
        if hub is None or self._observed != self._manager.generation:
            return False
        listener = hub.sole_listener
        if listener is not self._taken_by:  # (None, for no single listener, has no taker: False below)
            self._taken_by = listener
            self._taker = taker_of(listener)
        taker = self._taker
        if taker is None:
            return False
        try:
            taker(order, fill, kind)
        except Exception:
            assert listener is not None  # (a taker is found for a listener only)
            hub.listener_failed(listener, unchecked_event(kind, order, order.updated_at or order.created_at, fill))
        return True

    def _tell_observers(self, event: OrderEvent) -> None:
        """Tell the order event observers of `event` (found again when the plugin manager changed)."""
        if self._observed != self._manager.generation:
            self._observed = self._manager.generation
            impls = self._observer_hook.get_hookimpls()
            wrapped = any(impl.wrapper or impl.hookwrapper for impl in impls)
            self._observers = None if wrapped else [(impl.plugin_name, impl.function) for impl in impls]
            self._quiet = self._hub if self._observers == [] else None
        observers = self._observers
        if observers:
            for name, function in observers:
                try:
                    function(event)
                except Exception:
                    log.exception("order event observer %s failed on %s", name, event.type.value)
        elif observers is None:
            try:
                self._observer_hook(event=event)
            except Exception:
                log.exception("order event observers failed on %s", event.type.value)

    def account_event(self, event: AccountEvent) -> None:
        """Tell the `broker_sim_account_event` observers (one that raises is logged), then the account listeners
        and `account_events()` iterators."""
        for impl in self._account_hook.get_hookimpls():
            try:
                impl.function(event)
            except Exception:
                log.exception("account event observer %s failed on %s", impl.plugin_name, event.type.value)
        self._publish_account(event)
