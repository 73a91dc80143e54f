"""Enum members as module globals, for the order path: on CPython 3.11 reading a member off its Enum class
(`OrderStatus.NEW`) goes through `EnumType.__getattr__` (~900 instructions a read), while a module global is a cached
load. The hot modules import these names (`from broker_sim._members import _S_NEW`), which binds them as their own
globals: one definition, the same speed. They are `Final`, and the module is compiled in the compiled build
(`make compiled`): a compiled module then reads each as a C static, not from its globals' dict."""

from __future__ import annotations

from typing import Final

from broker_sim.models import FINAL_STATUSES, EventType, OrderClass, OrderStatus, OrderType, Side, TimeInForce

_S_ACCEPTED: Final = OrderStatus.ACCEPTED
_S_CANCELED: Final = OrderStatus.CANCELED
_S_EXPIRED: Final = OrderStatus.EXPIRED
_S_FILLED: Final = OrderStatus.FILLED
_S_HELD: Final = OrderStatus.HELD
_S_NEW: Final = OrderStatus.NEW
_S_PARTIALLY_FILLED: Final = OrderStatus.PARTIALLY_FILLED
_S_PENDING_CANCEL: Final = OrderStatus.PENDING_CANCEL
_S_PENDING_NEW: Final = OrderStatus.PENDING_NEW
_S_PENDING_REPLACE: Final = OrderStatus.PENDING_REPLACE
_S_REJECTED: Final = OrderStatus.REJECTED
_S_REPLACED: Final = OrderStatus.REPLACED
_T_LIMIT: Final = OrderType.LIMIT
_T_MARKET: Final = OrderType.MARKET
_T_STOP: Final = OrderType.STOP
_T_STOP_LIMIT: Final = OrderType.STOP_LIMIT
_T_TRAILING_STOP: Final = OrderType.TRAILING_STOP
_TIF_CLS: Final = TimeInForce.CLS
_TIF_DAY: Final = TimeInForce.DAY
_TIF_FOK: Final = TimeInForce.FOK
_TIF_GTC: Final = TimeInForce.GTC
_TIF_IOC: Final = TimeInForce.IOC
_TIF_OPG: Final = TimeInForce.OPG
_C_BRACKET: Final = OrderClass.BRACKET
_C_OCO: Final = OrderClass.OCO
_C_OTO: Final = OrderClass.OTO
_C_SIMPLE: Final = OrderClass.SIMPLE
_SIDE_BUY: Final = Side.BUY
_SIDE_SELL: Final = Side.SELL
_E_ACCEPTED: Final = EventType.ACCEPTED
_E_CANCELED: Final = EventType.CANCELED
_E_EXPIRED: Final = EventType.EXPIRED
_E_FILL: Final = EventType.FILL
_E_MARGIN_CALL: Final = EventType.MARGIN_CALL
_E_NEW: Final = EventType.NEW
_E_ORDER_CANCEL_REJECTED: Final = EventType.ORDER_CANCEL_REJECTED
_E_ORDER_REPLACE_REJECTED: Final = EventType.ORDER_REPLACE_REJECTED
_E_PARTIAL_FILL: Final = EventType.PARTIAL_FILL
_E_PENDING_CANCEL: Final = EventType.PENDING_CANCEL
_E_PENDING_NEW: Final = EventType.PENDING_NEW
_E_PENDING_REPLACE: Final = EventType.PENDING_REPLACE
_E_REJECTED: Final = EventType.REJECTED
_E_REPLACED: Final = EventType.REPLACED

#: The values of the final statuses: a status tells it is final by its value's cached str hash (``status._value_ in
#: _FINAL_VALUES``), not by hashing the member (the Python `Enum.__hash__` of 3.11). The run's records and the
#: strategies' books read it.
_FINAL_VALUES: Final = frozenset(status.value for status in FINAL_STATUSES)
