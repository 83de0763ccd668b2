# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The journal writer's hot half, compiled: framed records queued in one growing C buffer.

:class:`FrameQueue` writes each record's frame (mark, length, kind, time, payload, CRC-32; see
docs/journal.md) straight into its buffer: the four hot commands (submit, market, cancel,
modify) field by field in C, any other command from its payload bytes. It numbers the records,
counts the bytes of the current segment, and calls back into the Python writer only when
something must happen (a segment to roll, the first record of a group, a group complete, too
many records waiting: see the class). :meth:`take` hands the queued bytes to the writer.
Every method runs with the GIL held, so the writer's background thread sees whole records
only. :meth:`take` detaches the buffer first and then writes the CRC of each big record
(:meth:`FrameQueue.frame` of a payload of 64 KiB or more: a ``process`` batch) with zlib, which
releases the GIL: on the group commit's thread, the caller does not wait for it.

The hot layouts here are the ones ``exchange.journal.commands`` declares (Submit, MarketOrder,
Cancel, Modify); tests/test_journal_commands.py checks that both write the same bytes.
:func:`crc32` is zlib's CRC-32 (slice-by-8 tables), also checked against ``zlib.crc32``.
Cost per hot record: a few dozen nanoseconds plus the Python call; nothing is allocated but the
buffer's doubling.
"""
import operator
import zlib

from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND, PyBUF_STRIDES
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

import numpy as np

cdef uint32_t _TABLE[8][256]


cdef void _fill_table() noexcept:
    cdef uint32_t c
    cdef int i, j, k
    for i in range(256):
        c = <uint32_t>i
        for j in range(8):
            c = (c >> 1) ^ (0xEDB88320U if c & 1 else 0U)
        _TABLE[0][i] = c
    for i in range(256):
        for k in range(1, 8):
            _TABLE[k][i] = (_TABLE[k - 1][i] >> 8) ^ _TABLE[0][_TABLE[k - 1][i] & 0xFF]


_fill_table()


cdef inline uint32_t _load32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16)
            | (<uint32_t>p[3] << 24))


cdef uint32_t _crc32(const uint8_t* p, size_t n, uint32_t start=0) noexcept nogil:
    """CRC-32 (IEEE 802.3, zlib's) of ``n`` bytes at ``p``, continuing ``start`` (the CRC of
    the bytes before them)."""
    cdef uint32_t crc = ~start, one, two
    while n >= 8:
        one = _load32(p) ^ crc
        two = _load32(p + 4)
        crc = (_TABLE[7][one & 0xFF] ^ _TABLE[6][(one >> 8) & 0xFF]
               ^ _TABLE[5][(one >> 16) & 0xFF] ^ _TABLE[4][one >> 24]
               ^ _TABLE[3][two & 0xFF] ^ _TABLE[2][(two >> 8) & 0xFF]
               ^ _TABLE[1][(two >> 16) & 0xFF] ^ _TABLE[0][two >> 24])
        p += 8
        n -= 8
    while n:
        crc = (crc >> 8) ^ _TABLE[0][(crc ^ p[0]) & 0xFF]
        p += 1
        n -= 1
    return ~crc


def crc32(const uint8_t[::1] data not None) -> int:
    """zlib.crc32 of ``data`` (a bytes-like object), computed here."""
    if data.shape[0] == 0:
        return 0
    return _crc32(&data[0], <size_t>data.shape[0])


# little-endian stores, whatever the host's order (compilers make them one store on x86)
cdef inline void _u16(uint8_t* p, uint16_t v) noexcept nogil:
    p[0] = v & 0xFF
    p[1] = v >> 8


cdef inline void _u32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = v & 0xFF
    p[1] = (v >> 8) & 0xFF
    p[2] = (v >> 16) & 0xFF
    p[3] = v >> 24


cdef inline void _u64(uint8_t* p, uint64_t v) noexcept nogil:
    _u32(p, <uint32_t>v)
    _u32(p + 4, <uint32_t>(v >> 32))


cdef inline void _f64(uint8_t* p, double v) noexcept nogil:
    cdef uint64_t bits
    memcpy(&bits, &v, 8)
    _u64(p, bits)


# -- strict conversions: ints (numpy ones too) in range, never bools or floats -----------------

cdef object _exact(object value, str what):
    """``value`` as a Python int: TypeError for a bool or anything without __index__."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what}: expected an integer, got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what}: expected an integer, got {type(value).__name__} "
                        f"{value!r}") from None


cdef inline int64_t _i64(object value, str what) except? -1:
    if type(value) is not int:
        value = _exact(value, what)
    try:
        return <int64_t>value  # C-level conversion; OverflowError outside int64
    except OverflowError:
        raise ValueError(f"{what}: {value} is not in -2**63..2**63-1") from None


cdef inline uint64_t _unsigned(object value, str what, int64_t high) except? 0xFFFFFFFF:
    cdef int64_t result = _i64(value, what)
    if not 0 <= result <= high:
        raise ValueError(f"{what}: {result} is not in 0..{high}")
    return <uint64_t>result


cdef inline double _time(object value) except? -1.0:
    if type(value) is float:
        return <double>value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"time: expected seconds as a float, got {type(value).__name__} "
                        f"{value!r}")
    return <double>float(value)


cdef enum:
    _HEAD = 15          # mark, length, kind, time
    _OVERHEAD = 19      # _HEAD + crc
    _SUBMIT = 9         # kind codes (exchange.journal.commands.Kind)
    _MARKET = 10
    _CANCEL = 11
    _MODIFY = 12
    _REFUSED = 15
    _SUBMIT_SIZE = 48   # whole frames of the hot commands without a client order id
    _MARKET_SIZE = 39
    _CANCEL_SIZE = 35
    _MODIFY_SIZE = 51
    _MAX_BODY = 1 << 30  # exchange.journal.format.MAX_BODY
    _BIG = 4096          # payload bytes from which zlib computes the CRC
    _LATER = 65536       # payload bytes from which take() computes the CRC
    _SOON = 1 << 20      # queued bytes from which a group is taken at once


cdef class FrameQueue:
    """Framed records waiting to be written (module docstring).

    Callbacks (``on_first`` and ``on_full`` may be None): ``on_first()`` when a record arrives in an empty
    queue; ``on_full()`` when ``threshold`` records or 1 MiB wait; ``on_limit()`` while ``limit`` or more
    wait (it must empty the queue: the writer writes it out then and there); ``on_roll()``
    before a record that would take the segment past ``segment_limit`` bytes (< 0: no limit);
    ``slow(kind, time, fields)`` journals a hot command the compiled path does not write itself
    (one with a client order id). ``next_seq``: the number of the next record. ``broken``:
    None, or the exception every call raises from now on (set by the writer when it fails or
    closes).
    """

    # attributes: _frames.pxd (the venue's engine journals its fast path through put_submit)

    def __cinit__(self, *args, **kwargs):
        self._buf = NULL
        self._size = self._cap = 0
        self._later = NULL
        self._n_later = self._later_cap = 0

    def __init__(self, *, Py_ssize_t threshold, Py_ssize_t limit, int64_t segment_limit,
                 int64_t next_seq, on_first, on_full, on_limit, on_roll, slow):
        if not 1 <= threshold <= limit:
            raise ValueError(f"threshold {threshold} and limit {limit}: need 1 <= threshold "
                             f"<= limit")
        self._threshold, self._limit_records = threshold, limit
        self._limit, self.next_seq = segment_limit, next_seq
        self._on_first, self._on_full, self._on_limit = on_first, on_full, on_limit
        self._on_roll, self._slow = on_roll, slow
        self.queued = 0
        self.broken = None

    def __dealloc__(self):
        free(self._buf)
        free(self._later)

    def segment(self, int64_t used, int64_t records):
        """The current segment now holds ``used`` bytes and ``records`` records."""
        self.segment_bytes, self.segment_records = used, records

    @property
    def nbytes(self) -> int:
        """Bytes queued."""
        return self._size

    def take(self):
        """(every queued record as a bytes-like :class:`Taken`, how many records); the queue
        is then empty. The buffer changes hands (no copy); the CRCs left for later are written
        into it then (zlib releases the GIL meanwhile), while the queue takes new records in a
        new buffer."""
        cdef Taken taken = Taken.__new__(Taken)
        cdef Py_ssize_t i, n_later = self._n_later
        cdef Py_ssize_t* later = self._later
        cdef uint8_t* data = self._buf
        taken._data, taken._size = data, self._size
        taken._later = later
        count = self.queued
        self._buf, self._size, self._cap = NULL, 0, 0
        self._later, self._n_later, self._later_cap = NULL, 0, 0
        self.queued = 0
        if n_later:
            view = memoryview(taken)
            for i in range(n_later):  # zlib's CRC releases the GIL on long runs
                _u32(data + later[2 * i] + later[2 * i + 1] - 4, zlib.crc32(
                    view[later[2 * i]:later[2 * i] + later[2 * i + 1] - 4]))
            view.release()
        return taken, count

    cdef uint8_t* _open(self, Py_ssize_t n, uint8_t kind, double time) except NULL:
        """Room for a frame of ``n`` bytes, its head written; rolls the segment first if the
        frame would overflow it."""
        cdef Py_ssize_t cap
        cdef uint8_t* grown
        if self.broken is not None:
            raise self.broken
        if self._limit >= 0 and self.segment_bytes + n > self._limit and self.segment_records:
            self._on_roll()
        if self._size + n > self._cap:
            cap = max(self._cap * 2, self._size + n, 4096)
            grown = <uint8_t*>realloc(self._buf, cap)
            if grown == NULL:
                raise MemoryError(f"journal queue: cannot grow to {cap} bytes")
            self._buf, self._cap = grown, cap
        cdef uint8_t* p = self._buf + self._size
        p[0], p[1] = 0xE5, 0x9F
        _u32(p + 2, <uint32_t>(n - 10))
        p[6] = kind
        _f64(p + 7, time)
        return p

    cdef int64_t _close(self, uint8_t* p, Py_ssize_t n, uint32_t crc) except -1:
        """Seal the frame at ``p`` with ``crc`` (of its bytes before it), count it, and call
        back as needed."""
        _u32(p + n - 4, crc)
        self._size += n
        self.queued += 1
        self.segment_bytes += n
        self.segment_records += 1
        cdef int64_t seq = self.next_seq
        self.next_seq += 1
        if self.queued == 1 and self._on_first is not None:
            self._on_first()
        if self.queued == self._threshold and self._on_full is not None:
            self._on_full()
        if self.queued >= self._limit_records:
            self._on_limit()
        return seq

    def submit(self, time, member, instrument, side, price_ticks, lots, tif,
               client_order_id=None):
        """Queue a Submit record; returns its sequence number. TypeError/ValueError naming
        the field for a value that is not an int of its range (numpy ints taken, bools not);
        nothing is queued then."""
        if client_order_id is not None:
            return self._slow(_SUBMIT, time, (member, instrument, side, price_ticks, lots, tif,
                                              client_order_id))
        cdef double t = _time(time)
        cdef int64_t m = _i64(member, "member"), px = _i64(price_ticks, "price_ticks")
        cdef int64_t q = _i64(lots, "lots")
        cdef uint64_t ins = _unsigned(instrument, "instrument", 0xFFFF)
        cdef uint64_t sd = _unsigned(side, "side", 0xFF), tf = _unsigned(tif, "tif", 0xFF)
        return self.put_submit(t, m, <uint16_t>ins, <uint8_t>sd, px, q, <uint8_t>tf)

    cdef int64_t put_submit(self, double time, int64_t member, uint16_t instrument, uint8_t side,
                            int64_t price_ticks, int64_t lots, uint8_t tif) except -1:
        """:meth:`submit` of checked C values without a client order id (for C callers)."""
        cdef uint8_t* p = self._open(_SUBMIT_SIZE, _SUBMIT, time)
        _u64(p + 15, <uint64_t>member)
        _u16(p + 23, instrument)
        p[25] = side
        _u64(p + 26, <uint64_t>price_ticks)
        _u64(p + 34, <uint64_t>lots)
        p[42] = tif
        p[43] = 0  # no client order id
        return self._close(p, _SUBMIT_SIZE, _crc32(p, _SUBMIT_SIZE - 4))

    def market(self, time, member, instrument, side, lots, client_order_id=None):
        """Queue a MarketOrder record; returns its sequence number (checks as submit)."""
        if client_order_id is not None:
            return self._slow(_MARKET, time, (member, instrument, side, lots, client_order_id))
        cdef double t = _time(time)
        cdef int64_t m = _i64(member, "member"), q = _i64(lots, "lots")
        cdef uint64_t ins = _unsigned(instrument, "instrument", 0xFFFF)
        cdef uint64_t sd = _unsigned(side, "side", 0xFF)
        cdef uint8_t* p = self._open(_MARKET_SIZE, _MARKET, t)
        _u64(p + 15, <uint64_t>m)
        _u16(p + 23, <uint16_t>ins)
        p[25] = <uint8_t>sd
        _u64(p + 26, <uint64_t>q)
        p[34] = 0
        return self._close(p, _MARKET_SIZE, _crc32(p, _MARKET_SIZE - 4))

    def cancel(self, time, member, order_id):
        """Queue a Cancel record; returns its sequence number (checks as submit)."""
        cdef double t = _time(time)
        cdef int64_t m = _i64(member, "member"), oid = _i64(order_id, "order_id")
        cdef uint8_t* p = self._open(_CANCEL_SIZE, _CANCEL, t)
        _u64(p + 15, <uint64_t>m)
        _u64(p + 23, <uint64_t>oid)
        return self._close(p, _CANCEL_SIZE, _crc32(p, _CANCEL_SIZE - 4))

    def modify(self, time, member, order_id, lots, price_ticks=0):
        """Queue a Modify record; returns its sequence number (checks as submit)."""
        cdef double t = _time(time)
        cdef int64_t m = _i64(member, "member"), oid = _i64(order_id, "order_id")
        cdef int64_t q = _i64(lots, "lots"), px = _i64(price_ticks, "price_ticks")
        cdef uint8_t* p = self._open(_MODIFY_SIZE, _MODIFY, t)
        _u64(p + 15, <uint64_t>m)
        _u64(p + 23, <uint64_t>oid)
        _u64(p + 31, <uint64_t>q)
        _u64(p + 39, <uint64_t>px)
        return self._close(p, _MODIFY_SIZE, _crc32(p, _MODIFY_SIZE - 4))

    def refused(self, time, str call not None, code):
        """Queue a Refused record (``call`` at most 255 bytes of UTF-8, ``code`` an int64);
        returns its sequence number (checks as submit)."""
        cdef double t = _time(time)
        cdef int64_t c = _i64(code, "code")
        cdef bytes text = call.encode("utf-8")
        cdef Py_ssize_t size = len(text), n = _OVERHEAD + 1 + size + 8
        if size > 255:
            raise ValueError(f"call: {size} bytes of UTF-8 is more than 255")
        cdef uint8_t* p = self._open(n, _REFUSED, t)
        p[15] = <uint8_t>size
        if size:
            memcpy(p + 16, <const char*>text, size)
        _u64(p + 16 + size, <uint64_t>c)
        return self._close(p, n, _crc32(p, n - 4))

    def packed(self, uint8_t kind, time, const uint8_t[::1] prefix not None,
               const int64_t[:, ::1] rows not None):
        """Queue a record of ``kind`` whose payload is ``prefix`` (the dtype's description)
        then ``rows`` (n rows of k int64 fields) packed as ``fields.PACKED`` packs them (the
        same bytes): u32 n, per field its minimum (i64) and width (u8), then the rows' offsets.
        Two passes over the rows, no allocation. ValueError for more than 64 fields, 2**32 - 1
        rows or a record over 1 GiB; nothing is queued then."""
        cdef Py_ssize_t n = rows.shape[0], k = rows.shape[1], i, j, row = 0
        cdef int64_t base[64]
        cdef int64_t top[64]
        cdef uint8_t width[64]
        cdef int64_t v
        if k > 64 or n > 0xFFFFFFFF:
            raise ValueError(f"a packed batch holds at most 64 fields and 2**32 - 1 rows, not "
                             f"{k} and {n}")
        for j in range(k):
            base[j] = rows[0, j] if n else 0
            top[j] = base[j]
        for i in range(1, n):
            for j in range(k):
                v = rows[i, j]
                if v < base[j]:
                    base[j] = v
                elif v > top[j]:
                    top[j] = v
        for j in range(k):
            width[j] = _span_width(<uint64_t>top[j] - <uint64_t>base[j])
            row += width[j]
        cdef Py_ssize_t head = prefix.shape[0], size = head + 4 + 9 * k + n * row
        if size + 9 > _MAX_BODY:
            raise ValueError(f"a journal record holds at most {_MAX_BODY - 9} payload bytes, "
                             f"not {size}")
        cdef uint8_t* p = self._open(size + _OVERHEAD, kind, _time(time))
        cdef uint8_t* q = p + _HEAD
        if head:
            memcpy(q, &prefix[0], head)
        q += head
        _u32(q, <uint32_t>n)
        q += 4
        for j in range(k):
            _u64(q, <uint64_t>base[j])
            q[8] = width[j]
            q += 9
        if n and row:
            _pack_rows(q, rows, base, width)
        return self._sealed(p, size)

    cdef object _sealed(self, uint8_t* p, Py_ssize_t size):
        """Seal a frame whose payload of ``size`` bytes is written: its CRC now, or (64 KiB or
        more) when taken; once 1 MiB waits, the group is taken at once (a big batch is written
        while it runs)."""
        if size < _LATER:
            return self._close(p, size + _OVERHEAD, _crc32(p, size + _HEAD))
        self._crc_later(p, size + _OVERHEAD)
        seq = self._close(p, size + _OVERHEAD, 0)
        if self._size >= _SOON and self._on_full is not None:
            self._on_full()
        return seq

    cdef int _crc_later(self, uint8_t* p, Py_ssize_t n) except -1:
        """Leave the CRC of the frame of ``n`` bytes at ``p`` to :meth:`take`."""
        cdef Py_ssize_t cap
        cdef Py_ssize_t* grown
        if self._n_later == self._later_cap:
            cap = max(2 * self._later_cap, 16)
            grown = <Py_ssize_t*>realloc(self._later, 2 * cap * sizeof(Py_ssize_t))
            if grown == NULL:
                raise MemoryError("journal queue: cannot note a record's CRC")
            self._later, self._later_cap = grown, cap
        self._later[2 * self._n_later] = p - self._buf
        self._later[2 * self._n_later + 1] = n
        self._n_later += 1
        return 0

    def frame(self, uint8_t kind, time, const uint8_t[::1] payload not None,
              const uint8_t[::1] tail=None):
        """Queue a record of ``kind`` with ``payload`` then ``tail`` (bytes-like objects,
        copied once; ``tail``: a numpy array's bytes, say); ValueError if it is bigger than a
        record may be."""
        cdef Py_ssize_t head_size = payload.shape[0]
        cdef Py_ssize_t tail_size = 0 if tail is None else tail.shape[0]
        cdef Py_ssize_t size = head_size + tail_size
        if size + 9 > _MAX_BODY:
            raise ValueError(f"a journal record holds at most {_MAX_BODY - 9} payload bytes, "
                             f"not {size}")
        cdef uint8_t* p = self._open(size + _OVERHEAD, kind, _time(time))
        if head_size:
            memcpy(p + _HEAD, &payload[0], head_size)
        if tail_size:
            memcpy(p + _HEAD + head_size, &tail[0], tail_size)
        if size >= _LATER or tail_size:  # a batch: its CRC is written when taken, soon
            return self._sealed(p, size)
        if size < _BIG:
            return self._close(p, size + _OVERHEAD, _crc32(p, size + _HEAD))
        # zlib's CRC is about twice as fast on long runs (it uses the CPU's carry-less multiply)
        crc = zlib.crc32(payload, _crc32(p, _HEAD))
        return self._close(p, size + _OVERHEAD, crc)


cdef inline uint8_t _span_width(uint64_t span) noexcept nogil:
    if span == 0:
        return 0
    if span < 0x100:
        return 1
    if span < 0x10000:
        return 2
    if span < <uint64_t>0xFFFFFFFF + 1:
        return 4
    return 8


cdef void _pack_rows(uint8_t* q, const int64_t[:, ::1] rows, const int64_t* base,
                     const uint8_t* width) noexcept nogil:
    """Each row as its fields' offsets from ``base`` in ``width`` bytes (0: left out)."""
    cdef Py_ssize_t i, j, n = rows.shape[0], k = rows.shape[1]
    cdef uint64_t d
    for i in range(n):
        for j in range(k):
            d = <uint64_t>rows[i, j] - <uint64_t>base[j]
            if width[j] == 1:
                q[0] = <uint8_t>d
            elif width[j] == 2:
                _u16(q, <uint16_t>d)
            elif width[j] == 4:
                _u32(q, <uint32_t>d)
            elif width[j] == 8:
                _u64(q, d)
            q += width[j]


cdef class Taken:
    """Records :meth:`FrameQueue.take` took: a read-only bytes-like object (buffer protocol)
    that owns their C buffer."""

    cdef uint8_t* _data
    cdef Py_ssize_t _size
    cdef Py_ssize_t* _later

    def __cinit__(self):
        self._data = NULL
        self._size = 0
        self._later = NULL

    def __dealloc__(self):
        free(self._data)
        free(self._later)

    def __len__(self):
        return self._size

    def __getbuffer__(self, Py_buffer* view, int flags):
        view.buf = <void*>self._data if self._data != NULL else <void*>&self._size
        view.obj = self
        view.len = self._size
        view.readonly = 1
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = b"B"
        view.ndim = 1
        view.shape = &self._size if (flags & PyBUF_ND) else NULL
        view.strides = &view.itemsize if (flags & PyBUF_STRIDES) else NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer* view):
        pass

    def __bytes__(self):
        return PyBytes_FromStringAndSize(<char*>self._data, self._size)
