"""The ledger's money (average price, realized and unrealized P&L, fees, reservations and buying power), changed
only as production changes it: through the account's door, `AccountState.apply`, with the change records the
paper venue makes (a reservation planned by `Ledger.plan_reservation`, then `NewOrder`, `StatusChange`,
`Execution`, `ReplaceRequest`/`Replacement`/`ReplaceRefused`)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from broker_sim.account import AccountState, Refused
from broker_sim.changes import Execution, NewOrder, Replacement, ReplaceRefused, ReplaceRequest, StatusChange
from broker_sim.ledger import FillRefused, Ledger
from broker_sim.models import (
    Account,
    EventType,
    Fill,
    Order,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
)

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)

#: Prices and cash in these tests are exact in binary or a few operations deep: far below a cent.
MONEY = 1e-9


def _fill(side: str, quantity: float, price: float, *, symbol: str = "AAPL", fee: float = 0.0, n: int = 0) -> Fill:
    return Fill(
        order_id=f"o{n}",
        symbol=symbol,
        side=Side(side),
        quantity=quantity,
        price=price,
        fee=fee,
        timestamp=T0 + timedelta(seconds=n),
        reference_price=price,
    )


def _order(order_id: str, symbol: str, side: Side, quantity: float, **fields: object) -> Order:
    return Order(
        id=order_id,
        client_order_id=f"client-{order_id}",
        symbol=symbol,
        side=side,
        quantity=quantity,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        limit_price=None,
        stop_price=None,
        status=OrderStatus.PENDING_NEW,
        filled_quantity=0.0,
        filled_avg_price=None,
        reject_reason=None,
        created_at=T0,
        updated_at=T0,
        **fields,  # type: ignore[arg-type]
    )


class Door:
    """An account (`AccountState` over a `Ledger`) driven through its door as the paper venue drives it: orders
    planned, recorded `pending_new` with their reservation and made working; fills booked as executions; replaces
    requested, then made or refused. A refusal returns its reason (the door changed nothing)."""

    def __init__(self, initial_balance: float, **settings: object) -> None:
        self.ledger = Ledger(initial_balance, **settings)  # type: ignore[arg-type]
        self.events: list[OrderEvent] = []
        self.state = AccountState(self.ledger, self.events.append)
        self._ids = (f"auto{n}" for n in itertools.count())

    def place(self, order_id: str, symbol: str, side: Side, quantity: float, cash_per_unit: float) -> str | None:
        """Submit an order that holds `cash_per_unit` a unit (the venue's estimate); None when it is working."""
        plan = self.ledger.plan_reservation(order_id, symbol, side, quantity, cash_per_unit, check_power=False)
        if isinstance(plan, str):
            return plan
        try:
            self.state.apply(NewOrder(_order(order_id, symbol, side, quantity), plan))
        except Refused as exc:
            return exc.reason
        self.state.apply(StatusChange(order_id, OrderStatus.NEW, T0, EventType.NEW))
        return None

    def fill(self, fill: Fill, order_id: str) -> str | None:
        """Book `fill` for the working order `order_id`; None when booked."""
        try:
            self.state.apply(Execution(attrs.evolve(fill, order_id=order_id)))
        except Refused as exc:
            return exc.reason
        return None

    def book(self, *fills: Fill) -> None:
        """Each fill as a market order of its own (holding its cost) filled whole at once."""
        for fill in fills:
            order_id = next(self._ids)
            assert self.place(order_id, fill.symbol, fill.side, fill.quantity, fill.price) is None
            assert self.fill(fill, order_id) is None

    def cancel(self, order_id: str) -> None:
        """The order ends canceled: what it still holds is released."""
        self.state.apply(StatusChange(order_id, OrderStatus.CANCELED, T0, EventType.CANCELED))

    def replace(self, order_id: str, new_id: str, quantity: float, cash_per_unit: float) -> str | None:
        """Replace `order_id` by `new_id` for `quantity`, as the venue does: requested, then made when the account
        carries the successor (what the old order holds counts as free), else refused (the old order works on)."""
        old = self.state.order(order_id)
        assert old is not None
        successor = _order(new_id, old.symbol, old.side, quantity, replaces=order_id)
        request = OrderRequest(old.symbol, old.side, quantity)
        self.state.apply(ReplaceRequest(order_id, successor, request, T0))
        plan = self.ledger.plan_reservation(new_id, old.symbol, old.side, quantity, cash_per_unit, releasing=order_id)
        if isinstance(plan, str):
            self.state.apply(ReplaceRefused(order_id, new_id, plan, T0))
            return plan
        self.state.apply(Replacement(order_id, new_id, quantity, plan, T0))
        return None

    def seen(self) -> tuple[Account, list[Position], float, float]:
        """Everything a caller can see of the money, to check that a refused change moved none of it."""
        ledger = self.ledger
        return ledger.account(), ledger.positions(), ledger.reserved_cash, ledger.shares_available("AAPL")


def _position(ledger: Ledger, symbol: str = "AAPL") -> Position:
    position = ledger.position(symbol)
    assert position is not None
    return position


# -- average price and realized P&L ------------------------------------------------------------------------


def test_sell_realizes_pnl_at_average_price() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0), _fill("buy", 10, 120.0, n=1), _fill("sell", 5, 130.0, n=2))

    position = _position(ledger)
    assert ledger.realized_pnl == pytest.approx(5 * (130.0 - 110.0), abs=MONEY)
    assert position.realized_pnl == pytest.approx(100.0, abs=MONEY)
    assert position.quantity == pytest.approx(15, abs=1e-12)
    assert position.avg_price == pytest.approx(110.0, abs=MONEY)
    assert ledger.cash == pytest.approx(10_000 - 1_000 - 1_200 + 650, abs=MONEY)


def test_buying_more_moves_average_price_to_the_weighted_mean() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0), _fill("buy", 30, 120.0, n=1))

    position = _position(ledger)
    assert position.quantity == pytest.approx(40, abs=1e-12)
    assert position.avg_price == pytest.approx((10 * 100.0 + 30 * 120.0) / 40, abs=MONEY)
    assert position.cost_basis == pytest.approx(4_600.0, abs=MONEY)
    assert ledger.realized_pnl == 0.0


def test_selling_short_more_moves_the_short_average_price_to_the_weighted_mean() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger
    door.book(_fill("sell", 10, 50.0), _fill("sell", 30, 60.0, n=1))

    position = _position(ledger)
    assert position.quantity == pytest.approx(-40, abs=1e-12)
    assert position.avg_price == pytest.approx((10 * 50.0 + 30 * 60.0) / 40, abs=MONEY)
    assert position.cost_basis == pytest.approx(-2_300.0, abs=MONEY)
    assert ledger.realized_pnl == 0.0


def test_selling_part_of_a_position_keeps_its_average_price() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0), _fill("buy", 10, 120.0, n=1), _fill("sell", 15, 90.0, n=2))

    position = _position(ledger)
    assert position.avg_price == pytest.approx(110.0, abs=MONEY)
    assert ledger.realized_pnl == pytest.approx(15 * (90.0 - 110.0), abs=MONEY)


def test_selling_everything_closes_the_position() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0), _fill("sell", 10, 105.0, n=1))

    assert ledger.position("AAPL") is None
    assert ledger.positions() == []
    assert ledger.quantity("AAPL") == 0.0
    assert ledger.realized_by_symbol() == {"AAPL": pytest.approx(50.0, abs=MONEY)}
    assert ledger.cash == pytest.approx(10_050.0, abs=MONEY)


def test_covering_a_short_realizes_pnl_reversed() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger
    door.book(_fill("sell", 10, 50.0), _fill("buy", 4, 40.0, n=1))

    position = _position(ledger)
    assert position.quantity == pytest.approx(-6, abs=1e-12)
    assert position.avg_price == pytest.approx(50.0, abs=MONEY)
    assert ledger.realized_pnl == pytest.approx(4 * (50.0 - 40.0), abs=MONEY)


def test_fill_that_crosses_zero_from_long_closes_the_long_and_opens_a_short_at_the_fill_price() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0), _fill("sell", 25, 90.0, n=1))

    position = _position(ledger)
    assert ledger.realized_pnl == pytest.approx(10 * (90.0 - 100.0), abs=MONEY)
    assert position.realized_pnl == pytest.approx(-100.0, abs=MONEY)
    assert position.quantity == pytest.approx(-15, abs=1e-12)
    assert position.avg_price == pytest.approx(90.0, abs=MONEY)
    assert position.cost_basis == pytest.approx(-15 * 90.0, abs=MONEY)
    assert ledger.cash == pytest.approx(10_000 - 1_000 + 25 * 90.0, abs=MONEY)


def test_fill_that_crosses_zero_from_short_closes_the_short_and_opens_a_long_at_the_fill_price() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger
    door.book(_fill("sell", 10, 50.0), _fill("buy", 15, 40.0, n=1))

    position = _position(ledger)
    assert ledger.realized_pnl == pytest.approx(10 * (50.0 - 40.0), abs=MONEY)
    assert position.quantity == pytest.approx(5, abs=1e-12)
    assert position.avg_price == pytest.approx(40.0, abs=MONEY)
    assert ledger.cash == pytest.approx(10_000 + 500 - 600, abs=MONEY)


def test_new_side_after_crossing_zero_averages_from_the_crossing_price() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0), _fill("sell", 15, 90.0, n=1), _fill("sell", 5, 80.0, n=2))

    position = _position(ledger)
    assert position.quantity == pytest.approx(-10, abs=1e-12)
    assert position.avg_price == pytest.approx((5 * 90.0 + 5 * 80.0) / 10, abs=MONEY)
    assert ledger.realized_pnl == pytest.approx(10 * (90.0 - 100.0), abs=MONEY)


def test_fills_in_one_symbol_do_not_touch_another() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0), _fill("buy", 5, 20.0, symbol="MSFT", n=1))
    door.book(_fill("sell", 10, 110.0, n=2))

    assert ledger.position("AAPL") is None
    msft = _position(ledger, "MSFT")
    assert msft.quantity == pytest.approx(5, abs=1e-12)
    assert msft.avg_price == pytest.approx(20.0, abs=MONEY)
    assert msft.realized_pnl == 0.0
    assert ledger.realized_by_symbol()["AAPL"] == pytest.approx(100.0, abs=MONEY)


# -- marks: market value and unrealized P&L -----------------------------------------------------------------


def test_unrealized_pnl_and_market_value_follow_the_marks() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0))
    ledger.marks["AAPL"] = 130.0

    position = _position(ledger)
    assert position.market_price == 130.0
    assert position.market_value == pytest.approx(1_300.0, abs=MONEY)
    assert position.unrealized_pnl == pytest.approx(300.0, abs=MONEY)
    account = ledger.account()
    assert account.unrealized_pnl == pytest.approx(300.0, abs=MONEY)
    assert account.equity == pytest.approx(9_000.0 + 1_300.0, abs=MONEY)
    assert account.realized_pnl == 0.0


def test_short_gains_unrealized_pnl_when_the_mark_falls() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger
    door.book(_fill("sell", 10, 50.0))
    ledger.marks["AAPL"] = 40.0

    position = _position(ledger)
    assert position.market_value == pytest.approx(-400.0, abs=MONEY)
    assert position.unrealized_pnl == pytest.approx(100.0, abs=MONEY)
    assert ledger.account().equity == pytest.approx(10_500.0 - 400.0, abs=MONEY)


def test_position_without_a_mark_is_valued_at_its_average_price() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0))

    position = _position(ledger)
    assert position.market_price == 100.0
    assert position.unrealized_pnl == 0.0
    assert ledger.account().equity == pytest.approx(10_000.0, abs=MONEY)


def test_unrealized_pnl_sums_over_symbols_in_the_account() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0), _fill("sell", 20, 30.0, symbol="MSFT", n=1))
    ledger.marks.update({"AAPL": 90.0, "MSFT": 25.0})

    account = ledger.account()
    assert account.unrealized_pnl == pytest.approx(10 * -10.0 + -20 * -5.0, abs=MONEY)
    assert account.equity == pytest.approx(ledger.cash + 900.0 - 500.0, abs=MONEY)


# -- fees -----------------------------------------------------------------------------------------------------


def test_fees_reduce_cash_and_accumulate_while_realized_pnl_stays_gross() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0, fee=1.5), _fill("sell", 10, 110.0, fee=2.0, n=1))

    assert ledger.fees == pytest.approx(3.5, abs=MONEY)
    assert ledger.realized_pnl == pytest.approx(100.0, abs=MONEY)
    assert ledger.cash == pytest.approx(10_000 - 1_000 - 1.5 + 1_100 - 2.0, abs=MONEY)
    account = ledger.account()
    assert account.fees == pytest.approx(3.5, abs=MONEY)
    assert account.realized_pnl == pytest.approx(100.0, abs=MONEY)


def test_fees_do_not_enter_the_average_price() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0, fee=5.0))

    assert _position(ledger).avg_price == pytest.approx(100.0, abs=MONEY)
    assert ledger.cash == pytest.approx(8_995.0, abs=MONEY)


def test_cash_plus_cost_basis_equals_initial_balance_plus_realized_pnl_less_fees() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger
    door.book(
        _fill("buy", 10, 100.0, fee=1.0),
        _fill("sell", 25, 90.0, fee=1.25, n=1),
        _fill("buy", 5, 95.0, fee=1.0, symbol="MSFT", n=2),
        _fill("buy", 30, 80.0, fee=1.5, n=3),
    )

    cost_basis = sum(p.cost_basis for p in ledger.positions())
    assert ledger.cash + cost_basis == pytest.approx(10_000 + ledger.realized_pnl - ledger.fees, abs=1e-6)


# -- reservations and buying power --------------------------------------------------------------------------


def test_an_order_beyond_buying_power_is_refused_and_changes_nothing() -> None:
    door = Door(1_000)
    door.book(_fill("buy", 2, 100.0))
    before = door.seen()

    reason = door.place("o1", "AAPL", Side.BUY, 9, 100.0)

    assert reason == "insufficient buying power: buy 9 AAPL needs 900.00, available 800.00"
    assert door.seen() == before
    assert door.state.order("o1") is None
    assert door.ledger.buying_power() == pytest.approx(800.0, abs=MONEY)


def test_an_open_buy_holds_buying_power() -> None:
    door = Door(1_000)
    ledger = door.ledger

    assert door.place("o1", "AAPL", Side.BUY, 6, 100.0) is None

    assert ledger.reserved_cash == pytest.approx(600.0, abs=MONEY)
    assert ledger.buying_power() == pytest.approx(400.0, abs=MONEY)
    assert ledger.account().buying_power == pytest.approx(400.0, abs=MONEY)
    assert ledger.cash == 1_000.0
    second = door.place("o2", "AAPL", Side.BUY, 6, 100.0)
    assert second is not None and "insufficient buying power" in second


def test_canceling_an_order_frees_its_reservation() -> None:
    door = Door(1_000)
    ledger = door.ledger
    assert door.place("o1", "AAPL", Side.BUY, 6, 100.0) is None

    door.cancel("o1")

    assert ledger.reserved_cash == 0.0
    assert ledger.buying_power() == pytest.approx(1_000.0, abs=MONEY)
    assert door.place("o2", "AAPL", Side.BUY, 10, 100.0) is None


def test_canceling_frees_what_is_left_after_a_partial_fill() -> None:
    door = Door(1_000)
    ledger = door.ledger
    assert door.place("o1", "AAPL", Side.BUY, 6, 100.0) is None
    assert door.fill(_fill("buy", 2, 100.0, n=1), "o1") is None

    door.cancel("o1")

    assert ledger.reserved_cash == 0.0
    assert ledger.buying_power() == pytest.approx(800.0, abs=MONEY)


def test_buy_that_covers_a_short_reserves_no_cash_for_the_covered_part() -> None:
    door = Door(10_000, allow_short=True)
    door.book(_fill("sell", 10, 100.0))

    assert door.place("b1", "AAPL", Side.BUY, 14, 100.0) is None

    # 10 of the 14 cover the short (its margin already counts against buying power); only 4 open a long.
    assert door.ledger.reserved_cash == pytest.approx(4 * 100.0, abs=MONEY)


def test_sell_of_held_shares_reserves_shares_not_cash() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0))
    buying_power = ledger.buying_power()

    assert door.place("s1", "AAPL", Side.SELL, 10, 100.0) is None

    assert ledger.reserved_cash == 0.0
    assert ledger.buying_power() == pytest.approx(buying_power, abs=MONEY)
    assert ledger.shares_available("AAPL") == 0.0


def test_a_refused_replace_keeps_the_old_orders_reservation() -> None:
    door = Door(1_000)
    ledger = door.ledger
    assert door.place("o1", "AAPL", Side.BUY, 5, 100.0) is None
    before = door.seen()

    reason = door.replace("o1", "o2", 20, 100.0)

    assert reason == "insufficient buying power: buy 20 AAPL needs 2000.00, available 1000.00"
    assert door.seen() == before
    assert ledger.reservation("o2") is None
    assert door.state.order("o1").status is OrderStatus.NEW  # type: ignore[union-attr]
    door.cancel("o1")
    assert ledger.reserved_cash == 0.0


def test_a_replace_moves_the_reservation_to_the_successor() -> None:
    door = Door(1_000)
    ledger = door.ledger
    assert door.place("o1", "AAPL", Side.BUY, 5, 100.0) is None

    # What o1 holds counts as free: 8 x 100 fits in 1,000 although 500 are reserved.
    assert door.replace("o1", "o2", 8, 100.0) is None

    assert ledger.reservation("o1") is None
    assert ledger.reserved_cash == pytest.approx(800.0, abs=MONEY)
    assert ledger.buying_power() == pytest.approx(200.0, abs=MONEY)


def test_fill_uses_up_its_reservation() -> None:
    door = Door(1_000)
    ledger = door.ledger
    assert door.place("o1", "AAPL", Side.BUY, 6, 100.0) is None

    assert door.fill(_fill("buy", 4, 99.0, n=1), "o1") is None

    assert ledger.reserved_cash == pytest.approx(2 * 100.0, abs=MONEY)
    assert ledger.buying_power() == pytest.approx(1_000 - 4 * 99.0 - 200.0, abs=MONEY)
    assert door.fill(_fill("buy", 2, 99.0, n=2), "o1") is None
    assert ledger.reserved_cash == pytest.approx(0.0, abs=MONEY)
    assert ledger.reservation("o1") is None


def test_a_fill_that_completes_its_order_frees_all_its_reservation_and_no_other() -> None:
    door = Door(1_000)
    ledger = door.ledger
    assert door.place("o1", "AAPL", Side.BUY, 5, 100.0) is None
    assert door.place("o2", "AAPL", Side.BUY, 4, 100.0) is None

    # At 130 the 5 shares cost 650: with o2's 400 held, 50 more than the cash.
    reason = door.fill(_fill("buy", 5, 130.0, n=1), "o1")
    assert reason == "insufficient buying power at fill: buy 5 AAPL at 130.0000 costs more than is available"
    assert ledger.reserved_cash == pytest.approx(900.0, abs=MONEY)

    # At 110 they cost 550, more than the 500 o1 held: all of o1's reservation is used, o2's is kept.
    assert door.fill(_fill("buy", 5, 110.0, n=2), "o1") is None
    assert ledger.reservation("o1") is None
    assert ledger.reserved_cash == pytest.approx(400.0, abs=MONEY)
    assert ledger.buying_power() == pytest.approx(1_000 - 550.0 - 400.0, abs=MONEY)


def test_sell_reservations_stop_two_sells_from_selling_the_same_shares() -> None:
    door = Door(10_000)
    door.book(_fill("buy", 10, 100.0))

    assert door.place("s1", "AAPL", Side.SELL, 10, 100.0) is None
    assert door.ledger.shares_available("AAPL") == 0.0
    before = door.seen()
    reason = door.place("s2", "AAPL", Side.SELL, 10, 100.0)

    assert reason == "short selling is disabled: selling 10 AAPL but only 0 are held and not already being sold"
    assert door.seen() == before


def test_sell_reservation_of_part_leaves_the_rest_to_sell() -> None:
    door = Door(10_000)
    door.book(_fill("buy", 10, 100.0))

    assert door.place("s1", "AAPL", Side.SELL, 6, 100.0) is None
    assert door.ledger.shares_available("AAPL") == pytest.approx(4, abs=1e-12)
    assert door.place("s2", "AAPL", Side.SELL, 4, 100.0) is None
    reason = door.place("s3", "AAPL", Side.SELL, 1, 100.0)
    assert reason is not None and "short selling is disabled" in reason


def test_canceling_a_sell_returns_its_shares() -> None:
    door = Door(10_000)
    door.book(_fill("buy", 10, 100.0))
    assert door.place("s1", "AAPL", Side.SELL, 10, 100.0) is None

    door.cancel("s1")

    assert door.ledger.shares_available("AAPL") == pytest.approx(10, abs=1e-12)
    assert door.place("s2", "AAPL", Side.SELL, 10, 100.0) is None


def test_selling_reserved_shares_releases_them_as_they_fill() -> None:
    door = Door(10_000)
    ledger = door.ledger
    door.book(_fill("buy", 10, 100.0))
    assert door.place("s1", "AAPL", Side.SELL, 10, 100.0) is None

    assert door.fill(_fill("sell", 10, 105.0, n=1), "s1") is None

    assert ledger.position("AAPL") is None
    assert ledger.shares_available("AAPL") == 0.0
    door.book(_fill("buy", 3, 100.0, n=2))
    assert ledger.shares_available("AAPL") == pytest.approx(3, abs=1e-12)


def test_short_sale_without_holding_is_refused_when_shorting_is_disabled() -> None:
    door = Door(10_000)
    before = door.seen()

    reason = door.place("s1", "AAPL", Side.SELL, 5, 100.0)

    assert reason == "short selling is disabled: selling 5 AAPL but only 0 are held and not already being sold"
    assert door.seen() == before
    assert door.state.order("s1") is None


def test_short_sale_is_allowed_with_shorting_and_buying_power_follows_its_market_value() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger

    assert door.place("s1", "AAPL", Side.SELL, 10, 100.0) is None
    # A short needs buying power of 1.5 x its value (Reg T initial margin), its proceeds aside.
    assert ledger.reserved_cash == pytest.approx(10 * 100.0 * 1.5, abs=MONEY)
    assert door.fill(_fill("sell", 10, 100.0, n=1), "s1") is None

    assert ledger.cash == pytest.approx(11_000.0, abs=MONEY)
    assert _position(ledger).quantity == pytest.approx(-10, abs=1e-12)
    assert ledger.reserved_cash == 0.0
    # buying_power = cash - reserved - (1 + short_margin) x |short market value|: the sale used 1.5 x 1,000.
    assert ledger.buying_power() == pytest.approx(10_000 - 1.5 * 1_000.0, abs=MONEY)
    ledger.marks["AAPL"] = 120.0
    assert ledger.buying_power() == pytest.approx(11_000 - 2.5 * 1_200.0, abs=MONEY)
    ledger.marks["AAPL"] = 80.0
    assert ledger.buying_power() == pytest.approx(11_000 - 2.5 * 800.0, abs=MONEY)
    assert ledger.account().buying_power == pytest.approx(9_000.0, abs=MONEY)
    assert ledger.account().initial_margin == pytest.approx(1.5 * 800.0, abs=MONEY)


def test_buying_power_nets_open_reservations_and_short_margin_together() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger
    door.book(_fill("sell", 10, 100.0, fee=1.0))
    assert door.place("b1", "MSFT", Side.BUY, 5, 200.0) is None
    ledger.marks["AAPL"] = 110.0

    # cash - reserved - (1 + short_margin) x |short market value|, as the module docstring states.
    cash = 10_000 + 1_000 - 1.0
    assert ledger.cash == pytest.approx(cash, abs=MONEY)
    assert ledger.buying_power() == pytest.approx(cash - 1_000.0 - 2.5 * 1_100.0, abs=MONEY)
    assert ledger.account().buying_power == pytest.approx(ledger.buying_power(), abs=MONEY)


def test_short_margin_is_configurable() -> None:
    door = Door(10_000, allow_short=True, short_margin=2.0)
    door.book(_fill("sell", 10, 100.0))

    assert door.ledger.buying_power() == pytest.approx(11_000 - 3.0 * 1_000.0, abs=MONEY)
    assert door.ledger.account().initial_margin == pytest.approx(2.0 * 1_000.0, abs=MONEY)


def test_a_margin_account_has_twice_its_excess_equity_to_spend_and_the_same_figure_in_its_account() -> None:
    door = Door(10_000, margin_multiplier=2.0)
    ledger = door.ledger
    door.book(_fill("buy", 100, 100.0))
    ledger.marks["AAPL"] = 110.0
    assert door.place("b1", "MSFT", Side.BUY, 10, 50.0) is None

    # equity 11,000, initial margin 11,000 / 2: buying power 2 x 5,500 less the 500 reserved.
    assert ledger.buying_power() == pytest.approx(2 * (11_000 - 5_500) - 500, abs=MONEY)
    account = ledger.account()
    assert account.buying_power == pytest.approx(ledger.buying_power(), abs=MONEY)
    assert account.initial_margin == pytest.approx(5_500.0, abs=MONEY)
    assert account.maintenance_margin == pytest.approx(0.30 * 11_000, abs=MONEY)


def test_short_sale_beyond_buying_power_is_refused_and_changes_nothing() -> None:
    door = Door(1_000, allow_short=True)
    before = door.seen()

    reason = door.place("s1", "AAPL", Side.SELL, 30, 100.0)

    assert reason == "insufficient buying power: sell 30 AAPL needs 4500.00, available 1000.00"
    assert door.seen() == before


def test_a_fill_that_would_make_buying_power_negative_is_refused_and_changes_nothing() -> None:
    door = Door(1_000)
    ledger = door.ledger
    assert door.place("o1", "AAPL", Side.BUY, 10, 100.0) is None
    before = door.seen()

    # The price ran away while the order was on its way: 10 at 120 costs 1,200, more than the account has.
    reason = door.fill(_fill("buy", 10, 120.0, fee=1.0, n=1), "o1")

    assert reason is not None and "insufficient buying power" in reason
    assert door.seen() == before
    assert ledger.cash == 1_000.0
    assert ledger.fees == 0.0
    assert ledger.positions() == []
    assert ledger.reserved_cash == pytest.approx(1_000.0, abs=MONEY)
    assert door.state.order("o1").filled_quantity == 0.0  # type: ignore[union-attr]
    door.cancel("o1")
    assert ledger.buying_power() == pytest.approx(1_000.0, abs=MONEY)


def test_refused_fill_keeps_an_existing_position_and_its_sell_reservations() -> None:
    door = Door(1_000, allow_short=True)
    ledger = door.ledger
    door.book(_fill("buy", 5, 100.0))
    # A sell of 30 holds the 5 shares and, at the venue's (low) estimate, margin for a 25-share short.
    assert door.place("s1", "AAPL", Side.SELL, 30, 10.0) is None
    before = door.seen()

    # At 100 the 25-share short needs margin the account cannot carry.
    reason = door.fill(_fill("sell", 30, 100.0, n=1), "s1")

    assert reason is not None and "insufficient buying power" in reason
    assert door.seen() == before
    assert _position(ledger).quantity == pytest.approx(5, abs=1e-12)
    assert ledger.realized_pnl == 0.0


def test_fill_that_only_shrinks_a_position_is_never_refused() -> None:
    door = Door(10_000, allow_short=True)
    ledger = door.ledger
    door.book(_fill("sell", 10, 100.0))
    ledger.marks["AAPL"] = 1_000.0
    assert ledger.buying_power() < 0

    door.book(_fill("buy", 10, 1_000.0, n=1))

    assert ledger.position("AAPL") is None
    assert ledger.realized_pnl == pytest.approx(10 * (100.0 - 1_000.0), abs=MONEY)


def test_a_restored_ledger_reads_its_restored_holdings() -> None:
    """`holding(symbol)` (what the venue reads on every fill) answers from the holdings a restore put back, not
    from the ones it replaced."""
    door = Door(10_000)
    door.book(_fill("buy", 10, 100.0), _fill("buy", 4, 100.0, symbol="MSFT", n=1))
    snapshot = door.ledger.snapshot()

    restored = Ledger(10_000)
    restored.book_fill(_fill("buy", 3, 50.0, symbol="IBM", n=2))
    restored.restore(snapshot)
    aapl, msft = restored.holding("AAPL"), restored.holding("MSFT")
    assert aapl is not None and aapl.quantity == restored.quantity("AAPL") == 10
    assert msft is not None and msft.quantity == restored.quantity("MSFT") == 4
    assert restored.holding("IBM") is None


# -- the door's one-pass fill check (no journal) against its two-step check (a journal records in between) ----


def _refused_fill_doors(journaled: bool, **settings: object) -> tuple[Door, list[object]]:
    door = Door(1_000, **settings)
    recorded: list[object] = []
    if journaled:
        door.state.recorder = recorded.append
    return door, recorded


@pytest.mark.parametrize("journaled", [False, True])
def test_a_fill_beyond_buying_power_is_refused_alike_with_and_without_a_journal(journaled: bool) -> None:
    """Without a recorder the door checks a fill in `book_fill`'s pass (`check`); with one, `fill_refusal` first:
    the same reason, nothing changed, nothing recorded."""
    door, recorded = _refused_fill_doors(journaled)
    assert door.place("o1", "AAPL", Side.BUY, 10, 100.0) is None
    before, count = door.seen(), len(recorded)

    reason = door.fill(_fill("buy", 10, 120.0, fee=1.0, n=1), "o1")

    assert reason == "insufficient buying power at fill: buy 10 AAPL at 120.0000 costs more than is available"
    assert door.seen() == before
    assert len(recorded) == count
    assert door.state.order("o1").filled_quantity == 0.0  # type: ignore[union-attr]
    assert door.fill(_fill("buy", 10, 100.0, n=2), "o1") is None  # the order still fills within its means


@pytest.mark.parametrize("journaled", [False, True])
def test_a_sale_beyond_the_shares_held_is_refused_alike_with_and_without_a_journal(journaled: bool) -> None:
    """A sale's fill that would open a short while shorting is disabled (the shares were sold meanwhile: the
    ledger's settings changed under a working sell order) is refused the same either way."""
    door, recorded = _refused_fill_doors(journaled, allow_short=True)
    door.book(_fill("buy", 5, 100.0))
    assert door.place("s1", "AAPL", Side.SELL, 8, 100.0) is None
    door.ledger.allow_short = False
    before, count = door.seen(), len(recorded)

    reason = door.fill(_fill("sell", 8, 100.0, n=1), "s1")

    assert reason == "short selling is disabled: cannot sell 8 AAPL holding 5"
    assert door.seen() == before
    assert len(recorded) == count


def test_book_fill_with_check_raises_what_fill_refusal_answers_and_changes_nothing() -> None:
    door = Door(1_000)
    ledger = door.ledger
    assert door.place("o1", "AAPL", Side.BUY, 10, 100.0) is None
    fill = _fill("buy", 10, 120.0, n=1)
    reason = ledger.fill_refusal(fill, "o1", 0.0)
    before = door.seen()

    with pytest.raises(FillRefused) as raised:
        ledger.book_fill(fill, "o1", 0.0, True)

    assert reason is not None and raised.value.reason == reason and str(raised.value) == reason
    assert door.seen() == before
    assert ledger.reservation("o1") is not None


def test_a_checked_partial_fill_of_a_reserved_order_is_refused_as_fill_refusal_says_and_changes_nothing() -> None:
    door = Door(1_000)
    ledger = door.ledger
    assert door.place("o1", "AAPL", Side.BUY, 10, 100.0) is None
    fill = _fill("buy", 5, 250.0, n=1)  # half the order, at more than the rest of the reservation and the cash cover
    reason = ledger.fill_refusal(fill, "o1", 5.0)
    before = door.seen()

    with pytest.raises(FillRefused) as raised:
        ledger.book_fill(fill, "o1", 5.0, True)

    assert reason is not None and reason.startswith("insufficient buying power at fill")
    assert raised.value.reason == reason
    assert door.seen() == before


def test_book_fill_that_neither_checks_nor_books_is_refused_naming_what_it_needs() -> None:
    door = Door(1_000)
    before = door.seen()
    with pytest.raises(ValueError, match="needs check=True"):
        door.ledger.book_fill(_fill("buy", 1, 100.0), None, None, False, False)
    assert door.seen() == before


def test_book_fill_with_check_books_what_fill_refusal_lets_through_as_book_fill_does() -> None:
    """A fill that only shrinks a position, and one within the account's means, book the same with the check."""
    checked, unchecked = Door(10_000, allow_short=True), Door(10_000, allow_short=True)
    for door in (checked, unchecked):
        door.book(_fill("sell", 10, 100.0))
        door.ledger.marks["AAPL"] = 1_000.0
        assert door.ledger.fill_refusal(_fill("buy", 10, 1_000.0, n=1)) is None
    assert checked.ledger.book_fill(_fill("buy", 10, 1_000.0, n=1), None, None, True) == (-10.0, 0.0)
    assert unchecked.ledger.book_fill(_fill("buy", 10, 1_000.0, n=1)) == (-10.0, 0.0)
    assert checked.seen() == unchecked.seen()
    assert checked.ledger.book_fill(_fill("buy", 2, 50.0, n=2), None, None, True) == (0.0, 2.0)
    assert unchecked.ledger.book_fill(_fill("buy", 2, 50.0, n=2)) == (0.0, 2.0)
    assert checked.seen() == unchecked.seen()


# -- the door's entries by fields ---------------------------------------------------------------------------


def _entered(by_fields: bool) -> tuple[list[object], list[OrderEvent], Door]:
    """A market order placed, made working and filled through the door, by its entries taking the changes'
    fields (their records made for the recorder only) or by `apply` with the records; what was recorded."""
    door = Door(10_000)
    recorded: list[object] = []
    door.state.recorder = recorded.append
    plan = door.ledger.plan_reservation("o1", "AAPL", Side.BUY, 10, 100.0, None, False)
    assert not isinstance(plan, str)
    order = _order("o1", "AAPL", Side.BUY, 10)
    fill = _fill("buy", 10, 100.0, n=1, fee=0.5)
    fill = attrs.evolve(fill, order_id="o1")
    state = door.state
    if by_fields:
        state.enter_new_order(order, plan, False, None)
        state.enter_status_change("o1", OrderStatus.NEW, T0, EventType.NEW, None, None)
        state.enter_execution(fill, False, None)
    else:
        state.apply(NewOrder(order, plan))
        state.apply(StatusChange("o1", OrderStatus.NEW, T0, EventType.NEW))
        state.apply(Execution(fill))
    return recorded, door.events, door


def test_the_doors_entries_by_fields_record_and_announce_what_apply_does() -> None:
    by_fields, by_records = _entered(True), _entered(False)

    assert by_fields[0] == by_records[0]
    assert [type(change) for change in by_fields[0]] == [NewOrder, StatusChange, Execution]
    assert by_fields[1] == by_records[1]
    assert by_fields[2].seen() == by_records[2].seen()


def test_a_status_change_entered_by_fields_records_its_reason() -> None:
    door = Door(10_000)
    recorded: list[object] = []
    assert door.place("o1", "AAPL", Side.BUY, 10, 100.0) is None
    door.state.recorder = recorded.append

    order = door.state.enter_status_change("o1", OrderStatus.CANCELED, T0, EventType.CANCELED, "too late", None)

    assert recorded == [StatusChange("o1", OrderStatus.CANCELED, T0, EventType.CANCELED, "too late")]
    assert order.status is OrderStatus.CANCELED and order.reject_reason == "too late"
    assert door.ledger.reserved_cash == 0.0
