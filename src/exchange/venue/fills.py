"""A fill as the venue's stages read it: a book trade row as a tuple (``.tolist()``), with the
positions of its fields. The row carries both sides' remaining quantity (``taker_leaves``,
``maker_leaves``), so no stage asks the book again who is done."""
from __future__ import annotations

from exchange._book import TRADE_DTYPE

_FIELDS = {name: i for i, name in enumerate(TRADE_DTYPE.names or ())}

__all__ = ["TAKER_ID", "MAKER_ID", "TAKER_OWNER", "MAKER_OWNER", "TAKER_SIDE", "PRICE", "QTY",
           "TAKER_LEAVES", "MAKER_LEAVES"]

TAKER_ID, MAKER_ID = _FIELDS["taker_id"], _FIELDS["maker_id"]
TAKER_OWNER, MAKER_OWNER = _FIELDS["taker_owner"], _FIELDS["maker_owner"]
TAKER_SIDE, PRICE, QTY = _FIELDS["taker_side"], _FIELDS["price"], _FIELDS["qty"]
TAKER_LEAVES, MAKER_LEAVES = _FIELDS["taker_leaves"], _FIELDS["maker_leaves"]
