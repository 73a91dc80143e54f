"""A run hands each order event to the strategy's `on_order_event` once, in the order they happened, the events of
an order that `on_order_event` itself sends among them (queued while the earlier ones are being delivered)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from broker_sim import Bar, OrderEvent, Strategy, run_simulation
from broker_sim.simulation import StrategyError
from broker_sim.wiring import parse_config


class Chained(Strategy):
    """Buys on the first bar; the first order's fill sends a sell from `on_order_event`. Remembers what it heard,
    and (`fail_on`) raises on the event of that type of the second order."""

    heard: ClassVar[list[tuple[str, str]]] = []
    fail_on = ""

    def __init__(self) -> None:
        self.sent = False
        Chained.heard = []

    def on_bar(self, bar: Bar) -> object:
        if self.sent:
            return None
        self.sent = True
        return self.broker.buy(bar.symbol, 1)

    def on_order_event(self, event: OrderEvent) -> object:
        order = event.order
        Chained.heard.append((order.client_order_id, event.type.value))
        if order.client_order_id.endswith("-2") and event.type.value == self.fail_on:
            raise KeyError("enough")
        if order.client_order_id.endswith("-1") and event.type.value == "fill":
            return self.broker.sell(order.symbol, 1)
        return None


CONFIG = """
broker: {session: always}
models: {latency: {model: none}}
prices: {sources: [{source: synthetic, symbols: [X], count: 5}]}
strategies: [{name: chain, class: "tests.test_order_event_delivery:Chained"}]
"""


def test_each_event_is_heard_once_in_order_with_those_of_an_order_sent_while_they_are_delivered(
    tmp_path: Path,
) -> None:
    Chained.fail_on = ""
    run_simulation(parse_config(CONFIG, base_dir=tmp_path), out=False)
    kinds = ["pending_new", "new", "fill"]
    assert Chained.heard == [("chain-1", kind) for kind in kinds] + [("chain-2", kind) for kind in kinds]


@pytest.mark.parametrize("fail_on", ["pending_new", "new"])
def test_a_handler_that_fails_stops_the_run_at_that_event(tmp_path: Path, fail_on: str) -> None:
    Chained.fail_on = fail_on
    with pytest.raises(StrategyError, match=rf"Chained\.on_order_event failed on {fail_on} of order"):
        run_simulation(parse_config(CONFIG, base_dir=tmp_path), out=False)
    heard = [("chain-1", kind) for kind in ("pending_new", "new", "fill")] + [("chain-2", "pending_new")]
    if fail_on == "new":
        heard.append(("chain-2", "new"))
    assert Chained.heard == heard  # nothing after the failure, nothing twice
