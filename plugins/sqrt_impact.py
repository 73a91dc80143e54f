"""Square-root market impact slippage, a drop-in plugin file: ``plugins: [plugins/sqrt_impact.py]`` in a config.

impact = k x sigma x sqrt(quantity / volume), as a fraction of the price: buys fill at price x (1 + impact),
sells at price x (1 - impact). `volume` is the bar's volume when the market data is a bar with volume, else
`default_volume`; `sigma` is the daily volatility of returns (default 2 %).
"""

from __future__ import annotations

import math

import attrs

from broker_sim import Bar, hookimpl


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.frozen
class SqrtImpact:
    """Square-root market impact: k x sigma x sqrt(quantity / volume) of the price, against the order."""

    k: float = attrs.field(default=1.0, validator=_non_negative)
    sigma: float = attrs.field(default=0.02, validator=_non_negative)
    default_volume: float = attrs.field(default=1_000_000.0, validator=_non_negative)

    @hookimpl
    def broker_sim_slippage(self, order, price, market, quantity):  # type: ignore[no-untyped-def]
        volume = market.volume if isinstance(market, Bar) and market.volume > 0 else self.default_volume
        impact = self.k * self.sigma * math.sqrt(quantity / volume) if volume > 0 else 0.0
        return price * (1.0 + impact) if order.side == "buy" else price * (1.0 - impact)


@hookimpl
def broker_sim_register(registry):  # type: ignore[no-untyped-def]
    registry.add("slippage", "sqrt_impact", SqrtImpact)
