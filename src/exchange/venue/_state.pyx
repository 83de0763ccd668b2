# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The venue engine's state as numpy arrays and back: what a snapshot keeps of the C arrays.

:func:`export_engine` copies everything an :class:`~exchange.venue._engine.Engine` holds that
later calls depend on into a dict of int64 arrays (names below); :func:`import_engine` writes
such a dict into a fresh engine (one with no members and no orders yet) built on the same
markets and assets. Exported, per name:

* ``markets`` (markets x :data:`MARKET_FIELDS`): each market's day terms and caches;
* ``members`` (members x 2): member id and flags (1 pre-funded, 2 credit-limited, 4 funds
  account), in the engine's index order;
* ``accounts`` (members x assets, :data:`ACCOUNT_FIELDS`): reserved, the offset of the pending
  dates, the mirrored settled balance, credit limit, open exposure, owed;
* ``cells`` (k x 4): every pending settlement date of an account: account index (member index
  x assets + asset index), day number, receipts, debits; in each account's date order;
* ``orders`` (k x :data:`ORDER_FIELDS`): every order that rests or holds: id, market, fills so
  far, and its hold (kind 0: none);
* ``counters`` (2): the next order id and the number of live holds.

Orders that neither rest nor hold are left out: no call reads their entries again (an id that
is not resting is an unknown order whatever its past). The mirrored balances are re-read from
the ledger on the first use after an import. Both directions are O(order ids + accounts).
"""
from libc.stdint cimport int32_t, int64_t

import numpy as np

from exchange._book cimport OrderBook
from exchange.venue._engine cimport MAX_DATES, NOT_HELD, Cell, Engine, Hold, MarketC

#: Columns of ``markets``.
MARKET_FIELDS = (
    "open", "closed_code", "prefunded", "swap", "quote", "base", "terms_row", "near_day",
    "far_day", "f", "bpl", "ref", "fref", "fixed", "max_px", "safe_px", "safe_lots", "fee_min",
    "worst_num", "worst_den", "taker_num", "taker_den", "maker_num", "maker_den")
#: Columns of ``accounts``.
ACCOUNT_FIELDS = ("reserved", "offset", "balance", "limit", "open_exposure", "owed")
#: Columns of ``orders``.
ORDER_FIELDS = ("order_id", "market", "cum", "kind", "member", "quote", "base", "a", "fee", "b",
                "lots", "held_quote", "held_base")


cdef void _market_row(const MarketC* m, int64_t[::1] row) noexcept:
    row[0], row[1], row[2], row[3] = m.open, m.closed_code, m.prefunded, m.swap
    row[4], row[5], row[6], row[7] = m.quote, m.base, m.terms_row, m.near_day
    row[8], row[9], row[10], row[11] = m.far_day, m.f, m.bpl, m.ref
    row[12], row[13], row[14], row[15] = m.fref, m.fixed, m.max_px, m.safe_px
    row[16], row[17], row[18], row[19] = m.safe_lots, m.fee_min, m.worst_num, m.worst_den
    row[20], row[21], row[22], row[23] = m.taker_num, m.taker_den, m.maker_num, m.maker_den


cdef void _set_market(MarketC* m, const int64_t[::1] row) noexcept:
    m.open, m.closed_code, m.prefunded = <int32_t>row[0], <int32_t>row[1], <int32_t>row[2]
    m.swap, m.quote, m.base = <int32_t>row[3], <int32_t>row[4], <int32_t>row[5]
    m.terms_row, m.near_day, m.far_day, m.f = <int32_t>row[6], row[7], row[8], row[9]
    m.bpl, m.ref, m.fref, m.fixed = row[10], row[11], row[12], row[13]
    m.max_px, m.safe_px, m.safe_lots, m.fee_min = row[14], row[15], row[16], row[17]
    m.worst_num, m.worst_den, m.taker_num, m.taker_den = row[18], row[19], row[20], row[21]
    m.maker_num, m.maker_den = row[22], row[23]


def export_engine(Engine engine):
    """The engine's state as a dict of int64 arrays (module docstring). Changes nothing."""
    cdef Py_ssize_t i, j, k, n = engine.n_members * engine.n_assets, count = 0
    cdef int64_t oid
    cdef int32_t mk, slot
    cdef const Hold* h
    markets = np.zeros((engine.n_markets, len(MARKET_FIELDS)), np.int64)
    cdef int64_t[:, ::1] mrows = markets
    for i in range(engine.n_markets):
        _market_row(&engine.markets[i], mrows[i])
    members = np.zeros((engine.n_members, 2), np.int64)
    accounts = np.zeros((n, len(ACCOUNT_FIELDS)), np.int64)
    cdef int64_t[:, ::1] mem = members, acc = accounts
    for i in range(engine.n_members):
        mem[i, 0], mem[i, 1] = engine.member_id[i], engine.member_flags[i]
    for k in range(n):
        acc[k, 0], acc[k, 1], acc[k, 2] = engine.reserved[k], engine.offset[k], engine.balance[k]
        acc[k, 3], acc[k, 4], acc[k, 5] = engine.limit[k], engine.open_exposure[k], engine.owed[k]
        count += engine.n_cells[k]
    cells = np.zeros((count, 4), np.int64)
    cdef int64_t[:, ::1] crows = cells
    cdef const Cell* c
    i = 0
    for k in range(n):
        for j in range(engine.n_cells[k]):
            c = &engine.cells[k * MAX_DATES + j]
            crows[i, 0], crows[i, 1], crows[i, 2], crows[i, 3] = k, c.day, c.receipts, c.debits
            i += 1
    kept = [oid for oid in range(1, engine.next_id) if _kept(engine, oid)]
    orders = np.zeros((len(kept), len(ORDER_FIELDS)), np.int64)
    cdef int64_t[:, ::1] orows = orders
    for i, oid in enumerate(kept):
        orows[i, 0], orows[i, 1], orows[i, 2] = oid, engine.order_market[oid], \
            engine.order_cum[oid]
        slot = engine.order_hold[oid]
        if slot != NOT_HELD:
            h = &engine.holds[slot]
            orows[i, 3], orows[i, 4], orows[i, 5], orows[i, 6] = h.kind, h.member, h.quote, \
                h.base
            orows[i, 7], orows[i, 8], orows[i, 9], orows[i, 10] = h.a, h.fee, h.b, h.lots
            orows[i, 11], orows[i, 12] = h.held_quote, h.held_base
    counters = np.array([engine.next_id, engine.live_holds], np.int64)
    return {"markets": markets, "members": members, "accounts": accounts, "cells": cells,
            "orders": orders, "counters": counters}


cdef bint _kept(Engine engine, int64_t oid):
    """Does order ``oid`` rest in its book or hold anything?"""
    cdef int32_t mk = engine.order_market[oid]
    if engine.order_hold[oid] != NOT_HELD:
        return True
    return mk >= 0 and (<OrderBook>engine.books[mk]).resting(oid) != NULL


def import_engine(Engine engine, dict state):
    """Write ``state`` (as :func:`export_engine` made it) into ``engine``, which must be fresh
    and built on as many markets and assets. ValueError naming the array for a shape that
    does not fit (checked before anything is written). O(order ids + accounts)."""
    markets, members, accounts = state["markets"], state["members"], state["accounts"]
    cells, orders, counters = state["cells"], state["orders"], state["counters"]
    _check_fresh(engine)
    _check_shape("markets", markets, engine.n_markets, len(MARKET_FIELDS))
    _check_shape("members", members, len(members), 2)
    _check_shape("accounts", accounts, len(members) * engine.n_assets, len(ACCOUNT_FIELDS))
    _check_shape("cells", cells, len(cells), 4)
    _check_shape("orders", orders, len(orders), len(ORDER_FIELDS))
    _check_shape("counters", counters.reshape(1, -1), 1, 2)
    cdef int64_t next_id = counters[0]
    if next_id < 1 or (len(orders) and not 0 < orders[:, 0].max() < next_id):
        raise ValueError(f"counters: next order id {next_id} does not follow the orders")
    if len(cells) and not (0 <= cells[:, 0].min() and cells[:, 0].max() < len(accounts)):
        raise ValueError("cells: an account index is out of range")
    cdef const int64_t[:, ::1] m = np.ascontiguousarray(markets, np.int64)
    cdef Py_ssize_t i
    for i in range(engine.n_markets):
        _set_market(&engine.markets[i], m[i])
    for member_id, flags in members.tolist():
        engine.add_member(member_id, bool(flags & 1), {})
        engine.member_flags[engine.n_members - 1] = <int32_t>flags
    _set_accounts(engine, np.ascontiguousarray(accounts, np.int64),
                  np.ascontiguousarray(cells, np.int64))
    _set_orders(engine, np.ascontiguousarray(orders, np.int64), next_id)
    engine.seen_version = -1  # the mirrored balances are read again on first use


cdef _check_fresh(Engine engine):
    if engine.n_members or engine.next_id != 1 or engine.live_holds:
        raise ValueError("import_engine: the engine already has members or orders")


cdef _check_shape(str name, array, Py_ssize_t rows, Py_ssize_t columns):
    if getattr(array, "ndim", 0) != 2 or array.shape[0] != rows or array.shape[1] != columns:
        raise ValueError(f"{name}: expected an array of shape ({rows}, {columns}), got "
                         f"{getattr(array, 'shape', type(array).__name__)}")


cdef _set_accounts(Engine engine, const int64_t[:, ::1] acc, const int64_t[:, ::1] cells):
    cdef Py_ssize_t k, i
    cdef Cell* c
    for k in range(acc.shape[0]):
        engine.reserved[k], engine.offset[k], engine.balance[k] = acc[k, 0], acc[k, 1], acc[k, 2]
        engine.limit[k], engine.open_exposure[k], engine.owed[k] = acc[k, 3], acc[k, 4], acc[k, 5]
        engine.n_cells[k] = 0
    for i in range(cells.shape[0]):
        k = cells[i, 0]
        if engine.n_cells[k] == MAX_DATES:
            raise ValueError(f"cells: account {k} has more than {MAX_DATES} pending dates")
        c = &engine.cells[k * MAX_DATES + engine.n_cells[k]]
        c.day, c.receipts, c.debits = cells[i, 1], cells[i, 2], cells[i, 3]
        engine.n_cells[k] += 1


cdef _set_orders(Engine engine, const int64_t[:, ::1] orders, int64_t next_id):
    cdef Py_ssize_t i
    cdef int64_t oid
    cdef int32_t slot
    cdef Hold* h
    engine._ensure_order(next_id)
    engine.next_id = next_id
    for i in range(orders.shape[0]):
        oid = orders[i, 0]
        engine.order_market[oid], engine.order_cum[oid] = <int32_t>orders[i, 1], orders[i, 2]
        if orders[i, 3] == 0:
            continue
        slot = engine._new_hold()
        h = &engine.holds[slot]
        h.kind, h.member, h.quote, h.base = <int32_t>orders[i, 3], <int32_t>orders[i, 4], \
            <int32_t>orders[i, 5], <int32_t>orders[i, 6]
        h.a, h.fee, h.b, h.lots = orders[i, 7], orders[i, 8], orders[i, 9], orders[i, 10]
        h.held_quote, h.held_base = orders[i, 11], orders[i, 12]
        engine.order_hold[oid] = slot
        engine.live_holds += 1
