"""The spool keeps fills and orders on disk and gives back exactly what went in."""

from __future__ import annotations

import gc
from datetime import timedelta

import pytest

from broker_sim import OrderNotFound, OrderStatus, PaperBroker, SimulatedClock
from broker_sim.report.spool import Spool
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
