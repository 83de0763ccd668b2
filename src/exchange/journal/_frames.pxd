# cython: language_level=3
"""C-level declarations of the journal's frame queue (src/exchange/journal/_frames.pyx), for
``cimport``: the venue's engine journals its fast path's orders through ``put_submit`` without a
Python call."""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t


cdef class FrameQueue:
    cdef uint8_t* _buf
    cdef Py_ssize_t _size, _cap, _threshold, _limit_records
    cdef int64_t _limit
    cdef readonly Py_ssize_t queued
    cdef readonly int64_t next_seq, segment_bytes, segment_records
    cdef object _on_first, _on_full, _on_limit, _on_roll, _slow
    cdef public object broken
    cdef Py_ssize_t* _later          # (offset, size) of the frames whose CRC take() writes
    cdef Py_ssize_t _n_later, _later_cap

    cdef uint8_t* _open(self, Py_ssize_t n, uint8_t kind, double time) except NULL
    cdef int64_t _close(self, uint8_t* p, Py_ssize_t n, uint32_t crc) except -1
    cdef int _crc_later(self, uint8_t* p, Py_ssize_t n) except -1
    cdef object _sealed(self, uint8_t* p, Py_ssize_t size)
    cdef int64_t put_submit(self, double time, int64_t member, uint16_t instrument, uint8_t side,
                            int64_t price_ticks, int64_t lots, uint8_t tif) except -1
