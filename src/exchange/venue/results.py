"""What the caller of ``submit``, ``market``, ``cancel`` or ``modify`` is told."""
from __future__ import annotations

from typing import Any

import numpy as np

from exchange.venue.events import OrdStatus

__all__ = ["OrderResult"]


class OrderResult:
    """The outcome of one call for one order.

    ``order_id``; ``status``, the FIX OrdStatus after the call; ``executed_qty``, the lots
    filled so far (FIX CumQty); ``leaves_qty``, the lots still resting. :meth:`trades` gives
    the trade records this call made (a numpy array of ``TRADE_RECORD_DTYPE``, built on the
    first call) and ``trade_ids`` their ids.
    """

    __slots__ = ("order_id", "status", "executed_qty", "leaves_qty", "_capture", "_first",
                 "_count", "_trades")

    def __init__(self, order_id: int, status: OrdStatus, executed_qty: int, leaves_qty: int,
                 capture: Any = None, first: int = 0, count: int = 0) -> None:
        self.order_id, self.status = order_id, status
        self.executed_qty, self.leaves_qty = executed_qty, leaves_qty
        self._capture, self._first, self._count = capture, first, count
        self._trades: np.ndarray | None = None

    def trades(self) -> np.ndarray:
        """The trade records this call made, oldest first (empty if none). O(trades)."""
        if self._trades is None:
            if self._capture is None or self._count == 0:
                from exchange.records import empty_trades

                self._trades = empty_trades(0)
            else:
                self._trades = self._capture.records(self._first, self._count)
        return self._trades

    @property
    def trade_ids(self) -> range:
        """Ids of the trades this call made (consecutive)."""
        return range(self._first, self._first + self._count)

    def __repr__(self) -> str:
        return (f"OrderResult(order_id={self.order_id}, status={self.status.name}, "
                f"executed_qty={self.executed_qty}, leaves_qty={self.leaves_qty}, "
                f"trades={self._count})")
