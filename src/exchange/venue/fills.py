"""A fill as the venue's stages read it: a book trade row as a tuple (``.tolist()``), with the
positions of its fields. The row carries both sides' remaining quantity (``taker_leaves``,
``maker_leaves``), so no stage asks the book again who is done."""
from __future__ import annotations

from exchange.venue._bookcompat import FILL_FIELDS  # (temporary: the book's TRADE_DTYPE names)

__all__ = ["TAKER_ID", "MAKER_ID", "TAKER_OWNER", "MAKER_OWNER", "TAKER_SIDE", "PRICE", "QTY",
           "TAKER_LEAVES", "MAKER_LEAVES"]

TAKER_ID, MAKER_ID = FILL_FIELDS["taker_id"], FILL_FIELDS["maker_id"]
TAKER_OWNER, MAKER_OWNER = FILL_FIELDS["taker_owner"], FILL_FIELDS["maker_owner"]
TAKER_SIDE, PRICE, QTY = FILL_FIELDS["taker_side"], FILL_FIELDS["price"], FILL_FIELDS["qty"]
TAKER_LEAVES, MAKER_LEAVES = FILL_FIELDS["taker_leaves"], FILL_FIELDS["maker_leaves"]
