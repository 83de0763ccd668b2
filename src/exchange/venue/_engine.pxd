# cython: language_level=3
"""C-level declarations of the venue's engine (src/exchange/venue/_engine.pyx), for ``cimport``.

The engine's state is C arrays (module docstring of _engine.pyx); ``venue/_state.pyx`` reads and
writes them for snapshots, so the layouts below are declared here once for both. Nothing
outside the venue cimports this.
"""
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t

from exchange._book cimport Order, OrderBook, StpCancel, Trade
from exchange._hashmap cimport HashMap
from exchange.journal._frames cimport FrameQueue


cdef enum:
    NO_ACCOUNT = 0
    FUNDS = 1
    CREDIT = 2
    MAX_DATES = 16          # pending settlement dates per account and asset
    NOT_HELD = -1


cdef packed struct OrderMsg:     # ORDER_DTYPE
    int64_t action
    int64_t order_id
    int64_t member
    int64_t instrument
    int64_t side
    int64_t price_ticks
    int64_t lots
    int64_t tif


cdef struct MarketC:
    int32_t open            # 1: orders accepted now
    int32_t closed_code     # the refusal while not open (a negative RejectReason code)
    int32_t prefunded       # every member's orders are checked against funds
    int32_t swap
    int32_t quote
    int32_t base            # asset indices
    int32_t terms_row       # the capture's terms row of the open session
    int64_t near_day
    int64_t far_day         # day numbers (-1: no far leg)
    int64_t f               # quote minor units per tick per lot
    int64_t bpl             # base minor units per lot
    int64_t ref             # a swap's reference rate, ticks of its underlying
    int64_t fref            # quote minor units per underlying tick per lot (swaps)
    int64_t fixed           # value per lot that does not depend on the price (a swap's near)
    int64_t max_px          # highest limit price entered since the book was last empty
    int64_t safe_px         # the max_px for which safe_lots was worked out
    int64_t safe_lots       # at most this many lots at up to safe_px fit every amount
    int64_t fee_min
    int64_t worst_num       # the higher of taker and maker rate, num/den of the trade value
    int64_t worst_den
    int64_t taker_num
    int64_t taker_den
    int64_t maker_num
    int64_t maker_den


cdef struct Cell:            # one pending settlement date of an account in one asset
    int64_t day
    int64_t receipts
    int64_t debits


cdef struct Hold:            # what an open order keeps reserved
    int32_t member
    int32_t kind            # FUNDS or CREDIT
    int32_t quote
    int32_t base
    int64_t a               # quote per lot (value, shortfall or points)
    int64_t fee             # fee bound per lot (0 for a spot sell)
    int64_t b               # base per lot
    int64_t lots
    int64_t held_quote
    int64_t held_base
    int32_t next_free
    int32_t _pad


cdef class Staging:
    cdef Trade* rows
    cdef Py_ssize_t n, cap
    cdef int64_t* chunk_row
    cdef int64_t* chunk_count
    cdef double* chunk_time
    cdef Py_ssize_t chunks, chunk_cap
    cdef public int64_t flushed     # trades already turned into records

    cdef int add(self, const Trade* fills, Py_ssize_t count, int64_t terms_row,
                 double time) except -1


cdef class Engine:
    cdef list books
    cdef MarketC* markets
    cdef int32_t n_markets
    cdef readonly list assets
    cdef int32_t n_assets
    cdef object source
    cdef int64_t seen_version
    cdef readonly Staging staging
    cdef object flush               # the capture's flush, called when staging holds flush_every
    cdef Py_ssize_t flush_every
    cdef dict symbols               # instrument symbol -> market index
    # members, by index; ids to indices through a hash map
    cdef HashMap member_index
    cdef int64_t* member_id
    cdef int32_t* member_flags      # 1 prefunded, 2 credit-limited, 4 has a funds account
    cdef int32_t n_members, members_cap
    # accounts, per member index x asset index
    cdef int64_t* reserved
    cdef int64_t* offset            # min(0, min over dates of receipts before - debits up to)
    cdef int64_t* balance           # the source's settled balance, mirrored
    cdef Cell* cells                # MAX_DATES per account
    cdef int32_t* n_cells
    cdef int64_t* limit             # credit limit (-1: none)
    cdef int64_t* open_exposure
    cdef int64_t* owed
    # per order id
    cdef int32_t* order_market
    cdef int64_t* order_cum
    cdef int32_t* order_hold
    cdef int64_t next_id, orders_cap
    # holds
    cdef Hold* holds
    cdef int32_t holds_cap, holds_used, free_hold
    cdef readonly int64_t live_holds
    # the last call's outcome, read by the facade
    cdef readonly int64_t last_id, last_executed, last_leaves, last_cum, last_first, last_count
    cdef readonly int64_t last_stp      # resting orders self-trade prevention cancelled
    # the last risk refusal: asset index, what was needed, and what there was (or the limit)
    cdef readonly int64_t refused_asset, refused_needed, refused_have
    cdef StpCancel* stp_rows
    cdef Py_ssize_t stp_cap
    cdef int64_t* maker_cum         # per fill of the last call: the maker's fills so far
    cdef Py_ssize_t maker_cum_cap
    cdef FrameQueue journal         # the exchange's journal queue (None: not journaling)

    cdef int _grow_orders(self, int64_t cap) except -1
    cdef int32_t _new_hold(self) except -2
    cdef int _open_funds(self, int32_t member) except -1
    cdef inline int _maybe_flush(self) except -1
    cdef int _sync(self) except -1
    cdef inline int64_t _available(self, int64_t k) noexcept
    cdef int _account_kind(self, int32_t member, const MarketC* m) noexcept
    cdef int _reserve(self, int kind, int32_t member, int32_t asset, int64_t amount) noexcept
    cdef void _release(self, int kind, int32_t member, int32_t asset, int64_t amount) noexcept
    cdef void _price_hold(self, Hold* h, const MarketC* m, int side, int64_t worst) noexcept
    cdef inline int64_t _need_quote(self, const Hold* h, int64_t lots) noexcept
    cdef int _take(self, Hold* h, int64_t quote, int64_t base) noexcept
    cdef int _hold(self, int64_t oid, int kind, int32_t member, const MarketC* m, int side,
                   int64_t lots, int64_t worst, int64_t exact_cost, bint market) except -2
    cdef void _finish(self, int64_t oid, int64_t leaves) noexcept
    cdef int _book_leg(self, int kind, int32_t member, int32_t asset, int64_t day,
                       int64_t amount) except -1
    cdef void _refresh(self, int64_t k) noexcept
    cdef int _fill(self, const MarketC* m, const Trade* t) except -1
    cdef int _legs(self, Hold* h, const MarketC* m, bint buyer, int64_t base, int64_t near,
                   int64_t far, int64_t fee_buyer, int64_t fee_seller) except -1
    cdef int _ensure_order(self, int64_t oid) except -1
    cdef int _check_value(self, MarketC* m, OrderBook book, int side, int64_t px,
                          int64_t lots, int64_t owner) noexcept
    cdef int64_t _worst(self, const MarketC* m, OrderBook book, int side, int64_t px) noexcept
    cdef int place(self, int32_t member, int32_t mk, int action, int side, int64_t px,
                   int64_t lots, int tif, double time) except -100
    cdef int _post(self, const MarketC* m, OrderBook book, int64_t oid, int64_t executed,
                   int64_t leaves, int64_t before, double time) except -1
    cdef int _resting(self, int32_t member, int64_t oid, const Order** order_out) noexcept
    cdef int cancel(self, int32_t member, int64_t oid) except -100
    cdef int modify(self, int32_t member, int64_t oid, int64_t lots, int64_t px,
                    double time) except -100
    cdef int _message(self, const OrderMsg* msg, double time) except -100
