"""Orders through the facade: every refusal reason (and that it changes nothing), ownership,
statuses, cancel/modify, self-trade prevention, and events mapped onto FIX codes."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from exchange import (
    STP,
    TIF,
    CancelReject,
    Exchange,
    ExecType,
    ExecutionReport,
    NotOrderOwner,
    OrderRejected,
    OrdStatus,
    Regime,
    RejectReason,
    Side,
    UnknownOrder,
)
from exchange.reference.calendar import Calendar
from exchange.venue.codes import FIX_ORD_REJ_REASON, OrderTypeRejected

THU = dt.date(2024, 3, 7)
CALENDAR = Calendar()
TOD = "USDKZT_TOD"
R = RejectReason


def make(stp: STP = STP.CANCEL_INCOMING, day: dt.date = THU, **kw) -> Exchange:
    ex = Exchange(calendar=CALENDAR, stp=stp, **kw)
    ex.add_member(1, "Bank One")
    ex.add_member(2, "Bank Two")
    ex.add_member(3, "New Broker", Regime.PREFUNDED)
    ex.add_member(4, "Limited", credit_limits={"KZT": "1000000"})
    ex.ledger.deposit(3, "KZT", 100_000_000)  # 1,000,000.00 KZT
    ex.begin_day(day)
    ex.open_session("morning")
    return ex


@pytest.fixture
def ex() -> Exchange:
    exchange = make(reference_rates={"USDKZT": "470.00"})
    exchange.submit(1, TOD, Side.BUY, "470.00", 2000)  # order 1: bid 2 lots
    exchange.submit(2, TOD, Side.SELL, "470.50", 2000)  # order 2: ask 2 lots
    return exchange


def snapshot(ex: Exchange) -> tuple:
    """Everything a refusal must leave as it was, through public read access."""
    books = tuple((sym, ex.book(sym).orders(0).tolist(), ex.book(sym).orders(1).tolist())
                  for sym in ex.instruments)
    ledger = tuple((m, a, ex.ledger.balance(m, a), ex.funds(m, a).reserved,
                    ex.funds(m, a).committed) for m in (3,) for a in ("KZT", "USD"))
    return books, ex.capture.count, ledger, ex.credit_exposure(4, "KZT")


def _end_day(ex: Exchange) -> None:
    ex.end_of_day()


BIG = (2**63 - 1) // 1000  # lots of USDKZT_TOD whose value at 1 tick still fits in int64


def _full_level(ex: Exchange) -> None:
    for _ in range(1000):  # 1000 x BIG lots at 1 tick: one more would take the total past int64
        ex.submit(1, TOD, 0, price_ticks=1, lots=BIG)


def _limited_order(ex: Exchange) -> None:
    ex.submit(4, TOD, 0, "400.00", 1000)  # order 3 of member 4: 400,000 KZT of its 1M limit


# Each case: (reason, setup(ex) or None, call(ex)). Together they cover every RejectReason.
REFUSALS = [
    (R.UNKNOWN_MEMBER, None, lambda ex: ex.submit(99, TOD, 0, "470", 1000)),
    (R.UNKNOWN_MEMBER, None, lambda ex: ex.submit("1", TOD, 0, "470", 1000)),
    (R.UNKNOWN_MEMBER, None, lambda ex: ex.submit(True, TOD, 0, "470", 1000)),
    (R.UNKNOWN_MEMBER, None, lambda ex: ex.market(99, TOD, 0, lots=1)),
    (R.UNKNOWN_MEMBER, None, lambda ex: ex.cancel(99, 1)),
    (R.UNKNOWN_INSTRUMENT, None, lambda ex: ex.submit(1, "USDKZT_XXX", 0, "470", 1000)),
    (R.UNKNOWN_INSTRUMENT, None, lambda ex: ex.submit(1, 5, 0, "470", 1000)),
    (R.NO_TRADING_DAY, _end_day, lambda ex: ex.submit(1, TOD, 0, "470", 1000)),
    (R.SESSION_CLOSED, None, lambda ex: ex.submit(1, "USDKZT_TOM", 0, "470", 1000)),
    (R.SESSION_CLOSED, None, lambda ex: ex.market(1, "KZTK", 0, lots=1)),
    (R.INVALID_SIDE, None, lambda ex: ex.submit(1, TOD, 2, "470", 1000)),
    (R.INVALID_SIDE, None, lambda ex: ex.submit(1, TOD, "buy", "470", 1000)),
    (R.INVALID_TIF, None, lambda ex: ex.submit(1, TOD, 0, "470", 1000, tif=7)),
    (R.INVALID_PRICE, None, lambda ex: ex.submit(1, TOD, 0, "-470", 1000)),
    (R.INVALID_PRICE, None, lambda ex: ex.submit(1, TOD, 0, "abc", 1000)),
    (R.INVALID_PRICE, None, lambda ex: ex.submit(1, TOD, 0, 470.0, 1000)),
    (R.INVALID_PRICE, None, lambda ex: ex.submit(1, TOD, 0, price_ticks=0, lots=1)),
    (R.INVALID_PRICE, None, lambda ex: ex.submit(1, TOD, 0, "470", price_ticks=47000, lots=1)),
    (R.INVALID_PRICE, None, lambda ex: ex.submit(1, TOD, 0, qty=1000)),
    (R.OFF_TICK, None, lambda ex: ex.submit(1, TOD, 0, "470.001", 1000)),
    (R.OFF_TICK, None, lambda ex: ex.modify(1, 1, 2000, "470.005")),
    (R.INVALID_QTY, None, lambda ex: ex.submit(1, TOD, 0, "470", "0")),
    (R.INVALID_QTY, None, lambda ex: ex.submit(1, TOD, 0, price_ticks=47000, lots=-1)),
    (R.INVALID_QTY, None, lambda ex: ex.submit(1, TOD, 0, price_ticks=47000, lots=True)),
    (R.INVALID_QTY, None, lambda ex: ex.market(1, TOD, 0)),
    (R.INVALID_QTY, None, lambda ex: ex.modify(1, 1, lots=-1)),
    (R.OFF_LOT, None, lambda ex: ex.submit(1, TOD, 0, "470", "1500")),  # 1.5 lots of 1000 USD
    (R.OFF_LOT, None, lambda ex: ex.market(1, TOD, 0, Decimal("999.99"))),
    (R.VALUE_TOO_LARGE, None, lambda ex: ex.submit(1, TOD, 0, price_ticks=47000, lots=2**60)),
    (R.VALUE_TOO_LARGE, None, lambda ex: ex.submit(1, TOD, 1, price_ticks=1, lots=2**60)),
    (R.NO_REFERENCE_RATE, None, lambda ex: ex.submit(1, "EURKZT_SWAP_1D", 0, "0.10", 1000)),
    (R.INSUFFICIENT_FUNDS, None, lambda ex: ex.submit(3, TOD, 0, "470", 3000)),  # 1.41M KZT
    (R.INSUFFICIENT_FUNDS, None, lambda ex: ex.submit(3, TOD, 1, "470.50", 1000)),  # no USD
    (R.INSUFFICIENT_FUNDS, None, lambda ex: ex.market(3, TOD, 1, lots=1)),
    (R.CREDIT_LIMIT, None, lambda ex: ex.submit(4, TOD, 0, "470", 3000)),
    (R.CREDIT_LIMIT, _limited_order, lambda ex: ex.modify(4, 3, lots=3)),
    (R.LEVEL_OVERFLOW, _full_level, lambda ex: ex.submit(1, TOD, 0, price_ticks=1, lots=BIG)),
    (R.LEVEL_OVERFLOW, _full_level, lambda ex: ex.modify(1, 1, lots=BIG, price_ticks=1)),
    (R.FOK_NOT_FILLED, None, lambda ex: ex.submit(1, TOD, 0, "470.50", 5000, TIF.FOK)),
    (R.POST_ONLY_WOULD_CROSS, None, lambda ex: ex.submit(1, TOD, 0, "470.50", 1000,
                                                          TIF.POST_ONLY)),
    (R.NOT_TRADING_DAY, None, None),  # needs another date: test_not_trading_day_refusal
    (R.UNKNOWN_ORDER, None, lambda ex: ex.cancel(1, 999)),
    (R.UNKNOWN_ORDER, None, lambda ex: ex.cancel(1, "1")),
    (R.UNKNOWN_ORDER, None, lambda ex: ex.modify(1, 0, lots=1)),
    (R.NOT_OWNER, None, lambda ex: ex.cancel(2, 1)),
    (R.NOT_OWNER, None, lambda ex: ex.modify(2, 1, lots=1)),
]


#: Reasons only a batch row can have (tests/test_exchange_process.py covers them).
BATCH_ONLY = {R.INVALID_ACTION, R.INVALID_ORDER_ID}


def test_refusal_cases_cover_every_reason():
    assert {reason for reason, _, _ in REFUSALS} | BATCH_ONLY == set(RejectReason)
    assert set(FIX_ORD_REJ_REASON) == set(RejectReason)


@pytest.mark.parametrize("reason, setup, call", [c for c in REFUSALS if c[2] is not None],
                         ids=lambda c: c.name if isinstance(c, RejectReason) else "")
def test_refusal_changes_nothing_and_is_counted_and_reported(ex, reason, setup, call):
    if setup is not None:
        setup(ex)
    events: list = []
    ex.subscribe(events.append)
    next_id = ex.capture.count  # (no trades yet: the fixture's book does not cross)
    assert next_id == 0
    before, counts = snapshot(ex), ex.rejections()
    with pytest.raises((OrderRejected, NotOrderOwner)) as info:
        call(ex)
    error = info.value
    assert error.reason is reason and error.message and error.reason.value in str(error)
    assert ex.rejections().get(reason, 0) == counts.get(reason, 0) + 1
    assert sum(ex.rejections().values()) == sum(counts.values()) + 1
    assert snapshot(ex) == before
    refusals = [e for e in events if isinstance(e, CancelReject)
                or e.exec_type is ExecType.REJECTED]
    assert len(refusals) == 1 == len(events) and refusals[0].reason is reason
    if isinstance(refusals[0], ExecutionReport):
        assert refusals[0].ord_status is OrdStatus.REJECTED and refusals[0].text == error.message
        assert refusals[0].to_fix()[103] == FIX_ORD_REJ_REASON[reason]


def test_refusals_do_not_use_up_order_ids(ex):
    for _, setup, call in REFUSALS:
        if setup is None and call is not None:
            with pytest.raises((OrderRejected, NotOrderOwner)):
                call(ex)
    assert ex.submit(1, TOD, 0, "1.00", 1000).order_id == 3


def test_type_errors_are_also_type_errors(ex):
    with pytest.raises(TypeError, match="float"):
        ex.submit(1, TOD, 0, 470.5, 1000)
    with pytest.raises(TypeError):
        ex.submit(1, TOD, 0, price_ticks=47000.0, lots=1)
    with pytest.raises(OrderTypeRejected):
        ex.submit(1, TOD, "sell", "470", 1000)
    with pytest.raises(KeyError):
        ex.cancel(1, 12345)  # UnknownOrder is a KeyError too
    with pytest.raises(PermissionError):
        ex.cancel(2, 1)


def test_not_trading_day_refusal():
    ex = make(day=dt.date(2024, 7, 4))
    before = ex.book(TOD).orders(0).tolist()
    with pytest.raises(OrderRejected) as info:
        ex.submit(1, TOD, 0, "470", 1000)
    assert info.value.reason is R.NOT_TRADING_DAY and ex.book(TOD).orders(0).tolist() == before
    assert ex.rejections() == {R.NOT_TRADING_DAY: 1}


def test_error_messages_name_field_and_value(ex):
    cases = [(lambda: ex.submit(1, TOD, 0, "470.001", 1000), "470.001"),
             (lambda: ex.submit(1, TOD, 0, "470", "1500"), "1500"),
             (lambda: ex.submit(1, "NOPE", 0, "470", 1000), "NOPE"),
             (lambda: ex.submit(77, TOD, 0, "470", 1000), "77"),
             (lambda: ex.submit(1, TOD, 0, "470", 1000, tif=9), "tif=9")]
    for call, text in cases:
        with pytest.raises(OrderRejected, match=text.replace(".", "\\.")):
            call()


# --------------------------------------------------------------------------- ownership


def test_other_members_cannot_cancel_or_modify_and_the_order_is_untouched(ex):
    mine = ex.submit(1, TOD, 0, "469.00", 3000)
    ex.submit(2, TOD, 0, "469.00", 1000)  # queued behind it
    bids = ex.book(TOD).orders(0).tolist()
    with pytest.raises(NotOrderOwner, match=f"order {mine.order_id} does not belong to "
                                            f"member 2"):
        ex.cancel(2, mine.order_id)
    with pytest.raises(NotOrderOwner):
        ex.modify(2, mine.order_id, lots=1, price_ticks=46_950)
    assert ex.book(TOD).orders(0).tolist() == bids
    assert ex.cancel(1, mine.order_id).status is OrdStatus.CANCELED
    with pytest.raises(UnknownOrder, match="not resting"):
        ex.cancel(1, mine.order_id)
    assert ex.rejections() == {R.NOT_OWNER: 2, R.UNKNOWN_ORDER: 1}


# --------------------------------------------------------------------------- statuses


def test_order_results_follow_fix_ord_status(ex):
    partial = ex.submit(2, TOD, Side.SELL, "470.00", 1000)  # hits the 2-lot bid
    assert (partial.status, partial.executed_qty, partial.leaves_qty) == (OrdStatus.FILLED, 1, 0)
    assert partial.trades()["buy_order_id"].tolist() == [1]
    bid = ex.submit(1, TOD, Side.BUY, "470.50", 5000)  # takes the 2-lot ask, rests 3
    assert (bid.status, bid.executed_qty, bid.leaves_qty) == (OrdStatus.PARTIALLY_FILLED, 2, 3)
    ioc = ex.submit(2, TOD, Side.SELL, "470.50", 4000, TIF.IOC)
    assert (ioc.status, ioc.executed_qty, ioc.leaves_qty) == (OrdStatus.CANCELED, 3, 0)
    mkt = ex.market(2, TOD, Side.SELL, lots=5)  # one lot bid left (order 1)
    assert (mkt.status, mkt.executed_qty, mkt.leaves_qty) == (OrdStatus.CANCELED, 1, 0)
    empty = ex.market(2, TOD, Side.SELL, lots=5)
    assert (empty.status, empty.executed_qty, len(empty.trades())) == (OrdStatus.CANCELED, 0, 0)
    ex.submit(1, TOD, Side.BUY, "469.90", 2000)
    fok = ex.submit(2, TOD, Side.SELL, price_ticks=1, lots=2, tif=TIF.FOK)
    assert (fok.status, fok.executed_qty, fok.leaves_qty) == (OrdStatus.FILLED, 2, 0)
    assert [list(r.trade_ids) for r in (partial, bid, ioc, mkt)] == [[1], [2], [3], [4]]


def test_modify_keeps_or_loses_priority_and_may_trade(ex):
    first = ex.submit(1, TOD, 0, "469.00", 3000)
    second = ex.submit(2, TOD, 0, "469.00", 1000)
    smaller = ex.modify(1, first.order_id, lots=2)  # same price, smaller: keeps its place
    assert (smaller.status, smaller.leaves_qty) == (OrdStatus.NEW, 2)
    assert ex.book(TOD).orders(0)["order_id"].tolist()[1:] == [first.order_id,
                                                               second.order_id]
    larger = ex.modify(1, first.order_id, 4000)  # larger: to the back of the queue
    assert larger.leaves_qty == 4
    assert ex.book(TOD).orders(0)["order_id"].tolist()[1:] == [second.order_id,
                                                               first.order_id]
    crossing = ex.modify(1, first.order_id, lots=4, price=Decimal("470.50"))  # takes 2 lots
    assert (crossing.status, crossing.executed_qty, crossing.leaves_qty) == \
        (OrdStatus.PARTIALLY_FILLED, 2, 2)
    assert crossing.trades()["sell_order_id"].tolist() == [2]
    again = ex.modify(1, first.order_id, lots=1)
    assert (again.status, again.executed_qty, again.leaves_qty) == \
        (OrdStatus.PARTIALLY_FILLED, 2, 1)
    cancelled = ex.cancel(1, first.order_id)
    assert (cancelled.status, cancelled.executed_qty) == (OrdStatus.CANCELED, 2)


def test_stp_cancel_incoming_keeps_the_resting_order(ex):
    result = ex.submit(1, TOD, Side.SELL, "470.00", 1000)  # would meet its own bid
    assert (result.status, result.executed_qty, result.leaves_qty) == (OrdStatus.CANCELED, 0, 0)
    assert ex.book(TOD).orders(0)["order_id"].tolist() == [1]
    assert len(ex.trades()) == 0


def test_stp_cancel_resting_reports_and_releases(ex):
    rest = make(stp=STP.CANCEL_RESTING)
    rest.ledger.deposit(3, "USD", 1_000_000)  # 10,000 USD
    events: list = []
    rest.subscribe(events.append)
    own = rest.submit(3, TOD, Side.SELL, "470.00", 2000)
    assert rest.funds(3, "USD").reserved == 200_000
    other = rest.submit(2, TOD, Side.SELL, "470.10", 1000)
    buy = rest.submit(3, TOD, Side.BUY, "470.10", 1000)  # cancels its own ask, hits member 2
    assert (buy.status, buy.executed_qty) == (OrdStatus.FILLED, 1)
    assert buy.trades()["sell_order_id"].tolist() == [other.order_id]
    assert rest.funds(3, "USD").reserved == 0
    stp = [e for e in events if e.order_id == own.order_id and e.exec_type is ExecType.CANCELED]
    assert len(stp) == 1 and stp[0].text == "self-trade prevention"
    assert len(rest.book(TOD).orders(1)) == 0


def test_book_view_is_read_only_and_converts(ex):
    view = ex.book(TOD)
    assert view.best_bid() == (47_000, 2) and view.best_prices() == (Decimal("470.00"),
                                                                     Decimal("470.50"))
    bids, asks = view.depth(5)
    assert bids.tolist() == [[47_000, 2]] and asks.tolist() == [[47_050, 2]]
    assert 1 in view and len(view) == 2 and view.order(1) == (0, 47_000, 2, 1)
    assert not hasattr(view, "submit") and not hasattr(view, "cancel")
    with pytest.raises(KeyError, match="NOPE"):
        ex.book("NOPE")


# --------------------------------------------------------------------------- events


def test_events_map_onto_fix_execution_reports(ex):
    events: list = []
    unsubscribe = ex.subscribe(events.append)
    ex.set_time(37_800.25)
    taker = ex.submit(2, TOD, Side.SELL, "470.00", 3000, client_order_id="ask-7")
    assert taker.leaves_qty == 1
    kinds = [(e.exec_type.value, e.ord_status.value, e.order_id) for e in events]
    assert kinds == [("0", "0", taker.order_id),  # accepted
                     ("F", "1", taker.order_id),  # taker partially filled (2 of 3)
                     ("F", "2", 1)]  # maker (order 1, 2 lots) filled
    fill, maker = events[1], events[2]
    assert (fill.last_qty, fill.last_px_ticks, fill.leaves_qty, fill.cum_qty, fill.trade_id,
            fill.cl_ord_id, fill.transact_time) == (2, 47_000, 1, 2, 1, "ask-7", 37_800.25)
    assert (maker.member, maker.side, maker.leaves_qty, maker.cum_qty) == (1, 0, 0, 2)
    fix = fill.to_fix(ex.instruments[TOD])
    assert fix[35] == "8" and fix[150] == "F" and fix[39] == "1" and fix[37] == str(
        taker.order_id)
    assert fix[11] == "ask-7" and fix[54] == "2" and fix[55] == TOD and fix[1] == "2"
    assert fix[32] == "2000" and fix[31] == "470.00" and fix[151] == "1000" and fix[14] == "2000"
    assert fix[44] == "470.00" and fix[60] == 37_800.25 and fix[1003] == "1"
    assert 103 not in fix and 58 not in fix
    events.clear()
    ex.modify(2, taker.order_id, lots=2)
    ex.cancel(2, taker.order_id)
    ex.submit(1, TOD, Side.BUY, "470.50", 3000, TIF.IOC)
    with pytest.raises(OrderRejected):
        ex.submit(1, TOD, Side.BUY, "470.001", 1000)
    kinds = [(e.exec_type.value, e.ord_status.value) for e in events]
    assert kinds == [("5", "1"),  # replaced, still partially filled
                     ("4", "4"),  # cancelled
                     ("0", "0"), ("F", "1"), ("F", "2"), ("4", "4"),  # IOC: 2 filled, rest
                     ("8", "8")]  # rejected
    assert events[-1].to_fix()[103] == 18 and "470.001" in events[-1].to_fix()[58]
    other = ex.submit(2, TOD, Side.SELL, "471.00", 1000)
    events.clear()
    with pytest.raises(NotOrderOwner):
        ex.cancel(1, other.order_id)
    reject = events[-1]
    assert isinstance(reject, CancelReject)
    assert reject.to_fix()[35] == "9" and reject.to_fix()[434] == "1"
    unsubscribe()
    ex.submit(1, TOD, Side.BUY, "469", 1000)
    assert len(events) == 1


def test_events_are_immutable_and_not_built_without_subscribers(ex, monkeypatch):
    built = []
    original = ExecutionReport.__new__

    def counting(cls, *args, **kwargs):
        built.append(1)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(ExecutionReport, "__new__", counting)
    ex.submit(2, TOD, Side.SELL, "470.00", 1000)
    ex.submit(1, TOD, Side.BUY, "469.00", 1000)
    assert built == []
    seen = []
    ex.subscribe(seen.append)
    ex.submit(1, TOD, Side.BUY, "469.00", 1000)
    assert built and seen
    with pytest.raises(AttributeError):
        seen[0].order_id = 5


def test_trades_array_is_read_only_numpy(ex):
    ex.submit(2, TOD, Side.SELL, "470.00", 1000)
    trades = ex.trades()
    assert isinstance(trades, np.ndarray) and len(trades) == 1
    with pytest.raises(ValueError):
        trades["qty"][0] = 5
