"""The error hierarchy every adapter raises, so strategy code catches one set of errors on paper and live.

`broker.py` re-exports these names; they live here so that `models.py` can raise them without importing the
`Broker` interface. `did_you_mean` ends the "unknown name" messages.

Besides its cause (httpx's model: an error's class says what went wrong), an error says whether trying again can
help: a `TransientError` (no answer, a 5xx, a rate limit, a journal another process holds) may pass if the same
call is made again later; a `PermanentError` (a malformed request, a refusal, an unknown id, refused keys) fails
the same way until the request or the account changes. An adapter's retries follow the families, not a list of
classes; errors in neither family (a config mistake, a bug in a model) are not the venue's answer at all.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BrokerError(Exception):
    """Base of every error broker-sim raises on purpose."""


class TransientError(BrokerError):
    """The call could not be done now (the venue did not answer, answered 5xx or 429, or another process holds
    the resource); the same call may succeed later. Whether anything changed is unknown: a submit that timed out
    may have placed its order (ask by its client order id before sending it again)."""


class PermanentError(BrokerError):
    """The venue (or the simulator) answered and refused the call: the same call fails the same way until the
    request or the account changes. Nothing was changed."""


class InvalidRequest(PermanentError, ValueError):
    """A call's arguments are malformed; nothing was changed."""


class InvalidOrder(InvalidRequest):
    """An order request is malformed (bad quantity, missing price, unknown enum value...); nothing was changed."""


class DuplicateClientOrderId(InvalidOrder):
    """A `client_order_id` already names a different order (Alpaca answers 422); nothing was changed."""


class OrderRefused(PermanentError):
    """An order refused at the door, as Alpaca refuses it at once: no order was created, nothing changed, and its
    `client_order_id` was not used (a retry with the same id, once the cause is gone, places the order).

    The same family on every adapter (`PaperBroker`, `AlpacaBroker`, `broker-sim serve`). `rule` names the
    ``broker.rules`` setting that relaxes the refusal (None when no setting does, e.g. buying power), `status`
    and `code` are Alpaca's HTTP status and error code for it. Orders Alpaca accepts and rejects later are not
    refused: they end `rejected` with a `reject_reason`.
    """

    status = 403
    code = 40310000

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.reason = message
        self.rule = rule


class InsufficientBuyingPower(OrderRefused):
    """The order's value (Alpaca's: a market buy at a collar above the price, a short at least 3 % above the ask)
    is more than the buying power left after the open orders (403)."""


class InsufficientQuantity(OrderRefused):
    """A sell larger than the long position still available (or a buy larger than the short), which Alpaca
    refuses rather than let one order take a position from long to short: "insufficient qty available for order
    (requested: X, available: Y)" (403)."""


class ShortSaleRefused(OrderRefused):
    """A sell that would open a short the account may not open: a cash account, equity under $2,000, shorting
    turned off, or a symbol that is not shortable or not easy to borrow (403)."""


class DayTradeRefused(OrderRefused):
    """Pattern day trader protection: the order could make the 4th day trade within 5 business days of an account
    whose equity at the last close was under $25,000 (403)."""


class WashTradeRefused(OrderRefused):
    """The order could execute against an open order of the same account on the other side (403)."""


class TradingSuspended(OrderRefused):
    """New orders are blocked (Alpaca's account configuration ``suspend_trade``) (403)."""


class OrderNotAccepted(OrderRefused, InvalidOrder):
    """A well-formed request that Alpaca's order rules do not take: an order type, time in force, extended hours,
    fractional or notional combination it refuses, or an auction order past its cutoff (422)."""

    status = 422
    code = 40010001


class InvalidMarketData(InvalidRequest):
    """A bar, quote or trade is malformed (non-finite price, naive timestamp...); nothing was changed."""


class OrderNotFound(PermanentError, LookupError):
    """No order has the given id or client order id."""


class PositionNotFound(PermanentError, LookupError):
    """There is no open position in the given symbol."""


class OrderNotCancelable(PermanentError):
    """The order is already in a final state (filled, canceled, expired, rejected, replaced)."""


class OrderNotReplaceable(PermanentError):
    """The order cannot be replaced in its current state."""


class InvalidTransition(BrokerError):
    """An order status change outside the table in `orders.py`: always a bug in an adapter."""


class ModelError(BrokerError):
    """A model or plugin answered nonsense (a NaN price, a negative latency); `model` names it."""

    def __init__(self, message: str, model: str) -> None:
        super().__init__(message)
        self.model = model


class ConfigError(BrokerError, ValueError):
    """A configuration mistake: unknown model name or parameter, bad value, missing file, broken plugin.

    `path` is the key path of the mistake within the mapping that was checked (e.g. ``("rules", "pdt_check")``
    under ``broker:``), when the checker knows it; the config loader adds it to the file's key and line."""

    def __init__(self, message: str = "", *, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


class PluginError(ConfigError):
    """A plugin file or entry point could not be loaded; the message names it."""


class JournalError(BrokerError):
    """A journal cannot be used: not a journal, truncated or corrupt, written by a newer version, another
    account's, in use by another process, or a change could not be written to disk. The message names the file;
    the file was left as it was.

    Not a `ConfigError`: a disk that fails while a session writes is no mistake in the config. Where a journal is
    checked as part of a config (`broker-sim run`'s validation), the check names the config's key and line."""


class JournalInUse(JournalError, TransientError):
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
