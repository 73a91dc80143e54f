"""PaperBroker: the simulated venue. Latency, fills, slippage and fees come from pluggy hooks; money from the ledger.

Life of an order: `submit_order` validates it, reserves buying power (or rejects it), and sends it to the venue
after the latency model's delay on the broker's clock. At the venue it is accepted and offered to the fill
model; whatever does not fill rests (day and gtc) or is canceled (ioc, fok) and is offered again on every
market update for its symbol. `_execute` is the one place a fill decision becomes a ledger entry and an event.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import pluggy

from broker_sim._numeric import QTY_EPSILON, qty_at_least, qty_is_zero
from broker_sim.broker import Broker
from broker_sim.builtin import DEFAULT_MODELS
from broker_sim.calendar import TradingSession
from broker_sim.clock import Clock, SimulatedClock, TimerHandle
from broker_sim.errors import (
    BrokerError,
    ConfigError,
    InvalidMarketData,
    InvalidOrder,
    OrderNotCancelable,
    OrderNotFound,
    OrderNotReplaceable,
    PositionNotFound,
)
from broker_sim.hookspecs import Action, FillDecision, HookContext
from broker_sim.ledger import DEFAULT_SHORT_MARGIN, Ledger
from broker_sim.models import (
    Account,
    Bar,
    EventType,
    Fill,
    MarketData,
    Order,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
    Trade,
    unchecked_bar,
)
from broker_sim.orders import amend, transition
from broker_sim.plugins import (
    PluginManager,
    SelectedHook,
    build_registry,
    copy_plugin_manager,
    create_plugin_manager,
    load_plugin_file,
)

__all__ = ["PaperBroker"]

_MARKET_TYPES = frozenset({Bar, Quote, Trade})


class _LastPrices:
    """The ledger's marks, read from the latest market events only when the ledger asks (not per update)."""

    __slots__ = ("_market",)

    def __init__(self, market: dict[str, MarketData]) -> None:
        self._market = market

    def get(self, symbol: str, default: Any = None) -> Any:
        event = self._market.get(symbol)
        return default if event is None else event.price


_MODEL_KINDS = ("slippage", "latency", "fill", "commission")
_ONE_SHOT = frozenset({TimeInForce.IOC, TimeInForce.FOK, TimeInForce.OPG})
_PLAIN_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT})


def _new_order(
    order_id: str, client_order_id: str, request: OrderRequest, quantity: float, now: Any, replaces: str | None = None
) -> Order:
    """A new order's first snapshot (status new) from its request."""
    return Order(
        id=order_id,
        client_order_id=client_order_id,
        symbol=request.symbol,
        side=request.side,
        quantity=quantity,
        type=request.type,
        time_in_force=request.time_in_force,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
        status=_S.NEW,
        filled_quantity=0.0,
        filled_avg_price=None,
        reject_reason=None,
        created_at=now,
        updated_at=now,
        reference_price=request.reference_price,
        trail_price=request.trail_price,
        trail_percent=request.trail_percent,
        replaces=replaces,
    )


def _volume(market: MarketData) -> float:
    return market.volume if isinstance(market, Bar) else 0.0


_S = OrderStatus


class _Working:
    """What the venue tracks about an open order besides its snapshot."""

    __slots__ = ("anchor", "arrived", "evaluated", "expiry", "triggered")

    def __init__(self) -> None:
        self.arrived = False
        #: Whether the fill model has judged the order at least once (answered something other than NOT_YET).
        self.evaluated = False
        self.expiry: TimerHandle | None = None
        #: A stop, stop-limit or trailing stop whose stop was reached: offered as the market/limit it became.
        self.triggered = False
        #: A trailing stop's best price since it reached the venue (highest for sells, lowest for buys).
        self.anchor: float | None = None


#: What a stop order becomes once triggered.
_TRIGGERED_AS = {
    OrderType.STOP: OrderType.MARKET,
    OrderType.TRAILING_STOP: OrderType.MARKET,
    OrderType.STOP_LIMIT: OrderType.LIMIT,
}


class PaperBroker(Broker):
    """A simulated broker account whose latency, fill, slippage and commission models are pluggy plugins.

    Models are given as config mappings (``{"model": "fixed_bps", "bps": 5}``) or names; left out, they are the
    seed engine's: 5 bps slippage per side, 0.5-2.0 s uniform latency, immediate fills, no commission.
    `seed` seeds every random draw (None: a fresh seed from the OS). `clock` defaults to a simulated clock
    starting now. `plugins` are extra plugin files; `plugin_manager`, when given, supplies the plugins instead of
    the default set (built-ins + entry points): the broker copies it, so brokers never share selected models.
    `symbols`, when given, is the complete list of tradable symbols. `history`, when given, bounds how many
    closed orders and fills stay in memory (the oldest are forgotten: `get_order` on them raises
    `OrderNotFound`); the simulation runner sets it, as it records every order and fill on disk itself.
    """

    def __init__(
        self,
        initial_balance: float = 100_000.0,
        *,
        seed: int | None = 42,
        allow_short: bool = False,
        slippage: Mapping[str, Any] | str | None = None,
        latency: Mapping[str, Any] | str | None = None,
        fill: Mapping[str, Any] | str | None = None,
        commission: Mapping[str, Any] | str | None = None,
        clock: Clock | None = None,
        plugins: Iterable[str] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        symbols: Iterable[str] | None = None,
        session: TradingSession | Mapping[str, Any] | None = None,
        short_margin: float = DEFAULT_SHORT_MARGIN,
        history: int | None = None,
    ) -> None:
        if isinstance(initial_balance, bool) or not isinstance(initial_balance, int | float):
            raise ConfigError(f"initial_balance must be a number, got {initial_balance!r}")
        if not math.isfinite(initial_balance) or initial_balance < 0:
            raise ConfigError(f"initial_balance must be a finite number >= 0, got {initial_balance!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"seed must be an integer (or null for a fresh one), got {seed!r}")
        if not isinstance(allow_short, bool):
            raise ConfigError(f"allow_short must be true or false, got {allow_short!r}")
        if isinstance(short_margin, bool) or not isinstance(short_margin, int | float) or not short_margin >= 1:
            raise ConfigError(f"short_margin must be a number >= 1, got {short_margin!r}")
        if isinstance(session, Mapping):
            session = TradingSession(**session)
        elif session is not None and not isinstance(session, TradingSession):
            raise ConfigError(
                f"session must be a mapping like {{close: '16:00', timezone: America/New_York}}, got {session!r}"
            )
        if symbols is not None and (isinstance(symbols, str) or not all(isinstance(s, str) and s for s in symbols)):
            raise ConfigError(f"symbols must be a list of symbol names, got {symbols!r}")
        if history is not None and (isinstance(history, bool) or not isinstance(history, int) or history < 1):
            raise ConfigError(f"history must be an integer >= 1 (or null to keep everything), got {history!r}")
        super().__init__(clock if clock is not None else SimulatedClock())
        self.history = history
        self._closed: deque[str] = deque()
        self.seed = seed
        self.session = session if session is not None else TradingSession()
        self.symbols = frozenset(symbols) if symbols is not None else None
        self._market: dict[str, MarketData] = {}
        self.ledger = Ledger(
            initial_balance, allow_short=allow_short, short_margin=short_margin, marks=_LastPrices(self._market)
        )
        self._manager: PluginManager = (
            create_plugin_manager(plugins) if plugin_manager is None else copy_plugin_manager(plugin_manager)
        )
        for path in plugins if plugin_manager is not None else ():
            load_plugin_file(self._manager, path)
        self._models = self._install_models(
            {"slippage": slippage, "latency": latency, "fill": fill, "commission": commission}
        )
        self._slippage = SelectedHook(self._manager, "broker_sim_slippage", self._models["slippage"][1])
        self._latency_hook = SelectedHook(self._manager, "broker_sim_latency", self._models["latency"][1])
        self._fill = SelectedHook(self._manager, "broker_sim_fill", self._models["fill"][1])
        self._commission = SelectedHook(self._manager, "broker_sim_commission", self._models["commission"][1])
        self._event_hook = self._manager.hook.broker_sim_order_event
        self._observed = -1
        self._has_observers = False
        self._contexts = {
            kind: HookContext(kind, name, seed, self.clock.time, self.ledger.account)
            for kind, (name, _) in self._models.items()
        }
        self._fill_ctx = self._contexts["fill"]
        self._fill_types: frozenset[OrderType] | None = getattr(self._models["fill"][1], "order_types", None)
        self._orders: dict[str, Order] = {}
        self._client_ids: dict[str, str] = {}
        self._working: dict[str, _Working] = {}
        self._resting: dict[str, dict[str, None]] = {}
        self._fills: list[Fill] | deque[Fill] = [] if history is None else deque(maxlen=history)
        #: The status an order had before it went pending_replace (to return to if the replace is refused).
        self._pending_replace_from: dict[str, OrderStatus] = {}
        self._ids = itertools.count(1)

    def _install_models(self, chosen: Mapping[str, Mapping[str, Any] | str | None]) -> dict[str, tuple[str, Any]]:
        """Build the selected models from the registry and register them as plugins of this broker."""
        registry = build_registry(self._manager)
        models: dict[str, tuple[str, Any]] = {}
        for kind in _MODEL_KINDS:
            spec = chosen[kind] if chosen[kind] is not None else DEFAULT_MODELS[kind]
            model = registry.create(kind, spec)  # type: ignore[arg-type]
            name = str(spec if isinstance(spec, str) else spec["model"])  # type: ignore[index]
            hook = f"broker_sim_{kind}"
            self._manager.register(model, name=f"{kind}:{name}")
            if not any(impl.plugin is model for impl in getattr(self._manager.hook, hook).get_hookimpls()):
                raise ConfigError(f"{kind} model {name!r} does not implement the {hook} hook")
            models[kind] = (name, model)
        return models

    @property
    def models(self) -> dict[str, Any]:
        """The model object selected for each kind (slippage, latency, fill, commission)."""
        return {kind: model for kind, (_, model) in self._models.items()}

    @property
    def plugin_manager(self) -> PluginManager:
        """This broker's own plugin manager: built-ins, entry points, plugin files and the selected models.

        Plugins registered on it later (wrappers, observers) take effect from the next hook call.
        """
        return self._manager

    @property
    def fills(self) -> list[Fill]:
        """Every fill so far, in execution order (a copy)."""
        return list(self._fills)

    # -- market data ----------------------------------------------------------------------------------------

    async def update_market(self, event: MarketData) -> None:
        """Take a bar, quote or trade as the latest market for its symbol and offer it to the working orders."""
        self.update_market_nowait(event)

    def update_market_nowait(self, event: MarketData) -> None:
        """`update_market` for callers outside a coroutine or on the replay hot path (no await at all).

        With no working order for the symbol this is two dict writes: no hook call, no logging. It does not move
        the clock; a replay moves it to the event's time first.
        """
        if event.__class__ not in _MARKET_TYPES:
            raise InvalidMarketData(f"update_market takes a Bar, Quote or Trade, got {type(event).__name__}")
        symbol = event.symbol
        self._market[symbol] = event
        resting = self._resting.get(symbol)
        if resting:
            for order_id in tuple(resting):
                order = self._orders[order_id]
                if order.status.is_open:
                    order = self._offer(order, event)
                    if order.time_in_force in _ONE_SHOT:
                        self._offer_once(order)

    # -- orders ---------------------------------------------------------------------------------------------

    def _check_supported(self, request: OrderRequest) -> None:
        where = f"{request.side.value} order for {request.symbol}"
        if self.symbols is not None and request.symbol not in self.symbols:
            raise InvalidOrder(f"unknown symbol {request.symbol!r} ({where}); tradable: {sorted(self.symbols)}")
        if self._fill_types is not None and request.type not in self._fill_types:
            raise InvalidOrder(
                f"order type {request.type.value} is not supported by fill model {self._models['fill'][0]!r} "
                f"({where}); supported: {', '.join(sorted(t.value for t in self._fill_types))}"
            )

    def _estimate_price(self, request: OrderRequest) -> float | None:
        """The price a reservation is sized at: the limit, else the stop, else the last or reference price."""
        if request.limit_price is not None:
            return request.limit_price
        if request.stop_price is not None:
            return request.stop_price
        market = self._market.get(request.symbol)
        if market is not None:
            return market.price
        return request.reference_price

    async def submit_order(self, request: OrderRequest) -> Order:
        if not isinstance(request, OrderRequest):
            raise InvalidOrder(f"submit_order takes an OrderRequest, got {type(request).__name__}")
        if request.client_order_id is not None:
            known = self._client_ids.get(request.client_order_id)
            if known is not None:
                return self._orders[known]
        self._check_supported(request)
        now = self.clock.now()
        order_id = f"paper-{next(self._ids):08d}"
        order = _new_order(order_id, request.client_order_id or order_id, request, request.quantity, now)
        self._orders[order_id] = order
        self._client_ids[order.client_order_id] = order_id
        self._emit(OrderEvent(EventType.NEW, order, now))
        price = self._estimate_price(request)
        if price is None:
            self._reject(order, f"no market price known for {request.symbol} and no reference_price given")
        else:
            reason = self.ledger.reserve(
                order_id, order.symbol, order.side, order.quantity, self._cost_per_unit(order, price)
            )
            if reason is not None:
                self._reject(order, reason)
            else:
                self._working[order_id] = _Working()
                delay = self._latency(order, Action.SUBMIT)
                if delay:
                    self.clock.call_later(delay, self._arrive, order_id)
                else:
                    self._arrive(order_id)
        return self._orders[order_id]

    def _cost_per_unit(self, order: Order, price: float) -> float:
        """One unit's estimated cash cost for the reservation: the slipped price plus the fee per unit."""
        ctx = self._contexts["slippage"]
        ctx.fill_quantity = order.quantity
        slipped = self._slippage(order=order, price=price, market=None, ctx=ctx)
        slipped = price if slipped is None else slipped
        if order.limit_price is not None and order.side is Side.BUY:
            slipped = min(slipped, order.limit_price)
        whole = Fill(order.id, order.symbol, order.side, order.quantity, slipped, 0.0, order.created_at, price)
        fee = self._commission(order=order, fill=whole, ctx=self._contexts["commission"]) or 0.0
        return slipped + fee / order.quantity

    def _latency(self, order: Order, action: Action) -> float:
        """Seconds until the venue sees `action` for `order`, from the latency model."""
        delay = self._latency_hook(order=order, action=action, ctx=self._contexts["latency"]) or 0.0
        if not isinstance(delay, int | float) or not math.isfinite(delay) or delay < 0:
            raise BrokerError(f"latency model {self._models['latency'][0]!r} returned {delay!r} seconds")
        return delay

    def _arrive(self, order_id: str) -> None:
        """The venue sees the order: accept it, offer it to the fill model, then rest or cancel the rest."""
        working = self._working.get(order_id)
        order = self._orders.get(order_id)  # None: evicted from the bounded history
        if order is None:
            return
        if working is None or order.status.is_final:
            return
        working.arrived = True
        if order.status is _S.NEW:
            order = self._change(order, _S.ACCEPTED, EventType.ACCEPTED)
        if order.time_in_force is TimeInForce.OPG:
            # Market (or limit) on open: judged on the first market event of the next session, then done.
            self.clock.call_at(self.session.next_open(self.clock.time()), self._rest, order_id)
            return
        if order.time_in_force is TimeInForce.CLS:
            # Market (or limit) on close: judged at the session close against the last market seen, then done.
            self.clock.call_at(self.session.next_close(self.clock.time()), self._at_close, order_id)
            return
        order = self._offer_once(self._offer(order))
        if not order.status.is_open:
            return
        self._rest(order_id)

    def _rest(self, order_id: str) -> None:
        """Put an accepted order on the book: offered on every market update of its symbol from now on."""
        order = self._orders.get(order_id)  # None: evicted from the bounded history
        if order is None:
            return
        working = self._working.get(order_id)
        if working is None or not order.status.is_open:
            return
        self._resting.setdefault(order.symbol, {})[order_id] = None
        if order.time_in_force is TimeInForce.DAY:
            working.expiry = self.clock.call_at(self.session.next_close(self.clock.time()), self._expire, order_id)

    def _at_close(self, order_id: str) -> None:
        """A cls order at the session close: one offer at the last price seen, the rest canceled."""
        order = self._orders.get(order_id)  # None: evicted from the bounded history
        if order is None:
            return
        if not order.status.is_open:
            return
        market = self._market.get(order.symbol)
        if market is not None:
            price = market.price
            closing = unchecked_bar(order.symbol, market.timestamp, price, price, price, price, _volume(market))
            order = self._offer(order, closing)
        if order.status.is_open:
            self._finish(order, _S.CANCELED, EventType.CANCELED)

    def _offer_once(self, order: Order) -> Order:
        """An ioc, fok or opg order gets one evaluated offer (not a NOT_YET): what did not fill then is canceled."""
        if order.status.is_open and order.time_in_force in _ONE_SHOT:
            working = self._working.get(order.id)
            if working is not None and working.evaluated:
                return self._finish(order, _S.CANCELED, EventType.CANCELED)
        return order

    def _offer(self, order: Order, market: MarketData | None = None) -> Order:
        """Ask the fill model about `order` and execute what it decides; returns the latest snapshot.

        `market` defaults to the latest event of the symbol; an opg order sees only the event's open price.
        """
        if market is None:
            market = self._market.get(order.symbol)
        working = self._working.get(order.id)
        if order.type in _PLAIN_TYPES and order.time_in_force is not TimeInForce.OPG:
            # The common case (market and limit orders): no trigger, no trail, no opening-price view.
            decision = self._fill(order=order, market=market, ctx=self._fill_ctx)
            if working is not None and not (decision is not None and decision.wait):
                working.evaluated = True
            if decision is None or decision.quantity <= QTY_EPSILON:
                return order
            return self._fill_decided(order, decision)
        ctx = self._fill_ctx
        if order.time_in_force is TimeInForce.OPG and isinstance(market, Bar):
            first = market.open
            market = unchecked_bar(order.symbol, market.timestamp, first, first, first, first, market.volume)
        view = order
        if working is not None and working.triggered:
            view = attrs.evolve(order, type=_TRIGGERED_AS[order.type])
        elif order.type is OrderType.TRAILING_STOP and working is not None and working.anchor is None:
            order = view = self._trail(order, working, market)
        decision = self._fill(order=view, market=market, ctx=ctx)
        if working is not None and not (decision is not None and decision.wait):
            working.evaluated = True
        if decision is not None and decision.triggered and working is not None:
            working.triggered = True
        if decision is None or decision.quantity <= QTY_EPSILON:
            if order.type is OrderType.TRAILING_STOP and working is not None and not working.triggered:
                return self._trail(order, working, market)
            return order
        return self._fill_decided(order, decision)

    def _fill_decided(self, order: Order, decision: FillDecision) -> Order:
        """Check a fill model's decision, cap it to what remains (all or nothing for fok) and execute it."""
        if not isinstance(decision, FillDecision) or not math.isfinite(decision.price) or decision.price <= 0:
            raise BrokerError(f"fill model {self._models['fill'][0]!r} returned {decision!r} for {order.id}")
        remaining = order.quantity - order.filled_quantity
        quantity = min(decision.quantity, remaining)
        if order.time_in_force is TimeInForce.FOK and not qty_at_least(quantity, remaining):
            return order
        return self._execute(order, quantity, decision.price)

    def _trail(self, order: Order, working: _Working, market: MarketData | None) -> Order:
        """Move a trailing stop's stop after the best price seen so far (a bar's high for sells, low for buys).

        The bar that moves the anchor is the one just evaluated, so the new stop applies from the next event.
        """
        buy = order.side is Side.BUY
        if market is None:
            best = order.reference_price
        elif isinstance(market, Bar):
            best = market.low if buy else market.high
        else:
            best = market.price
        if best is None:
            return order
        anchor = working.anchor
        if anchor is None or (best < anchor if buy else best > anchor):
            working.anchor = anchor = best
        offset = order.trail_price if order.trail_price is not None else anchor * (order.trail_percent or 0.0) / 100
        stop = anchor + offset if buy else anchor - offset
        if stop == order.stop_price:
            return order
        updated = amend(order, self.clock.now(), stop_price=stop)
        self._orders[order.id] = updated
        return updated

    def _execute(self, order: Order, quantity: float, price: float) -> Order:
        """Turn a fill decision into a fill: slippage, the limit cap, the fee, the ledger, the order, the event."""
        market = self._market.get(order.symbol)
        ctx = self._contexts["slippage"]
        ctx.fill_quantity = quantity
        slipped = self._slippage(order=order, price=price, market=market, ctx=ctx)
        executed = price if slipped is None else slipped
        if not isinstance(executed, int | float) or not math.isfinite(executed) or executed <= 0:
            raise BrokerError(f"slippage model {self._models['slippage'][0]!r} returned price {executed!r}")
        if order.limit_price is not None:
            # A limit order never executes beyond its limit, whatever the slippage model says.
            limit = order.limit_price
            executed = min(executed, limit) if order.side is Side.BUY else max(executed, limit)
        now = self.clock.now()
        fill = Fill(order.id, order.symbol, order.side, quantity, executed, 0.0, now, price)
        self._contexts["commission"].fill_quantity = quantity
        fee = self._commission(order=order, fill=fill, ctx=self._contexts["commission"])
        if fee:
            if not math.isfinite(fee) or fee < 0:
                raise BrokerError(f"commission model {self._models['commission'][0]!r} returned fee {fee!r}")
            fill = Fill(order.id, order.symbol, order.side, quantity, executed, fee, now, price)
        refused = self.ledger.apply_fill(fill, order.id)
        if refused is not None:
            return self._reject(order, refused)
        self._fills.append(fill)
        filled = order.filled_quantity + quantity
        average = ((order.filled_avg_price or 0.0) * order.filled_quantity + executed * quantity) / filled
        if qty_at_least(filled, order.quantity):
            return self._finish(
                order,
                _S.FILLED,
                EventType.FILL,
                fill,
                filled_quantity=order.quantity,
                filled_avg_price=average,
            )
        return self._change(
            order,
            _S.PARTIALLY_FILLED,
            EventType.PARTIAL_FILL,
            fill,
            filled_quantity=filled,
            filled_avg_price=average,
        )

    def _change(
        self, order: Order, status: OrderStatus, event: EventType, fill: Fill | None = None, **fields: Any
    ) -> Order:
        """Move `order` to `status` (through the state machine), store the snapshot and publish `event`."""
        now = self.clock.now()
        updated = transition(order, status, now, **fields)
        self._orders[order.id] = updated
        self._emit(OrderEvent(event, updated, now, fill))
        return updated

    def _emit(self, event: OrderEvent) -> None:
        """Tell the `broker_sim_order_event` observers, then waiters, listeners and `events()` iterators."""
        if self._observed != self._manager.generation:
            self._observed = self._manager.generation
            self._has_observers = bool(self._event_hook.get_hookimpls())
        if self._has_observers:
            self._event_hook(event=event)
        self._publish(event)

    def _finish(
        self, order: Order, status: OrderStatus, event: EventType, fill: Fill | None = None, **fields: Any
    ) -> Order:
        """Move `order` to a final status and free everything it held: reservation, resting slot, expiry timer."""
        self.ledger.release(order.id)
        working = self._working.pop(order.id, None)
        if working is not None and working.expiry is not None:
            working.expiry.cancel()
        resting = self._resting.get(order.symbol)
        if resting is not None:
            resting.pop(order.id, None)
        final = self._change(order, status, event, fill, **fields)
        if self.history is not None:
            self._closed.append(order.id)
            while len(self._closed) > self.history:
                forgotten = self._orders.pop(self._closed.popleft(), None)
                if forgotten is not None:
                    self._client_ids.pop(forgotten.client_order_id, None)
        return final

    def _reject(self, order: Order, reason: str) -> Order:
        return self._finish(order, _S.REJECTED, EventType.REJECTED, reject_reason=reason)

    def _expire(self, order_id: str) -> None:
        order = self._orders.get(order_id)  # None: evicted from the bounded history
        if order is None:
            return
        if order.status.is_open and order.status is not _S.NEW:
            self._finish(order, _S.EXPIRED, EventType.EXPIRED)

    def _cancel_arrives(self, order_id: str) -> None:
        order = self._orders.get(order_id)  # None: evicted from the bounded history
        if order is None:
            return
        if order.status.is_open:
            self._finish(order, _S.CANCELED, EventType.CANCELED)

    async def cancel_order(self, order_id: str) -> Order:
        order = self._get(order_id)
        if order.status.is_final:
            raise OrderNotCancelable(f"order {order_id} ({order.symbol}) is already {order.status.value}")
        if order.status is _S.PENDING_CANCEL:
            return order
        if order.status is _S.PENDING_REPLACE:
            raise OrderNotCancelable(
                f"order {order_id} ({order.symbol}) is pending_replace: cancel its replacement once it is accepted"
            )
        delay = self._latency(order, Action.CANCEL)
        if not delay:
            return self._finish(order, _S.CANCELED, EventType.CANCELED)
        order = self._change(order, _S.PENDING_CANCEL, EventType.PENDING_CANCEL)
        self.clock.call_later(delay, self._cancel_arrives, order_id)
        return order

    async def replace_order(
        self,
        order_id: str,
        *,
        quantity: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce | str | None = None,
    ) -> Order:
        """Replace an open order, as Alpaca does: the old order ends `replaced` and a new order (new id, linked
        both ways through `replaces`/`replaced_by`) carries on with the changes.

        `quantity` is the new total: the new order is for `quantity` less what the old one already filled.
        Under latency the old order is `pending_replace` until the venue sees the request, and that snapshot
        is returned (``wait_for(order_id)`` then gives the replaced order and its `replaced_by`); a fill that
        arrives first wins, and a replace that finds the order filled changes nothing. Malformed changes raise
        `InvalidOrder`; a final or pending order raises `OrderNotReplaceable`.
        """
        order = self._get(order_id)
        if not order.status.is_open or order.status in (_S.NEW, _S.PENDING_CANCEL, _S.PENDING_REPLACE):
            state = order.status.value
            raise OrderNotReplaceable(f"order {order_id} ({order.symbol}) is {state}: it cannot be replaced")
        if quantity is None and limit_price is None and stop_price is None and time_in_force is None:
            raise InvalidOrder(f"replace of order {order_id} changes nothing: give quantity, prices or time_in_force")
        request = OrderRequest(
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity if quantity is None else quantity,
            type=order.type,
            time_in_force=order.time_in_force if time_in_force is None else time_in_force,
            limit_price=order.limit_price if limit_price is None else limit_price,
            stop_price=(order.stop_price if stop_price is None else stop_price)
            if order.type is not OrderType.TRAILING_STOP
            else None,
            reference_price=order.reference_price,
            trail_price=order.trail_price,
            trail_percent=order.trail_percent,
        )
        if not request.quantity > order.filled_quantity + QTY_EPSILON:
            raise InvalidOrder(
                f"quantity {request.quantity:g} is not above the {order.filled_quantity:g} already filled "
                f"(order {order_id}, {order.symbol})"
            )
        self._check_supported(request)
        delay = self._latency(order, Action.REPLACE)
        self._pending_replace_from[order_id] = order.status
        pending = self._change(order, _S.PENDING_REPLACE, EventType.PENDING_REPLACE)
        if not delay:
            return self._replace_now(order_id, request)
        self.clock.call_later(delay, self._replace_now, order_id, request)
        return pending

    def _replace_now(self, order_id: str, request: OrderRequest) -> Order:
        """The venue sees the replace: end the old order `replaced` and start its successor, or do nothing if the
        old order finished first. If the account cannot carry the successor, the old order stays as it was."""
        old = self._orders.get(order_id)
        previous = self._pending_replace_from.pop(order_id, None)
        if old is None or not old.status.is_open:
            return old  # type: ignore[return-value]
        remaining = request.quantity - old.filled_quantity
        if remaining <= QTY_EPSILON:
            return old
        new_id = f"paper-{next(self._ids):08d}"
        price = self._estimate_price(request)
        now = self.clock.now()
        client_id = f"{old.client_order_id}.r{new_id[-8:].lstrip('0')}"
        successor = _new_order(new_id, client_id, request, remaining, now, replaces=order_id)
        if price is None:
            reason: str | None = f"no market price known for {old.symbol} and no reference_price"
        else:
            cost = self._cost_per_unit(successor, price)
            reason = self.ledger.move_reservation(order_id, new_id, old.symbol, old.side, remaining, cost)
        if reason is not None:
            # Refused: the old order keeps working with its own reservation, as if never replaced.
            back = previous if previous in (_S.ACCEPTED, _S.PARTIALLY_FILLED) else _S.ACCEPTED
            return self._change(old, back, EventType.REPLACE_REJECTED, reject_reason=f"replace refused: {reason}")
        self._finish(old, _S.REPLACED, EventType.REPLACED, replaced_by=new_id)
        self._orders[new_id] = successor
        self._client_ids[successor.client_order_id] = new_id
        self._working[new_id] = _Working()
        self._emit(OrderEvent(EventType.NEW, successor, now))
        self._arrive(new_id)  # the venue has it: the replace request carried it there
        return self._orders[new_id]

    def _get(self, order_id: str) -> Order:
        order = self._orders.get(order_id)
        if order is None:
            raise OrderNotFound(f"no order with id {order_id!r}")
        return order

    async def get_order(self, order_id: str) -> Order:
        return self._get(order_id)

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        order_id = self._client_ids.get(client_order_id)
        if order_id is None:
            raise OrderNotFound(f"no order with client_order_id {client_order_id!r}")
        return self._orders[order_id]

    async def list_orders(self, status: str = "open", symbols: Iterable[str] | None = None) -> list[Order]:
        self._check_list_status(status)
        wanted = None if symbols is None else frozenset([symbols] if isinstance(symbols, str) else symbols)
        return [
            order
            for order in self._orders.values()
            if (status == "all" or (status == "open") == order.status.is_open)
            and (wanted is None or order.symbol in wanted)
        ]

    # -- positions and account ------------------------------------------------------------------------------

    async def get_position(self, symbol: str) -> Position | None:
        return self.ledger.position(symbol)

    async def get_positions(self) -> list[Position]:
        return self.ledger.positions()

    async def close_position(self, symbol: str) -> Order:
        quantity = self.ledger.quantity(symbol)
        if qty_is_zero(quantity):
            raise PositionNotFound(f"no open position in {symbol!r}")
        side = Side.SELL if quantity > 0 else Side.BUY
        return await self.submit_order(
            OrderRequest(symbol, side, abs(quantity), reference_price=self.ledger.mark(symbol))
        )

    async def get_account(self) -> Account:
        return self.ledger.account()

    async def close(self) -> None:
        """Stop the venue: pending timers (arrivals, expiries) no longer fire; `events()` iterators end."""
        for working in self._working.values():
            if working.expiry is not None:
                working.expiry.cancel()
        await super().close()
