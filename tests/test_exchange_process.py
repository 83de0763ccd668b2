"""``Exchange.process``: a batch gives exactly what the same orders sent one by one give.

Hypothesis draws multi-member, multi-instrument streams (pre-funded, deferred and credit-limited
members; spot, a swap and a security; every action; refusals of every kind, batch-only ones
included) and applies them to two equal exchanges: one in batches of random sizes through the
compiled loop, the other row by row through submit/market/cancel/modify. Results, order ids,
trade records, funds, credit exposures, refusal counts and both books must agree after every
batch. The LOBSTER Nasdaq sample goes through ``Exchange.process`` too, and must fill what the
bare book's replay filled.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange import ORDER_DTYPE, RESULT_DTYPE, STP, Exchange, Regime, RejectReason
from exchange.reference.calendar import Calendar
from exchange.reference.fees import FeeRule, FeeSchedule
from exchange.reference.instruments import Asset, Instrument, InstrumentSet, Kind
from exchange.venue.batches import process_one_by_one

THU = dt.date(2024, 3, 7)
CALENDAR = Calendar()
SYMBOLS = ("USDKZT_TOD", "USDKZT_SWAP_1D", "KZTK")
LOW = {"USDKZT_TOD": 46_996, "USDKZT_SWAP_1D": 1, "KZTK": 1}
ASSETS = ("KZT", "USD", "KZTK")
MEMBERS = (1, 2, 3, 4)  # 1, 2 pre-funded; 3 credit-limited; 4 deferred


def make(stp: STP, funds: dict) -> Exchange:
    ex = Exchange(calendar=CALENDAR, stp=stp, reference_rates={"USDKZT": "470.00"})
    for member in (1, 2):
        ex.add_member(member, f"prefunded {member}", Regime.PREFUNDED)
    ex.add_member(3, "limited", credit_limits={"KZT": "3000000"})
    ex.add_member(4, "deferred")
    for (member, asset), amount in funds.items():
        if amount:
            ex.deposit(member, asset, amount)
    ex.begin_day(THU)
    ex.open_session("day")  # TOD, the swap and the security all trade in the day session
    return ex


def _mostly(common: list, rare: list, weight: int = 8) -> st.SearchStrategy:
    """Valid values most of the time, so that orders rest and trade; the rare ones refuse."""
    return st.sampled_from(common * weight + rare)


row = st.tuples(
    _mostly([0, 0, 0, 0, 0, 2, 1, 3], [7], 4),  # action (7: invalid)
    st.integers(0, 12),  # order id of a cancel/modify (0, and ids not given out: refused)
    _mostly([1, 2, 3, 4], [99]),  # member (99 unknown)
    _mostly([0, 0, 0, 1, 2], [9]),  # instrument (9 unknown)
    _mostly([0, 1], [2]),  # side (2 invalid)
    _mostly(list(range(9)), [-1]),  # price offset (-1: price 0, refused for a new order)
    _mostly([1, 2, 3, 5, 8], [0, -1]),  # lots
    _mostly([0, 0, 0, 1, 2, 3], [5]),  # tif (5 invalid)
    _mostly([0], [5], 20),  # order id of a NEW row (nonzero: INVALID_ORDER_ID)
)
balances = st.fixed_dictionaries({
    (member, asset): st.sampled_from([10**12, 10**12, 10**8, 10**4, 0] if asset != "KZTK"
                                     else [1000, 1000, 5, 0])
    for member in MEMBERS for asset in ASSETS})


def orders_of(rows: list[tuple], ex: Exchange) -> np.ndarray:
    out = np.zeros(len(rows), ORDER_DTYPE)
    for i, (action, oid, member, which, side, offset, lots, tif, new_id) in enumerate(rows):
        symbol = SYMBOLS[which] if which < len(SYMBOLS) else None
        index = ex.instrument_id(symbol) if symbol else 9_999
        price = 0 if offset < 0 else (LOW[symbol] + offset if symbol else 100 + offset)
        if action in (1, 3):
            order_id = oid
            price = 0 if offset < 1 else price  # a modify's price 0 keeps it
        else:
            order_id = new_id
        out[i] = (action, order_id, member, index, side, price, lots, tif)
    return out


def state(ex: Exchange) -> tuple:
    books = tuple((s, ex.book(s).orders(0).tolist(), ex.book(s).orders(1).tolist())
                  for s in ex.instruments)
    funds = tuple(tuple(ex.funds(m, a)) for m in MEMBERS for a in ASSETS)
    return (books, funds, ex.credit_exposure(3, "KZT"), ex.rejections(),
            ex.trades().tolist())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stp=st.sampled_from(list(STP)), funds=balances, rows=st.lists(row, max_size=80),
       cuts=st.lists(st.integers(1, 30), max_size=10))
def test_a_batch_is_the_same_orders_one_by_one(stp, funds, rows, cuts):
    batched, single = make(stp, funds), make(stp, funds)
    orders = orders_of(rows, batched)
    at = 0
    for cut in cuts + [len(orders)]:
        chunk = orders[at: at + cut]
        at += len(chunk)
        got = batched.process(chunk)
        want = process_one_by_one(single, chunk)
        assert got.tolist() == want.tolist()
        assert state(batched) == state(single)
        if at == len(orders):
            break
    batched.close_session("day")
    single.close_session("day")
    assert state(batched) == state(single)
    for member in (1, 2):
        for asset in ASSETS:
            assert batched.funds(member, asset).available >= 0


def test_batch_only_refusals_and_order_ids():
    ex = make(STP.CANCEL_INCOMING, {(4, "KZT"): 10**10})
    tod = ex.instrument_id("USDKZT_TOD")
    orders = np.array([
        (0, 0, 4, tod, 0, 47_000, 2, 0),  # accepted: id 1
        (0, 7, 4, tod, 0, 47_000, 2, 0),  # NEW naming an id: refused
        (9, 0, 4, tod, 0, 47_000, 2, 0),  # no such action
        (2, 0, 4, tod, 1, 0, 1, 0),  # market sell: takes 1 of order 1 (its own: STP) -> 0
        (0, 0, 1, tod, 1, 47_000, 1, 0),  # member 1 pre-funded, no USD: refused
        (3, 1, 4, tod, 0, 0, 5, 0),  # modify order 1 to 5 lots, same price
        (1, 1, 2, 0, 0, 0, 0, 0),  # cancel by another member: refused
        (1, 1, 4, 0, 0, 0, 0, 0),  # cancel: accepted
        (1, 1, 4, 0, 0, 0, 0, 0),  # again: no longer resting
    ], dtype=ORDER_DTYPE)
    results = ex.process(orders)
    assert results.dtype == RESULT_DTYPE
    R = RejectReason
    assert results["code"].tolist() == [0, R.INVALID_ORDER_ID.code, R.INVALID_ACTION.code, 0,
                                        R.INSUFFICIENT_FUNDS.code, 0, R.NOT_OWNER.code, 0,
                                        R.UNKNOWN_ORDER.code]
    assert results["order_id"].tolist() == [1, 0, 0, 2, 0, 1, 1, 1, 1]
    assert results["leaves"].tolist()[:1] == [2] and results["leaves"].tolist()[5] == 5
    assert ex.rejections() == {R.INVALID_ORDER_ID: 1, R.INVALID_ACTION: 1,
                               R.INSUFFICIENT_FUNDS: 1, R.NOT_OWNER: 1, R.UNKNOWN_ORDER: 1}
    with pytest.raises(TypeError, match="ORDER_DTYPE"):
        ex.process(np.zeros(3, np.int64))


def test_a_subscriber_gets_the_same_events_from_a_batch():
    """With a subscriber the rows go through the single calls: same events as sent singly."""
    rows = [(0, 0, 4, 0, 0, 47_000, 2, 0), (0, 0, 3, 0, 1, 47_000, 1, 0),
            (3, 1, 4, 0, 0, 47_001, 3, 0), (1, 1, 4, 0, 0, 0, 0, 0)]
    seen: dict[str, list] = {"batch": [], "single": []}
    for how in seen:
        ex = make(STP.CANCEL_INCOMING, {})
        ex.subscribe(seen[how].append)
        orders = np.array(rows, dtype=ORDER_DTYPE)
        if how == "batch":
            ex.process(orders)
        else:
            for r in orders.tolist():
                process_one_by_one(ex, np.array([r], dtype=ORDER_DTYPE))
    assert [e[1:] for e in seen["batch"]] == [e[1:] for e in seen["single"]]
    assert len(seen["batch"]) >= 6


# ----------------------------------------------------------------------- LOBSTER


class RecordingBook:
    """A book that records every call that changes it, for a replay through the exchange."""

    def __init__(self, book) -> None:
        self.book, self.calls, self.fills = book, [], []

    def submit(self, order_id, side, price, qty, tif=0):
        self.calls.append(("submit", order_id, side, price, qty, int(tif)))
        return self.book.submit(order_id, side, price, qty, tif)

    def cancel(self, order_id):
        self.calls.append(("cancel", order_id))
        return self.book.cancel(order_id)

    def modify(self, order_id, qty):
        self.calls.append(("modify", order_id, qty))
        return self.book.modify(order_id, qty)

    def drain_trades(self):
        trades = self.book.drain_trades()
        self.fills += [(int(t["taker_id"]), int(t["maker_id"]), int(t["price"]), int(t["qty"]))
                       for t in trades]
        return trades

    def __getattr__(self, name):
        return getattr(self.book, name)

    def __contains__(self, order_id):
        return order_id in self.book


def lobster_exchange() -> Exchange:
    """One member trading AAPL in LOBSTER's units: price ticks of $0.0001, lots of one share."""
    usd4 = Asset("USDX", 4, "US")  # a minor unit of $0.0001: one tick on one share
    aapl = Asset("AAPL", 0, "US", is_currency=False)
    share = Instrument("AAPL", Kind.SHARE, aapl, usd4, tick_size="0.0001", lot_size=1,
                       prefunded=False)
    fees = FeeSchedule({Kind.SHARE: FeeRule(taker_bp=0, minimum={"USDX": 0})})
    ex = Exchange(instruments=InstrumentSet({"AAPL": share}), calendar=CALENDAR, stp=STP.NONE,
                  fees=fees)
    ex.add_member(1, "Nasdaq order flow")
    ex.begin_day(THU)
    ex.open_session("day")
    return ex


@pytest.mark.slow
def test_lobster_through_exchange_process_fills_what_the_book_filled(monkeypatch):
    import test_lobster_replay as lobster

    messages = lobster.read_messages(lobster.FULL_HOUR_MESSAGES)
    recorder = RecordingBook(lobster.compiled_book_class()())
    monkeypatch.setattr(lobster, "compiled_book_class", lambda: (lambda: recorder))
    lobster.replay(messages, lobster.read_book(lobster.HOUR_BOOK_50))  # the book's replay
    assert len(recorder.fills) > 3_000
    ids: dict[int, int] = {}
    orders = np.zeros(len(recorder.calls), ORDER_DTYPE)
    for i, call in enumerate(recorder.calls):
        if call[0] == "submit":
            _, order_id, side, price, qty, tif = call
            ids[order_id] = len(ids) + 1  # the exchange gives out 1, 2, 3, ...
            orders[i] = (0, 0, 1, 0, side, price, qty, tif)
        elif call[0] == "cancel":
            orders[i] = (1, ids[call[1]], 1, 0, 0, 0, 0, 0)
        else:
            orders[i] = (3, ids[call[1]], 1, 0, 0, 0, call[2], 0)
    ex = lobster_exchange()
    results = ex.process(orders)
    assert (results["code"] == 0).all()
    trades = ex.trades()
    records = [(int(b), int(s), int(p), int(q)) for b, s, p, q in zip(
        trades["buy_order_id"], trades["sell_order_id"], trades["price_ticks"], trades["qty"])]
    expected = []
    sides = {ids[c[1]]: c[2] for c in recorder.calls if c[0] == "submit"}
    for taker, maker, price, qty in recorder.fills:
        t, m = ids[taker], ids[maker]
        buy, sell = (t, m) if sides[t] == 0 else (m, t)
        expected.append((buy, sell, price, qty))
    assert records == expected
    assert ex.book("AAPL").depth(10**6)[0].tolist() == recorder.book.depth(10**6)[0].tolist()
    assert ex.book("AAPL").depth(10**6)[1].tolist() == recorder.book.depth(10**6)[1].tolist()
