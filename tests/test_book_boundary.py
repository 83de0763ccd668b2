"""The book's boundary: its enums, `apply`, the leaves fields of a trade, and bools refused.

Tests that use `make_book` run against both the pure-Python model (tests/model.py) and the
compiled `exchange.OrderBook`; the C API of the same boundary is tested in test_book_pxd.py.
"""
from __future__ import annotations

import ast
import enum
from pathlib import Path

import numpy as np
import pytest

import exchange
import model
from exchange import STP, TIF, Action, Reject, Side
from model import (
    BUY,
    CANCEL,
    FOK,
    GTC,
    INT64_MAX,
    IOC,
    MARKET,
    MESSAGE_DTYPE,
    MODIFY,
    NEW,
    POST_ONLY,
    SELL,
    STP_CANCEL_INCOMING,
    STP_CANCEL_RESTING,
    ModelBook,
    snapshot,
    stp_cancels,
    trades,
)

ENUMS = (Side, TIF, Action, STP, Reject)


@pytest.fixture
def book(make_book):
    """Asks: id 1 100x5, id 2 100x5 (behind 1), id 3 101x5; a bid: id 4 98x5."""
    b = make_book()
    b.submit(1, SELL, 100, 5, owner=1)
    b.submit(2, SELL, 100, 5, owner=2)
    b.submit(3, SELL, 101, 5, owner=1)
    b.submit(4, BUY, 98, 5, owner=2)
    return b


def full_state(b) -> dict:
    return {**snapshot(b), "trades": trades(b), "stp": stp_cancels(b)}


# --------------------------------------------------------------------- enums
def test_enums_behave_as_int_enums():
    assert Side.BUY == 0 and Side.SELL == 1 and Side(1) is Side.SELL
    assert Reject(-8).name == "FOK_NOT_FILLED" and Reject(-8) is Reject.FOK_NOT_FILLED
    assert STP(2) is STP.CANCEL_INCOMING and TIF["POST_ONLY"] == 3
    assert [m.name for m in Action] == ["NEW", "CANCEL", "MARKET", "MODIFY"]
    assert [int(r) for r in Reject] == list(range(-1, -11, -1))  # in order, negatives kept
    assert all(issubclass(e, enum.IntEnum) for e in ENUMS)
    assert Side.SELL + 1 == 2 and ["b", "s"][Side.SELL] == "s" and -Reject.UNKNOWN_ID == 7
    assert np.array([TIF.FOK, Reject.LEVEL_OVERFLOW]).tolist() == [2, -10]
    assert isinstance(Side.BUY, int) and hash(Side.BUY) == hash(0)
    assert Side.__module__ == "exchange._book"


@pytest.mark.parametrize("enum_class, value", [
    (Side, 2), (Side, -1), (TIF, 4), (Action, 7), (STP, 3), (Reject, 0), (Reject, -11)])
def test_enum_of_an_unknown_value_is_value_error(enum_class, value):
    with pytest.raises(ValueError, match="is not a valid"):
        enum_class(value)


def test_stub_declares_the_enums_and_every_public_method():
    """src/exchange/_book.pyi must describe what the compiled module really has."""
    stub = ast.parse((Path(exchange.__file__).parent / "_book.pyi").read_text())
    classes = {node.name: node for node in stub.body if isinstance(node, ast.ClassDef)}
    for enum_class in ENUMS:
        members = [(t.targets[0].id, ast.literal_eval(t.value))
                   for t in classes[enum_class.__name__].body if isinstance(t, ast.Assign)]
        assert members == [(m.name, m.value) for m in enum_class], enum_class.__name__
    declared = {n.name for n in classes["OrderBook"].body if isinstance(n, ast.FunctionDef)}
    public = {name for name in dir(exchange.OrderBook) if not name.startswith("_")}
    assert public <= declared, public - declared


# The message that draws each Reject code from `book` above; every code must have one.
TRIGGERS = {
    Reject.INVALID_ACTION: (4, 9, BUY, 100, 1, GTC, 0),
    Reject.INVALID_SIDE: (NEW, 9, 2, 100, 1, GTC, 0),
    Reject.INVALID_QTY: (NEW, 9, BUY, 100, 0, GTC, 0),
    Reject.INVALID_PRICE: (NEW, 9, BUY, 0, 1, GTC, 0),
    Reject.INVALID_TIF: (NEW, 9, BUY, 100, 1, 7, 0),
    Reject.DUPLICATE_ID: (NEW, 1, BUY, 99, 1, GTC, 0),
    Reject.UNKNOWN_ID: (CANCEL, 42, 0, 0, 0, 0, 0),
    Reject.FOK_NOT_FILLED: (NEW, 9, BUY, 100, 11, FOK, 0),
    Reject.POST_ONLY_WOULD_CROSS: (NEW, 9, BUY, 100, 1, POST_ONLY, 0),
    Reject.LEVEL_OVERFLOW: (NEW, 9, SELL, 101, INT64_MAX, GTC, 0),
}


def test_every_reject_code_has_an_input_that_draws_it():
    assert set(TRIGGERS) == set(Reject)


@pytest.mark.parametrize("code", list(Reject), ids=lambda r: r.name)
def test_model_and_book_refuse_with_the_same_reject_code(book, code):
    before = snapshot(book)
    assert book.apply(*TRIGGERS[code]) == (0, 0, 0, code)
    assert list(book.process(np.array([TRIGGERS[code]], dtype=MESSAGE_DTYPE))) == [code]
    assert full_state(book) == {**before, "trades": [], "stp": []}


def test_model_uses_the_books_enums():
    """The model defines no value of its own: each constant is the book's enum member."""
    for enum_class in (Side, TIF, Action, Reject):
        for member in enum_class:
            assert getattr(model, member.name) is member
    assert tuple(STP) == (model.STP_NONE, model.STP_CANCEL_RESTING, model.STP_CANCEL_INCOMING)


# --------------------------------------------------------------------- apply
@pytest.mark.parametrize("message, outcome", [
    ((NEW, 9, BUY, 99, 4), (0, 4, 0, 0)),                 # rests whole
    ((NEW, 9, BUY, 100, 7), (7, 0, 0, 0)),                # fills in full
    ((NEW, 9, BUY, 100, 12), (10, 2, 0, 0)),              # 10 traded, 2 rest
    ((NEW, 9, BUY, 100, 12, IOC), (10, 0, 0, 0)),         # the rest is dropped
    ((NEW, 9, BUY, 101, 15, FOK), (15, 0, 0, 0)),
    ((NEW, 9, SELL, 102, 3, POST_ONLY), (0, 3, 0, 0)),
    ((MARKET, 9, BUY, 0, 20), (15, 0, 0, 0)),
    ((CANCEL, 2), (0, 0, 5, 0)),
    ((MODIFY, 2, SELL, 0, 3), (0, 3, 2, 0)),               # smaller in place: gave up 2
    ((MODIFY, 2, SELL, 0, 5), (0, 5, 0, 0)),               # the same: nothing changes
    ((MODIFY, 2, SELL, 0, 0), (0, 0, 5, 0)),               # qty 0 cancels
    ((MODIFY, 2, SELL, 0, 8), (0, 8, 5, 0)),               # larger: old one out, new one in
    ((MODIFY, 4, BUY, 100, 12), (10, 2, 5, 0)),            # re-enters crossing
    ((MODIFY, 4, BUY, 100, 3), (3, 0, 5, 0)),              # smaller but moved: re-enters
])
def test_apply_reports_executed_leaves_removed(book, message, outcome):
    row = message + (0,) * (7 - len(message))
    twin = type(book)() if isinstance(book, ModelBook) else exchange.OrderBook()
    for order in ((1, SELL, 100, 5, GTC, 1), (2, SELL, 100, 5, GTC, 2), (3, SELL, 101, 5, GTC, 1),
                  (4, BUY, 98, 5, GTC, 2)):
        twin.submit(*order)
    assert book.apply(*row) == outcome
    executed, leaves, removed, _ = outcome
    result = removed if row[0] == CANCEL else executed
    assert list(twin.process(np.array([row], dtype=MESSAGE_DTYPE))) == [result]
    assert full_state(book) == full_state(twin)
    resting = {o["order_id"]: o["qty"] for side in (BUY, SELL) for o in
               model.records(book.orders(side))}
    assert resting.get(row[1], 0) == leaves


def test_apply_keywords_and_defaults(book):
    assert book.apply(NEW, 9, side=SELL, price=103, qty=2, tif=GTC, owner=7) == (0, 2, 0, 0)
    assert book.apply(CANCEL, 9) == (0, 0, 2, 0)
    assert book.apply(action=MARKET, order_id=9, side=BUY, qty=1) == (1, 0, 0, 0)


def test_apply_under_cancel_incoming_reports_the_stop(make_book):
    b = make_book(STP_CANCEL_INCOMING)
    b.submit(1, SELL, 100, 2, owner=5)
    b.submit(2, SELL, 100, 3, owner=6)
    assert b.apply(NEW, 3, BUY, 100, 9, GTC, 6) == (2, 0, 0, 0)  # stopped at its own order
    assert b.apply(MODIFY, 2, SELL, 0, 1) == (0, 1, 2, 0)


@pytest.mark.parametrize("args", [
    (NEW, 2**63), (NEW, 9, 1.0), (NEW, 9, BUY, "100"), (None, 9), (NEW, 9, BUY, 99, 1, GTC, 2**64)])
def test_apply_with_a_non_int64_argument_is_value_error(book, args):
    before = snapshot(book)
    with pytest.raises(ValueError):
        book.apply(*args)
    assert full_state(book) == {**before, "trades": [], "stp": []}


# --------------------------------------------------------------------- leaves in trade rows
def test_taker_leaves_counts_down_and_maker_leaves_shows_what_rests(book):
    book.submit(9, BUY, 101, 13)
    rows = [(t["maker_id"], t["qty"], t["taker_leaves"], t["maker_leaves"]) for t in trades(book)]
    assert rows == [(1, 5, 8, 0), (2, 5, 3, 0), (3, 3, 0, 2)]


def test_taker_leaves_of_the_last_fill_is_what_did_not_trade(book):
    book.submit(9, BUY, 100, 12, IOC)  # 2 left when the price limit stops it; dropped
    assert [t["taker_leaves"] for t in trades(book)] == [7, 2]
    book.market(10, BUY, 9)
    assert [(t["qty"], t["taker_leaves"], t["maker_leaves"]) for t in trades(book)] == [(5, 4, 0)]


def test_a_partly_filled_maker_reports_its_remainder_each_time(book):
    for order_id in (9, 10):
        book.submit(order_id, BUY, 100, 2)
    assert [(t["maker_id"], t["maker_leaves"]) for t in trades(book)] == [(1, 3), (1, 1)]


def test_leaves_of_a_modify_that_re_enters_and_trades(book):
    book.modify(4, 7, 100)
    assert [(t["taker_id"], t["taker_leaves"], t["maker_leaves"]) for t in trades(book)] == [
        (4, 2, 0), (4, 0, 3)]


def test_stp_cancels_do_not_count_as_fills_in_leaves(make_book):
    b = make_book(STP_CANCEL_RESTING)
    b.submit(1, SELL, 100, 4, owner=1)
    b.submit(2, SELL, 100, 4, owner=2)
    b.submit(3, BUY, 100, 6, owner=1)  # cancels 1 (its own), trades 4 with 2, 2 rest
    assert [(t["maker_id"], t["taker_leaves"], t["maker_leaves"]) for t in trades(b)] == [(2, 2, 0)]
    assert [c["order_id"] for c in stp_cancels(b)] == [1]


# --------------------------------------------------------------------- bools are not numbers
BOOL_CALLS = {
    "submit id": lambda b, v: b.submit(v, BUY, 99, 1),
    "submit side": lambda b, v: b.submit(9, v, 99, 1),
    "submit price": lambda b, v: b.submit(9, BUY, v, 1),
    "submit qty": lambda b, v: b.submit(9, BUY, 99, v),
    "submit tif": lambda b, v: b.submit(9, BUY, 99, 1, v),
    "submit owner": lambda b, v: b.submit(9, BUY, 99, 1, GTC, v),
    "market side": lambda b, v: b.market(9, v, 1),
    "market qty": lambda b, v: b.market(9, BUY, v),
    "cancel id": lambda b, v: b.cancel(v),
    "modify qty": lambda b, v: b.modify(4, v),
    "modify price": lambda b, v: b.modify(4, 3, v),
    "apply action": lambda b, v: b.apply(v, 9),
    "apply qty": lambda b, v: b.apply(NEW, 9, BUY, 99, v),
    "orders side": lambda b, v: b.orders(v),
    "order id": lambda b, v: b.order(v),
    "depth levels": lambda b, v: b.depth(v),
}


@pytest.mark.parametrize("value", [True, False, np.True_], ids=["True", "False", "np.True_"])
@pytest.mark.parametrize("name", sorted(BOOL_CALLS))
def test_bools_are_refused_with_the_field_named_and_nothing_changed(book, name, value):
    book.submit(0, BUY, 97, 1)  # ids 0 and 1 rest: True or False taken as an id would find one
    before = snapshot(book)
    with pytest.raises(ValueError, match="bool|integer"):
        BOOL_CALLS[name](book, value)
    assert full_state(book) == {**before, "trades": [], "stp": []}
    assert (value in book) is False


def test_stp_mode_bool_is_refused(make_book):
    with pytest.raises(ValueError, match="stp"):
        make_book(True)
