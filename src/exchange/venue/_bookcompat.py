"""TEMPORARY: the book's single-call variant and leaves-carrying trade rows, emulated on today's
book API until the book itself provides them (issue 8's book boundary). To be deleted."""
from __future__ import annotations

from typing import Any

import numpy as np

from exchange._book import TRADE_DTYPE, Reject

NAMES = TRADE_DTYPE.names + ("taker_leaves", "maker_leaves")
FILL_FIELDS = {name: i for i, name in enumerate(NAMES)}


def apply(book: Any, action: int, order_id: int, side: int = 0, price: int = 0, qty: int = 0,
          tif: int = 0, owner: int = 0) -> tuple[int, int, int]:
    """(executed, leaves, code) of one message."""
    if action == 0:
        try:
            done = book.submit(order_id, side, price, qty, tif, owner)
        except ValueError:
            return 0, 0, int(Reject.LEVEL_OVERFLOW)
        leaves = book.order(order_id)[2] if order_id in book else 0
        if done == 0 and leaves == 0 and tif in (2, 3):
            return 0, 0, int(Reject.FOK_NOT_FILLED if tif == 2 else Reject.POST_ONLY_WOULD_CROSS)
        return done, leaves, 0
    if action == 2:
        return book.market(order_id, side, qty, owner), 0, 0
    if action == 3:
        try:
            done = book.modify(order_id, qty, price or None)
        except ValueError:
            return 0, 0, int(Reject.LEVEL_OVERFLOW)
        leaves = book.order(order_id)[2] if order_id in book else 0
        return done, leaves, 0
    raise ValueError(action)


def rows(book: Any, fills: np.ndarray, taker_qty: int) -> list[tuple]:
    """The drained ``fills`` as tuples with taker_leaves and maker_leaves appended."""
    out = []
    done = 0
    for row in fills.tolist():
        done += row[FILL_FIELDS["qty"]]
        maker = row[FILL_FIELDS["maker_id"]]
        m_leaves = book.order(maker)[2] if maker in book else 0
        out.append((*row, taker_qty - done, m_leaves))
    return out
