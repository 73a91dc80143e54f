"""The server's OpenAPI document (``openapi.yaml`` beside this module), served at ``GET /openapi.json``.

The document describes every HTTP route as the server answers it; the tests check that it names every route and
fuzz every operation against it, so a client generator or a schema-driven fuzzer can rely on it. The served copy
lists the symbols this server trades as the order's ``symbol`` enum."""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["document", "routes", "served_document"]


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the server's HTTP API, as a dict."""
    text = resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def served_document(symbols: list[str]) -> dict[str, Any]:
    """The document as a server trading `symbols` serves it: an order's symbol is one of them."""
    served = copy.deepcopy(document())
    served["components"]["schemas"]["OrderRequest"]["properties"]["symbol"]["enum"] = list(symbols)
    return served


async def _serve(request: Request) -> JSONResponse:
    return JSONResponse(served_document(request.app.state.served.tradable()))


def routes() -> list[Route]:
    """The route serving the document."""
    return [Route("/openapi.json", _serve, methods=["GET"])]
