"""Pre-funded members over whole days, settlement included: random limit, market, IOC, FOK,
modify, cancel and withdraw operations by pre-funded and deferred members over spot (TOD, TOM,
SPT), swaps and a security, sessions closing, and every date settled on its own day. A
pre-funded member's ``available`` never goes below zero, and it never fails a settlement."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange import TIF, Exchange, NotOrderOwner, OrderRejected, Regime
from exchange.clearing import settle
from exchange.codes import CODES
from exchange.reference.calendar import Calendar
from exchange.reference.fees import DEFAULT_MINIMUM, FeeRule, FeeSchedule
from exchange.reference.instruments import Kind

CALENDAR = Calendar()
FIRST = dt.date(2024, 3, 5)  # Tue; Fri 8 March is a KZ holiday, so T+1/T+2 cross it
PREFUNDED = (1, 2)
DEFERRED = (3, 4)
ASSETS = ("KZT", "USD", "KZTK")
# (symbol, lowest price in ticks) per session; prices come from a 9-tick grid above it
MARKETS = {
    "morning": (("USDKZT_TOD", 46_996), ("USDKZT_SWAP_1D", 1)),
    "day": (("KZTK", 1), ("USDKZT_TOD", 46_996)),
    "evening": (("USDKZT_TOM", 46_996), ("USDKZT_SPT", 46_996)),
}

op = st.tuples(
    st.sampled_from(["limit"] * 4 + ["market", "cancel", "modify", "withdraw"]),
    st.sampled_from([1, 1, 2, 2, 3, 4]),
    st.integers(0, 1),  # which market of the session
    st.integers(0, 1),  # side
    st.integers(0, 8),  # price offset
    st.integers(1, 12),  # lots
    st.sampled_from([TIF.GTC, TIF.GTC, TIF.IOC, TIF.FOK, TIF.POST_ONLY]),
    st.integers(0, 10**6),  # picks an earlier order, or an asset and amount to withdraw
)
sizes = st.sampled_from([10**10, 10**10, 10**8, 10**5, 0])  # ample first: orders trade
deposits = st.fixed_dictionaries({
    member: st.fixed_dictionaries({"KZT": sizes, "USD": st.sampled_from([10**7, 10**5, 0]),
                                   "KZTK": st.sampled_from([2000, 20, 0])})
    for member in PREFUNDED})
day_ops = st.fixed_dictionaries({name: st.lists(op, min_size=10, max_size=40)
                                 for name in MARKETS})


def make(funds: dict, fees: FeeSchedule) -> Exchange:
    ex = Exchange(calendar=CALENDAR, reference_rates={"USDKZT": "470.00"}, fees=fees)
    for member in PREFUNDED:
        ex.add_member(member, f"prefunded {member}", Regime.PREFUNDED)
        for asset, amount in funds[member].items():
            if amount:
                ex.deposit(member, asset, amount)
    for member in DEFERRED:
        ex.add_member(member, f"deferred {member}")
        ex.deposit(member, "KZT", 10**10)
        ex.deposit(member, "KZTK", 2000)  # securities are pre-funded by everyone
    return ex


def check(ex: Exchange) -> None:
    for member in PREFUNDED:
        for asset in ASSETS:
            funds = ex.funds(member, asset)
            assert funds.available >= 0 and funds.reserved >= 0, (member, asset, funds)


def run(ex: Exchange, session: str, orders: list, step: tuple) -> None:
    kind, member, which, side, offset, lots, tif, pick = step
    symbol, low = MARKETS[session][which]
    try:
        if kind == "limit":
            result = ex.submit(member, symbol, side, tif=tif, price_ticks=low + offset, lots=lots)
            orders.append((member, result.order_id))
        elif kind == "market":
            ex.market(member, symbol, side, lots=lots)
        elif kind == "withdraw":
            asset = ASSETS[pick % 3]
            available = ex.funds(member, asset).available
            # a slice of what is available, or exactly one unit more than all of it (refused)
            amount = max(1, available + 1 if pick % 7 == 0 else available // (2 + pick % 8))
            ex.withdraw(member, asset, amount)
        elif orders:
            owner, order_id = orders[pick % len(orders)]
            if kind == "cancel":
                ex.cancel(owner, order_id)
            else:
                ex.modify(owner, order_id, lots=lots, price_ticks=low + offset if pick % 2 else None)
    except (OrderRejected, NotOrderOwner):
        pass
    check(ex)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(funds=deposits, days=st.lists(day_ops, min_size=1, max_size=3),
       rates=st.sampled_from([("0.5", "0.5"), ("40", "0"), ("0", "40")]))
def test_prefunded_members_never_fail_settlement(funds, days, rates):
    rule = FeeRule(taker_bp=Decimal(rates[0]), maker_bp=Decimal(rates[1]),
                   minimum=DEFAULT_MINIMUM)
    ex = make(funds, FeeSchedule({kind: rule for kind in Kind}))
    currencies = [a for a in ex.instruments.assets.values() if a.is_currency]
    date = FIRST
    for sessions in days:
        ex.begin_day(date)
        for name in MARKETS:  # in session order
            steps = sessions[name]
            ex.open_session(name)
            orders: list = []
            for step in steps:
                run(ex, name, orders, step)
            ex.close_session(name)
            for member in PREFUNDED:
                assert all(ex.funds(member, a).reserved == 0 for a in ASSETS)
        ex.end_of_day()
        after = CALENDAR.next_business_day(date, currencies)
        result = settle(ex.ledger, date, ex.trades(), roll_to=after)
        assert not set(result.failed_members) & set(PREFUNDED)
        failed = result.gross[result.gross["status"] == CODES.status.code("failed")]
        assert not {int(m) for m in failed["receiver"]} & set(PREFUNDED)
        assert not {int(m) for m in failed["deliverer"]} & set(PREFUNDED)
        check(ex)
        date = after
    for member in PREFUNDED:  # every balance is what the member had, moved by its trades
        for asset in ASSETS:
            assert ex.ledger.balance(member, asset) >= 0
