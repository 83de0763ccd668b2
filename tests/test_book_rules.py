"""The rule book (docs/book.md and the matching semantics of api-contract.md), one test per rule.

Every test that uses `make_book` runs twice: against the pure-Python model (tests/model.py)
and against the compiled `exchange.OrderBook`. Tests of numpy dtypes, shapes and enums use the
`compiled` fixture only, since the model returns plain Python values.
"""
from __future__ import annotations

import numpy as np
import pytest

from model import (
    BUY,
    CANCEL,
    DUPLICATE_ID,
    FOK,
    FOK_NOT_FILLED,
    GTC,
    INT64_MAX,
    INT64_MIN,
    INVALID_ACTION,
    INVALID_PRICE,
    INVALID_QTY,
    INVALID_SIDE,
    INVALID_TIF,
    IOC,
    LEVEL_OVERFLOW,
    MARKET,
    MESSAGE_DTYPE,
    MODIFY,
    NEW,
    POST_ONLY,
    POST_ONLY_WOULD_CROSS,
    SELL,
    STP_CANCEL_INCOMING,
    STP_CANCEL_RESTING,
    STP_NONE,
    UNKNOWN_ID,
    apply_single,
    best,
    records,
    single_equivalent,
    snapshot,
    stp_cancels,
    trades,
)


# --------------------------------------------------------------------- helpers
def fills(book) -> list[tuple[int, int, int, int]]:
    """Drained trades as `(taker_id, maker_id, price, qty)`."""
    return [(t["taker_id"], t["maker_id"], t["price"], t["qty"]) for t in trades(book)]


def resting(book, side: int) -> list[tuple[int, int, int]]:
    """Resting orders of a side as `(order_id, price, qty)`, in priority order."""
    return [(o["order_id"], o["price"], o["qty"]) for o in records(book.orders(side))]


def cancelled(book) -> list[tuple[int, int]]:
    """Drained STP cancels as `(order_id, qty)`."""
    return [(c["order_id"], c["qty"]) for c in stp_cancels(book)]


def msg(action, order_id, side=BUY, price=0, qty=0, tif=GTC, owner=0) -> tuple:
    return (action, order_id, side, price, qty, tif, owner)


def batch(*rows: tuple) -> np.ndarray:
    out = np.zeros(len(rows), dtype=MESSAGE_DTYPE)
    for i, row in enumerate(rows):
        out[i] = row
    return out


def full_state(book) -> dict:
    """What a reader sees plus the buffers; drains the buffers."""
    return {**snapshot(book), "trades": trades(book), "stp": stp_cancels(book)}


@pytest.fixture
def book(make_book):
    return make_book()


@pytest.fixture
def asks_100_101(book):
    """Asks: 1 @100 x5, 2 @100 x5, 3 @101 x5 (owner 7)."""
    book.submit(1, SELL, 100, 5, owner=7)
    book.submit(2, SELL, 100, 5, owner=7)
    book.submit(3, SELL, 101, 5, owner=7)
    return book


# --------------------------------------------------------------------- matching rules 1, 2
def test_buy_trades_lowest_ask_first(book):
    book.submit(1, SELL, 101, 5)
    book.submit(2, SELL, 100, 5)
    assert book.submit(3, BUY, 101, 7) == 7
    assert fills(book) == [(3, 2, 100, 5), (3, 1, 101, 2)]


def test_sell_trades_highest_bid_first(book):
    book.submit(1, BUY, 99, 5)
    book.submit(2, BUY, 100, 5)
    assert book.submit(3, SELL, 99, 7) == 7
    assert fills(book) == [(3, 2, 100, 5), (3, 1, 99, 2)]


def test_time_priority_within_a_price(asks_100_101):
    book = asks_100_101
    book.submit(9, BUY, 100, 7)
    assert fills(book) == [(9, 1, 100, 5), (9, 2, 100, 2)]


def test_buy_trades_while_best_ask_at_or_below_limit(book):
    book.submit(1, SELL, 100, 5)
    assert book.submit(2, BUY, 99, 5) == 0
    assert fills(book) == []
    assert book.submit(3, BUY, 100, 2) == 2
    assert fills(book) == [(3, 1, 100, 2)]


def test_sell_trades_while_best_bid_at_or_above_limit(book):
    book.submit(1, BUY, 100, 5)
    assert book.submit(2, SELL, 101, 5) == 0
    assert book.submit(3, SELL, 100, 2) == 2
    assert fills(book) == [(3, 1, 100, 2)]


def test_fill_is_at_the_maker_price(book):
    book.submit(1, SELL, 100, 5)
    book.submit(2, BUY, 105, 3)
    book.submit(3, BUY, 90, 4)
    book.submit(4, SELL, 80, 4)
    assert [f[2] for f in fills(book)] == [100, 90]


def test_partly_filled_maker_keeps_its_place(asks_100_101):
    book = asks_100_101
    book.submit(9, BUY, 100, 2)
    assert resting(book, SELL) == [(1, 100, 3), (2, 100, 5), (3, 101, 5)]
    book.submit(10, BUY, 100, 4)
    assert fills(book) == [(9, 1, 100, 2), (10, 1, 100, 3), (10, 2, 100, 1)]


def test_maker_filled_to_zero_leaves_the_book(asks_100_101):
    book = asks_100_101
    book.submit(9, BUY, 100, 5)
    assert 1 not in book
    assert len(book) == 2
    with pytest.raises(KeyError):
        book.order(1)


# --------------------------------------------------------------------- rule 3: time in force
def test_gtc_remainder_rests_at_limit_at_back_of_level(book):
    book.submit(1, BUY, 99, 5)
    book.submit(2, SELL, 100, 3)
    assert book.submit(3, BUY, 100, 10, GTC) == 3
    book.submit(4, BUY, 100, 1)
    assert resting(book, BUY) == [(3, 100, 7), (4, 100, 1), (1, 99, 5)]
    assert resting(book, SELL) == []


def test_ioc_remainder_is_dropped(book):
    book.submit(1, SELL, 100, 3)
    assert book.submit(2, BUY, 101, 10, IOC) == 3
    assert 2 not in book
    assert len(book) == 0


def test_ioc_with_nothing_to_trade_does_not_rest(book):
    book.submit(1, SELL, 100, 3)
    assert book.submit(2, BUY, 99, 10, IOC) == 0
    assert resting(book, BUY) == []


def test_fok_fills_in_full_across_levels(asks_100_101):
    book = asks_100_101
    assert book.submit(9, BUY, 101, 15, FOK) == 15
    assert len(book) == 0
    assert [f[3] for f in fills(book)] == [5, 5, 5]


def test_fok_that_cannot_fill_does_nothing(asks_100_101):
    book = asks_100_101
    before = snapshot(book)
    assert book.submit(9, BUY, 100, 11, FOK) == 0  # 10 at or below 100
    assert full_state(book) == {**before, "trades": [], "stp": []}
    book.submit(10, BUY, 100, 1)
    assert [t["seq"] for t in trades(book)] == [1]  # the refused FOK used no trade number


def test_fok_leaves_no_remainder_when_filled_exactly(asks_100_101):
    book = asks_100_101
    assert book.submit(9, BUY, 100, 10, FOK) == 10
    assert 9 not in book
    assert resting(book, SELL) == [(3, 101, 5)]


def test_post_only_rests_when_not_crossing(asks_100_101):
    book = asks_100_101
    assert book.submit(9, BUY, 99, 4, POST_ONLY) == 0
    assert resting(book, BUY) == [(9, 99, 4)]
    assert fills(book) == []


def test_post_only_on_empty_opposite_side_rests(book):
    assert book.submit(1, SELL, 100, 4, POST_ONLY) == 0
    assert resting(book, SELL) == [(1, 100, 4)]


@pytest.mark.parametrize("side, price", [(BUY, 100), (BUY, 150), (SELL, 99), (SELL, 50)])
def test_post_only_crossing_is_refused_whole(book, side, price):
    book.submit(1, SELL, 100, 5, owner=1)
    book.submit(2, BUY, 99, 5, owner=1)
    before = snapshot(book)
    assert book.submit(9, side, price, 3, POST_ONLY, owner=2) == 0
    assert full_state(book) == {**before, "trades": [], "stp": []}


@pytest.mark.parametrize("stp", [STP_NONE, STP_CANCEL_RESTING, STP_CANCEL_INCOMING])
def test_post_only_check_is_on_price_whoever_owns_the_opposite(make_book, stp):
    book = make_book(stp)
    book.submit(1, SELL, 100, 5, owner=3)
    before = snapshot(book)
    assert book.submit(9, BUY, 100, 3, POST_ONLY, owner=3) == 0
    assert full_state(book) == {**before, "trades": [], "stp": []}


# --------------------------------------------------------------------- rule 4, 5: market
def test_market_trades_at_any_price_and_drops_the_rest(asks_100_101):
    book = asks_100_101
    book.submit(8, SELL, 10_000, 1)
    assert book.market(9, BUY, 100) == 16
    assert [f[2] for f in fills(book)] == [100, 100, 101, 10_000]
    assert len(book) == 0


def test_market_never_rests(book):
    assert book.market(1, SELL, 5) == 0
    assert len(book) == 0
    assert 1 not in book


def test_market_partial_leaves_maker_remainder(asks_100_101):
    book = asks_100_101
    assert book.market(9, BUY, 7) == 7
    assert resting(book, SELL) == [(2, 100, 3), (3, 101, 5)]


def test_market_id_can_be_reused_afterwards(asks_100_101):
    book = asks_100_101
    book.market(9, BUY, 1)
    assert book.submit(9, BUY, 50, 1) == 0
    assert 9 in book


# --------------------------------------------------------------------- STP
def test_stp_none_same_owner_trades(make_book):
    book = make_book(STP_NONE)
    book.submit(1, SELL, 100, 5, owner=4)
    assert book.submit(2, BUY, 100, 5, owner=4) == 5
    t = trades(book)
    assert (t[0]["taker_owner"], t[0]["maker_owner"]) == (4, 4)


def test_stp_cancel_resting_cancels_own_and_continues(make_book):
    book = make_book(STP_CANCEL_RESTING)
    book.submit(1, SELL, 100, 5, owner=1)
    book.submit(2, SELL, 100, 4, owner=2)
    book.submit(3, SELL, 101, 6, owner=1)
    book.submit(4, SELL, 101, 5, owner=3)
    assert book.submit(9, BUY, 101, 20, owner=1) == 9
    assert fills(book) == [(9, 2, 100, 4), (9, 4, 101, 5)]
    assert stp_cancels(book) == [
        {"order_id": 1, "side": SELL, "price": 100, "qty": 5, "owner": 1},
        {"order_id": 3, "side": SELL, "price": 101, "qty": 6, "owner": 1},
    ]
    assert resting(book, SELL) == []
    assert resting(book, BUY) == [(9, 101, 11)]


def test_stp_cancel_record_holds_what_was_left(make_book):
    book = make_book(STP_CANCEL_RESTING)
    book.submit(1, SELL, 100, 5, owner=1)
    book.submit(2, BUY, 100, 2, owner=2)
    book.submit(3, BUY, 100, 4, owner=1)
    assert cancelled(book) == [(1, 3)]


def test_stp_cancel_resting_stops_touching_own_orders_once_filled(make_book):
    book = make_book(STP_CANCEL_RESTING)
    book.submit(1, SELL, 100, 5, owner=2)
    book.submit(2, SELL, 100, 5, owner=1)
    assert book.submit(9, BUY, 100, 5, owner=1) == 5
    assert cancelled(book) == []
    assert resting(book, SELL) == [(2, 100, 5)]


def test_stp_default_owner_zero_is_one_owner(make_book):
    book = make_book(STP_CANCEL_RESTING)
    book.submit(1, SELL, 100, 5)
    assert book.submit(2, BUY, 100, 5) == 0
    assert cancelled(book) == [(1, 5)]
    assert resting(book, BUY) == [(2, 100, 5)]


def test_stp_cancel_incoming_stops_and_drops_remainder(make_book):
    book = make_book(STP_CANCEL_INCOMING)
    book.submit(1, SELL, 100, 3, owner=2)
    book.submit(2, SELL, 100, 5, owner=1)
    book.submit(3, SELL, 100, 5, owner=3)
    assert book.submit(9, BUY, 100, 20, GTC, owner=1) == 3
    assert fills(book) == [(9, 1, 100, 3)]
    assert cancelled(book) == []
    assert 9 not in book
    assert resting(book, SELL) == [(2, 100, 5), (3, 100, 5)]


@pytest.mark.parametrize("stp", [STP_CANCEL_RESTING, STP_CANCEL_INCOMING])
def test_stp_other_owners_trade_normally(make_book, stp):
    book = make_book(stp)
    book.submit(1, SELL, 100, 5, owner=1)
    assert book.submit(2, BUY, 100, 5, owner=2) == 5
    assert cancelled(book) == []


def test_stp_cancel_incoming_applies_to_market(make_book):
    book = make_book(STP_CANCEL_INCOMING)
    book.submit(1, BUY, 100, 2, owner=2)
    book.submit(2, BUY, 99, 5, owner=1)
    book.submit(3, BUY, 98, 5, owner=2)
    assert book.market(9, SELL, 20, owner=1) == 2
    assert resting(book, BUY) == [(2, 99, 5), (3, 98, 5)]


def test_stp_cancel_resting_applies_to_market(make_book):
    book = make_book(STP_CANCEL_RESTING)
    book.submit(1, BUY, 100, 2, owner=1)
    book.submit(2, BUY, 99, 5, owner=2)
    assert book.market(9, SELL, 3, owner=1) == 3
    assert cancelled(book) == [(1, 2)]
    assert resting(book, BUY) == [(2, 99, 2)]


def test_fok_under_cancel_resting_counts_only_other_owners(make_book):
    book = make_book(STP_CANCEL_RESTING)
    book.submit(1, SELL, 100, 5, owner=1)
    book.submit(2, SELL, 100, 5, owner=2)
    before = snapshot(book)
    assert book.submit(9, BUY, 100, 6, FOK, owner=1) == 0
    assert full_state(book) == {**before, "trades": [], "stp": []}
    assert book.submit(9, BUY, 100, 5, FOK, owner=1) == 5
    assert cancelled(book) == [(1, 5)]
    assert fills(book) == [(9, 2, 100, 5)]
    assert len(book) == 0


def test_fok_under_cancel_incoming_counts_only_before_first_own(make_book):
    book = make_book(STP_CANCEL_INCOMING)
    book.submit(1, SELL, 100, 5, owner=2)
    book.submit(2, SELL, 100, 5, owner=1)
    book.submit(3, SELL, 100, 5, owner=2)
    before = snapshot(book)
    assert book.submit(9, BUY, 100, 6, FOK, owner=1) == 0
    assert full_state(book) == {**before, "trades": [], "stp": []}
    assert book.submit(9, BUY, 100, 5, FOK, owner=1) == 5
    assert resting(book, SELL) == [(2, 100, 5), (3, 100, 5)]


def test_fok_under_stp_none_counts_own_orders(make_book):
    book = make_book(STP_NONE)
    book.submit(1, SELL, 100, 5, owner=1)
    book.submit(2, SELL, 100, 5, owner=2)
    assert book.submit(9, BUY, 100, 10, FOK, owner=1) == 10


def test_stp_applies_to_a_modify_that_trades(make_book):
    book = make_book(STP_CANCEL_RESTING)
    book.submit(1, SELL, 101, 5, owner=1)
    book.submit(2, SELL, 102, 5, owner=2)
    book.submit(3, BUY, 99, 4, owner=1)
    assert book.modify(3, 4, 102) == 4
    assert cancelled(book) == [(1, 5)]
    assert fills(book) == [(3, 2, 102, 4)]


def test_cancel_incoming_modify_that_meets_own_order_leaves_the_book(make_book):
    book = make_book(STP_CANCEL_INCOMING)
    book.submit(1, SELL, 101, 5, owner=1)
    book.submit(3, BUY, 99, 4, owner=1)
    assert book.modify(3, 4, 101) == 0
    assert 3 not in book
    assert resting(book, SELL) == [(1, 101, 5)]
    assert fills(book) == []


# --------------------------------------------------------------------- cancel
def test_cancel_returns_remaining_qty_and_removes(asks_100_101):
    book = asks_100_101
    book.submit(9, BUY, 100, 2)
    assert book.cancel(1) == 3
    assert 1 not in book
    assert resting(book, SELL) == [(2, 100, 5), (3, 101, 5)]


@pytest.mark.parametrize("how", ["never", "cancelled", "filled", "ioc", "market"])
def test_cancel_of_an_id_not_resting_is_key_error(book, how):
    book.submit(1, SELL, 100, 5)
    dead = {"never": 42, "cancelled": 2, "filled": 3, "ioc": 4, "market": 5}[how]
    book.submit(2, BUY, 50, 1)
    book.cancel(2)
    book.submit(3, BUY, 100, 1)
    book.submit(4, BUY, 90, 1, IOC)
    book.market(5, SELL, 1)
    before = snapshot(book)
    with pytest.raises(KeyError):
        book.cancel(dead)
    with pytest.raises(KeyError):
        book.modify(dead, 1)
    assert snapshot(book) == before


# --------------------------------------------------------------------- modify
def test_modify_to_zero_cancels_and_returns_zero(asks_100_101):
    book = asks_100_101
    assert book.modify(1, 0) == 0
    assert 1 not in book
    assert len(book) == 2


def test_modify_smaller_same_price_keeps_place(asks_100_101):
    book = asks_100_101
    assert book.modify(1, 2) == 0
    assert resting(book, SELL) == [(1, 100, 2), (2, 100, 5), (3, 101, 5)]
    assert book.modify(1, 1, 100) == 0  # the same price given explicitly
    assert resting(book, SELL)[0] == (1, 100, 1)


def test_modify_same_qty_same_price_changes_nothing(asks_100_101):
    book = asks_100_101
    before = snapshot(book)
    assert book.modify(1, 5) == 0
    assert book.modify(1, 5, 100) == 0
    assert snapshot(book) == before


def test_modify_larger_goes_to_back_of_queue(asks_100_101):
    book = asks_100_101
    assert book.modify(1, 6) == 0
    assert resting(book, SELL) == [(2, 100, 5), (1, 100, 6), (3, 101, 5)]


def test_modify_other_price_goes_to_back_even_if_smaller(asks_100_101):
    book = asks_100_101
    assert book.modify(1, 1, 101) == 0
    assert resting(book, SELL) == [(2, 100, 5), (3, 101, 5), (1, 101, 1)]


def test_modify_keeps_side_and_owner(asks_100_101):
    book = asks_100_101
    book.modify(2, 9, 104)
    assert book.order(2) == (SELL, 104, 9, 7)


def test_modify_to_crossing_price_trades_at_once(asks_100_101):
    book = asks_100_101
    book.submit(9, BUY, 99, 12, owner=5)
    assert book.modify(9, 12, 101) == 12
    t = trades(book)
    assert [(x["taker_id"], x["maker_id"], x["price"], x["qty"]) for x in t] == [
        (9, 1, 100, 5), (9, 2, 100, 5), (9, 3, 101, 2)]
    assert {(x["taker_owner"], x["taker_side"]) for x in t} == {(5, BUY)}
    assert 9 not in book


def test_modify_crossing_remainder_rests_as_gtc(asks_100_101):
    book = asks_100_101
    book.submit(9, BUY, 99, 1)
    assert book.modify(9, 12, 100) == 10
    assert resting(book, BUY) == [(9, 100, 2)]


@pytest.mark.parametrize("qty, price", [(-1, None), (5, 0), (5, -3)])
def test_modify_bad_qty_or_price_is_value_error(asks_100_101, qty, price):
    book = asks_100_101
    before = snapshot(book)
    with pytest.raises(ValueError):
        book.modify(1, qty, price)
    assert snapshot(book) == before


# --------------------------------------------------------------------- bad input
BAD_CALLS = {
    "qty 0": lambda b: b.submit(9, BUY, 99, 0),
    "qty negative": lambda b: b.submit(9, BUY, 99, -4),
    "price 0": lambda b: b.submit(9, BUY, 0, 4),
    "price negative": lambda b: b.submit(9, SELL, -100, 4),
    "side 2": lambda b: b.submit(9, 2, 99, 4),
    "side -1": lambda b: b.submit(9, -1, 99, 4),
    "tif 4": lambda b: b.submit(9, BUY, 99, 4, 4),
    "tif -1": lambda b: b.submit(9, BUY, 99, 4, -1),
    "duplicate id": lambda b: b.submit(1, BUY, 99, 4),
    "duplicate id crossing": lambda b: b.submit(1, BUY, 101, 4),
    "id too big": lambda b: b.submit(2**63, BUY, 100, 4),
    "id too small": lambda b: b.submit(-(2**63) - 1, BUY, 100, 4),
    "price too big": lambda b: b.submit(9, SELL, 2**63, 4),
    "qty too big": lambda b: b.submit(9, BUY, 100, 2**63),
    "qty huge": lambda b: b.submit(9, BUY, 100, 2**200),
    "owner too big": lambda b: b.submit(9, BUY, 100, 4, GTC, 2**63),
    "owner too small": lambda b: b.submit(9, BUY, 100, 4, GTC, -(2**63) - 1),
    "tif too big": lambda b: b.submit(9, BUY, 99, 4, 2**64),
    "side too big": lambda b: b.submit(9, 2**64, 99, 4),
    "id float": lambda b: b.submit(1.5, BUY, 99, 4),
    "price float": lambda b: b.submit(9, BUY, 99.5, 4),
    "qty str": lambda b: b.submit(9, BUY, 99, "4"),
    "owner None": lambda b: b.submit(9, BUY, 99, 4, GTC, None),
    "market qty 0": lambda b: b.market(9, SELL, 0),
    "market qty negative": lambda b: b.market(9, SELL, -1),
    "market side 3": lambda b: b.market(9, 3, 4),
    "market duplicate id": lambda b: b.market(1, BUY, 4),
    "market qty too big": lambda b: b.market(9, SELL, 2**63),
    "market id too big": lambda b: b.market(2**63, SELL, 1),
    "market owner too big": lambda b: b.market(9, SELL, 1, 2**63),
    "modify qty negative": lambda b: b.modify(1, -1),
    "modify price 0": lambda b: b.modify(1, 3, 0),
    "modify price negative": lambda b: b.modify(1, 3, -100),
    "modify qty too big": lambda b: b.modify(1, 2**63),
    "modify price too big": lambda b: b.modify(1, 3, 2**63),
    "modify id too big": lambda b: b.modify(2**63, 3),
    "modify qty float": lambda b: b.modify(1, 2.5),
    "cancel id too big": lambda b: b.cancel(2**63),
    "cancel id str": lambda b: b.cancel("1"),
    "orders side 2": lambda b: b.orders(2),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_bad_input_is_value_error_and_changes_nothing(make_book, name):
    book = make_book(STP_CANCEL_RESTING)
    book.submit(1, SELL, 100, 5, owner=1)
    book.submit(2, BUY, 98, 5, owner=2)
    book.submit(3, BUY, 98, 5, owner=0)
    book.submit(4, SELL, 101, 5, owner=0)
    before = snapshot(book)
    with pytest.raises(ValueError):
        BAD_CALLS[name](book)
    assert full_state(book) == {**before, "trades": [], "stp": []}
    book.submit(10, BUY, 100, 1, owner=3)  # the book still works, and numbering continues
    assert [t["seq"] for t in trades(book)] == [1]


@pytest.mark.parametrize("order_id", [0, -1, 1, INT64_MAX, INT64_MIN, 2**32, -(2**32)])
def test_any_int64_order_id_works(book, order_id):
    book.submit(order_id, SELL, 100, 5, owner=INT64_MIN)
    assert order_id in book
    assert book.order(order_id) == (SELL, 100, 5, INT64_MIN)
    book.submit(order_id + 1 if order_id < INT64_MAX else 0, BUY, 100, 2, owner=INT64_MAX)
    assert book.modify(order_id, 2) == 0
    assert book.cancel(order_id) == 2
    assert order_id not in book
    assert len(book) == 0


def test_extreme_price_and_qty_fit(book):
    book.submit(1, SELL, INT64_MAX, INT64_MAX)
    book.submit(2, BUY, 1, INT64_MAX)
    assert best(book.best_ask()) == (INT64_MAX, INT64_MAX)
    assert best(book.best_bid()) == (1, INT64_MAX)
    assert book.market(3, BUY, INT64_MAX) == INT64_MAX
    assert best(book.best_ask()) is None


def test_numpy_and_enum_integers_are_accepted(book):
    book.submit(np.int64(1), np.int8(SELL), np.int32(100), np.uint16(5), np.int64(GTC), np.int64(2))
    assert book.order(1) == (SELL, 100, 5, 2)


# --------------------------------------------------------------------- process
def test_process_results_per_action(asks_100_101):
    book = asks_100_101
    out = book.process(batch(
        msg(NEW, 10, BUY, 99, 4),           # rests
        msg(NEW, 11, BUY, 100, 3),          # trades 3 with id 1
        msg(CANCEL, 10),                    # removes 4
        msg(MARKET, 12, SELL, -7, 2, 9),    # price and tif ignored: nothing to sell into
        msg(MODIFY, 2, SELL, 0, 3),         # smaller, keeps price
        msg(MODIFY, 3, SELL, 100, 5),       # other price
        msg(MARKET, 13, BUY, 0, 6),         # 2 of id 1, 3 of id 2, 1 of id 3
    ))
    assert list(out) == [0, 3, 4, 0, 0, 0, 6]
    assert resting(book, SELL) == [(3, 100, 4)]
    assert [(t[0], t[1], t[3]) for t in fills(book)] == [
        (11, 1, 3), (13, 1, 2), (13, 2, 3), (13, 3, 1)]


@pytest.mark.parametrize("row, code", [
    (msg(4, 9, BUY, 100, 1), INVALID_ACTION),
    (msg(-1, 9, BUY, 100, 1), INVALID_ACTION),
    (msg(NEW, 9, 2, 100, 1), INVALID_SIDE),
    (msg(NEW, 9, 2, -1, 0, 9), INVALID_SIDE),         # side checked before qty, price, tif
    (msg(NEW, 9, BUY, -1, 0, 9), INVALID_QTY),        # qty checked before price, tif
    (msg(NEW, 9, BUY, -1, 1, 9), INVALID_PRICE),      # price checked before tif
    (msg(NEW, 9, BUY, 0, 1), INVALID_PRICE),
    (msg(NEW, 1, BUY, 100, 1, 9), INVALID_TIF),       # tif checked before duplicate id
    (msg(NEW, 1, BUY, 100, 1, FOK), DUPLICATE_ID),    # duplicate checked before FOK
    (msg(NEW, 1, BUY, 100, 1, POST_ONLY), DUPLICATE_ID),
    (msg(NEW, 9, BUY, 100, 11, FOK), FOK_NOT_FILLED),
    (msg(NEW, 9, BUY, 100, 1, POST_ONLY), POST_ONLY_WOULD_CROSS),
    (msg(MARKET, 9, 2, 0, 1), INVALID_SIDE),
    (msg(MARKET, 9, BUY, 0, 0), INVALID_QTY),
    (msg(MARKET, 1, BUY, 0, 1), DUPLICATE_ID),
    (msg(CANCEL, 42), UNKNOWN_ID),
    (msg(MODIFY, 1, BUY, 0, -1), INVALID_QTY),
    (msg(MODIFY, 42, BUY, 0, -1), INVALID_QTY),       # qty checked before the id
    (msg(MODIFY, 1, BUY, -1, 3), INVALID_PRICE),
    (msg(MODIFY, 42, BUY, -1, 3), INVALID_PRICE),
    (msg(MODIFY, 42, BUY, 0, 3), UNKNOWN_ID),
])
def test_process_reject_codes_change_nothing(asks_100_101, row, code):
    book = asks_100_101
    before = snapshot(book)
    out = book.process(batch(row, msg(NEW, 20, BUY, 90, 1)))
    assert list(out) == [code, 0]
    assert resting(book, BUY) == [(20, 90, 1)]
    book.cancel(20)
    assert full_state(book) == {**before, "trades": [], "stp": []}


def test_process_reject_code_values(compiled):
    Reject = compiled.Reject
    assert list(
        range(-1, -11, -1)) == [Reject.INVALID_ACTION, Reject.INVALID_SIDE, Reject.INVALID_QTY,
            Reject.INVALID_PRICE, Reject.INVALID_TIF, Reject.DUPLICATE_ID, Reject.UNKNOWN_ID,
            Reject.FOK_NOT_FILLED, Reject.POST_ONLY_WOULD_CROSS, Reject.LEVEL_OVERFLOW]
    assert all(r < 0 for r in Reject)


def test_process_modify_price_zero_keeps_price(asks_100_101):
    book = asks_100_101
    assert list(book.process(batch(msg(MODIFY, 1, BUY, 0, 7)))) == [0]
    assert resting(book, SELL) == [(2, 100, 5), (1, 100, 7), (3, 101, 5)]


def test_process_market_side_of_message_is_used(asks_100_101):
    book = asks_100_101
    book.submit(5, BUY, 90, 4, owner=2)
    out = book.process(batch(msg(MARKET, 9, SELL, 10**6, 3, GTC, 2)))
    assert list(out) == [3]
    assert fills(book) == [(9, 5, 90, 3)]


def test_process_same_as_single_calls(make_book):
    rows = [
        msg(NEW, 1, SELL, 100, 5, GTC, 1), msg(NEW, 2, SELL, 101, 5, GTC, 2),
        msg(NEW, 3, BUY, 101, 7, IOC, 1), msg(NEW, 4, BUY, 99, 3, POST_ONLY, 3),
        msg(MODIFY, 4, BUY, 101, 3), msg(NEW, 5, SELL, 99, 9, FOK, 2),
        msg(CANCEL, 2), msg(NEW, 6, BUY, 98, 2, GTC, 1), msg(MARKET, 7, SELL, 0, 9, 0, 3),
        msg(CANCEL, 6), msg(NEW, 8, SELL, 98, 2, FOK, 3),
    ]
    a, b = make_book(STP_CANCEL_RESTING), make_book(STP_CANCEL_RESTING)
    got = [single_equivalent(int(r)) for r in a.process(batch(*rows))]
    want = [apply_single(b, row) for row in rows]
    assert got == want
    assert "KeyError" in want  # CANCEL 2 comes after id 2 was filled
    assert full_state(a) == full_state(b)


def test_process_of_an_empty_batch(book):
    assert len(book.process(batch())) == 0


def test_process_returns_int64_array(compiled):
    book = compiled.OrderBook()
    out = book.process(batch(msg(NEW, 1, SELL, 100, 5), msg(CANCEL, 2)))
    assert out.dtype == np.int64 and out.shape == (2,)
    assert list(out) == [0, UNKNOWN_ID]


def test_process_strided_view(book):
    rows = batch(msg(NEW, 1, SELL, 100, 5), msg(NEW, 2, SELL, 100, 5), msg(NEW, 3, SELL, 101, 5))
    assert list(book.process(rows[::2])) == [0, 0]
    assert resting(book, SELL) == [(1, 100, 5), (3, 101, 5)]


BAD_BATCHES = {
    "int32 fields": lambda: np.zeros(1, dtype=[(n, np.int32) for n in MESSAGE_DTYPE.names]),
    "missing field": lambda: np.zeros(1, dtype=[(n, np.int64) for n in MESSAGE_DTYPE.names[:-1]]),
    "reordered fields": lambda: np.zeros(
        1, dtype=[(n, np.int64) for n in reversed(MESSAGE_DTYPE.names)]),
    "plain 2-d int64": lambda: np.zeros((1, 7), dtype=np.int64),
    "big-endian": lambda: np.zeros(1, dtype=[(n, ">i8") for n in MESSAGE_DTYPE.names]),
    "list of tuples": lambda: [msg(NEW, 9, BUY, 99, 1)],
}


@pytest.mark.parametrize("name", sorted(BAD_BATCHES))
def test_process_wrong_dtype_is_type_error_and_applies_nothing(asks_100_101, name):
    book = asks_100_101
    bad = BAD_BATCHES[name]()
    if isinstance(bad, np.ndarray) and bad.dtype.names:
        bad["action"] = NEW
        bad["order_id"] = 9
        bad["price"] = 101
        bad["qty"] = 1
    before = snapshot(book)
    with pytest.raises(TypeError) as err:
        book.process(bad)
    if isinstance(bad, np.ndarray):
        assert str(bad.dtype) in str(err.value)
    assert full_state(book) == {**before, "trades": [], "stp": []}


# --------------------------------------------------------------------- trade records
def test_trade_record_fields(book):
    book.submit(1, SELL, 100, 5, owner=11)
    book.submit(2, BUY, 100, 3, owner=22)
    assert trades(book) == [{
        "seq": 1, "taker_id": 2, "maker_id": 1, "taker_owner": 22, "maker_owner": 11,
        "taker_side": BUY, "price": 100, "qty": 3, "taker_leaves": 0, "maker_leaves": 2}]


def test_trade_seq_counts_up_and_is_never_reused(book):
    book.submit(1, SELL, 100, 5)
    book.submit(2, BUY, 100, 1)
    book.submit(3, BUY, 100, 1)
    assert [t["seq"] for t in trades(book)] == [1, 2]
    book.market(4, BUY, 2)
    book.clear()
    book.submit(5, SELL, 100, 5)
    book.process(batch(msg(MARKET, 6, BUY, 0, 1), msg(NEW, 7, BUY, 100, 1)))
    assert [t["seq"] for t in trades(book)] == [3, 4, 5]


def test_drain_empties_both_buffers(make_book):
    book = make_book(STP_CANCEL_RESTING)
    book.submit(1, SELL, 100, 5, owner=1)
    book.submit(2, SELL, 100, 5, owner=2)
    book.submit(3, BUY, 100, 6, owner=1)
    assert len(trades(book)) == 1 and len(stp_cancels(book)) == 1
    assert trades(book) == [] and stp_cancels(book) == []


def test_trades_accumulate_until_drained(book):
    book.submit(1, SELL, 100, 5)
    book.submit(2, BUY, 100, 1)
    book.submit(3, BUY, 100, 1)
    assert [t["taker_id"] for t in trades(book)] == [2, 3]


def test_trade_and_stp_dtypes(compiled):
    book = compiled.OrderBook(stp=compiled.STP.CANCEL_RESTING)
    book.submit(1, SELL, 100, 5, owner=1)
    book.submit(2, SELL, 100, 5, owner=2)
    book.submit(3, BUY, 100, 6, owner=1)
    t, s = book.drain_trades(), book.drain_stp_cancels()
    assert t.dtype == compiled.TRADE_DTYPE and s.dtype == compiled.STP_CANCEL_DTYPE
    # book.md lists the fields; their order in the dtype is not asserted
    assert set(t.dtype.names) == {"seq", "taker_id", "maker_id", "taker_owner", "maker_owner",
                                  "taker_side", "price", "qty", "taker_leaves", "maker_leaves"}
    assert set(s.dtype.names) == {"order_id", "side", "price", "qty", "owner"}
    assert t.shape == (1,) and s.shape == (1,)
    assert book.drain_trades().shape == (0,) and book.drain_stp_cancels().shape == (0,)
    assert book.drain_trades().dtype == compiled.TRADE_DTYPE


# --------------------------------------------------------------------- reading the book
def test_best_bid_and_ask(book):
    assert book.best_bid() is None and book.best_ask() is None
    book.submit(1, BUY, 99, 5)
    book.submit(2, BUY, 99, 2)
    book.submit(3, BUY, 98, 7)
    book.submit(4, SELL, 101, 1)
    assert best(book.best_bid()) == (99, 7)
    assert best(book.best_ask()) == (101, 1)


def test_depth_best_first_and_capped(book):
    for i, price in enumerate([97, 99, 98, 99]):
        book.submit(i, BUY, price, i + 1)
    book.submit(10, SELL, 103, 1)
    book.submit(11, SELL, 102, 2)
    bids, asks = snapshot(book, 2)["depth"]
    assert bids == [(99, 6), (98, 3)]
    assert asks == [(102, 2), (103, 1)]
    assert snapshot(book, 0)["depth"] == ([], [])


def test_depth_shapes_and_dtypes(compiled):
    book = compiled.OrderBook()
    bids, asks = book.depth(5)
    assert bids.shape == (0, 2) and asks.shape == (0, 2)
    assert bids.dtype == np.int64 and asks.dtype == np.int64
    book.submit(1, BUY, 99, 5)
    book.submit(2, BUY, 98, 5)
    book.submit(3, SELL, 101, 5)
    bids, asks = book.depth(1)
    assert bids.shape == (1, 2) and asks.shape == (1, 2)
    assert book.depth(10)[0].tolist() == [[99, 5], [98, 5]]


def test_orders_in_priority_order(book):
    book.submit(1, BUY, 98, 1, owner=5)
    book.submit(2, BUY, 99, 2)
    book.submit(3, BUY, 98, 3)
    book.submit(4, SELL, 102, 4)
    book.submit(5, SELL, 101, 5)
    assert records(book.orders(BUY)) == [
        {"order_id": 2, "price": 99, "qty": 2, "owner": 0},
        {"order_id": 1, "price": 98, "qty": 1, "owner": 5},
        {"order_id": 3, "price": 98, "qty": 3, "owner": 0},
    ]
    assert [o["order_id"] for o in records(book.orders(SELL))] == [5, 4]


def test_orders_dtype(compiled):
    book = compiled.OrderBook()
    book.submit(1, BUY, 98, 1)
    for side in (BUY, SELL, compiled.Side.SELL):
        out = book.orders(side)
        assert out.dtype.names == ("order_id", "price", "qty", "owner")
        assert all(out.dtype[n] == np.int64 for n in out.dtype.names)
    assert book.orders(SELL).shape == (0,)


def test_order_lookup(book):
    book.submit(7, SELL, 101, 3, owner=9)
    assert book.order(7) == (SELL, 101, 3, 9)
    with pytest.raises(KeyError):
        book.order(8)


def test_len_and_contains(book):
    assert len(book) == 0 and 1 not in book
    book.submit(1, SELL, 101, 3)
    book.submit(2, BUY, 99, 3)
    assert len(book) == 2 and 1 in book and 2 in book and 3 not in book


def test_clear_returns_all_bids_first_and_empties(book):
    book.submit(1, SELL, 101, 3, owner=1)
    book.submit(2, BUY, 99, 3, owner=2)
    book.submit(3, BUY, 100, 4, owner=3)
    book.submit(4, SELL, 101, 1)
    out = records(book.clear())
    assert out == [
        {"order_id": 3, "price": 100, "qty": 4, "owner": 3, "side": BUY},
        {"order_id": 2, "price": 99, "qty": 3, "owner": 2, "side": BUY},
        {"order_id": 1, "price": 101, "qty": 3, "owner": 1, "side": SELL},
        {"order_id": 4, "price": 101, "qty": 1, "owner": 0, "side": SELL},
    ]
    assert len(book) == 0 and records(book.orders(BUY)) == [] and records(book.orders(SELL)) == []
    assert book.best_bid() is None and book.best_ask() is None
    assert book.submit(1, BUY, 100, 1) == 0 and 1 in book


def test_clear_dtype(compiled):
    book = compiled.OrderBook()
    book.submit(1, SELL, 101, 3)
    out = book.clear()
    assert set(out.dtype.names) == {"order_id", "price", "qty", "owner", "side"}
    assert out.shape == (1,)
    assert book.clear().shape == (0,)


def test_enum_values(compiled):
    assert (compiled.Side.BUY, compiled.Side.SELL) == (0, 1)
    assert [compiled.TIF.GTC, compiled.TIF.IOC, compiled.TIF.FOK, compiled.TIF.POST_ONLY] == [
        0, 1, 2, 3]
    assert [compiled.Action.NEW, compiled.Action.CANCEL, compiled.Action.MARKET,
            compiled.Action.MODIFY] == [0, 1, 2, 3]
    assert [compiled.STP.NONE, compiled.STP.CANCEL_RESTING, compiled.STP.CANCEL_INCOMING] == [
        0, 1, 2]
    assert compiled.MESSAGE_DTYPE == MESSAGE_DTYPE


def test_enum_members_accepted_as_arguments(compiled):
    book = compiled.OrderBook(stp=compiled.STP.CANCEL_INCOMING)
    book.submit(1, compiled.Side.SELL, 100, 5, compiled.TIF.GTC, 1)
    assert book.submit(2, compiled.Side.BUY, 100, 5, compiled.TIF.IOC, 1) == 0
    assert book.order(1) == (SELL, 100, 5, 1)


# --------------------------------------------------------------------- more of the contract
def test_keyword_arguments_as_documented(book):
    assert book.submit(1, SELL, 100, 5, tif=GTC, owner=3) == 0
    assert book.submit(2, BUY, 100, 2, tif=IOC, owner=4) == 2
    assert book.market(3, BUY, 1, owner=4) == 1
    assert book.modify(1, 1, price=None) == 0
    assert book.modify(1, 1, price=101) == 0
    assert book.order(1) == (SELL, 101, 1, 3)


@pytest.mark.parametrize("call, words", [
    (lambda b: b.submit(9, BUY, 99, -4), ("qty", "-4")),
    (lambda b: b.submit(9, BUY, -7, 4), ("price", "-7")),
    (lambda b: b.submit(9, 5, 99, 4), ("side", "5")),
    (lambda b: b.submit(9, BUY, 99, 4, 6), ("tif", "6")),
    (lambda b: b.submit(1, BUY, 99, 4), ("order_id", "1")),
    (lambda b: b.submit(9, BUY, 99, 4, GTC, 2**63), ("owner", str(2**63))),
    (lambda b: b.modify(1, -2), ("qty", "-2")),
])
def test_value_error_names_the_field_and_value(book, call, words):
    book.submit(1, SELL, 100, 5)
    with pytest.raises(ValueError) as err:
        call(book)
    assert all(word in str(err.value) for word in words), str(err.value)


def test_buffers_hold_many_events_until_drained(make_book):
    """More trades and STP cancels than any small initial buffer, drained at once, in order."""
    book = make_book(STP_CANCEL_RESTING)
    n = 3000
    for i in range(n):
        book.submit(i, SELL, 100 + i % 7, 1, owner=i % 2)
    assert book.market(10**6, BUY, n, owner=1) == n // 2
    t, s = trades(book), stp_cancels(book)
    assert [x["seq"] for x in t] == list(range(1, n // 2 + 1))
    assert sorted(x["maker_id"] for x in t) == list(range(0, n, 2))
    assert sorted(x["order_id"] for x in s) == list(range(1, n, 2))
    assert [x["price"] for x in t] == sorted(x["price"] for x in t)
    assert len(book) == 0


@pytest.mark.parametrize("tif", [GTC, POST_ONLY])
def test_order_that_would_overflow_its_level_is_refused(book, tif):
    """A resting order that would take its level's total past int64: ValueError / -10."""
    book.submit(1, BUY, 100, INT64_MAX - 10)
    book.submit(2, BUY, 100, 5)
    before = snapshot(book)
    with pytest.raises(ValueError):
        book.submit(3, BUY, 100, 6, tif)
    assert full_state(book) == {**before, "trades": [], "stp": []}
    assert list(book.process(batch(msg(NEW, 3, BUY, 100, 6, tif)))) == [LEVEL_OVERFLOW]
    assert snapshot(book) == before
    assert book.submit(3, BUY, 100, 5, tif) == 0  # exactly INT64_MAX fits
    assert best(book.best_bid()) == (100, INT64_MAX)


def test_level_overflow_check_is_per_level_and_side(book):
    book.submit(1, BUY, 100, INT64_MAX)
    book.submit(2, BUY, 99, INT64_MAX)
    book.submit(3, SELL, 101, INT64_MAX)
    assert len(book) == 3


@pytest.mark.parametrize("call", [
    lambda b: b.submit(3, BUY, 100, INT64_MAX, IOC),
    lambda b: b.submit(3, BUY, 100, INT64_MAX, FOK),
    lambda b: b.market(3, BUY, INT64_MAX),
])
def test_orders_that_never_rest_are_not_checked_for_level_overflow(book, call):
    book.submit(1, BUY, 100, INT64_MAX)
    book.submit(2, SELL, 101, 7)
    call(book)
    assert records(book.orders(BUY)) == [{"order_id": 1, "price": 100, "qty": INT64_MAX,
                                           "owner": 0}]


def test_modify_that_would_overflow_its_level_is_refused(book):
    """The modified order leaves its level first: its own quantity does not count."""
    book.submit(1, BUY, 100, INT64_MAX - 10)
    book.submit(2, BUY, 100, 5)
    book.submit(3, BUY, 99, 20)
    before = snapshot(book)
    for call in (lambda: book.modify(2, 11), lambda: book.modify(3, 11, 100)):
        with pytest.raises(ValueError):
            call()
        assert snapshot(book) == before
    assert list(book.process(batch(msg(MODIFY, 2, BUY, 0, 11), msg(MODIFY, 3, BUY, 100, 11)))) == [
        LEVEL_OVERFLOW, LEVEL_OVERFLOW]
    assert snapshot(book) == before
    assert book.modify(2, 10) == 0  # INT64_MAX - 10 + 10 fits
    assert best(book.best_bid()) == (100, INT64_MAX)
    assert resting(book, BUY) == [(1, 100, INT64_MAX - 10), (2, 100, 10), (3, 99, 20)]
