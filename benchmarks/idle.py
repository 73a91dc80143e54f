"""The empty strategy of the replay benchmark: it sees every bar and does nothing, so its run measures what the
engine alone costs per bar (reading, the Bar, the clock, the broker's market update, the handler call)."""

from __future__ import annotations

from broker_sim import Bar, Strategy


class Idle(Strategy):
    """Sees every bar; places no order."""

    def on_bar(self, bar: Bar) -> None:
        return None
