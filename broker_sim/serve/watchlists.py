"""Alpaca's watchlists (``/v2/watchlists``): named lists of the served symbols that bots and dashboards keep.

Create, read, rename or replace, add and remove a symbol, delete; by id or by name (``/v2/watchlists:by_name``).
With a journal the lists are kept in it (`Journal.keep`), so they survive a restart as the account does. A
symbol must be one the server trades; names are unique. Reference:
https://docs.alpaca.markets/reference/getwatchlists-1
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broker_sim.alpaca_wire import account_id, timestamp

from .errors import ApiError
from .routing import json_object, read_json, resource
from .state import Served
from .translate import asset_json

__all__ = ["Watchlist", "Watchlists", "routes"]

#: The name under which the journal keeps the watchlists.
_KEPT = "watchlists"
#: Alpaca's longest watchlist name.
MAX_NAME = 64
_NAMESPACE = uuid.UUID("0c3b4a9e-8a11-4a57-9d53-2a7c1f6e5b20")


@attrs.frozen(slots=True)
class Watchlist:
    """One watchlist: its id, unique name, symbols in order, and when it was created and last changed."""

    id: str
    name: str
    symbols: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


class Watchlists:
    """The served account's watchlists, kept in its journal when it has one. Every change is validated first and
    changes nothing when refused."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self._lists: dict[str, Watchlist] | None = None
        self._created = 0

    def _all(self) -> dict[str, Watchlist]:
        if self._lists is None:
            journal = self.served.broker.journal
            stored = journal.kept(_KEPT) if journal is not None else None
            self._lists = {}
            for item in json.loads(stored) if stored else []:
                item["symbols"] = tuple(item["symbols"])
                for moment in ("created_at", "updated_at"):
                    item[moment] = datetime.fromisoformat(item[moment])
                self._lists[item["id"]] = Watchlist(**item)
            self._created = len(self._lists)
        return self._lists

    def _save(self, lists: dict[str, Watchlist]) -> None:
        journal = self.served.broker.journal
        if journal is not None:
            rows = [
                {**attrs.asdict(w), "created_at": w.created_at.isoformat(), "updated_at": w.updated_at.isoformat()}
                for w in lists.values()
            ]
            journal.keep(_KEPT, json.dumps(rows))  # first: a list the journal could not keep is not changed
        self._lists = lists

    def listed(self) -> list[Watchlist]:
        """Every watchlist, oldest first."""
        return sorted(self._all().values(), key=lambda w: w.created_at)

    def find(self, watchlist_id: str | None = None, name: str | None = None) -> Watchlist:
        """The watchlist with `watchlist_id` (or `name`); 404 when there is none."""
        for watchlist in self._all().values():
            if watchlist.id == watchlist_id or (name is not None and watchlist.name == name):
                return watchlist
        raise ApiError.not_found("watchlist not found")

    def create(self, name: object, symbols: object) -> Watchlist:
        """A new watchlist named `name` holding `symbols`."""
        lists = self._all()
        checked = self._name(name, None)
        now = self.served.clock.now()
        self._created += 1
        made = Watchlist(
            str(uuid.uuid5(_NAMESPACE, f"{self.served.settings.account}:{self._created}:{checked}")),
            checked,
            self._symbols(symbols),
            now,
            now,
        )
        self._save({**lists, made.id: made})
        return made

    def update(self, watchlist: Watchlist, *, name: object = None, symbols: object = None) -> Watchlist:
        """`watchlist` renamed and/or holding `symbols` instead (None: unchanged)."""
        changed = attrs.evolve(
            watchlist,
            name=watchlist.name if name is None else self._name(name, watchlist.id),
            symbols=watchlist.symbols if symbols is None else self._symbols(symbols),
            updated_at=self.served.clock.now(),
        )
        self._save({**self._all(), watchlist.id: changed})
        return changed

    def delete(self, watchlist: Watchlist) -> None:
        """Forget `watchlist`."""
        self._save({key: value for key, value in self._all().items() if key != watchlist.id})

    def _name(self, name: object, own_id: str | None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ApiError.invalid(f"name is required: a non-empty string, got {name!r}")
        if len(name) > MAX_NAME:
            raise ApiError.invalid(f"name must be at most {MAX_NAME} characters, got {len(name)}")
        if any(w.name == name and w.id != own_id for w in self._all().values()):
            raise ApiError.invalid(f"watchlist name {name!r} is already used: names are unique")
        return name

    def _symbols(self, symbols: object) -> tuple[str, ...]:
        if symbols is None:
            return ()
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise ApiError.invalid(f"symbols must be a list of symbols, got {symbols!r}")
        tradable = self.served.tradable()
        for symbol in symbols:
            if symbol not in tradable:
                raise ApiError.invalid(f'asset "{symbol}" not found; this server trades {", ".join(tradable)}')
        return tuple(dict.fromkeys(symbols))  # each symbol once, in the order given


def _json(served: Served, watchlist: Watchlist, *, assets: bool = True) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": watchlist.id,
        "account_id": account_id(served.settings.account),
        "created_at": timestamp(watchlist.created_at),
        "updated_at": timestamp(watchlist.updated_at),
        "name": watchlist.name,
    }
    if assets:
        broker, exchange = served.broker, served.settings.exchange
        answer["assets"] = [asset_json(s, exchange=exchange, flags=broker.asset(s)) for s in watchlist.symbols]
    return answer


def _store(request: Request) -> Watchlists:
    store: Watchlists = request.app.state.watchlists
    return store


_LIST_FIELDS = frozenset({"name", "symbols"})
_SYMBOL_FIELDS = frozenset({"symbol"})


def _target(request: Request) -> Watchlist:
    """The watchlist a request names: by id in the path, or by ``?name=`` on the by-name route."""
    store = _store(request)
    watchlist_id = request.path_params.get("watchlist_id")
    if watchlist_id is not None:
        return store.find(watchlist_id=watchlist_id)
    name = request.query_params.get("name")
    if not name:
        raise ApiError.invalid("name is required")
    return store.find(name=name)


async def list_watchlists(request: Request, served: Served) -> Any:
    return [_json(served, w, assets=False) for w in _store(request).listed()]


async def create_watchlist(request: Request, served: Served) -> Any:
    body = json_object(await read_json(request), _LIST_FIELDS, "watchlist")
    return _json(served, _store(request).create(body.get("name"), body.get("symbols")))


async def get_watchlist(request: Request, served: Served) -> Any:
    return _json(served, _target(request))


async def replace_watchlist(request: Request, served: Served) -> Any:
    body = json_object(await read_json(request), _LIST_FIELDS, "watchlist")
    watchlist = _target(request)
    return _json(served, _store(request).update(watchlist, name=body.get("name"), symbols=body.get("symbols")))


async def add_symbol(request: Request, served: Served) -> Any:
    body = json_object(await read_json(request), _SYMBOL_FIELDS, "watchlist")
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise ApiError.invalid(f"symbol is required: a symbol, got {symbol!r}")
    watchlist = _target(request)
    return _json(served, _store(request).update(watchlist, symbols=[*watchlist.symbols, symbol]))


async def remove_symbol(request: Request, served: Served) -> Any:
    watchlist = _target(request)
    symbol = request.path_params["symbol"]
    if symbol not in watchlist.symbols:
        raise ApiError.not_found(f"{symbol} is not in watchlist {watchlist.name!r}")
    kept = [s for s in watchlist.symbols if s != symbol]
    return _json(served, _store(request).update(watchlist, symbols=kept))


async def delete_watchlist(request: Request, served: Served) -> Any:
    _store(request).delete(_target(request))
    return Response(status_code=204)


def routes() -> list[Route]:
    """The watchlist routes, by id and by name."""
    one = {"GET": get_watchlist, "PUT": replace_watchlist, "POST": add_symbol, "DELETE": delete_watchlist}
    return [
        resource("/v2/watchlists", {"GET": list_watchlists, "POST": create_watchlist}),
        resource("/v2/watchlists:by_name", one),
        resource("/v2/watchlists:by_name/{symbol}", {"DELETE": remove_symbol}),
        resource("/v2/watchlists/{watchlist_id}", one),
        resource("/v2/watchlists/{watchlist_id}/{symbol}", {"DELETE": remove_symbol}),
    ]
