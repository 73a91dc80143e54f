"""The spool keeps fills and orders on disk and gives back exactly what went in."""

from __future__ import annotations

import gc
from datetime import timedelta

import attrs
import pytest

from broker_sim import OrderNotFound, OrderStatus, PaperBroker, SimulatedClock
from broker_sim.models import Fill, Order, OrderClass, OrderType, Side, TimeInForce
from broker_sim.report.spool import ORDER_CSV_COLUMNS, FillSpool, OrderSpool, Spool, fill_row, order_row
from broker_sim.report.trades import TradeTally
from tests.conftest import T0


async def test_fills_and_orders_come_back_exactly() -> None:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), commission={"model": "per_share", "rate": 0.013})
    ids = [(await broker.buy("AAPL", 3.5, reference_price=101.37 + i)).id for i in range(5)]
    for order_id in ids:
        await broker.wait_for(order_id)
    await broker.buy("AAPL", 1, type="limit", limit_price=1.0, time_in_force="gtc")
    fills: Spool = Spool.of_fills()
    orders: Spool = Spool.of_orders()
    for fill in broker.fills:
        fills.append(fill)
    for order in await broker.list_orders("all"):
        orders.append(order)
    assert list(fills) == broker.fills
    assert list(orders) == await broker.list_orders("all")
    assert len(fills) == 5 and fills[-1] == broker.fills[-1] and fills[1:3] == broker.fills[1:3]
    with pytest.raises(IndexError):
        fills[5]


def test_the_spool_file_goes_away_with_the_spool() -> None:
    spool: Spool = Spool.of_fills()
    path = spool.path
    assert path.exists()
    del spool
    gc.collect()
    assert not path.exists()


async def test_a_bounded_history_forgets_the_oldest_closed_orders() -> None:
    broker = PaperBroker(1e6, clock=SimulatedClock(T0), latency="none", history=3)
    orders = [await broker.buy("AAPL", 1, reference_price=10.0) for _ in range(5)]
    assert len(await broker.list_orders("all")) == 3
    assert len(broker.fills) == 3
    with pytest.raises(OrderNotFound):
        await broker.get_order(orders[0].id)
    assert (await broker.get_order(orders[-1].id)).status is OrderStatus.FILLED
    assert (await broker.get_account()).cash == pytest.approx(1e6 - 5 * 10.005)
    await broker.clock.advance(timedelta(seconds=1).total_seconds())


def test_a_batch_is_written_as_the_csv_writer_writes_it(tmp_path) -> None:
    """The spool writes a batch in one go when no cell needs quoting; cells with commas, quotes and line breaks
    go through the csv writer: the file is byte for byte what csv.writer makes, and reads back the same."""
    import csv
    import io

    from broker_sim.report.spool import _write_batch

    plain = [["a", "1.5", "", "2020-01-01T00:00:00+00:00"], ["b", "2.0", "x y", ""]]
    awkward = [*plain, ["c", "has, comma", 'say "hi"', "two\nlines", "cr\rhere"], [""]]
    for rows in (plain, awkward, [["only"]], [[""]]):
        expected = io.StringIO()
        csv.writer(expected, lineterminator="\n").writerows(rows)
        written = io.StringIO()
        _write_batch(written, csv.writer(written, lineterminator="\n"), rows)
        assert written.getvalue() == expected.getvalue()
        if not any("\r" in cell for row in rows for cell in row):
            assert list(csv.reader(io.StringIO(written.getvalue(), newline=""))) == rows
    spool = Spool(("a", "b"), lambda item: [item, "tail"], lambda row: row[0])
    for item in ("plain", "with,comma", 'with"quote', "with\nbreak", ""):
        spool.append(item)
    assert list(spool) == ["plain", "with,comma", 'with"quote', "with\nbreak", ""]


def _orders_with_every_kind_of_cell() -> list[tuple[Order, str]]:
    """Orders whose cells take every form a row can hold (empty, numbers, times shared or not, legs, flags), and
    some whose cells need the csv writer's quoting, each with the strategy that sent it."""
    base = Order(
        id="o1", client_order_id="sma-1", symbol="AAPL", side=Side.BUY, quantity=100.0, type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY, limit_price=None, stop_price=None, status=OrderStatus.FILLED,
        filled_quantity=100.0, filled_avg_price=101.25, reject_reason=None, created_at=T0,
        updated_at=T0 + timedelta(seconds=1.5), submitted_at=T0, filled_at=T0 + timedelta(seconds=1.5),
    )  # fmt: skip
    limit = attrs.evolve(
        base, id="o2", type=OrderType.LIMIT, limit_price=99.5, stop_price=98.0, status=OrderStatus.CANCELED,
        filled_quantity=0.0, filled_avg_price=None, canceled_at=T0 + timedelta(minutes=3), legs=("o3", "o4"),
        order_class=OrderClass.BRACKET, extended_hours=True, hwm=1e-7, notional=1234.5, reference_price=100.0,
        triggered_at=T0 + timedelta(minutes=2), replaces="o0", replaced_by="o9", parent_id="p1",
    )  # fmt: skip
    rejected = attrs.evolve(base, id="o5", status=OrderStatus.REJECTED, reject_reason="insufficient buying power")
    plain = [(base, "sma"), (limit, ""), (rejected, "sma"), (base, "mean-reversion")]
    awkward = [
        (attrs.evolve(rejected, reject_reason="need 1,000.00, have 12.50"), "sma"),
        (attrs.evolve(rejected, reject_reason='said "no"'), "sma"),
        (attrs.evolve(rejected, reject_reason="two\nlines"), "sma"),
        (base, "a,b"),
    ]
    return [*plain, *awkward]


def test_a_batch_of_orders_is_written_byte_for_byte_as_the_csv_writer_writes_their_rows() -> None:
    """Orders are held raw and formatted a batch at a time (one f-string per order when no cell needs quoting):
    the file is what csv.writer makes of `order_row`, batch by batch, whichever way a batch went."""
    import csv
    import io

    entries = _orders_with_every_kind_of_cell()
    for batch in (entries[:4], entries, entries[4:5]):
        spool = OrderSpool()
        for order, strategy in batch:
            spool.add_owned(order, strategy)
        spool.flush()
        expected = io.StringIO()
        writer = csv.writer(expected, lineterminator="\n")
        writer.writerow(ORDER_CSV_COLUMNS)
        writer.writerows(order_row(order, strategy) for order, strategy in batch)
        assert spool.path.read_text(encoding="utf-8") == expected.getvalue()
        assert list(spool) == [order for order, _ in batch]
        assert [row[-1] for row in spool.rows()] == [strategy for _, strategy in batch]


def test_a_strategys_share_of_a_fill_is_spooled_and_tallied_as_its_copy_would_be() -> None:
    """`add_as` (a fill as one strategy's, for its share) writes and counts exactly what the copy of the fill
    naming the strategy, for its share of quantity and fee, would."""
    fills = [
        Fill("o1", "AAPL", Side.BUY, 3.0, 101.37, 0.04, T0, 101.3, "e1"),
        Fill("o2", "AAPL", Side.SELL, 1.5, 102.0, 0.02, T0 + timedelta(seconds=5), 102.1, "e2"),
        Fill("o3", "MSFT", Side.SELL, 2.0, 50.25, 0.0, T0 + timedelta(seconds=9), 50.0, "e3"),
        Fill("o4", "AAPL", Side.SELL, 1.5, 99.0, 0.01, T0 + timedelta(seconds=12), 99.0, "e4", "x"),
    ]
    shares = [("sma", 1.0), ("sma", 0.25), ("", 1.0), ("x", 1.0)]
    spool, copies = FillSpool(), FillSpool()
    tally, copied = TradeTally(), TradeTally()
    for fill, (strategy, share) in zip(fills, shares, strict=True):
        quantity, fee = fill.quantity * share, fill.fee * share
        spool.add_as(fill, strategy, quantity, fee)
        tally.add_as(fill, strategy, quantity, fee)
        copy = attrs.evolve(fill, strategy=strategy, quantity=quantity, fee=fee)
        copies.append(copy)
        copied.add(copy)
    assert list(spool.rows()) == list(copies.rows()) == [fill_row(fill) for fill in copies]
    assert list(spool) == list(copies)
    assert tally.trades == copied.trades and len(tally.trades) == 1
    # repr: the figures with nothing to average are NaN, which equals nothing
    assert repr(tally.statistics()) == repr(copied.statistics())
    assert repr(tally.by_strategy()) == repr(copied.by_strategy())
    assert repr(tally.by_symbol()) == repr(copied.by_symbol())
    assert (tally.fees, tally.slippage, tally.fills) == (copied.fees, copied.slippage, copied.fills)
