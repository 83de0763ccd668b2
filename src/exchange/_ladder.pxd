# cython: language_level=3
"""One side's price levels in priority order, for the book core (src/exchange/_book.pyx).

The levels of a side form a doubly linked list from the best to the worst (``worse`` /
``better``), which is all that matching and the read-outs walk. Where a new level goes is found
in a B+ tree of level keys (at most FANOUT keys per node, so a node is a few cache lines and a
tree of a million levels is four or five nodes deep): making or dropping a level costs O(log L)
at any depth, and at the touch the nodes on the way are the ones just used. The tree's nodes
live in a pool owned by the ladder that grows by doubling; nothing else is allocated. Nodes are
not merged when they thin out: an emptied node is dropped and a root with one child gives way to
it, so a tree is never deeper than the most levels it ever held would make it.

``key`` orders the levels: greater is better (price for bids, -price for asks).
"""
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memmove


cdef enum:
    FANOUT = 32         # keys per tree node at most
    MAX_DEPTH = 24      # a tree of 2**63 keys is shallower than this
    _NO = -1            # no level / no node


cdef struct Level:
    int64_t price
    int64_t key            # price for bids, -price for asks: greater is better on both sides
    int64_t total          # sum of the resting quantities
    int32_t head           # oldest order (pool slot), or -1
    int32_t tail           # newest order
    int32_t side
    int32_t better         # the next better level, or -1 (also chains free levels)
    int32_t worse          # the next worse level, or -1
    int32_t _pad


cdef struct Node:
    int64_t keys[FANOUT]       # ascending; in an inner node keys[i] <= every key of child i + 1
    int32_t vals[FANOUT + 1]   # leaf: the level of keys[i]; inner node: its n + 1 children
    int32_t n                  # keys in use
    int32_t leaf


cdef struct Ladder:
    int32_t best           # the best level, or -1
    int32_t count          # levels on the ladder
    int32_t root           # tree root (a leaf when the tree is small), or -1 when empty
    int32_t depth          # nodes from the root to a leaf
    Node* nodes            # node pool
    int32_t nodes_cap
    int32_t nodes_used
    int32_t free_node      # chained through vals[0]
    int32_t free_count     # nodes on that chain


cdef inline int ladder_init(Ladder* s) except -1:
    s.nodes = NULL
    s.nodes_cap = 0
    ladder_clear(s)
    return 0


cdef inline void ladder_free(Ladder* s) noexcept nogil:
    free(s.nodes)
    s.nodes = NULL


cdef inline void ladder_clear(Ladder* s) noexcept nogil:
    """Empty the ladder, keeping the node pool's memory."""
    s.best = _NO
    s.count = 0
    s.root = _NO
    s.depth = 0
    s.nodes_used = 0
    s.free_node = _NO
    s.free_count = 0


# ---------------------------------------------------------------------- node pool
cdef inline int _reserve(Ladder* s, int32_t wanted) except -1:
    """Make sure ``wanted`` nodes can be taken without growing the pool (so that no Node
    pointer moves while the tree changes)."""
    cdef int32_t cap
    cdef Node* grown
    if s.nodes_cap - s.nodes_used + s.free_count >= wanted:
        return 0
    cap = 2 * s.nodes_cap if s.nodes_cap else 8
    while cap - s.nodes_used + s.free_count < wanted:
        cap *= 2
    grown = <Node*>realloc(s.nodes, cap * sizeof(Node))
    if grown == NULL:
        raise MemoryError(f"price ladder: cannot grow to {cap} tree nodes")
    s.nodes = grown
    s.nodes_cap = cap
    return 0


cdef inline int32_t _take_node(Ladder* s, int leaf) noexcept nogil:
    cdef int32_t at = s.free_node
    if at != _NO:
        s.free_node = s.nodes[at].vals[0]
        s.free_count -= 1
    else:
        at = s.nodes_used
        s.nodes_used += 1
    s.nodes[at].n = 0
    s.nodes[at].leaf = leaf
    return at


cdef inline void _give_node(Ladder* s, int32_t at) noexcept nogil:
    s.nodes[at].vals[0] = s.free_node
    s.free_node = at
    s.free_count += 1


# ---------------------------------------------------------------------- B+ tree of keys
cdef inline int _lower(const Node* node, int64_t key) noexcept nogil:
    """The first position whose key is >= ``key`` (``node.n`` if none). The best level has
    the greatest key, so the touch is at the end: checked first."""
    cdef int lo = 0, hi = node.n, mid
    if hi == 0 or node.keys[hi - 1] < key:
        return hi
    if node.keys[hi - 1] == key:             # the best level itself, as when it empties
        return hi - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if node.keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline int _child(const Node* node, int64_t key) noexcept nogil:
    """The child of an inner node whose range holds ``key``: the number of keys <= ``key``."""
    cdef int lo = 0, hi = node.n, mid
    if hi == 0 or node.keys[hi - 1] <= key:     # the touch's side of the tree
        return hi
    while lo < hi:
        mid = (lo + hi) >> 1
        if node.keys[mid] <= key:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline void _put(Node* node, int at, int64_t key, int32_t val, int val_at) noexcept nogil:
    """Insert ``key`` at ``at`` and ``val`` at ``val_at`` (the node has room). Plain loops:
    at most FANOUT entries move, fewer than a memmove call costs to set up."""
    cdef int i = node.n
    while i > at:
        node.keys[i] = node.keys[i - 1]
        i -= 1
    i = node.n + (0 if node.leaf else 1)
    while i > val_at:
        node.vals[i] = node.vals[i - 1]
        i -= 1
    node.keys[at] = key
    node.vals[val_at] = val
    node.n += 1


cdef inline void _cut(Node* node, int at, int val_at) noexcept nogil:
    """Remove the key at ``at`` and the value at ``val_at``."""
    cdef int i, n_vals = node.n + (0 if node.leaf else 1)
    for i in range(at, node.n - 1):
        node.keys[i] = node.keys[i + 1]
    for i in range(val_at, n_vals - 1):
        node.vals[i] = node.vals[i + 1]
    node.n -= 1


cdef inline int32_t _descend(Ladder* s, int64_t key, int32_t* path, int* slots,
                             int* depth) noexcept nogil:
    """The leaf whose range holds ``key``; ``path``/``slots`` get the inner nodes passed and
    the child taken in each, ``depth`` how many."""
    cdef int32_t at = s.root
    cdef int d = 0
    while not s.nodes[at].leaf:
        path[d] = at
        slots[d] = _child(&s.nodes[at], key)
        at = s.nodes[at].vals[slots[d]]
        d += 1
    depth[0] = d
    return at


cdef inline int32_t _tree_insert(Ladder* s, int64_t key, int32_t lvl,
                                 bint* neighbour_is_worse) noexcept nogil:
    """Add ``key`` -> ``lvl`` (key absent; nodes reserved). Returns a level next to it in key
    order, and whether that one is worse (smaller key); -1 if the tree was empty."""
    cdef int32_t path[MAX_DEPTH]
    cdef int slots[MAX_DEPTH]
    cdef int32_t at = s.root, right, neighbour
    cdef int d = 0, i, half
    cdef Node* node
    cdef Node* other
    cdef int64_t up_key
    if at == _NO:
        s.root = _take_node(s, True)
        s.depth = 1
        _put(&s.nodes[s.root], 0, key, lvl, 0)
        return _NO
    at = _descend(s, key, path, slots, &d)
    node = &s.nodes[at]
    i = _lower(node, key)
    if i > 0:
        neighbour = node.vals[i - 1]
        neighbour_is_worse[0] = True
    else:
        neighbour = node.vals[0]
        neighbour_is_worse[0] = False
    _put(node, i, key, lvl, i)
    # split full nodes bottom-up; the right half goes into the parent after the left one
    while s.nodes[at].n == FANOUT:
        right = _take_node(s, s.nodes[at].leaf)
        node = &s.nodes[at]
        other = &s.nodes[right]
        half = FANOUT // 2
        if node.leaf:
            other.n = FANOUT - half
            memmove(other.keys, &node.keys[half], other.n * sizeof(int64_t))
            memmove(other.vals, &node.vals[half], other.n * sizeof(int32_t))
            node.n = half
            up_key = other.keys[0]
        else:              # keys[half] moves up; children half + 1 .. FANOUT go right
            other.n = FANOUT - half - 1
            memmove(other.keys, &node.keys[half + 1], other.n * sizeof(int64_t))
            memmove(other.vals, &node.vals[half + 1], (other.n + 1) * sizeof(int32_t))
            node.n = half
            up_key = node.keys[half]
        if d == 0:         # the root split: a new root above both halves
            s.root = _take_node(s, False)
            s.nodes[s.root].vals[0] = at
            _put(&s.nodes[s.root], 0, up_key, right, 1)
            s.depth += 1
            break
        d -= 1
        at = path[d]
        _put(&s.nodes[at], slots[d], up_key, right, slots[d] + 1)
    return neighbour


cdef inline void _tree_remove(Ladder* s, int64_t key) noexcept nogil:
    """Remove ``key`` (present). An emptied node leaves its parent; a one-child root goes."""
    cdef int32_t path[MAX_DEPTH]
    cdef int slots[MAX_DEPTH]
    cdef int32_t at = s.root
    cdef int d = 0, c
    cdef Node* node
    at = _descend(s, key, path, slots, &d)
    node = &s.nodes[at]
    c = _lower(node, key)
    _cut(node, c, c)
    if node.n == 0:                    # the leaf is empty: it leaves its parent
        _give_node(s, at)
        while True:
            if d == 0:                 # it was the root: the tree is empty
                s.root = _NO
                s.depth = 0
                return
            d -= 1
            at = path[d]
            node = &s.nodes[at]
            c = slots[d]
            if node.n > 0:             # drop child c and the separator beside it
                _cut(node, c - 1 if c > 0 else 0, c)
                break
            _give_node(s, at)          # its only child went: it goes too
    while not s.nodes[s.root].leaf and s.nodes[s.root].n == 0:
        at = s.nodes[s.root].vals[0]   # a root with one child gives way to it
        _give_node(s, s.root)
        s.root = at
        s.depth -= 1


# ---------------------------------------------------------------------- the ladder
cdef inline int ladder_reserve(Ladder* s) except -1:
    """Make room for one ``ladder_insert`` (MemoryError, with nothing changed, if there is
    none), so that the insert itself cannot fail halfway."""
    return _reserve(s, s.depth + 1)


cdef inline void ladder_insert(Ladder* s, Level* levels, int32_t lvl) noexcept nogil:
    """Link level ``lvl`` (its key not on the ladder; ``ladder_reserve`` called) at its place.
    O(log L)."""
    cdef bint is_worse = False
    cdef int32_t next_to
    cdef Level* level = &levels[lvl]
    next_to = _tree_insert(s, level.key, lvl, &is_worse)
    if next_to == _NO:                 # the only level
        level.better = _NO
        level.worse = _NO
    elif is_worse:                     # goes just before ``next_to``
        level.worse = next_to
        level.better = levels[next_to].better
        levels[next_to].better = lvl
    else:                              # goes just after ``next_to``
        level.better = next_to
        level.worse = levels[next_to].worse
        levels[next_to].worse = lvl
    if level.better == _NO:
        s.best = lvl
    else:
        levels[level.better].worse = lvl
    if level.worse != _NO:
        levels[level.worse].better = lvl
    s.count += 1


cdef inline void ladder_remove(Ladder* s, Level* levels, int32_t lvl) noexcept nogil:
    """Unlink level ``lvl``. O(log L)."""
    cdef Level* level = &levels[lvl]
    _tree_remove(s, level.key)
    if level.better == _NO:
        s.best = level.worse
    else:
        levels[level.better].worse = level.worse
    if level.worse != _NO:
        levels[level.worse].better = level.better
    s.count -= 1
