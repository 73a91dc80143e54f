"""The paper account's end of day: at each session close it charges financing (borrow fees on shorts, interest on a
margin debit, `builtin/financing.py`) and checks the maintenance margin (`broker_sim.rules.margin`), making a
margin call when the equity is below it; at the next session's open a call not met is liquidated.

Every change goes through the account's door (`Charge`, `MarginCall`, `MarginCallEnd`, and the venue's orders),
so a journal keeps it and recovery rebuilds it. The close is watched only while the account can owe something (a
position a price move can take below its maintenance margin, a short, a debit, an open call): an account without
any pays no timer, and nothing is checked per market update.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from broker_sim._members import (
    _E_MARGIN_CALL,
    _SIDE_BUY,
    _SIDE_SELL,
)
from broker_sim._numeric import MONEY_EPSILON, QTY_EPSILON
from broker_sim.account import AccountState
from broker_sim.activities import AccountEventType, Activity, ActivityType
from broker_sim.calendar import Session
from broker_sim.changes import Charge, MarginCall, MarginCallEnd
from broker_sim.clock import Clock, TimerHandle
from broker_sim.errors import ModelError
from broker_sim.ids import IdSource
from broker_sim.models import OrderRequest
from broker_sim.rules.margin import MarginCallRule

from . import cancel_replace, submission
from .model_set import ModelSet

#: Enum members as module globals, for the order path: on CPython 3.11 reading a member off its Enum class goes
#: through `EnumType.__getattr__` (~900 instructions a read); a global is a cached load.
_AE_LIQUIDATION = AccountEventType.LIQUIDATION
_AE_MARGIN_CALL_MET = AccountEventType.MARGIN_CALL_MET

if TYPE_CHECKING:
    from .venue import Venue

__all__ = ["EndOfDay"]

log = logging.getLogger(__name__)


def _cents(amount: float) -> float:
    """A charge as it is booked: rounded to the cent."""
    return round(amount, 2)


class EndOfDay:
    """The session-close work of one paper account (module docstring). `watch` after anything that can make the
    account owe something (a fill); `resume` after recovery."""

    def __init__(
        self,
        state: AccountState,
        venue: Venue,
        models: ModelSet,
        clock: Clock,
        session: Session,
        ids: IdSource,
        rule: MarginCallRule,
    ) -> None:
        self.state = state
        self.venue = venue
        self.models = models
        self.clock = clock
        self.session = session
        self.ids = ids
        self.rule = rule
        self._close: TimerHandle | None = None
        self._due: TimerHandle | None = None

    def close(self) -> None:
        """Cancel the timers: nothing more happens at closes and opens."""
        for handle in (self._close, self._due):
            if handle is not None:
                handle.cancel()
        self._close = self._due = None

    # -- when ---------------------------------------------------------------------------------------------------

    def watch(self) -> None:
        """Make sure the next session close is watched if the account can owe something then: it holds a position
        a price move can take below its margin, a short (borrow fee), a debit (interest) or an open call. Called
        after every fill: the test is written out here, with no call of its own."""
        if self._close is not None:
            return
        state = self.state
        ledger = state.ledger
        if ledger.at_risk or ledger.cash < 0 or state.margin_call is not None:
            close = self.session.next_close(self.clock.time())
            if math.isfinite(close):
                self._close = self.clock.call_after(close, self._at_close)

    def resume(self) -> None:
        """After recovery: watch the next close, and the open margin call's deadline (at once if it passed)."""
        self.watch()
        call = self.state.margin_call
        if call is not None and self._due is None:
            self._due = self.clock.call_after(max(call.due.timestamp(), self.clock.time()), self._at_due)

    # -- the close ----------------------------------------------------------------------------------------------

    def _at_close(self) -> None:
        self._close = None
        now = self.clock.time()
        following = self.session.next_close(now + 1.0)
        zone = getattr(self.session, "timezone", UTC)
        today = datetime.fromtimestamp(now, zone).date()
        days = max(1, (datetime.fromtimestamp(following, zone).date() - today).days) if math.isfinite(following) else 1
        try:
            self._charge_financing(today.isoformat(), days)
        except ModelError as exc:
            log.error("financing not charged at the close of %s: %s", today.isoformat(), exc)
        self._check_margin()
        self.watch()

    def _charge_financing(self, date: str, days: int) -> None:
        """Book each short's borrow fee and the debit's interest for `days` calendar days (`FEE`, `INT`)."""
        ledger = self.state.ledger
        for position in ledger.positions():
            if position.quantity < -QTY_EPSILON:
                shares = -position.quantity
                fee = _cents(self.models.borrow_fee(position.symbol, shares, position.market_price, days))
                if fee > 0:
                    text = (
                        f"borrow fee: {shares:g} {position.symbol} short at {position.market_price:,.2f} for "
                        f"{days} day{'s' if days > 1 else ''}"
                    )
                    price = float(position.market_price)
                    self._book(ActivityType.FEE, fee, date, text, position.symbol, shares, price, days)
        debit = -ledger.cash
        if debit > MONEY_EPSILON:
            interest = _cents(self.models.margin_interest(debit, days))
            if interest > 0:
                text = f"margin interest on a debit of {debit:,.2f} for {days} day{'s' if days > 1 else ''}"
                self._book(ActivityType.INT, interest, date, text, None, None, None, days)

    def _book(
        self,
        kind: ActivityType,
        amount: float,
        date: str,
        text: str,
        symbol: str | None,
        quantity: float | None,
        price: float | None,
        days: int,
    ) -> None:
        activity = Activity(self.ids.next(), kind, amount, self.clock.now(), date, text, symbol, quantity, price, days)
        self.state.apply(Charge(activity))

    def _check_margin(self) -> None:
        """A margin call when the equity is below the maintenance requirement at the close; an open call met by
        now ends. Cash accounts without shorts owe no margin."""
        account = self.state.ledger.account()
        requirement = account.maintenance_margin or 0.0
        amount = self.rule.call_amount(account.equity, requirement)
        call = self.state.margin_call
        if amount > MONEY_EPSILON:
            if call is None:
                due = self.session.next_open(self.clock.time() + 1.0)  # a session reopening at its close: the next
                if not math.isfinite(due):
                    return
                self.state.apply(
                    MarginCall(self.clock.now(), account.equity, requirement, datetime.fromtimestamp(due, UTC))
                )
                self._due = self.clock.call_after(due, self._at_due)
            return
        if call is not None:
            self._end(_AE_MARGIN_CALL_MET, account.equity, requirement)

    def _end(self, outcome: AccountEventType, equity: float, requirement: float) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None
        self.state.apply(MarginCallEnd(self.clock.now(), outcome, equity, requirement))

    # -- the deadline -------------------------------------------------------------------------------------------

    def _at_due(self) -> None:
        """The open call's deadline (the next session's open): met, it ends; not met, positions are liquidated
        (unless liquidation is off: then the call stays open, reported, until a close finds it met)."""
        self._due = None
        if self.state.margin_call is None:
            return
        account = self.state.ledger.account()
        requirement = account.maintenance_margin or 0.0
        deficit = self.rule.call_amount(account.equity, requirement)
        if deficit <= MONEY_EPSILON:
            self._end(_AE_MARGIN_CALL_MET, account.equity, requirement)
            return
        if not self.rule.liquidate:
            log.warning("margin call not met (liquidate_on_margin_call is off: positions are kept): %.2f", deficit)
            return
        self._end(_AE_LIQUIDATION, account.equity, requirement)
        self._liquidate(deficit, account.equity, requirement)

    def _liquidate(self, deficit: float, equity: float, requirement: float) -> None:
        """Close positions, largest first, with market orders until what they free covers `deficit` (the
        shares a position needs, not more of it); their open orders are canceled first, so nothing else holds
        their shares. Each order is announced by a ``margin_call`` order event."""
        ledger = self.state.ledger
        reason = (
            f"margin call liquidation: equity {equity:,.2f} is below the maintenance requirement {requirement:,.2f}"
        )
        for position in sorted(ledger.positions(), key=lambda p: -abs(p.market_value)):
            if deficit <= MONEY_EPSILON:
                break
            held = abs(position.quantity)
            per_share = ledger.position_requirement(position.quantity, position.market_price) / held
            shares = held if per_share <= 0 else min(held, math.ceil(deficit / per_share))
            cancel_replace.cancel_symbol(self.venue, position.symbol, "canceled for a margin call liquidation")
            side = _SIDE_SELL if position.quantity > 0 else _SIDE_BUY
            request = OrderRequest(position.symbol, side, float(shares), reference_price=position.market_price)
            submission.submit(self.venue, request, announce=(_E_MARGIN_CALL, reason))
            deficit -= per_share * shares
