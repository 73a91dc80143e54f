"""Enum members as module globals, for the order path: on CPython 3.11 reading a member off its Enum class
(`OrderStatus.NEW`) goes through `EnumType.__getattr__` (~900 instructions a read), while a module global is a cached
load. The hot modules import these names (`from broker_sim._members import _S_NEW`), which binds them as their own
globals: one definition, the same speed."""

from __future__ import annotations

from broker_sim.models import EventType, OrderClass, OrderStatus, OrderType, Side, TimeInForce

_S_ACCEPTED = OrderStatus.ACCEPTED
_S_CANCELED = OrderStatus.CANCELED
_S_EXPIRED = OrderStatus.EXPIRED
_S_FILLED = OrderStatus.FILLED
_S_HELD = OrderStatus.HELD
_S_NEW = OrderStatus.NEW
_S_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
_S_PENDING_CANCEL = OrderStatus.PENDING_CANCEL
_S_PENDING_NEW = OrderStatus.PENDING_NEW
_S_PENDING_REPLACE = OrderStatus.PENDING_REPLACE
_S_REJECTED = OrderStatus.REJECTED
_S_REPLACED = OrderStatus.REPLACED
_T_LIMIT = OrderType.LIMIT
_T_MARKET = OrderType.MARKET
_T_STOP = OrderType.STOP
_T_STOP_LIMIT = OrderType.STOP_LIMIT
_T_TRAILING_STOP = OrderType.TRAILING_STOP
_TIF_CLS = TimeInForce.CLS
_TIF_DAY = TimeInForce.DAY
_TIF_FOK = TimeInForce.FOK
_TIF_GTC = TimeInForce.GTC
_TIF_IOC = TimeInForce.IOC
_TIF_OPG = TimeInForce.OPG
_C_BRACKET = OrderClass.BRACKET
_C_OCO = OrderClass.OCO
_C_OTO = OrderClass.OTO
_C_SIMPLE = OrderClass.SIMPLE
_SIDE_BUY = Side.BUY
_SIDE_SELL = Side.SELL
_E_ACCEPTED = EventType.ACCEPTED
_E_CANCELED = EventType.CANCELED
_E_EXPIRED = EventType.EXPIRED
_E_FILL = EventType.FILL
_E_MARGIN_CALL = EventType.MARGIN_CALL
_E_NEW = EventType.NEW
_E_ORDER_CANCEL_REJECTED = EventType.ORDER_CANCEL_REJECTED
_E_ORDER_REPLACE_REJECTED = EventType.ORDER_REPLACE_REJECTED
_E_PARTIAL_FILL = EventType.PARTIAL_FILL
_E_PENDING_CANCEL = EventType.PENDING_CANCEL
_E_PENDING_NEW = EventType.PENDING_NEW
_E_PENDING_REPLACE = EventType.PENDING_REPLACE
_E_REJECTED = EventType.REJECTED
_E_REPLACED = EventType.REPLACED
