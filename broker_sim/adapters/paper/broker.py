"""PaperBroker: the `Broker` interface over a simulated venue. Latency, fills, slippage and fees come from pluggy
hooks (`ModelSet`); orders and money change only through the account's one door (`AccountState.apply`)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import pluggy

from broker_sim.account import AccountState
from broker_sim.broker import Broker, ReplaceOrderRequest
from broker_sim.calendar import Session
from broker_sim.changes import AccountSnapshot, Change, SessionClose
from broker_sim.clock import Clock, SimulatedClock
from broker_sim.errors import (
    BrokerError,
    DuplicateClientOrderId,
    InvalidMarketData,
    InvalidOrder,
    JournalInUse,
    OrderNotFound,
)
from broker_sim.events import Listener
from broker_sim.ids import IdSource
from broker_sim.journal import Journal, account_id_for, check_account, read_info
from broker_sim.ledger import (
    DEFAULT_MAINTENANCE_LONG,
    DEFAULT_MAINTENANCE_SHORT,
    DEFAULT_MARGIN_MULTIPLIER,
    DEFAULT_SHORT_MARGIN,
    Ledger,
    Reservation,
)
from broker_sim.models import (
    Account,
    Fill,
    MarketData,
    Order,
    OrderRequest,
    Position,
)
from broker_sim.plugins import PluginManager, copy_plugin_manager, create_plugin_manager, load_plugin_file
from broker_sim.rules import ALPACA_RULES, AssetFlags, Door, RuleSettings
from broker_sim.rules.day_trading import DayTradeCounter
from broker_sim.rules.margin import MarginCallRule
from broker_sim.valuation import account_of

from . import cancel_replace, groups, submission, timers
from .end_of_day import EndOfDay
from .journaling import LastPrices, closed_journal, market_seen, open_journal, recover
from .market_feed import MarketFeed
from .model_set import ModelSet
from .observers import EventFanout, taker_of
from .order_checks import cancel_needed, check_supported, known_order, replacement_request
from .order_classes import is_exit
from .rules_view import PaperView
from .settings import PaperSettings
from .venue import Venue

__all__ = ["PaperBroker"]


class PaperBroker(Broker):
    """A simulated broker account whose latency, fill, slippage and commission models are pluggy plugins.

    `rules` are Alpaca's order and account rules (`broker_sim.rules.RuleSettings`, or a mapping of the settings
    to relax, e.g. ``{"pdt_check": False}``): every one is on by default, an order one refuses raises an
    `OrderRefused` and creates nothing, and `configure_rules` changes them at runtime. `assets` gives symbols'
    flags (``{"TSLA": {"easy_to_borrow": False}}``).

    `account` is ``cash`` (the default: nothing is bought beyond cash and, as on Alpaca, nothing is sold short;
    `allow_short=True` lets it short anyway, each short needing buying power of `short_margin` x its value) or
    ``margin`` (Reg T: buying power is `margin_multiplier` x the equity above the initial margin, 50 % of
    positions' values for longs and shorts alike; it may short unless `allow_short=False`). Either way the
    maintenance margin is Alpaca's table (`broker_sim.rules.margin`, rates `maintenance_margin_long`/`_short`),
    checked at each session close: an account below it gets a margin call (a ``margin_call`` account event), due
    at the next open, when what is still not met is liquidated with market orders (each announced by a
    ``margin_call`` order event) unless `liquidate_on_margin_call` is False. At each close shorts pay their borrow
    fee and a debit its interest (the `borrow_fee` and `margin_interest` models), booked as ``FEE``/``INT``
    activities (`state.activities`); account events reach `add_account_listener` callbacks.

    Models are given as config mappings (``{"model": "fixed_bps", "bps": 5}``) or names; left out, they are the
    defaults: 5 bps slippage per side, 0.5-2.0 s uniform latency, immediate fills, no commission; and Alpaca's
    financing: no borrow fee for easy-to-borrow names, 3.75 % a year on a debit.
    `seed` seeds every random draw and every id (None: a fresh seed from the OS). `clock` defaults to a
    simulated clock of the broker's own that starts at the first market data it is given (2024 bars fed to a
    new broker are 2024, not stale); after that, market data older than that clock raises `InvalidMarketData`
    naming both times. Until the first data it reads now (UTC). `plugins` are extra plugin files;
    `plugin_manager`, when given, supplies the plugins instead of the default set (built-ins + entry points):
    the broker copies it, so brokers never share selected models. `symbols`, when given, is the complete list
    of tradable symbols. `history`, when given, bounds how many closed orders and fills stay in memory (the
    oldest are forgotten: `get_order` on them raises `OrderNotFound`, and their client order ids may be used
    again); the simulation runner sets it, as
    it records every order and fill on disk itself.

    `journal`, when given, is the path of the account's SQLite journal (`broker_sim.journal`): when the broker
    connects (``async with broker`` or ``await broker.connect()``) it recovers the account from the journal if
    the file exists (else creates it), then commits every change there before applying it; it refuses to trade
    before that. `journal_sync` is ``normal`` (survives the process dying) or ``full`` (also a power loss, slower).
    `account_id` names the account (default: the journal's own, or for a new journal or none one derived from
    `seed`); a journal of another account (when `account_id` is given), or one whose account started with
    another `initial_balance`, is refused with a `JournalError`. The seed only draws randomness: an account's
    journal may be reopened with another seed, or none. With a journal, `history`
    defaults to `JOURNAL_HISTORY` (the journal keeps every order and fill).

    Every change to orders and money goes through `state` (`AccountState.apply`); read it, never write it.
    """

    #: `submit_order` has no ``await`` in it (its checks, the door and the venue are plain calls; latency is a
    #: timer on the clock, not a wait), so nothing in it can suspend: a run submits a strategy's order in place.
    #: A subclass that overrides `submit_order` does not inherit this (`Broker.submits_in_place`).
    submits_in_place: ClassVar[bool] = True
    #: `submit_order` is `submit_order_nowait` in a coroutine (`Broker.submits_nowait`).
    submits_nowait: ClassVar[bool] = True

    def __init__(
        self,
        initial_balance: float = 100_000.0,
        *,
        seed: int | None = 42,
        allow_short: bool | None = None,
        slippage: Mapping[str, Any] | str | None = None,
        latency: Mapping[str, Any] | str | None = None,
        fill: Mapping[str, Any] | str | None = None,
        commission: Mapping[str, Any] | str | None = None,
        borrow_fee: Mapping[str, Any] | str | None = None,
        margin_interest: Mapping[str, Any] | str | None = None,
        clock: Clock | None = None,
        plugins: Iterable[str] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        symbols: Iterable[str] | None = None,
        session: Session | str | Mapping[str, Any] | None = None,
        short_margin: float = DEFAULT_SHORT_MARGIN,
        history: int | None = None,
        account: str = "cash",
        margin_multiplier: float = DEFAULT_MARGIN_MULTIPLIER,
        maintenance_margin_long: float = DEFAULT_MAINTENANCE_LONG,
        maintenance_margin_short: float = DEFAULT_MAINTENANCE_SHORT,
        liquidate_on_margin_call: bool = True,
        journal: str | os.PathLike[str] | None = None,
        journal_sync: str = "normal",
        account_id: str | None = None,
        rules: RuleSettings | Mapping[str, Any] | None = None,
        assets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        settings = PaperSettings.check(
            initial_balance=initial_balance,
            seed=seed,
            allow_short=allow_short,
            short_margin=short_margin,
            session=session,
            symbols=symbols,
            history=history,
            account=account,
            margin_multiplier=margin_multiplier,
            maintenance_margin_long=maintenance_margin_long,
            maintenance_margin_short=maintenance_margin_short,
            liquidate_on_margin_call=liquidate_on_margin_call,
            journal=journal,
            journal_sync=journal_sync,
            account_id=account_id,
            rules=rules,
            assets=assets,
        )
        #: The account's id: the one given, else derived from the seed; a journal's once connected to it.
        self.account_id = settings.account_id or account_id_for(settings.seed)
        if settings.journal is not None and settings.journal.exists():
            # Refuse a journal of another account at once (`connect` checks everything again). One a running
            # session has open is no reason to refuse building the broker (`validate`): `connect` says so. The
            # seed is randomness, not identity: only an account_id given is checked against the journal's.
            with contextlib.suppress(JournalInUse):
                check_account(read_info(settings.journal), settings.account_id, settings.initial_balance)
        super().__init__(clock if clock is not None else SimulatedClock())
        if clock is None:
            # The broker's own clock: set by the first market data, then data must not go back in time. Only
            # such brokers pay for the check (the runner gives its clock and keeps the plain hot path).
            self.update_market_nowait = self._update_own_clock  # type: ignore[method-assign]
        self.settings = settings
        self.seed = settings.seed
        self.session = settings.session
        self.symbols = settings.symbols
        self.history = settings.history
        #: The open journal while connected (None without one, or before `connect`).
        self.journal: Journal | None = None
        self._market: dict[str, MarketData] = {}
        #: The latest market event per symbol recovered from the journal: marks until fresh data comes.
        self._recovered_market: dict[str, MarketData] = {}
        ledger = Ledger(
            settings.initial_balance,
            allow_short=settings.shorting_allowed,
            short_margin=settings.short_margin,
            marks=LastPrices(self._market, self._recovered_market),
            margin_multiplier=settings.margin_multiplier if settings.account == "margin" else None,
            maintenance_long=settings.maintenance_margin_long,
            maintenance_short=settings.maintenance_margin_short,
            maintenance=settings.maintenance(settings.rules).requirement,
        )
        self._manager: PluginManager = (
            create_plugin_manager(plugins) if plugin_manager is None else copy_plugin_manager(plugin_manager)
        )
        for path in plugins if plugin_manager is not None else ():
            load_plugin_file(self._manager, path)
        #: Where order and account events go: the plugins' observers, then this broker's hubs.
        self._events = EventFanout(self._manager, self._hub.publish, self._publish_account)
        #: The account: orders, fills and money, changed only through `state.apply`.
        self.state = AccountState(
            ledger, self._events.order_event, history=settings.history, emit_account=self._events.account_event
        )
        self._models = ModelSet(
            self._manager,
            settings.models(
                {
                    "slippage": slippage,
                    "latency": latency,
                    "fill": fill,
                    "commission": commission,
                    "borrow_fee": borrow_fee,
                    "margin_interest": margin_interest,
                }
            ),
            settings.seed,
            self.clock.time,
            ledger.account,
        )
        self._rules = settings.rules
        #: The rules in force, in the order the door asks them.
        self._door = Door(ALPACA_RULES, settings.rules)
        #: Day trades, fill by fill (pattern day trader protection, `rules.day_trading`).
        self.day_trades = DayTradeCounter(settings.session)
        self.state.fill_observers.append(self.day_trades.record_fill)
        self._closes_watched = False
        #: Order, client order and execution ids (UUID strings) drawn from the seed.
        self.ids = IdSource(settings.seed)
        self._venue = Venue(
            self.state,
            self._models,
            self.clock,
            settings.session,
            self.ids,
            self._market,
            rules=settings.rules,
        )
        self._end_of_day = EndOfDay(
            self.state,
            self._venue,
            self._models,
            self.clock,
            settings.session,
            self.ids,
            MarginCallRule(liquidate=settings.liquidate_on_margin_call),
        )
        self._venue.on_fill = self._end_of_day.watch
        self._feed = MarketFeed(self._market, self._venue)
        if clock is not None and type(self).update_market_nowait is PaperBroker.update_market_nowait:
            # The replay's per-event call goes straight to the feed (compiled in the compiled build); a subclass's
            # override, and the own clock's check (set above), stay what the runner calls.
            self.update_market_nowait = self._feed.update  # type: ignore[method-assign]
        self._ledger = ledger
        #: The account as Alpaca's rules see it, for the door (`broker_sim.rules.Door`).
        self._view = PaperView(
            self.state,
            self._market,
            self.clock,
            settings.session,
            margin_account=settings.account == "margin",
            shorting_allowed=settings.shorting_allowed,
            assets=settings.assets,
            current_rules=lambda: self._rules,
            day_trades=self.day_trades,
            initial_balance=settings.initial_balance,
        )
        #: The ledger opens shorts exactly when the rules would let an order.
        ledger.allow_short = settings.may_short(settings.rules)

    def _watch_closes(self) -> None:
        """From the first order on, note the account at every session close (Alpaca's last_equity, which pattern
        day trader protection reads): one timer per session, nothing on the market-data path."""
        if not self._closes_watched:
            self._closes_watched = True
            timers.at_each_close(self._venue, self._at_close)

    def _at_close(self) -> None:
        account = self._ledger.account()
        self.state.apply(SessionClose(self.clock.now(), account.equity, account.maintenance_margin or 0.0))

    @property
    def shorting_enabled(self) -> bool:
        """Whether the account may open shorts now (its kind, and the rules in force): Alpaca's
        ``shorting_enabled``."""
        return self._ledger.allow_short

    def asset(self, symbol: str) -> AssetFlags:
        """What the venue says of `symbol` (`broker.assets`; all true for a symbol it names not)."""
        return self._view.asset(symbol)

    @property
    def rules(self) -> RuleSettings:
        """The rules in force (`broker_sim.rules.RuleSettings`): every one of Alpaca's, unless relaxed."""
        return self._rules

    def configure_rules(self, **changes: Any) -> RuleSettings:
        """Change rules at runtime (as Alpaca's ``PATCH /v2/account/configurations`` does), e.g.
        ``configure_rules(pdt_check=False)``; returns the rules now in force. Orders from now on are checked
        against them. Raises `ConfigError` naming the setting (nothing changed) for an unknown one or a bad
        value."""
        self._rules = self._venue.rules = self._rules.changed(**changes)
        self._door = Door(ALPACA_RULES, self._rules)
        self._ledger.maintenance = self.settings.maintenance(self._rules).requirement
        self._ledger.allow_short = self.settings.may_short(self._rules)
        return self._rules

    @property
    def models(self) -> dict[str, Any]:
        """The model object selected for each kind (slippage, latency, fill, commission, borrow_fee,
        margin_interest)."""
        return dict(self._models.objects)

    @property
    def plugin_manager(self) -> PluginManager:
        """This broker's own plugin manager: built-ins, entry points, plugin files and the selected models.

        Plugins registered on it later (wrappers, observers) take effect from the next hook call.
        """
        return self._manager

    def last_prices(self) -> dict[str, float]:
        """The last market price of every symbol this broker was given data for (what positions are marked at)."""
        return {symbol: event.price for symbol, event in self._market.items()}

    @property
    def fills(self) -> list[Fill]:
        """The fills in memory (all of them unless `history` bounds it), in execution order (a copy)."""
        return self.state.fills

    def recover(self, changes: Iterable[Change]) -> int:
        """Rebuild this new broker's account from recorded changes (a journal's), then let the venue carry on:
        orders on their way arrive, working orders work again, requests on their way are seen. Returns how
        many changes were replayed. Raises `BrokerError` if the broker has orders already."""
        return recover(self, changes)

    # -- the journal ----------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """With a journal: open it (taking its lock), recover the account from it, record from now on, and let
        the venue carry on with the recovered orders. A simulated clock behind the journal's last moment is
        moved up to it first. Raises `JournalError` (the file left as it was) if the journal cannot be used."""
        if self.settings.journal is not None and self.journal is None:
            self.journal = await open_journal(self, self.settings.journal)
        await super().connect()

    def _snapshot_parts(self) -> tuple[AccountSnapshot, list[MarketData]]:
        """The account and the latest market event per symbol, for the journal's snapshots."""
        market = dict(self._recovered_market)
        market.update(self._market)
        return self.state.snapshot(), list(market.values())

    def market_seen(self) -> dict[str, datetime]:
        """When the latest market event of each symbol this account has seen was stamped, including those
        recovered from its journal: a replay that resumes an account skips the events up to there."""
        return market_seen(self._market, self._recovered_market)

    def resume_point(self) -> tuple[float | None, dict[str, float]]:
        """Where a replay that resumes this account goes on: the clock time of the journal's last change (None
        without one) and, per symbol, the POSIX time of the latest market event the account had seen when it was
        last closed. A resumed replay skips events before the last change, and those a symbol had seen."""
        journal = self.journal
        last = journal.info.last_change_time if journal is not None else None
        return last, {symbol: stamp.timestamp() for symbol, stamp in self.market_seen().items()}

    def _check_journal(self) -> None:
        if self.journal is None and self.settings.journal is not None:
            raise BrokerError(
                f"this account lives in journal {self.settings.journal}: connect the broker first "
                "(async with broker, or await broker.connect()) so it trades from what the journal holds"
            )

    def reservations(self) -> Mapping[str, Reservation]:
        """What each working order holds of the account (cash units and shares), by order id."""
        return self.state.ledger.reservations()

    # -- market data ----------------------------------------------------------------------------------------

    async def update_market(self, event: MarketData) -> None:
        """Take a bar, quote or trade as the latest market for its symbol and offer it to the working orders."""
        self.update_market_nowait(event)

    def _update_own_clock(self, event: MarketData) -> None:
        """`update_market_nowait` for a broker on its own clock: the first market data before any order sets the
        clock to its time; data older than the clock afterwards raises `InvalidMarketData`, changing nothing.

        "Older" compares datetimes, microseconds both, as the public API gives time: the clock keeps float
        seconds, and a bar stamped with ``broker.clock.now()`` (rounded to the microsecond) must never count as
        older than the clock it was read from."""
        clock = self.clock
        moment = getattr(event, "timestamp", None)
        if isinstance(clock, SimulatedClock) and isinstance(moment, datetime):
            if not self._market and not self.ids.issued and clock.next_timer() is None:
                clock.start_at(moment.timestamp())
            elif moment < clock.now():
                raise InvalidMarketData(
                    f"{type(event).__name__} for {event.symbol} at {moment.isoformat()} is older than the broker's "
                    f"clock ({clock.now().isoformat()}); give market data in time order, or a clock "
                    "(PaperBroker(clock=SimulatedClock(start)))"
                )
        PaperBroker.update_market_nowait(self, event)

    def update_market_nowait(self, event: MarketData) -> None:
        """`update_market` for callers outside a coroutine or on the replay hot path (no await at all).

        With no working order for the symbol this is two dict operations: no hook call, no logging. It does not
        move the clock; a replay moves it to the event's time first. (`MarketFeed.update` does it: a broker given
        a clock has that as its `update_market_nowait`.)
        """
        self._feed.update(event)

    # -- orders ---------------------------------------------------------------------------------------------

    def add_listener(self, callback: Listener) -> Any:
        """`Broker.add_listener`; from the first listener whose owner keeps order events' parts without the events
        (`EventTaker`, with an `event_taker()`: a run's strategies when none listens to order events) on, the account
        offers its most frequent order events' parts before it makes the events (`EventFanout.offer`). Until then
        there is nothing to offer to, and the account makes its events without asking (three offers an order
        saved while a strategy listens)."""
        if self.state.offer is None and taker_of(callback) is not None:
            self.state.offer = self._events.offer
        return super().add_listener(callback)

    async def submit_order(self, request: OrderRequest) -> Order:
        return self.submit_order_nowait(request)

    def submit_order_nowait(self, request: OrderRequest) -> Order:
        """`submit_order` as a plain call: the door's checks, then the venue (`submission.submit`). Raises as
        `submit_order` does."""
        if not isinstance(request, OrderRequest):
            raise InvalidOrder(f"submit_order takes an OrderRequest, got {type(request).__name__}")
        if self.journal is None and self.settings.journal is not None:
            self._check_journal()
        client_order_id = request.client_order_id
        if client_order_id is not None and self.state.client_order_id_taken(client_order_id):
            known = known_order(self.state, client_order_id, request)  # the same request again, or a conflict
            if known is not None:
                return self.state.order(known.id) or known
        fill_types = self._models.fill_types
        if self.symbols is not None or (fill_types is not None and request.type not in fill_types):
            check_supported(request, self.symbols, self._models)
        self._door.check(request, self._view)
        if not self._closes_watched:
            self._watch_closes()
        return submission.submit(self._venue, request, None, True)  # (refuse: by position, `submit` says why)

    async def cancel_order(self, order_id: str) -> Order:
        self._check_journal()
        order = self._get(order_id)
        if not cancel_needed(order, self.state, functools.partial(groups.group_of, self._venue)):
            return order  # a cancel is on its way already
        return cancel_replace.request_cancel(self._venue, order)

    async def replace(self, order_id: str, changes: ReplaceOrderRequest) -> Order:
        """Replace an open order, as Alpaca does; returns the new order (`replaces` = the old id).

        The old order goes `pending_replace`, then `replaced` (with `replaced_by`) when the venue sees the
        request; the new order carries on for `quantity` (the new total) less what the old one filled by then.
        Under latency the new order is `pending_new` until then; a fill that reaches the venue first wins, and a
        replace that finds the old order ended is refused (the new order `rejected`, an
        `order_replace_rejected` event). `trail` is a trailing stop's new trail_price or trail_percent
        (whichever it has). An exit of a bracket, oto or oco is replaceable in its prices (a take-profit's
        limit_price, a stop-loss's stop_price, as Alpaca allows) and keeps its place and status in the group.
        Malformed changes raise `InvalidOrder`; an order that is final, not yet working or with a request on its
        way raises `OrderNotReplaceable`.
        """
        self._check_journal()
        order = self._get(order_id)
        request = replacement_request(order, changes)
        check_supported(request, self.symbols, self._models)
        client_order_id = changes.client_order_id
        if client_order_id is not None and self.state.by_client_id(client_order_id) is not None:
            raise DuplicateClientOrderId(f"client_order_id {client_order_id!r} is already used; it must be unique")
        if not is_exit(order):  # an exit's new prices hold nothing and open nothing: the entry was judged
            self._door.check(request, self._view, replacing=order)
        return cancel_replace.request_replace(self._venue, order, request, client_order_id)

    def _get(self, order_id: str) -> Order:
        order = self.state.order(order_id)
        if order is None:
            raise OrderNotFound(f"no order with id {order_id!r}")
        return order

    async def get_order(self, order_id: str) -> Order:
        return self._get(order_id)

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        order = self.state.by_client_id(client_order_id)
        if order is None:
            raise OrderNotFound(f"no order with client_order_id {client_order_id!r}")
        return order

    async def list_orders(self, status: str = "open", symbols: Iterable[str] | None = None) -> list[Order]:
        self._check_list_status(status)
        wanted = None if symbols is None else frozenset([symbols] if isinstance(symbols, str) else symbols)
        return [
            order
            for order in self.state.orders()
            if (status == "all" or (status == "open") == order.status.is_open)
            and (wanted is None or order.symbol in wanted)
        ]

    # -- positions and account ------------------------------------------------------------------------------

    async def get_position(self, symbol: str) -> Position | None:
        return self.state.ledger.position(symbol)

    async def get_positions(self) -> list[Position]:
        return self.state.ledger.positions()

    async def get_account(self) -> Account:
        """The account now, with Alpaca's day-trading fields: `daytrade_count` (the last 5 business days),
        `pattern_day_trader`, `last_equity` (at the last close) and `daytrading_buying_power` (4 x the last close's
        equity above its maintenance margin, for a margin account flagged a pattern day trader; else 0)."""
        state = self.state
        day_trades = self.day_trades
        last = state.last_close
        equity = last.equity if last is not None else self.settings.initial_balance
        maintenance = last.maintenance_margin if last is not None else 0.0
        flagged = day_trades.pattern_day_trader
        margin = self.settings.account == "margin"
        power = 4.0 * max(0.0, equity - maintenance) if flagged and margin else 0.0
        return account_of(
            state.ledger,
            daytrade_count=day_trades.count(self.clock.now()),
            pattern_day_trader=flagged,
            last_equity=equity,
            last_maintenance_margin=maintenance,
            daytrading_buying_power=power,
        )

    async def close(self) -> None:
        """Stop the venue: every pending timer (arrivals, cancels, replaces, expiries) is canceled, so nothing
        arrives or fills any more; `events()` iterators end. A journal gets a last snapshot and is closed (its
        lock released); working orders stay in it, and work again when the account is next connected."""
        timers.close(self._venue)
        self._end_of_day.close()
        journal, self.journal = self.journal, None
        if journal is not None:
            self.state.recorder = closed_journal(journal.path)
            journal.close()
        await super().close()
