# cython: language_level=3
"""C-level declarations of the order book core (src/exchange/_book.pyx), for ``cimport``.

Another Cython module can drive a book without making a Python object per order::

    from exchange._book cimport OrderBook, Outcome, Trade, Side, TIF

    cdef OrderBook book = OrderBook()
    cdef Outcome out
    book.new_order(7, Side.BUY, 100, 5, TIF.GTC, 42, &out)   # out.executed, out.leaves, out.code
    cdef const Trade* fills = book.trade_buffer()
    cdef Py_ssize_t n = book.trade_count()
    ...
    book.clear_trades()

The commands (``new_order``, ``market_order``, ``cancel_order``, ``modify_order``,
``apply_message``) follow docs/book.md exactly as the Python calls do: each fills an
``Outcome`` and returns 0; a refused message sets ``out.code`` to its negative ``Reject`` code
and changes nothing. They return -1 only with a Python exception set (MemoryError when a pool
cannot grow), which Cython propagates. Each fill is appended to the trade buffer, each order that
self-trade prevention cancels to the STP-cancel buffer; the caller reads them through the pointer
and count and empties them with ``clear_trades`` / ``clear_stp_cancels`` (the Python
``drain_trades`` / ``drain_stp_cancels`` copy and clear the same buffers). A pointer is valid
until the next command or clear: a buffer may move when it grows.

Enums: ``cpdef enum`` is the single definition of Side, TIF, Action, STP and Reject, visible to C
(``Side.BUY``, or the bare member name) and to Python (``exchange.Side``). Cython 3.3 builds the
Python class as a subclass of ``enum.IntEnum`` (not ``IntFlag``, whose iteration skips 0 and
whose negative members are refused on Python 3.15+), so members compare and compute as ints,
iterate in definition order and keep their names, negative Reject codes included. Cython's base
class accepts any value as a nameless pseudo-member (``Side(7)``); _book.pyx restores the plain
IntEnum rule that an unknown value raises ValueError.
"""
from libc.stdint cimport int8_t, int32_t, int64_t, uint64_t

cimport cython

from exchange._hashmap cimport HashMap
from exchange._ladder cimport Ladder, Level


cpdef enum Side:
    BUY = 0
    SELL = 1


cpdef enum TIF:
    GTC = 0
    IOC = 1
    FOK = 2
    POST_ONLY = 3


cpdef enum Action:
    NEW = 0
    CANCEL = 1
    MARKET = 2
    MODIFY = 3


cpdef enum STP:
    """Self-trade prevention, chosen when the book is made (docs/book.md)."""
    NONE = 0
    CANCEL_RESTING = 1
    CANCEL_INCOMING = 2


cpdef enum Reject:
    """Why a message was refused; every code is negative and never renumbered."""
    INVALID_ACTION = -1
    INVALID_SIDE = -2
    INVALID_QTY = -3
    INVALID_PRICE = -4
    INVALID_TIF = -5
    DUPLICATE_ID = -6
    UNKNOWN_ID = -7
    FOK_NOT_FILLED = -8
    POST_ONLY_WOULD_CROSS = -9
    LEVEL_OVERFLOW = -10


cdef struct Outcome:
    int64_t executed   # lots the message's order traded now, as taker (0 for CANCEL)
    int64_t leaves     # lots of that order resting after the call (0: it is not resting)
    int64_t removed    # lots of its resting quantity taken off the book untraded: CANCEL all of
                       # it, MODIFY the reduction in place or the whole old order (0 otherwise)
    int64_t code       # 0, or a negative Reject code (then the other fields are 0)


cdef struct Trade:
    int64_t seq            # 1, 2, 3, ... per book, never reused
    int64_t taker_id
    int64_t maker_id
    int64_t taker_owner
    int64_t maker_owner
    int64_t price          # the maker's price
    int64_t qty
    int64_t taker_leaves   # the incoming order's quantity still unexecuted after this fill
    int64_t maker_leaves   # the maker's resting quantity after this fill (0: filled and gone)
    int8_t taker_side


cdef struct StpCancel:
    int64_t order_id
    int64_t side
    int64_t price
    int64_t qty            # what was left of the order
    int64_t owner


cdef packed struct Message:   # MESSAGE_DTYPE
    int64_t action
    int64_t order_id
    int64_t side
    int64_t price
    int64_t qty
    int64_t tif
    int64_t owner


# ------------------------------------------------------------------ internal layout
cdef enum:
    NIL = -1          # no slot: end of a list, or an empty hash entry
    ERROR = -1000     # a core function's return while a Python exception (MemoryError) is set


cdef struct Order:
    int64_t id
    int64_t price
    int64_t qty
    int64_t owner
    int32_t next      # next in the level's FIFO, or next free slot
    int32_t prev
    int32_t level
    int32_t side


@cython.final
cdef class OrderBook:
    cdef Order* _orders
    cdef int32_t _orders_cap, _orders_used, _free_order, _live
    cdef Level* _levels
    cdef int32_t _levels_cap, _levels_used, _free_level
    cdef Ladder _sides[2]       # each side's levels in priority order
    cdef HashMap _ids           # order id -> pool slot
    cdef HashMap _prices        # price_key(side, price) -> level
    cdef Trade* _trades
    cdef Py_ssize_t _n_trades, _trades_cap
    cdef StpCancel* _stp_cancels
    cdef Py_ssize_t _n_stp, _stp_cap
    cdef int64_t _seq
    cdef int64_t _max_id        # largest id ever indexed: a larger one cannot be resting
    cdef int64_t _total_bound[2]   # per side: no level's total has ever been larger
    cdef int _stp

    # -------------------------------------------------------------- commands (the C API)
    cdef int new_order(self, int64_t order_id, int64_t side, int64_t price, int64_t qty,
                       int64_t tif, int64_t owner, Outcome* out) except -1
    cdef int market_order(self, int64_t order_id, int64_t side, int64_t qty, int64_t owner,
                          Outcome* out) except -1
    cdef int cancel_order(self, int64_t order_id, Outcome* out) noexcept
    cdef int modify_order(self, int64_t order_id, int64_t qty, int64_t price,
                          Outcome* out) except -1
    cdef int apply_message(self, const Message* message, Outcome* out) except -1

    cdef const Order* resting(self, int64_t order_id) noexcept
    cdef int64_t reach(self, int side, int64_t qty, int64_t owner, int64_t* cost,
                       int64_t* first, int64_t* last) noexcept

    cdef const Trade* trade_buffer(self) noexcept
    cdef Py_ssize_t trade_count(self) noexcept
    cdef void clear_trades(self) noexcept
    cdef const StpCancel* stp_cancel_buffer(self) noexcept
    cdef Py_ssize_t stp_cancel_count(self) noexcept
    cdef void clear_stp_cancels(self) noexcept

    # -------------------------------------------------------------- internals (_book.pyx)
    cdef void _reset(self) noexcept
    cdef int _make_room(self) except -1
    cdef inline int32_t _take_order_slot(self) noexcept
    cdef int32_t _new_level_slot(self) except -2
    cdef int32_t _new_level(self, int side, int64_t price) except -2
    cdef void _drop_level(self, int32_t lvl) noexcept
    cdef inline int _rest(self, int64_t order_id, int side, int64_t price, int64_t qty,
                   int64_t owner) except -1
    cdef inline void _remove(self, int32_t slot) noexcept
    cdef inline int _record_trade(self, int64_t taker_id, int64_t taker_owner, int side, Order* maker,
                           int64_t qty, int64_t taker_leaves) except -1
    cdef int _record_stp_cancel(self, Order* o) except -1
    cdef int64_t _match(self, int64_t taker_id, int side, int64_t limit_key, int64_t qty,
                        int64_t owner, bint* stopped) except -1
    cdef bint _can_fill(self, int side, int64_t limit_key, int64_t qty, int64_t owner) noexcept
    cdef bint _level_would_overflow(self, int side, int64_t price, int64_t qty) noexcept
    cdef int64_t _new(self, int64_t order_id, int64_t side, int64_t price, int64_t qty,
                      int64_t tif, int64_t owner, int64_t* leaves) except ERROR
    cdef int64_t _market(self, int64_t order_id, int64_t side, int64_t qty,
                         int64_t owner) except ERROR
    cdef inline int64_t _cancel(self, int64_t order_id) noexcept
    cdef int64_t _modify(self, int64_t order_id, int64_t qty, int64_t price, int64_t* leaves,
                         int64_t* removed) except ERROR
    cdef inline int64_t _apply(self, const Message* m, int64_t* leaves, int64_t* removed) except ERROR
    cdef object _best(self, int side)
    cdef object _depth(self, int side, int64_t wanted)
    cdef object _orders_of(self, int side, object dtype)
