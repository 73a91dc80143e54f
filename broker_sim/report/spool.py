"""Fills and orders as CSV rows: the format of trades.csv and orders.csv, and `Spool`, a sequence kept on disk.

A long run produces hundreds of thousands of orders; the simulation runner appends each to a `Spool` as it
completes instead of keeping it in memory, and `Result.fills` / `Result.orders` read them back when iterated.
A spool holds what is appended raw (a fill with the strategy and share it is recorded for, an order with its
strategy) and formats a bounded batch at a time (`FillSpool`, `OrderSpool`): the run pays for a row per order
in one generated loop, not in a call per fill and per order.
Numbers are written with ``repr`` (shortest round trip), so reading a row back gives the same float, and
identical runs give byte-identical files.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import re
import tempfile
import types
import typing
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import attrs

from broker_sim._codegen import compile_function
from broker_sim.models import (
    Fill,
    Order,
    OrderClass,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    unchecked_fill,
    unchecked_order,
)
from broker_sim.report.workdir import Workdir

__all__ = [
    "BATCH", "FILL_COLUMNS", "ORDER_COLUMNS", "ORDER_CSV_COLUMNS", "CellTexts", "FillSpool", "OrderSpool", "Spool",
    "fill_row", "order_row", "write_rows",
]  # fmt: skip

_T = TypeVar("_T")
_E = TypeVar("_E", bound=Enum)
#: Items held before they are formatted and written together (`Spool.pending`).
BATCH = 1024
_BATCH = BATCH
#: Float texts `CellTexts` keeps in a generation.
_NUMBERS_KEPT = 4 * _BATCH
_HOUR = timedelta(hours=1)
#: An hour's span that holds no moment (`CellTexts.utc_text` before its first).
_NO_HOUR = datetime(1, 1, 1, tzinfo=UTC)
#: The texts of the minutes and seconds of an hour (``"30:00"``), by second in the hour (`CellTexts.utc_text`).
_MINUTE_SECOND = tuple(f"{minute:02d}:{second:02d}" for minute in range(60) for second in range(60))
#: The characters that make the csv writer quote a cell (with its ``\n`` line ends).
_QUOTED = ('"', ",", "\r", "\n")

FILL_COLUMNS = (
    "timestamp", "order_id", "symbol", "side", "quantity", "price", "reference_price", "fee", "execution_id",
    "strategy",
)  # fmt: skip
ORDER_COLUMNS = (
    "id", "client_order_id", "symbol", "side", "type", "time_in_force", "quantity", "limit_price", "stop_price",
    "status", "filled_quantity", "filled_avg_price", "reject_reason", "created_at", "updated_at",
    "reference_price", "trail_price", "trail_percent", "replaces", "replaced_by", "submitted_at", "filled_at",
    "canceled_at", "expired_at", "failed_at", "replaced_at", "hwm", "order_class", "legs", "parent_id",
    "extended_hours", "notional", "triggered_at",
)  # fmt: skip
#: orders.csv: the order's fields, then the strategy that submitted it (the runner knows it from the client order
#: id; an `Order` itself does not carry it).
ORDER_CSV_COLUMNS = (*ORDER_COLUMNS, "strategy")


def _base(kind: Any) -> tuple[Any, bool]:
    """The declared type of a field without its None, and whether it is optional."""
    union = typing.get_origin(kind) in (typing.Union, types.UnionType)
    optional = union and type(None) in typing.get_args(kind)
    return (next(t for t in typing.get_args(kind) if t is not type(None)) if union else kind), optional


def _cell_expression(value: str, kind: Any, *, line: bool) -> str:
    """Python source that formats the value of expression `value` (a field of declared type `kind`): as a list
    item of a row, or with `line` as a cell of a `lines` function (a text, or an error for a value of another type:
    its batch then goes the rows' way)."""
    base, optional = _base(kind)
    if base is str:
        return f"({value} or '')" if optional else value
    if base is bool:
        return f"('true' if {value} else 'false')"
    if base is datetime:
        text = f"{value}.isoformat()"
    elif typing.get_origin(base) is tuple:
        # most orders have no legs: an empty tuple's text without a call
        return f"(';'.join({value}) if {value} else '')" if line else f"';'.join({value})"
    elif line and _is_plain_str_enum(base):
        # a member's own text: what ``str`` makes of it, without the copy `str.__str__` makes of a subclass's
        # value (a cell that is not a member fails here, and its batch goes the rows' way)
        text = f"{value}._value_"
    elif isinstance(base, type) and issubclass(base, Enum):
        text = f"f'{{{value}!s}}'" if line else f"str({value})"  # a StrEnum member's str is its value
    else:
        text = f"f'{{{value}!r}}'" if line else f"repr({value})"  # floats in their shortest round-trip form
    return f"('' if {value} is None else {text})" if optional else text


def _row_text(kind: Any, value: Any) -> str:
    """The text of `value` in a row's cell of a field of type `kind` (what ``row`` writes: a `usual` value's)."""
    cell = compile_function(
        f"def cell(value):\n    return {_cell_expression('value', kind, line=False)}\n", "cell", {}, purpose="csv cell"
    )
    text: str = cell(value)
    return text


def _needs_check(kind: Any) -> bool:
    """Whether a `lines` cell of a field of type `kind` may hold a text the CSV writer would quote (a comma, a
    quote, a line break): any text but a bool's and a plain `StrEnum` member's whose values hold none of those."""
    base = _base(kind)[0]
    if base is bool:
        return False
    if _is_plain_str_enum(base):
        return any(character in member._value_ for member in base for character in _QUOTED)
    return True


def _is_plain_str_enum(kind: Any) -> bool:
    """Whether `kind` is a `StrEnum` whose members' ``str`` is their value (``str.__str__``, not overridden)."""
    return isinstance(kind, type) and issubclass(kind, StrEnum) and kind.__str__ is str.__str__


def _is_datetime(kind: Any) -> bool:
    return kind is datetime or (
        typing.get_origin(kind) in (typing.Union, types.UnionType) and datetime in typing.get_args(kind)
    )


def _chained(branches: Sequence[str], index: int) -> list[str]:
    """The statements of `branches` (each ``if <test>:`` and its body, with ``{i}`` for the column's `index`) as one
    ``if``/``elif`` chain, for `_time_statements` and `_number_statements`."""
    statements: list[str] = []
    for number, branch in enumerate(branches):
        first, *rest = branch.format(i=index).split("\n")
        statements.append(first if number == 0 else "el" + first)
        statements.extend(rest)
    return statements


def _time_statements(index: int, earlier: Sequence[int], *, optional: bool, fresh: bool = False) -> list[str]:
    """The statements of a `lines` function that set ``t<index>``, the text of the time ``d<index>``: empty for
    None (an `optional` column), an earlier column's text when it is the very same object, the text `texts`
    holds for the very same object (the spools' `CellTexts`, by identity), else, for a `datetime` in UTC, its text
    (`_utc_statements`, kept in `texts`), and ``isoformat`` for any other. A `fresh` column's moments are mostly
    new to `texts` (a fill's time: the fill spool names each moment first): its text is made at once, kept in
    `texts` for the other spool as a text looked up and missed would be, without the two lookups that would miss.

    Why by identity and not by equality: an order's row and its fill's name the same moment object (the clock's),
    and an aware `datetime`'s first hash costs more (~3.6k instructions: its UTC offset, a timedelta) than its
    text from `CellTexts.utc_text`; an equal moment that is another object is written from its own fields, so the
    text is exact either way. `CellTexts` keeps each moment it holds a text for alive, so its ``id`` is never
    another object's: a text found by ``id`` is the text of this very `datetime` in UTC, and only a moment not
    found pays for the checks of its class and zone (each a generic attribute read)."""
    branches = ["if d{i} is None:\n    t{i} = ''"] if optional else []
    branches += [f"if d{{i}} is d{e}:\n    t{{i}} = t{e}" for e in reversed(earlier)]
    made = [
        "if d{i}.__class__ is _datetime and d{i}.tzinfo is _UTC:",
        *(f"    {line}" for line in _UTC_STATEMENTS),
        "    current[k{i}] = t{i}",
        "    keep(d{i})",
        "else:",
        # another class's or zone's text is checked for quoting with the row's free text (`_formatter`)
        "    t{i} = d{i}.isoformat()",
        "    odd(t{i})",
    ]
    if fresh:
        template = ["k{i} = _id(d{i})", *made]
    else:
        template = [
            "k{i} = _id(d{i})", "t{i} = known(k{i})", "if t{i} is None:", "    t{i} = older(k{i})",
            "    if t{i} is None:", *(f"        {line}" for line in made),
        ]  # fmt: skip
    lookup = "\n".join(template).format(i=index).split("\n")
    statements = _chained(branches, index)
    return [*statements, "else:", *(f"    {line}" for line in lookup)] if statements else lookup


#: The statements that set ``t{i}`` to the text of the UTC `datetime` ``d{i}`` in a `lines` function:
#: `CellTexts.utc_text`, its usual case in line (a moment on the whole second in the hour named last, whose
#: bounds and text the function holds as ``hour_start``, ``hour_end`` and ``hour_text``, read again after each call
#: of `utc_text`, the only thing that changes them): a call less for each moment a run records.
_UTC_STATEMENTS = (
    "if hour_start <= d{i} < hour_end and not d{i}.microsecond:",
    "    t{i} = f'{{hour_text}}{{_MINUTE_SECOND[d{i}.minute * 60 + d{i}.second]}}+00:00'",
    "else:",
    "    t{i} = utc_text(d{i})",
    "    hour_start, hour_end, hour_text = texts.hour",
)


def _number_statements(
    index: int, value: str, earlier: Sequence[int], *, optional: bool, fresh: bool = False
) -> list[str]:
    """The statements of a `lines` function that set ``t<index>``, the text of the float field `value`: empty for
    None (an `optional` column), an earlier column's text (`earlier`) when it is the very same object, the text
    `texts` holds for an equal float (the spools' `CellTexts`: an order's row and its fill's name the same prices and
    quantities), else ``repr``, as the shortest round trip is the costliest cell after a time. A `fresh` column's
    values are mostly new to `texts` (a fill's price): its text is ``repr`` at once, kept in `texts` for the other
    spool as a text looked up and missed would be, without the two lookups that would miss.

    Why the memo is exact: equal floats have the same ``repr``, but for 0.0 and -0.0, which are never looked up (a
    zero's text is written from its sign); a NaN equals nothing, so it is found only as the very same object.
    Anything but a float (an int in a float field) is written with its own ``repr``, as before, and checked for
    quoting with the row's free text (`_formatter`)."""
    statements = [f"v{index} = {value}"]
    branches = ["if v{i} is None:\n    t{i} = ''"] if optional else []
    branches += [f"if v{{i}} is v{e}:\n    t{{i}} = t{e}" for e in reversed(earlier)]
    branches.append("if v{i}.__class__ is not _float:\n    t{i} = f'{{v{i}!r}}'\n    odd(t{i})")
    statements.extend(_chained(branches, index))
    made = "t{i} = numbers[v{i}] = f'{{v{i}!r}}'\n"  # (a fresh column's text at once, kept for the other spool)
    found = f"    {made}" if fresh else (
        "    t{i} = number(v{i})\n"
        "    if t{i} is None:\n"
        "        t{i} = older_number(v{i})\n"
        "        if t{i} is None:\n"
        f"            {made}"
    )  # fmt: skip
    template = "elif v{i}:\n" + found + "else:\n    t{i} = '0.0' if _copysign(1.0, v{i}) > 0.0 else '-0.0'"
    return statements + template.format(i=index).split("\n")


def _grouped(
    body: list[str],
    cells: list[str],
    spans: list[tuple[int, int]],
    usual: Mapping[int, tuple[str, str]],
    free: Sequence[int],
) -> tuple[list[str], list[str], list[str]]:
    """`body`, `cells` and free cells (of the columns `free`) of a `lines` function with each run of two or more
    `usual` columns in a row made one cell ``g<first>``: when each column's field holds its usual value (`usual`: by
    column, the test of a field, e.g. ``"is None"``, and the column's text then), their texts at once, else the
    fields read into their variables (each column's first statement) and their texts made as before, joined (and
    their free texts checked there). The fields are read into their variables before the test instead when a later
    column names one of those. `spans` are each column's statements in `body`."""
    runs: list[list[int]] = []
    for index in sorted(usual):
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    runs = [run for run in runs if len(run) >= 2]
    starts = {run[0]: run for run in runs}
    grouped = {index for run in runs for index in run}
    new_body: list[str] = []
    new_cells: list[str] = []
    for index, cell in enumerate(cells):
        start, end = spans[index]
        if index not in grouped:
            new_body.extend(body[start:end])
            new_cells.append(cell)
            continue
        run = starts.get(index)
        if run is None:
            continue
        reads = [body[spans[column][0]] for column in run]  # ``v7 = item.limit_price``
        names, values = zip(*(read.split(" = ", 1) for read in reads), strict=True)
        # The fields are tested as they are read (``item.limit_price is None``: a field's load and a jump, where a
        # variable costs a store and a load more), and kept in variables for the other branch only; unless a later
        # column names one of them (a time that may be the very object of an earlier one: `_time_statements`).
        after = "\n".join(body[spans[run[-1]][1] :])
        if any(re.search(rf"\b{name}\b", after) for name in names):
            new_body.extend(reads)
            tested, reads = names, []
        else:
            tested = values
        tests = [f"{value} {usual[column][0]}" for value, column in zip(tested, run, strict=True)]
        new_body.append("if " + " and ".join(tests) + ":")
        new_body.append(f"    g{index} = {','.join(usual[column][1] for column in run)!r}")
        new_body.append("else:")
        new_body.extend(f"    {read}" for read in reads)
        for column in run:
            first, last = spans[column]
            new_body.extend(f"    {statement}" for statement in body[first + 1 : last])
        new_body.append(f"    g{index} = ','.join(({', '.join(cells[column] for column in run)},))")
        checked = [cells[column] for column in run if column in free]
        if checked:
            new_body.append(f"    frees(({', '.join(checked)},))")
        new_cells.append(f"g{index}")
    return new_body, new_cells, [cells[column] for column in free if column not in grouped]


def _formatter(
    cls: type,
    columns: Sequence[str],
    *,
    entry: str = "item",
    given: Sequence[str] = (),
    line: bool = False,
    usual: Mapping[str, Any] | None = None,
    same: Mapping[str, Sequence[str]] | None = None,
    fresh: Collection[str] = (),
) -> Callable[..., Any]:
    """A function generated once from the field types of `cls`: every fill and every ended order of a run passes
    through one. It unpacks its argument as `entry` (``"item"``, or e.g. ``"item, strategy"``); a column named in
    `given` is the variable of that name from the entry, any other the field of `item`, formatted by its type.

    Without `line`: ``row(entry)``, the entry's CSV row as a list of cells. With `line`: ``lines(batch, texts)``,
    the CSV line (cells joined by commas, no quoting) of each entry of a batch, one ``str.join`` each, and the texts of
    the cells that may need quoting (the string fields', a row's added as one tuple, and any cell formatted the odd
    way: an int in a float field, a time of another zone or class): the spool writes the lines when none of those
    holds a comma, a quote or a line break (the numbers' and the UTC times' texts never do), and the rows otherwise.

    An order's times are mostly the same few moments (created and submitted, updated and filled): a time that
    is the very object of an earlier column reuses that column's text, as ``isoformat`` is the costliest cell.
    `lines` also looks a UTC time up in `texts` (`CellTexts`), which the fill and order spools of a run share: an
    order's row and its fill's row name the same moments, often as different objects.

    `usual` names the columns that mostly hold one value, with that value (an order's stop price, trail and cancel
    time None, its class simple): in `lines`, a run of two or more of them in a row is one cell of the line, its
    text at once when each holds its usual value (the very object: None, False, an enum member, the empty tuple),
    so that a plain market order's row pays for a few pieces less, not for every empty or usual cell.

    `same` names the float columns that are mostly the very object of an earlier one (an order's filled quantity,
    its quantity), with those columns (neither `usual`): in `lines`, such a cell reuses that column's text when it
    is, before any lookup.

    `fresh` names the float and time columns whose values are mostly new to `texts` (a fill's price and reference
    price: each fill's own; its time, which the fill spool names first): in `lines`, such a cell is made at once
    (``repr``; a UTC time's text), kept in `texts` (`_number_statements`, `_time_statements`)."""
    hints = typing.get_type_hints(cls)
    body: list[str] = []
    cells: list[str] = []
    seen: list[int] = []  # the indexes of the datetime columns so far
    numbers: list[int] = []  # the indexes of the float columns so far that are never grouped (`usual`)
    spans: list[tuple[int, int]] = []  # each column's statements: body[start:end]
    free: list[int] = []  # the columns of free text (a string field's), checked for quoting (`lines`)
    usual = usual or {}
    same = same or {}
    floats = {name for name in columns if _base(hints[name])[0] is float}
    times = [name for name in columns if _is_datetime(hints[name])]
    if not set(same) <= floats:
        raise ValueError(f"`same` names columns that are no float columns of the row: {sorted(set(same) - floats)}")
    if not set(fresh) <= floats | set(times):
        wrong = sorted(set(fresh) - floats - set(times))
        raise ValueError(f"`fresh` names columns that are no float or time columns of the row: {wrong}")
    if (same or fresh) and not line:
        raise ValueError("`same` and `fresh` shape the generated lines: they need `line=True`")
    namespace: dict[str, Any] = {}
    tests: dict[int, tuple[str, str]] = {}  # the `usual` columns' tests and texts (`_grouped`)
    for index, name in enumerate(columns):
        spans.append((len(body), len(body)))
        kind = hints[name]
        value = name if name in given else f"item.{name}"
        if line and name in usual:
            held = usual[name]
            if held is None:
                tests[index] = ("is None", "")
            else:
                namespace[f"_usual{index}"] = held
                text = _row_text(kind, held)
                # (the usual texts are written as they are, unchecked: none may need the csv writer's quoting)
                if any(mark in text for mark in ('"', ",", "\n", "\r")):
                    raise ValueError(f"the usual {name} text {text!r} would need quoting in a CSV cell")
                tests[index] = (f"is _usual{index}", text)
        if line and _base(kind)[0] is float:
            alike = [column for column in numbers if columns[column] in same.get(name, ())]
            if len(alike) != len(same.get(name, ())):
                raise ValueError(f"the {name} column may name earlier float columns that are never usual: {same[name]}")
            body.extend(_number_statements(index, value, alike, optional=_base(kind)[1], fresh=name in fresh))
            cells.append(f"t{index}")
            if name not in usual:
                numbers.append(index)
            continue
        if not _is_datetime(kind):
            optional = typing.get_origin(kind) in (typing.Union, types.UnionType)
            if line and ((optional and value.startswith("item.")) or name in usual):
                body.append(f"v{index} = {value}")  # an optional or usual cell reads its field once
                value = f"v{index}"
            cells.append(_cell_expression(value, kind, line=line))
            if _needs_check(kind):
                free.append(index)
            continue
        body.append(f"d{index} = {value}")
        if line:
            body.extend(_time_statements(index, seen, optional=kind is not datetime, fresh=name in fresh))
        else:
            text = f"d{index}.isoformat()"
            for earlier in reversed(seen):
                text = f"t{earlier} if d{index} is d{earlier} else {text}"
            if kind is not datetime:  # optional
                text = f"'' if d{index} is None else {text}"
            body.append(f"t{index} = {text}")
        seen.append(index)
        cells.append(f"t{index}")
    if line:
        ends = [start for start, _ in spans[1:]] + [len(body)]
        spans = [(start, end) for (start, _), end in zip(spans, ends, strict=True)]
        body, cells, checked = _grouped(body, cells, spans, tests, free)
        # the cells joined by `str.join` with its separator, not an f-string: an f-string's commas are pieces of
        # their own, each costing its join as much as a cell (a cell that is not a text fails the join, and its
        # batch goes the rows' way)
        fields = ", ".join(cells)
        source = "\n".join(
            [
                "def lines(batch, texts):",
                "    out = []",
                "    append = out.append",
                "    probes = []",
                "    odd = probes.append",
                "    frees = probes.extend",
                "    current = texts.current",
                "    known = current.get",
                "    older = texts.older.get",
                "    utc_text = texts.utc_text",
                "    keep = texts.moments.append",
                "    hour_start, hour_end, hour_text = texts.hour",
                "    numbers = texts.numbers",
                "    number = numbers.get",
                "    older_number = texts.older_numbers.get",
                f"    for {entry} in batch:",
                *(f"        {statement}" for statement in body),
                f"        append(','.join(({fields},)))",
                # a row's free texts added as a tuple (cheaper than an f-string of them, measured)
                *([f"        frees(({', '.join(checked)},))"] if checked else []),
                "    return out, probes",
                "",
            ]
        )
        namespace |= {
            "_datetime": datetime, "_UTC": UTC, "_float": float, "_copysign": math.copysign, "_id": id,
            "_MINUTE_SECOND": _MINUTE_SECOND,
        }  # fmt: skip
        return compile_function(source, "lines", namespace, purpose=f"{cls.__name__} csv lines")
    unpack = [] if entry == "item" else [f"    {entry} = item"]
    source = "\n".join(
        ["def row(item):", *unpack, *(f"    {statement}" for statement in body), f"    return [{', '.join(cells)}]", ""]
    )
    return compile_function(source, "row", {}, purpose=f"{cls.__name__} csv row")


_FILL_ROW = _formatter(Fill, FILL_COLUMNS)
_ORDER_ROW = _formatter(Order, ORDER_COLUMNS)
#: A spooled fill is held as ``(fill, strategy, quantity, fee)``: the strategy's share of it, formatted at flush.
_FILL_ENTRY = "item, strategy, quantity, fee"
_FILL_ENTRY_ROW = _formatter(Fill, FILL_COLUMNS, entry=_FILL_ENTRY, given=("strategy", "quantity", "fee"))
#: A fill's float columns whose values are mostly its own, new to the spools' texts: looking them up mostly missed
#: (measured, even with texts never forgotten: 3-6 % found in the order storm, under 0.5 % in the SMA replay), and
#: each miss cost two lookups. Its time, too: the fill spool is the first to name a fill's moment (its order's row
#: finds the text there), so its lookups missed on every fill of the order storm (~700 instructions a fill).
_FILL_FRESH = ("timestamp", "price", "reference_price")
#: Without slippage a fill's reference price is the very float of its price (review): its text is then reused.
_FILL_SAME = {"reference_price": ("price",)}
_FILL_ENTRY_LINES = _formatter(
    Fill, FILL_COLUMNS, entry=_FILL_ENTRY, given=("strategy", "quantity", "fee"), line=True, same=_FILL_SAME,
    fresh=_FILL_FRESH,
)  # fmt: skip
#: A spooled order is held as ``(order, strategy)``.
_ORDER_ENTRY = "item, strategy"
_ORDER_CSV_HINTS = type("_OrderCsv", (), {"__annotations__": {**typing.get_type_hints(Order), "strategy": str}})
_ORDER_ENTRY_ROW = _formatter(_ORDER_CSV_HINTS, ORDER_CSV_COLUMNS, entry=_ORDER_ENTRY, given=("strategy",))
#: An order's columns that a plain market order leaves empty or at their default, with that value.
_ORDER_USUAL: dict[str, Any] = {
    **dict.fromkeys((
        "limit_price", "stop_price", "reference_price", "trail_price", "trail_percent", "replaces", "replaced_by",
        "canceled_at", "expired_at", "failed_at", "replaced_at", "hwm", "parent_id", "notional", "triggered_at",
    )),
    "order_class": OrderClass.SIMPLE, "legs": (), "extended_hours": False,
    # a plain market order's type, time in force and final status: each in a group with its neighbours
    "type": OrderType.MARKET, "time_in_force": TimeInForce.DAY, "status": OrderStatus.FILLED,
}  # fmt: skip
#: An order's float columns that are mostly the very object of an earlier one (a whole fill's filled quantity):
#: only these are tested, as a test costs where it misses (measured).
_ORDER_SAME = {"filled_quantity": ("quantity",)}
_ORDER_ENTRY_LINES = _formatter(
    _ORDER_CSV_HINTS, ORDER_CSV_COLUMNS, entry=_ORDER_ENTRY, given=("strategy",), line=True, usual=_ORDER_USUAL,
    same=_ORDER_SAME,
)  # fmt: skip


class CellTexts:
    """The texts of the UTC moments (`datetime` -> ``isoformat()``) and of the floats (-> ``repr``) that the last
    batches named, shared by the fill and order spools of a run: an order's row and its fills' rows name the same
    moments, prices and quantities, and ``isoformat`` and the shortest round trip of a float are the costliest
    cells. Every time cell but a fresh column's (a fill's time, made at once: no spool named it before) is looked up
    by identity first (the very same object; only the texts of `datetime`s
    whose ``tzinfo`` is `datetime.UTC` are stored, and their moments kept alive, so an id is not reused meanwhile),
    and only a float that is not zero (see `_time_statements` and `_number_statements` for why the text is then
    exact).

    Two generations keep memory bounded: a batch adds to `current` (`numbers`); once that holds a batch's worth
    (counted by the moments kept, `moments`; four batches' worth for the numbers), the next batch (of either
    spool) starts a new one and keeps the last as `older` (`older_numbers`), so it still finds what the other
    spool's last batch named."""

    __slots__ = ("current", "hour", "moments", "numbers", "older", "older_moments", "older_numbers")

    def __init__(self) -> None:
        #: Time texts by the ``id`` of their moment; `moments` (`older_moments`) keeps those moments alive, so
        #: that no other object has their ``id`` while their text is held.
        self.current: dict[int, str] = {}
        self.older: dict[int, str] = {}
        self.moments: list[datetime] = []
        self.older_moments: list[datetime] = []
        self.numbers: dict[float, str] = {}
        self.older_numbers: dict[float, str] = {}
        #: The hour `utc_text` named last: its first moment and the next hour's (UTC), and its text
        #: (``2024-03-01T14:``); an empty span (no moment in it) before the first. The `lines` functions hold it
        #: in variables, and read it again after each call of `utc_text`.
        self.hour: tuple[datetime, datetime, str] = (_NO_HOUR, _NO_HOUR, "")

    def turn(self) -> None:
        """At the start of a batch: a `current` of a batch's worth becomes `older` (the older texts go), and the
        same for `numbers` at four batches' worth."""
        # (the moments kept, not the texts: a fresh column's moment is kept once a row, also one named before)
        if len(self.moments) >= _BATCH:
            self.older, self.older_moments = self.current, self.moments
            self.current, self.moments = {}, []
        if len(self.numbers) >= _NUMBERS_KEPT:
            self.older_numbers = self.numbers
            self.numbers = {}

    def utc_text(self, moment: datetime) -> str:
        """``moment.isoformat()`` for a `datetime` (the class itself) whose ``tzinfo`` is `datetime.UTC`: the text
        of its hour (``2024-03-01T14:``), kept from the moment before (a run's moments come mostly in order, many in
        an hour), and of its minute and second (``30:00``, `_MINUTE_SECOND`), so that ``isoformat`` runs for a new
        hour only. The generated rows repeat its fast path (`_UTC_STATEMENTS`): change both together.

        Whether it is in the hour named last is two comparisons with that hour's bounds (UTC moments both: their
        fields compared as they are, no offsets asked), cheaper than the `timedelta` of a subtraction."""
        start, end, hour_text = self.hour
        if start <= moment < end:
            minute_second = _MINUTE_SECOND[moment.minute * 60 + moment.second]
            micro = moment.microsecond
            if micro:
                return "%s%s.%06d+00:00" % (hour_text, minute_second, micro)  # noqa: UP031 (cheaper than f"")
            return f"{hour_text}{minute_second}+00:00"
        text = moment.isoformat()  # ``YYYY-MM-DDTHH:MM:SS``...: a UTC datetime's year has 4 digits
        start = moment.replace(minute=0, second=0, microsecond=0)
        try:
            end = start + _HOUR
        except OverflowError:  # the last hour a datetime holds: its moments keep going by `isoformat`
            start = end = _NO_HOUR
        self.hour = (start, end, text[:14])
        return text


def fill_row(fill: Fill) -> list[str]:
    """A fill as a trades.csv row."""
    return _FILL_ROW(fill)


def order_row(order: Order, strategy: str = "") -> list[str]:
    """An order as an orders.csv row, `strategy` being the strategy that submitted it."""
    row = _ORDER_ROW(order)
    row.append(strategy)
    return row


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def _time(text: str) -> datetime | None:
    return None if text == "" else datetime.fromisoformat(text)


def _enum_reader(kind: type[_E]) -> Callable[[str], _E]:
    """Read a member of `kind` back from its value: a dict lookup for the values we write, the enum's own
    lookup (which raises for nonsense) for anything else."""
    members = {str(member): member for member in kind}

    def read(text: str) -> _E:
        member = members.get(text)
        return kind(text) if member is None else member

    return read


_side = _enum_reader(Side)


def _fill(row: list[str]) -> Fill:
    # `unchecked_fill`: a `Fill` checks nothing, so this is `Fill(...)` without attrs' per-field frozen setattr
    # (every fill of a run is read back once for its report).
    stamp, order_id, symbol, side, quantity, price, reference, fee, execution_id, strategy = row
    return unchecked_fill(
        order_id, symbol, _side(side), float(quantity), float(price), float(fee),
        datetime.fromisoformat(stamp), float(reference), execution_id, strategy,
    )  # fmt: skip


#: How each orders.csv column is read back (text as it is when not listed).
_ORDER_PARSERS: dict[str, Callable[[str], Any]] = {
    "side": _side,
    "type": _enum_reader(OrderType),
    "time_in_force": _enum_reader(TimeInForce),
    "status": _enum_reader(OrderStatus),
    "order_class": _enum_reader(OrderClass),
    "quantity": float,
    "filled_quantity": float,
    "extended_hours": lambda text: text == "true",
    "legs": lambda text: tuple(text.split(";")) if text else (),
    **{name: _number for name in ("limit_price", "stop_price", "filled_avg_price", "reference_price")},
    **{name: _number for name in ("trail_price", "trail_percent", "hwm", "notional")},
    "created_at": datetime.fromisoformat,
    "updated_at": datetime.fromisoformat,
    **{name: _time for name in ("submitted_at", "filled_at", "canceled_at", "expired_at", "failed_at", "replaced_at")},
    "triggered_at": _time,
    **{name: lambda text: text or None for name in ("reject_reason", "replaces", "replaced_by", "parent_id")},
}


def _order(row: list[str]) -> Order:
    get = _ORDER_PARSERS.get
    values: dict[str, Any] = {
        name: (get(name) or str)(text) for name, text in zip(ORDER_COLUMNS, row[: len(ORDER_COLUMNS)], strict=True)
    }
    return unchecked_order(**values)  # `Order(**values)` without attrs' per-field frozen setattr (no checks)


def write_rows(path: Path, header: Sequence[str], rows: Iterator[list[str]] | Sequence[list[str]]) -> None:
    """Write a CSV file with `header` and `rows` (``\\n`` line ends, as every report file)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


class Spool(Sequence[_T], Generic[_T]):
    """An append-only sequence of fills or orders kept in a CSV file (with its header), read back when iterated.

    The file is in the run's working folder (`workdir`), or a temporary file; it is removed when the spool is
    garbage-collected. Indexing reads the file up to the item: meant for
    occasional access; iterate for everything.
    """

    def __init__(
        self,
        header: Sequence[str],
        to_row: Callable[[Any], list[str]],
        from_row: Callable[[list[str]], _T],
        *,
        workdir: Workdir | None = None,
        name: str = "spool.csv",
        to_lines: Callable[[list[Any], CellTexts], tuple[list[str], list[str]]] | None = None,
        texts: CellTexts | None = None,
    ):
        """`to_row` formats one held entry (what `append` holds: the item itself, unless a subclass holds more) as
        its CSV row; `to_lines`, when given, a whole batch of entries as their unquoted CSV lines (with `texts`,
        the `CellTexts` it may share with another spool), which are written as they are when no cell needs
        quoting (else the rows go through the csv writer)."""
        if workdir is None:
            handle, file_name = tempfile.mkstemp(prefix="broker-sim-", suffix=".csv")
            os.close(handle)
            self.path = Path(file_name)
        else:
            self.path = workdir.path / name
        #: The run's working folder the file is in: kept alive as long as the spool is.
        self.workdir = workdir
        self._header = tuple(header)
        self._to_row = to_row
        self._to_lines = to_lines
        self._from_row = from_row
        self._handle = self.path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(self._header)  # a spool kept after a failed report reads as a CSV file
        self._handle.flush()
        self._texts = CellTexts() if texts is None else texts
        #: Items written to the file.
        self._written = 0
        #: What was appended and not yet written: raw entries, formatted a batch at a time (`flush`). The run's
        #: records append to it in line, as `add_as` and `add_owned` do (an entry of their kind, then `flush` once
        #: it holds `BATCH`).
        self.pending: list[Any] = []
        self._finalizer = weakref.finalize(self, _remove, self._handle, self.path)

    @classmethod
    def of_fills(cls, workdir: Workdir | None = None) -> FillSpool:
        """A spool of fills (``fills.csv`` in `workdir`, else a file in the temp folder)."""
        return FillSpool(workdir)

    @classmethod
    def of_orders(cls, strategy_of: Callable[[Order], str] | None = None, workdir: Workdir | None = None) -> OrderSpool:
        """A spool of orders (``orders.csv`` in `workdir`, else a file in the temp folder); `strategy_of(order)`
        names the strategy of each for orders.csv (empty without)."""
        return OrderSpool(strategy_of, workdir)

    def append(self, item: _T) -> None:
        """Add one item at the end (written to the file in batches)."""
        self._hold(item)

    def _hold(self, entry: Any) -> None:
        """Hold one raw entry until its batch is written."""
        pending = self.pending
        pending.append(entry)
        if len(pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Write what is held to the file now."""
        pending = self.pending
        if pending:
            texts = self._texts
            texts.turn()
            to_lines = self._to_lines
            if to_lines is None or not _write_lines(self._handle, to_lines, pending, texts):
                _write_batch(self._handle, self._writer, _rows(self._to_row, pending, self.path.name))
            self._written += len(pending)
            pending.clear()
        self._handle.flush()

    def close(self) -> None:
        """Remove the file now (the items can no longer be read); otherwise it goes when the spool is collected."""
        self._finalizer()

    def __len__(self) -> int:
        return self._written + len(self.pending)

    def __iter__(self) -> Iterator[_T]:
        self.flush()
        with self.path.open(newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            next(rows, None)  # the header
            for row in rows:
                yield self._from_row(row)

    def rows(self) -> Iterator[list[str]]:
        """The raw CSV rows, without parsing (to write a report file)."""
        self.flush()
        with self.path.open(newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            next(rows, None)  # the header
            yield from rows

    @overload
    def __getitem__(self, index: int) -> _T: ...
    @overload
    def __getitem__(self, index: slice) -> list[_T]: ...
    def __getitem__(self, index: int | slice) -> _T | list[_T]:
        if isinstance(index, slice):
            return list(self)[index]
        count = len(self)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"spool index {index} out of range ({count} items)")
        for position, item in enumerate(self):
            if position == index:
                return item
        raise IndexError(index)  # pragma: no cover

    def __repr__(self) -> str:
        return f"<Spool of {len(self)} rows at {self.path}>"


class FillSpool(Spool[Fill]):
    """A spool of fills (trades.csv's rows). The run adds each strategy's share of a fill with `add_as`: held as a
    tuple, formatted with its batch, so no `Fill` is copied to name the strategy."""

    def __init__(self, workdir: Workdir | None = None, texts: CellTexts | None = None) -> None:
        """`texts`: the `CellTexts` to share with the run's order spool (a spool of its own without)."""
        super().__init__(
            FILL_COLUMNS, _FILL_ENTRY_ROW, _fill, workdir=workdir, name="fills.csv", to_lines=_FILL_ENTRY_LINES,
            texts=texts,
        )  # fmt: skip

    def append(self, item: Fill) -> None:
        """Add one fill at the end, as it is."""
        self._hold((item, item.strategy, item.quantity, item.fee))

    def add_as(self, fill: Fill, strategy: str, quantity: float, fee: float) -> None:
        """Add `fill` as `strategy`'s, for `quantity` and `fee` (its share of a fill several strategies share): the
        row of ``attrs.evolve(fill, strategy=strategy, quantity=quantity, fee=fee)``, without making that copy.

        Every fill of a run comes here: `_hold`, in line."""
        pending = self.pending
        pending.append((fill, strategy, quantity, fee))
        if len(pending) >= _BATCH:
            self.flush()


class OrderSpool(Spool[Order]):
    """A spool of orders (orders.csv's rows: each order with the strategy that sent it)."""

    def __init__(
        self,
        strategy_of: Callable[[Order], str] | None = None,
        workdir: Workdir | None = None,
        texts: CellTexts | None = None,
    ) -> None:
        """`texts`: the `CellTexts` to share with the run's fill spool (a spool of its own without)."""
        super().__init__(
            ORDER_CSV_COLUMNS, _ORDER_ENTRY_ROW, _order, workdir=workdir, name="orders.csv",
            to_lines=_ORDER_ENTRY_LINES, texts=texts,
        )  # fmt: skip
        self._strategy_of = strategy_of

    def append(self, item: Order) -> None:
        """Add one order at the end, its strategy named by `strategy_of` (empty without)."""
        strategy_of = self._strategy_of
        self._hold((item, "" if strategy_of is None else strategy_of(item)))

    def add_owned(self, order: Order, strategy: str) -> None:
        """Add one order at the end, sent by `strategy` (when the caller knows it already). Every order a run
        records comes here: `_hold`, in line."""
        pending = self.pending
        pending.append((order, strategy))
        if len(pending) >= _BATCH:
            self.flush()


def _write_lines(
    handle: Any,
    to_lines: Callable[[list[Any], CellTexts], tuple[list[str], list[str]]],
    entries: list[Any],
    texts: CellTexts,
) -> bool:
    """Write `entries` as their CSV lines (`to_lines`, with the spool's `texts`) in one write, when no cell needs
    quoting: no free text of theirs (what `to_lines` gives beside the lines) holds a quote, a comma or a line break,
    so that the lines' commas and line breaks are exactly the separators, as the csv writer would write them. False,
    having written nothing, for any other batch. Only the free texts are searched (each character in turn is
    what counting commas over whole lines cost)."""
    try:
        lines, free = to_lines(entries, texts)
    except _UNFORMATTED:  # a cell the generated code cannot format (a non-member in an enum field): rows decide
        return False
    checked = "".join(free)
    if '"' in checked or "," in checked or "\n" in checked or "\r" in checked:
        return False
    lines.append("")  # the last line's end
    handle.write("\n".join(lines))
    return True


#: What a generated formatter raises for a value that is not of its field's type: an enum field's ``_value_``, a
#: time's ``isoformat``, a legs field's ``join`` that the value lacks or refuses.
_UNFORMATTED = (AttributeError, TypeError, ValueError)


def _rows(to_row: Callable[[Any], list[str]], entries: list[Any], file_name: str) -> list[list[str]]:
    """The CSV rows of held `entries` (`to_row` of each). Raises `TypeError` naming the file, the entry and the
    field when a value is one the row cannot be made of (not a time in a time field, ...), rather than the error
    of a generated line."""
    try:
        return [to_row(entry) for entry in entries]
    except _UNFORMATTED as exc:
        for position, entry in enumerate(entries):
            try:
                to_row(entry)
            except _UNFORMATTED:
                item = entry[0] if isinstance(entry, tuple) and entry else entry
                order_id = getattr(item, "id", None) or getattr(item, "order_id", None)
                which = f" (order {order_id!r})" if isinstance(order_id, str) else f" (the batch's item {position})"
                why = _misfit(item) or f"{type(exc).__name__}: {exc}"
                raise TypeError(f"{file_name}: cannot write {type(item).__name__}{which} as a CSV row: {why}") from exc
        raise  # pragma: no cover (the same entries fail again)


def _misfit(item: Any) -> str | None:
    """The fields of the attrs value `item` whose values are not of their declared types, in words (``"its side
    is None (NoneType), not a Side"``), or None."""
    if not attrs.has(type(item)):
        return None
    hints = typing.get_type_hints(type(item))
    misfits = []
    for field in attrs.fields(type(item)):
        value = getattr(item, field.name)
        base, optional = _base(hints.get(field.name, Any))
        wanted = typing.get_origin(base) or base
        if (value is None and optional) or not isinstance(wanted, type) or isinstance(value, wanted):
            continue
        if not (wanted is float and isinstance(value, int)):
            misfits.append(f"its {field.name} is {value!r} ({type(value).__name__}), not a {wanted.__name__}")
    return "; ".join(misfits) or None


def _write_batch(handle: Any, writer: Any, rows: list[list[str]]) -> None:
    """Write `rows` as `writer` (a ``csv.writer`` with ``\\n`` line ends over `handle`) would, in one write when
    no cell needs quoting: no cell holds a quote, a comma or a line break (the commas and line breaks of the joined
    text are then exactly the separators). Any other batch goes through `writer`."""
    try:
        text = "\n".join([",".join(row) for row in rows])
    except TypeError:  # a cell that is not text: the csv writer formats it
        writer.writerows(rows)
        return
    lengths = list(map(len, rows))
    if (
        '"' in text
        or "\r" in text
        or text.count("\n") != len(rows) - 1
        or text.count(",") != sum(lengths) - len(rows)
        or min(lengths) < 2  # a row of one empty cell is written as ""
    ):
        writer.writerows(rows)
        return
    handle.write(text + "\n")


def _remove(handle: Any, path: Path) -> None:
    with contextlib.suppress(OSError):  # the last rows could not be written (a full disk): the file goes anyway
        handle.close()
    path.unlink(missing_ok=True)
