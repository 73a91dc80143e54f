"""Models this package adds to broker-sim, registered through the `broker_sim` entry point.

* slippage ``half_spread(spread)``: buys pay half of a fixed `spread` (currency per share) above the price,
  sells receive half of it below.
* commission ``tiered(rate, threshold, discounted_rate)``: `rate` per share up to `threshold` shares in a fill,
  `discounted_rate` per share beyond it.
"""

from __future__ import annotations

import math

import attrs

from broker_sim import hookimpl


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.frozen
class HalfSpread:
    """Cross half of a fixed spread: buys at price + spread / 2, sells at price - spread / 2."""

    spread: float = attrs.field(default=0.02, validator=_non_negative)

    @hookimpl
    def broker_sim_slippage(self, order, price, market, ctx):  # type: ignore[no-untyped-def]
        half = self.spread / 2
        return price + half if order.side == "buy" else max(0.0, price - half)


@attrs.frozen
class Tiered:
    """`rate` per share up to `threshold` shares of a fill, `discounted_rate` per share above it."""

    rate: float = attrs.field(default=0.01, validator=_non_negative)
    threshold: float = attrs.field(default=500.0, validator=_non_negative)
    discounted_rate: float = attrs.field(default=0.005, validator=_non_negative)

    @hookimpl
    def broker_sim_commission(self, order, fill, ctx):  # type: ignore[no-untyped-def]
        first = min(fill.quantity, self.threshold)
        return first * self.rate + (fill.quantity - first) * self.discounted_rate


@hookimpl
def broker_sim_register(registry):  # type: ignore[no-untyped-def]
    registry.add("slippage", "half_spread", HalfSpread)
    registry.add("commission", "tiered", Tiered)
