"""The error hierarchy every adapter raises, so strategy code catches one set of errors on paper and live.

`broker.py` re-exports these names; they live here so that `models.py` can raise them without importing the
`Broker` interface. `did_you_mean` ends the "unknown name" messages.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BrokerError(Exception):
    """Base of every error broker-sim raises on purpose."""


class InvalidRequest(BrokerError, ValueError):
    """A call's arguments are malformed; nothing was changed."""


class InvalidOrder(InvalidRequest):
    """An order request is malformed (bad quantity, missing price, unknown enum value...); nothing was changed."""


class DuplicateClientOrderId(InvalidOrder):
    """A `client_order_id` already names a different order (Alpaca answers 422); nothing was changed."""


class InvalidMarketData(InvalidRequest):
    """A bar, quote or trade is malformed (non-finite price, naive timestamp...); nothing was changed."""


class OrderNotFound(BrokerError, LookupError):
    """No order has the given id or client order id."""


class PositionNotFound(BrokerError, LookupError):
    """There is no open position in the given symbol."""


class OrderNotCancelable(BrokerError):
    """The order is already in a final state (filled, canceled, expired, rejected, replaced)."""


class OrderNotReplaceable(BrokerError):
    """The order cannot be replaced in its current state."""


class InvalidTransition(BrokerError):
    """An order status change outside the table in `orders.py`: always a bug in an adapter."""


class ModelError(BrokerError):
    """A model or plugin answered nonsense (a NaN price, a negative latency); `model` names it."""

    def __init__(self, message: str, model: str) -> None:
        super().__init__(message)
        self.model = model


class ConfigError(BrokerError, ValueError):
    """A configuration mistake: unknown model name or parameter, bad value, missing file, broken plugin."""


class PluginError(ConfigError):
    """A plugin file or entry point could not be loaded; the message names it."""


class JournalError(ConfigError):
    """A journal cannot be used: not a journal, truncated or corrupt, written by a newer version, another
    account's, or in use by another process. The message names the file; the file was left as it was."""


class JournalInUse(JournalError):
    """Another process has the journal open (one process at a time trades an account)."""


class OrderTimeout(BrokerError, TimeoutError):
    """`wait_for` gave up: the order did not reach the awaited status within the timeout (clock time)."""


class DataError(BrokerError, ValueError):
    """Bad market data from a source (a CSV row, a feed message); the message names the source and the place."""


def describe_error(exc: BaseException) -> str:
    """A one-line message for a user: our errors as they are, anything else with its type."""
    if isinstance(exc, BrokerError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """``" (did you mean 'params'?)"`` when `name` is close to one of `choices` (difflib), else ``""``: the tail
    of an "unknown name" message."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
