"""A deliberately simple pure-Python model of the order book rules in docs/book.md.

`ModelBook` has the same methods, return values and exceptions as the compiled
`exchange.OrderBook`, but is written to be obviously correct rather than fast: every resting
order lives in one dict, and the priority queue of a side is recomputed by sorting that dict
whenever it is needed (O(n log n) per look, fine for tests). Records come back as plain Python
values instead of numpy arrays:

- `drain_trades()`: list of dicts with keys `TRADE_FIELDS`;
- `drain_stp_cancels()`: list of dicts with keys `STP_FIELDS`;
- `orders(side)`: list of dicts with keys `ORDER_FIELDS`; `clear()` adds `side`;
- `depth(levels)`: `(bids, asks)`, lists of `(price, total_qty)` tuples;
- `process(messages)`: list of ints;
- `apply(...)`: the tuple `(executed, leaves, removed, code)`, derived here from the book before
  and after the message rather than tracked as the compiled book does.

The model takes its enum values from the compiled book (`Side`, `TIF`, `Action`, `STP`, `Reject`:
one definition, in src/exchange/_book.pxd) and nothing else, so its rules can still be checked
against the rule tests on their own.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from exchange import STP, TIF, Action, Reject, Side

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

BUY, SELL = Side.BUY, Side.SELL
GTC, IOC, FOK, POST_ONLY = TIF.GTC, TIF.IOC, TIF.FOK, TIF.POST_ONLY
NEW, CANCEL, MARKET, MODIFY = Action.NEW, Action.CANCEL, Action.MARKET, Action.MODIFY
STP_NONE, STP_CANCEL_RESTING, STP_CANCEL_INCOMING = (
    STP.NONE, STP.CANCEL_RESTING, STP.CANCEL_INCOMING)

INVALID_ACTION = Reject.INVALID_ACTION
INVALID_SIDE = Reject.INVALID_SIDE
INVALID_QTY = Reject.INVALID_QTY
INVALID_PRICE = Reject.INVALID_PRICE
INVALID_TIF = Reject.INVALID_TIF
DUPLICATE_ID = Reject.DUPLICATE_ID
UNKNOWN_ID = Reject.UNKNOWN_ID
FOK_NOT_FILLED = Reject.FOK_NOT_FILLED
POST_ONLY_WOULD_CROSS = Reject.POST_ONLY_WOULD_CROSS
LEVEL_OVERFLOW = Reject.LEVEL_OVERFLOW

MESSAGE_FIELDS = ("action", "order_id", "side", "price", "qty", "tif", "owner")
MESSAGE_DTYPE = np.dtype([(name, np.int64) for name in MESSAGE_FIELDS])
TRADE_FIELDS = (
    "seq", "taker_id", "maker_id", "taker_owner", "maker_owner", "taker_side", "price", "qty",
    "taker_leaves", "maker_leaves",
)
STP_FIELDS = ("order_id", "side", "price", "qty", "owner")
ORDER_FIELDS = ("order_id", "price", "qty", "owner")


class Refused(Exception):
    """Internal: a message is refused with a `Reject` code (never escapes the model)."""

    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code = code


def _as_int64(name: str, value: Any) -> int:
    """`value` as a Python int, or ValueError naming the field when it is not an int64 (bools
    are not numbers here)."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} is a bool, not an integer")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name}={value!r} is not an integer") from None
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError(f"{name}={value!r} does not fit in int64")
    return number


def _raise_single(refusal: Refused) -> None:
    """Turn a refusal into the single-call exception that book.md pairs with its code."""
    if refusal.code == UNKNOWN_ID:
        raise KeyError(str(refusal))
    raise ValueError(str(refusal))


@dataclass
class _Order:
    order_id: int
    side: int
    price: int
    qty: int
    owner: int
    stamp: int  # arrival number: the lower, the earlier in its price level


class _Orders(dict):
    """Resting orders by id; ``version`` changes whenever an order is added or removed (the
    sort keys, price and arrival, never change in place), so sorted queues can be reused."""

    version = 0

    def __setitem__(self, key, value):
        self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.version += 1
        super().__delitem__(key)

    def pop(self, key):
        self.version += 1
        return super().pop(key)

    def clear(self):
        self.version += 1
        super().clear()


class ModelBook:
    """Price-time priority book with the rules of docs/book.md, in plain Python."""

    def __init__(self, stp: int = STP_NONE):
        stp = _as_int64("stp", stp)
        if stp not in (STP_NONE, STP_CANCEL_RESTING, STP_CANCEL_INCOMING):
            raise ValueError(f"stp={stp!r} is not 0..2")
        self.stp = stp
        self._orders: _Orders = _Orders()
        self._queues: dict[int, tuple[int, list[_Order]]] = {}  # side -> (version, queue)
        self._stamp = 0
        self._seq = 0
        self._trades: list[dict] = []
        self._stp_cancels: list[dict] = []

    # ----------------------------------------------------------------- reading the book
    def _queue(self, side: int) -> list[_Order]:
        """Resting orders of `side` in priority order: best price first, then arrival."""
        version, queue = self._queues.get(side, (-1, []))
        if version != self._orders.version:
            mine = [o for o in self._orders.values() if o.side == side]
            sign = -1 if side == BUY else 1
            queue = sorted(mine, key=lambda o: (sign * o.price, o.stamp))
            self._queues[side] = (self._orders.version, queue)
        return queue

    def depth(self, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Up to `levels` `(price, total_qty)` rows per side, best first."""
        levels = _as_int64("levels", levels)
        if levels < 0:
            raise ValueError(f"levels={levels} must be >= 0")
        return self._levels(BUY)[:levels], self._levels(SELL)[:levels]

    def _levels(self, side: int) -> list[tuple[int, int]]:
        rows: list[list[int]] = []
        for o in self._queue(side):
            if rows and rows[-1][0] == o.price:
                rows[-1][1] += o.qty
            else:
                rows.append([o.price, o.qty])
        return [(p, q) for p, q in rows]

    def best_bid(self) -> tuple[int, int] | None:
        levels = self._levels(BUY)
        return levels[0] if levels else None

    def best_ask(self) -> tuple[int, int] | None:
        levels = self._levels(SELL)
        return levels[0] if levels else None

    def orders(self, side: int) -> list[dict]:
        side = self._side(side)
        return [
            {"order_id": o.order_id, "price": o.price, "qty": o.qty, "owner": o.owner}
            for o in self._queue(side)
        ]

    def order(self, order_id: int) -> tuple[int, int, int, int]:
        order_id = _as_int64("order_id", order_id)
        if order_id not in self._orders:
            raise KeyError(f"order_id={order_id} is not resting")
        o = self._orders[order_id]
        return (o.side, o.price, o.qty, o.owner)

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        try:
            return _as_int64("order_id", order_id) in self._orders
        except ValueError:
            return False

    def drain_trades(self) -> list[dict]:
        out, self._trades = self._trades, []
        return out

    def drain_stp_cancels(self) -> list[dict]:
        out, self._stp_cancels = self._stp_cancels, []
        return out

    def clear(self) -> list[dict]:
        """Remove every resting order; return them bids first, each side in priority order."""
        out = []
        for side in (BUY, SELL):
            for row in self.orders(side):
                row["side"] = side
                out.append(row)
        self._orders.clear()
        return out

    # ----------------------------------------------------------------- validation
    @staticmethod
    def _side(side: Any) -> int:
        side = _as_int64("side", side)
        if side not in (BUY, SELL):
            raise ValueError(f"side={side} is not 0 (buy) or 1 (sell)")
        return side

    def _check_new(self, order_id, side, price, qty, tif, market: bool) -> None:
        """Checks of a NEW (or MARKET) message in book.md's validation order."""
        if side not in (BUY, SELL):
            raise Refused(INVALID_SIDE, f"side={side} is not 0 or 1")
        if qty <= 0:
            raise Refused(INVALID_QTY, f"qty={qty} must be > 0")
        if not market and price <= 0:
            raise Refused(INVALID_PRICE, f"price={price} must be > 0")
        if not market and tif not in (GTC, IOC, FOK, POST_ONLY):
            raise Refused(INVALID_TIF, f"tif={tif} is not 0..3")
        if order_id in self._orders:
            raise Refused(DUPLICATE_ID, f"order_id={order_id} is already resting")

    def _check_modify(self, order_id, qty, price) -> None:
        """Checks of a MODIFY; `price` 0 means keep the price."""
        if qty < 0:
            raise Refused(INVALID_QTY, f"qty={qty} must be >= 0")
        if price < 0:
            raise Refused(INVALID_PRICE, f"price={price} must be > 0")
        if order_id not in self._orders:
            raise Refused(UNKNOWN_ID, f"order_id={order_id} is not resting")

    # ----------------------------------------------------------------- single calls
    def submit(self, order_id, side, price, qty, tif=GTC, owner=0) -> int:
        """A limit order; returns the quantity executed now (0 for a refused FOK/POST_ONLY)."""
        order_id, side, price, qty, tif, owner = (
            _as_int64(n, v)
            for n, v in zip(
                ("order_id", "side", "price", "qty", "tif", "owner"),
                (order_id, side, price, qty, tif, owner),
            )
        )
        try:
            return self._new(order_id, side, price, qty, tif, owner)
        except Refused as refusal:
            if refusal.code in (FOK_NOT_FILLED, POST_ONLY_WOULD_CROSS):
                return 0
            _raise_single(refusal)

    def market(self, order_id, side, qty, owner=0) -> int:
        """Trade up to `qty` at any price; the rest is dropped. Returns the executed quantity."""
        order_id, side, qty, owner = (
            _as_int64(n, v)
            for n, v in zip(("order_id", "side", "qty", "owner"), (order_id, side, qty, owner))
        )
        try:
            return self._market(order_id, side, qty, owner)
        except Refused as refusal:
            _raise_single(refusal)

    def cancel(self, order_id) -> int:
        """Remove a resting order; returns its remaining quantity."""
        order_id = _as_int64("order_id", order_id)
        try:
            return self._cancel(order_id)
        except Refused as refusal:
            _raise_single(refusal)

    def modify(self, order_id, qty, price=None) -> int:
        """Change a resting order's quantity and/or price; returns the quantity executed."""
        order_id = _as_int64("order_id", order_id)
        qty = _as_int64("qty", qty)
        if price is not None:
            price = _as_int64("price", price)
            if price <= 0:
                raise ValueError(f"price={price} must be > 0")
        try:
            return self._modify(order_id, qty, 0 if price is None else price)
        except Refused as refusal:
            _raise_single(refusal)

    # ----------------------------------------------------------------- batch
    def process(self, messages) -> list[int]:
        """Apply MESSAGE_DTYPE messages in order; per message the result or a Reject code."""
        if not isinstance(messages, np.ndarray) or messages.dtype != MESSAGE_DTYPE:
            dtype = getattr(messages, "dtype", type(messages).__name__)
            raise TypeError(f"messages must have MESSAGE_DTYPE, got {dtype}")
        results = []
        for row in messages.tolist():
            action, order_id, side, price, qty, tif, owner = row
            try:
                results.append(self._apply(action, order_id, side, price, qty, tif, owner))
            except Refused as refusal:
                results.append(refusal.code)
        return results

    def apply(self, action, order_id, side=0, price=0, qty=0, tif=0, owner=0) -> tuple:
        """One message with `process` semantics: `(executed, leaves, removed, code)`."""
        fields = [_as_int64(n, v) for n, v in zip(
            MESSAGE_FIELDS, (action, order_id, side, price, qty, tif, owner))]
        order_id = fields[1]
        before = self._orders.get(order_id)
        had = None if before is None else (before.qty, before.stamp)
        try:
            result = self._apply(*fields)
        except Refused as refusal:
            return (0, 0, 0, refusal.code)
        if fields[0] == CANCEL:
            return (0, 0, result, 0)
        after = self._orders.get(order_id)
        leaves = 0 if after is None else after.qty
        removed = 0
        if fields[0] == MODIFY:  # kept in place (same stamp): gave up the difference, else all
            in_place = after is not None and after.stamp == had[1]
            removed = had[0] - leaves if in_place else had[0]
        return (result, leaves, removed, 0)

    def _apply(self, action, order_id, side, price, qty, tif, owner) -> int:
        if action == NEW:
            return self._new(order_id, side, price, qty, tif, owner)
        if action == CANCEL:
            return self._cancel(order_id)
        if action == MARKET:
            return self._market(order_id, side, qty, owner)
        if action == MODIFY:
            return self._modify(order_id, qty, price)
        raise Refused(INVALID_ACTION, f"action={action} is not 0..3")

    # ----------------------------------------------------------------- the rules
    def _new(self, order_id, side, price, qty, tif, owner) -> int:
        self._check_new(order_id, side, price, qty, tif, market=False)
        if tif == POST_ONLY and self._crosses_best(side, price):
            raise Refused(POST_ONLY_WOULD_CROSS, f"price={price} crosses the opposite best")
        if tif in (GTC, POST_ONLY):
            # an order that rests at a price where its side has a level never trades first
            self._check_level_total(side, price, qty)
        if tif == POST_ONLY:
            self._rest(order_id, side, price, qty, owner)
            return 0
        if tif == FOK and self._fillable(side, price, owner) < qty:
            raise Refused(FOK_NOT_FILLED, f"qty={qty} cannot fill in full")
        executed, stopped = self._match(order_id, side, price, qty, owner)
        if tif == GTC and executed < qty and not stopped:
            self._rest(order_id, side, price, qty - executed, owner)
        return executed

    def _market(self, order_id, side, qty, owner) -> int:
        self._check_new(order_id, side, 0, qty, 0, market=True)
        executed, _ = self._match(order_id, side, None, qty, owner)
        return executed

    def _cancel(self, order_id) -> int:
        if order_id not in self._orders:
            raise Refused(UNKNOWN_ID, f"order_id={order_id} is not resting")
        return self._orders.pop(order_id).qty

    def _modify(self, order_id, qty, price) -> int:
        self._check_modify(order_id, qty, price)
        o = self._orders[order_id]
        if qty == 0:
            del self._orders[order_id]
            return 0
        new_price = o.price if price == 0 else price
        if new_price == o.price and qty <= o.qty:
            o.qty = qty  # keeps its stamp, hence its place
            return 0
        # the order leaves its level before it re-enters: its own quantity does not count
        self._check_level_total(o.side, new_price, qty, without=order_id)
        del self._orders[order_id]
        return self._new(order_id, o.side, new_price, qty, GTC, o.owner)

    def _check_level_total(self, side, price, qty, without=None) -> None:
        """Refuse a quantity that would take its price level's total past int64."""
        total = sum(o.qty for o in self._orders.values()
                    if o.side == side and o.price == price and o.order_id != without)
        if total + qty > INT64_MAX:
            raise Refused(LEVEL_OVERFLOW, f"qty={qty} would take the level at price={price} "
                                          f"past int64 (it holds {total})")

    def _rest(self, order_id, side, price, qty, owner) -> None:
        self._stamp += 1
        self._orders[order_id] = _Order(order_id, side, price, qty, owner, self._stamp)

    @staticmethod
    def _reaches(side: int, limit: int | None, maker_price: int) -> bool:
        """Whether an incoming order of `side` with `limit` (None = market) trades at a price."""
        if limit is None:
            return True
        return maker_price <= limit if side == BUY else maker_price >= limit

    def _crosses_best(self, side: int, price: int) -> bool:
        queue = self._queue(1 - side)
        return bool(queue) and self._reaches(side, price, queue[0].price)

    def _fillable(self, side: int, limit: int, owner: int) -> int:
        """What a FOK could really trade under the STP mode in force."""
        total = 0
        for maker in self._queue(1 - side):
            if not self._reaches(side, limit, maker.price):
                break
            if maker.owner == owner and self.stp == STP_CANCEL_RESTING:
                continue
            if maker.owner == owner and self.stp == STP_CANCEL_INCOMING:
                break
            total += maker.qty
        return total

    def _match(self, order_id, side, limit, qty, owner) -> tuple[int, bool]:
        """Trade the incoming order; returns (executed, stopped by CANCEL_INCOMING)."""
        executed = 0
        while executed < qty:
            queue = self._queue(1 - side)
            if not queue or not self._reaches(side, limit, queue[0].price):
                break
            maker = queue[0]
            if maker.owner == owner and self.stp == STP_CANCEL_INCOMING:
                return executed, True
            if maker.owner == owner and self.stp == STP_CANCEL_RESTING:
                del self._orders[maker.order_id]
                self._stp_cancels.append(
                    {"order_id": maker.order_id, "side": maker.side, "price": maker.price,
                     "qty": maker.qty, "owner": maker.owner}
                )
                continue
            fill = min(qty - executed, maker.qty)
            executed += fill
            maker.qty -= fill
            self._seq += 1
            self._trades.append(
                {"seq": self._seq, "taker_id": order_id, "maker_id": maker.order_id,
                 "taker_owner": owner, "maker_owner": maker.owner, "taker_side": side,
                 "price": maker.price, "qty": fill, "taker_leaves": qty - executed,
                 "maker_leaves": maker.qty}
            )
            if maker.qty == 0:
                del self._orders[maker.order_id]
        return executed, False


# --------------------------------------------------------------------- comparing books
def records(rows, fields: tuple[str, ...] | None = None) -> list[dict]:
    """Rows of a numpy structured array or of a list of dicts, as dicts of Python ints.

    `fields` restricts each dict to those keys, so books with extra fields still compare.
    """
    if isinstance(rows, np.ndarray):
        names = rows.dtype.names
        dicts = [dict(zip(names, row)) for row in rows.tolist()]
    else:
        dicts = [dict(row) for row in rows]
    if fields is None:
        return [{k: int(v) for k, v in d.items()} for d in dicts]
    return [{k: int(d[k]) for k in fields} for d in dicts]


def pairs(rows) -> list[tuple[int, int]]:
    """`(price, qty)` rows of a depth side (numpy `(k, 2)` array or list) as int tuples."""
    if isinstance(rows, np.ndarray):
        rows = rows.tolist()
    return [(int(p), int(q)) for p, q in rows]


def best(level) -> tuple[int, int] | None:
    """A `best_bid()`/`best_ask()` result as a tuple of ints (or None)."""
    return None if level is None else (int(level[0]), int(level[1]))


def snapshot(book, levels: int = 10) -> dict:
    """Everything a reader can see of a book, in plain Python values."""
    bids, asks = book.depth(levels)
    return {
        "bids": records(book.orders(BUY), ORDER_FIELDS),
        "asks": records(book.orders(SELL), ORDER_FIELDS),
        "depth": (pairs(bids), pairs(asks)),
        "best": (best(book.best_bid()), best(book.best_ask())),
        "len": len(book),
    }


def trades(book) -> list[dict]:
    """Drain a book's trades as dicts restricted to the documented fields."""
    return records(book.drain_trades(), TRADE_FIELDS)


def stp_cancels(book) -> list[dict]:
    """Drain a book's STP cancels as dicts restricted to the documented fields."""
    return records(book.drain_stp_cancels(), STP_FIELDS)


def apply_single(book, row) -> int | str:
    """Apply one MESSAGE_DTYPE row through the single-call API.

    Returns the call's result, or the name of the exception it raised ("ValueError",
    "KeyError"), so that it can be compared with `single_equivalent(process result)`.
    """
    action, order_id, side, price, qty, tif, owner = (int(v) for v in row)
    try:
        if action == NEW:
            return int(book.submit(order_id, side, price, qty, tif, owner))
        if action == CANCEL:
            return int(book.cancel(order_id))
        if action == MARKET:
            return int(book.market(order_id, side, qty, owner))
        if action == MODIFY:
            # process reads price 0 as "keep"; a negative price is refused by both
            return int(book.modify(order_id, qty, None if price == 0 else price))
        return "ValueError"  # an unknown action has no single call: book.md pairs -1 with it
    except KeyError:
        return "KeyError"
    except ValueError:
        return "ValueError"


def single_equivalent(result: int) -> int | str:
    """What the single call gives for a `process` result (book.md, "Single-call equivalents")."""
    if INVALID_ACTION >= result >= DUPLICATE_ID or result == LEVEL_OVERFLOW:
        return "ValueError"
    if result == UNKNOWN_ID:
        return "KeyError"
    if result in (FOK_NOT_FILLED, POST_ONLY_WOULD_CROSS):
        return 0
    return result
