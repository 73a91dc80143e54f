"""The models one paper broker uses: built from the registry, registered with its plugin manager, called through
their hooks, and every answer checked, so a model that answers nonsense is named in a `ModelError`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from broker_sim.errors import ConfigError, ModelError
from broker_sim.hookspecs import Action, FillDecision, HookContext
from broker_sim.models import Account, Fill, MarketData, Order, OrderType, Side, unchecked_fill
from broker_sim.plugins import PluginManager, SelectedHook, build_registry

__all__ = ["ModelSet"]


def _is_number(value: object) -> bool:
    return value.__class__ is float or (isinstance(value, int | float) and not isinstance(value, bool))


class ModelSet:
    """The selected slippage, latency, fill, commission and financing (borrow fee, margin interest) models of one
    broker, and checked calls to them.

    `chosen` maps each kind to a config spec (``{"model": "fixed_bps", "bps": 5}`` or a name). Each model is
    built from the manager's registry and registered as a plugin named ``"<kind>:<name>"``; wrappers and
    ``tryfirst`` plugins on the same manager take part in every call.
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
        self._slippage = SelectedHook(manager, "broker_sim_slippage", self.objects["slippage"])
        self._latency = SelectedHook(manager, "broker_sim_latency", self.objects["latency"])
        self._fill = SelectedHook(manager, "broker_sim_fill", self.objects["fill"])
        self._commission = SelectedHook(manager, "broker_sim_commission", self.objects["commission"])
        self._borrow_fee = SelectedHook(manager, "broker_sim_borrow_fee", self.objects["borrow_fee"])
        self._margin_interest = SelectedHook(manager, "broker_sim_margin_interest", self.objects["margin_interest"])
        self._ctx = {kind: HookContext(kind, name, seed, clock_time, account) for kind, name in self.names.items()}
        self._estimate_ctx = {
            kind: HookContext(kind, self.names[kind], seed, clock_time, account, estimate=True)
            for kind in ("slippage", "commission")
        }
        self._fill_ctx = self._ctx["fill"]
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
        delay = self._latency(order=order, action=action, ctx=self._ctx["latency"])
        if delay.__class__ is float and 0 <= delay < math.inf:
            return delay
        if delay is None:
            return 0.0
        if not _is_number(delay) or not 0 <= delay < math.inf:
            raise self._error("latency", f"{delay!r} seconds", order)
        return float(delay)

    def fill(self, order: Order, market: MarketData | None, working_since: datetime) -> FillDecision | None:
        """The fill model's decision for `order` on `market` (None: no model decided); `working_since` is when
        the order started working at the venue."""
        decision = self._fill(order=order, market=market, ctx=self._fill_ctx, working_since=working_since)
        if decision.__class__ is FillDecision:
            quantity, price = decision.quantity, decision.price
            if quantity.__class__ is float and (quantity == 0 or (0 < quantity < math.inf and 0 < price < math.inf)):
                return decision
        if decision is None:
            return None
        if not isinstance(decision, FillDecision):
            raise self._error("fill", repr(decision), order)
        quantity = decision.quantity
        if not _is_number(quantity) or not 0 <= quantity < math.inf:
            raise self._error("fill", f"quantity {quantity!r}", order)
        if quantity > 0 and not (_is_number(decision.price) and 0 < decision.price < math.inf):
            raise self._error("fill", f"price {decision.price!r}", order)
        return decision

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
        ctx = self._ctx["slippage"]
        ctx._fill_quantity = quantity
        slipped = self._slippage(order=order, price=price, market=market, ctx=ctx, quantity=quantity, estimate=False)
        if slipped.__class__ is float and 0 < slipped < math.inf:
            return slipped
        if slipped is None:
            return price
        if not _is_number(slipped) or not 0 < slipped < math.inf:
            raise self._error("slippage", f"price {slipped!r}", order)
        return float(slipped)

    def fee(self, order: Order, fill: Fill) -> float:
        """The fee for `fill` of `order` (finite, >= 0)."""
        ctx = self._ctx["commission"]
        ctx._fill_quantity = fill.quantity
        fee = self._commission(order=order, fill=fill, ctx=ctx, quantity=fill.quantity, estimate=False)
        if fee.__class__ is float and 0 <= fee < math.inf:
            return fee
        if fee is None:
            return 0.0
        if not _is_number(fee) or not 0 <= fee < math.inf:
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
        if not _is_number(amount) or not 0 <= amount < math.inf:  # type: ignore[operator]
            raise ModelError(f"{self._who(kind)} returned {amount!r} for {what}", self._who(kind))
        return float(amount)  # type: ignore[arg-type]

    def cost_per_unit(self, order: Order, price: float, market: MarketData | None) -> float:
        """One unit's estimated cash cost at `price` for the reservation: slipped price plus fee per unit.

        Asks slippage and commission with ``estimate=True`` on their estimate contexts (separate random streams).
        """
        quantity = order.quantity
        ctx = self._estimate_ctx["slippage"]
        ctx._fill_quantity = quantity
        slipped = self._slippage(order=order, price=price, market=market, ctx=ctx, quantity=quantity, estimate=True)
        if slipped is None:
            slipped = price
        elif (slipped.__class__ is not float and not _is_number(slipped)) or not 0 < slipped < math.inf:
            raise self._error("slippage", f"price {slipped!r} (estimate)", order)
        if order.limit_price is not None and order.side is Side.BUY:
            slipped = min(slipped, order.limit_price)
        whole = unchecked_fill(order.id, order.symbol, order.side, quantity, slipped, 0.0, order.created_at, price)
        ctx = self._estimate_ctx["commission"]
        ctx._fill_quantity = quantity
        fee = self._commission(order=order, fill=whole, ctx=ctx, quantity=quantity, estimate=True) or 0.0
        if (fee.__class__ is not float and not _is_number(fee)) or not 0 <= fee < math.inf:
            raise self._error("commission", f"fee {fee!r} (estimate)", order)
        return slipped + fee / quantity
