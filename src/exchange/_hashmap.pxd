# cython: language_level=3
"""An open-addressing hash map from int64 keys to int32 values, used by the book core
(src/exchange/_book.pyx) for order id -> pool slot and for (side, price) -> price level.

Linear probing with Fibonacci hashing (one multiply spreads sequential keys; the table takes the
top bits), backward-shift deletion so lookups never meet tombstones, and a size kept a power of
two at most half full. find/insert/remove are O(1) expected; insert may double the table
(MemoryError if it cannot, with nothing changed). All functions are inline: they compile into
the module that cimports them, with no call overhead on the book's hot path.
"""
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc


cdef enum:
    EMPTY = -1     # the value of a free slot; stored values are >= 0


cdef struct Slot:
    int64_t key
    int32_t val
    int32_t _pad


cdef struct HashMap:
    Slot* slots
    uint64_t mask      # size - 1
    int shift          # 64 - log2(size)
    int64_t count      # keys stored


cdef inline uint64_t map_home(const HashMap* m, int64_t key) noexcept nogil:
    """The slot where a probe for ``key`` starts."""
    return (<uint64_t>key * 0x9E3779B97F4A7C15ULL) >> m.shift


cdef inline int32_t map_find(const HashMap* m, int64_t key) noexcept nogil:
    """The value stored for ``key``, or EMPTY."""
    cdef uint64_t i = map_home(m, key)
    while m.slots[i].val != EMPTY:
        if m.slots[i].key == key:
            return m.slots[i].val
        i = (i + 1) & m.mask
    return EMPTY


cdef inline Slot* _map_slots(uint64_t size) except NULL:
    cdef Slot* slots = <Slot*>malloc(size * sizeof(Slot))
    cdef uint64_t i
    if slots == NULL:
        raise MemoryError(f"hash map: cannot allocate {size} slots")
    for i in range(size):
        slots[i].val = EMPTY
    return slots


cdef inline int map_init(HashMap* m, int bits) except -1:
    """An empty map of 2**bits slots (``m.slots`` must not hold a table yet)."""
    m.slots = _map_slots(<uint64_t>1 << bits)
    m.mask = (<uint64_t>1 << bits) - 1
    m.shift = 64 - bits
    m.count = 0
    return 0


cdef inline void map_free(HashMap* m) noexcept nogil:
    free(m.slots)
    m.slots = NULL


cdef inline void map_clear(HashMap* m) noexcept nogil:
    """Remove every key, keeping the table's size. O(size)."""
    cdef uint64_t i
    for i in range(m.mask + 1):
        m.slots[i].val = EMPTY
    m.count = 0


cdef inline void _map_put(HashMap* m, int64_t key, int32_t val) noexcept nogil:
    cdef uint64_t i = map_home(m, key)
    while m.slots[i].val != EMPTY:
        i = (i + 1) & m.mask
    m.slots[i].key = key
    m.slots[i].val = val


cdef inline bint map_full(const HashMap* m) noexcept nogil:
    """Whether the next insert must first double the table (kept at most half full)."""
    return <uint64_t>(m.count + 1) * 2 > m.mask + 1


cdef inline void map_put(HashMap* m, int64_t key, int32_t val) noexcept nogil:
    """Store ``val`` (>= 0) for ``key`` (not in the map) when ``map_full`` is false."""
    _map_put(m, key, val)
    m.count += 1


cdef inline int map_double(HashMap* m) except -1:
    """Double the table (MemoryError, with the map unchanged, if it cannot)."""
    cdef Slot* old = m.slots
    cdef uint64_t old_size = m.mask + 1, i
    m.slots = _map_slots(2 * old_size)     # on MemoryError ``m`` still holds the old table
    m.mask = 2 * old_size - 1
    m.shift -= 1
    for i in range(old_size):
        if old[i].val != EMPTY:
            _map_put(m, old[i].key, old[i].val)
    free(old)
    return 0


cdef inline int map_insert(HashMap* m, int64_t key, int32_t val) except -1:
    """Store ``val`` (>= 0) for ``key``, which must not be in the map."""
    if map_full(m):
        map_double(m)
    map_put(m, key, val)
    return 0


cdef inline void map_remove(HashMap* m, int64_t key) noexcept nogil:
    """Remove ``key``, which must be in the map; later entries of its probe run shift back."""
    cdef uint64_t mask = m.mask
    cdef uint64_t hole = map_home(m, key), j, home
    while m.slots[hole].key != key or m.slots[hole].val == EMPTY:
        hole = (hole + 1) & mask
    j = hole
    while True:
        j = (j + 1) & mask
        if m.slots[j].val == EMPTY:
            break
        home = map_home(m, m.slots[j].key)
        # the entry at j may move into the hole unless its home lies cyclically in (hole, j]
        if (j > hole and (home <= hole or home > j)) or (j < hole and home <= hole and home > j):
            m.slots[hole] = m.slots[j]
            hole = j
    m.slots[hole].val = EMPTY
    m.count -= 1
