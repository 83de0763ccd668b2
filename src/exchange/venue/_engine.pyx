# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The venue's compiled core: pre-trade risk, matching, trade staging and the order index in C.

One :class:`Engine` per exchange holds the state every order touches, as C arrays: each market's
terms for the day (:c:type:`MarketC`), the members and their accounts, every open order's hold,
and per order id its market and its fills so far. Single calls from the facade and whole
``process`` batches run the same C routines (:meth:`Engine.place`, ``_cancel``, ``_modify``), so a
batch gives exactly what the same orders sent one by one give. Python objects appear only at the
edges: the facade's refusal messages and events, and the trade records the capture builds from
the staged fills.

The rules are those of ``venue/risk.py``'s docstring (who pre-funds, worst cases, dated
commitments, ``available``); this module is their C form. Every amount is an int64 of minor
units; where a product could leave int64 it saturates, and a saturated amount is one no account
can cover (balances are int64), so it is refused. Nothing is allocated per message: the arrays
grow by doubling.
"""
from cpython.bool cimport PyBool_Check
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check
from libc.stdint cimport (
    INT32_MAX,
    INT64_MAX,
    INT64_MIN,
    int8_t,
    int16_t,
    int32_t,
    int64_t,
    uint8_t,
    uint16_t,
)
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy, memset

cimport numpy as cnp

from exchange._book cimport Order, OrderBook, Outcome, StpCancel, Trade
from exchange._hashmap cimport EMPTY, HashMap, map_find, map_free, map_init, map_insert
from exchange.journal._frames cimport FrameQueue

import numpy as np

from exchange._book import TRADE_DTYPE

cnp.import_array()

# Result codes shared with venue/codes.py's RejectReason (tests check that they agree).
cdef enum:
    R_INVALID_ACTION = -1
    R_INVALID_SIDE = -2
    R_INVALID_QTY = -3
    R_INVALID_PRICE = -4
    R_INVALID_TIF = -5
    R_UNKNOWN_ORDER = -7
    R_UNKNOWN_MEMBER = -20
    R_UNKNOWN_INSTRUMENT = -21
    R_VALUE_TOO_LARGE = -27
    R_INSUFFICIENT_FUNDS = -29
    R_CREDIT_LIMIT = -30
    R_NOT_OWNER = -31
    R_INVALID_ORDER_ID = -32

ORDER_DTYPE = np.dtype([(name, np.int64) for name in (
    "action", "order_id", "member", "instrument", "side", "price_ticks", "lots", "tif")])
RESULT_DTYPE = np.dtype([(name, np.int64) for name in ("order_id", "executed", "leaves", "code")])


cdef packed struct ResultMsg:    # RESULT_DTYPE
    int64_t order_id
    int64_t executed
    int64_t leaves
    int64_t code


cdef packed struct Record:      # records.TRADE_RECORD_DTYPE (128 bytes, naturally aligned)
    int64_t trade_id
    int64_t trade_date
    double time
    int64_t buy_order_id
    int64_t sell_order_id
    int64_t price_ticks
    int64_t qty
    int64_t settle_date
    int64_t base_amount
    int64_t quote_amount
    int64_t far_settle_date
    int64_t far_quote_amount
    int64_t fee_buyer
    int64_t fee_seller
    int32_t buyer
    int32_t seller
    int16_t instrument
    int16_t base_asset
    int16_t quote_asset
    int8_t session
    int8_t aggressor


cdef packed struct TermsRow:    # capture._TERMS_DTYPE: one instrument in one session and date
    int32_t instr
    int8_t session
    int64_t trade_date
    int64_t settle
    int64_t far               # NaT (INT64_MIN) but for a swap
    int64_t ref
    int64_t f
    int64_t bpl
    int64_t fref
    int64_t tn
    int64_t td
    int64_t mn
    int64_t md
    int64_t minimum


cdef inline int64_t _sat_mul(int64_t x, int64_t y) noexcept nogil:
    """x * y for x, y >= 0, saturated at INT64_MAX."""
    if x != 0 and y > INT64_MAX // x:
        return INT64_MAX
    return x * y


cdef inline int64_t _sat_add(int64_t x, int64_t y) noexcept nogil:
    if y > INT64_MAX - x:
        return INT64_MAX
    return x + y


cdef inline int64_t _fee(int64_t value, int64_t num, int64_t den, int64_t minimum) noexcept nogil:
    """max(round_half_up(value * num / den), minimum), exact without leaving int64 (value split
    as q * den + r; FeeTerms.of checked 2 * den * num + den fits)."""
    cdef int64_t q = value // den, r = value % den
    cdef int64_t fee = q * num + (2 * r * num + den) // (2 * den)
    return fee if fee > minimum else minimum


cdef inline void _amounts(int64_t price, int64_t qty, int64_t f, int64_t bpl, int64_t ref,
                          int64_t fref, bint swap, int64_t* base, int64_t* near,
                          int64_t* far) noexcept nogil:
    """A fill's (base, near quote, far quote) in minor units (venue/terms.py): the one C form
    of the formula, for risk and for the records."""
    cdef int64_t value = price * qty * f
    base[0] = qty * bpl
    near[0] = ref * qty * fref if swap else value
    far[0] = near[0] + value if swap else 0


cdef inline int64_t _fee_bound(int64_t value, int64_t num, int64_t den,
                               int64_t minimum) noexcept nogil:
    """What one lot worth ``value`` can pay in fees at most, rounded up: max(minimum,
    ceil(value * num / den + 1/2)); k lots in any number of fills pay at most k times it."""
    cdef int64_t q = value // den, r = value % den
    cdef int64_t bound = q * num + (2 * r * num + 3 * den - 1) // (2 * den)
    return bound if bound > minimum else minimum


def fee(int64_t value, int64_t num, int64_t den, int64_t minimum):
    """The C fee formula, for tests: max(round_half_up(value * num / den), minimum)."""
    return _fee(value, num, den, minimum)


cdef class Staging:
    """Fills waiting to become trade records: the book's trade rows, and per order (chunk) the
    capture's terms row, the count and the time. C buffers that grow by doubling; the capture
    takes them all at a flush."""

    # attributes: _engine.pxd

    def __cinit__(self):
        self.rows = NULL
        self.chunk_row = self.chunk_count = NULL
        self.chunk_time = NULL

    def __dealloc__(self):
        free(self.rows)
        free(self.chunk_row)
        free(self.chunk_count)
        free(self.chunk_time)

    @property
    def pending(self) -> int:
        """Fills staged, not yet records."""
        return self.n

    cdef int add(self, const Trade* fills, Py_ssize_t count, int64_t terms_row,
                 double time) except -1:
        cdef Py_ssize_t cap
        if self.n + count > self.cap:
            cap = max(2 * self.cap, self.n + count, 1024)
            self.rows = <Trade*>_grow(self.rows, cap, sizeof(Trade))
            self.cap = cap
        if self.chunks == self.chunk_cap:
            cap = max(2 * self.chunk_cap, 256)
            self.chunk_row = <int64_t*>_grow(self.chunk_row, cap, sizeof(int64_t))
            self.chunk_count = <int64_t*>_grow(self.chunk_count, cap, sizeof(int64_t))
            self.chunk_time = <double*>_grow(self.chunk_time, cap, sizeof(double))
            self.chunk_cap = cap
        memcpy(&self.rows[self.n], fills, count * sizeof(Trade))
        self.n += count
        self.chunk_row[self.chunks] = terms_row
        self.chunk_count[self.chunks] = count
        self.chunk_time[self.chunks] = time
        self.chunks += 1
        return 0

    def add_array(self, fills, int64_t terms_row, double time):
        """Stage a ``TRADE_DTYPE`` array (a book's ``drain_trades()``)."""
        cdef cnp.ndarray array = np.ascontiguousarray(fills, dtype=TRADE_DTYPE)
        if len(array):
            self.add(<const Trade*>cnp.PyArray_DATA(array), len(array), terms_row, time)

    def take(self):
        """(fills as TRADE_DTYPE, terms rows, counts, times) of everything staged; empties the
        staging."""
        fills = np.empty(self.n, dtype=TRADE_DTYPE)
        rows = np.empty(self.chunks, np.int64)
        counts = np.empty(self.chunks, np.int64)
        times = np.empty(self.chunks, np.float64)
        if self.n:
            memcpy(cnp.PyArray_DATA(fills), self.rows, self.n * sizeof(Trade))
        if self.chunks:
            memcpy(cnp.PyArray_DATA(rows), self.chunk_row, self.chunks * sizeof(int64_t))
            memcpy(cnp.PyArray_DATA(counts), self.chunk_count, self.chunks * sizeof(int64_t))
            memcpy(cnp.PyArray_DATA(times), self.chunk_time, self.chunks * sizeof(double))
        self.flushed += self.n
        self.n = self.chunks = 0
        return fills, rows, counts, times

    def write_records(self, records, terms, codes, int64_t first_id):
        """Turn everything staged into trade records, written into ``records`` (a
        TRADE_RECORD_DTYPE array of at least :attr:`pending` rows) with ids from ``first_id``;
        ``terms`` is the capture's terms table, ``codes`` its (n, 3) int16 array of instrument,
        base and quote codes. Empties the staging. ValueError (nothing written) for a member id
        beyond int32, which the record cannot hold. O(fills), no Python object per fill."""
        cdef cnp.ndarray out_array = records, table_array = terms
        cdef const int16_t[:, ::1] code = codes
        cdef Py_ssize_t c, j, i = 0
        cdef Record* out
        cdef const TermsRow* table
        if (out_array.dtype.itemsize != sizeof(Record) or table_array.dtype.itemsize
                != sizeof(TermsRow) or not out_array.flags.c_contiguous
                or not table_array.flags.c_contiguous):
            raise TypeError("records and terms must be contiguous TRADE_RECORD_DTYPE and "
                            "capture terms arrays")
        out = <Record*>cnp.PyArray_DATA(out_array)
        table = <const TermsRow*>cnp.PyArray_DATA(table_array)
        cdef const TermsRow* t
        cdef const Trade* fill
        cdef Record* r
        cdef int64_t base, near, far, taker_owner, maker_owner
        cdef bint buys
        if out_array.shape[0] < self.n:
            raise ValueError(f"records: room for {out_array.shape[0]} rows, {self.n} staged")
        for j in range(self.n):
            if not (0 <= self.rows[j].taker_owner <= INT32_MAX
                    and 0 <= self.rows[j].maker_owner <= INT32_MAX):
                raise ValueError(f"member id {self.rows[j].taker_owner} or "
                                 f"{self.rows[j].maker_owner} does not fit a trade record "
                                 f"(int32)")
        for c in range(self.chunks):
            t = &table[self.chunk_row[c]]
            for j in range(self.chunk_count[c]):
                fill, r = &self.rows[i], &out[i]
                buys = fill.taker_side == 0
                _amounts(fill.price, fill.qty, t.f, t.bpl, t.ref, t.fref, t.far != INT64_MIN,
                         &base, &near, &far)
                r.trade_id = first_id + i
                r.trade_date, r.time = t.trade_date, self.chunk_time[c]
                r.buy_order_id = fill.taker_id if buys else fill.maker_id
                r.sell_order_id = fill.maker_id if buys else fill.taker_id
                r.price_ticks, r.qty = fill.price, fill.qty
                r.settle_date, r.far_settle_date = t.settle, t.far
                r.base_amount, r.quote_amount, r.far_quote_amount = base, near, far
                r.fee_buyer = _fee(near, t.tn if buys else t.mn, t.td if buys else t.md,
                                   t.minimum)
                r.fee_seller = _fee(near, t.mn if buys else t.tn, t.md if buys else t.td,
                                    t.minimum)
                taker_owner, maker_owner = fill.taker_owner, fill.maker_owner
                r.buyer = <int32_t>(taker_owner if buys else maker_owner)
                r.seller = <int32_t>(maker_owner if buys else taker_owner)
                r.instrument = code[t.instr, 0]
                r.base_asset, r.quote_asset = code[t.instr, 1], code[t.instr, 2]
                r.session, r.aggressor = t.session, fill.taker_side
                i += 1
        self.flushed += self.n
        self.n = self.chunks = 0

    def last(self, Py_ssize_t count):
        """The last ``count`` staged fills as TRADE_DTYPE rows (``.tolist()`` tuples)."""
        fills = np.empty(count, dtype=TRADE_DTYPE)
        if count:
            memcpy(cnp.PyArray_DATA(fills), &self.rows[self.n - count], count * sizeof(Trade))
        return fills.tolist()


cdef void* _grow(void* ptr, Py_ssize_t count, size_t size) except NULL:
    cdef void* grown = realloc(ptr, count * size)
    if grown == NULL:
        raise MemoryError(f"venue engine: cannot grow to {count} entries of {size} bytes")
    return grown


cdef inline int64_t _exact_int(object value, bint* ok) noexcept:
    """A Python int (an IntEnum such as ``Side.BUY`` or ``TIF.GTC`` too, never a bool) that
    fits int64, or ok = False."""
    cdef int overflow = 0
    cdef long long v
    if not PyLong_Check(value) or PyBool_Check(value):
        ok[0] = False
        return 0
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        ok[0] = False
        return 0
    return v


cdef class Engine:
    """The C state of one exchange's venue; see the module docstring.

    ``books`` (one OrderBook per market, in instrument-id order), ``assets`` (asset codes; an
    asset's index is its position), ``source`` (settled balances: ``balance(member, asset)``
    and a ``version`` that moves with every change) and ``staging`` (where fills go).
    """

    # attributes: _engine.pxd (venue/_state.pyx reads and writes them for snapshots)

    def __cinit__(self):
        self.markets = NULL
        self.member_index.slots = NULL

    def __init__(self, list books, dict symbols, list assets, object source):
        self.books = books
        self.symbols = symbols
        self.n_markets = len(books)
        self.markets = <MarketC*>_grow(NULL, max(self.n_markets, 1), sizeof(MarketC))
        memset(self.markets, 0, max(self.n_markets, 1) * sizeof(MarketC))
        self.assets = list(assets)
        self.n_assets = len(assets)
        self.source = source
        self.seen_version = -1
        map_init(&self.member_index, 6)
        self.next_id = 1
        self._grow_orders(1024)
        self.free_hold = NOT_HELD

    def __dealloc__(self):
        free(self.markets)
        free(self.member_id)
        free(self.member_flags)
        free(self.reserved)
        free(self.offset)
        free(self.balance)
        free(self.cells)
        free(self.n_cells)
        free(self.limit)
        free(self.open_exposure)
        free(self.owed)
        free(self.order_market)
        free(self.order_cum)
        free(self.order_hold)
        free(self.holds)
        free(self.stp_rows)
        free(self.maker_cum)
        if self.member_index.slots != NULL:
            map_free(&self.member_index)

    # -------------------------------------------------------------------- growth
    cdef int _grow_orders(self, int64_t cap) except -1:
        cdef int64_t old = self.orders_cap, i
        self.order_market = <int32_t*>_grow(self.order_market, cap, sizeof(int32_t))
        self.order_cum = <int64_t*>_grow(self.order_cum, cap, sizeof(int64_t))
        self.order_hold = <int32_t*>_grow(self.order_hold, cap, sizeof(int32_t))
        for i in range(old, cap):
            self.order_market[i] = -1
            self.order_cum[i] = 0
            self.order_hold[i] = NOT_HELD
        self.orders_cap = cap
        return 0

    cdef int32_t _new_hold(self) except -2:
        cdef int32_t h = self.free_hold
        if h != NOT_HELD:
            self.free_hold = self.holds[h].next_free
            return h
        if self.holds_used == self.holds_cap:
            self.holds_cap = max(2 * self.holds_cap, 256)
            self.holds = <Hold*>_grow(self.holds, self.holds_cap, sizeof(Hold))
        self.holds_used += 1
        return self.holds_used - 1

    # -------------------------------------------------------------------- set-up (Python)
    def add_member(self, int64_t member_id, bint prefunded, dict limits):
        """Register a member: ``limits`` maps asset codes to credit limits (minor units).
        Returns its index."""
        cdef int32_t i = self.n_members, a
        cdef Py_ssize_t cap, k
        if map_find(&self.member_index, member_id) != EMPTY:
            raise ValueError(f"member id {member_id} is already in the engine")
        if i == self.members_cap:
            cap = max(2 * self.members_cap, 16)
            k = cap * self.n_assets
            self.member_id = <int64_t*>_grow(self.member_id, cap, sizeof(int64_t))
            self.member_flags = <int32_t*>_grow(self.member_flags, cap, sizeof(int32_t))
            self.reserved = <int64_t*>_grow(self.reserved, k, sizeof(int64_t))
            self.offset = <int64_t*>_grow(self.offset, k, sizeof(int64_t))
            self.balance = <int64_t*>_grow(self.balance, k, sizeof(int64_t))
            self.cells = <Cell*>_grow(self.cells, k * MAX_DATES, sizeof(Cell))
            self.n_cells = <int32_t*>_grow(self.n_cells, k, sizeof(int32_t))
            self.limit = <int64_t*>_grow(self.limit, k, sizeof(int64_t))
            self.open_exposure = <int64_t*>_grow(self.open_exposure, k, sizeof(int64_t))
            self.owed = <int64_t*>_grow(self.owed, k, sizeof(int64_t))
            self.members_cap = <int32_t>cap
        map_insert(&self.member_index, member_id, i)
        self.member_id[i] = member_id
        self.member_flags[i] = (1 if prefunded else 0) | (2 if limits else 0)
        for a in range(self.n_assets):
            k = i * self.n_assets + a
            self.reserved[k] = self.offset[k] = self.balance[k] = 0
            self.n_cells[k] = 0
            self.open_exposure[k] = self.owed[k] = 0
            self.limit[k] = limits.get(self.assets[a], -1)
        self.n_members = i + 1
        if prefunded:
            self._open_funds(i)
        return i

    cdef int _open_funds(self, int32_t member) except -1:
        """Give ``member`` a funds account (mirroring its settled balances from now on)."""
        cdef int32_t a
        if self.member_flags[member] & 4:
            return 0
        self.member_flags[member] |= 4
        for a in range(self.n_assets):
            self.balance[member * self.n_assets + a] = self.source.balance(
                self.member_id[member], self.assets[a])
        return 0

    def set_journal(self, FrameQueue queue):
        """Journal the fast path's accepted orders (:meth:`try_submit`) into ``queue`` (None:
        stop). The exchange does this only with at most 65536 markets (a Submit record's
        instrument is a u16)."""
        self.journal = queue

    def set_capture(self, Staging staging, object flush, Py_ssize_t flush_every):
        """Stage fills in ``staging``; call ``flush()`` once ``flush_every`` are waiting."""
        self.staging, self.flush, self.flush_every = staging, flush, flush_every

    cdef inline int _maybe_flush(self) except -1:
        if self.staging.n >= self.flush_every:
            self.flush()
        return 0

    def member_index_of(self, int64_t member_id):
        """The index of ``member_id``, or -1."""
        return map_find(&self.member_index, member_id)

    def set_market(self, int32_t i, *, bint open, int32_t closed_code, bint prefunded,
                   bint swap, int32_t quote, int32_t base, int32_t terms_row,
                   int64_t near_day, int64_t far_day, int64_t f, int64_t bpl, int64_t ref,
                   int64_t fref, int64_t fixed, int64_t fee_min, int64_t worst_num,
                   int64_t worst_den, int64_t taker_num, int64_t taker_den,
                   int64_t maker_num, int64_t maker_den):
        """Set market ``i``'s terms (at a session's open) or close it (``open=False`` with the
        refusal code its orders get; its highest entered price is forgotten)."""
        cdef MarketC* m = &self.markets[i]
        m.open, m.closed_code, m.prefunded, m.swap = open, closed_code, prefunded, swap
        m.quote, m.base, m.terms_row = quote, base, terms_row
        m.near_day, m.far_day, m.f, m.bpl, m.ref, m.fref = near_day, far_day, f, bpl, ref, fref
        m.fixed, m.fee_min = fixed, fee_min
        m.worst_num, m.worst_den = worst_num, worst_den
        m.taker_num, m.taker_den, m.maker_num, m.maker_den = taker_num, taker_den, maker_num, maker_den
        m.safe_px = m.safe_lots = -1
        if not open:
            m.max_px = 0

    def close_market(self, int32_t i, int32_t closed_code):
        """Market ``i`` stops trading (its book was emptied): orders get ``closed_code``."""
        self.markets[i].open = 0
        self.markets[i].closed_code = closed_code
        self.markets[i].max_px = 0
        self.markets[i].safe_px = self.markets[i].safe_lots = -1

    # -------------------------------------------------------------------- balances
    cdef int _sync(self) except -1:
        """Re-read the mirrored balances if the source changed since the last read."""
        cdef int64_t version = self.source.version
        cdef int32_t i, a
        if version == self.seen_version:
            return 0
        for i in range(self.n_members):
            if self.member_flags[i] & 4:
                for a in range(self.n_assets):
                    self.balance[i * self.n_assets + a] = self.source.balance(
                        self.member_id[i], self.assets[a])
        self.seen_version = version
        return 0

    cdef inline int64_t _available(self, int64_t k) noexcept:
        return self.balance[k] + self.offset[k] - self.reserved[k]

    # -------------------------------------------------------------------- risk R1
    cdef inline int _account_kind(self, int32_t member, const MarketC* m) noexcept:
        cdef int32_t flags = self.member_flags[member]
        if (flags & 1) or m.prefunded:
            return FUNDS
        if flags & 2:
            return CREDIT
        return NO_ACCOUNT

    cdef int _reserve(self, int kind, int32_t member, int32_t asset, int64_t amount) noexcept:
        """Hold ``amount`` more of ``asset``: 0, or the refusal code with nothing held."""
        cdef int64_t k = member * self.n_assets + asset
        if amount <= 0:
            return 0
        if kind == FUNDS:
            if amount == INT64_MAX or amount > self._available(k):
                self.refused_asset, self.refused_needed = asset, amount
                self.refused_have = self._available(k)
                return R_INSUFFICIENT_FUNDS
            self.reserved[k] += amount
            return 0
        if self.limit[k] >= 0 and (amount == INT64_MAX or self.owed[k] + self.open_exposure[k]
                                   > self.limit[k] - amount):
            self.refused_asset = asset
            self.refused_needed = _sat_add(self.owed[k] + self.open_exposure[k], amount)
            self.refused_have = self.limit[k]
            return R_CREDIT_LIMIT
        self.open_exposure[k] += amount
        return 0

    cdef void _release(self, int kind, int32_t member, int32_t asset, int64_t amount) noexcept:
        cdef int64_t k = member * self.n_assets + asset
        if amount <= 0:
            return
        if kind == FUNDS:
            self.reserved[k] -= amount
        else:
            self.open_exposure[k] -= amount

    cdef void _price_hold(self, Hold* h, const MarketC* m, int side, int64_t worst) noexcept:
        """The per-lot worst case of ``side`` at ``worst`` ticks (venue/risk.py docstring)."""
        cdef int64_t value = m.fixed if m.swap else worst * m.f
        if side == 0 or m.swap:
            h.fee = _fee_bound(value, m.worst_num, m.worst_den, m.fee_min)
        else:
            h.fee = 0
        if side == 0:
            h.a, h.b = value, 0
        elif m.swap:
            h.a, h.b = worst * m.f, m.bpl
        else:
            h.a, h.b = (m.fee_min - value if m.fee_min > value else 0), m.bpl

    cdef inline int64_t _need_quote(self, const Hold* h, int64_t lots) noexcept:
        return _sat_mul(lots, _sat_add(h.a, h.fee))

    cdef int _take(self, Hold* h, int64_t quote, int64_t base) noexcept:
        """Reserve both amounts more, or neither: 0 or the refusal code."""
        cdef int code = self._reserve(h.kind, h.member, h.quote, quote)
        if code:
            return code
        code = self._reserve(h.kind, h.member, h.base, base)
        if code:
            self._release(h.kind, h.member, h.quote, quote)
            return code
        if quote > 0:
            h.held_quote += quote
        if base > 0:
            h.held_base += base
        return 0

    cdef int _hold(self, int64_t oid, int kind, int32_t member, const MarketC* m, int side,
                   int64_t lots, int64_t worst, int64_t exact_cost, bint market) except -2:
        """R1: reserve an order's worst case and keep it as the order's hold; 0 or the refusal
        code with nothing reserved. A market order's quote is its walk's exact cost."""
        cdef int32_t slot = self._new_hold()
        cdef Hold* h = &self.holds[slot]
        cdef int64_t quote, base
        cdef int code
        h.member, h.kind, h.quote, h.base = member, kind, m.quote, m.base
        h.lots, h.held_quote, h.held_base = lots, 0, 0
        self._price_hold(h, m, side, worst)
        quote = self._need_quote(h, lots)
        base = _sat_mul(lots, h.b)
        if market and side == 0 and not m.swap and quote != INT64_MAX:
            quote = quote - lots * h.a + exact_cost * m.f
        code = self._take(h, quote, base)
        if code:
            h.next_free = self.free_hold
            self.free_hold = slot
            return code
        self.order_hold[oid] = slot
        self.live_holds += 1
        return 0

    cdef void _finish(self, int64_t oid, int64_t leaves) noexcept:
        """The order now rests with ``leaves`` lots (0: gone): trim its hold to their worst
        case, releasing the rest. No-op for an order without a hold."""
        cdef int32_t slot = self.order_hold[oid]
        cdef Hold* h
        cdef int64_t quote = 0, base = 0
        if slot == NOT_HELD:
            return
        h = &self.holds[slot]
        if leaves:
            h.lots = leaves
            quote, base = self._need_quote(h, leaves), _sat_mul(leaves, h.b)
        if h.held_quote > quote:
            self._release(h.kind, h.member, h.quote, h.held_quote - quote)
            h.held_quote = quote
        if h.held_base > base:
            self._release(h.kind, h.member, h.base, h.held_base - base)
            h.held_base = base
        if not leaves:
            self.order_hold[oid] = NOT_HELD
            h.next_free = self.free_hold
            self.free_hold = slot
            self.live_holds -= 1

    # -------------------------------------------------------------------- risk R2
    cdef int _book_leg(self, int kind, int32_t member, int32_t asset, int64_t day,
                       int64_t amount) except -1:
        """A fill's movement of ``asset`` on ``day`` for an account: a receipt (> 0) or a debit
        (< 0)."""
        cdef int64_t k = member * self.n_assets + asset
        cdef Cell* cells
        cdef int32_t n, i, j
        if amount == 0:
            return 0
        if kind == CREDIT:
            self.owed[k] -= amount
            return 0
        cells = &self.cells[k * MAX_DATES]
        n = self.n_cells[k]
        i = 0
        while i < n and cells[i].day < day:
            i += 1
        if i == n or cells[i].day != day:
            if n == MAX_DATES:
                raise OverflowError(f"member {self.member_id[member]} has more than "
                                    f"{MAX_DATES} pending settlement dates in "
                                    f"{self.assets[asset]}")
            for j in range(n, i, -1):
                cells[j] = cells[j - 1]
            cells[i].day, cells[i].receipts, cells[i].debits = day, 0, 0
            self.n_cells[k] = n + 1
        if amount > 0:
            cells[i].receipts += amount
        else:
            cells[i].debits -= amount
        self._refresh(k)
        return 0

    cdef void _refresh(self, int64_t k) noexcept:
        cdef Cell* cells = &self.cells[k * MAX_DATES]
        cdef int32_t i
        cdef int64_t low = 0, received = 0, paid = 0
        for i in range(self.n_cells[k]):
            paid += cells[i].debits
            if received - paid < low:
                low = received - paid
            received += cells[i].receipts
        self.offset[k] = low

    cdef int _fill(self, const MarketC* m, const Trade* t) except -1:
        """R2 for one fill: book its legs (both legs of a swap, fees) for whichever of its
        orders holds, and trim the maker's hold to its ``maker_leaves``."""
        cdef int32_t th = self.order_hold[t.taker_id], mh = self.order_hold[t.maker_id]
        cdef int64_t base, near, far, fee_buyer, fee_seller
        cdef int taker_buys = t.taker_side == 0
        cdef Hold* h
        if th == NOT_HELD and mh == NOT_HELD:
            return 0
        _amounts(t.price, t.qty, m.f, m.bpl, m.ref, m.fref, m.swap, &base, &near, &far)
        fee_buyer = _fee(near, m.taker_num if taker_buys else m.maker_num,
                         m.taker_den if taker_buys else m.maker_den, m.fee_min)
        fee_seller = _fee(near, m.maker_num if taker_buys else m.taker_num,
                          m.maker_den if taker_buys else m.taker_den, m.fee_min)
        if th != NOT_HELD:
            h = &self.holds[th]
            self._legs(h, m, taker_buys, base, near, far, fee_buyer, fee_seller)
        if mh != NOT_HELD:
            h = &self.holds[mh]
            self._legs(h, m, not taker_buys, base, near, far, fee_buyer, fee_seller)
            self._finish(t.maker_id, t.maker_leaves)
        return 0

    cdef int _legs(self, Hold* h, const MarketC* m, bint buyer, int64_t base, int64_t near,
                   int64_t far, int64_t fee_buyer, int64_t fee_seller) except -1:
        cdef int sign = 1 if buyer else -1
        self._book_leg(h.kind, h.member, m.base, m.near_day, sign * base)
        if buyer:
            self._book_leg(h.kind, h.member, m.quote, m.near_day, -near - fee_buyer)
        else:
            self._book_leg(h.kind, h.member, m.quote, m.near_day, near - fee_seller)
        if m.swap:
            self._book_leg(h.kind, h.member, m.base, m.far_day, -sign * base)
            self._book_leg(h.kind, h.member, m.quote, m.far_day, sign * far)
        return 0

    # -------------------------------------------------------------------- orders
    cdef inline int _ensure_order(self, int64_t oid) except -1:
        if oid >= self.orders_cap:
            self._grow_orders(max(2 * self.orders_cap, oid + 1))
        return 0

    cdef int _check_value(self, MarketC* m, OrderBook book, int side, int64_t px,
                          int64_t lots, int64_t owner) noexcept:
        """VALUE_TOO_LARGE if some fill of ``lots`` at up to ``px`` ticks (0: a market order)
        could write an amount beyond int64; the cheap bound on the day's prices first."""
        cdef int64_t top = px if px > m.max_px else m.max_px
        cdef int64_t worst = px, cost, first, last, per_lot
        if top == m.safe_px and lots <= m.safe_lots:   # the common case: no division
            return 0
        if _sat_add(m.fixed, _sat_mul(top, m.f)) <= INT64_MAX // lots:
            if top == m.max_px:
                per_lot = _sat_add(m.fixed, _sat_mul(top, m.f))
                m.safe_px, m.safe_lots = top, INT64_MAX // per_lot if per_lot else INT64_MAX
            return 0
        if side == 1:       # a sell fills at the bids' prices, the best bid first
            book.reach(1, 1, -1, &cost, &first, &last)
            if first > worst:
                worst = first
        elif px == 0:       # a market buy: the worst ask it would reach
            book.reach(0, lots, owner, &cost, &first, &last)
            worst = last
        if _sat_add(m.fixed, _sat_mul(worst, m.f)) > INT64_MAX // lots:
            return R_VALUE_TOO_LARGE
        return 0

    cdef int64_t _worst(self, const MarketC* m, OrderBook book, int side, int64_t px) noexcept:
        """The worst price a limit order at ``px`` can fill at: its limit, except that a swap
        sell (which pays the points on the far leg) takes bids above it."""
        cdef int64_t cost, first = 0, last
        if side == 1 and m.swap:
            book.reach(1, 1, -1, &cost, &first, &last)
            if first > px:
                return first
        return px

    cdef int place(self, int32_t member, int32_t mk, int action, int side, int64_t px,
                   int64_t lots, int tif, double time) except -100:
        """A new limit (``action`` 0) or market (2) order of member index ``member`` in market
        ``mk``, its fields already valid: 0 and the outcome in ``last_*``, or the refusal code
        with nothing changed. O(1) + matching + O(fills)."""
        cdef MarketC* m = &self.markets[mk]
        cdef OrderBook book = <OrderBook>self.books[mk]
        cdef int64_t oid = self.next_id, owner = self.member_id[member]
        cdef int64_t taken, cost = 0, first = 0, last = 0
        cdef int kind, code
        cdef Outcome out
        if not m.open:
            return m.closed_code
        if self.staging.n >= self.flush_every:
            self.flush()
        if not ((px if px > m.max_px else m.max_px) == m.safe_px and lots <= m.safe_lots):
            code = self._check_value(m, book, side, px, lots, owner)   # beyond the cached bound
            if code:
                return code
        self._ensure_order(oid)
        kind = self._account_kind(member, m)
        if kind != NO_ACCOUNT:
            if kind == FUNDS:
                if not (self.member_flags[member] & 4):
                    self._open_funds(member)
                self._sync()
            if action == 0:
                code = self._hold(oid, kind, member, m, side, lots, self._worst(m, book, side, px),
                                  0, False)
            else:
                taken = book.reach(side, lots, owner, &cost, &first, &last)
                if taken:
                    code = self._hold(oid, kind, member, m, side, taken,
                                      first if (side == 1 and m.swap) else last, cost, True)
            if code:
                return code
        if action == 0:
            book.new_order(oid, side, px, lots, tif, owner, &out)
        else:
            book.market_order(oid, side, lots, owner, &out)
        if out.code:
            self._finish(oid, 0)
            book.clear_stp_cancels()
            return <int>out.code
        self.next_id = oid + 1
        self.order_market[oid] = mk
        if px > m.max_px:
            m.max_px = px
        self._post(m, book, oid, out.executed, out.leaves, 0, time)
        return 0

    cdef int _post(self, const MarketC* m, OrderBook book, int64_t oid, int64_t executed,
                   int64_t leaves, int64_t before, double time) except -1:
        """After the book: stage the fills, R2, the order index; ``last_*`` says what happened."""
        cdef Py_ssize_t n = book.trade_count(), i, ns = book.stp_cancel_count()
        cdef const Trade* fills = book.trade_buffer()
        cdef const Trade* t
        cdef const StpCancel* stp
        self.last_id, self.last_executed, self.last_leaves = oid, executed, leaves
        self.last_first = self.staging.flushed + self.staging.n + 1
        self.last_count = n
        if n:
            self.staging.add(fills, n, m.terms_row, time)
            if n > self.maker_cum_cap:
                self.maker_cum_cap = max(2 * self.maker_cum_cap, n, 64)
                self.maker_cum = <int64_t*>_grow(self.maker_cum, self.maker_cum_cap,
                                                 sizeof(int64_t))
            for i in range(n):
                t = &fills[i]
                if self.live_holds:
                    self._fill(m, t)
                self.order_cum[t.maker_id] += t.qty
                self.maker_cum[i] = self.order_cum[t.maker_id]
            book.clear_trades()
        self.order_cum[oid] = before + executed
        self.last_cum = before + executed
        self.last_stp = ns
        if ns:
            if ns > self.stp_cap:
                self.stp_cap = max(2 * self.stp_cap, ns, 16)
                self.stp_rows = <StpCancel*>_grow(self.stp_rows, self.stp_cap, sizeof(StpCancel))
            stp = book.stp_cancel_buffer()
            memcpy(self.stp_rows, stp, ns * sizeof(StpCancel))
            for i in range(ns):
                self._finish(stp[i].order_id, 0)
            book.clear_stp_cancels()
        self._finish(oid, leaves)
        return 0

    cdef int _resting(self, int32_t member, int64_t oid, const Order** order_out) noexcept:
        """Resting order ``oid`` of member index ``member`` (its book is that of
        ``order_market[oid]``): 0 or UNKNOWN_ORDER / NOT_OWNER."""
        cdef int32_t mk
        cdef const Order* o
        if oid <= 0 or oid >= self.next_id:
            return R_UNKNOWN_ORDER
        mk = self.order_market[oid]
        if mk < 0:
            return R_UNKNOWN_ORDER
        o = (<OrderBook>self.books[mk]).resting(oid)
        if o == NULL:
            return R_UNKNOWN_ORDER
        if o.owner != self.member_id[member]:
            return R_NOT_OWNER
        order_out[0] = o
        return 0

    cdef int cancel(self, int32_t member, int64_t oid) except -100:
        """Cancel resting order ``oid`` of member index ``member``: 0 (``last_*``: its fills so
        far) or UNKNOWN_ORDER / NOT_OWNER with nothing changed. O(1)."""
        cdef const Order* o = NULL
        cdef Outcome out
        cdef int code = self._resting(member, oid, &o)
        if code:
            return code
        (<OrderBook>self.books[self.order_market[oid]]).cancel_order(oid, &out)
        self._finish(oid, 0)
        self.last_id, self.last_executed, self.last_leaves = oid, 0, 0
        self.last_cum, self.last_count, self.last_stp = self.order_cum[oid], 0, 0
        return 0

    cdef int modify(self, int32_t member, int64_t oid, int64_t lots, int64_t px,
                    double time) except -100:
        """Set resting order ``oid`` to ``lots`` at ``px`` (0: keep the price; lots 0 cancels):
        0 (``last_*``) or the refusal code with nothing changed."""
        cdef OrderBook book
        cdef const Order* o = NULL
        cdef Outcome out
        cdef MarketC* m
        cdef int64_t old_px, side, new_px
        cdef int32_t slot
        cdef Hold saved
        cdef int code = self._resting(member, oid, &o)
        if code:
            return code
        book = <OrderBook>self.books[self.order_market[oid]]
        if lots == 0:
            return self.cancel(member, oid)
        self._maybe_flush()
        m = &self.markets[self.order_market[oid]]
        side, old_px = o.side, o.price
        new_px = old_px if px == 0 else px
        code = self._check_value(m, book, <int>side, new_px, lots, self.member_id[member])
        if code:
            return code
        slot = self.order_hold[oid]
        if slot != NOT_HELD:
            if self.holds[slot].kind == FUNDS:
                self._sync()
            saved = self.holds[slot]
            self._price_hold(&self.holds[slot], m, <int>side,
                             self._worst(m, book, <int>side, new_px))
            code = self._take(&self.holds[slot],
                              self._need_quote(&self.holds[slot], lots) - saved.held_quote,
                              _sat_mul(lots, self.holds[slot].b) - saved.held_base)
            if code:
                self.holds[slot] = saved
                return code
            self.holds[slot].lots = lots
        book.modify_order(oid, lots, 0 if new_px == old_px else new_px, &out)
        if out.code:
            if slot != NOT_HELD:
                self._release(saved.kind, saved.member, saved.quote,
                              self.holds[slot].held_quote - saved.held_quote)
                self._release(saved.kind, saved.member, saved.base,
                              self.holds[slot].held_base - saved.held_base)
                self.holds[slot] = saved
            return <int>out.code
        if new_px > m.max_px:
            m.max_px = new_px
        self._post(m, book, oid, out.executed, out.leaves, self.order_cum[oid], time)
        return 0

    # -------------------------------------------------------------------- Python entry points
    def try_submit(self, member, instrument, side, price_ticks, lots, tif, double time):
        """The fast path of ``Exchange.submit``: plain ints, a known member and an open market.
        Returns (code, order id); code 1 means "not for the fast path" (nothing was done). An
        accepted order is journaled here (:meth:`set_journal`), in C."""
        cdef bint ok = True
        cdef int64_t mid = _exact_int(member, &ok), s = _exact_int(side, &ok)
        cdef int64_t px = _exact_int(price_ticks, &ok), q = _exact_int(lots, &ok)
        cdef int64_t t = _exact_int(tif, &ok), mk
        cdef int32_t mi
        cdef int code
        if not ok or s < 0 or s > 1 or t < 0 or t > 3 or px <= 0 or q <= 0:
            return 1, 0
        if type(instrument) is not str:
            return 1, 0
        index = self.symbols.get(instrument)
        if index is None:
            return 1, 0
        mk = <int64_t>index
        if not self.markets[mk].open:
            return 1, 0
        mi = map_find(&self.member_index, mid)
        if mi == EMPTY:
            return 1, 0
        code = self.place(mi, <int32_t>mk, 0, <int>s, px, q, <int>t, time)
        if code == 0 and self.journal is not None:  # journaled before the facade answers
            self.journal.put_submit(time, mid, <uint16_t>mk, <uint8_t>s, px, q, <uint8_t>t)
        return code, self.last_id

    def submit(self, int32_t member, int32_t market, int side, int64_t px, int64_t lots,
               int tif, double time):
        """A limit order of member index ``member``, fields valid: the code (0: accepted)."""
        return self.place(member, market, 0, side, px, lots, tif, time)

    def market_order(self, int32_t member, int32_t market, int side, int64_t lots, double time):
        """A market order of member index ``member``: the code (0: accepted)."""
        return self.place(member, market, 2, side, 0, lots, 0, time)

    def cancel_order(self, int32_t member, int64_t oid):
        return self.cancel(member, oid)

    def modify_order(self, int32_t member, int64_t oid, int64_t lots, int64_t px, double time):
        return self.modify(member, oid, lots, px, time)

    def process(self, orders, double time):
        """Apply an ORDER_DTYPE array in order; a RESULT_DTYPE array (module docstring of
        venue/exchange.py: ``Exchange.process``). TypeError for another input, before anything
        is applied. O(messages + fills)."""
        if not isinstance(orders, np.ndarray) or orders.dtype != ORDER_DTYPE or orders.ndim != 1:
            raise TypeError(f"orders must be a one-dimensional numpy array of ORDER_DTYPE, got "
                            f"{getattr(orders, 'dtype', type(orders).__name__)}")
        cdef const OrderMsg[::1] batch = np.ascontiguousarray(orders)
        cdef Py_ssize_t i, n = batch.shape[0]
        results = np.empty(n, dtype=RESULT_DTYPE)   # every field of every row is written
        cdef ResultMsg[::1] out = results
        cdef const OrderMsg* msg
        cdef int code
        for i in range(n):
            msg = &batch[i]
            code = self._message(msg, time)
            out[i].code = code
            if code == 0:
                out[i].order_id = self.last_id
                out[i].executed = self.last_cum
                out[i].leaves = self.last_leaves
            else:
                out[i].order_id = msg.order_id if msg.action == 1 or msg.action == 3 else 0
                out[i].executed = out[i].leaves = 0
        return results

    cdef int _message(self, const OrderMsg* msg, double time) except -100:
        """One batch row, its fields checked in the order the single calls check them (entry,
        then the engine): the same row gives the same code either way."""
        cdef int64_t a = msg.action
        cdef int32_t mi
        cdef const Order* o = NULL
        cdef int code
        if a < 0 or a > 3:
            return R_INVALID_ACTION
        if a == 1 or a == 3:
            if msg.order_id <= 0:
                return R_UNKNOWN_ORDER
            mi = map_find(&self.member_index, msg.member)
            if mi == EMPTY:
                return R_UNKNOWN_MEMBER
            code = self._resting(mi, msg.order_id, &o)
            if code:
                return code
            if a == 1:
                return self.cancel(mi, msg.order_id)
            if msg.lots < 0:
                return R_INVALID_QTY
            if msg.price_ticks < 0:
                return R_INVALID_PRICE
            return self.modify(mi, msg.order_id, msg.lots, msg.price_ticks, time)
        if msg.order_id != 0:
            return R_INVALID_ORDER_ID
        mi = map_find(&self.member_index, msg.member)
        if mi == EMPTY:
            return R_UNKNOWN_MEMBER
        if msg.instrument < 0 or msg.instrument >= self.n_markets:
            return R_UNKNOWN_INSTRUMENT
        if not self.markets[msg.instrument].open:
            return self.markets[msg.instrument].closed_code
        if msg.side != 0 and msg.side != 1:
            return R_INVALID_SIDE
        if a == 2:
            if msg.lots <= 0:
                return R_INVALID_QTY
            return self.place(mi, <int32_t>msg.instrument, 2, <int>msg.side, 0, msg.lots, 0, time)
        if msg.tif < 0 or msg.tif > 3:
            return R_INVALID_TIF
        if msg.price_ticks <= 0:
            return R_INVALID_PRICE
        if msg.lots <= 0:
            return R_INVALID_QTY
        return self.place(mi, <int32_t>msg.instrument, 0, <int>msg.side, msg.price_ticks,
                          msg.lots, <int>msg.tif, time)

    # -------------------------------------------------------------------- reading (Python)
    def last_fills(self):
        """The last call's fills as rows (TRADE_DTYPE tuples) and the makers' fills so far after
        each; for events."""
        rows = self.staging.last(self.last_count)
        return rows, [self.maker_cum[i] for i in range(self.last_count)]

    def last_stp_cancels(self):
        """The resting orders the last call's self-trade prevention cancelled: (order id,
        owner, side, price) rows."""
        return [(self.stp_rows[i].order_id, self.stp_rows[i].owner, self.stp_rows[i].side,
                 self.stp_rows[i].price) for i in range(self.last_stp)]

    def cum(self, int64_t oid):
        """Lots order ``oid`` has filled so far."""
        return self.order_cum[oid] if 0 < oid < self.orders_cap else 0

    def market_of(self, int64_t oid):
        """The market index of order ``oid``, -1 for an id never given out."""
        return self.order_market[oid] if 0 < oid < self.next_id else -1

    @property
    def next_order_id(self) -> int:
        return self.next_id

    def release(self, int64_t oid):
        """The order is gone (expired): release its hold."""
        if 0 < oid < self.orders_cap:
            self._finish(oid, 0)

    def has_hold(self, int64_t oid):
        return 0 < oid < self.orders_cap and self.order_hold[oid] != NOT_HELD

    def funds(self, int32_t member, int32_t asset):
        """(balance, reserved, committed, available) of member index ``member`` in ``asset``;
        a member without a funds account: its balance, and that balance available."""
        cdef int64_t k = member * self.n_assets + asset, committed = 0
        cdef int32_t i
        if not (self.member_flags[member] & 4):
            balance = self.source.balance(self.member_id[member], self.assets[asset])
            return balance, 0, 0, balance
        self._sync()
        for i in range(self.n_cells[k]):
            committed += self.cells[k * MAX_DATES + i].debits
        return self.balance[k], self.reserved[k], committed, self._available(k)

    def credit_exposure(self, int32_t member, int32_t asset):
        """A credit-limited member's owed plus open worst case in ``asset``, minor units."""
        cdef int64_t k = member * self.n_assets + asset
        if not (self.member_flags[member] & 2):
            raise KeyError(f"member {self.member_id[member]} has no credit limit")
        return self.owed[k] + self.open_exposure[k]

    def new_day(self):
        """Credit limits are on the day's trades: forget the previous day's."""
        cdef int64_t k
        for k in range(self.n_members * self.n_assets):
            self.owed[k] = 0

    def settled(self, int64_t day, object roll_day, dict carried):
        """Settlement of ``day`` is in the balances: forget its commitments; ``carried``
        ({(member id, asset code): signed amount}) is committed on ``roll_day`` (a deferred
        member that failed gets a funds account for it: what it owes is not available)."""
        cdef int64_t k, j
        cdef int32_t i, n, mi
        cdef Cell* cells
        for mi in range(self.n_members):
            if not (self.member_flags[mi] & 4):
                continue
            for k in range(mi * self.n_assets, (mi + 1) * self.n_assets):
                cells = &self.cells[k * MAX_DATES]
                n = self.n_cells[k]
                for i in range(n):
                    if cells[i].day == day:
                        for j in range(i, n - 1):
                            cells[j] = cells[j + 1]
                        self.n_cells[k] = n - 1
                        self._refresh(k)
                        break
        self.seen_version = -1
        if roll_day is None:
            return
        for (member, asset), amount in carried.items():
            mi = map_find(&self.member_index, member)
            if mi != EMPTY and amount and asset in self.assets:
                self._open_funds(mi)  # a failed member's rolled debts are known future debits
                self._book_leg(FUNDS, mi, self.assets.index(asset), roll_day, amount)

    def live_orders(self):
        """Holds of open orders (for checks: 0 after every session close)."""
        return self.live_holds
