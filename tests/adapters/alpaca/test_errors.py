"""Alpaca's error answers mapped to our errors with Alpaca's message, and the retry rules: only idempotent calls
are retried, 429 waits its Retry-After, and a submit is retried only with the same client order id, after asking
whether the first try arrived. Cases the served venue cannot produce (429 with a long Retry-After, 5xx, lost
responses) come from httpx's in-process mock transport; waits run on a simulated clock (no wall time)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from broker_sim import (
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    InvalidOrder,
    OrderEvent,
    OrderNotCancelable,
    OrderNotFound,
    OrderNotReplaceable,
    OrderRequest,
    PermanentError,
    SimulatedClock,
    TransientError,
)
from broker_sim.adapters.alpaca import AlpacaBroker, RateLimited, Unauthorized, VenueUnavailable
from broker_sim.adapters.alpaca.http import error_for
from tests.adapters.alpaca.feed import TradeUpdatesFeed
from tests.adapters.alpaca.test_payloads import ORDER

Handler = Callable[[httpx.Request], httpx.Response] | Callable[[httpx.Request], Awaitable[httpx.Response]]


def _broker(
    handler: Handler, clock: SimulatedClock | None = None, retries: int = 3, stream_url: str | None = None
) -> AlpacaBroker:
    return AlpacaBroker(
        base_url="http://venue.test",
        key_id="k",
        secret_key="s",
        stream_url=stream_url,
        clock=clock or SimulatedClock(0.0),
        retries=retries,
        backoff=1.0,
        seed=5,
        transport=httpx.MockTransport(handler),
    )


def _error(status: int, message: str, code: int = 40010001, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message}, headers=headers)


@pytest.mark.parametrize(
    ("status", "code", "message", "error"),
    [
        (401, 40110000, "request is not authorized", Unauthorized),
        (403, 40310000, "insufficient buying power", InsufficientBuyingPower),
        (404, 40410000, "order not found", OrderNotFound),
        (422, 40010001, "qty must be > 0", InvalidOrder),
        (422, 40010001, "client_order_id must be unique", DuplicateClientOrderId),
    ],
)
async def test_submit_errors_map_to_ours_with_alpacas_message(
    status: int, code: int, message: str, error: type[Exception]
) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.method == "GET":  # the duplicate check looks the id up: another order holds it
            return httpx.Response(200, json={**ORDER, "symbol": "MSFT"})
        return _error(status, message, code)

    broker = _broker(handler)
    with pytest.raises(error, match=message):
        await broker.submit_order(OrderRequest("AAPL", "buy", 1, client_order_id="cid"))
    assert [c.method for c in calls if c.method == "POST"] == ["POST"]  # never retried
    await broker.close()


@pytest.mark.parametrize(
    ("status", "code", "message", "context", "family"),
    [
        (401, 40110000, "request is not authorized", "other", PermanentError),
        (403, 40310000, "insufficient buying power", "submit", PermanentError),
        (403, 40310000, "forbidden", "other", PermanentError),
        (404, 40410000, "order not found", "order", PermanentError),
        (404, 40410000, "position not found", "position", PermanentError),
        (422, 40010001, "qty must be > 0", "submit", PermanentError),
        (422, 42210000, 'order is already in "filled" state', "cancel", PermanentError),
        (429, 42910000, "rate limit exceeded", "other", TransientError),
        (500, 50010000, "internal error", "other", TransientError),
        (503, 50010000, "service unavailable", "submit", TransientError),
    ],
)
def test_every_alpaca_error_belongs_to_the_family_that_says_whether_asking_again_can_help(
    status: int, code: int, message: str, context: str, family: type[Exception]
) -> None:
    error = error_for(status, {"code": code, "message": message}, context)

    assert isinstance(error, family)
    assert not isinstance(error, TransientError if family is PermanentError else PermanentError)
    assert message in str(error)


async def test_a_permanent_answer_to_a_read_is_not_asked_again() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return _error(404, "order not found", 40410000)

    clock = SimulatedClock(0.0)
    broker = _broker(handler, clock, retries=3)
    with pytest.raises(OrderNotFound, match="order not found"):
        await broker.get_order("nope")
    assert calls == 1 and clock.time() == 0.0
    await broker.close()


async def test_cancel_and_replace_of_final_orders_are_not_cancelable_or_replaceable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _error(422, 'order is already in "filled" state', code=42210000)

    broker = _broker(handler)
    with pytest.raises(OrderNotCancelable, match="already in"):
        await broker.cancel_order("id-1")
    with pytest.raises(OrderNotReplaceable, match="already in"):
        await broker.replace_order("id-1", quantity=2)
    await broker.close()


async def test_a_read_waits_out_429s_retry_after_on_the_clock_then_succeeds() -> None:
    answers = iter(
        [_error(429, "rate limit exceeded", 42910000, {"Retry-After": "7"}), httpx.Response(200, json=ORDER)]
    )
    clock = SimulatedClock(0.0)
    broker = _broker(lambda request: next(answers), clock)
    order = await broker.get_order(ORDER["id"])
    assert order.id == ORDER["id"]
    assert clock.time() == pytest.approx(7.0)  # Retry-After honoured, in clock time
    await broker.close()


async def test_reads_are_retried_on_5xx_and_timeouts_with_backoff_then_give_up() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise httpx.ReadTimeout("slow", request=request)
        return _error(503, "service unavailable", 50010000)

    clock = SimulatedClock(0.0)
    broker = _broker(handler, clock, retries=3)
    with pytest.raises(VenueUnavailable, match="503: service unavailable"):
        await broker.get_account()
    assert calls == 4
    # jittered exponential backoff: 1, 2, 4 s at 50-100 %
    assert 0.5 * 7 <= clock.time() <= 7
    await broker.close()


async def test_a_429_outlasting_the_retries_says_how_long_to_wait() -> None:
    broker = _broker(lambda request: _error(429, "rate limit exceeded", 42910000, {"Retry-After": "2"}), retries=1)
    with pytest.raises(RateLimited, match="rate limit exceeded") as caught:
        await broker.get_positions()
    assert caught.value.retry_after == 2
    await broker.close()


async def test_a_submit_whose_response_is_lost_is_found_by_its_client_order_id_not_placed_twice() -> None:
    placed: dict[str, dict[str, object]] = {}
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            body = json.loads(request.content)
            placed[body["client_order_id"]] = {**ORDER, "client_order_id": body["client_order_id"], "qty": body["qty"]}
            raise httpx.ReadTimeout("the answer was lost", request=request)
        client_order_id = request.url.params["client_order_id"]
        if client_order_id in placed:
            return httpx.Response(200, json=placed[client_order_id])
        return _error(404, "order not found", 40410000)

    broker = _broker(handler)
    order = await broker.submit_order(OrderRequest("AAPL", "buy", 3, client_order_id="once"))
    assert posts == 1 and order.client_order_id == "once" and order.quantity == 3
    await broker.close()


async def test_a_submit_that_did_not_arrive_is_sent_again_with_the_same_client_order_id() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.loads(request.content)
            sent.append(body["client_order_id"])
            if len(sent) == 1:
                return _error(500, "internal error", 50010000)
            return httpx.Response(200, json={**ORDER, "client_order_id": body["client_order_id"]})
        return _error(404, "order not found", 40410000)

    broker = _broker(handler)
    order = await broker.buy("AAPL", 1)  # no client order id given: the adapter makes one before the first try
    assert len(sent) == 2 and sent[0] == sent[1] == order.client_order_id
    await broker.close()


async def test_resubmitting_a_request_alpaca_already_has_returns_that_order() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return _error(422, "client_order_id must be unique", 40010001)
        return httpx.Response(200, json={**ORDER, "client_order_id": "again"})

    broker = _broker(handler)
    request = OrderRequest("AAPL", "buy", 0.123456789, type="limit", limit_price=172.0999, client_order_id="again")
    assert (await broker.submit_order(request)).id == ORDER["id"]
    await broker.close()


async def test_a_resync_reads_every_fill_page_by_page_even_when_fills_share_a_timestamp() -> None:
    base = datetime(2024, 1, 2, 15, tzinfo=UTC)
    # 250 fills of one order, 125 to a millisecond: a whole page shares a timestamp, so only a cursor gets past it
    activities = [
        {
            "id": f"{i:05d}::exec-{i}",
            "activity_type": "FILL",
            "transaction_time": (base + timedelta(milliseconds=i // 125)).isoformat().replace("+00:00", "Z"),
            "type": "partial_fill",
            "price": "10",
            "qty": "1",
            "side": "buy",
            "symbol": "AAPL",
            "order_id": ORDER["id"],
        }
        for i in range(250)
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/orders":
            return httpx.Response(
                200, json=[{**ORDER, "qty": "1000", "filled_qty": "250", "status": "partially_filled"}]
            )
        after = request.url.params.get("after")
        since = datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
        chosen = [
            a
            for a in activities
            if since is None or datetime.fromisoformat(str(a["transaction_time"]).replace("Z", "+00:00")) > since
        ]
        token = request.url.params.get("page_token")  # Alpaca's cursor: the id of the last activity read
        if token is not None:
            chosen = chosen[[a["id"] for a in chosen].index(token) + 1 :]
        return httpx.Response(200, json=chosen[: int(request.url.params["page_size"])])

    broker = _broker(handler)
    heard: list[str] = []
    broker.add_listener(lambda event: heard.append(event.fill.execution_id if event.fill else event.type.value))
    await broker.resync()
    assert heard == [f"exec-{i}" for i in range(250)]
    await broker.resync()  # again: nothing new
    assert len(heard) == 250
    await broker.close()


async def test_orders_are_read_page_by_page_past_alpacas_500_in_a_listing_and_in_a_resync() -> None:
    base = datetime(2024, 1, 2, 15, tzinfo=UTC)
    # 1,234 orders, four to a millisecond, so page boundaries fall inside shared submission times
    orders = [
        {
            **ORDER,
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "client_order_id": f"c-{i}",
            "submitted_at": (stamp := (base + timedelta(milliseconds=i // 4)).isoformat().replace("+00:00", "Z")),
            "created_at": stamp,
            "updated_at": stamp,
            "status": "canceled" if i % 2 else "new",
        }
        for i in range(1234)
    ]
    asked: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v2/orders":
            return httpx.Response(200, json=[])  # no fills
        params = request.url.params
        limit = int(params["limit"])
        assert limit <= 500 and params["direction"] == "asc"
        after = params.get("after")
        since = datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
        chosen = [
            o
            for o in orders
            if (since is None or datetime.fromisoformat(str(o["submitted_at"]).replace("Z", "+00:00")) > since)
            and (params["status"] == "all" or o["status"] == "new")
        ]
        asked.append(len(chosen[:limit]))
        return httpx.Response(200, json=chosen[:limit])

    broker = _broker(handler)
    listed = await broker.list_orders("all")
    assert [o.client_order_id for o in listed] == [f"c-{i}" for i in range(1234)]
    assert len(asked) > 2  # it took several pages
    assert [o.client_order_id for o in await broker.list_orders("open")] == [f"c-{i}" for i in range(0, 1234, 2)]
    fresh = _broker(handler)
    heard: list[str] = []
    fresh.add_listener(lambda event: heard.append(event.order.client_order_id))
    await fresh.resync()
    assert sorted(heard, key=lambda c: int(c[2:])) == [f"c-{i}" for i in range(1234)]
    await broker.close()
    await fresh.close()


async def test_wait_for_hears_a_fill_that_arrives_while_it_looks_the_order_up() -> None:

    filled = {**ORDER, "status": "filled", "filled_qty": ORDER["qty"], "filled_avg_price": "172.0999"}
    update = {
        "event": "fill",
        "order": filled,
        "timestamp": ORDER["updated_at"],
        "price": "172.0999",
        "qty": ORDER["qty"],
        "position_qty": ORDER["qty"],
        "execution_id": "exec-1",
    }
    broker: AlpacaBroker | None = None

    async def handler(request: httpx.Request) -> httpx.Response:
        assert broker is not None
        await feed.tell(broker, update)  # the stream's fill, while the REST answer is on its way
        return httpx.Response(200, json=ORDER)  # still "accepted" when the venue answered

    async with TradeUpdatesFeed(ORDER).running() as feed:
        broker = _broker(handler, stream_url=feed.url)
        await broker.connect()
        order = await broker.wait_for(ORDER["id"], "filled", timeout=5.0)
        assert order.status.value == "filled"
        await broker.close()


async def test_a_fill_made_between_the_resyncs_reads_is_heard_once_with_its_filled_order() -> None:

    working = {**ORDER, "status": "new"}
    filled = {**ORDER, "status": "filled", "filled_qty": ORDER["qty"], "filled_avg_price": "172.0999"}
    activity = {
        "id": "20210316183802000::exec-1",
        "activity_type": "FILL",
        "transaction_time": "2021-03-16T18:38:02Z",
        "type": "fill",
        "price": "172.0999",
        "qty": ORDER["qty"],
        "side": "buy",
        "symbol": "AAPL",
        "order_id": ORDER["id"],
    }
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        done = len(requests) > 1  # the order fills while the resync's first read is on its way
        if request.url.path == "/v2/orders":
            return httpx.Response(200, json=[filled if done else working])
        if request.url.path == f"/v2/orders/{ORDER['id']}":
            return httpx.Response(200, json=filled if done else working)
        return httpx.Response(200, json=[activity] if done else [])

    update = {
        "event": "fill",
        "order": filled,
        "timestamp": activity["transaction_time"],
        "price": "172.0999",
        "qty": ORDER["qty"],
        "position_qty": ORDER["qty"],
        "execution_id": "exec-1",
    }
    async with TradeUpdatesFeed(ORDER).running() as feed:
        broker = _broker(handler, stream_url=feed.url)
        await broker.connect()
        heard: list[OrderEvent] = []
        broker.add_listener(lambda event: heard.append(event) if event.fill is not None else None)
        await broker.resync()
        await feed.tell(broker, update)  # the stream's copy of the fill, after the resync
        assert [(e.fill.execution_id, e.order.status.value) for e in heard if e.fill] == [("exec-1", "filled")]
        assert (await broker.wait_for(ORDER["id"], "filled", timeout=1.0)).status.value == "filled"
        await broker.close()
