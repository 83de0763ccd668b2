"""``Exchange.digest()``: one SHA-256 over the state that decides what later calls do.

The digest covers, in this order, each part as a name, a length and its bytes (so no two
different states can run together into the same byte stream):

1. ``books``: every book's resting orders in priority order (bids, then asks): order id,
   price, quantity, owner, as little-endian int64;
2. ``holds``: the engine's members (id, flags), each account's reserved amount, credit limit,
   open exposure and owed amount, every pending settlement date (receipts and debits), every
   resting or holding order's market, fills so far and hold, the next order id and the number
   of live holds (``venue/_state.pyx``'s arrays; the mirrored ledger balances and the markets'
   price caches are left out: the first is the ledger's, the second never changes a result);
3. ``trades``: every trade record (``TRADE_RECORD_DTYPE`` bytes, little-endian, with the
   instrument's index in the exchange for the process-local registry codes:
   ``TradeCapture.portable``);
4. ``ledger``: every account's balance, ``member asset balance`` lines in order;
5. ``counters``: the refusal counts by reason, the trading day and its session states, the
   official rates, the members (id, name, regime, credit limits) and the client order ids of
   resting orders, as canonical JSON.

Nothing in it depends on the process, the platform's byte order or dict order, so equal states
give equal digests in any process (tests replay one journal in two processes and compare).
Event sequence numbers and the clock are not part of it. O(state).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from exchange.venue._state import export_engine
from exchange.venue.snapshot import facade_state

__all__ = ["digest"]

_HOLD_ACCOUNT_COLUMNS = [0, 3, 4, 5]  # reserved, limit, open_exposure, owed (ACCOUNT_FIELDS)


def digest(exchange: Any) -> str:
    """The hex SHA-256 of ``exchange``'s state (module docstring)."""
    h = hashlib.sha256()
    _part(h, "books", b"".join(_book_bytes(market.book) for market in exchange._markets))
    engine = export_engine(exchange._engine)
    _part(h, "holds", b"".join(_le(array) for array in (
        engine["members"], engine["accounts"][:, _HOLD_ACCOUNT_COLUMNS], engine["cells"],
        engine["orders"], engine["counters"])))
    _part(h, "trades", exchange.capture.portable(exchange.trades()).tobytes())
    _part(h, "ledger", "".join(f"{m} {a} {b}\n" for m, a, b in exchange.ledger.accounts())
          .encode())
    _part(h, "counters", json.dumps(_counters(exchange), sort_keys=True).encode())
    return h.hexdigest()


def _part(h: Any, name: str, data: bytes) -> None:
    h.update(f"{name}:{len(data)}:".encode())
    h.update(data)


def _le(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<i8").tobytes()


def _book_bytes(book: Any) -> bytes:
    parts = []
    for side in (0, 1):
        orders = book.orders(side)
        rows = np.stack([orders[name] for name in ("order_id", "price", "qty", "owner")], 1) \
            if len(orders) else np.zeros((0, 4), np.int64)
        parts.append(f"{side}:{len(orders)}:".encode() + _le(rows))
    return b"".join(parts)


def _counters(exchange: Any) -> dict[str, Any]:
    return {"day": exchange._cycle.day_state()["day"], **facade_state(exchange)}
