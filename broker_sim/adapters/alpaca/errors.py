"""Errors the Alpaca venue answers with that have no counterpart in `broker_sim.errors`.

Every one carries Alpaca's own message and, where Alpaca sent one, its numeric error `code`, and belongs to one of
the families of `broker_sim.errors`: `RateLimited` and `VenueUnavailable` are transient (the client retries them
where that is safe), `Unauthorized` and `Forbidden` permanent.
"""

from __future__ import annotations

from broker_sim.errors import BrokerError, PermanentError, TransientError

__all__ = ["AlpacaError", "Forbidden", "RateLimited", "Unauthorized", "VenueUnavailable"]


class AlpacaError(BrokerError):
    """An answer from Alpaca that is an error: `status` is the HTTP status (0 for no answer), `code` Alpaca's."""

    def __init__(self, message: str, *, status: int = 0, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Unauthorized(AlpacaError, PermanentError):
    """401: the key id or secret key is wrong."""


class Forbidden(AlpacaError, PermanentError):
    """403: the account may not do this (insufficient buying power, shorting not allowed, forbidden)."""


class RateLimited(AlpacaError, TransientError):
    """429 that outlasted the retries; `retry_after` is the seconds Alpaca asked to wait."""

    def __init__(self, message: str, *, status: int = 429, code: int | None = None, retry_after: float = 0.0) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class VenueUnavailable(AlpacaError, TransientError):
    """5xx, a timeout or a broken connection that outlasted the retries (or a call that may not be retried)."""
