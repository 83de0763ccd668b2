"""``Exchange.process`` without the compiled batch loop: each row through the single calls.

Used when events must be built (a subscriber listens) or client order ids need their upkeep;
the results are the same as the compiled loop's, row for row, which tests check. O(rows) Python
calls.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from exchange.venue._engine import ORDER_DTYPE, RESULT_DTYPE
from exchange.venue.codes import NotOrderOwner, OrderRejected, RejectReason

__all__ = ["check_orders", "process_one_by_one"]

_NEW, _CANCEL, _MARKET, _MODIFY = 0, 1, 2, 3


def check_orders(orders: Any) -> None:
    """TypeError unless ``orders`` is a one-dimensional numpy array of ORDER_DTYPE."""
    if not isinstance(orders, np.ndarray) or orders.dtype != ORDER_DTYPE or orders.ndim != 1:
        raise TypeError(f"orders must be a one-dimensional numpy array of ORDER_DTYPE, got "
                        f"{getattr(orders, 'dtype', type(orders).__name__)}")


def process_one_by_one(exchange: Any, orders: np.ndarray) -> np.ndarray:
    """Apply ``orders`` (ORDER_DTYPE, already checked by :func:`check_orders`) through
    ``exchange``'s single calls; RESULT_DTYPE rows."""
    results = np.zeros(len(orders), dtype=RESULT_DTYPE)
    symbols = [market.symbol for market in exchange._markets]
    for i, row in enumerate(orders.tolist()):
        action, order_id, member, instrument, side, px, lots, tif = row
        try:
            result = _one(exchange, symbols, action, order_id, member, instrument, side, px,
                          lots, tif)
        except (OrderRejected, NotOrderOwner) as exc:
            results[i] = (order_id if action in (_CANCEL, _MODIFY) else 0, 0, 0, exc.reason.code)
        else:
            results[i] = (result.order_id, result.executed_qty, result.leaves_qty, 0)
    return results


def _one(exchange: Any, symbols: list[str], action: int, order_id: int, member: int,
         instrument: int, side: int, px: int, lots: int, tif: int) -> Any:
    if action not in (_NEW, _CANCEL, _MARKET, _MODIFY):
        _refuse(exchange, RejectReason.INVALID_ACTION, f"action {action} is not 0..3")
    if action == _CANCEL:
        return exchange.cancel(member, order_id)
    if action == _MODIFY:
        return exchange.modify(member, order_id, lots=lots, price_ticks=px or None)
    if order_id != 0:
        _refuse(exchange, RejectReason.INVALID_ORDER_ID,
                f"order_id {order_id}: the exchange gives out the ids of new orders (pass 0)")
    symbol = symbols[instrument] if 0 <= instrument < len(symbols) else instrument
    if action == _MARKET:
        return exchange.market(member, symbol, side, lots=lots)
    return exchange.submit(member, symbol, side, tif=tif, price_ticks=px, lots=lots)


def _refuse(exchange: Any, reason: RejectReason, message: str) -> None:
    exchange._reporter.rejections[reason] += 1
    raise OrderRejected(reason, message)
