"""Pre-trade checks under random order streams: a pre-funded member never commits more than it
has, reservations never go negative and are all released at each close, committed amounts are
exactly the debits of its trades, and a credit-limited member never exceeds its limit."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange import STP, TIF, Exchange, NotOrderOwner, OrderRejected, Regime, RejectReason
from exchange.codes import CODES
from exchange.reference.calendar import Calendar
from exchange.reference.fees import DEFAULT_MINIMUM, FeeRule, FeeSchedule
from exchange.reference.instruments import Kind

THU = dt.date(2024, 3, 7)
CALENDAR = Calendar()
PREFUNDED = (1, 2)
LIMITED = 3
LIMIT_KZT = 5_000_000  # whole KZT
ASSETS = ("KZT", "USD", "KZTK")
# (symbol, session, lowest price in ticks): prices are drawn from a 9-tick grid above it, so
# orders cross often. KZTK trades at 0.01..0.09 KZT, where a lot is worth less than the 100 KZT
# minimum fee (the fee-per-fill and seller-shortfall paths of the holds).
MARKETS = {
    "morning": (("USDKZT_TOD", 46_996), ("USDKZT_SWAP_1D", 1)),
    "day": (("KZTK", 1), ("USDKZT_TOD", 46_996)),
}

op = st.tuples(
    st.sampled_from(["limit", "limit", "limit", "market", "cancel", "modify"]),
    st.sampled_from([1, 1, 2, 2, 3, 4]),  # member: the pre-funded ones most often
    st.integers(0, 1),  # which market of the session
    st.integers(0, 1),  # side
    st.integers(0, 8),  # price: ticks above the market's lowest
    st.integers(1, 12),  # lots
    st.sampled_from([TIF.GTC, TIF.GTC, TIF.GTC, TIF.IOC, TIF.FOK, TIF.POST_ONLY]),
    st.integers(0, 10**6),  # picks an earlier order for cancel/modify
)


def fee_schedule(taker: str, maker: str) -> FeeSchedule:
    rule = FeeRule(taker_bp=Decimal(taker), maker_bp=Decimal(maker), minimum=DEFAULT_MINIMUM)
    return FeeSchedule({kind: rule for kind in Kind})


def make(stp: STP, deposits: dict, fees: FeeSchedule | None = None) -> Exchange:
    ex = Exchange(calendar=CALENDAR, stp=stp, reference_rates={"USDKZT": "470.00"}, fees=fees)
    for member in PREFUNDED:
        ex.add_member(member, f"prefunded {member}", Regime.PREFUNDED)
        for asset, amount in deposits[member].items():
            if amount:
                ex.ledger.deposit(member, asset, amount)
    ex.add_member(LIMITED, "limited", credit_limits={"KZT": LIMIT_KZT})
    ex.add_member(4, "deferred")
    ex.begin_day(THU)
    return ex


def ledger_state(ex: Exchange) -> list:
    return [(m, a, *ex.funds(m, a)) for m in PREFUNDED for a in ASSETS]


def check_invariants(ex: Exchange) -> None:
    for member, asset, balance, reserved, committed, available in ledger_state(ex):
        assert reserved >= 0 and committed >= 0, (member, asset, reserved, committed)
        assert available >= 0, (member, asset, balance, reserved, committed, available)
    assert ex.credit_exposure(LIMITED, "KZT") <= LIMIT_KZT * 100


def expected_commitments(ex: Exchange) -> dict:
    """Each pre-funded member's unsettled debits, from the trade records alone: both legs of
    a swap, and the fees."""
    owed = {(m, a): 0 for m in PREFUNDED for a in ASSETS}
    for row in ex.trades():
        buyer, seller = int(row["buyer"]), int(row["seller"])
        quote, base = CODES.asset.name(row["quote_asset"]), CODES.asset.name(row["base_asset"])
        value = int(row["quote_amount"])
        if buyer in PREFUNDED:
            owed[buyer, quote] += value + int(row["fee_buyer"])
            if int(row["far_quote_amount"]):  # a swap buyer delivers the base back on the far leg
                owed[buyer, base] += int(row["base_amount"])
        if seller in PREFUNDED:
            owed[seller, base] += int(row["base_amount"])
            owed[seller, quote] += max(0, int(row["fee_seller"]) - value)
            owed[seller, quote] += int(row["far_quote_amount"])  # and a swap seller pays
    return owed


def run_op(ex: Exchange, session: str, orders: list, step: tuple) -> None:
    kind, member, which, side, offset, lots, tif, pick = step
    symbol, low = MARKETS[session][which]
    px = low + offset
    before = ledger_state(ex)
    try:
        if kind == "limit":
            orders.append((member, ex.submit(member, symbol, side, tif=tif, price_ticks=px,
                                             lots=lots).order_id))
        elif kind == "market":
            ex.market(member, symbol, side, lots=lots)
        elif orders:
            owner, order_id = orders[pick % len(orders)]
            if kind == "cancel":
                ex.cancel(owner, order_id)
            else:
                ex.modify(owner, order_id, lots=lots, price_ticks=px if pick % 2 else None)
    except (OrderRejected, NotOrderOwner) as exc:
        assert ledger_state(ex) == before, exc.reason
        assert exc.reason not in (RejectReason.INVALID_PRICE, RejectReason.INVALID_QTY)
    check_invariants(ex)


def _amounts(*magnitudes: int) -> st.SearchStrategy[int]:
    """Amounts of a few sizes, ample first (so that orders trade), and sometimes any amount up
    to the largest (so that refusals happen at odd boundaries)."""
    sizes = st.sampled_from(sorted(magnitudes, reverse=True) + [0])
    return st.one_of(sizes, sizes, sizes, st.integers(0, max(magnitudes)))


# KZT: up to 10 billion tiyn (100M KZT, about 200 lots of USDKZT); USD up to 100,000 USD;
# KZTK up to 2,000 pieces.
deposits = st.fixed_dictionaries({
    member: st.fixed_dictionaries({"KZT": _amounts(10**8, 10**9, 10**10),
                                   "USD": _amounts(10**6, 10**7),
                                   "KZTK": _amounts(20, 200, 2000)})
    for member in PREFUNDED})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stp=st.sampled_from(list(STP)), funds=deposits,
       rates=st.tuples(st.sampled_from(["0.5", "0", "40"]), st.sampled_from(["0.5", "0", "40"])),
       morning=st.lists(op, min_size=15, max_size=60),
       day=st.lists(op, min_size=15, max_size=60))
def test_prefunded_members_never_owe_more_than_they_have(stp, funds, rates, morning, day):
    ex = make(stp, funds, fee_schedule(*rates))
    for session, steps in (("morning", morning), ("day", day)):
        ex.open_session(session)
        orders: list = []
        for step in steps:
            run_op(ex, session, orders, step)
        ex.close_session(session)
        check_invariants(ex)
        for member, asset, _, reserved, committed, _ in ledger_state(ex):
            assert reserved == 0, (member, asset)  # every hold released at the close
            assert committed == expected_commitments(ex)[member, asset], (member, asset)
        assert ex.credit_exposure(LIMITED, "KZT") <= LIMIT_KZT * 100


def test_hold_is_consumed_by_fills_and_released_by_cancel():
    ex = make(STP.CANCEL_INCOMING, {1: {"KZT": 10**10, "USD": 0, "KZTK": 0},
                                    2: {"KZT": 0, "USD": 0, "KZTK": 0}})
    ex.open_session("morning")
    # 5 lots at 470.00: 5 x 47,000 ticks x 1,000 tiyn = 235,000,000; the fee bound per lot is
    # max(100 KZT minimum, 470,000 KZT x 0.5 bp + 1/2 tiyn = 2,350.5 tiyn) = 10,000 tiyn.
    order = ex.submit(1, "USDKZT_TOD", 0, "470.00", 5000)
    assert ex.funds(1, "KZT").reserved == 235_000_000 + 5 * 10_000
    ex.submit(4, "USDKZT_TOD", 1, "470.00", 2000)  # fills 2 lots: value 94,000,000, fee 10,000
    assert ex.funds(1, "KZT").committed == 94_000_000 + 10_000
    assert ex.funds(1, "KZT").reserved == 141_000_000 + 3 * 10_000
    ex.cancel(1, order.order_id)
    assert ex.funds(1, "KZT").reserved == 0
    assert ex.funds(1, "KZT").committed == 94_010_000


def test_prefunded_market_order_reserves_the_walk_and_releases_the_rest():
    ex = make(STP.CANCEL_INCOMING, {1: {"KZT": 10**10, "USD": 0, "KZTK": 0},
                                    2: {"KZT": 0, "USD": 0, "KZTK": 0}})
    ex.open_session("morning")
    ex.submit(4, "USDKZT_TOD", 1, "470.00", 1000)
    ex.submit(4, "USDKZT_TOD", 1, "470.50", 1000)
    result = ex.market(1, "USDKZT_TOD", 0, lots=5)  # only 2 lots to take
    assert (result.executed_qty, result.leaves_qty) == (2, 0)
    assert ex.funds(1, "KZT").reserved == 0
    assert ex.funds(1, "KZT").committed == 47_000_000 + 47_050_000 + 2 * 10_000


def test_prefunded_modify_up_needs_funds_and_down_releases():
    ex = make(STP.CANCEL_INCOMING, {1: {"KZT": 150_000_000, "USD": 0, "KZTK": 0},
                                    2: {"KZT": 0, "USD": 0, "KZTK": 0}})
    ex.open_session("morning")
    order = ex.submit(1, "USDKZT_TOD", 0, "470.00", 3000)  # 141,030,000 reserved
    assert ex.funds(1, "KZT").reserved == 141_030_000
    with pytest.raises(OrderRejected) as info:
        ex.modify(1, order.order_id, lots=4)
    assert info.value.reason is RejectReason.INSUFFICIENT_FUNDS
    assert ex.funds(1, "KZT").reserved == 141_030_000
    assert ex.book("USDKZT_TOD").order(order.order_id)[2] == 3
    ex.modify(1, order.order_id, lots=1, price_ticks=46_000)
    assert ex.funds(1, "KZT").reserved == 46_000_000 + 10_000


@pytest.mark.parametrize("price, lots, extra", [(1, 3, 3 * 9_999), (200, 2, 2 * 9_800),
                                                (20_000, 1, 0)])
def test_seller_reserves_quote_when_a_lot_is_worth_less_than_the_minimum_fee(price, lots,
                                                                               extra):
    ex = make(STP.CANCEL_INCOMING, {1: {"KZT": 10**6, "USD": 0, "KZTK": 10},
                                    2: {"KZT": 0, "USD": 0, "KZTK": 0}})
    ex.open_session("day")
    ex.submit(1, "KZTK", 1, price_ticks=price, lots=lots)
    assert ex.funds(1, "KZTK").reserved == lots
    assert ex.funds(1, "KZT").reserved == extra
