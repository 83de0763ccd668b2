# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled order book core: one instrument's price-time priority limit order book.

The rule book is docs/book.md. This module knows nothing of members, sessions or money; it tells
the layer above what happened through return values and two buffers (trades, STP cancels).

Layout, chosen so that no Python object exists per order and nothing is allocated per message:
- ``Order`` structs live in one pool that grows by doubling; free slots form a linked list.
- Hash maps (_hashmap.pxd) give id -> order slot and (side, price) -> level in O(1).
- Each side's levels form a list from the best to the worst, placed by a B+ tree of their keys
  (_ladder.pxd): key = price for bids and -price for asks, so "better" is "greater" on both
  sides. Making or dropping a level is O(log levels) at any depth.
- Within a level, orders form a doubly linked FIFO through the pool.

Every index used below is either a pool slot handed out by this module or a position inside the
``0..n-1`` range of the array it indexes, which is why bounds checks are off module-wide.
"""
from libc.stdint cimport int8_t, int32_t, int64_t, uint64_t, INT64_MAX, INT64_MIN
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy
from cpython.bool cimport PyBool_Check
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check, PyLong_CheckExact

cimport cython
cimport numpy as cnp

from exchange._hashmap cimport (
    map_clear,
    map_double,
    map_find,
    map_free,
    map_full,
    map_init,
    map_insert,
    map_put,
    map_remove,
)
from exchange._ladder cimport (
    ladder_clear,
    ladder_free,
    ladder_init,
    ladder_insert,
    ladder_remove,
    ladder_reserve,
)

import numpy as np
from operator import index as _index

cnp.import_array()


# Side, TIF, Action, STP and Reject are the ``cpdef enum``s of _book.pxd: one definition for C
# and Python. Cython's Python class accepts any value as a nameless member (``Side(7)``); an
# enum of the book refuses an unknown value with ValueError, as a plain IntEnum does.
@classmethod
def _no_pseudo_members(cls, value):
    return None    # Enum then raises ValueError("7 is not a valid Side")


for _enum in (Side, TIF, Action, STP, Reject):
    _enum._missing_ = _no_pseudo_members
del _enum

MESSAGE_DTYPE = np.dtype([(name, np.int64) for name in
                          ("action", "order_id", "side", "price", "qty", "tif", "owner")])

cdef Trade _t
cdef char* _t0 = <char*>&_t
TRADE_DTYPE = np.dtype({
    "names": ["taker_id", "maker_id", "taker_owner", "maker_owner", "taker_side", "price", "qty",
              "seq", "taker_leaves", "maker_leaves"],
    "formats": [np.int64, np.int64, np.int64, np.int64, np.int8, np.int64, np.int64, np.int64,
                np.int64, np.int64],
    "offsets": [<char*>&_t.taker_id - _t0, <char*>&_t.maker_id - _t0,
                <char*>&_t.taker_owner - _t0, <char*>&_t.maker_owner - _t0,
                <char*>&_t.taker_side - _t0, <char*>&_t.price - _t0, <char*>&_t.qty - _t0,
                <char*>&_t.seq - _t0, <char*>&_t.taker_leaves - _t0,
                <char*>&_t.maker_leaves - _t0],
    "itemsize": sizeof(Trade),
})

STP_CANCEL_DTYPE = np.dtype([(name, np.int64) for name in
                             ("order_id", "side", "price", "qty", "owner")])

ORDER_DTYPE = np.dtype([(name, np.int64) for name in ("order_id", "price", "qty", "owner")])
CLEARED_DTYPE = STP_CANCEL_DTYPE    # both describe resting orders that left, with their side

cdef enum:
    _INITIAL_ORDERS = 1024
    _INITIAL_LEVELS = 64
    _INITIAL_TABLE_BITS = 11         # id table: 2048 slots
    _INITIAL_LEVEL_TABLE_BITS = 7    # (side, price) table: 128 slots


cdef void* _grow(void* ptr, Py_ssize_t count, size_t size) except NULL:
    cdef void* grown = realloc(ptr, count * size)
    if grown == NULL:
        raise MemoryError(f"order book: cannot grow to {count} entries of {size} bytes")
    return grown


cdef inline int64_t _as_i64(object value, str field) except? -1:
    """Convert an integer (int, IntEnum, numpy integer) to int64, or raise ValueError naming the
    field and value. Floats and bools are refused, never converted. Plain ints skip the try
    block, whose exception-state bookkeeping would cost more than the conversion itself."""
    cdef int overflow = 0
    cdef long long converted
    if PyLong_CheckExact(value):
        converted = PyLong_AsLongLongAndOverflow(value, &overflow)
        if not overflow:
            return converted
    return _as_i64_slow(value, field)


cdef int64_t _as_i64_slow(object value, str field) except? -1:
    cdef int overflow = 0
    cdef long long converted
    # bool is an int subclass, and numpy 1.x lets np.bool_ pass as an index: but True is no
    # quantity, id or price
    if PyBool_Check(value):
        raise ValueError(f"{field}={value!r} is a bool, not an integer")
    if PyLong_Check(value):       # an IntEnum member (a default TIF, say): no Python call
        converted = PyLong_AsLongLongAndOverflow(value, &overflow)
        if not overflow:
            return converted
    elif isinstance(value, np.bool_):
        raise ValueError(f"{field}={value!r} is a bool, not an integer")
    try:
        if not isinstance(value, int):
            value = _index(value)
        return value
    except (OverflowError, TypeError):
        raise ValueError(f"{field}={value!r} is not an integer that fits in int64") from None


cdef inline int64_t _price_key(int side, int64_t price) noexcept nogil:
    """The key of a level in ``_prices``: the price (> 0, so bit 63 is free) with the side."""
    return <int64_t>(<uint64_t>price | (<uint64_t>side << 63))


cdef inline void _settle(Outcome* out, int64_t result) noexcept:
    """Fill ``out`` from a core result: the executed quantity, or a Reject code (all else 0)."""
    if result < 0:
        out.executed = 0
        out.leaves = 0
        out.removed = 0
        out.code = result
    else:
        out.executed = result
        out.code = 0


@cython.final
cdef class OrderBook:
    """One instrument's limit order book with price-time priority (rules: docs/book.md).

    ``stp`` selects self-trade prevention by owner: ``STP.NONE`` (default),
    ``STP.CANCEL_RESTING`` or ``STP.CANCEL_INCOMING``.
    """
    def __cinit__(self, stp=STP.NONE):
        cdef int64_t mode = _as_i64(stp, "stp")
        if mode < STP.NONE or mode > STP.CANCEL_INCOMING:
            raise ValueError(f"stp={stp!r} is not one of {[m.name for m in STP]}")
        self._stp = <int>mode
        self._orders = <Order*>_grow(NULL, _INITIAL_ORDERS, sizeof(Order))
        self._orders_cap = _INITIAL_ORDERS
        self._levels = <Level*>_grow(NULL, _INITIAL_LEVELS, sizeof(Level))
        self._levels_cap = _INITIAL_LEVELS
        ladder_init(&self._sides[0])
        ladder_init(&self._sides[1])
        map_init(&self._ids, _INITIAL_TABLE_BITS)
        map_init(&self._prices, _INITIAL_LEVEL_TABLE_BITS)
        self._trades_cap = 1024
        self._trades = <Trade*>_grow(NULL, self._trades_cap, sizeof(Trade))
        self._stp_cap = 64
        self._stp_cancels = <StpCancel*>_grow(NULL, self._stp_cap, sizeof(StpCancel))
        self._reset()

    def __dealloc__(self):
        free(self._orders)
        free(self._levels)
        ladder_free(&self._sides[0])
        ladder_free(&self._sides[1])
        map_free(&self._ids)
        map_free(&self._prices)
        free(self._trades)
        free(self._stp_cancels)

    cdef void _reset(self) noexcept:
        """Empty the book, keeping the allocated memory (trade buffers are not touched)."""
        self._orders_used = 0
        self._free_order = NIL
        self._live = 0
        self._max_id = INT64_MIN
        self._total_bound[0] = 0
        self._total_bound[1] = 0
        self._levels_used = 0
        self._free_level = NIL
        ladder_clear(&self._sides[0])
        ladder_clear(&self._sides[1])
        map_clear(&self._ids)
        map_clear(&self._prices)

    # ------------------------------------------------------------------ pools
    cdef int _make_room(self) except -1:
        """Grow the order pool and the id map so that one more order can rest (kept out of
        ``_rest`` so that the hot path stays small enough to inline)."""
        if self._free_order == NIL and self._orders_used == self._orders_cap:
            if self._orders_cap >= (1 << 30):
                raise MemoryError("order book: more than 2**30 resting orders")
            self._orders = <Order*>_grow(self._orders, 2 * <Py_ssize_t>self._orders_cap,
                                         sizeof(Order))
            self._orders_cap *= 2
        if map_full(&self._ids):
            map_double(&self._ids)
        return 0

    cdef inline int32_t _take_order_slot(self) noexcept:
        """A free order slot (``_make_room`` has made sure there is one)."""
        cdef int32_t slot = self._free_order
        if slot != NIL:
            self._free_order = self._orders[slot].next
            return slot
        self._orders_used += 1
        return self._orders_used - 1

    cdef int32_t _new_level_slot(self) except -2:
        cdef int32_t slot = self._free_level
        if slot != NIL:
            self._free_level = self._levels[slot].better
            return slot
        if self._levels_used == self._levels_cap:
            if self._levels_cap >= (1 << 30):
                raise MemoryError("order book: more than 2**30 price levels")
            self._levels = <Level*>_grow(self._levels, 2 * <Py_ssize_t>self._levels_cap,
                                         sizeof(Level))
            self._levels_cap *= 2
        self._levels_used += 1
        return self._levels_used - 1

    # ------------------------------------------------------------------ price levels
    cdef int32_t _new_level(self, int side, int64_t price) except -2:
        """A new empty level at ``price`` on ``side`` (none there yet), linked at its place:
        O(log levels) at any depth. (Finding a level is one ``_prices`` lookup.)"""
        cdef int64_t key = _price_key(side, price)
        cdef int32_t lvl = self._new_level_slot()
        cdef Level* level
        ladder_reserve(&self._sides[side])     # these two may raise MemoryError: nothing
        map_insert(&self._prices, key, lvl)    # is linked before both have succeeded
        level = &self._levels[lvl]
        level.price = price
        level.key = price if side == BUY else -price
        level.total = 0
        level.head = NIL
        level.tail = NIL
        level.side = side
        ladder_insert(&self._sides[side], self._levels, lvl)
        return lvl

    cdef void _drop_level(self, int32_t lvl) noexcept:
        """Unlink an emptied level and free it. O(log levels)."""
        cdef Level* level = &self._levels[lvl]
        ladder_remove(&self._sides[level.side], self._levels, lvl)
        map_remove(&self._prices, _price_key(level.side, level.price))
        level.better = self._free_level
        self._free_level = lvl

    # ------------------------------------------------------------------ orders
    cdef inline int _rest(self, int64_t order_id, int side, int64_t price, int64_t qty,
                   int64_t owner) except -1:
        cdef int32_t lvl = map_find(&self._prices, _price_key(side, price))
        cdef int32_t slot
        if (self._free_order == NIL and self._orders_used == self._orders_cap) or map_full(&self._ids):
            self._make_room()
        if lvl == NIL:
            lvl = self._new_level(side, price)
        slot = self._take_order_slot()
        cdef Order* o = &self._orders[slot]
        cdef Level* level = &self._levels[lvl]
        o.id = order_id
        o.price = price
        o.qty = qty
        o.owner = owner
        o.side = side
        o.level = lvl
        o.next = NIL
        o.prev = level.tail
        if level.tail != NIL:
            self._orders[level.tail].next = slot
        else:
            level.head = slot
        level.tail = slot
        level.total += qty
        if level.total > self._total_bound[side]:
            self._total_bound[side] = level.total
        map_put(&self._ids, order_id, slot)
        if order_id > self._max_id:
            self._max_id = order_id
        self._live += 1
        return 0

    cdef inline void _remove(self, int32_t slot) noexcept:
        """Unlink a resting order from its level (dropping the level if it empties), unindex it
        and free its slot."""
        cdef Order* o = &self._orders[slot]
        cdef Level* level = &self._levels[o.level]
        if o.prev != NIL:
            self._orders[o.prev].next = o.next
        else:
            level.head = o.next
        if o.next != NIL:
            self._orders[o.next].prev = o.prev
        else:
            level.tail = o.prev
        level.total -= o.qty
        if level.head == NIL:
            self._drop_level(o.level)
        map_remove(&self._ids, o.id)
        o.next = self._free_order
        self._free_order = slot
        self._live -= 1

    cdef inline int _record_trade(self, int64_t taker_id, int64_t taker_owner, int side,
                                  Order* maker, int64_t qty, int64_t taker_leaves) except -1:
        """Append a fill of ``qty`` against ``maker`` (not yet reduced by it)."""
        cdef Trade* t
        if self._n_trades == self._trades_cap:    # x4: a long undrained batch copies less
            self._trades = <Trade*>_grow(self._trades, 4 * self._trades_cap, sizeof(Trade))
            self._trades_cap *= 4
        t = &self._trades[self._n_trades]
        self._n_trades += 1
        self._seq += 1
        t.seq = self._seq
        t.taker_id = taker_id
        t.maker_id = maker.id
        t.taker_owner = taker_owner
        t.maker_owner = maker.owner
        t.taker_side = side
        t.price = maker.price
        t.qty = qty
        t.taker_leaves = taker_leaves
        t.maker_leaves = maker.qty - qty
        return 0

    cdef int _record_stp_cancel(self, Order* o) except -1:
        cdef StpCancel* c
        if self._n_stp == self._stp_cap:
            self._stp_cancels = <StpCancel*>_grow(self._stp_cancels, 2 * self._stp_cap,
                                                  sizeof(StpCancel))
            self._stp_cap *= 2
        c = &self._stp_cancels[self._n_stp]
        self._n_stp += 1
        c.order_id = o.id
        c.side = o.side
        c.price = o.price
        c.qty = o.qty
        c.owner = o.owner
        return 0

    cdef int64_t _match(self, int64_t taker_id, int side, int64_t limit_key, int64_t qty,
                        int64_t owner, bint* stopped) except -1:
        """Trade ``qty`` against the opposite side while its best key >= ``limit_key``.

        Returns the quantity executed; sets ``stopped`` when CANCEL_INCOMING self-trade
        prevention ended the order. Cost: O(fills + levels emptied).
        """
        cdef Ladder* opp = &self._sides[1 - side]
        cdef int64_t executed = 0, fill
        cdef int32_t slot
        cdef Level* level
        cdef Order* maker
        while qty > 0 and opp.best != NIL and self._levels[opp.best].key >= limit_key:
            level = &self._levels[opp.best]
            slot = level.head
            while slot != NIL and qty > 0:
                maker = &self._orders[slot]
                if self._stp != STP.NONE and maker.owner == owner:
                    if self._stp == STP.CANCEL_INCOMING:
                        stopped[0] = True
                        return executed
                    self._record_stp_cancel(maker)
                else:
                    fill = maker.qty if maker.qty < qty else qty
                    qty -= fill
                    executed += fill
                    self._record_trade(taker_id, owner, side, maker, fill, qty)
                    if fill < maker.qty:
                        maker.qty -= fill
                        level.total -= fill
                        break
                # the maker is gone: take it off the head of the level (an emptied level is
                # dropped; ``level`` is not read again then)
                slot = maker.next
                self._remove(level.head)
        return executed

    cdef bint _can_fill(self, int side, int64_t limit_key, int64_t qty, int64_t owner) noexcept:
        """Whether ``qty`` could trade in full now, under the self-trade rule in force.
        Counts down what is still needed, so no sum of quantities can overflow."""
        cdef int64_t needed = qty
        cdef int32_t lvl = self._sides[1 - side].best, slot
        cdef Level* level
        while lvl != NIL and self._levels[lvl].key >= limit_key:
            level = &self._levels[lvl]
            if self._stp == STP.NONE:
                if level.total >= needed:
                    return True
                needed -= level.total
            else:
                slot = level.head
                while slot != NIL:
                    if self._orders[slot].owner == owner:
                        if self._stp == STP.CANCEL_INCOMING:
                            return False
                    else:
                        if self._orders[slot].qty >= needed:
                            return True
                        needed -= self._orders[slot].qty
                    slot = self._orders[slot].next
            lvl = level.worse
        return False

    cdef const Order* resting(self, int64_t order_id) noexcept:
        """The resting order ``order_id`` (side, price, qty, owner), or NULL. The pointer is
        valid until the next command. O(1)."""
        cdef int32_t slot = map_find(&self._ids, order_id)
        return NULL if slot == NIL else &self._orders[slot]

    cdef int64_t reach(self, int side, int64_t qty, int64_t owner, int64_t* cost,
                       int64_t* first, int64_t* last) noexcept:
        """What a market order of ``side`` for ``qty`` lots by ``owner`` would fill now, under
        the self-trade rule in force, without trading: returns the lots, and sets ``cost`` (the
        sum of price x lots), ``first`` and ``last`` (the best and the worst price reached; 0
        when nothing). The caller bounds ``qty`` x prices within int64. O(orders walked)."""
        cdef int64_t taken = 0, take, total = 0
        cdef int32_t lvl = self._sides[1 - side].best, slot
        cdef Level* level
        first[0] = last[0] = 0
        while lvl != NIL and taken < qty:
            level = &self._levels[lvl]
            slot = level.head
            while slot != NIL and taken < qty:
                if self._stp != STP.NONE and self._orders[slot].owner == owner:
                    if self._stp == STP.CANCEL_INCOMING:
                        cost[0] = total
                        return taken
                else:
                    take = min(self._orders[slot].qty, qty - taken)
                    if taken == 0:
                        first[0] = level.price
                    taken += take
                    total += take * level.price
                    last[0] = level.price
                slot = self._orders[slot].next
            lvl = level.worse
        cost[0] = total
        return taken

    cdef bint _level_would_overflow(self, int side, int64_t price, int64_t qty) noexcept:
        """Whether resting ``qty`` at ``price`` would push that level's total past int64.
        Callers first test ``_total_bound`` (no level's total ever exceeded it), which settles
        the common case without a lookup."""
        cdef int32_t lvl = map_find(&self._prices, _price_key(side, price))
        return lvl != NIL and qty > INT64_MAX - self._levels[lvl].total

    # ------------------------------------------------------------------ the core of each command
    # Each returns the executed quantity (the removed one for a cancel) or a negative Reject
    # code, having changed nothing; ``leaves``/``removed`` are written only when the order rests
    # or loses resting quantity, so callers pass them zeroed.
    cdef int64_t _new(self, int64_t order_id, int64_t side, int64_t price, int64_t qty,
                      int64_t tif, int64_t owner, int64_t* leaves) except ERROR:
        cdef int64_t limit_key, executed
        cdef bint stopped = False
        cdef Ladder* opp
        if side != BUY and side != SELL:
            return Reject.INVALID_SIDE
        if qty <= 0:
            return Reject.INVALID_QTY
        if price <= 0:
            return Reject.INVALID_PRICE
        if tif < GTC or tif > POST_ONLY:
            return Reject.INVALID_TIF
        if order_id <= self._max_id and map_find(&self._ids, order_id) != NIL:
            return Reject.DUPLICATE_ID
        if (qty > INT64_MAX - self._total_bound[side] and (tif == GTC or tif == POST_ONLY)
                and self._level_would_overflow(<int>side, price, qty)):
            return Reject.LEVEL_OVERFLOW
        # opposite key >= limit_key <=> the opposite order's price is acceptable
        limit_key = -price if side == BUY else price
        opp = &self._sides[1 - side]
        executed = 0
        if opp.best != NIL and self._levels[opp.best].key >= limit_key:   # most do not cross
            if tif == POST_ONLY:
                return Reject.POST_ONLY_WOULD_CROSS
            if tif == FOK and not self._can_fill(<int>side, limit_key, qty, owner):
                return Reject.FOK_NOT_FILLED
            executed = self._match(order_id, <int>side, limit_key, qty, owner, &stopped)
        elif tif == FOK:                   # nothing it could trade with
            return Reject.FOK_NOT_FILLED
        if (tif == GTC or tif == POST_ONLY) and executed < qty and not stopped:
            self._rest(order_id, <int>side, price, qty - executed, owner)
            leaves[0] = qty - executed
        return executed

    cdef int64_t _market(self, int64_t order_id, int64_t side, int64_t qty,
                         int64_t owner) except ERROR:
        cdef bint stopped = False
        if side != BUY and side != SELL:
            return Reject.INVALID_SIDE
        if qty <= 0:
            return Reject.INVALID_QTY
        if order_id <= self._max_id and map_find(&self._ids, order_id) != NIL:
            return Reject.DUPLICATE_ID
        return self._match(order_id, <int>side, INT64_MIN, qty, owner, &stopped)

    cdef inline int64_t _cancel(self, int64_t order_id) noexcept:
        cdef int32_t slot = map_find(&self._ids, order_id)
        cdef int64_t qty
        if slot == NIL:
            return Reject.UNKNOWN_ID
        qty = self._orders[slot].qty
        self._remove(slot)
        return qty

    cdef int64_t _modify(self, int64_t order_id, int64_t qty, int64_t price, int64_t* leaves,
                         int64_t* removed) except ERROR:
        """``price == 0`` keeps the price (docs/book.md, "Cancel and modify")."""
        cdef int32_t slot
        cdef Order* o
        cdef int64_t side, owner
        if qty < 0:
            return Reject.INVALID_QTY
        if price < 0:
            return Reject.INVALID_PRICE
        slot = map_find(&self._ids, order_id)
        if slot == NIL:
            return Reject.UNKNOWN_ID
        o = &self._orders[slot]
        if price == 0:
            price = o.price
        if qty == 0:
            removed[0] = o.qty
            self._remove(slot)
            return 0
        if price == o.price and qty <= o.qty:
            removed[0] = o.qty - qty
            leaves[0] = qty
            self._levels[o.level].total -= o.qty - qty
            o.qty = qty
            return 0
        side = o.side
        owner = o.owner
        # refuse before removing anything: re-entry must not fail halfway
        if price == o.price:
            if qty - o.qty > INT64_MAX - self._levels[o.level].total:
                return Reject.LEVEL_OVERFLOW
        elif (qty > INT64_MAX - self._total_bound[side]
              and self._level_would_overflow(<int>side, price, qty)):
            return Reject.LEVEL_OVERFLOW
        removed[0] = o.qty
        self._remove(slot)
        return self._new(order_id, side, price, qty, GTC, owner, leaves)

    cdef inline int64_t _apply(self, const Message* m, int64_t* leaves,
                               int64_t* removed) except ERROR:
        if m.action == Action.NEW:
            return self._new(m.order_id, m.side, m.price, m.qty, m.tif, m.owner, leaves)
        if m.action == Action.CANCEL:
            return self._cancel(m.order_id)
        if m.action == Action.MARKET:
            return self._market(m.order_id, m.side, m.qty, m.owner)
        if m.action == Action.MODIFY:
            return self._modify(m.order_id, m.qty, m.price, leaves, removed)
        return Reject.INVALID_ACTION

    # ------------------------------------------------------------------ commands (the C API)
    cdef int new_order(self, int64_t order_id, int64_t side, int64_t price, int64_t qty,
                       int64_t tif, int64_t owner, Outcome* out) except -1:
        """A limit order (``submit``): out.executed, out.leaves (what rests), out.code."""
        out.leaves = 0
        out.removed = 0
        _settle(out, self._new(order_id, side, price, qty, tif, owner, &out.leaves))
        return 0

    cdef int market_order(self, int64_t order_id, int64_t side, int64_t qty, int64_t owner,
                          Outcome* out) except -1:
        """A market order (``market``): out.executed, out.code; it never rests."""
        out.leaves = 0
        out.removed = 0
        _settle(out, self._market(order_id, side, qty, owner))
        return 0

    cdef int cancel_order(self, int64_t order_id, Outcome* out) noexcept:
        """``cancel``: out.removed is the quantity the order had; UNKNOWN_ID if not resting."""
        cdef int64_t result = self._cancel(order_id)
        out.executed = 0
        out.leaves = 0
        out.removed = result if result > 0 else 0
        out.code = result if result < 0 else 0
        return 0

    cdef int modify_order(self, int64_t order_id, int64_t qty, int64_t price,
                          Outcome* out) except -1:
        """``modify`` (``price`` 0 keeps the price): out.removed is what the order gave up (the
        reduction in place, or all of it when it re-enters), out.executed and out.leaves
        describe it after the call."""
        out.leaves = 0
        out.removed = 0
        _settle(out, self._modify(order_id, qty, price, &out.leaves, &out.removed))
        return 0

    cdef int apply_message(self, const Message* message, Outcome* out) except -1:
        """One message with ``process`` semantics."""
        if message.action == Action.CANCEL:
            return self.cancel_order(message.order_id, out)
        out.leaves = 0
        out.removed = 0
        _settle(out, self._apply(message, &out.leaves, &out.removed))
        return 0

    cdef const Trade* trade_buffer(self) noexcept:
        """The fills since the last clear, oldest first (``trade_count()`` of them)."""
        return self._trades

    cdef Py_ssize_t trade_count(self) noexcept:
        return self._n_trades

    cdef void clear_trades(self) noexcept:
        self._n_trades = 0

    cdef const StpCancel* stp_cancel_buffer(self) noexcept:
        """Resting orders cancelled by STP since the last clear (``stp_cancel_count()``)."""
        return self._stp_cancels

    cdef Py_ssize_t stp_cancel_count(self) noexcept:
        return self._n_stp

    cdef void clear_stp_cancels(self) noexcept:
        self._n_stp = 0

    # ------------------------------------------------------------------ Python API
    def submit(self, order_id, side, price, qty, tif=TIF.GTC, owner=0):
        """Enter a limit order; return the quantity executed now.

        The remainder rests (GTC) or is dropped (IOC). A FOK that cannot fill in full and a
        POST_ONLY that would cross do nothing and return 0. Raises ValueError on bad input,
        leaving the book unchanged. O(fills + log levels).
        """
        cdef int64_t leaves = 0
        cdef int64_t result = self._new(_as_i64(order_id, "order_id"), _as_i64(side, "side"),
                                        _as_i64(price, "price"), _as_i64(qty, "qty"),
                                        _as_i64(tif, "tif"), _as_i64(owner, "owner"), &leaves)
        if result >= 0:
            return result
        if result == Reject.FOK_NOT_FILLED or result == Reject.POST_ONLY_WOULD_CROSS:
            return 0
        _raise_for(result, order_id=order_id, side=side, price=price, qty=qty, tif=tif)

    def market(self, order_id, side, qty, owner=0):
        """Trade ``qty`` against whatever the opposite side holds; the rest is dropped.

        Returns the quantity executed. O(fills).
        """
        cdef int64_t result = self._market(_as_i64(order_id, "order_id"), _as_i64(side, "side"),
                                           _as_i64(qty, "qty"), _as_i64(owner, "owner"))
        if result >= 0:
            return result
        _raise_for(result, order_id=order_id, side=side, qty=qty)

    def cancel(self, order_id):
        """Remove a resting order; return its remaining quantity. KeyError if not resting. O(1)."""
        cdef int64_t result = self._cancel(_as_i64(order_id, "order_id"))
        if result >= 0:
            return result
        raise KeyError(f"order_id={order_id!r} is not resting in the book")

    def modify(self, order_id, qty, price=None):
        """Set a resting order's quantity (and price); return the quantity executed now.

        Same price and a smaller qty keeps the queue place; a larger qty or another price
        re-enters the order at the back of the new price's queue, where it may trade. qty 0
        cancels. KeyError if not resting; ValueError for qty < 0 or price <= 0.
        """
        cdef int64_t new_price = 0, leaves = 0, removed = 0
        if price is not None:
            new_price = _as_i64(price, "price")
            if new_price <= 0:
                raise ValueError(f"price={price!r} must be positive")
        cdef int64_t result = self._modify(_as_i64(order_id, "order_id"), _as_i64(qty, "qty"),
                                           new_price, &leaves, &removed)
        if result >= 0:
            return result
        if result == Reject.INVALID_QTY:
            raise ValueError(f"qty={qty!r} must be >= 0 (0 cancels)")
        _raise_for(result, order_id=order_id, qty=qty, price=price)

    def process(self, messages):
        """Apply a numpy array of MESSAGE_DTYPE in order; return an int64 array of results.

        Each result is what the single call returns, or a negative ``Reject`` code for a
        refused message (which changes nothing; the batch goes on). TypeError for any other
        input type or dtype, before anything is applied. O(total fills + messages).
        """
        if not isinstance(messages, np.ndarray) or messages.dtype != MESSAGE_DTYPE:
            raise TypeError(
                f"messages must be a numpy array of MESSAGE_DTYPE, got "
                f"{getattr(messages, 'dtype', type(messages).__name__)}")
        if messages.ndim != 1:
            raise TypeError(f"messages must be one-dimensional, got shape {messages.shape}")
        cdef const Message[::1] batch = np.ascontiguousarray(messages)
        cdef Py_ssize_t i, n = batch.shape[0]
        cdef int64_t leaves, removed    # what process() does not report
        results = np.empty(n, dtype=np.int64)
        cdef int64_t[::1] out = results
        for i in range(n):
            out[i] = self._apply(&batch[i], &leaves, &removed)
        return results

    def apply(self, action, order_id, side=0, price=0, qty=0, tif=0, owner=0):
        """Apply one message with ``process`` semantics; return ``(executed, leaves, removed,
        code)`` without raising for a refusal.

        ``code`` is 0 or the negative ``Reject`` code of a refused message, which changed
        nothing (the other three are then 0). ``executed``: lots the order traded now as taker;
        ``leaves``: lots of it resting after the call; ``removed``: lots of its resting quantity
        taken off untraded (CANCEL: all it had, which is ``process``'s result for a cancel;
        MODIFY: the reduction in place, or the whole old order when it re-enters). Fields a
        message's action does not use are ignored, as in ``process``. ValueError, with nothing
        changed, for an argument that is not an int64 integer. O(fills + log levels).
        """
        cdef Message m
        cdef Outcome out
        m.action = _as_i64(action, "action")
        m.order_id = _as_i64(order_id, "order_id")
        m.side = _as_i64(side, "side")
        m.price = _as_i64(price, "price")
        m.qty = _as_i64(qty, "qty")
        m.tif = _as_i64(tif, "tif")
        m.owner = _as_i64(owner, "owner")
        self.apply_message(&m, &out)
        return (out.executed, out.leaves, out.removed, out.code)

    def drain_trades(self):
        """The trades since the last drain, as a TRADE_DTYPE array in execution order."""
        trades = np.empty(self._n_trades, dtype=TRADE_DTYPE)
        if self._n_trades:
            memcpy(cnp.PyArray_DATA(trades), self._trades, self._n_trades * sizeof(Trade))
        self._n_trades = 0
        return trades

    def drain_stp_cancels(self):
        """Resting orders cancelled by self-trade prevention since the last drain, in order."""
        cancels = np.empty(self._n_stp, dtype=STP_CANCEL_DTYPE)
        if self._n_stp:
            memcpy(cnp.PyArray_DATA(cancels), self._stp_cancels, self._n_stp * sizeof(StpCancel))
        self._n_stp = 0
        return cancels

    def best_bid(self):
        """``(price, total_qty)`` of the best bid, or None. O(1)."""
        return self._best(BUY)

    def best_ask(self):
        """``(price, total_qty)`` of the best ask, or None. O(1)."""
        return self._best(SELL)

    cdef object _best(self, int side):
        cdef int32_t lvl = self._sides[side].best
        if lvl == NIL:
            return None
        return (self._levels[lvl].price, self._levels[lvl].total)

    def depth(self, levels):
        """``(bids, asks)``: int64 arrays of shape (k, 2), rows (price, total_qty), best first."""
        cdef int64_t wanted = _as_i64(levels, "levels")
        if wanted < 0:
            raise ValueError(f"levels={levels!r} must be >= 0")
        return self._depth(BUY, wanted), self._depth(SELL, wanted)

    cdef object _depth(self, int side, int64_t wanted):
        cdef Ladder* ladder = &self._sides[side]
        cdef Py_ssize_t k = min(wanted, <int64_t>ladder.count), i
        cdef int32_t lvl = ladder.best
        rows = np.empty((k, 2), dtype=np.int64)
        cdef int64_t[:, ::1] out = rows
        for i in range(k):
            out[i, 0] = self._levels[lvl].price
            out[i, 1] = self._levels[lvl].total
            lvl = self._levels[lvl].worse
        return rows

    def orders(self, side):
        """Resting orders of ``side`` in priority order: fields order_id, price, qty, owner."""
        cdef int64_t s = _as_i64(side, "side")
        if s != BUY and s != SELL:
            raise ValueError(f"side={side!r} must be 0 (BUY) or 1 (SELL)")
        return self._orders_of(<int>s, ORDER_DTYPE)

    cdef object _orders_of(self, int side, object dtype):
        cdef Py_ssize_t count = 0, n = 0
        cdef int32_t lvl = self._sides[side].best, slot
        while lvl != NIL:
            slot = self._levels[lvl].head
            while slot != NIL:
                count += 1
                slot = self._orders[slot].next
            lvl = self._levels[lvl].worse
        out = np.empty(count, dtype=dtype)
        cdef int64_t[:, ::1] rows = out.view(np.int64).reshape(count, len(dtype.names))
        cdef bint with_side = len(dtype.names) == 5
        cdef Order* o
        lvl = self._sides[side].best
        while lvl != NIL:
            slot = self._levels[lvl].head
            while slot != NIL:
                o = &self._orders[slot]
                rows[n, 0] = o.id
                if with_side:
                    rows[n, 1] = o.side
                rows[n, 1 + with_side] = o.price
                rows[n, 2 + with_side] = o.qty
                rows[n, 3 + with_side] = o.owner
                n += 1
                slot = o.next
            lvl = self._levels[lvl].worse
        return out

    def order(self, order_id):
        """``(side, price, qty, owner)`` of a resting order; KeyError if not resting. O(1)."""
        cdef int32_t slot = map_find(&self._ids, _as_i64(order_id, "order_id"))
        if slot == NIL:
            raise KeyError(order_id)
        cdef Order* o = &self._orders[slot]
        return (o.side, o.price, o.qty, o.owner)

    def clear(self):
        """Remove every resting order; return them (fields order_id, side, price, qty, owner),
        bids first, each side in priority order. Trades not yet drained stay in the buffer."""
        removed = np.concatenate([self._orders_of(BUY, CLEARED_DTYPE),
                                  self._orders_of(SELL, CLEARED_DTYPE)])
        self._reset()
        return removed

    @property
    def stp(self):
        """The self-trade prevention mode chosen when the book was made."""
        return STP(self._stp)

    @property
    def trade_seq(self):
        """The ``seq`` of the book's last trade (0 before the first); later trades are numbered
        on from it. Settable, so that a book restored from a snapshot numbers on as the
        original did; ValueError for a negative value. O(1)."""
        return self._seq

    @trade_seq.setter
    def trade_seq(self, value):
        cdef int64_t seq = _as_i64(value, "trade_seq")
        if seq < 0:
            raise ValueError(f"trade_seq={value!r} must be >= 0")
        self._seq = seq

    def __len__(self):
        return self._live

    def __contains__(self, order_id):
        try:
            return map_find(&self._ids, _as_i64(order_id, "order_id")) != NIL
        except ValueError:
            return False

    def __repr__(self):
        return (f"OrderBook(orders={self._live}, best_bid={self.best_bid()}, "
                f"best_ask={self.best_ask()}, stp={self.stp.name})")


_REASONS = {
    Reject.INVALID_SIDE: ("side", "must be 0 (BUY) or 1 (SELL)"),
    Reject.INVALID_QTY: ("qty", "must be positive"),
    Reject.INVALID_PRICE: ("price", "must be positive"),
    Reject.INVALID_TIF: ("tif", "must be one of GTC=0, IOC=1, FOK=2, POST_ONLY=3"),
    Reject.DUPLICATE_ID: ("order_id", "is already resting in the book"),
    Reject.LEVEL_OVERFLOW: ("qty", "would take its price level's total quantity past int64"),
}


def _raise_for(int64_t code, **fields):
    """Turn a Reject code from the core into the single-call exception."""
    if code == Reject.UNKNOWN_ID:
        raise KeyError(f"order_id={fields['order_id']!r} is not resting in the book")
    field, reason = _REASONS[code]
    raise ValueError(f"{field}={fields[field]!r} {reason}")
