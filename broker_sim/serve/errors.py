"""Errors as Alpaca sends them: an HTTP status and a body ``{"code": 40310000, "message": "..."}``."""

from __future__ import annotations

from broker_sim.errors import (
    BrokerError,
    InvalidRequest,
    OrderNotCancelable,
    OrderNotFound,
    OrderNotReplaceable,
    OrderRefused,
    PositionNotFound,
)

__all__ = ["ApiError"]

#: Alpaca's error codes: the HTTP status followed by a detail number.
CODE_INVALID = 40010001
CODE_UNAUTHORIZED = 40110000
CODE_FORBIDDEN = 40310000
CODE_NOT_FOUND = 40410000
CODE_TOO_LARGE = 41310000
CODE_UNPROCESSABLE = 42210000
CODE_RATE_LIMIT = 42910000


class ApiError(Exception):
    """An error answer: `status` (HTTP), `code` and `message` (Alpaca's body)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @property
    def body(self) -> dict[str, object]:
        """The JSON body Alpaca sends with an error."""
        return {"code": self.code, "message": self.message}

    @classmethod
    def invalid(cls, message: str) -> ApiError:
        """A malformed request (422, Alpaca's 40010001)."""
        return cls(422, CODE_INVALID, message)

    @classmethod
    def not_found(cls, message: str) -> ApiError:
        """An unknown order, position or asset (404)."""
        return cls(404, CODE_NOT_FOUND, message)

    @classmethod
    def forbidden(cls, message: str) -> ApiError:
        """A request the account may not make (403): insufficient buying power, shorting disabled."""
        return cls(403, CODE_FORBIDDEN, message)

    @classmethod
    def from_broker(cls, exc: BrokerError) -> ApiError:
        """The answer Alpaca gives for what the broker raised."""
        message = _api_words(str(exc))
        if isinstance(exc, OrderRefused):  # refused at the door: Alpaca's status and code for the refusal
            return cls(exc.status, exc.code, str(exc))
        if isinstance(exc, OrderNotFound):
            return cls.not_found("order not found")
        if isinstance(exc, PositionNotFound):
            return cls.not_found(message)
        if isinstance(exc, OrderNotCancelable | OrderNotReplaceable):
            return cls(422, CODE_UNPROCESSABLE, message)
        if isinstance(exc, InvalidRequest):
            return cls.invalid(message)
        return cls(422, CODE_UNPROCESSABLE, message)


def _api_words(message: str) -> str:
    """Our messages in the API's words: the engine's `quantity` is the API's `qty`."""
    return message.replace("quantity", "qty")
