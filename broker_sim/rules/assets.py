"""What the venue says of each symbol (Alpaca's asset entity): whether it may be shorted, is easy to borrow, and
takes fractional orders. Config: ``broker.assets: {TSLA: {easy_to_borrow: false}}``; symbols not named take
the defaults (all true), and ``/v2/assets`` serves them.

https://docs.alpaca.markets/reference/get-v2-assets-1
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from broker_sim.config import structure_section
from broker_sim.errors import ConfigError

__all__ = ["AssetFlags", "asset_table"]


@attrs.frozen(slots=True)
class AssetFlags:
    """One symbol's flags, as Alpaca's ``/v2/assets`` reports them."""

    shortable: bool = True
    easy_to_borrow: bool = True
    fractionable: bool = True
    marginable: bool = True


#: A symbol the config says nothing about.
DEFAULT_ASSET = AssetFlags()


def asset_table(value: Mapping[str, Any] | None) -> dict[str, AssetFlags]:
    """The asset flags a config's ``broker.assets`` gives, by symbol; raises `ConfigError` naming the symbol and
    key (``assets.TSLA.shortable: expected true or false, got 'no'``)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"assets: expected a mapping of symbol to flags, got {value!r}", path=("assets",))
    table = {}
    for symbol, flags in value.items():
        if not isinstance(symbol, str) or not symbol:
            raise ConfigError(f"assets: symbols are non-empty strings, got {symbol!r}", path=("assets",))
        table[symbol] = structure_section(flags, AssetFlags, ("assets", symbol))
    return table
