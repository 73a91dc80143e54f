"""The plugin author's manual: every hook broker-sim calls, with the types the hooks exchange.

broker-sim's pluggy project name is ``"broker_sim"``. A plugin is any object or module with functions named after
these hooks and decorated with `hookimpl`. The built-in models are ordinary plugins of these same hooks; yours
sit beside them.

Two ways to take part:

1. **Provide a named model** that YAML can select. Implement `broker_sim_register` and add a factory (usually a
   class) to the registry; its keyword parameters are what YAML passes. When a config selects it, the broker
   calls the factory and registers the object it returns as a plugin, so its hook methods answer for that
   broker. Example::

       @attrs.frozen
       class HalfSpread:
           bps: float = 2.0

           @hookimpl
           def broker_sim_slippage(self, order, price, market):
               return price * (1 + self.bps / 1e4) if order.side == "buy" else price * (1 - self.bps / 1e4)

       @hookimpl
       def broker_sim_register(registry):
           registry.add("slippage", "half_spread", HalfSpread)

2. **Wrap or observe** whatever model is selected: implement a hook at module level with
   ``@hookimpl(wrapper=True)`` (pluggy's new-style wrapper: ``result = yield`` gives the inner answer, return the
   adjusted one) or ``@hookimpl(tryfirst=True)`` to answer before the model. Such a plugin acts on every broker
   that loads it (plugin files listed in the config, or an installed package's ``broker_sim`` entry point).

Who decides what, for one fill: the **fill** hook decides *whether* an order fills now, *how much* (so it alone
makes partial fills), at what price *before slippage*, and whether a stop triggered (`FillDecision.triggered`)
or the order cannot be judged on this event yet (`NOT_YET`, e.g. the bar it was submitted in); the
**slippage** hook turns that into the execution price; the **commission** hook prices the fee. The account
then books the fill through its one door (`AccountState.apply`), and the adapter never lets a limit order
execute beyond its limit price, whatever slippage said. The **latency** hook says how long a submit, cancel or
replace takes to reach the simulated venue.

Exactly when the paper adapter calls each hook, per order:

* ``broker_sim_latency``: once per submit, once per cancel and once per replace request, when it is made.
* ``broker_sim_slippage`` and ``broker_sim_commission``: once per fill with ``estimate=False``; and once per
  submission and per replace with ``estimate=True``, to size the buying-power reservation. Estimate calls get a
  context whose random streams are separate (``ctx.estimate`` is True), so a model that draws from ``ctx.rng``
  draws exactly once per fill from its fill stream however many estimates were made. One exception: a slippage
  model that declares ``deterministic = True`` (its answer depends on `order`, `price`, `market` and `quantity`
  alone: never on `ctx` or `estimate`; every built-in slippage model does) and is the hook's only
  implementation is not asked again for a fill at the very order, price, market event and quantity its
  estimate was made for (a market order with no latency): the estimate's answer is the fill's.
* Declared shortcuts: a model whose class promises its answer (`constant_answer`, `draws_uniform`,
  `slips_fixed_bps`, `fills_market_at_last` in `broker_sim.adapters.paper.model_set`; CONTRIBUTING says how) is
  not called while it is its hook's only implementation: the broker works out that very answer itself (with the
  built-in models alone, a market order's latency, slippage and, arriving in a session, its fill). A wrapper or a
  second implementation turns the shortcut off and the hook is called as above.
* ``broker_sim_fill``: when the order starts working at the venue, then on every market update of its symbol
  while it works (an opg order at the next session's first event, a cls order at the session close).
* ``broker_sim_order_event``: for every order event, after the change it reports is complete.

And per account, at each session close: ``broker_sim_borrow_fee`` once per short position, and
``broker_sim_margin_interest`` when cash is below zero (the **financing** models: `borrow_fee` and
`margin_interest` in YAML, chosen as commission is); ``broker_sim_account_event`` for every account event.

Per-call data comes as hook arguments (``quantity``, ``estimate``); an implementation names only the arguments
it wants, so new arguments never break an existing plugin. Answers are checked: a price that is not finite and
positive, a latency that is not finite and >= 0, a fee that is not finite and >= 0 or a malformed fill decision
raises `ModelError` naming the model (at submission the order is rejected with that reason instead).

For `firstresult` hooks the first implementation that returns something other than ``None`` wins; ``None`` means
"not mine, ask the next one". The selected models are registered when a broker is built, after every plugin
module, so they answer before a plain module-level implementation: use ``tryfirst=True`` to answer before them,
``wrapper=True`` to adjust their answer.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import attrs
import pluggy

from broker_sim.activities import AccountEvent
from broker_sim.models import Account, Fill, MarketData, Order, OrderEvent, install_fast_init

if TYPE_CHECKING:
    from broker_sim.registry import Registry

__all__ = [
    "NOT_YET",
    "NO_FILL",
    "PROJECT_NAME",
    "Action",
    "FillDecision",
    "HookContext",
    "broker_sim_account_event",
    "broker_sim_borrow_fee",
    "broker_sim_commission",
    "broker_sim_fill",
    "broker_sim_latency",
    "broker_sim_margin_interest",
    "broker_sim_order_event",
    "broker_sim_register",
    "broker_sim_slippage",
    "hookimpl",
    "hookspec",
]

PROJECT_NAME = "broker_sim"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Action(StrEnum):
    """What travels to the venue, for the latency hook."""

    SUBMIT = "submit"
    CANCEL = "cancel"
    REPLACE = "replace"


@attrs.frozen(slots=True)
class FillDecision:
    """A fill model's answer: fill `quantity` now at `price` (before slippage). Quantity 0 means "not now".

    `triggered` reports that a stop order's stop was reached: the broker remembers it, and from then on offers
    the order to the fill model as what it became (a stop or trailing stop as a market order, a stop-limit as a
    limit order), even if this decision fills nothing.
    """

    quantity: float
    price: float
    triggered: bool = False
    #: "Not judged yet" (e.g. the bar the order was submitted in, under next-bar timing): an ioc or fok order
    #: waits for the first real judgement instead of being canceled.
    wait: bool = False
    #: When inside the market event the fill happened, as a fraction of it (0 its start, 1 its end). When several
    #: orders of one symbol fill on the same bar, the venue executes them in this order (ties in arrival order),
    #: so that a bar crossing a bracket's two exits fills the one it reached first.
    at: float = 0.0


# A fill model answers one per order it fills: built by slot stores, as attrs' frozen __init__ is slow.
install_fast_init(FillDecision)

#: The answer "this order does not fill now" (distinct from None, which means "not my decision").
NO_FILL = FillDecision(0.0, 0.0)
#: The answer "this order cannot be judged on this event yet; ask again on the next one" (no fill either).
NOT_YET = FillDecision(0.0, 0.0, wait=True)


class HookContext:
    """What a hook may know besides its arguments: the time, its own seeded random stream, the account.

    Each hook kind (slippage, latency, fill, commission, borrow_fee, margin_interest) gets its own context whose
    `rng` is seeded from the broker's seed and the selected model's name, so adding or changing one model never
    shifts another's draws. Estimates (`estimate` True) get contexts of their own, with separate streams. A plugin
    that needs its own stream asks `rng_for("my_plugin")`.
    """

    __slots__ = ("_account", "_clock_time", "_fill_quantity", "_rngs", "_seed", "estimate", "kind", "rng")

    def __init__(
        self,
        kind: str,
        model_name: str,
        seed: int | None,
        clock_time: Callable[[], float],
        account: Callable[[], Account],
        *,
        estimate: bool = False,
    ) -> None:
        self.kind = kind
        self.estimate = estimate
        self._seed = seed if not estimate or seed is None else f"{seed}:estimate"
        self._rngs: dict[str, random.Random] = {}
        self.rng = self.rng_for(f"{kind}:{model_name}")
        self._clock_time = clock_time
        self._account = account
        self._fill_quantity = 0.0

    @property
    def fill_quantity(self) -> float:
        """Deprecated (warns): the quantity being filled, which hooks now get as their `quantity` argument."""
        warnings.warn(
            "ctx.fill_quantity is deprecated; take the hook's `quantity` argument instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._fill_quantity

    @fill_quantity.setter
    def fill_quantity(self, quantity: float) -> None:
        self._fill_quantity = quantity

    @property
    def now(self) -> datetime:
        """The broker clock's current time (simulated or real), timezone-aware UTC."""
        return datetime.fromtimestamp(self._clock_time(), UTC)

    @property
    def account(self) -> Account:
        """A snapshot of the account now."""
        return self._account()

    def rng_for(self, name: str) -> random.Random:
        """A `random.Random` for `name`, seeded from the broker's seed and `name` (None seed: from the OS)."""
        rng = self._rngs.get(name)
        if rng is None:
            rng = self._rngs[name] = random.Random(None if self._seed is None else f"{self._seed}:{name}")
        return rng


@hookspec
def broker_sim_register(registry: Registry) -> None:
    """Add named models, price sources or adapters to `registry` so configs can select them by name.

    Called once per plugin manager, on every plugin (all called). Use `registry.add(kind, name, factory)`, where
    kind is one of ``slippage``, ``latency``, ``fill``, ``commission``, ``source``, ``adapter``. `factory` may
    be a ``"module:Class"`` string, imported only when a config selects it; pass ``extra="name"`` when that
    import needs an optional extra, so a missing one is a `ConfigError` saying what to install.
    """


@hookspec(firstresult=True)
def broker_sim_slippage(
    order: Order, price: float, market: MarketData | None, ctx: HookContext, quantity: float, estimate: bool
) -> float | None:
    """Return the execution price of `quantity` of `order` whose price before slippage is `price`.

    Called once per fill (``estimate=False``), after the fill hook decided it; and once per submission and per
    replace (``estimate=True``, `price` being the estimated price and `quantity` the whole order) to size the
    buying-power reservation. `market` is the latest bar/quote/trade of the order's symbol (None if none was
    seen). Buys should pay more and sells receive less. Return None to leave the decision to the next
    implementation. A model whose answer depends on `order`, `price`, `market` and `quantity` alone may say so
    with a class attribute ``deterministic = True``: a fill at its estimate's arguments then takes the estimate's
    answer instead of a second call (the module docstring says when).
    """


@hookspec(firstresult=True)
def broker_sim_latency(order: Order, action: Action, ctx: HookContext) -> float | None:
    """Return the seconds until the venue sees `action` (submit, cancel or replace) for `order`.

    Called once per submit, cancel and replace request, when it is made (for a replace, `order` is the order
    being replaced). 0 means the venue sees it at once. Draw randomness from `ctx.rng` only, so runs are
    reproducible.
    """


@hookspec(firstresult=True)
def broker_sim_fill(
    order: Order, market: MarketData | None, ctx: HookContext, working_since: datetime
) -> FillDecision | None:
    """Decide whether `order` fills now: return a `FillDecision` (quantity, price before slippage) or `NO_FILL`.

    Called when the order starts working at the venue and then on every market update for its symbol while it
    works. `market` is the latest bar/quote/trade of the symbol, or None when none was seen; then the order's
    `reference_price` stands in for the market. A quantity above the order's remaining quantity is capped. A
    triggered stop is offered as what it became (a market or limit order). `working_since` is when the order
    started working at the venue (after latency, or at the open for an order queued outside the session):
    market data stamped before it must not price the order (the built-in `bar` model answers `NOT_YET` for it,
    and judges an order that started working inside a bar's interval on that bar, from its open or along its
    path). Only market data inside the session reaches an order (extended hours for the orders that allow them).
    When several orders of a symbol fill on one bar, the venue executes them in the order of their decisions'
    `FillDecision.at`.

    None means "not mine": if every implementation answers None the order is rejected (naming the models
    asked), never left working forever. A model that declines to fill *now* answers `NO_FILL`. To decide only
    some orders and let a built-in decide the rest, either delegate (``return BarFill().broker_sim_fill(order,
    market, ctx, working_since)`` for the others) or implement this hook with ``@hookimpl(wrapper=True)``
    around the selected built-in model and return its answer (``answer = yield``) unchanged for the orders that
    are not yours.
    """


@hookspec(firstresult=True)
def broker_sim_commission(order: Order, fill: Fill, ctx: HookContext, quantity: float, estimate: bool) -> float | None:
    """Return the fee (in cash, >= 0) for `fill` of `order` (`quantity` is `fill.quantity`); `fill.fee` is 0.

    Called once per fill, after slippage (``estimate=False``); and once per submission and per replace with a
    hypothetical fill of the whole order (``estimate=True``), to size the buying-power reservation.
    """


@hookspec(firstresult=True)
def broker_sim_borrow_fee(symbol: str, quantity: float, price: float, days: int, ctx: HookContext) -> float | None:
    """Return the borrow fee (in cash, >= 0) for holding `quantity` shares of `symbol` short (a positive count)
    from a session close, where it is worth `price` a share, for `days` calendar days (to the next session's
    close: 3 from a Friday). The paper adapter books it as a ``FEE`` activity, rounded to the cent.

    Called at each session close, once per short position held then.
    """


@hookspec(firstresult=True)
def broker_sim_margin_interest(debit: float, days: int, ctx: HookContext) -> float | None:
    """Return the interest (in cash, >= 0) on a debit balance of `debit` (cash below zero, as a positive amount)
    at a session close, for `days` calendar days (to the next session's close). The paper adapter books it as an
    ``INT`` activity, rounded to the cent.

    Called at each session close at which the account's cash is below zero.
    """


@hookspec
def broker_sim_order_event(event: OrderEvent) -> None:
    """Observe an order event (pending_new, new, fill, canceled...) once the change it reports is complete.

    All implementations are called, in registration order, before the broker's listeners and `events()`
    subscribers hear of it. Meant for loggers and dashboards. An observer that raises is logged and the others
    still hear the event; it cannot undo or interrupt the change.
    """


@hookspec
def broker_sim_account_event(event: AccountEvent) -> None:
    """Observe an account event (a margin call made, met or liquidated; a borrow fee or margin interest charged)
    once the change it reports is complete.

    All implementations are called, before the broker's account listeners and `account_events()` subscribers.
    An observer that raises is logged and the others still hear the event.
    """
