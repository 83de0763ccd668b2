# cython: language_level=3, boundscheck=False, wraparound=False
"""A Cython module that drives `exchange.OrderBook` through its C API (src/exchange/_book.pxd).

tests/test_book_pxd.py compiles it into a temporary directory and checks that a caller outside
the book's own module can cimport the book, its structs and its enums, and gets from the C
commands exactly what the Python calls give. Python objects appear here only to hand results
back to the test.
"""
from libc.stdint cimport int64_t

from exchange._ladder cimport Ladder
from exchange._book cimport (
    TIF,
    Action,
    Message,
    OrderBook,
    Outcome,
    Reject,
    Side,
    StpCancel,
    Trade,
)


cdef void _store(int64_t[:, ::1] outcomes, Py_ssize_t row, const Outcome* out) noexcept:
    outcomes[row, 0] = out.executed
    outcomes[row, 1] = out.leaves
    outcomes[row, 2] = out.removed
    outcomes[row, 3] = out.code


def apply_each(OrderBook book, const Message[::1] messages, int64_t[:, ::1] outcomes):
    """`apply_message` for each message; row i of `outcomes` = executed, leaves, removed, code."""
    cdef Py_ssize_t i
    cdef Outcome out
    for i in range(messages.shape[0]):
        book.apply_message(&messages[i], &out)
        _store(outcomes, i, &out)


def command_each(OrderBook book, const Message[::1] messages, int64_t[:, ::1] outcomes):
    """The same through the four commands, dispatched here on the action."""
    cdef Py_ssize_t i
    cdef Outcome out
    cdef const Message* m
    for i in range(messages.shape[0]):
        m = &messages[i]
        if m.action == Action.NEW:
            book.new_order(m.order_id, m.side, m.price, m.qty, m.tif, m.owner, &out)
        elif m.action == Action.CANCEL:
            book.cancel_order(m.order_id, &out)
        elif m.action == Action.MARKET:
            book.market_order(m.order_id, m.side, m.qty, m.owner, &out)
        elif m.action == Action.MODIFY:
            book.modify_order(m.order_id, m.qty, m.price, &out)
        else:
            out.executed = out.leaves = out.removed = 0
            out.code = Reject.INVALID_ACTION
        _store(outcomes, i, &out)


def take_trades(OrderBook book):
    """The trade buffer read through its pointer and count, as dicts; then cleared."""
    cdef const Trade* t = book.trade_buffer()
    cdef Py_ssize_t i, n = book.trade_count()
    rows = [{"seq": t[i].seq, "taker_id": t[i].taker_id, "maker_id": t[i].maker_id,
             "taker_owner": t[i].taker_owner, "maker_owner": t[i].maker_owner,
             "taker_side": t[i].taker_side, "price": t[i].price, "qty": t[i].qty,
             "taker_leaves": t[i].taker_leaves, "maker_leaves": t[i].maker_leaves}
            for i in range(n)]
    book.clear_trades()
    return rows


def take_stp_cancels(OrderBook book):
    """The STP-cancel buffer read through its pointer and count, as dicts; then cleared."""
    cdef const StpCancel* c = book.stp_cancel_buffer()
    cdef Py_ssize_t i, n = book.stp_cancel_count()
    rows = [{"order_id": c[i].order_id, "side": c[i].side, "price": c[i].price,
             "qty": c[i].qty, "owner": c[i].owner} for i in range(n)]
    book.clear_stp_cancels()
    return rows


def counts(OrderBook book):
    """(trade_count, stp_cancel_count) as the C API reports them."""
    return book.trade_count(), book.stp_cancel_count()


def sweep(OrderBook book, int64_t order_id, int64_t qty):
    """A C-level caller's typical step: one buy that sweeps the asks, then its fills read
    without a Python object per fill. Returns (executed, leaves, code, fills, lots filled)."""
    cdef Outcome out
    cdef const Trade* t
    cdef Py_ssize_t i
    cdef int64_t lots = 0
    book.new_order(order_id, Side.BUY, 1 << 40, qty, TIF.IOC, 0, &out)
    t = book.trade_buffer()
    for i in range(book.trade_count()):
        lots += t[i].qty
    return out.executed, out.leaves, out.code, book.trade_count(), lots


def c_enum_values():
    """The enums' values as C sees them (plain ints), keyed like `Enum.MEMBER`."""
    return {
        "Side.BUY": <int>Side.BUY, "Side.SELL": <int>Side.SELL,
        "TIF.GTC": <int>TIF.GTC, "TIF.IOC": <int>TIF.IOC, "TIF.FOK": <int>TIF.FOK,
        "TIF.POST_ONLY": <int>TIF.POST_ONLY,
        "Action.NEW": <int>Action.NEW, "Action.CANCEL": <int>Action.CANCEL,
        "Action.MARKET": <int>Action.MARKET, "Action.MODIFY": <int>Action.MODIFY,
        "Reject.INVALID_ACTION": <int>Reject.INVALID_ACTION,
        "Reject.FOK_NOT_FILLED": <int>Reject.FOK_NOT_FILLED,
        "Reject.LEVEL_OVERFLOW": <int>Reject.LEVEL_OVERFLOW,
    }


def ladder_shape(OrderBook book, int side):
    """(levels, tree depth, tree nodes in use) of one side's price ladder."""
    cdef Ladder* ladder = &book._sides[side]
    return ladder.count, ladder.depth, ladder.nodes_used - ladder.free_count
