"""A hand-written pure-Python order book: the honest baseline the compiled book is measured against.

It is what a careful Python programmer would write without a compiled core: a ``SortedDict`` of
price -> ``OrderedDict`` (id -> order) per side, a dict id -> order, orders as small lists. It
follows docs/book.md for everything the benchmark flow uses and a little more: price-time
matching at the maker's price, GTC / IOC / FOK / POST_ONLY, market orders, cancel, modify, the
same ``Reject`` codes in ``process`` (LEVEL_OVERFLOW included), and a trade buffer with the
compiled book's trade fields except ``seq`` and the leaves fields. Not implemented: self-trade
prevention (it behaves as ``STP.NONE``) and the read-out helpers beyond
``orders``/``best_bid``/``best_ask``. The enum values come from the compiled book, as plain ints
(comparing with an IntEnum member costs more in a Python loop).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from sortedcontainers import SortedDict

from exchange import TIF, Action, Reject, Side

NEW, CANCEL, MARKET, MODIFY = (int(a) for a in (Action.NEW, Action.CANCEL, Action.MARKET,
                                                Action.MODIFY))
BUY, SELL = int(Side.BUY), int(Side.SELL)
GTC, IOC, FOK, POST_ONLY = (int(t) for t in (TIF.GTC, TIF.IOC, TIF.FOK, TIF.POST_ONLY))
INVALID_ACTION, INVALID_SIDE, INVALID_QTY, INVALID_PRICE, INVALID_TIF = (
    int(r) for r in (Reject.INVALID_ACTION, Reject.INVALID_SIDE, Reject.INVALID_QTY,
                     Reject.INVALID_PRICE, Reject.INVALID_TIF))
DUPLICATE_ID, UNKNOWN_ID, FOK_NOT_FILLED, POST_ONLY_WOULD_CROSS, LEVEL_OVERFLOW = (
    int(r) for r in (Reject.DUPLICATE_ID, Reject.UNKNOWN_ID, Reject.FOK_NOT_FILLED,
                     Reject.POST_ONLY_WOULD_CROSS, Reject.LEVEL_OVERFLOW))
INT64_MAX = 2**63 - 1

# An order is a list [side, price, qty, owner]; qty is what is left and shrinks as it fills.
_SIDE, _PRICE, _QTY, _OWNER = 0, 1, 2, 3


class BaselineBook:
    """One instrument's price-time order book in pure Python (``STP.NONE`` only).

    Complexity: best price O(log L) for L price levels (``SortedDict.peekitem``), adding a level
    O(log L), cancel O(1) plus O(log L) when a level empties, each fill O(1).
    """

    def __init__(self) -> None:
        self._bids: SortedDict = SortedDict()  # price -> OrderedDict(id -> order); best = last
        self._asks: SortedDict = SortedDict()  # best = first
        self._orders: dict[int, list] = {}
        # per side, the sum of every quantity ever rested: no level's total can exceed it, so
        # the level-overflow check sums a level only when this bound comes near int64
        self._rested = [0, 0]
        # (taker_id, maker_id, taker_owner, maker_owner, taker_side, price, qty), in order
        self._trades: list[tuple[int, int, int, int, int, int, int]] = []

    # -- batch -------------------------------------------------------------------------------

    def process(self, messages: np.ndarray) -> np.ndarray:
        """Apply ``MESSAGE_DTYPE`` messages in order; int64 array of results as ``OrderBook.process``.

        The array is turned into Python tuples once (``tolist``) so the loop pays for the book,
        not for numpy scalar access. O(total work of the messages).
        """
        submit, cancel, market, modify = self._submit, self._cancel, self._market, self._modify
        out = []
        append = out.append
        for action, oid, side, price, qty, tif, owner in messages.tolist():
            if action == NEW:
                append(submit(oid, side, price, qty, tif, owner))
            elif action == CANCEL:
                append(cancel(oid))
            elif action == MARKET:
                append(market(oid, side, qty, owner))
            elif action == MODIFY:
                append(modify(oid, qty, price))
            else:
                append(INVALID_ACTION)
        return np.array(out, dtype=np.int64)

    # -- the four messages; each returns the executed / removed qty or a negative Reject code ----

    def _submit(self, oid: int, side: int, price: int, qty: int, tif: int, owner: int) -> int:
        if side != BUY and side != SELL:
            return INVALID_SIDE
        if qty <= 0:
            return INVALID_QTY
        if price <= 0:
            return INVALID_PRICE
        if not 0 <= tif <= 3:
            return INVALID_TIF
        if oid in self._orders:
            return DUPLICATE_ID
        if tif in (GTC, POST_ONLY) and self._would_overflow(side, price, qty):
            return LEVEL_OVERFLOW
        if tif == FOK and self._crossing_qty(side, price, qty) < qty:
            return FOK_NOT_FILLED
        if tif == POST_ONLY and self._crosses(side, price):
            return POST_ONLY_WOULD_CROSS
        done = self._match(oid, side, price, qty, owner)
        if (tif == GTC and done < qty) or tif == POST_ONLY:
            self._rest(oid, side, price, qty - done, owner)
        return done

    def _market(self, oid: int, side: int, qty: int, owner: int) -> int:
        if side != BUY and side != SELL:
            return INVALID_SIDE
        if qty <= 0:
            return INVALID_QTY
        if oid in self._orders:
            return DUPLICATE_ID
        return self._match(oid, side, None, qty, owner)

    def _cancel(self, oid: int) -> int:
        order = self._orders.pop(oid, None)
        if order is None:
            return UNKNOWN_ID
        self._unlink(oid, order)
        return order[_QTY]

    def _modify(self, oid: int, qty: int, price: int) -> int:
        if qty < 0:
            return INVALID_QTY
        if price < 0:
            return INVALID_PRICE
        order = self._orders.get(oid)
        if order is None:
            return UNKNOWN_ID
        if qty == 0:
            self._cancel(oid)
            return 0
        new_price = order[_PRICE] if price == 0 else price
        if new_price == order[_PRICE] and qty <= order[_QTY]:
            order[_QTY] = qty  # keeps its place in the queue
            return 0
        same_level = order[_QTY] if new_price == order[_PRICE] else 0  # it leaves before it re-enters
        if self._would_overflow(order[_SIDE], new_price, qty - same_level):
            return LEVEL_OVERFLOW
        self._cancel(oid)
        return self._submit(oid, order[_SIDE], new_price, qty, GTC, order[_OWNER])

    # -- matching ----------------------------------------------------------------------------

    def _match(self, oid: int, side: int, limit: int | None, qty: int, owner: int) -> int:
        """Trade ``qty`` against the opposite side up to ``limit`` (None: any price); return done."""
        if side == BUY:
            book, best = self._asks, 0
        else:
            book, best = self._bids, -1
        orders, trades = self._orders, self._trades
        left = qty
        while left and book:
            price, level = book.peekitem(best)
            if limit is not None and (price > limit if side == BUY else price < limit):
                break
            while left and level:
                maker_id, maker = next(iter(level.items()))
                fill = maker[_QTY]
                if fill <= left:
                    level.popitem(last=False)
                    del orders[maker_id]
                else:
                    fill = left
                    maker[_QTY] -= left
                left -= fill
                trades.append((oid, maker_id, owner, maker[_OWNER], side, price, fill))
            if not level:
                del book[price]
        return qty - left

    def _rest(self, oid: int, side: int, price: int, qty: int, owner: int) -> None:
        book = self._bids if side == BUY else self._asks
        level = book.get(price)
        if level is None:
            level = book[price] = OrderedDict()
        order = [side, price, qty, owner]
        level[oid] = order
        self._orders[oid] = order
        self._rested[side] += qty

    def _would_overflow(self, side: int, price: int, qty: int) -> bool:
        """Whether adding ``qty`` to the level at ``price`` would take its total past int64."""
        if qty <= INT64_MAX - self._rested[side]:
            return False
        level = (self._bids if side == BUY else self._asks).get(price)
        total = 0 if level is None else sum(o[_QTY] for o in level.values())
        return total + qty > INT64_MAX

    def _unlink(self, oid: int, order: list) -> None:
        book = self._bids if order[_SIDE] == BUY else self._asks
        level = book[order[_PRICE]]
        del level[oid]
        if not level:
            del book[order[_PRICE]]

    def _crosses(self, side: int, price: int) -> bool:
        if side == BUY:
            return bool(self._asks) and self._asks.peekitem(0)[0] <= price
        return bool(self._bids) and self._bids.peekitem(-1)[0] >= price

    def _crossing_qty(self, side: int, price: int, want: int) -> int:
        """Resting quantity a limit order could trade now, counted until ``want`` is reached."""
        if side == BUY:
            levels = self._asks.irange(maximum=price)
            book = self._asks
        else:
            levels = self._bids.irange(minimum=price, reverse=True)
            book = self._bids
        total = 0
        for p in levels:
            total += sum(o[_QTY] for o in book[p].values())
            if total >= want:
                break
        return total

    # -- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, oid: int) -> bool:
        return oid in self._orders

    def best_bid(self) -> tuple[int, int] | None:
        """``(price, total_qty)`` of the best bid, or None."""
        if not self._bids:
            return None
        price, level = self._bids.peekitem(-1)
        return price, sum(o[_QTY] for o in level.values())

    def best_ask(self) -> tuple[int, int] | None:
        """``(price, total_qty)`` of the best ask, or None."""
        if not self._asks:
            return None
        price, level = self._asks.peekitem(0)
        return price, sum(o[_QTY] for o in level.values())

    def orders(self, side: int) -> list[tuple[int, int, int, int]]:
        """``(order_id, price, qty, owner)`` of one side in priority order (best price, then time)."""
        book = self._bids if side == BUY else self._asks
        prices = reversed(book.keys()) if side == BUY else book.keys()
        return [(oid, p, o[_QTY], o[_OWNER]) for p in prices for oid, o in book[p].items()]

    def drain_trades(self) -> list[tuple[int, int, int, int, int, int, int]]:
        """Trades since the last drain: ``(taker_id, maker_id, taker_owner, maker_owner,
        taker_side, price, qty)`` in execution order; the buffer is emptied."""
        trades, self._trades = self._trades, []
        return trades
