"""What the venue keeps per order beside the book: its market, its fills so far, its client id.

The book knows an order's side, price, resting quantity and owner; everything else an order
event needs lives here. Nothing here is a Python object per order: the market of order ``i`` is
``market_of[i]`` in a compact array (ids are assigned 1, 2, 3, ...), and only partly filled
resting orders and orders with a client id have dict entries. O(1) per call.
"""
from __future__ import annotations

from array import array
from collections.abc import Sequence

from exchange.venue.fills import MAKER_ID, MAKER_LEAVES, QTY

__all__ = ["OrderIndex"]


class OrderIndex:
    """Per-order state of every order the exchange has accepted."""

    __slots__ = ("market_of", "cum", "client_ids")

    def __init__(self) -> None:
        self.market_of = array("I", [0])  # order id -> market index; ids start at 1
        self.cum: dict[int, int] = {}  # lots filled so far, of resting orders that have fills
        self.client_ids: dict[int, str] = {}

    @property
    def next_id(self) -> int:
        """The id the next accepted order gets."""
        return len(self.market_of)

    def accept(self, market_index: int, client_order_id: str | None) -> int:
        """Give the next order id to an order of market ``market_index``; return it."""
        order_id = len(self.market_of)
        self.market_of.append(market_index)
        if client_order_id is not None:
            self.client_ids[order_id] = client_order_id
        return order_id

    def market(self, order_id: int) -> int:
        """The market index of ``order_id``, -1 for an id never given out."""
        return self.market_of[order_id] if 0 < order_id < len(self.market_of) else -1

    def filled(self, order_id: int, lots: int, leaves: int) -> int:
        """Record ``lots`` more filled; ``leaves`` lots still rest (0: the order is done).
        Returns the lots filled so far."""
        cum = self.cum.get(order_id, 0) + lots
        if leaves:
            self.cum[order_id] = cum
        else:
            self.done(order_id)
        return cum

    def makers_filled(self, rows: Sequence[tuple]) -> None:
        """The makers of one order's fills (book trade rows): only the last can be left
        resting, the others are done. O(fills)."""
        if self.cum or self.client_ids:
            for row in rows[:-1]:
                self.done(row[MAKER_ID])
        last = rows[-1]
        self.filled(last[MAKER_ID], last[QTY], last[MAKER_LEAVES])

    def done(self, order_id: int) -> int:
        """The order left the book: forget it; return the lots it had filled."""
        if self.client_ids:
            self.client_ids.pop(order_id, None)
        return self.cum.pop(order_id, 0) if self.cum else 0

    def clear(self) -> None:
        """Every resting order is gone (a session closed)."""
        self.cum.clear()
        self.client_ids.clear()
