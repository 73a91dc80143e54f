"""The journal: recovery, refusals that leave the file untouched, one writer at a time, resume, schema."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import attrs
import cattrs
import pytest

from broker_sim import Bar, JournalError, Order, OrderRequest, PaperBroker, SimulatedClock
from broker_sim.changes import StatusChange
from broker_sim.journal import SCHEMA_VERSION, Journal, decode_change, read_account, read_info, row_checksum
from tests.journal.checks import check_account

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def _broker(path: Path, **kwargs: object) -> PaperBroker:
    options: dict[str, object] = {
        "seed": 11,
        "journal": path,
        "clock": SimulatedClock(T0),
        "session": "always",
        "latency": "none",
    }
    options.update(kwargs)
    return PaperBroker(100_000, **options)  # type: ignore[arg-type]


def _bar(minute: int, price: float) -> Bar:
    stamp = datetime.fromtimestamp(T0.timestamp() + 60 * minute, UTC)
    return Bar("X", stamp, price, price + 0.5, price - 0.5, price, 1e6, 60.0)


async def _trade(broker: PaperBroker) -> None:
    """A few fills and a working limit order (it holds a reservation) and a working sell (it holds shares)."""
    await broker.update_market(_bar(0, 100.0))
    await broker.buy("X", 10)
    await broker.sell("X", 4)
    await broker.submit_order(OrderRequest("X", "buy", 5, "limit", "gtc", limit_price=90.0, client_order_id="dip"))
    await broker.submit_order(OrderRequest("X", "sell", 3, "limit", "gtc", limit_price=130.0))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def _write(tmp_path: Path) -> Path:
    path = tmp_path / "account.db"
    async with _broker(path) as broker:
        await _trade(broker)
    return path


def _written(tmp_path: Path) -> Path:
    return asyncio.run(_write(tmp_path))


async def test_recovery_rebuilds_cash_positions_orders_reservations_and_fills(tmp_path: Path) -> None:
    path = tmp_path / "account.db"
    async with _broker(path) as broker:
        await _trade(broker)
        account = await broker.get_account()
        positions = await broker.get_positions()
        orders = await broker.list_orders("all")
        reservations = dict(broker.reservations())
        fills = broker.state.fills
    async with _broker(path) as again:
        assert await again.get_account() == account
        assert await again.get_positions() == positions
        assert await again.list_orders("all") == orders
        assert dict(again.reservations()) == reservations
        assert again.state.fills == fills
        # Working orders keep working: the limit buy fills when the price comes down to it.
        await again.update_market(_bar(5, 89.0))
        dip = await again.get_order_by_client_id("dip")
        assert dip.status.value == "filled"
        # A client order id the account holds stays taken after a restart.
        same = await again.submit_order(
            OrderRequest("X", "buy", 5, "limit", "gtc", limit_price=90.0, client_order_id="dip")
        )
        assert same.id == dip.id
    check_account(path)


async def test_recovery_without_snapshots_replays_every_change(tmp_path: Path) -> None:
    path = tmp_path / "account.db"
    async with _broker(path) as broker:
        await _trade(broker)
        account = await broker.get_account()
        orders = await broker.list_orders("all")
    connection = sqlite3.connect(path)
    connection.execute("DELETE FROM snapshots")
    connection.commit()
    connection.close()
    async with _broker(path) as again:
        assert (await again.get_account()).cash == account.cash
        assert await again.list_orders("all") == orders


async def test_a_fill_recorded_twice_is_booked_once(tmp_path: Path) -> None:
    path = await _write(tmp_path)
    before = read_account(path)
    connection = sqlite3.connect(path)
    (payload,) = connection.execute(
        "SELECT payload FROM changes WHERE kind = 'Execution' ORDER BY seq LIMIT 1"
    ).fetchone()
    last = connection.execute("SELECT max(seq) FROM changes").fetchone()[0]
    connection.execute(
        "INSERT INTO changes (seq, kind, time, payload) VALUES (?, 'Execution', 0, ?)", (last + 1, payload)
    )
    connection.execute("DELETE FROM snapshots")
    connection.commit()
    connection.close()
    after = read_account(path)
    assert after.fills == before.fills
    assert after.state.ledger.cash == before.state.ledger.cash
    async with _broker(path) as broker:
        assert broker.journal is not None and broker.journal.duplicates_skipped == 1
        assert len(broker.state.fills) == len(before.fills)


def test_every_kind_of_change_has_a_journal_record() -> None:
    import typing

    from broker_sim import changes
    from broker_sim.journal import CHANGE_KINDS

    assert set(CHANGE_KINDS.values()) == set(typing.get_args(changes.Change))


def _refused(path: Path, match: str) -> None:
    digest, size = _digest(path), path.stat().st_size
    with pytest.raises(JournalError, match=match) as raised:
        asyncio.run(_open_and_trade(path))
    assert str(path) in str(raised.value)
    assert _digest(path) == digest and path.stat().st_size == size
    with pytest.raises(JournalError):
        read_account(path)
    assert _digest(path) == digest


async def _open_and_trade(path: Path) -> None:
    # The same trades again, beside the working orders of the first time: a market buy while a sell limit works
    # is a wash trade Alpaca refuses, so that rule is relaxed here.
    async with _broker(path, rules={"wash_trade": False}) as broker:
        await _trade(broker)


def test_a_truncated_journal_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = _written(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _refused(path, r"is damaged \(truncated or overwritten\) or not a broker-sim journal: SQLite says")


def test_a_corrupt_journal_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = _written(tmp_path)
    data = bytearray(path.read_bytes())
    for offset in range(2048, len(data), 1024):  # scribble over every page after the first two
        data[offset + 8 : offset + 200] = b"\xa5" * 192
    path.write_bytes(bytes(data))
    _refused(path, r"is damaged")


def test_a_file_that_is_not_a_journal_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("my trading notes\n")
    _refused(path, "not a broker-sim journal")


def test_a_journal_of_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = _written(tmp_path)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    connection.commit()
    connection.close()
    _refused(path, "newer broker-sim")


def test_a_journal_of_another_account_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = _written(tmp_path)
    digest = _digest(path)
    with pytest.raises(JournalError, match="belongs to account") as raised:
        _broker(path, account_id="someone-else")
    assert str(path) in str(raised.value)
    with pytest.raises(JournalError, match="initial_balance"):
        PaperBroker(5_000, seed=11, journal=path)
    assert _digest(path) == digest


async def test_the_seed_is_randomness_not_identity_a_journal_reopens_with_any_seed_or_none(tmp_path: Path) -> None:
    path = await _write(tmp_path)
    account_id = read_info(path).account_id
    expected = read_account(path).state.ledger.account().cash
    for seed in (12, None):  # another seed (to vary the latency draws), or Python's default without one
        async with _broker(path, seed=seed) as broker:
            assert broker.account_id == account_id
            assert (await broker.get_account()).cash == pytest.approx(expected)
            assert (await broker.get_position("X")) is not None
    async with PaperBroker(100_000, journal=path, clock=SimulatedClock(T0)) as broker:  # no seed given at all
        assert broker.account_id == account_id
    async with _broker(path, account_id=account_id) as broker:  # the journal's own id, given: fine
        assert (await broker.get_account()).cash == pytest.approx(expected)


def test_a_row_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    path = _written(tmp_path)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE changes SET payload = '{\"fill\": 3}', checksum = NULL WHERE seq = 2")  # as in v1
    connection.execute("DELETE FROM snapshots")
    connection.commit()
    connection.close()
    digest = _digest(path)
    with pytest.raises(JournalError, match=r"change #2 .*corrupt"):
        read_account(path)
    with pytest.raises(JournalError, match=r"change #2"):
        asyncio.run(_open_and_trade(path))
    assert _digest(path) == digest


_HOLD = """
import asyncio, sys
from datetime import UTC, datetime
from broker_sim import PaperBroker, SimulatedClock

async def main():
    broker = PaperBroker(100_000, seed=11, journal=sys.argv[1], clock=SimulatedClock(datetime(2024, 1, 2, tzinfo=UTC)))
    async with broker:
        print("open", flush=True)
        sys.stdin.readline()

asyncio.run(main())
"""


def test_a_second_process_is_refused(tmp_path: Path) -> None:
    path = _written(tmp_path)
    root = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        digest = _digest(path)
        with pytest.raises(JournalError, match=rf"in use by process {holder.pid}, which is trading its account"):
            asyncio.run(_open_and_trade(path))
        with pytest.raises(JournalError, match=rf"in use by process {holder.pid}, which is trading its account"):
            read_account(path)  # the holder's pid, never the reader's own
        _broker(path)  # building is fine (`broker-sim validate`); connecting is what is refused
        assert _digest(path) == digest
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]
    asyncio.run(_open_and_trade(path))  # free again once the first process ended


async def test_a_second_broker_in_the_same_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "account.db"
    async with _broker(path):
        with pytest.raises(JournalError, match="in use"):
            await _broker(path).connect()


async def test_a_journaled_broker_must_connect_before_it_trades(tmp_path: Path) -> None:
    broker = _broker(tmp_path / "account.db")
    with pytest.raises(Exception, match="connect the broker first"):
        await broker.buy("X", 1)


def test_a_journal_keeps_the_settings_and_a_migration_path(tmp_path: Path) -> None:
    path = _written(tmp_path)
    info = read_info(path)
    assert info.schema_version == SCHEMA_VERSION
    assert info.settings["initial_balance"] == 100_000 and info.settings["account"] == "cash"
    assert info.changes > 0 and info.last_change_time is not None
    connection = sqlite3.connect(path)
    payloads = [json.loads(p) for (p,) in connection.execute("SELECT payload FROM changes")]
    connection.close()
    assert all(isinstance(p, dict) for p in payloads)


def test_journal_sync_full_is_accepted_and_a_bad_mode_is_a_config_error(tmp_path: Path) -> None:
    from broker_sim import ConfigError

    assert _broker(tmp_path / "a.db", journal_sync="full").settings.journal_sync == "full"
    with pytest.raises(ConfigError, match="journal_sync"):
        _broker(tmp_path / "b.db", journal_sync="sometimes")
    with pytest.raises(JournalError, match="journal_sync"):
        Journal.open(tmp_path / "c.db", account_id=None, settings={"initial_balance": 1}, sync="x", clock=lambda: 0.0)


async def test_snapshots_are_written_as_the_journal_grows(tmp_path: Path) -> None:
    path = tmp_path / "account.db"
    async with _broker(path) as broker:
        assert broker.journal is not None
        broker.journal.snapshot_every = 10  # from now on: the next snapshot is due 10 changes after the last
        await broker.update_market(_bar(0, 100.0))
        for _ in range(20):
            await broker.buy("X", 1)
        fills = broker.state.fills
    connection = sqlite3.connect(path)
    snapshots = connection.execute("SELECT seq FROM snapshots ORDER BY seq").fetchall()
    connection.close()
    assert len(snapshots) == 2 and snapshots[-1][0] == read_info(path).changes
    async with _broker(path) as again:
        assert again.state.fills == fills


async def test_a_margin_account_with_a_short_and_a_bracket_recovers_whole(tmp_path: Path) -> None:
    path = tmp_path / "margin.db"
    options = {"account": "margin", "allow_short": True}
    async with _broker(path, **options) as broker:
        await broker.update_market(_bar(0, 100.0))
        await broker.sell("X", 20)
        entry = await broker.submit_order(
            OrderRequest(
                "X",
                "buy",
                10,
                "limit",
                "gtc",
                limit_price=99.0,
                order_class="bracket",
                take_profit={"limit_price": 110.0},
                stop_loss={"stop_price": 95.0},
            )
        )
        account = await broker.get_account()
        orders = await broker.list_orders("all")
        reservations = dict(broker.reservations())
        assert broker.state.ledger.at_risk
    assert read_info(path).settings["account"] == "margin"
    async with _broker(path, **options) as again:
        assert await again.get_account() == account
        assert await again.list_orders("all") == orders
        assert dict(again.reservations()) == reservations
        assert again.state.ledger.at_risk and again.state.ledger.margin_multiplier == 2.0
        legs = [await again.get_order(leg) for leg in entry.legs]
        assert {leg.status.value for leg in legs} == {"held"}
        # The entry still works after the restart; its fill releases the exits, sized to it.
        await again.update_market(_bar(1, 98.5))
        assert (await again.get_order(entry.id)).status.value == "filled"
        legs = [await again.get_order(leg) for leg in entry.legs]
        assert [leg.status.value for leg in legs] == ["new", "held"] and {leg.quantity for leg in legs} == {10.0}
    check_account(path)


async def test_exits_left_held_by_a_crash_after_their_entry_filled_are_released_on_recovery(tmp_path: Path) -> None:
    """A process that died right after an entry's fill was committed, before its exits were released: recovery
    puts the group in step."""
    path = tmp_path / "account.db"
    async with _broker(path) as broker:
        await broker.update_market(_bar(0, 100.0))
        entry = await broker.submit_order(
            OrderRequest(
                "X",
                "buy",
                10,
                "limit",
                "gtc",
                limit_price=99.0,
                order_class="bracket",
                take_profit={"limit_price": 110.0},
                stop_loss={"stop_price": 90.0},
            )
        )
        await broker.update_market(_bar(1, 98.5))
    connection = sqlite3.connect(path)
    execution = connection.execute("SELECT max(seq) FROM changes WHERE kind = 'Execution'").fetchone()[0]
    connection.execute("DELETE FROM changes WHERE seq > ?", (execution,))  # what came after the fill never got written
    connection.execute("DELETE FROM snapshots")
    connection.commit()
    connection.close()
    held = [o for o in read_account(path).orders if o.parent_id == entry.id]
    assert {o.status.value for o in held} == {"held"}
    async with _broker(path) as again:
        legs = [await again.get_order(leg) for leg in entry.legs]
        assert [leg.status.value for leg in legs] == ["new", "held"]  # the stop-loss works while held
        assert (await again.get_order(entry.id)).status.value == "filled"
    check_account(path)


def test_a_run_with_another_seed_resumes_the_journals_account(tmp_path: Path) -> None:
    from broker_sim import run_simulation

    root = Path(__file__).resolve().parents[2]
    config = {
        "broker": {"adapter": "paper", "seed": 42, "session": "always", "journal": str(tmp_path / "account.db")},
        "prices": {"sources": [{"source": "synthetic", "symbols": ["X"], "interval": 60, "count": 300}]},
        "strategy": {
            "class": f"{root}/examples/sma_cross.py:SmaCross",
            "params": {"fast": 3, "slow": 8, "quantity": 1},
        },
    }
    first = run_simulation(config, out=False)
    changes = read_info(tmp_path / "account.db").changes
    config["prices"]["sources"][0]["count"] = 600  # type: ignore[index]
    second = run_simulation(config, out=False, overrides={"broker.seed": 7})
    assert read_info(tmp_path / "account.db").changes > changes
    assert second.account.initial_balance == first.account.initial_balance


async def test_the_equity_at_a_session_close_is_journaled_and_recovered(tmp_path: Path) -> None:
    path = tmp_path / "account.db"
    session = {"open": "09:30", "close": "16:00", "timezone": "America/New_York"}
    async with _broker(path, session=session) as broker:
        await broker.update_market(_bar(0, 100.0))
        await broker.buy("X", 10)
        await broker.update_market(_bar(60, 80.0))  # the price falls before the close
        await broker.clock.advance(8 * 3600)  # past 16:00: the close is recorded
        account = await broker.get_account()
        assert account.last_equity == pytest.approx(100_000 - 10 * 100.05 + 10 * 80.0)
    connection = sqlite3.connect(path)
    kinds = [kind for (kind,) in connection.execute("SELECT kind FROM changes")]
    connection.close()
    assert kinds.count("SessionClose") == 1
    async with _broker(path, session=session) as again:
        assert (await again.get_account()).last_equity == account.last_equity


async def test_a_version_2_journal_is_migrated_to_version_3_and_recovers_the_same_account(tmp_path: Path) -> None:
    path = tmp_path / "account.db"
    async with _broker(path) as broker:  # no session closed yet: exactly what version 2 wrote
        await _trade(broker)
        account = await broker.get_account()
    connection = sqlite3.connect(path)
    connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    async with _broker(path) as again:
        assert await again.get_account() == account
    assert read_info(path).schema_version == SCHEMA_VERSION == 3


async def test_a_stop_loss_working_while_held_works_again_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "account.db"
    async with _broker(path) as broker:
        await broker.update_market(_bar(0, 100.0))
        entry = await broker.submit_order(
            OrderRequest(
                "X", "buy", 10, "limit", "gtc", limit_price=99.0, order_class="bracket",
                take_profit={"limit_price": 110.0}, stop_loss={"stop_price": 90.0},
            )
        )  # fmt: skip
        await broker.update_market(_bar(1, 98.5))
        assert (await broker.get_order(entry.legs[1])).status.value == "held"
    async with _broker(path) as again:
        await again.update_market(_bar(2, 89.0))  # through the stop
        take, stop = [await again.get_order(leg) for leg in entry.legs]
        assert (stop.status.value, take.status.value) == ("filled", "canceled")
        assert await again.get_positions() == []
    check_account(path)


async def test_charges_and_an_open_margin_call_survive_a_restart_and_the_call_is_liquidated_when_due(
    tmp_path: Path,
) -> None:
    path = tmp_path / "margin.db"
    options = {
        "account": "margin",
        "allow_short": True,
        "borrow_fee": {"model": "annual_rate", "rate": 0.36},
        "clock": SimulatedClock(T0),
    }
    async with _broker(path, **options) as broker:
        await broker.update_market(_bar(0, 100.0))
        await broker.sell("X", 1_500)
        await broker.update_market(_bar(1, 150.0))  # equity 25,000: below 30 % of 225,000
        await broker.clock.advance_to(datetime(2024, 1, 3, tzinfo=UTC))  # type: ignore[attr-defined]  # the close
        charges = list(broker.state.activities)
        call = broker.state.margin_call
        assert [a.type.value for a in charges] == ["FEE"] and call is not None
    events: list[str] = []
    again = _broker(path, **{**options, "clock": SimulatedClock(datetime(2024, 1, 3, tzinfo=UTC))})
    again.add_account_listener(lambda event: events.append(event.type.value))
    async with again:
        assert again.state.activities == charges and again.state.margin_call == call
        assert (await again.get_account()).fees == charges[0].amount
        await again.clock.advance_to(datetime(2024, 1, 4, tzinfo=UTC))  # type: ignore[attr-defined]  # the call is due
        assert events == ["fee", "liquidation"]  # that day's borrow fee, then the call due at the same instant
        assert (await again.get_position("X")).quantity > -1_500  # type: ignore[union-attr]
    check_account(path)


def test_a_new_row_holds_every_field_of_its_record_defaults_included(tmp_path: Path) -> None:
    path = _written(tmp_path)
    connection = sqlite3.connect(path)
    rows = connection.execute("SELECT kind, payload FROM changes ORDER BY seq").fetchall()
    connection.close()
    orders = [json.loads(p)["order"] for kind, p in rows if kind == "NewOrder"]
    statuses = [json.loads(p) for kind, p in rows if kind == "StatusChange"]

    assert orders and statuses
    every_order_field = {field.name for field in attrs.fields(Order)}
    assert all(set(order) == every_order_field for order in orders)
    assert all(order["extended_hours"] is False and order["legs"] == [] for order in orders)  # defaults, written
    assert all(set(status) == {field.name for field in attrs.fields(StatusChange)} for status in statuses)


def test_an_old_row_without_its_default_fields_still_reads(tmp_path: Path) -> None:
    path = _written(tmp_path)
    expected = read_account(path)
    # Rewrite every change as journals up to now wrote it: the fields at their default left out.
    old_style = cattrs.Converter(omit_if_default=True)
    old_style.register_unstructure_hook(datetime, datetime.timestamp)
    connection = sqlite3.connect(path)
    rows = connection.execute("SELECT seq, kind, time, payload FROM changes ORDER BY seq").fetchall()
    shorter = 0
    for seq, kind, time, payload in rows:
        record = decode_change(kind, payload)
        compact = json.dumps(old_style.unstructure(record), separators=(",", ":"))
        shorter += len(compact) < len(payload)
        connection.execute(
            "UPDATE changes SET payload = ?, checksum = ? WHERE seq = ?",
            (compact, row_checksum(seq, kind, time, compact), seq),
        )
    connection.commit()
    connection.close()

    again = read_account(path)

    assert shorter == len(rows)  # every row lost fields at their defaults
    assert again.orders == expected.orders
    assert again.fills == expected.fills
    assert again.state.ledger.account() == expected.state.ledger.account()
    assert again.problems == ()  # read_account replays every row and checks it against the snapshot


async def test_a_partly_filled_exit_replaced_before_a_restart_still_counts_what_it_filled(tmp_path: Path) -> None:
    """The group's record of what a replaced exit filled (its successor's own fills count from 0) is rebuilt on
    recovery: once the successor fills the rest, the stop-loss is canceled, not sized to the successor's fills."""
    path = tmp_path / "account.db"
    limited = {"fill": {"model": "volume_limited", "volume_limit": 0.01}}
    async with _broker(path, **limited) as broker:
        await broker.update_market(Bar("X", T0, 100.0, 100.0, 100.0, 100.0, 1e6, 60.0))
        entry = await broker.buy("X", 30, order_class="bracket", take_profit={"limit_price": 110.0},
                                 stop_loss={"stop_price": 95.0})  # fmt: skip
        await broker.update_market(_bar(1, 100.0))  # the entry fills
        stamp = datetime.fromtimestamp(T0.timestamp() + 120, UTC)
        await broker.update_market(Bar("X", stamp, 111.0, 112.0, 110.0, 111.0, 1000.0, 60.0))  # 10 of 30 exit
        take_id, stop_id = entry.legs
        assert (await broker.get_order(take_id)).filled_quantity == 10
        moved = await broker.replace_order(take_id, limit_price=113.0)  # above the market: it waits
    async with _broker(path, **limited) as again:
        assert (await again.get_order(stop_id)).quantity == 20
        await again.update_market(_bar(3, 114.0))  # the successor fills its 20
        assert (await again.get_order(moved.id)).status.value == "filled"
        assert (await again.get_order(stop_id)).status.value == "canceled"
        assert await again.get_position("X") is None
    check_account(path)
