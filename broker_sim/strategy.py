"""The `Strategy` base class, and loading a strategy class named in a config.

A strategy reacts to market data and order events and trades through `self.broker`, typed as the abstract
`Broker`, so the same class runs on the paper adapter and on a live one. Every handler may be ``def`` or
``async def``; the runner awaits coroutines. Plain ``def`` handlers, and ``async def`` handlers that never wait
(paper orders never make them wait), cost no event-loop round trip in a replay.

A handler may also be a plain ``def`` that returns an awaitable (``return self.broker.buy(...)``) only when it
acts: the runner awaits what it returns, and the bars where it does nothing cost no coroutine at all. That is
the fastest shape for a per-bar handler (see ``examples/sma_cross.py``).

Config ``params`` are passed to the class's constructor as keyword arguments, so a strategy declares them as
ordinary typed parameters::

    class Momentum(Strategy):
        def __init__(self, lookback: int = 20, quantity: float = 10) -> None:
            self.lookback, self.quantity = lookback, quantity

        async def on_bar(self, bar: Bar) -> None:
            ...
            await self.broker.buy(bar.symbol, self.quantity)
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Any

from broker_sim._imports import import_file
from broker_sim._members import _TIF_DAY  # (the time in force `buy` and `sell` give an order that names none)
from broker_sim._numeric import QTY_EPSILON
from broker_sim.broker import Broker
from broker_sim.clock import Clock
from broker_sim.errors import ConfigError, did_you_mean
from broker_sim.models import Bar, Fill, Order, OrderEvent, Quote, Trade
from broker_sim.strategy_book import StrategyBook, StrategyPosition

__all__ = ["Strategy", "check_strategy_params", "load_strategy_class"]


HANDLERS = ("on_start", "on_bar", "on_quote", "on_trade", "on_order_event", "on_stop")


class Strategy:
    """Base class of strategies: override the handlers you need; each may be ``def`` or ``async def``.

    Before `on_start` the runner sets `broker` (a `Broker`, never an adapter class), `clock` (simulated or real
    time: ``self.clock.now()``), `symbols` (the symbols this strategy trades, from its config) and `name`.

    Several strategies may share one account; each has its own share of it, kept by the runner: `position`,
    `positions`, `open_orders`, `pending_quantity` and `fills` say what this strategy holds and has on its way,
    up to date the moment an order is sent or an event happens (before `on_order_event` hears of it), and
    rebuilt from the account's orders when a journaled account resumes. `on_order_event` hears every event of
    every order the strategy caused: its own, its brackets' exits, its replacements, and margin-call
    liquidations of what it held.
    """

    broker: Broker
    clock: Clock
    symbols: tuple[str, ...] = ()
    name: str = ""
    #: The strategy's share of the account (the runner gives each strategy its own).
    book: StrategyBook | None = None

    def _book(self) -> StrategyBook:
        book = self.book
        if book is None:
            book = self.book = StrategyBook(self.name)
        return book

    def position(self, symbol: str) -> StrategyPosition:
        """This strategy's holding in `symbol`: signed ``quantity`` (0.0 when flat), ``avg_price``,
        ``realized_pnl`` — its share, not the account's (other strategies may hold the same symbol)."""
        return (self.book or self._book()).position(symbol)

    @property
    def positions(self) -> Mapping[str, StrategyPosition]:
        """This strategy's holdings, by symbol (flat ones left out)."""
        return self._book().positions

    @property
    def open_orders(self) -> list[Order]:
        """This strategy's orders that may still fill (on their way, working, held exits), oldest first."""
        return self._book().open_orders

    def pending_quantity(self, symbol: str) -> float:
        """The signed quantity this strategy's open orders in `symbol` have still to fill (buys positive; exits
        of brackets left out). ``position(s).quantity + pending_quantity(s)`` is where the strategy is heading."""
        book = self.book or self._book()
        # With no open order (a strategy that waits for each order to end, as most do) nothing is pending: 0.0
        # without the book's call and its loop over the open orders (`_open` read here as `order_target` reads it)
        return book.pending_quantity(symbol) if book._open else 0.0

    def order_target(self, symbol: str, quantity: float, **fields: Any) -> Awaitable[Order] | None:
        """An order that brings this strategy's holding in `symbol` to `quantity` (signed: negative is short),
        counting what its open orders have still to fill; None when nothing is to be done. `fields` go to the
        order (``type``, ``limit_price``, ``time_in_force``, ...). Await what it returns::

            if (order := self.order_target("AAPL", 100)) is not None:
                await order
        """
        book = self.book or self._book()
        if book._open:
            difference = book.still_to_order(symbol, quantity)
        else:  # `book.still_to_order(symbol, quantity)` with no open order, in line: less what it holds, nothing more
            held = book._held.get(symbol)
            difference = quantity - (0.0 if held is None else held.quantity)
        if -QTY_EPSILON < difference < QTY_EPSILON:  # `qty_is_zero`, in line
            return None
        if fields and (len(fields) != 1 or fields.get("time_in_force") != _TIF_DAY):
            if difference > 0:
                return self.broker.buy(symbol, difference, **fields)
            return self.broker.sell(symbol, -difference, **fields)
        # No field, or only ``time_in_force="day"``: the market day order `buy` and `sell` send when given no field,
        # asked for so (a strategy view builds it without a keyword dict, the field's check and a frame).
        if difference > 0:
            return self.broker.buy(symbol, difference)
        return self.broker.sell(symbol, -difference)

    @property
    def fills(self) -> Sequence[Fill]:
        """This strategy's latest fills (the last 1,000; every fill is in the run's ``trades.csv``)."""
        return self._book().fills

    def on_start(self) -> Awaitable[None] | None:
        """Called once, before the first market event."""
        return None

    def on_bar(self, bar: Bar) -> Awaitable[None] | None:
        """Called for every bar of the strategy's symbols, in time order."""
        return None

    def on_quote(self, quote: Quote) -> Awaitable[None] | None:
        """Called for every quote of the strategy's symbols."""
        return None

    def on_trade(self, trade: Trade) -> Awaitable[None] | None:
        """Called for every trade print of the strategy's symbols."""
        return None

    def on_order_event(self, event: OrderEvent) -> Awaitable[None] | None:
        """Called for every event of the orders this strategy caused (its own, its brackets' exits, its
        replacements, liquidations of its holdings: accepted, fill, canceled, ...), after the handler that caused
        it has returned; `position` and `open_orders` already include it."""
        return None

    def on_stop(self) -> Awaitable[None] | None:
        """Called once after the last market event (and the orders still in flight) were processed."""
        return None


def load_strategy_class(spec: str, *, base_dir: str | Path | None = None) -> type[Strategy]:
    """The class named by ``module:Class`` or ``path/to/file.py:Class`` (a path relative to `base_dir`).

    A file's folder goes first on ``sys.path`` (as ``python file.py`` does), so the strategy imports helper
    modules beside it. Raises `ConfigError` naming what could not be found.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(f"class must look like module:Class or path/to/file.py:Class, got {spec!r}")
    target, _, class_name = spec.rpartition(":")
    if target.endswith(".py") or "/" in target or "\\" in target:
        file = Path(target)
        if not file.is_absolute() and base_dir is not None:
            file = Path(base_dir) / file
        if not file.is_file():
            raise ConfigError(f"strategy file {target} does not exist (looked for {file.resolve()})")
        folder = str(file.resolve().parent)
        if folder not in sys.path:  # its helper modules import as they do under `python file.py`
            sys.path.insert(0, folder)
        module = import_file(file.resolve(), prefix="broker_sim_strategy", what="strategy file", error=ConfigError)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"cannot import strategy module {target!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        public = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, Strategy))
        raise ConfigError(f"{target} has no class {class_name!r}; strategies there: {', '.join(public) or 'none'}")
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise ConfigError(f"{spec} is not a subclass of broker_sim.Strategy")
    return cls


def check_strategy_params(cls: type[Strategy], params: Mapping[str, Any]) -> None:
    """Refuse parameters the class's constructor does not take (naming them and listing the valid ones)."""
    signature = inspect.signature(cls)
    accepted = [p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    valid = [p.name for p in accepted]
    unknown = [name for name in params if name not in valid]
    if unknown:
        listed = ", ".join(
            str(p).split(":")[0] if p.default is p.empty else f"{p.name}={p.default!r}" for p in accepted
        )
        hint = did_you_mean(unknown[0], [p.name for p in accepted])
        raise ConfigError(
            f"{cls.__name__} has no parameter {', '.join(map(repr, unknown))}{hint}; valid: {listed or 'none'}"
        )
    missing = [p.name for p in accepted if p.default is p.empty and p.name not in params]
    if missing:
        raise ConfigError(f"{cls.__name__} needs parameter {', '.join(map(repr, missing))}")


def overrides(strategy: Strategy, handler: str) -> bool:
    """Whether `strategy`'s class overrides `handler` (the runner skips handlers left as the no-op default)."""
    return getattr(type(strategy), handler) is not getattr(Strategy, handler)
