"""Regression tests of the bugs issue 8 reported in the venue; each failed before the pipeline."""
from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pytest

from exchange import Exchange, OrderRejected, OrdStatus, Regime, RejectReason
from exchange.reference.calendar import Calendar

THU = dt.date(2024, 3, 7)
CALENDAR = Calendar()
TOD, SWAP = "USDKZT_TOD", "USDKZT_SWAP_1D"
BIG = (2**63 - 1) // 1000  # lots of USDKZT_TOD whose value at 1 tick still fits in int64


def make(**kw) -> Exchange:
    ex = Exchange(calendar=CALENDAR, reference_rates={"USDKZT": "470.00"}, **kw)
    ex.add_member(1, "Deferred Bank")
    ex.add_member(2, "Prefunded Broker", Regime.PREFUNDED)
    ex.add_member(3, "Limited", credit_limits={"KZT": "1000000000000000"})
    ex.begin_day(THU)
    ex.open_session("morning")
    return ex


def test_swap_seller_must_cover_the_far_leg():
    """A pre-funded member selling a swap pays reference + points on the far leg; its hold
    covered only the near leg's base, so it could owe KZT it never had."""
    ex = make()
    ex.deposit(2, "USD", 200_000)  # 2,000.00 USD: the near leg's delivery of 2 lots, no KZT
    with pytest.raises(OrderRejected) as info:
        ex.submit(2, SWAP, 1, "0.15", 2000)
    assert info.value.reason is RejectReason.INSUFFICIENT_FUNDS and "KZT" in str(info.value)
    # points 0.15 KZT x 2,000 USD = 300.00 KZT, plus the fee (the 100 KZT minimum)
    ex.deposit(2, "KZT", 40_000)
    with pytest.raises(OrderRejected):
        ex.submit(2, SWAP, 1, "0.15", 2000)
    ex.deposit(2, "KZT", 10_000)  # 500.00 KZT in all: enough
    order = ex.submit(2, SWAP, 1, "0.15", 2000)
    assert ex.funds(2, "KZT").reserved == 50_000 and ex.funds(2, "USD").reserved == 200_000
    ex.submit(1, SWAP, 0, "0.15", 2000)  # fills it
    funds = ex.funds(2, "KZT")
    far = 2 * 1000 * 47_015  # far leg: 2 lots at 470.15 KZT, in tiyn
    assert (funds.reserved, funds.committed) == (0, far)
    assert funds.available >= 0 and order.order_id


def test_swap_seller_worst_points_include_the_bid_it_takes():
    """A swap sell fills at the bids' points (>= its limit) when it crosses: its hold must cover
    the best bid's points, not its own limit's."""
    ex = make()
    ex.submit(1, SWAP, 0, "5.00", 1000)  # a bid of 5 points: a sell at 0.01 takes it
    ex.deposit(2, "USD", 100_000)
    ex.deposit(2, "KZT", 20_000)  # covers 0.01 points x 1,000 USD + fee, not 5 points
    with pytest.raises(OrderRejected) as info:
        ex.submit(2, SWAP, 1, "0.01", 1000)
    assert info.value.reason is RejectReason.INSUFFICIENT_FUNDS


def test_swap_buyer_receipts_fund_its_far_delivery():
    """The far leg's delivery of the base is funded by the near leg's receipt of it: a swap
    buyer needs the near quote amount and the fees, nothing in the base currency."""
    ex = make()
    ex.deposit(2, "KZT", 94_000_000 + 2 * 10_000)  # two one-lot fills could each pay a fee
    ex.submit(2, SWAP, 0, "0.15", 2000)
    ex.submit(1, SWAP, 1, "0.15", 2000)
    usd = ex.funds(2, "USD")
    assert (usd.balance, usd.committed, usd.available) == (0, 200_000, 0)
    assert ex.funds(2, "KZT").available == 10_000  # one fill, one fee


def test_securities_are_prefunded_by_deferred_members_too():
    """A deferred member's share purchase filled with no money behind it and only failed at
    the T+0 settlement at the depository."""
    ex = make()
    ex.close_session("morning")
    ex.open_session("day")
    ex.deposit(3, "KZTK", 10)
    ex.submit(3, "KZTK", 1, "1000", 10)
    with pytest.raises(OrderRejected) as info:
        ex.submit(1, "KZTK", 0, "1000", 10)
    assert info.value.reason is RejectReason.INSUFFICIENT_FUNDS
    assert len(ex.trades()) == 0
    ex.deposit(1, "KZT", 10 * 100_000 + 10 * 10_000)  # 10 one-piece fills could pay 10 fees
    result = ex.submit(1, "KZTK", 0, "1000", 10)
    assert result.status is OrdStatus.FILLED and ex.funds(1, "KZT").available == 90_000


def test_level_overflow_is_an_exchange_refusal_that_holds_nothing():
    """The book's LEVEL_OVERFLOW reached the caller as a bare ValueError, uncounted, without an
    event, and left the member's hold or credit exposure reserved for good."""
    ex = make()
    for _ in range(1000):
        ex.submit(1, TOD, 0, price_ticks=1, lots=BIG)
    events: list = []
    ex.subscribe(events.append)
    ex.deposit(2, "KZT", 2**40)
    with pytest.raises(OrderRejected) as info:  # the level has room for 807 lots more
        ex.submit(2, TOD, 0, price_ticks=1, lots=1000)
    assert info.value.reason is RejectReason.LEVEL_OVERFLOW
    assert ex.funds(2, "KZT").reserved == 0
    with pytest.raises(OrderRejected):
        ex.submit(3, TOD, 0, price_ticks=1, lots=1000)
    assert ex.credit_exposure(3, "KZT") == 0
    assert ex.rejections() == {RejectReason.LEVEL_OVERFLOW: 2}
    assert [e.reason for e in events] == [RejectReason.LEVEL_OVERFLOW] * 2
    mine = ex.submit(2, TOD, 0, price_ticks=2, lots=1)  # a modify into the full level
    held = ex.funds(2, "KZT").reserved
    with pytest.raises(OrderRejected) as info:
        ex.modify(2, mine.order_id, lots=1000, price_ticks=1)
    assert info.value.reason is RejectReason.LEVEL_OVERFLOW
    assert ex.funds(2, "KZT").reserved == held
    assert ex.book(TOD).order(mine.order_id) == (0, 2, 1, 2)
    ex.close_session("morning")
    assert ex.funds(2, "KZT").reserved == 0 and ex.credit_exposure(3, "KZT") == 0


def test_a_raising_subscriber_changes_nothing_for_the_caller(caplog):
    """A subscriber's exception made submit raise after the order had traded and rested (the
    caller never learnt its id), and masked refusals."""
    ex = make()
    seen: list = []

    def broken(event):
        raise RuntimeError("subscriber bug")

    ex.subscribe(broken)
    ex.subscribe(seen.append)
    ex.submit(1, TOD, 1, "470", 1000)
    with caplog.at_level(logging.ERROR, logger="exchange"):
        result = ex.submit(3, TOD, 0, "470", 3000)
    assert (result.status, result.executed_qty, result.leaves_qty) == (OrdStatus.PARTIALLY_FILLED,
                                                                      1, 2)
    assert result.order_id in ex.book(TOD)
    assert len(seen) == 4  # two NEW reports, the taker's fill and the maker's fill
    assert "subscriber bug" in caplog.text and caplog.records[0].name == "exchange"
    with pytest.raises(OrderRejected) as info:
        ex.submit(1, TOD, 0, "470.001", 1000)
    assert info.value.reason is RejectReason.OFF_TICK


@pytest.mark.parametrize("member", [np.int64(1), np.int32(1), np.uint8(1)])
def test_numpy_member_ids_work_everywhere(member):
    """submit accepted a numpy integer member id, but cancel and modify called it unknown."""
    ex = make()
    order = ex.submit(member, TOD, 0, "470", 2000)
    assert ex.modify(member, order.order_id, lots=1).leaves_qty == 1
    assert ex.cancel(member, np.int64(order.order_id)).status is OrdStatus.CANCELED
    with pytest.raises(OrderRejected) as info:
        ex.submit(True, TOD, 0, "470", 1000)
    assert info.value.reason is RejectReason.UNKNOWN_MEMBER


def test_near_leg_proceeds_cannot_be_withdrawn_before_the_far_leg():
    """A swap buyer received the base currency on the near leg and could withdraw it before
    the far leg, which then failed at settlement with the clearing house fronting it."""
    from exchange.clearing import settle

    ex = make()
    ex.deposit(2, "KZT", 94_000_000 + 2 * 10_000)
    ex.deposit(1, "USD", 200_000)
    ex.deposit(1, "KZT", 40_000)  # the seller pays points and fee on the far leg
    ex.submit(2, SWAP, 0, "0.15", 2000)  # buys USD near (today), sells it back far (T+1)
    ex.submit(1, SWAP, 1, "0.15", 2000)
    ex.end_of_day()
    monday = dt.date(2024, 3, 11)  # Fri 8 March is a KZ holiday
    run = settle(ex.ledger, THU, ex.trades(), roll_to=monday)
    assert run.failed_members == [] and ex.ledger.balance(2, "USD") == 200_000
    usd = ex.funds(2, "USD")
    assert (usd.committed, usd.available) == (200_000, 0)  # the far leg's delivery
    with pytest.raises(OrderRejected) as info:
        ex.withdraw(2, "USD", 1)
    assert info.value.reason is RejectReason.INSUFFICIENT_FUNDS
    assert ex.ledger.balance(2, "USD") == 200_000
    far = settle(ex.ledger, monday, ex.trades(), roll_to=dt.date(2024, 3, 12))
    assert far.failed_members == [] and ex.ledger.balance(2, "USD") == 0
    assert ex.funds(2, "KZT").available == 10_000 + 94_030_000  # near fee paid, far proceeds
