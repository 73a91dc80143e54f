"""The spool keeps fills and orders on disk and gives back exactly what went in."""

from __future__ import annotations

import gc
import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker_sim import DuplicateClientOrderId, OrderNotFound, OrderStatus, PaperBroker, SimulatedClock
from broker_sim.models import Fill, Order, OrderClass, OrderType, Side, TimeInForce
from broker_sim.report.spool import (
    BATCH,
    FILL_COLUMNS,
    ORDER_CSV_COLUMNS,
    CellTexts,
    FillSpool,
    OrderSpool,
    Spool,
    fill_row,
    order_row,
)
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
    # A forgotten order's client order id is free again (the fill path forgets the one order over the bound in line).
    again = await broker.buy("AAPL", 1, reference_price=10.0, client_order_id=orders[0].client_order_id)
    assert again.status is OrderStatus.FILLED and again.id != orders[0].id
    with pytest.raises(DuplicateClientOrderId):  # (another request under a remembered order's id)
        await broker.buy("AAPL", 2, reference_price=10.0, client_order_id=orders[-1].client_order_id)
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
    # a filled market order good till canceled: its type and status usual, its time in force not
    gtc = attrs.evolve(base, id="o6", time_in_force=TimeInForce.GTC)
    plain = [(base, "sma"), (limit, ""), (rejected, "sma"), (base, "mean-reversion")]
    awkward = [
        (attrs.evolve(rejected, reject_reason="need 1,000.00, have 12.50"), "sma"),
        (attrs.evolve(rejected, reject_reason='said "no"'), "sma"),
        (attrs.evolve(rejected, reject_reason="two\nlines"), "sma"),
        (base, "a,b"),
    ]
    return [*plain, *awkward, (gtc, "sma")]


def test_a_batch_of_orders_is_written_byte_for_byte_as_the_csv_writer_writes_their_rows() -> None:
    """Orders are held raw and formatted a batch at a time (one f-string per order when no cell needs quoting):
    the file is what csv.writer makes of `order_row`, batch by batch, whichever way a batch went."""
    import csv
    import io

    entries = _orders_with_every_kind_of_cell()
    for batch in (entries[:4], entries, entries[4:5], [*entries[:4], entries[-1]]):
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


def test_plain_batches_take_the_generated_lines_and_awkward_ones_the_csv_writer(monkeypatch) -> None:
    """A batch whose cells need no quoting is written by the generated line code (the fast way, guarded here so
    that an error inside it, which would quietly send every batch the rows' way, is seen); a batch with a cell
    that needs quoting goes through the csv writer."""
    from broker_sim.report import spool as spool_module

    taken: list[bool] = []
    write_lines = spool_module._write_lines

    def watched(*args: object) -> bool:
        taken.append(write_lines(*args))  # type: ignore[arg-type]
        return taken[-1]

    monkeypatch.setattr(spool_module, "_write_lines", watched)
    entries = _orders_with_every_kind_of_cell()
    for batch in (entries[:4], entries[4:5]):
        spool = OrderSpool()
        for order, strategy in batch:
            spool.add_owned(order, strategy)
        spool.flush()
    fills = FillSpool()
    fills.append(Fill("o1", "AAPL", Side.BUY, 3.0, 101.37, 0.04, T0, 101.3, "e1"))
    fills.flush()
    assert taken == [True, False, True]


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


class _Stamp(datetime):
    """A datetime subclass with a text of its own: the time texts must never stand in for its `isoformat`."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "stamp " + super().isoformat(sep, timespec)


_ZONES = [
    UTC,
    timezone(timedelta(0), "UTC"),
    timezone(timedelta(hours=1)),
    timezone(-timedelta(hours=5, minutes=30)),
    ZoneInfo("UTC"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Europe/London"),
    None,
]
_MOMENTS = st.builds(
    lambda seconds, micro, zone, fold, subclass: (
        (_Stamp if subclass else datetime)
        .fromtimestamp(seconds, UTC)
        .replace(microsecond=micro, fold=fold)
        .astimezone(zone)
        .replace(tzinfo=zone, fold=fold)
    ),
    # around the autumn clock change of 2024 in New York and London, where wall times repeat (fold)
    st.integers(1_730_000_000, 1_730_800_000),
    st.sampled_from([0, 1, 500_000, 999_999]),
    st.sampled_from(_ZONES),
    st.integers(0, 1),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_MOMENTS, _MOMENTS), min_size=1, max_size=12), st.integers(1, 5))
def test_a_time_text_is_always_the_moments_own_isoformat(moments: list[tuple[datetime, datetime]], every: int) -> None:
    """The fill and order spools of a run share the texts of the UTC moments they wrote lately: a row still has
    each time's own ``isoformat``, whatever its zone, fold, microseconds or class, and however the batches fall,
    even when an equal moment in another zone (or of another class) was written before."""
    import csv
    import io

    texts = CellTexts()
    fills, orders = FillSpool(texts=texts), OrderSpool(texts=texts)
    # the same instants in UTC first, so that every later moment meets an equal one among the texts
    utc = [moment.astimezone(UTC) if moment.tzinfo is not None else moment for pair in moments for moment in pair]
    written_fills = [Fill("o", "AAPL", Side.BUY, 1.0, 1.5, 0.0, moment, 1.5, "e") for moment in utc]
    written_orders = []
    for index, (created, filled) in enumerate(moments):
        written_fills.append(Fill(f"o{index}", "AAPL", Side.SELL, 2.0, 3.25, 0.01, filled, 3.0, f"e{index}", "sma"))
        order = Order(
            id=f"o{index}", client_order_id=f"sma-{index}", symbol="AAPL", side=Side.SELL, quantity=2.0,
            type=OrderType.MARKET, time_in_force=TimeInForce.DAY, limit_price=None, stop_price=None,
            status=OrderStatus.FILLED, filled_quantity=2.0, filled_avg_price=3.25, reject_reason=None,
            created_at=created, updated_at=filled, submitted_at=created, filled_at=filled,
        )  # fmt: skip
        written_orders.append(order)
    for count, fill in enumerate(written_fills, 1):
        fills.append(fill)
        if count % every == 0:
            fills.flush()
    for count, order in enumerate(written_orders, 1):
        orders.add_owned(order, "sma")
        if count % every == 0:
            orders.flush()
    for spool, header, rows in (
        (fills, FILL_COLUMNS, [fill_row(fill) for fill in written_fills]),
        (orders, ORDER_CSV_COLUMNS, [order_row(order, "sma") for order in written_orders]),
    ):
        spool.flush()
        expected = io.StringIO()
        writer = csv.writer(expected, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        assert spool.path.read_text(encoding="utf-8") == expected.getvalue()
    assert [row[0] for row in fills.rows()] == [fill.timestamp.isoformat() for fill in written_fills]


def test_a_number_text_is_always_the_numbers_own_repr() -> None:
    """The spools of a run share the texts of the floats they wrote lately: a cell is still its own number's
    ``repr``, for a zero of either sign, a NaN, an infinity, and an int or a bool given for a float."""
    import csv
    import io

    texts = CellTexts()
    fills, orders = FillSpool(texts=texts), OrderSpool(texts=texts)
    numbers: list[float] = [0.0, -0.0, 0.0, 1.5, -1.5, math.nan, math.inf, -math.inf, 1e-7, 1e22, 3, True, 0.1 + 0.2]
    written = []
    written_orders = []
    for index, number in enumerate(numbers * 2):
        fill = Fill("o", "AAPL", Side.BUY, number, -number, number, T0, 0.3, f"e{index}")
        fills.add_as(fill, "sma", number, -number)
        written.append(attrs.evolve(fill, strategy="sma", quantity=number, fee=-number))
        # (the filled quantity the very object of the quantity: its cell is that cell's text, an int's too)
        written_orders.append(Order(
            id=f"o{index}", client_order_id=f"sma-{index}", symbol="AAPL", side=Side.SELL, quantity=number,
            type=OrderType.LIMIT, time_in_force=TimeInForce.DAY, limit_price=-number, stop_price=None,
            status=OrderStatus.FILLED, filled_quantity=number, filled_avg_price=0.30000000000000004,
            reject_reason=None, created_at=T0, updated_at=T0,
        ))  # fmt: skip
        orders.add_owned(written_orders[-1], "sma")
        if index % 5 == 0:
            fills.flush()
            orders.flush()
    fills.flush()
    orders.flush()
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows([FILL_COLUMNS, *(fill_row(fill) for fill in written)])
    assert fills.path.read_text(encoding="utf-8") == expected.getvalue()
    assert [row[ORDER_CSV_COLUMNS.index("limit_price")] for row in orders.rows()] == [repr(-n) for n in numbers * 2]
    expected = io.StringIO()
    rows = (order_row(order, "sma") for order in written_orders)
    csv.writer(expected, lineterminator="\n").writerows([ORDER_CSV_COLUMNS, *rows])
    assert orders.path.read_text(encoding="utf-8") == expected.getvalue()


def test_the_time_texts_keep_at_most_two_batches_worth() -> None:
    """However long the run, the shared time texts hold the moments of the last batches only."""
    texts = CellTexts()
    fills, orders = FillSpool(texts=texts), OrderSpool(texts=texts)
    order = _orders_with_every_kind_of_cell()[0][0]
    for index in range(5 * 1024):
        moment = T0 + timedelta(seconds=index)
        fills.add_as(Fill("o1", "AAPL", Side.BUY, 1.0, 1.5, 0.0, moment, 1.5, "e"), "sma", 1.0, 0.0)
        orders.add_owned(attrs.evolve(order, created_at=moment, updated_at=moment, filled_at=moment), "sma")
    fills.flush()
    orders.flush()
    assert len(texts.current) + len(texts.older) <= 2 * 1024
    assert len(fills) == len(orders) == 5 * 1024
    assert list(fills.rows())[-1][0] == list(orders.rows())[-1][ORDER_CSV_COLUMNS.index("filled_at")]


def test_a_value_that_is_not_a_member_of_its_enum_is_written_as_its_row_would_be() -> None:
    """A fill or an order whose enum field holds a plain text (``"buy"``, not `Side.BUY`) is not one the batch's
    generated lines can format: its batch is written by the csv writer from its rows, byte for byte, and reads back
    as the members."""
    import csv
    import io

    base, _ = _orders_with_every_kind_of_cell()[0]
    fills = [
        Fill("o1", "AAPL", Side.BUY, 3.0, 101.37, 0.04, T0, 101.3, "e1"),
        Fill("o2", "AAPL", "sell", 1.5, 102.0, 0.0, T0, 102.1, "e2"),  # type: ignore[arg-type]
    ]
    orders = [base, attrs.evolve(base, id="o2", side="sell", status="filled", order_class="simple")]  # type: ignore[arg-type]
    fill_spool, order_spool = FillSpool(), OrderSpool()
    for fill in fills:
        fill_spool.append(fill)
    for order in orders:
        order_spool.add_owned(order, "sma")
    for spool, header, rows in (
        (fill_spool, FILL_COLUMNS, [fill_row(fill) for fill in fills]),
        (order_spool, ORDER_CSV_COLUMNS, [order_row(order, "sma") for order in orders]),
    ):
        spool.flush()
        expected = io.StringIO()
        csv.writer(expected, lineterminator="\n").writerows([header, *rows])
        assert spool.path.read_text(encoding="utf-8") == expected.getvalue()
    assert [fill.side for fill in fill_spool] == [Side.BUY, Side.SELL]
    assert [(order.side, order.status) for order in order_spool][1] == (Side.SELL, OrderStatus.FILLED)


def test_a_value_no_row_can_be_made_of_is_a_clear_error_naming_its_field() -> None:
    """A time field that holds no time (or any value neither the generated lines nor a row can format) is a
    `TypeError` that names the file, the order and the field, not an error from inside generated code; nothing
    of its batch is written."""
    spool = FillSpool()
    spool.append(Fill("o1", "AAPL", Side.BUY, 1.0, 2.0, 0.0, T0, 2.0, "e1"))
    spool.append(Fill("o2", "AAPL", Side.BUY, 1.0, 2.0, 0.0, "yesterday", 2.0, "e2"))  # type: ignore[arg-type]
    with pytest.raises(TypeError) as raised:
        spool.flush()
    message = str(raised.value)
    assert message.startswith(f"{spool.path.name}: cannot write Fill (order 'o2') as a CSV row: ")
    assert "its timestamp is 'yesterday' (str), not a datetime" in message
    assert spool.path.read_text(encoding="utf-8") == ",".join(FILL_COLUMNS) + "\n"


def test_a_float_column_may_reuse_the_text_only_of_an_earlier_float_column_never_grouped() -> None:
    """The order lines reuse the quantity's text for a filled quantity that is the very same float; a column named
    for that must be an earlier float column that is never `usual` (a grouped column's text is not always made)."""
    from broker_sim.report import spool as spool_module

    for same in ({"filled_quantity": ("limit_price",)}, {"quantity": ("filled_quantity",)}):
        with pytest.raises(ValueError, match="may name earlier float columns"):
            spool_module._formatter(
                spool_module._ORDER_CSV_HINTS, ORDER_CSV_COLUMNS, entry="item, strategy", given=("strategy",),
                line=True, usual=spool_module._ORDER_USUAL, same=same,
            )  # fmt: skip


def test_same_refuses_a_column_that_is_no_float_column_of_the_row() -> None:
    from broker_sim.report import spool as spool_module

    for same in ({"no_such_column": ("quantity",)}, {"symbol": ("quantity",)}):
        with pytest.raises(ValueError, match="no float columns of the row") as raised:
            spool_module._formatter(
                spool_module._ORDER_CSV_HINTS, ORDER_CSV_COLUMNS, entry="item, strategy", given=("strategy",),
                line=True, usual=spool_module._ORDER_USUAL, same=same,
            )  # fmt: skip
        assert next(iter(same)) in str(raised.value)


def test_a_fresh_price_is_written_at_once_and_its_text_kept_for_the_order_spool() -> None:
    """A fill's price and reference price are written without a lookup (they are mostly new): each cell is still
    its own value's ``repr`` in a batch that mixes floats, ints, zeros of both signs and a NaN with a time of
    another zone and a strategy whose name needs quoting, byte for byte what the csv writer makes of the rows; a
    non-zero float's text is kept in the shared texts for the order spool, a zero's and an int's never."""
    import csv
    import io

    texts = CellTexts()
    fills, orders = FillSpool(texts=texts), OrderSpool(texts=texts)
    prices: list[float] = [101.37, -0.0, 0.0, 7, math.nan, 0.1 + 0.2, 101.37, True, 1e22]
    written = []
    for index, price in enumerate(prices):
        moment = T0 if index % 2 else T0.astimezone(timezone(timedelta(hours=-5)))
        fill = Fill(f"o{index}", "AAPL", Side.SELL, 2.0, price, 0.0, moment, -price, f"e{index}")
        strategy = "mean,reversion" if index == 3 else "sma"
        fills.add_as(fill, strategy, 2.0, 0.0)
        written.append(attrs.evolve(fill, strategy=strategy))
        if index in (2, 3):  # the comma's batch alone goes the csv writer's way, the others as their lines
            fills.flush()
    fills.flush()
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows([FILL_COLUMNS, *(fill_row(fill) for fill in written)])
    assert fills.path.read_text(encoding="utf-8") == expected.getvalue()
    assert texts.numbers[101.37] == "101.37" and texts.numbers[-0.30000000000000004] == "-0.30000000000000004"
    assert 0.0 not in texts.numbers and 7 not in texts.numbers and 1 not in texts.numbers
    base = _orders_with_every_kind_of_cell()[0][0]
    for price in (101.37, 7.0, 1.0, 0.30000000000000004):
        orders.add_owned(attrs.evolve(base, filled_avg_price=price), "sma")
    orders.flush()
    column = ORDER_CSV_COLUMNS.index("filled_avg_price")
    assert [row[column] for row in orders.rows()] == ["101.37", "7.0", "1.0", "0.30000000000000004"]


def test_fresh_refuses_a_column_that_is_no_float_or_time_column_of_the_row() -> None:
    from broker_sim.report import spool as spool_module

    for fresh in (("no_such_column",), ("price", "symbol"), ("timestamp", "side")):
        with pytest.raises(ValueError, match="no float or time columns of the row") as raised:
            spool_module._formatter(
                Fill, FILL_COLUMNS, entry="item, strategy, quantity, fee", given=("strategy", "quantity", "fee"),
                line=True, fresh=fresh,
            )  # fmt: skip
        assert fresh[-1] in str(raised.value)


def test_same_and_fresh_need_the_generated_lines() -> None:
    # They shape `lines` only: a row formatter given either refuses it rather than ignore it (review).
    from broker_sim.report import spool as spool_module

    for shaping in ({"fresh": ("price",)}, {"same": {"reference_price": ("price",)}}):
        with pytest.raises(ValueError, match="need `line=True`"):
            spool_module._formatter(Fill, FILL_COLUMNS, **shaping)  # type: ignore[arg-type]


def test_a_fill_without_slippage_writes_its_reference_price_as_its_price() -> None:
    # Without slippage the reference price is the very float of the price: its text is reused (`same`), the same bytes.
    price = 101.12345678901234
    fill = Fill("o1", "X", Side.BUY, 1.0, price, 0.0, T0, price, "e1", "s")
    spool: Spool = Spool.of_fills()
    spool.append(fill)
    spool.flush()
    line = spool.path.read_text().splitlines()[1]
    assert line == ",".join(fill_row(fill))
    assert line.split(",")[5] == line.split(",")[6] == repr(price)
    assert list(spool) == [fill]


#: Any naive moment a `datetime` holds (the tests make them UTC).
_ANY_MOMENT = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999))


@settings(max_examples=100, deadline=None)
@given(st.lists(_ANY_MOMENT, min_size=1, max_size=30), st.booleans())
def test_the_text_of_a_utc_moment_is_its_isoformat_whatever_came_before(moments: list[datetime], ordered: bool) -> None:
    """`CellTexts.utc_text` keeps the text of the hour it named last (and its bounds): each moment's text is still
    its own ``isoformat``, in order or not, with microseconds or none, in the same hour as the moment before or
    another, and in the very last hour a `datetime` holds (whose end it cannot name)."""
    texts = CellTexts()
    utc = [moment.replace(tzinfo=UTC) for moment in (sorted(moments) if ordered else moments)]
    last = datetime.max.replace(tzinfo=UTC)
    for moment in [*utc, last - timedelta(minutes=59), last, last - timedelta(hours=1), *utc]:
        assert texts.utc_text(moment) == moment.isoformat()
    hour = T0.replace(minute=0, second=0, microsecond=0)
    for second in range(0, 3600, 7):
        moment = hour + timedelta(seconds=second, microseconds=second % 3)
        assert texts.utc_text(moment) == moment.isoformat()


@settings(max_examples=60, deadline=None)
@given(st.lists(_ANY_MOMENT, min_size=1, max_size=20), st.booleans())
def test_a_fill_time_is_written_at_once_and_its_text_kept_for_the_order_spool(
    moments: list[datetime], ordered: bool
) -> None:
    """A fill's time is a `fresh` column: its text is made without a lookup (in line in the hour named last, else
    by `CellTexts.utc_text`), whatever came before: in order or not, with microseconds or none, the same moment
    object in several fills, another zone, the last hour a `datetime` holds; each line is what the csv writer makes
    of the row, a UTC moment's text is kept for the order spool, and the moments kept turn over by their count."""
    import csv
    import io

    from broker_sim.report import spool as spool_module

    utc = [moment.replace(tzinfo=UTC) for moment in (sorted(moments) if ordered else moments)]
    last = datetime.max.replace(tzinfo=UTC)
    stamps = [*utc, utc[0], last - timedelta(minutes=59), last, utc[-1].astimezone(timezone(timedelta(hours=-5)))]
    fills = [Fill(f"o{n}", "AAPL", Side.BUY, 1.0, 10.5, 0.0, at, 10.5, f"e{n}", "s") for n, at in enumerate(stamps)]
    texts = CellTexts()
    made, odd = spool_module._FILL_ENTRY_LINES([(fill, "s", 1.0, 0.0) for fill in fills], texts)
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows(fill_row(fill) for fill in fills)
    assert "\n".join(made) + "\n" == expected.getvalue()
    assert stamps[-1].isoformat() in odd  # the other zone's text is checked for quoting
    for stamp in stamps[:-1]:
        assert texts.current[id(stamp)] == stamp.isoformat()
    assert len(texts.moments) == len(stamps) - 1  # one a row, also for a moment named before
    texts.turn()
    assert len(texts.moments) == len(stamps) - 1  # fewer than a batch's worth: kept


def test_the_moments_a_fresh_time_keeps_turn_over_by_their_count() -> None:
    """A fill's time is kept once a row, also a moment named before: `CellTexts.turn` starts a new generation once
    a batch's worth of moments is kept, even when all of them are one moment (memory stays bounded)."""
    from broker_sim.report import spool as spool_module

    fill = Fill("o1", "AAPL", Side.BUY, 1.0, 10.5, 0.0, T0, 10.5, "e1", "s")
    texts = CellTexts()
    spool_module._FILL_ENTRY_LINES([(fill, "s", 1.0, 0.0)] * BATCH, texts)
    assert len(texts.current) == 1 and len(texts.moments) == BATCH
    texts.turn()
    assert texts.current == {} and texts.moments == [] and texts.older[id(T0)] == T0.isoformat()


def test_a_usual_group_keeps_its_variables_when_a_later_column_names_one() -> None:
    """In the generated lines, a run of usual columns is tested on its fields as they are read, its variables set in
    the other branch only; unless a later column names one of them (a time that may be the very object of an earlier
    one): then they are read first, as a later column needs them whichever branch ran. Either way each line is the
    row the csv writer would write."""
    import csv
    import io
    import linecache

    from broker_sim.report import spool as spool_module

    @attrs.frozen
    class Stamped:
        name: str
        opened: datetime | None
        closed: datetime | None
        seen: datetime

    columns = ("name", "opened", "closed", "seen")
    lines = spool_module._formatter(Stamped, columns, line=True, usual={"opened": None, "closed": None})
    row = spool_module._formatter(Stamped, columns)
    source = "".join(linecache.cache[lines.__code__.co_filename][2])
    assert "d1 = item.opened" in source.split("if ")[0]  # read before the group's test: `seen` names it
    later = T0 + timedelta(minutes=1)
    items = [
        Stamped("a", None, None, T0),
        Stamped("b", T0, None, T0),
        Stamped("c", None, later, later),
        Stamped("d", T0, later, T0 + timedelta(hours=2)),
    ]
    made, _ = lines(items, CellTexts())
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows(row(item) for item in items)
    assert "\n".join(made) + "\n" == expected.getvalue()
    # the orders' own groups are tested on their fields, none of theirs named by a later column
    order_source = "".join(linecache.cache[spool_module._ORDER_ENTRY_LINES.__code__.co_filename][2])
    usual = {name: f"_usual{ORDER_CSV_COLUMNS.index(name)}" for name in ("type", "time_in_force", "status")}
    assert (
        f"if item.limit_price is None and item.stop_price is None and item.status is {usual['status']}:" in order_source
    )
    assert f"if item.type is {usual['type']} and item.time_in_force is {usual['time_in_force']}:" in order_source
