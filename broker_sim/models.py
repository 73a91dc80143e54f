"""Value types that cross module boundaries: order requests and snapshots, fills, positions, market data.

Every class here is a frozen, slotted attrs class (market data: slotted classes that refuse changes, see
`_MarketEvent`): a snapshot never changes, every change is a new snapshot.
Malformed input is refused at construction with an error that names the field and the value, so a bad request
never reaches a broker's state.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar, cast

import attrs

from broker_sim._codegen import compile_function, plain_fields, writable_twin
from broker_sim._numeric import ORDER_DECIMALS, at_most_decimals
from broker_sim._text import encodable
from broker_sim.errors import InvalidMarketData, InvalidOrder

__all__ = [
    "FINAL_STATUSES",
    "Account",
    "Bar",
    "EventType",
    "Fill",
    "MarketData",
    "Order",
    "OrderClass",
    "OrderEvent",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Position",
    "Quote",
    "Side",
    "StopLoss",
    "TakeProfit",
    "TimeInForce",
    "Trade",
]


class _CaseInsensitiveEnum(StrEnum):
    """A string enum that also accepts its values in any case ("BUY" -> Side.BUY), as the seed engine did."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            for member in cls:
                if member.value == lowered:
                    return member
        return None


class Side(_CaseInsensitiveEnum):
    """Which way an order trades."""

    BUY = "buy"
    SELL = "sell"


class OrderType(_CaseInsensitiveEnum):
    """How an order is priced (Alpaca's names). Which types an adapter fills is up to the adapter."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(_CaseInsensitiveEnum):
    """How long an order stays working (Alpaca's names). Which ones an adapter supports is up to the adapter."""

    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    OPG = "opg"
    CLS = "cls"


class OrderStatus(_CaseInsensitiveEnum):
    """An order's lifecycle state, with Alpaca's names and meanings; `orders.py` owns the allowed transitions.

    `pending_new`: on its way to the venue. `accepted`: the venue has it but it is not working yet (queued for a
    later session, an opg order before the open). `new`: working. `held`: a bracket's exit leg waiting for its
    entry. The simulator never reports `done_for_day`, `stopped`, `suspended`, `calculated`, `pending_review`
    or `accepted_for_bidding`; live adapters may.
    """

    PENDING_NEW = "pending_new"
    ACCEPTED = "accepted"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    DONE_FOR_DAY = "done_for_day"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    REJECTED = "rejected"
    STOPPED = "stopped"
    SUSPENDED = "suspended"
    CALCULATED = "calculated"
    HELD = "held"
    PENDING_REVIEW = "pending_review"
    ACCEPTED_FOR_BIDDING = "accepted_for_bidding"

    @property
    def is_final(self) -> bool:
        """True once the order can never change again."""
        return self in FINAL_STATUSES

    @property
    def is_open(self) -> bool:
        """True while the order may still fill or be canceled."""
        return self not in FINAL_STATUSES


#: The statuses an order never leaves (faster to test against than `OrderStatus.is_final` on hot paths).
FINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.REPLACED,
    }
)


class EventType(_CaseInsensitiveEnum):
    """What happened to an order, as reported in an `OrderEvent`: the event names of Alpaca's trade_updates.

    `order_cancel_rejected` and `order_replace_rejected` report a cancel or replace that reached the venue too late
    (the order had filled or ended first); the order itself is unchanged, or back to working.
    """

    PENDING_NEW = "pending_new"
    ACCEPTED = "accepted"
    NEW = "new"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    DONE_FOR_DAY = "done_for_day"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    REJECTED = "rejected"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    STOPPED = "stopped"
    SUSPENDED = "suspended"
    CALCULATED = "calculated"
    HELD = "held"
    ORDER_CANCEL_REJECTED = "order_cancel_rejected"
    ORDER_REPLACE_REJECTED = "order_replace_rejected"
    #: The simulator's own: the order was sent to liquidate a position because the account fell below its
    #: maintenance margin.
    MARGIN_CALL = "margin_call"
    #: The name earlier versions used for `order_replace_rejected`.
    REPLACE_REJECTED = "order_replace_rejected"


class OrderClass(_CaseInsensitiveEnum):
    """How an order relates to others (Alpaca's names): a plain order, or an entry with attached exits."""

    SIMPLE = "simple"
    BRACKET = "bracket"
    OCO = "oco"
    OTO = "oto"


_E = TypeVar("_E", bound=StrEnum)


def _convert(enum: type[_E], field: str, value: object) -> _E:
    if value.__class__ is str:  # a member's own value ("day"): a dict lookup, not the enum's Python-level call
        member = enum._value2member_map_.get(value)
        if member is not None:
            return member  # type: ignore[return-value]
    try:
        return enum(value)  # type: ignore[arg-type]
    except ValueError:
        valid = ", ".join(member.value for member in enum)
        raise InvalidOrder(f"{field} must be one of {valid}; got {value!r}") from None


def _to_side(value: object) -> Side:
    return value if value.__class__ is Side else _convert(Side, "side", value)


def _to_order_type(value: object) -> OrderType:
    return value if value.__class__ is OrderType else _convert(OrderType, "type", value)


def _to_time_in_force(value: object) -> TimeInForce:
    if value.__class__ is TimeInForce:
        return value
    return _convert(TimeInForce, "time_in_force", value)


#: The class each converter hands back unchanged: a generated ``__init__`` (`install_fast_init`) tests it inline and
#: calls the converter only for anything else (a call saved per field, per order).
_CONVERTER_KEEPS: dict[Any, type] = {_to_side: Side, _to_order_type: OrderType, _to_time_in_force: TimeInForce}


_PLAIN_NUMBERS = (int, float)
_REQUEST_PRICES = ("limit_price", "stop_price", "reference_price", "trail_price", "trail_percent", "notional")
#: Integers below this convert to floats exactly.
_EXACT_INTEGERS = 2**53
#: Members `OrderRequest.__attrs_post_init__` compares with, as globals: on CPython 3.11 reading a member off its
#: Enum class goes through `EnumType.__getattr__` (~900 instructions; `broker_sim._members` says more).
_MARKET = OrderType.MARKET
_SIMPLE = OrderClass.SIMPLE
#: The smallest notional (cash) order, in dollars: Alpaca's minimum for fractional orders.
MIN_NOTIONAL = 1.0
#: Alpaca's limit on the length of a client order id.
MAX_CLIENT_ORDER_ID = 128


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_positive(value: object, field: str, where: str, *, optional: bool = False) -> float:
    """`value` as a float if it is a finite number > 0; else `InvalidOrder` naming the field and the value."""
    if value is None and optional:
        return value  # type: ignore[return-value]
    if not _is_number(value):
        raise InvalidOrder(f"{field} must be a number, got {value!r} ({where})")
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise InvalidOrder(f"{field} is too large, got {value!r} ({where})") from None
    if not math.isfinite(number):
        raise InvalidOrder(f"{field} must be finite, got {value!r} ({where})")
    if number <= 0:
        raise InvalidOrder(f"{field} must be > 0, got {value!r} ({where})")
    return number


def _to_order_class(value: object) -> OrderClass:
    return value if value.__class__ is OrderClass else _convert(OrderClass, "order_class", value)


def _positive_price(name: str) -> Any:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None:
            object.__setattr__(instance, attribute.name, _check_positive(value, name, type(instance).__name__))

    return check


@attrs.frozen(slots=True)
class TakeProfit:
    """A bracket's (or oto's, oco's) profit-taking exit: a limit order at `limit_price`."""

    limit_price: float = attrs.field(validator=_positive_price("take_profit.limit_price"))


@attrs.frozen(slots=True)
class StopLoss:
    """A bracket's (or oto's, oco's) protective exit: a stop order at `stop_price`, a stop-limit with
    `limit_price`."""

    stop_price: float = attrs.field(validator=_positive_price("stop_loss.stop_price"))
    limit_price: float | None = attrs.field(default=None, validator=_positive_price("stop_loss.limit_price"))


def _to_take_profit(value: object) -> TakeProfit | None:
    return _structure_leg(TakeProfit, "take_profit", value)


def _to_stop_loss(value: object) -> StopLoss | None:
    return _structure_leg(StopLoss, "stop_loss", value)


def _structure_leg(cls: Any, name: str, value: object) -> Any:
    """A leg from an attrs value or a mapping like ``{"limit_price": 110}``; `InvalidOrder` naming what is wrong."""
    if value is None or isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise InvalidOrder(f"{name} must be a mapping like {{limit_price: ...}}, got {value!r}")
    valid = [field.name for field in attrs.fields(cls)]
    unknown = sorted(set(value) - set(valid))
    if unknown:
        raise InvalidOrder(f"{name}: unknown field {unknown[0]!r}; valid: {', '.join(valid)}")
    try:
        return cls(**value)
    except TypeError:
        raise InvalidOrder(f"{name} needs {valid[0]}, got {dict(value)!r}") from None


@attrs.frozen(slots=True)
class OrderRequest:
    """What a strategy asks a broker to do. Validated at construction: a malformed request raises `InvalidOrder`.

    Give `quantity` (fractional allowed) or, for a market order, `notional` (an amount of cash; the paper adapter
    turns it into a quantity at the estimated price when the order is submitted). Numbers are stored as floats.
    `reference_price` is the price the caller saw when deciding: an adapter uses it when it knows no market price
    for the symbol, and reports measure slippage against it. `extended_hours` lets a limit order work outside the
    regular session where the adapter supports it.
    """

    symbol: str
    side: Side = attrs.field(converter=_to_side)
    quantity: float | None = None
    type: OrderType = attrs.field(default=OrderType.MARKET, converter=_to_order_type)
    time_in_force: TimeInForce = attrs.field(default=TimeInForce.DAY, converter=_to_time_in_force)
    limit_price: float | None = None
    stop_price: float | None = None
    client_order_id: str | None = None
    reference_price: float | None = None
    trail_price: float | None = None
    trail_percent: float | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    extended_hours: bool = False
    notional: float | None = None
    #: A bracket's, oto's or oco's exits: `TakeProfit`/`StopLoss` values or mappings like ``{"limit_price": 110}``.
    take_profit: TakeProfit | None = None
    stop_loss: StopLoss | None = None

    def __attrs_post_init__(self) -> None:
        symbol = self.symbol
        if symbol.__class__ is not str or not symbol or symbol.isspace() or not (symbol.isascii() or encodable(symbol)):
            raise InvalidOrder(f"symbol must be a non-empty string of valid text (UTF-8), got {symbol!r}")
        quantity = self.quantity
        if quantity.__class__ is not float or not 0 < quantity < math.inf:  # the common case, checked fast
            if quantity.__class__ is int and 0 < quantity < _EXACT_INTEGERS:
                object.__setattr__(self, "quantity", float(quantity))
            else:
                self._check_quantity()
        quantity = self.quantity
        if quantity is not None and not quantity.is_integer() and not at_most_decimals(quantity):
            raise InvalidOrder(
                f"quantity may have at most {ORDER_DECIMALS} decimal places (as Alpaca), got {quantity!r} "
                f"({self._where})"
            )
        limit, stop, trail_price, trail_percent = (
            self.limit_price,
            self.stop_price,
            self.trail_price,
            self.trail_percent,
        )
        if not (
            (limit is None or (limit.__class__ is float and 0 < limit < math.inf))
            and (stop is None or (stop.__class__ is float and 0 < stop < math.inf))
            and (self.reference_price is None or _fast_positive(self.reference_price))
            and trail_price is None
            and trail_percent is None
            and self.notional is None
        ):
            self._check_prices()
        kind = self.type
        if kind is _MARKET:
            if limit is not None:
                raise InvalidOrder(f"limit_price is not allowed on a market order ({self._where})")
            if stop is not None or trail_price is not None or trail_percent is not None:
                self._check_type()
        else:
            self._check_type()
        client_order_id = self.client_order_id
        if client_order_id is not None and (
            client_order_id.__class__ is not str
            or not client_order_id
            or len(client_order_id) > MAX_CLIENT_ORDER_ID
            or not encodable(client_order_id)
        ):
            raise InvalidOrder(
                f"client_order_id must be a non-empty string of valid text (UTF-8) of at most {MAX_CLIENT_ORDER_ID} "
                f"characters, got {client_order_id!r}"
            )
        if self.order_class.__class__ is not OrderClass:
            object.__setattr__(self, "order_class", _to_order_class(self.order_class))
        if self.order_class is not _SIMPLE or self.take_profit is not None or self.stop_loss is not None:
            self._check_class()
        if self.extended_hours.__class__ is not bool:
            raise InvalidOrder(f"extended_hours must be true or false, got {self.extended_hours!r} ({self._where})")

    @property
    def _where(self) -> str:
        return f"{self.side.value} order for {self.symbol}"

    def _check_quantity(self) -> None:
        if self.quantity is None:
            if self.notional is None:
                raise InvalidOrder(f"quantity is required (or notional, for a market order) ({self._where})")
        else:
            object.__setattr__(self, "quantity", _check_positive(self.quantity, "quantity", self._where))

    def _check_prices(self) -> None:
        where = self._where
        for name in _REQUEST_PRICES:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _check_positive(value, name, where))
        if self.notional is not None:
            if self.quantity is not None:
                raise InvalidOrder(f"give quantity or notional, not both ({where})")
            if self.notional < MIN_NOTIONAL or not at_most_decimals(self.notional):
                raise InvalidOrder(
                    f"notional must be at least ${MIN_NOTIONAL:g} with at most {ORDER_DECIMALS} decimal places "
                    f"(as Alpaca), got {self.notional!r} ({where})"
                )
            if self.type is not OrderType.MARKET or self.time_in_force is not TimeInForce.DAY:
                raise InvalidOrder(f"notional is only for market orders with time_in_force day ({where})")

    def _check_class(self) -> None:
        """Alpaca's rules for order classes: what legs each needs, and prices on the right side of each other."""
        where = self._where
        take, stop = _to_take_profit(self.take_profit), _to_stop_loss(self.stop_loss)
        object.__setattr__(self, "take_profit", take)
        object.__setattr__(self, "stop_loss", stop)
        kind = self.order_class
        if kind is OrderClass.SIMPLE:
            raise InvalidOrder(f"take_profit and stop_loss need order_class bracket, oco or oto ({where})")
        if kind in (OrderClass.BRACKET, OrderClass.OCO) and (take is None or stop is None):
            raise InvalidOrder(f"a {kind.value} order needs both take_profit and stop_loss ({where})")
        if kind is OrderClass.OTO and (take is None) == (stop is None):
            raise InvalidOrder(f"an oto order needs exactly one of take_profit, stop_loss ({where})")
        if self.time_in_force not in (TimeInForce.DAY, TimeInForce.GTC):
            raise InvalidOrder(f"a {kind.value} order's time_in_force must be day or gtc ({where})")
        if self.notional is not None:
            raise InvalidOrder(f"a {kind.value} order cannot be notional ({where})")
        if kind is OrderClass.OCO and (self.type is not OrderType.LIMIT or self.limit_price != take.limit_price):  # type: ignore[union-attr]
            raise InvalidOrder(f"an oco order is a limit order at its take_profit.limit_price ({where})")
        if kind is not OrderClass.OCO and self.type not in (OrderType.MARKET, OrderType.LIMIT):
            raise InvalidOrder(f"a {kind.value} order's entry must be a market or limit order ({where})")
        if take is not None and stop is not None:
            # The exits sell above and below for a long (bought) position, the other way round for a short.
            long = (self.side is Side.BUY) != (kind is OrderClass.OCO)
            if (take.limit_price <= stop.stop_price) if long else (take.limit_price >= stop.stop_price):
                relation = "above" if long else "below"
                raise InvalidOrder(
                    f"take_profit.limit_price {take.limit_price:g} must be {relation} stop_loss.stop_price "
                    f"{stop.stop_price:g} ({where})"
                )

    def _check_type(self) -> None:
        where = self._where
        kind = self.type
        if kind is OrderType.LIMIT and self.limit_price is None:
            self._oco_limit_price()
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.limit_price is None:
            raise InvalidOrder(f"limit_price is required for a {kind.value} order ({where})")
        if kind is OrderType.LIMIT and self.stop_price is not None:
            raise InvalidOrder(f"stop_price is not allowed on a limit order ({where})")
        if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and self.stop_price is None:
            raise InvalidOrder(f"stop_price is required for a {kind.value} order ({where})")
        if kind in (OrderType.MARKET, OrderType.STOP, OrderType.TRAILING_STOP) and self.limit_price is not None:
            raise InvalidOrder(f"limit_price is not allowed on a {kind.value} order ({where})")
        trails = (self.trail_price is not None) + (self.trail_percent is not None)
        if kind is OrderType.TRAILING_STOP:
            if trails != 1:
                raise InvalidOrder(f"a trailing_stop order needs exactly one of trail_price, trail_percent ({where})")
            if self.stop_price is not None:
                raise InvalidOrder(f"stop_price is not allowed on a trailing_stop order: the trail sets it ({where})")
            if self.trail_percent is not None and self.trail_percent >= 100:
                raise InvalidOrder(f"trail_percent must be < 100, got {self.trail_percent!r} ({where})")
        elif trails:
            raise InvalidOrder(f"trail_price and trail_percent are only for trailing_stop orders ({where})")
        if kind is OrderType.MARKET and self.stop_price is not None:
            raise InvalidOrder(f"stop_price is not allowed on a market order ({where})")

    def _oco_limit_price(self) -> None:
        """Alpaca's documented oco shape gives the limit order's price only as ``take_profit.limit_price``
        (https://docs.alpaca.markets/docs/orders-at-alpaca, "OCO Orders"): the order is that limit order."""
        if self.order_class.__class__ is not OrderClass:
            object.__setattr__(self, "order_class", _to_order_class(self.order_class))
        if self.order_class is OrderClass.OCO:
            take = _to_take_profit(self.take_profit)
            if take is not None:
                object.__setattr__(self, "limit_price", take.limit_price)


def _fast_positive(value: object) -> bool:
    return value.__class__ is float and 0 < value < math.inf


@attrs.frozen(slots=True)
class Order:
    """An immutable snapshot of an order as the broker knows it; every change is a new snapshot.

    The fields are Alpaca's, with the simulator's `reference_price` (the price the submitter saw) and
    `triggered_at` (when a stop order's stop was reached). `legs` are the ids of a bracket/oco/oto order's exit
    orders, `parent_id` a leg's entry; `replaces`/`replaced_by` link an order and its replacement. Quantities and
    prices are floats; `filled_avg_price` is the volume-weighted mean of the fills.
    """

    id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    type: OrderType
    time_in_force: TimeInForce
    limit_price: float | None
    stop_price: float | None
    status: OrderStatus
    filled_quantity: float
    filled_avg_price: float | None
    reject_reason: str | None
    created_at: datetime
    updated_at: datetime
    reference_price: float | None = None
    trail_price: float | None = None
    trail_percent: float | None = None
    #: For a replacement: the id of the order it replaced; for a replaced order: the id of its replacement.
    replaces: str | None = None
    replaced_by: str | None = None
    submitted_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    failed_at: datetime | None = None
    replaced_at: datetime | None = None
    #: A trailing stop's high-water mark: the best price since it started working (highest for sells).
    hwm: float | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    legs: tuple[str, ...] = ()
    parent_id: str | None = None
    extended_hours: bool = False
    notional: float | None = None
    triggered_at: datetime | None = None

    @property
    def remaining_quantity(self) -> float:
        """The quantity not yet filled."""
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        """True while the order may still fill or be canceled."""
        return self.status.is_open


@attrs.frozen(slots=True)
class Fill:
    """One execution. `price` includes slippage; `reference_price` is the price before it; `fee` is in cash.

    `execution_id` identifies the execution across restarts and reconnects (de-duplication); empty when the
    source of the fill gave none. `strategy` names the strategy whose order it filled: set by the simulation
    runner (from the order's client order id), empty for fills outside a run.
    """

    order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    timestamp: datetime
    reference_price: float
    execution_id: str = ""
    strategy: str = ""

    @property
    def signed_quantity(self) -> float:
        """Quantity with its sign: positive for buys, negative for sells."""
        return self.quantity if self.side is Side.BUY else -self.quantity


@attrs.frozen(slots=True)
class Position:
    """A snapshot of one symbol's holding. `quantity` is signed (negative = short); values are in cash.

    `realized_pnl` is None where the broker does not report it (Alpaca does not).
    """

    symbol: str
    quantity: float
    avg_price: float
    market_price: float
    market_value: float
    cost_basis: float
    realized_pnl: float | None
    unrealized_pnl: float


@attrs.frozen(slots=True)
class Account:
    """A snapshot of the account: cash, equity (cash + market value), buying power net of reservations.

    `long_market_value` and `short_market_value` (<= 0) are the positions' values. `realized_pnl`,
    `unrealized_pnl`, `fees` and `initial_balance` are None where the broker does not report them (Alpaca does not).
    """

    cash: float
    equity: float
    buying_power: float
    realized_pnl: float | None = None
    unrealized_pnl: float | None = None
    fees: float | None = None
    initial_balance: float | None = None
    long_market_value: float = 0.0
    short_market_value: float = 0.0
    #: What the positions require now (initial margin) and must keep (maintenance margin); None when unknown.
    initial_margin: float | None = None
    maintenance_margin: float | None = None
    #: Alpaca's day-trading fields: day trades in the last 5 business days, whether the account is flagged a
    #: pattern day trader, the equity and maintenance margin at the last close, and the day-trading buying
    #: power; None when the broker does not report them.
    daytrade_count: int | None = None
    pattern_day_trader: bool | None = None
    last_equity: float | None = None
    last_maintenance_margin: float | None = None
    daytrading_buying_power: float | None = None

    @property
    def gross_exposure(self) -> float:
        """The sum of the positions' absolute market values."""
        return self.long_market_value - self.short_market_value


@attrs.frozen(slots=True)
class OrderEvent:
    """Something that happened to an order; `fill` is set for fill and partial_fill events, with
    `position_quantity`, the symbol's signed position after it (Alpaca's ``position_qty``)."""

    type: EventType
    order: Order
    timestamp: datetime
    fill: Fill | None = None
    position_quantity: float | None = None


def _check_market(symbol: object, timestamp: object, prices: Mapping[str, object], kind: str) -> datetime:
    """Validate market data fields; return the timestamp in UTC. Raises `InvalidMarketData`."""
    if not isinstance(symbol, str) or not symbol:
        raise InvalidMarketData(f"{kind}: symbol must be a non-empty string, got {symbol!r}")
    if not isinstance(timestamp, datetime):
        raise InvalidMarketData(f"{kind} for {symbol}: timestamp must be a datetime, got {timestamp!r}")
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise InvalidMarketData(
            f"{kind} for {symbol}: timestamp {timestamp.isoformat()} is naive; give it a timezone (UTC)"
        )
    for name, value in prices.items():
        if not _is_number(value) or not math.isfinite(value) or value < 0:  # type: ignore[arg-type,operator]
            raise InvalidMarketData(
                f"{kind} for {symbol} at {timestamp.isoformat()}: {name} must be a finite number >= 0, got {value!r}"
            )
    return timestamp if timestamp.tzinfo is UTC else timestamp.astimezone(UTC)


class _MarketEvent:
    """What `Bar`, `Quote` and `Trade` share: POSIX `seconds` stored, the `timestamp` datetime built on first use,
    and immutability.

    Why not a frozen attrs class: a replay builds one of these per row, and the datetime alone cost as much as the
    rest of the bar. Storage is a plain slotted class (``_...Fields``); an event is built as one by plain slot
    stores and then given its public class, whose ``__setattr__`` refuses every change
    (`attrs.exceptions.FrozenInstanceError`, as before): the immutability promise is kept at run time, not only
    documented, since the broker keeps the latest event of each symbol and judges orders on it later. Reads stay
    plain slot reads (read-only properties would make every ``bar.close`` a call). The classes still answer
    `attrs.fields`, `attrs.evolve`, `attrs.asdict` and cattrs, through the public constructor, and compare, hash,
    print and pickle as the attrs classes did (equality on the `timestamp`, at its microsecond resolution).
    """

    __slots__ = ()
    #: The storage slots, in order (the public fields, `seconds` in place of `timestamp`, then the cache).
    _slots: tuple[str, ...]
    #: The public fields, in constructor order.
    _public: tuple[str, ...]
    symbol: str
    #: When the event's data became known, as POSIX seconds (the engine's clock compares these).
    seconds: float
    _timestamp: datetime | None

    def __setattr__(self, name: str, value: object) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    @property
    def timestamp(self) -> datetime:
        """When the event's data became known (timezone-aware, UTC), built from `seconds` on first use."""
        stamp = self._timestamp
        if stamp is None:
            stamp = _fromtimestamp(self.seconds, UTC)
            _object_setattr(self, "_timestamp", stamp)
        return stamp

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._public)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, _MarketEvent):
            return NotImplemented
        return self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash((self.__class__.__qualname__, *self._key()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._public)
        return f"{self.__class__.__qualname__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return _restore_market, (self.__class__, tuple(getattr(self, name) for name in self._slots))

    def __replace__(self, **changes: Any) -> Any:
        """`copy.replace` (Python 3.13): a changed copy, checked by the public constructor."""
        return attrs.evolve(cast(Any, self), **changes)


_fromtimestamp = datetime.fromtimestamp
_object_setattr = object.__setattr__


def _restore_market(cls: type, values: tuple[Any, ...]) -> Any:
    """Unpickle a `Bar`, `Quote` or `Trade` from its stored values (no check: they were checked when built)."""
    item: Any = object.__new__(cls)
    for name, value in zip(cls._slots, values, strict=True):  # type: ignore[attr-defined]
        _object_setattr(item, name, value)
    return item


def _fill(item: object, names: tuple[str, ...], values: tuple[Any, ...]) -> None:
    """Store `values` in the slots `names` of a market event under construction: a subclass's (the classes
    themselves are filled as their writable storage, by plain stores)."""
    for name, value in zip(names, values, strict=True):
        _object_setattr(item, name, value)


def _answer_attrs(cls: type, fields: dict[str, tuple[type, object]]) -> None:
    """Let `attrs.fields`, `attrs.evolve`, `attrs.asdict` and cattrs see `cls` as the attrs class it was: its public
    fields (name: (type, default)), described by attrs itself and built through `cls`'s checked constructor."""
    shadow = attrs.make_class(
        cls.__name__,
        {
            name: attrs.field(type=kind) if default is attrs.NOTHING else attrs.field(type=kind, default=default)
            for name, (kind, default) in fields.items()
        },
        frozen=True,
        slots=True,
    )
    setattr(cls, "__attrs_attrs__", attrs.fields(shadow))  # noqa: B010 - a class mypy knows is not attrs


class _BarFields:
    """A `Bar`'s storage, writable: a bar is built as one, then made a `Bar` (`_MarketEvent` says why)."""

    __slots__ = ("_timestamp", "close", "high", "interval", "low", "open", "seconds", "symbol", "volume")
    symbol: str
    seconds: float
    open: float
    high: float
    low: float
    close: float
    volume: float
    interval: float
    _timestamp: datetime | None


class Bar(_MarketEvent, _BarFields):
    """An OHLCV bar; `timestamp` is when the bar's data became known, its end (timezone-aware, stored in UTC;
    `seconds` is the same moment as POSIX seconds, and the datetime is built from it on first use).

    `interval` is how many seconds the bar covers (0.0 when unknown): the bar began at ``timestamp -
    interval``, which the `bar` fill model uses so that an order is never priced from a bar that began before
    the order started working. Immutable (`_MarketEvent` says how); `Bar(...)` checks its values and raises
    `InvalidMarketData`; sources that checked a block of rows themselves build bars with `from_seconds`.
    """

    __slots__ = ()
    _slots = ("symbol", "seconds", "open", "high", "low", "close", "volume", "interval", "_timestamp")
    _public = ("symbol", "timestamp", "open", "high", "low", "close", "volume", "interval")
    __match_args__ = ("symbol", "timestamp", "open", "high", "low", "close", "volume", "interval")

    def __init__(
        self,
        symbol: str,
        timestamp: datetime,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 0.0,
        interval: float = 0.0,
    ) -> None:
        prices = {"open": open, "high": high, "low": low, "close": close, "volume": volume, "interval": interval}
        utc = _check_market(symbol, timestamp, prices, "bar")
        if low > high:
            raise InvalidMarketData(f"bar for {symbol}: low {low} is above high {high}")
        values = (symbol, utc.timestamp(), open, high, low, close, volume, interval, utc)
        if self.__class__ is Bar:
            _object_setattr(self, "__class__", _BarFields)
            self.symbol, self.seconds, self.open, self.high, self.low, self.close, self.volume = values[:7]
            self.interval, self._timestamp = values[7:]
            self.__class__ = Bar
        else:
            _fill(self, self._slots, values)

    @classmethod
    def from_seconds(
        cls,
        symbol: str,
        seconds: float,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 0.0,
        interval: float = 0.0,
    ) -> Bar:
        """A bar stamped `seconds` (POSIX), its values stored as given, not checked: for sources that checked
        them already (finite, >= 0, low <= high, a float time); the replay's hot path, ~5x cheaper than `Bar`."""
        bar = _BarFields()
        bar.symbol = symbol
        bar.seconds = seconds
        bar.open = open
        bar.high = high
        bar.low = low
        bar.close = close
        bar.volume = volume
        bar.interval = interval
        bar._timestamp = None
        bar.__class__ = cls
        return bar  # type: ignore[return-value]

    @property
    def price(self) -> float:
        """The last price this bar tells: its close."""
        return self.close

    @property
    def start(self) -> datetime:
        """When the bar began (its timestamp when the interval is unknown)."""
        return self.timestamp - timedelta(seconds=self.interval) if self.interval else self.timestamp


class _QuoteFields:
    """A `Quote`'s storage, writable (`_MarketEvent` says why)."""

    __slots__ = ("_timestamp", "ask", "ask_size", "bid", "bid_size", "seconds", "symbol")
    symbol: str
    seconds: float
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    _timestamp: datetime | None


class Quote(_MarketEvent, _QuoteFields):
    """A top-of-book quote (timezone-aware timestamp, stored in UTC; `seconds` as for `Bar`). Immutable; sources
    that checked their rows build quotes with `from_seconds`."""

    __slots__ = ()
    _slots = ("symbol", "seconds", "bid", "ask", "bid_size", "ask_size", "_timestamp")
    _public = ("symbol", "timestamp", "bid", "ask", "bid_size", "ask_size")
    __match_args__ = ("symbol", "timestamp", "bid", "ask", "bid_size", "ask_size")

    def __init__(
        self,
        symbol: str,
        timestamp: datetime,
        bid: float,
        ask: float,
        bid_size: float = 0.0,
        ask_size: float = 0.0,
    ) -> None:
        prices = {"bid": bid, "ask": ask, "bid_size": bid_size, "ask_size": ask_size}
        utc = _check_market(symbol, timestamp, prices, "quote")
        if bid > ask:
            raise InvalidMarketData(f"quote for {symbol}: bid {bid} is above ask {ask}")
        values = (symbol, utc.timestamp(), bid, ask, bid_size, ask_size, utc)
        if self.__class__ is Quote:
            _object_setattr(self, "__class__", _QuoteFields)
            self.symbol, self.seconds, self.bid, self.ask, self.bid_size, self.ask_size, self._timestamp = values
            self.__class__ = Quote
        else:
            _fill(self, self._slots, values)

    @classmethod
    def from_seconds(
        cls, symbol: str, seconds: float, bid: float, ask: float, bid_size: float = 0.0, ask_size: float = 0.0
    ) -> Quote:
        """A quote stamped `seconds` (POSIX), not checked (as `Bar.from_seconds`)."""
        quote = _QuoteFields()
        quote.symbol = symbol
        quote.seconds = seconds
        quote.bid = bid
        quote.ask = ask
        quote.bid_size = bid_size
        quote.ask_size = ask_size
        quote._timestamp = None
        quote.__class__ = cls
        return quote  # type: ignore[return-value]

    @property
    def price(self) -> float:
        """The last price this quote tells: the mid."""
        return (self.bid + self.ask) / 2.0


class _TradeFields:
    """A `Trade`'s storage, writable (`_MarketEvent` says why)."""

    __slots__ = ("_timestamp", "price", "seconds", "size", "symbol")
    symbol: str
    seconds: float
    price: float
    size: float
    _timestamp: datetime | None


class Trade(_MarketEvent, _TradeFields):
    """A print on the tape (timezone-aware timestamp, stored in UTC; `seconds` as for `Bar`). Immutable; sources
    that checked their rows build trades with `from_seconds`."""

    __slots__ = ()
    _slots = ("symbol", "seconds", "price", "size", "_timestamp")
    _public = ("symbol", "timestamp", "price", "size")
    __match_args__ = ("symbol", "timestamp", "price", "size")

    def __init__(self, symbol: str, timestamp: datetime, price: float, size: float = 0.0) -> None:
        utc = _check_market(symbol, timestamp, {"price": price, "size": size}, "trade")
        values = (symbol, utc.timestamp(), price, size, utc)
        if self.__class__ is Trade:
            _object_setattr(self, "__class__", _TradeFields)
            self.symbol, self.seconds, self.price, self.size, self._timestamp = values
            self.__class__ = Trade
        else:
            _fill(self, self._slots, values)

    @classmethod
    def from_seconds(cls, symbol: str, seconds: float, price: float, size: float = 0.0) -> Trade:
        """A trade stamped `seconds` (POSIX), not checked (as `Bar.from_seconds`)."""
        trade = _TradeFields()
        trade.symbol = symbol
        trade.seconds = seconds
        trade.price = price
        trade.size = size
        trade._timestamp = None
        trade.__class__ = cls
        return trade  # type: ignore[return-value]


def timed_bars(
    seconds: list[float],
    symbols: list[str],
    opens: list[float],
    highs: list[float],
    lows: list[float],
    closes: list[float],
    volumes: list[float],
    intervals: float | list[float],
) -> list[tuple[float, Bar]]:
    """``(seconds, bar)`` pairs from columns (one interval for all, or one per bar), as `Bar.from_seconds` would
    build them one by one, not checked: a columnar source's block, the replay's hot loop (no call per bar)."""
    pairs: list[tuple[float, Bar]] = []
    append = pairs.append
    fields, cls = _BarFields, Bar
    each = intervals if isinstance(intervals, list) else itertools.repeat(intervals)
    for t, s, o, h, lo, c, v, i in zip(seconds, symbols, opens, highs, lows, closes, volumes, each, strict=False):
        bar = fields()
        bar.symbol = s
        bar.seconds = t
        bar.open = o
        bar.high = h
        bar.low = lo
        bar.close = c
        bar.volume = v
        bar.interval = i
        bar._timestamp = None
        bar.__class__ = cls
        append((t, bar))  # type: ignore[arg-type]
    return pairs


_NO_DEFAULT: Any = attrs.NOTHING
_answer_attrs(
    Bar,
    {
        "symbol": (str, _NO_DEFAULT),
        "timestamp": (datetime, _NO_DEFAULT),
        **{name: (float, _NO_DEFAULT) for name in ("open", "high", "low", "close")},
        "volume": (float, 0.0),
        "interval": (float, 0.0),
    },
)
_answer_attrs(
    Quote,
    {
        "symbol": (str, _NO_DEFAULT),
        "timestamp": (datetime, _NO_DEFAULT),
        "bid": (float, _NO_DEFAULT),
        "ask": (float, _NO_DEFAULT),
        "bid_size": (float, 0.0),
        "ask_size": (float, 0.0),
    },
)
_answer_attrs(
    Trade,
    {
        "symbol": (str, _NO_DEFAULT),
        "timestamp": (datetime, _NO_DEFAULT),
        "price": (float, _NO_DEFAULT),
        "size": (float, 0.0),
    },
)


MarketData = Bar | Quote | Trade


_M = TypeVar("_M")


def unchecked_constructor(cls: Any, *, skips_checks: bool = False) -> Any:
    """A constructor that stores each value as given, for readers that validated the values themselves (the hot
    path): straight-line code generated from the class's fields, with their defaults.

    A class whose fields have validators or which checks itself after init (``__attrs_post_init__``) is refused
    unless the caller says the constructor is meant to skip those checks (`skips_checks`); factory defaults and
    converters are always refused (`TypeError`), since the generated code would store them unconverted."""
    fields = plain_fields(cls, purpose="constructor")
    checked = [field.name for field in fields if field.validator is not None]
    if hasattr(cls, "__attrs_post_init__"):
        checked.append("__attrs_post_init__")
    if checked and not skips_checks:
        raise TypeError(
            f"cannot generate an unchecked constructor for {cls.__name__}: it checks {', '.join(checked)}; "
            "pass skips_checks=True if skipping them is the point"
        )
    # Filled as its writable twin by plain stores, then made a `cls` (`writable_twin` says why).
    namespace: dict[str, Any] = {"cls": cls, "twin": writable_twin(cls)}
    parameters, lines = [], []
    for index, field in enumerate(fields):
        if field.default is attrs.NOTHING:
            parameters.append(field.name)
        else:
            namespace[f"default{index}"] = field.default
            parameters.append(f"{field.name}=default{index}")
        lines.append(f"    item.{field.name} = {field.name}")
    lines.append("    item.__class__ = cls")
    source = f"def make({', '.join(parameters)}):\n    item = twin()\n" + "\n".join(lines) + "\n    return item\n"
    return compile_function(source, "make", namespace, purpose=f"unchecked {cls.__name__}")


def _fast_fields(
    cls: Any,
    purpose: str,
    namespace: dict[str, Any],
    stores: Mapping[str, str] | None,
    target: str,
    *,
    kept: bool,
    fixed: Mapping[str, object] | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """For a generated constructor of `cls`: its parameters (defaults put in `namespace`), a plain store of each
    field into `target` (converted, unless the value is already of the class its converter keeps, or, when `kept`,
    as it is: the caller converted every value such a converter would not keep; `stores` replaces an argument by
    an expression), and for each converter that keeps values of a class the lines that convert any other value.
    `fixed` gives fields that are no parameter but always the value given (put in `namespace` under the field's
    name; one a converter would not keep as it is is refused). Raises `TypeError` for a field the generated code
    does not honour (a validator, a keyword-only, aliased or non-init field, a factory default)."""
    parameters, lines, keeping = [], [], []
    for index, field in enumerate(attrs.fields(cls)):
        special = field.validator is not None or field.kw_only or not field.init or field.alias != field.name
        if special or isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            raise TypeError(f"cannot generate a {purpose} for {cls.__name__}: field {field.name!r} is special")
        name = field.name
        if fixed is not None and name in fixed:
            value = namespace[name] = fixed[name]
            if field.converter is not None and value.__class__ is not _CONVERTER_KEEPS.get(field.converter):
                raise TypeError(f"cannot generate a {purpose} for {cls.__name__}: {name}={value!r} is converted")
            lines.append(f"{target}.{name} = {name}")
            continue
        if field.default is attrs.NOTHING:
            parameters.append(name)
        else:
            namespace[f"default{index}"] = field.default
            parameters.append(f"{name}=default{index}")
        value = name if stores is None else stores.get(name, name)
        if field.converter is not None:
            namespace[f"convert{index}"] = field.converter
            value = f"convert{index}({name})"
            keeps = _CONVERTER_KEEPS.get(field.converter)
            if keeps is not None:
                namespace[f"keeps{index}"] = keeps
                value = name if kept else f"{name} if {name}.__class__ is keeps{index} else {value}"
                namespace[f"members{index}"] = keeps._value2member_map_  # type: ignore[attr-defined]
                keeping.append(f"if {name}.__class__ is not keeps{index}:  # a member's value: a dict lookup")
                keeping.append(f"    found = members{index}.get({name}) if {name}.__class__ is str else None")
                keeping.append(f"    {name} = convert{index}({name}) if found is None else found")
        lines.append(f"{target}.{name} = {value}")
    return parameters, lines, keeping


def install_fast_init(
    cls: Any,
    *,
    stores: Mapping[str, str] | None = None,
    checked: str | None = None,
    names: Mapping[str, Any] | None = None,
) -> None:
    """Give the frozen slotted class `cls` an ``__init__`` that does what attrs' does (the same parameters and
    defaults, the converters, then ``__attrs_post_init__``) but fills the object by plain slot stores
    (`writable_twin` says why): for a class built once per order from user code, such as `OrderRequest`.

    `stores` gives, by field, an expression of the arguments stored instead of the argument itself (what
    ``__attrs_post_init__`` would store in its place), and `checked` an expression of the arguments true only
    when ``__attrs_post_init__`` would neither change nor refuse anything: then it is not called. `names` are
    the globals those expressions read. A subclass of `cls` is built by attrs' own ``__init__``. Raises
    `TypeError` for a field the generated code does not honour (a validator, a keyword-only, aliased or
    non-init field, a factory default)."""
    namespace: dict[str, Any] = {
        "cls": cls,
        "twin": writable_twin(cls),
        "attrs_init": cls.__init__,
        "setattr_": object.__setattr__,
        **(names or {}),
    }
    parameters, stored, _ = _fast_fields(cls, "fast __init__", namespace, stores, "self", kept=False)
    arguments = ", ".join(field.name for field in attrs.fields(cls))
    lines = [
        f"def __init__(self, {', '.join(parameters)}):",
        "    if self.__class__ is not cls:",
        f"        attrs_init(self, {arguments})",
        "        return",
        "    setattr_(self, '__class__', twin)  # (a frozen class refuses a plain store, even of __class__)",
        "    try:",
        *(f"        {line}" for line in stored),
        "    finally:",
        "        self.__class__ = cls",
    ]
    if hasattr(cls, "__attrs_post_init__"):
        if checked is not None:
            lines.append(f"    if not ({checked}):")
            lines.append("        self.__attrs_post_init__()")
        else:
            lines.append("    self.__attrs_post_init__()")
    source = "\n".join(lines) + "\n"
    init = compile_function(source, "__init__", namespace, purpose=f"fast __init__ {cls.__name__}")
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init


def fast_constructor(
    cls: Any,
    *,
    stores: Mapping[str, str] | None = None,
    checked: str,
    names: Mapping[str, Any] | None = None,
    fixed: Mapping[str, object] | None = None,
) -> Callable[..., Any]:
    """A function taking `cls`'s arguments that returns what ``cls(...)`` returns: the arguments an enum converter
    would change converted first, in field order (``"day"`` to `TimeInForce.DAY`; a bad one raises as the class
    call would), then, when `checked` (an expression of the arguments, true only when ``__attrs_post_init__``
    would neither change nor refuse anything) holds, an object filled by plain slot stores without calling the
    class (a class call with a Python ``__init__`` goes through ``type.__call__`` and a tuple and a dict of the
    arguments); else ``cls(...)`` itself. `stores` and `names` are `install_fast_init`'s; `fixed` gives fields
    the function takes no argument for, always the value given (`checked` may count on them)."""
    namespace: dict[str, Any] = {"cls": cls, "twin": writable_twin(cls), **(names or {})}
    parameters, stored, keeping = _fast_fields(
        cls, "fast constructor", namespace, stores, "item", kept=True, fixed=fixed
    )
    arguments = ", ".join(field.name for field in attrs.fields(cls))
    lines = [
        f"def build({', '.join(parameters)}):",
        *(f"    {line}" for line in keeping),
        f"    if {checked}:",
        "        item = twin()",
        *(f"        {line}" for line in stored),
        "        item.__class__ = cls",
        "        return item",
        f"    return cls({arguments})",
    ]
    source = "\n".join(lines) + "\n"
    build = compile_function(source, "build", namespace, purpose=f"fast constructor {cls.__name__}")
    build.__qualname__ = f"{cls.__qualname__}.__init__"  # a wrong argument is told as the class call tells it
    return build


# Built from user code once per order (a request), per `get_position` and per `get_account` (snapshots): the
# frozen classes' attrs ``__init__`` sets each field through ``object.__setattr__`` (~1k instructions a field).
for _cls in (Position, Account):
    install_fast_init(_cls)

#: The common valid request, told from its arguments (`OrderRequest.__attrs_post_init__` would neither change nor
#: refuse anything; it checks them in the same terms): an ASCII symbol, a whole quantity (an integer is stored as
#: its float, as the check would store it), a market order without prices or a limit order with a limit price,
#: no trail, notional, legs or order class, an ASCII client order id (or none), an optional reference price.
_REQUEST_CHECKED = (
    "symbol.__class__ is str and symbol.isascii() and symbol and not symbol.isspace()"
    " and (quantity.__class__ is float and 0.0 < quantity < inf and quantity.is_integer()"
    " or quantity.__class__ is int and 0 < quantity < exact)"
    " and (type is market and limit_price is None or type is limit and limit_price.__class__ is float"
    " and 0.0 < limit_price < inf)"
    " and stop_price is None and trail_price is None and trail_percent is None and notional is None"
    " and (reference_price is None or reference_price.__class__ is float and 0.0 < reference_price < inf)"
    " and (client_order_id is None or client_order_id.__class__ is str and client_order_id.isascii()"
    " and 0 < len(client_order_id) <= longest_id)"
    " and order_class is simple and take_profit is None and stop_loss is None and extended_hours.__class__ is bool"
)
_REQUEST_STORES = {"quantity": "float(quantity) if quantity.__class__ is int and 0 < quantity < exact else quantity"}
_REQUEST_NAMES = {
    "inf": math.inf,
    "exact": _EXACT_INTEGERS,
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "simple": OrderClass.SIMPLE,
    "longest_id": MAX_CLIENT_ORDER_ID,
}
install_fast_init(OrderRequest, stores=_REQUEST_STORES, checked=_REQUEST_CHECKED, names=_REQUEST_NAMES)
#: ``OrderRequest(...)`` as a function, the same request built without the class call for the common valid one
#: (`fast_constructor`): `Broker.buy` and `sell` build theirs so, one for every order a strategy sends.
order_request: Callable[..., OrderRequest] = fast_constructor(
    OrderRequest, stores=_REQUEST_STORES, checked=_REQUEST_CHECKED, names=_REQUEST_NAMES
)
#: `_REQUEST_CHECKED` for a market day order with no other field given: its symbol, quantity and client order id.
_MARKET_REQUEST_CHECKED = (
    "symbol.__class__ is str and symbol.isascii() and symbol and not symbol.isspace()"
    " and (quantity.__class__ is float and 0.0 < quantity < inf and quantity.is_integer()"
    " or quantity.__class__ is int and 0 < quantity < exact)"
    " and (client_order_id is None or client_order_id.__class__ is str and client_order_id.isascii()"
    " and 0 < len(client_order_id) <= longest_id)"
)
#: ``market_order_request(symbol, side, quantity, client_order_id=None)``: ``OrderRequest(symbol, side, quantity,
#: client_order_id=client_order_id)``, a market day order, as `order_request` builds it but with only these four
#: to check: `Broker.buy` and `sell` called with no other field (a strategy's usual order) build theirs so.
market_order_request: Callable[..., OrderRequest] = fast_constructor(
    OrderRequest,
    stores=_REQUEST_STORES,
    checked=_MARKET_REQUEST_CHECKED,
    names=_REQUEST_NAMES,
    fixed={
        field.name: field.default
        for field in attrs.fields(OrderRequest)
        if field.name not in ("symbol", "side", "quantity", "client_order_id")
    },
)


def unchecked_bar(
    symbol: str,
    timestamp: datetime,
    open: float,
    high: float,
    low: float,
    close: float,
    volume: float = 0.0,
    interval: float = 0.0,
) -> Bar:
    """A `Bar` stamped with the aware UTC datetime `timestamp`, not checked (`Bar.from_seconds` is the cheaper
    one when the time is at hand as POSIX seconds): for code that checked the values already."""
    bar = Bar.from_seconds(symbol, timestamp.timestamp(), open, high, low, close, volume, interval)
    _object_setattr(bar, "_timestamp", timestamp)
    return bar


def unchecked_quote(
    symbol: str, timestamp: datetime, bid: float, ask: float, bid_size: float = 0.0, ask_size: float = 0.0
) -> Quote:
    """A `Quote` stamped with the aware UTC datetime `timestamp`, not checked (as `unchecked_bar`)."""
    quote = Quote.from_seconds(symbol, timestamp.timestamp(), bid, ask, bid_size, ask_size)
    _object_setattr(quote, "_timestamp", timestamp)
    return quote


def unchecked_trade(symbol: str, timestamp: datetime, price: float, size: float = 0.0) -> Trade:
    """A `Trade` stamped with the aware UTC datetime `timestamp`, not checked (as `unchecked_bar`)."""
    trade = Trade.from_seconds(symbol, timestamp.timestamp(), price, size)
    _object_setattr(trade, "_timestamp", timestamp)
    return trade


#: An `Order` built field by field like the others (Order has no validators; this only skips attrs' slower
#: generic setattr): the order path builds one per order.
unchecked_order: Any = unchecked_constructor(Order)
#: A `Fill` likewise, built twice per execution.
unchecked_fill: Any = unchecked_constructor(Fill)
#: An `OrderEvent` likewise, built for every change of an order.
unchecked_event: Any = unchecked_constructor(OrderEvent)
