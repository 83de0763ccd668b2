"""Type stub for the compiled order book core (src/exchange/_book.pyx); rules in docs/book.md.

The enums are the ``cpdef enum``s of _book.pxd (Cython makes them ``IntEnum`` subclasses);
tests/test_book_boundary.py checks that this stub lists the same members and every public
method of ``OrderBook``. The C API for Cython callers is declared in _book.pxd.
"""
from enum import IntEnum
from typing import SupportsIndex

import numpy as np
import numpy.typing as npt

class Side(IntEnum):
    BUY = 0
    SELL = 1

class TIF(IntEnum):
    GTC = 0
    IOC = 1
    FOK = 2
    POST_ONLY = 3

class Action(IntEnum):
    NEW = 0
    CANCEL = 1
    MARKET = 2
    MODIFY = 3

class STP(IntEnum):
    NONE = 0
    CANCEL_RESTING = 1
    CANCEL_INCOMING = 2

class Reject(IntEnum):
    INVALID_ACTION = -1
    INVALID_SIDE = -2
    INVALID_QTY = -3
    INVALID_PRICE = -4
    INVALID_TIF = -5
    DUPLICATE_ID = -6
    UNKNOWN_ID = -7
    FOK_NOT_FILLED = -8
    POST_ONLY_WOULD_CROSS = -9
    LEVEL_OVERFLOW = -10

MESSAGE_DTYPE: np.dtype
TRADE_DTYPE: np.dtype
STP_CANCEL_DTYPE: np.dtype
ORDER_DTYPE: np.dtype
CLEARED_DTYPE: np.dtype

class OrderBook:
    def __init__(self, stp: STP | int = ...) -> None: ...
    @property
    def stp(self) -> STP: ...
    @property
    def trade_seq(self) -> int: ...
    @trade_seq.setter
    def trade_seq(self, value: int) -> None: ...
    def submit(
        self,
        order_id: SupportsIndex,
        side: Side | int,
        price: SupportsIndex,
        qty: SupportsIndex,
        tif: TIF | int = ...,
        owner: SupportsIndex = ...,
    ) -> int: ...
    def market(
        self,
        order_id: SupportsIndex,
        side: Side | int,
        qty: SupportsIndex,
        owner: SupportsIndex = ...,
    ) -> int: ...
    def cancel(self, order_id: SupportsIndex) -> int: ...
    def modify(
        self, order_id: SupportsIndex, qty: SupportsIndex, price: SupportsIndex | None = ...
    ) -> int: ...
    def process(self, messages: npt.NDArray[np.void]) -> npt.NDArray[np.int64]: ...
    def apply(
        self,
        action: Action | int,
        order_id: SupportsIndex,
        side: Side | int = ...,
        price: SupportsIndex = ...,
        qty: SupportsIndex = ...,
        tif: TIF | int = ...,
        owner: SupportsIndex = ...,
    ) -> tuple[int, int, int, int]:
        """``(executed, leaves, removed, code)`` of one message, with ``process`` semantics."""
    def drain_trades(self) -> npt.NDArray[np.void]: ...
    def drain_stp_cancels(self) -> npt.NDArray[np.void]: ...
    def best_bid(self) -> tuple[int, int] | None: ...
    def best_ask(self) -> tuple[int, int] | None: ...
    def depth(
        self, levels: SupportsIndex
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
    def orders(self, side: Side | int) -> npt.NDArray[np.void]: ...
    def order(self, order_id: SupportsIndex) -> tuple[int, int, int, int]: ...
    def clear(self) -> npt.NDArray[np.void]: ...
    def __len__(self) -> int: ...
    def __contains__(self, order_id: object) -> bool: ...
