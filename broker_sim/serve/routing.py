"""What every HTTP route of the server does alike: reach the served account, bring its clock to the present,
read a JSON body, and answer errors as Alpaca does."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker_sim._text import depth, unencodable_at
from broker_sim.errors import BrokerError

from .errors import ApiError
from .state import Served

__all__ = ["Handler", "endpoint", "json_object", "read_json", "resource"]

#: A route's work: the request and the served account in, a JSON-able answer (or a `Response`) out.
Handler = Callable[[Request, Served], Awaitable[Any]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint running `handler` with the served account, the clock brought up to date, and
    `ApiError`/`BrokerError` answered with Alpaca's status and body."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        served: Served = request.app.state.served
        await served.catch_up()
        try:
            result = await handler(request, served)
        except BrokerError as exc:
            error = ApiError.from_broker(exc)
            return JSONResponse(error.body, status_code=error.status)
        except ApiError as error:
            return JSONResponse(error.body, status_code=error.status)
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return run


#: How deeply a request body may nest: an order's legs are two levels down; a body nested thousands deep only
#: costs the server.
MAX_BODY_DEPTH = 32


async def read_json(request: Request) -> Any:
    """The request's JSON body; 400 as Alpaca answers when it is not JSON, 422 when it nests deeper than
    `MAX_BODY_DEPTH` or a string in it is not valid text (a lone surrogate: it would break every later answer
    that holds it), naming the field."""
    raw = await request.body()
    too_deep = ApiError.invalid(f"the body nests deeper than {MAX_BODY_DEPTH} levels (an order nests 2)")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, 40010000, "request body format is invalid: not JSON") from None
    except RecursionError:  # json's own limit: thousands of levels in a few kilobytes
        raise too_deep from None
    if depth(body) > MAX_BODY_DEPTH:
        raise too_deep
    place = unencodable_at(body)
    if place is not None:
        raise ApiError.invalid(
            f"{place or 'the body'} is not valid text: it holds a lone surrogate (an escape such as \\udc00 that "
            "is not a character), which UTF-8 cannot encode"
        )
    return body


def resource(path: str, handlers: Mapping[str, Handler]) -> Route:
    """One route for `path` answering each HTTP method with its handler (HEAD as GET); any other method gets
    405 with an ``Allow`` header naming every method the path takes."""
    endpoints = {method: endpoint(handler) for method, handler in handlers.items()}
    if "GET" in endpoints:
        endpoints["HEAD"] = endpoints["GET"]

    async def dispatch(request: Request) -> Response:
        return await endpoints[request.method](request)

    return Route(path, dispatch, methods=list(handlers))


def json_object(body: object, fields: frozenset[str], what: str) -> Mapping[str, Any]:
    """`body` (a request's, or an object in it) as a JSON object with only `fields`; 422 naming `what` and the
    first unknown field (with the valid ones) otherwise."""
    if not isinstance(body, Mapping):
        raise ApiError.invalid(f"{what}: the body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - fields)
    if unknown:
        raise ApiError.invalid(f"{what}: unknown field {unknown[0]!r}; valid: {', '.join(sorted(fields))}")
    return body
