"""The models one paper broker uses: built from the registry, registered with its plugin manager, called through
their hooks, and every answer checked, so a model that answers nonsense is named in a `ModelError`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from broker_sim._codegen import compile_function
from broker_sim._members import (
    _SIDE_BUY,
    _T_MARKET,
)
from broker_sim.errors import ConfigError, ModelError
from broker_sim.hookspecs import Action, FillDecision, HookContext
from broker_sim.models import Account, Bar, Fill, MarketData, Order, OrderType, unchecked_fill
from broker_sim.plugins import PluginManager, SelectedHook, build_registry

__all__ = ["ModelSet"]

#: `math.inf` as a module global, in every check of a model's answer here: one load, not a module's attribute read.
_INF: Final = math.inf


def _is_number(value: object) -> bool:
    return type(value) is float or (isinstance(value, int | float) and not isinstance(value, bool))


def _promise(model: object, function: Callable[..., Any], name: str) -> object:
    """The class attribute `name` of the class that defines `model`'s hook implementation `function`, read from that
    class's own namespace (None when it has none): a promise about the implementation, which a subclass that
    overrides the implementation does not inherit."""
    function = getattr(function, "__func__", function)
    for cls in type(model).__mro__:
        if cls.__dict__.get(function.__name__) is function:
            return cls.__dict__.get(name)
    return None


def constant_answer(model: object, function: Callable[..., Any]) -> float | None:
    """The answer `model`'s hook implementation `function` always gives, whatever it is asked, if the class that
    defines `function` says so beside it (a float class attribute ``constant_answer``, as `NoCommission` and
    `NoLatency` do); else None. Only the defining class's own attribute counts: a subclass that overrides the
    implementation does not inherit the promise. Only a finite answer >= 0 (what the latency and commission hooks
    may answer) is taken: any other is asked for, so that the answer's check names the model and the order."""
    answer = _promise(model, function, "constant_answer")
    if (type(answer) is float or type(answer) is int) and 0 <= answer < _INF:
        return float(answer)
    return None


def fills_market_at_last(model: object, function: Callable[..., Any]) -> bool:
    """Whether `model`'s hook implementation `function` answers a market order that is not a triggered stop with
    ``FillDecision(remaining quantity, last price)`` (the last price: a bar's close, another event's price, with
    no event the order's reference price; with none, NO_FILL), whatever else it is asked, as the class that
    defines `function` says beside it (a true class attribute ``fills_market_at_last``, as `ImmediateFill` does;
    its own, as for `constant_answer`). The venue then fills such an order at that price itself, without the
    call (`ModelSet.market_price`)."""
    return _promise(model, function, "fills_market_at_last") is True


def bps_factor(model: object, function: Callable[..., Any]) -> float | None:
    """``bps / 10_000.0`` when `model`'s hook implementation `function` answers ``price * (1.0 + that)`` for a buy
    and ``price * (1.0 - that)`` for a sale of the model's number attribute `bps`, whatever else it is asked, as the
    class that defines `function` says beside it (a true class attribute ``slips_fixed_bps``, as `FixedBpsSlippage`
    does; its own, as for `constant_answer`); else None. The caller then works out that very price itself, without
    the call."""
    if _promise(model, function, "slips_fixed_bps") is not True:
        return None
    bps = getattr(model, "bps", None)
    if type(bps) is not float and type(bps) is not int:
        return None
    return bps / 10_000.0


def uniform_draw(model: object, function: Callable[..., Any]) -> tuple[float, float] | None:
    """``(low, high - low)`` when `model`'s hook implementation `function` answers ``low + (high - low) *
    ctx.rng.random()`` of the model's float attributes `low` and `high`, as the class that defines `function`
    says beside it (a true class attribute ``draws_uniform``, as `UniformLatency` does; its own, as for
    `constant_answer`); else None. The caller then makes that very draw itself, without the call."""
    if _promise(model, function, "draws_uniform") is not True:
        return None
    low, high = getattr(model, "low", None), getattr(model, "high", None)
    if type(low) is not float or type(high) is not float:
        return None
    return (low, high - low)


#: Generated makers of `_Hook` callers, by (the hook's parameters, the arguments the implementation names, or
#: None for a call through pluggy): made once per shape in a process, not once per broker.
_MAKERS: dict[tuple[tuple[str, ...], tuple[str, ...] | None], Callable[[Any], Callable[..., Any]]] = {}


def _maker(parameters: tuple[str, ...], names: tuple[str, ...] | None) -> Callable[[Any], Callable[..., Any]]:
    """A function that makes a caller taking `parameters` positionally: it passes the implementation the
    arguments it `names`, or (`names` None) passes every one to the pluggy hook by keyword."""
    maker = _MAKERS.get((parameters, names))
    if maker is None:
        passed = ", ".join(names) if names is not None else ", ".join(f"{name}={name}" for name in parameters)
        lines = [
            "def make(target):",
            f"    def call({', '.join(parameters)}):",
            f"        return target({passed})",
            "    return call",
        ]
        source = "\n".join(lines) + "\n"
        purpose = f"hook call ({', '.join(names) if names is not None else 'pluggy'})"
        maker = _MAKERS[(parameters, names)] = compile_function(source, "make", {}, purpose=purpose)
    return maker


class _Hook:
    """One `firstresult` hook of a selected model, called with the hookspec's arguments in its order: `call` goes
    straight to the model's method (picking the arguments it names) while the model is the hook's only
    implementation, else through pluggy, as `SelectedHook` does with keywords; the caller runs `refresh` when
    the manager's plugin set changed (`generation`). Positional calls spare the order path a keyword dict and
    a frame per hook call. `fixed` is the answer of a lone implementation that always answers the same
    (`constant_answer`; None: call it). `leading` is how many of the hook's first parameters, and no others, the
    lone implementation names (-1 when it is not so, or goes through pluggy): a caller that knows the count calls
    `target` (the implementation itself) with those arguments, without `call`'s frame in between. `deterministic`:
    the lone implementation is the model's, and the model says its answers depend on the hook's arguments alone
    (a true `deterministic` attribute, `ModelSet`'s docstring), so an answer may be used again for the same ones.
    `uniform`: the lone implementation's ``(low, high - low)`` when it draws uniformly (`uniform_draw`; None: call
    it). `market_at_last`: the lone implementation is the model's, and it promises `fills_market_at_last`.
    `bps`: the lone implementation's `bps_factor` when it slips a fixed number of basis points (None: call it)."""

    __slots__ = (
        "_hook",
        "_manager",
        "_model",
        "bps",
        "call",
        "deterministic",
        "fixed",
        "generation",
        "leading",
        "market_at_last",
        "parameters",
        "target",
        "uniform",
    )

    def __init__(self, manager: PluginManager, hook_name: str, model: object, parameters: tuple[str, ...]) -> None:
        self._manager = manager
        self._hook = getattr(manager.hook, hook_name)
        spec = self._hook.spec
        if spec is not None and tuple(spec.argnames) != parameters:
            raise TypeError(f"{hook_name} takes {spec.argnames}, not {parameters}: update ModelSet's calls")
        self._model = model
        self.parameters = parameters
        self.generation = -1
        self.call: Callable[..., Any] = self._hook
        self.target: Callable[..., Any] = self._hook
        self.fixed: float | None = None
        self.uniform: tuple[float, float] | None = None
        self.leading = -1
        self.deterministic = False
        self.market_at_last = False
        self.bps: float | None = None
        self.refresh()

    def refresh(self) -> None:
        """Choose the direct call or pluggy's for the plugins registered now."""
        self.generation = self._manager.generation
        impls = self._hook.get_hookimpls()
        lone = impls[0] if len(impls) == 1 else None
        if lone is not None and lone.plugin is self._model and not lone.wrapper and not lone.hookwrapper:
            names = tuple(lone.argnames)
            self.target = lone.function
            self.leading = len(names) if names == self.parameters[: len(names)] else -1
            # All the parameters, in order: the implementation is the caller itself.
            self.call = lone.function if names == self.parameters else _maker(self.parameters, names)(lone.function)
            self.fixed = constant_answer(self._model, lone.function)
            self.uniform = uniform_draw(self._model, lone.function)
            self.deterministic = getattr(self._model, "deterministic", False) is True
            self.market_at_last = fills_market_at_last(self._model, lone.function)
            self.bps = bps_factor(self._model, lone.function)
        else:
            self.call = self.target = _maker(self.parameters, None)(self._hook)
            self.leading = -1
            self.fixed = None
            self.uniform = None
            self.deterministic = False
            self.market_at_last = False
            self.bps = None


class ModelSet:
    """The selected slippage, latency, fill, commission and financing (borrow fee, margin interest) models of one
    broker, and checked calls to them.

    `chosen` maps each kind to a config spec (``{"model": "fixed_bps", "bps": 5}`` or a name). Each model is
    built from the manager's registry and registered as a plugin named ``"<kind>:<name>"``; wrappers and
    ``tryfirst`` plugins on the same manager take part in every call.

    A slippage model whose class (or instance) has ``deterministic = True`` promises that its answer depends only on
    the hook's arguments: the order's request (side, type, prices, not its status or fills), `price`, `market` and
    `quantity`, never `ctx` (no random draw, no time, no account, not `estimate`). While it is the hook's only
    implementation (no wrapper, no other plugin), a fill of an order at the very price, market event and quantity
    its reservation was estimated at (a market order with no latency) executes at the estimate's answer without
    asking again; any other fill asks. Every built-in slippage model is deterministic; a plugin may say so too.
    """

    def __init__(
        self,
        manager: PluginManager,
        chosen: Mapping[str, Mapping[str, Any] | str],
        seed: int | None,
        clock_time: Callable[[], float],
        account: Callable[[], Account],
    ) -> None:
        self._manager = manager
        registry = build_registry(manager)
        self.names: dict[str, str] = {}
        self.objects: dict[str, Any] = {}
        for kind, spec in chosen.items():
            model = registry.create(kind, spec)
            name = str(spec if isinstance(spec, str) else spec["model"])
            hook = f"broker_sim_{kind}"
            manager.register(model, name=f"{kind}:{name}")
            if not any(impl.plugin is model for impl in getattr(manager.hook, hook).get_hookimpls()):
                raise ConfigError(f"{kind} model {name!r} does not implement the {hook} hook")
            self.names[kind] = name
            self.objects[kind] = model
        objects = self.objects
        self._slippage = _Hook(
            manager,
            "broker_sim_slippage",
            objects["slippage"],
            ("order", "price", "market", "ctx", "quantity", "estimate"),
        )
        self._latency = _Hook(manager, "broker_sim_latency", objects["latency"], ("order", "action", "ctx"))
        self._fill = _Hook(manager, "broker_sim_fill", objects["fill"], ("order", "market", "ctx", "working_since"))
        self._commission = _Hook(
            manager, "broker_sim_commission", objects["commission"], ("order", "fill", "ctx", "quantity", "estimate")
        )
        self._borrow_fee = SelectedHook(manager, "broker_sim_borrow_fee", self.objects["borrow_fee"])
        self._margin_interest = SelectedHook(manager, "broker_sim_margin_interest", self.objects["margin_interest"])
        self._ctx = {kind: HookContext(kind, name, seed, clock_time, account) for kind, name in self.names.items()}
        self._estimate_ctx = {
            kind: HookContext(kind, self.names[kind], seed, clock_time, account, estimate=True)
            for kind in ("slippage", "commission")
        }
        #: The contexts the order path reads on every fill, without the dict's lookups.
        self._fill_ctx = self._ctx["fill"]
        self._slippage_ctx = self._ctx["slippage"]
        #: The estimate contexts, read on every order's path (`cost_per_unit`) without the dict's lookups.
        self._estimate_slippage_ctx = self._estimate_ctx["slippage"]
        self._estimate_commission_ctx = self._estimate_ctx["commission"]
        self._latency_ctx = self._ctx["latency"]
        #: The last slippage estimate of a deterministic model (`cost_per_unit`): the order id, price, market event
        #: and quantity it was asked for, and its answer, for `execution_price` to use again on the same ones.
        self._estimated_order: str | None = None
        self._estimated_price = 0.0
        self._estimated_market: MarketData | None = None
        self._estimated_quantity = 0.0
        self._estimated_slipped = 0.0
        #: The order types the fill model fills (None: it does not say, so all).
        self.fill_types: frozenset[OrderType] | None = getattr(self.objects["fill"], "order_types", None)

    def _who(self, kind: str) -> str:
        """The model of `kind`, and the other plugins taking part in its hook, for error messages."""
        hook = getattr(self._manager.hook, f"broker_sim_{kind}")
        model = self.objects[kind]
        others = sorted({impl.plugin_name for impl in hook.get_hookimpls() if impl.plugin is not model})
        text = f"{kind} model {self.names[kind]!r}"
        return f"{text} (with plugin {', '.join(others)})" if others else text

    def _error(self, kind: str, what: str, order: Order) -> ModelError:
        who = self._who(kind)
        return ModelError(f"{who} returned {what} for order {order.id} ({order.symbol})", who)

    def latency(self, order: Order, action: Action) -> float:
        """Seconds until the venue sees `action` for `order` (finite, >= 0)."""
        hook = self._latency
        if hook.generation != self._manager.generation:
            hook.refresh()
        if hook.fixed is not None:
            return hook.fixed
        uniform = hook.uniform
        if uniform is not None:  # the lone model's own draw, made here without its call: the same draw, the same sum
            delay: Any = uniform[0] + uniform[1] * self._latency_ctx.rng.random()
        else:
            delay = hook.call(order, action, self._latency_ctx)
        if type(delay) is float and 0 <= delay < _INF:
            return delay
        if delay is None:
            return 0.0
        if not _is_number(delay) or not 0 <= delay < _INF:
            raise self._error("latency", f"{delay!r} seconds", order)
        return float(delay)

    def fill(self, order: Order, market: MarketData | None, working_since: datetime) -> FillDecision | None:
        """The fill model's decision for `order` on `market` (None: no model decided); `working_since` is when
        the order started working at the venue."""
        hook = self._fill
        if hook.generation != self._manager.generation:
            hook.refresh()
        if hook.leading == 3:  # (order, market, ctx): the built-in models
            decision = hook.target(order, market, self._fill_ctx)
        else:
            decision = hook.call(order, market, self._fill_ctx, working_since)
        if type(decision) is FillDecision:
            quantity, price = decision.quantity, decision.price
            if type(quantity) is float and (quantity == 0 or (0 < quantity < _INF and 0 < price < _INF)):
                return decision
        if decision is None:
            return None
        if not isinstance(decision, FillDecision):
            raise self._error("fill", repr(decision), order)
        quantity = decision.quantity
        if not _is_number(quantity) or not 0 <= quantity < _INF:
            raise self._error("fill", f"quantity {quantity!r}", order)
        if quantity > 0 and not (_is_number(decision.price) and 0 < decision.price < _INF):
            raise self._error("fill", f"price {decision.price!r}", order)
        return decision

    def market_price(self, order: Order, market: MarketData | None) -> float:
        """The price the fill model fills the whole of `order` at on `market`, when the model is the fill hook's one
        implementation and promises so for a market order (`fills_market_at_last`), and the answer would pass
        `fill`'s checks; else 0.0: ask `fill`. The venue asks this first for a plain market order that reaches it
        in a session (`Venue._arrive_plain`; an order accepted before the open goes the general way), so the
        model's answer is made without the hook call and its `FillDecision` (the same fill, at the same price;
        nothing is drawn)."""
        hook = self._fill
        if hook.generation != self._manager.generation:
            hook.refresh()
        if not hook.market_at_last or order.type is not _T_MARKET or order.triggered_at is not None:
            return 0.0
        if market is None:
            price = order.reference_price
            if price is None:
                return 0.0
        elif type(market) is Bar:  # `market.price`, without the property's call for a bar (its close)
            price = market.close
        else:
            price = market.price
        quantity = order.quantity - order.filled_quantity
        if (type(price) is float or type(price) is int) and 0 < price < _INF and 0.0 <= quantity < _INF:
            # (as the model answers it; pure build: an int price of the market data stays one, as through `fill`)
            return price
        return 0.0

    def declined(self, order: Order) -> str:
        """The reason for rejecting `order` when no fill model decided it (every implementation answered None)."""
        return (
            f"no fill model decides {order.type.value} orders: asked {self._who('fill')}, and each answered None "
            "('not mine'); a model that declines to fill now answers NO_FILL"
        )

    def execution_price(self, order: Order, price: float, market: MarketData | None, quantity: float) -> float:
        """The price `quantity` of `order` executes at, `price` being the fill model's (finite, > 0).

        (Here and below, ``ctx._fill_quantity`` is what the deprecated ``ctx.fill_quantity`` reads: stored
        directly, as its property setter is a call on every hook call of the order path.)"""
        hook = self._slippage
        if hook.generation != self._manager.generation:
            hook.refresh()
        if (
            hook.deterministic
            and order.id == self._estimated_order
            and price == self._estimated_price
            and market is self._estimated_market
            and quantity == self._estimated_quantity
        ):
            return self._estimated_slipped  # the estimate's answer, asked for the same arguments (class docstring)
        ctx = self._slippage_ctx
        ctx._fill_quantity = quantity
        factor = hook.bps
        if factor is not None:  # the lone model's own answer, worked out here without its call (`bps_factor`)
            slipped = price * (1.0 + factor) if order.side is _SIDE_BUY else price * (1.0 - factor)
        elif hook.leading == 4:  # (order, price, market, ctx): the built-in models
            slipped = hook.target(order, price, market, ctx)
        else:
            slipped = hook.call(order, price, market, ctx, quantity, False)
        if type(slipped) is float and 0 < slipped < _INF:
            return slipped
        if slipped is None:
            return price
        if not _is_number(slipped) or not 0 < slipped < _INF:
            raise self._error("slippage", f"price {slipped!r}", order)
        return float(slipped)

    def fee(self, order: Order, fill: Fill) -> float:
        """The fee for `fill` of `order` (finite, >= 0)."""
        hook = self._commission
        if hook.generation != self._manager.generation:
            hook.refresh()
        if hook.fixed is not None:
            return hook.fixed
        ctx = self._ctx["commission"]
        ctx._fill_quantity = fill.quantity
        # (order, fill, ctx): the built-in models
        fee = hook.target(order, fill, ctx) if hook.leading == 3 else hook.call(order, fill, ctx, fill.quantity, False)
        if type(fee) is float and 0 <= fee < _INF:
            return fee
        if fee is None:
            return 0.0
        if not _is_number(fee) or not 0 <= fee < _INF:
            raise self._error("commission", f"fee {fee!r}", order)
        return float(fee)

    def borrow_fee(self, symbol: str, quantity: float, price: float, days: int) -> float:
        """The borrow fee for `quantity` shares of `symbol` held short over `days` days at `price` (finite, >= 0)."""
        fee = self._borrow_fee(symbol=symbol, quantity=quantity, price=price, days=days, ctx=self._ctx["borrow_fee"])
        return self._charge("borrow_fee", fee, f"a short of {quantity:g} {symbol}")

    def margin_interest(self, debit: float, days: int) -> float:
        """The interest on a debit balance of `debit` over `days` days (finite, >= 0)."""
        interest = self._margin_interest(debit=debit, days=days, ctx=self._ctx["margin_interest"])
        return self._charge("margin_interest", interest, f"a debit of {debit:,.2f}")

    def _charge(self, kind: str, amount: object, what: str) -> float:
        if amount is None:
            return 0.0
        if not _is_number(amount) or not 0 <= amount < _INF:  # type: ignore[operator]
            raise ModelError(f"{self._who(kind)} returned {amount!r} for {what}", self._who(kind))
        return float(amount)  # type: ignore[arg-type]

    def cost_per_unit(self, order: Order, price: float, market: MarketData | None) -> float:
        """One unit's estimated cash cost at `price` for the reservation: slipped price plus fee per unit.

        Asks slippage and commission with ``estimate=True`` on their estimate contexts (separate random streams).
        """
        quantity = order.quantity
        ctx = self._estimate_slippage_ctx
        ctx._fill_quantity = quantity
        generation = self._manager.generation
        hook = self._slippage
        if hook.generation != generation:
            hook.refresh()
        factor = hook.bps
        if factor is not None:  # the lone model's own answer, without its call (`bps_factor`)
            slipped = price * (1.0 + factor) if order.side is _SIDE_BUY else price * (1.0 - factor)
        elif hook.leading == 4:
            slipped = hook.target(order, price, market, ctx)
        else:
            slipped = hook.call(order, price, market, ctx, quantity, True)
        if slipped is None:
            slipped = price
        elif (type(slipped) is not float and not _is_number(slipped)) or not 0 < slipped < _INF:
            raise self._error("slippage", f"price {slipped!r} (estimate)", order)
        if hook.deterministic:
            self._estimated_order = order.id
            self._estimated_price = price
            self._estimated_market = market
            self._estimated_quantity = quantity
            self._estimated_slipped = float(slipped)
        if order.limit_price is not None and order.side is _SIDE_BUY:
            slipped = min(slipped, order.limit_price)
        hook = self._commission
        if hook.generation != generation:
            hook.refresh()
        if hook.fixed is not None:  # a fee known without asking: no estimate `Fill` to build
            return slipped + hook.fixed / quantity
        whole = unchecked_fill(order.id, order.symbol, order.side, quantity, slipped, 0.0, order.created_at, price)
        ctx = self._estimate_commission_ctx
        ctx._fill_quantity = quantity
        if hook.leading == 3:
            fee = hook.target(order, whole, ctx) or 0.0
        else:
            fee = hook.call(order, whole, ctx, quantity, True) or 0.0
        if (type(fee) is not float and not _is_number(fee)) or not 0 <= fee < _INF:
            raise self._error("commission", f"fee {fee!r} (estimate)", order)
        return slipped + fee / quantity
