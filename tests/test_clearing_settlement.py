"""Settlement: DVP, failures and rolls, conservation, idempotent runs, each trade once,
listeners, reports."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trade_rows import D1, D2, D3, make_trades

from exchange.clearing import (
    CLEARING_HOUSE,
    EXCHANGE_FEES,
    Ledger,
    RunConflict,
    TradeValidationError,
    net,
    settle,
)
from exchange.clearing.reports import asset_totals, member_statement, summary
from exchange.codes import CODES
from exchange.records import GROSS, NET

ASSETS = ("KZT", "USD", "HSBK")
SETTLED, FAILED = CODES.status.code("settled"), CODES.status.code("failed")


def next_day(day):
    return day + 1


def statuses(lines: np.ndarray) -> list[str]:
    return CODES.status.decode(lines["status"])


def shortfalls(result, member: int) -> list[tuple]:
    return [(r["asset"], r["needed"], r["available"]) for r in result.to_arrow("shortfalls").to_pylist()
            if r["member"] == member]


def new_ledger(balances: dict, path=None) -> Ledger:
    led = Ledger(path)
    for member in (1, 2, 3, 4):
        for asset in ASSETS:
            led.open_account(member, asset)
    for (member, asset), amount in balances.items():
        if amount:
            led.deposit(member, asset, amount)
    return led


def snapshot(led: Ledger) -> tuple:
    return led.accounts(), led.journal(), [r["run_id"] for r in led.runs()]


def totals(led: Ledger) -> dict:
    out: dict = defaultdict(int)
    for _, asset, balance in led.accounts():
        out[asset] += balance
    return dict(out)


FX = [
    dict(buyer=1, seller=2, base_amount=100, quote_amount=47_000, fee_buyer=5, fee_seller=5),
    dict(buyer=3, seller=1, base_amount=40, quote_amount=18_800, fee_buyer=2, fee_seller=2),
]


# --------------------------------------------------------------------------- worked examples


def test_everyone_settles_by_hand():
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100, (3, "KZT"): 20_000})
    result = settle(led, D1, make_trades(FX), next_business_day=next_day)
    assert result.status == "settled" and result.failed_members == [] and result.ccp_movements == {}
    assert led.balance(1, "KZT") == 50_000 - 47_005 + 18_798
    assert led.balance(1, "USD") == 100 - 40
    assert led.balance(2, "KZT") == 47_000 - 5 and led.balance(2, "USD") == 0
    assert led.balance(3, "KZT") == 20_000 - 18_802 and led.balance(3, "USD") == 40
    assert led.balance(EXCHANGE_FEES, "KZT") == 14 and led.balance(CLEARING_HOUSE, "KZT") == 0
    led.verify()


def test_failed_member_moves_nothing_and_ccp_carries_its_exposure():
    # member 3 has 10 KZT but owes 18,802: it fails; 1 and 2 settle in full against the CCP
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100, (3, "KZT"): 10})
    before = totals(led)
    result = settle(led, D1, make_trades(FX), next_business_day=next_day)
    assert result.failed_members == [3]
    assert (led.balance(3, "KZT"), led.balance(3, "USD")) == (10, 0)
    assert not [row for row in led.journal(result.run_id) if row[0] == 3]
    assert led.balance(1, "KZT") == 50_000 - 47_005 + 18_798 and led.balance(1, "USD") == 60
    # the CCP paid member 3's KZT (and the fee in it) and kept the USD it would have delivered
    assert result.ccp_movements == {"KZT": -18_802, "USD": 40}
    assert led.balance(CLEARING_HOUSE, "KZT") == -18_802 and led.balance(CLEARING_HOUSE, "USD") == 40
    assert totals(led) == before
    assert shortfalls(result, 3) == [("KZT", 18_802, 10)]
    failed = result.net[result.net["member"] == 3]
    assert set(statuses(failed)) == {"failed"} and set(failed["carried_to"]) == {D1 + 1}
    led.verify()


def test_rolled_obligations_settle_next_day_and_close_the_ccp_exposure():
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100, (3, "KZT"): 10})
    settle(led, D1, make_trades(FX), roll_to=D2)
    led.deposit(3, "KZT", 20_000)
    result = settle(led, D2, roll_to=D3)  # nothing new traded: only the rolled obligations
    assert result.status == "settled" and result.settled_members == [3]
    assert result.ccp_movements == {"KZT": 18_802, "USD": -40}
    assert led.balance(CLEARING_HOUSE, "KZT") == 0 and led.balance(CLEARING_HOUSE, "USD") == 0
    assert led.balance(3, "KZT") == 20_010 - 18_802 and led.balance(3, "USD") == 40
    assert settle(led, D3, roll_to=D3 + 1).status == "nothing_due"  # consumed, not carried twice
    led.verify()


def test_member_still_short_rolls_again():
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100})
    settle(led, D1, make_trades(FX), roll_to=D2)
    again = settle(led, D2, roll_to=D3)
    assert again.failed_members == [3]
    assert set(again.net[again.net["member"] == 3]["carried_to"]) == {D3}
    assert again.ccp_movements == {}  # nothing moved: the exposure stays as it was
    assert led.balance(CLEARING_HOUSE, "KZT") == -18_802


def test_cancel_policy_reports_and_keeps_nothing():
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100})
    result = settle(led, D1, make_trades(FX), on_fail="cancel")
    assert result.failed_members == [3] and result.policy == "cancel"
    assert np.isnat(result.net[result.net["member"] == 3]["carried_to"]).all()
    assert settle(led, D1 + 1, on_fail="cancel").status == "nothing_due"


def test_dvp_member_receiving_one_asset_cannot_use_it_to_pay():
    # member 2 sells 100 USD it does not have: it fails as a whole, also for the KZT it would get
    led = new_ledger({(1, "KZT"): 47_005})
    result = settle(led, D1, make_trades(FX[:1]), roll_to=D2)
    assert result.failed_members == [2]
    assert led.balance(2, "KZT") == 0 and led.balance(1, "USD") == 100 and led.balance(1, "KZT") == 0


def test_swap_far_leg_settles_on_its_own_date():
    swap = make_trades([dict(buyer=1, seller=2, base_amount=100, quote_amount=47_000, far_settle_date=D2,
                             far_quote_amount=47_100)])
    led = new_ledger({(1, "KZT"): 47_000, (2, "USD"): 100, (2, "KZT"): 100})
    settle(led, D1, swap, roll_to=D2)
    assert (led.balance(1, "USD"), led.balance(2, "KZT")) == (100, 47_100)
    settle(led, D2, swap, roll_to=D3)
    assert (led.balance(1, "USD"), led.balance(1, "KZT")) == (0, 47_100)
    assert (led.balance(2, "USD"), led.balance(2, "KZT")) == (100, 0)


# --------------------------------------------------------------------------- GROSS


SHARES = [
    dict(trade_id=10, buyer=1, seller=2, base_asset="HSBK", base_amount=5, quote_amount=1_000, fee_buyer=1,
         fee_seller=1, settlement=GROSS),
    dict(trade_id=11, buyer=3, seller=1, base_asset="HSBK", base_amount=5, quote_amount=1_100, settlement=GROSS),
    dict(trade_id=12, buyer=4, seller=2, base_asset="HSBK", base_amount=50, quote_amount=9_000, settlement=GROSS),
]


def test_gross_deals_settle_one_by_one_in_record_order():
    # deal 10 delivers to 1 the shares it resells in deal 11; deal 12 fails (2 lacks shares)
    led = new_ledger({(1, "KZT"): 1_001, (2, "HSBK"): 5, (3, "KZT"): 1_100, (4, "KZT"): 9_000})
    result = settle(led, D1, make_trades(SHARES), roll_to=D2)
    status = dict(zip(result.gross["trade_id"].tolist(), statuses(result.gross)))
    assert status == {10: "settled", 11: "settled", 12: "failed"}
    assert led.balance(3, "HSBK") == 5 and led.balance(1, "KZT") == 1_100 and led.balance(2, "KZT") == 999
    assert led.balance(4, "KZT") == 9_000 and led.balance(EXCHANGE_FEES, "KZT") == 2
    assert led.balance(CLEARING_HOUSE, "HSBK") == 0  # GROSS deals never touch the CCP
    assert shortfalls(result, 2) == [("HSBK", 50, 0)] and result.shortfalls["trade_id"].tolist() == [12]
    led.deposit(2, "HSBK", 50)
    assert statuses(settle(led, D2, roll_to=D3).gross) == ["settled"]
    assert led.balance(4, "HSBK") == 50


def test_gross_in_reverse_order_fails_the_reseller():
    trades = make_trades([SHARES[1], SHARES[0]])
    led = new_ledger({(1, "KZT"): 1_001, (2, "HSBK"): 5, (3, "KZT"): 1_100})
    result = settle(led, D1, trades, on_fail="cancel")
    assert statuses(result.gross) == ["failed", "settled"]


def test_gross_self_trade_needs_only_the_fees():
    trade = make_trades([dict(buyer=1, seller=1, base_asset="HSBK", base_amount=5, quote_amount=1_000,
                              fee_buyer=3, fee_seller=2, settlement=GROSS)])
    led = new_ledger({(1, "KZT"): 5})
    assert statuses(settle(led, D1, trade, on_fail="cancel").gross) == ["settled"]
    assert led.balance(1, "KZT") == 0 and led.balance(EXCHANGE_FEES, "KZT") == 5


# --------------------------------------------------------------------------- runs


def test_rerun_changes_nothing_and_returns_the_stored_result(tmp_path):
    led = new_ledger({(1, "KZT"): 60_000, (2, "USD"): 100, (2, "HSBK"): 5},
                     tmp_path / "l.sqlite")
    trades = make_trades(FX + SHARES)
    first = settle(led, D1, trades, roll_to=D2)
    before = snapshot(led)
    again = settle(led, D1, trades, roll_to=D2)
    assert again.status == "already_settled" and snapshot(led) == before
    for part in ("net", "gross", "shortfalls", "balances"):
        assert getattr(first, part).tobytes() == getattr(again, part).tobytes(), part
    led.close()
    with Ledger(tmp_path / "l.sqlite") as reopened:  # also after a restart
        assert settle(reopened, D1, trades, roll_to=D2).status == "already_settled"
        assert snapshot(reopened) == before


def test_same_run_id_with_other_obligations_conflicts():
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100, (3, "KZT"): 20_000})
    settle(led, D1, make_trades(FX), roll_to=D2)
    before = snapshot(led)
    with pytest.raises(RunConflict, match="'settle:2024-03-01' was already used .* other obligations"):
        settle(led, D1, make_trades(FX[:1]), roll_to=D2)
    assert snapshot(led) == before
    # under another run id the trade is still the one already settled: nothing moves
    again = settle(led, D1, make_trades(FX[:1]), roll_to=D2, run_id="late-trades")
    assert (again.status, again.skipped, again.settled_by) == ("already_settled", 1, ("settle:2024-03-01",))
    assert snapshot(led) == before and "were settled by settle:2024-03-01" in summary(again)
    late = settle(led, D1, make_trades([dict(FX[0], trade_id=3)]), roll_to=D2, run_id="late-trades")
    assert late.status == "settled" and late.skipped == 0


def test_nothing_due_is_an_explicit_empty_result_and_writes_nothing(tmp_path):
    path = tmp_path / "l.sqlite"
    led = new_ledger({(1, "KZT"): 5}, path)
    before, data = snapshot(led), path.read_bytes()
    result = settle(led, D2, make_trades(FX), roll_to=D3)  # the trades settle on D1, not D2
    assert result.status == "nothing_due" and len(result.net) == len(result.gross) == 0
    assert snapshot(led) == before and path.read_bytes() == data
    assert "nothing was due" in summary(result)
    # the run id stays free: the date can still be settled once trades arrive
    assert not led.has_run(result.run_id)


def test_precomputed_obligations_are_accepted_and_checked():
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100, (3, "KZT"): 20_000})
    obligations = net(make_trades(FX))
    assert settle(led, D1, obligations=obligations, roll_to=D2).status == "settled"
    broken = dataclasses.replace(obligations, net=obligations.net.copy())
    broken.net["amount"][0] += 1
    with pytest.raises(TradeValidationError, match="does not net to zero"):
        settle(led, D1, obligations=broken, roll_to=D2, run_id="x")
    keyless = type(obligations)(obligations.net, obligations.gross)
    with pytest.raises(TradeValidationError, match="name no trades"):
        settle(led, D1, obligations=keyless, roll_to=D2, run_id="y")


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        (dict(trades=make_trades([dict(buyer=9, seller=1, base_amount=1, quote_amount=1)]), roll_to=D2), TradeValidationError,
         "buyer: 9 is not a known member"),
        (dict(trades=make_trades([dict(buyer=1, seller=2, base_asset="GBP", base_amount=1, quote_amount=1)]), roll_to=D2),
         TradeValidationError, "base_asset: 'GBP' is not a known asset"),
        (dict(trades=make_trades([dict(buyer=1, seller=2, qty=-3, base_amount=1, quote_amount=1)]), roll_to=D2),
         TradeValidationError, "qty: -3 must be positive"),
        (dict(trades=make_trades(FX), on_fail="retry"), ValueError, "on_fail"),
        (dict(trades=make_trades(FX), on_fail="roll"), ValueError, "next_business_day"),
        (dict(trades=make_trades(FX), roll_to=D1), ValueError, "roll_to"),
        (dict(trades=make_trades(FX), roll_to=D2, obligations=net(make_trades(FX))), ValueError, "not both"),
        (dict(trades=make_trades(FX), roll_to="not a date"), ValueError, "roll_to"),
    ],
)
def test_bad_input_writes_nothing(tmp_path, kwargs, exc, message):
    path = tmp_path / "l.sqlite"
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100}, path)
    before, data = snapshot(led), path.read_bytes()
    with pytest.raises(exc, match=message):
        settle(led, D1, **kwargs)
    assert snapshot(led) == before and path.read_bytes() == data


def test_bad_date_is_rejected():
    with pytest.raises(ValueError, match="date"):
        settle(new_ledger({}), "yesterday", roll_to=D2)


@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
def test_commitments_cleared_on_settlement_and_rolled_on_failure():
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100, (3, "KZT"): 10})
    led.reserve(1, "KZT", 47_005)
    led.commit(1, "KZT", 47_005, D1)
    led.reserve(3, "KZT", 10)
    led.commit(3, "KZT", 10, D1)
    settle(led, D1, make_trades(FX), roll_to=D2)
    assert led.committed(1, "KZT") == 0  # settled: its commitment for the date is done with
    # failed: what it still owes is committed on the day it rolled to
    assert led.committed(3, "KZT", D1) == 0 and led.committed(3, "KZT", D2) == 18_802
    assert led.available(3, "KZT") == 10 - 18_802


# --------------------------------------------------------------------------- properties


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 25))
    rows = []
    for i in range(n):
        gross = draw(st.booleans())
        buyer, seller = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        quote = draw(st.integers(0, 2_000))
        rows.append(dict(trade_id=i + 1, buyer=buyer, seller=seller, base_asset="HSBK" if gross else "USD",
                         base_amount=draw(st.integers(0, 50)), quote_amount=quote,
                         fee_buyer=draw(st.integers(0, 5)), fee_seller=draw(st.integers(0, 5)),
                         settlement=GROSS if gross else NET, settle_date=D1 + draw(st.integers(0, 1))))
    broke = draw(st.sets(st.integers(1, 4), max_size=2))  # hold nothing: none of their deals can settle
    balances = {(m, a): 0 if m in broke else draw(st.integers(0, 3_000 if a == "KZT" else 60))
                for m in (1, 2, 3, 4) for a in ASSETS}
    return make_trades(rows), balances


def reference_gross(deals: np.ndarray, balances: dict) -> tuple[list[bool], list[tuple]]:
    """Plain sequential DVP: every deal in order, all or nothing; the outcomes and the
    shortfalls (trade_id, leg, member, asset, needed, available)."""
    bal = dict(balances)
    out, shortfalls = [], []
    for d in deals.tolist():
        trade_id, leg, _, rec, dlv, base, base_amt, quote, pay, proceeds, fee = d[:11]
        moves: dict = defaultdict(int)
        moves[(rec, base)] += base_amt
        moves[(rec, quote)] -= pay
        moves[(dlv, base)] -= base_amt
        moves[(dlv, quote)] += proceeds
        moves[(EXCHANGE_FEES, quote)] += fee
        short = [(trade_id, leg, *k, -v, bal.get(k, 0)) for k, v in moves.items()
                 if k[0] >= 0 and v < 0 and bal.get(k, 0) + v < 0]
        if not short:
            for k, v in moves.items():
                bal[k] = bal.get(k, 0) + v
        out.append(not short)
        shortfalls += short
    return out, shortfalls


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_settlement_properties(scenario):
    trades, balances = scenario
    led = new_ledger(balances)
    start = {(m, a): b for m, a, b in led.accounts()}
    before_totals = totals(led)
    result = settle(led, D1, trades, roll_to=D2)
    if result.status == "nothing_due":
        assert len(net(trades).for_date(D1)) == 0  # e.g. only zero-amount NET trades that day
        assert snapshot(led) == snapshot(new_ledger(balances))
        return
    # conservation, and no member below zero
    assert totals(led) == before_totals
    assert all(b >= 0 for m, _, b in led.accounts() if m >= 0)
    # GROSS outcome equals a plain sequential DVP loop
    start = {(m, CODES.asset.code(a)): b for (m, a), b in start.items()}
    oks, short = reference_gross(result.gross, start)
    assert statuses(result.gross) == ["settled" if ok else "failed" for ok in oks]
    assert result.shortfalls[result.shortfalls["trade_id"] >= 0].tolist() == short
    after_gross = dict(start)
    for d in result.gross[result.gross["status"] == SETTLED].tolist():
        _, _, _, rec, dlv, base, base_amt, quote, pay, proceeds, fee = d[:11]
        for key, v in (((rec, base), base_amt), ((rec, quote), -pay), ((dlv, base), -base_amt),
                       ((dlv, quote), proceeds), ((EXCHANGE_FEES, quote), fee)):
            after_gross[key] = after_gross.get(key, 0) + v
    # NET: a member fails iff some net debit exceeds its balance after GROSS; failed ones move nothing
    net_lines = result.net[result.net["kind"] == CODES.kind.code("net")]
    for member in set(net_lines["member"].tolist()) - {EXCHANGE_FEES}:
        mine = net_lines[net_lines["member"] == member]
        short = any(x < 0 and after_gross.get((member, a), 0) < -x for a, x in zip(mine["asset"], mine["amount"]))
        assert (member in result.failed_members) == short
        for asset, amount in zip(mine["asset"].tolist(), mine["amount"].tolist()):
            expected = after_gross.get((member, asset), 0) + (0 if short else amount)
            assert led.balance(member, CODES.asset.name(asset)) == expected
    # rerunning the date changes nothing
    state = snapshot(led)
    assert settle(led, D1, trades, roll_to=D2).status == "already_settled"
    assert snapshot(led) == state
    led.verify()


# --------------------------------------------------------------------------- reports


def test_reports():
    led = new_ledger({(1, "KZT"): 60_000, (2, "USD"): 100, (2, "HSBK"): 5})
    trades = make_trades(FX + SHARES)
    result = settle(led, D1, trades, roll_to=D2)
    st_ = member_statement(result, 3, trades)
    assert st_.trades.column("trade_id").to_pylist() == [2, 11]
    assert st_.failed.num_rows == 2 + 2  # NET KZT and USD lines, both legs of deal 11
    assert st_.settled.num_rows == 0
    assert sorted(st_.shortfalls.column("asset").to_pylist()) == ["KZT", "KZT"]
    frames = st_.to_pandas()
    assert set(frames) == {"trades", "obligations", "settled", "failed", "shortfalls", "balances"}
    assert "member 3" in st_.text()
    table = asset_totals(result, led)
    rows = {r["asset"]: r for r in table.to_pylist()}
    assert rows["KZT"]["bank"] == "National Bank of Kazakhstan" and rows["HSBK"]["bank"] == "Central Securities Depository"
    assert rows["HSBK"]["gross_settled"] == 1 and rows["HSBK"]["gross_failed"] == 2
    # what members paid in minus what they got out is what the CCP fronted plus the fees
    kzt = rows["KZT"]
    assert kzt["paid_in"] - kzt["paid_out"] == kzt["ccp_movement"] + kzt["fees"]
    text = summary(result, led)
    assert "member 3 failed" in text and "rolled to 2024-03-04" in text and "CCP exposure: KZT" in text
    assert result.to_pandas("gross").shape[0] == 3


def test_run_ids_are_data_not_sql():
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100, (3, "KZT"): 20_000})
    run_id = "o'brien'); DROP TABLE journal; --"
    result = settle(led, D1, make_trades(FX), roll_to=D2, run_id=run_id)
    assert result.run_id == run_id and led.has_run(run_id)
    assert {row[3] for row in led.journal(run_id)} == {run_id}
    assert settle(led, D1, make_trades(FX), roll_to=D2, run_id=run_id).status == "already_settled"
    led.verify()


@pytest.mark.parametrize("run_id", ["", "a\x00b", 5])
def test_bad_run_ids_rejected(run_id):
    led = new_ledger({(1, "KZT"): 50_000})
    before = snapshot(led)
    with pytest.raises(ValueError, match="run_id"):
        settle(led, D1, make_trades(FX), roll_to=D2, run_id=run_id)
    assert snapshot(led) == before


def test_arrow_trades_settle_like_numpy_trades():
    from exchange.clearing import trades_to_arrow

    trades = make_trades(FX + SHARES)
    funds = {(1, "KZT"): 60_000, (2, "USD"): 100, (2, "HSBK"): 5, (3, "KZT"): 30_000, (4, "KZT"): 9_000}
    a, b = new_ledger(funds), new_ledger(funds)
    settle(a, D1, trades, roll_to=D2)
    settle(b, D1, trades_to_arrow(trades), roll_to=D2)
    assert a.accounts() == b.accounts()


# --------------------------------------------------------------------------- a trade settles once (issue 10)


def test_a_second_run_id_moves_nothing_for_the_same_trades(tmp_path):
    """Issue 10: run "first" then run "second" over the same trades applied everything twice,
    and so did the default run id after a custom one."""
    led = new_ledger({(1, "KZT"): 60_000, (2, "USD"): 100, (2, "HSBK"): 5, (3, "KZT"): 30_000},
                     tmp_path / "l.sqlite")
    trades = make_trades(FX + SHARES)
    assert settle(led, D1, trades, roll_to=D2, run_id="first").status == "settled"
    before = snapshot(led)
    for run_id in ("second", None):
        again = settle(led, D1, trades, roll_to=D2, run_id=run_id)
        assert (again.status, again.skipped, again.settled_by) == ("already_settled", 5, ("first",))
        assert snapshot(led) == before and not led.has_run(again.run_id)
    led.close()
    with Ledger(tmp_path / "l.sqlite") as reopened:  # the ledger file remembers
        assert settle(reopened, D1, trades, roll_to=D2, run_id="third").status == "already_settled"
        reopened.verify(deep=True)


def test_new_trades_beside_settled_ones_settle_alone():
    led = new_ledger({(1, "KZT"): 100_000, (2, "USD"): 300, (3, "KZT"): 30_000})
    first, late = make_trades(FX[:1]), make_trades(FX[:1] + [dict(FX[0], trade_id=2)])
    settle(led, D1, first, roll_to=D2, run_id="a")
    result = settle(led, D1, late, roll_to=D2, run_id="b")
    assert result.status == "settled" and result.skipped == 1 and result.settled_by == ("a",)
    assert led.balance(1, "USD") == 200 and led.balance(2, "USD") == 100  # trade 1 moved once, trade 2 once
    # obligations that overlap settled trades in part cannot be split: a clear error
    with pytest.raises(RunConflict, match="1 of their 2 trade legs due on 2024-03-01 were settled"):
        settle(led, D1, obligations=net(make_trades(FX[:1] + [dict(FX[0], trade_id=3)])), roll_to=D2, run_id="c")


@pytest.mark.parametrize("change, differs", [
    (dict(roll_to=D3), "roll_to"),
    (dict(on_fail="cancel", roll_to=None), "on_fail, roll_to"),
    (dict(trades=make_trades(FX[:1])), "obligations"),
])
def test_a_run_id_reused_with_other_arguments_is_an_error(change, differs):
    """Issue 10: the same run id with another roll_to/on_fail silently answered already_settled."""
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100})  # member 3 fails: the policy matters
    args = dict(trades=make_trades(FX), roll_to=D2, run_id="r")
    settle(led, D1, **args)
    before = snapshot(led)
    with pytest.raises(RunConflict, match=f"'r' was already used .* with other {differs};"):
        settle(led, D1, **{**args, **change})
    assert snapshot(led) == before
    assert settle(led, D1, **args).status == "already_settled"


def test_pandas_and_parquet_trades_settle_like_numpy(tmp_path):
    import pyarrow.parquet as pq

    from exchange.clearing import trades_to_arrow

    trades = make_trades(FX + SHARES)
    pq.write_table(trades_to_arrow(trades), tmp_path / "trades.parquet")
    funds = {(1, "KZT"): 60_000, (2, "USD"): 100, (2, "HSBK"): 5, (3, "KZT"): 30_000, (4, "KZT"): 9_000}
    results = []
    for form in (trades, trades_to_arrow(trades).to_pandas(), pq.read_table(tmp_path / "trades.parquet")):
        led = new_ledger(funds)
        results.append((settle(led, D1, form, roll_to=D2).status, led.accounts()))
    assert results[0] == results[1] == results[2]


# --------------------------------------------------------------------------- the settlement listener


def test_listeners_hear_each_committed_run_once():
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100, (2, "HSBK"): 5, (4, "KZT"): 9_000})
    heard = []
    unsubscribe = led.add_listener(heard.append)
    trades = make_trades(FX + SHARES)
    settle(led, D1, trades, roll_to=D2)
    assert len(heard) == 1
    notice = heard[0]
    assert (notice.run_id, notice.date, notice.roll_to) == ("settle:2024-03-01", dt.date(2024, 3, 1),
                                                            dt.date(2024, 3, 4))
    # member 3 failed its NET obligations (it owes 18,802 KZT, is owed 40 USD) and its GROSS deal
    # 11 as receiver (pays 1,100 KZT, gets 5 HSBK from 1); deal 12 failed (2 lacks 50 HSBK)
    assert dict(notice.carried) == {
        (3, "KZT"): -18_802 - 1_100, (3, "USD"): 40, (3, "HSBK"): 5,
        (1, "HSBK"): -5, (1, "KZT"): 1_100,
        (4, "HSBK"): 50, (4, "KZT"): -9_000, (2, "HSBK"): -50, (2, "KZT"): 9_000,
    }
    assert dict(notice.debits) == {(3, "KZT"): 18_802 + 1_100, (1, "HSBK"): 5, (4, "KZT"): 9_000, (2, "HSBK"): 50}
    with pytest.raises(TypeError):
        notice.carried[(3, "KZT")] = 0  # immutable
    # already settled, nothing due: no notice
    settle(led, D1, trades, roll_to=D2)
    settle(led, D1 + 40, roll_to=D1 + 41)
    assert len(heard) == 1
    unsubscribe()
    settle(led, D2, roll_to=D3)
    assert len(heard) == 1


def test_a_cancelled_run_carries_nothing_and_a_failing_listener_is_reported():
    led = new_ledger({(1, "KZT"): 50_000, (2, "USD"): 100})
    heard = []
    led.add_listener(heard.append)

    def broken(notice):
        raise RuntimeError("venue down")

    led.add_listener(broken)
    with pytest.raises(ValueError, match="committed, but a listener failed: RuntimeError"):
        settle(led, D1, make_trades(FX), on_fail="cancel")
    assert led.has_run("settle:2024-03-01") and len(heard) == 1  # the run stands; others were told
    assert heard[0].roll_to is None and not heard[0].carried and not heard[0].debits


# --------------------------------------------------------------------------- random runs (issue 10)


@st.composite
def days_and_runs(draw):
    """Trades over three trade days (TOD, TOM, swaps, shares) and a sequence of runs, each
    over a random subset of them, under run ids drawn from a small pool (so they repeat)."""
    n = draw(st.integers(1, 20))
    rows = []
    for i in range(n):
        trade_day = D1 + draw(st.integers(0, 2))
        kind = draw(st.sampled_from(["tod", "tom", "swap", "share"]))
        buyer = draw(st.integers(1, 4))
        seller = draw(st.integers(1, 4).filter(lambda s: s != buyer))
        row = dict(trade_id=i + 1, trade_date=trade_day, buyer=buyer, seller=seller,
                   base_amount=draw(st.integers(1, 50)), quote_amount=draw(st.integers(1, 5_000)),
                   fee_buyer=draw(st.integers(0, 3)), fee_seller=draw(st.integers(0, 3)),
                   settle_date=trade_day + (kind == "tom"))
        if kind == "swap":
            row.update(far_settle_date=trade_day + 1, far_quote_amount=draw(st.integers(1, 5_000)))
        if kind == "share":
            row.update(base_asset="HSBK", settlement=GROSS)
        rows.append(row)
    trades = make_trades(rows)
    runs = draw(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["a", "b", "c", None]),
                                   st.lists(st.booleans(), min_size=n, max_size=n)), min_size=1, max_size=8))
    return trades, runs


def model_balances(trades: np.ndarray, settled_legs: set) -> dict:
    """Balances from the deposits plus each settled (trade, due date) leg once."""
    out: dict = defaultdict(int)
    for t in trades.tolist():
        r = dict(zip(trades.dtype.names, t))
        base, quote = CODES.asset.name(r["base_asset"]), CODES.asset.name(r["quote_asset"])
        b, s = r["buyer"], r["seller"]
        near, far = np.datetime64(r["settle_date"], "D"), r["far_settle_date"]
        if (r["trade_id"], near) in settled_legs:
            for key, x in (((b, base), r["base_amount"]), ((s, base), -r["base_amount"]),
                           ((b, quote), -r["quote_amount"] - r["fee_buyer"]),
                           ((s, quote), r["quote_amount"] - r["fee_seller"]),
                           ((EXCHANGE_FEES, quote), r["fee_buyer"] + r["fee_seller"])):
                out[key] += x
        if far is not None and (r["trade_id"], np.datetime64(far, "D")) in settled_legs:
            for key, x in (((b, base), -r["base_amount"]), ((s, base), r["base_amount"]),
                           ((b, quote), r["far_quote_amount"]), ((s, quote), -r["far_quote_amount"])):
                out[key] += x
    return out


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(days_and_runs())
def test_random_runs_settle_each_trade_once(case):
    trades, runs = case
    rich = 10**9
    led = new_ledger({(m, a): rich for m in (1, 2, 3, 4) for a in ASSETS})
    start = {(m, a): b for m, a, b in led.accounts()}
    totals_before = totals(led)
    used: dict = {}  # run id -> (date, legs due) it settled
    settled_legs: set = set()
    for offset, run_id, chosen in runs:
        day = D1 + offset
        subset = trades[np.asarray(chosen, bool)]
        rid = f"settle:{day}" if run_id is None else run_id
        due = [(int(t["trade_id"]), day) for t in subset
               if t["settle_date"] == day or t["far_settle_date"] == day]
        if rid in used and used[rid] != (day, frozenset(due)):
            with pytest.raises(RunConflict):
                settle(led, day, subset, roll_to=day + 1, run_id=run_id)
            continue
        result = settle(led, day, subset, roll_to=day + 1, run_id=run_id)
        new = [leg for leg in due if leg not in settled_legs]
        if rid in used:
            assert result.status == "already_settled"
            continue
        assert result.status == ("settled" if new else "already_settled" if due else "nothing_due")
        assert result.skipped == len(due) - len(new)
        assert not result.failed_members and (result.gross["status"] == SETTLED).all()  # everyone is rich
        if result.status == "settled":
            used[rid] = (day, frozenset(due))
            settled_legs.update(new)
        expected = {k: start[k] + model_balances(trades, settled_legs).get(k, 0) for k in start}
        assert {(m, a): b for m, a, b in led.accounts()} == expected
    assert totals(led) == totals_before
    led.verify(deep=True)


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(days_and_runs(), st.sets(st.integers(1, 4), max_size=3))
def test_random_runs_with_failures_process_each_leg_once(case, poor):
    """The same random runs with some members short of money: failures roll or are cancelled,
    yet every asset is conserved, the ledger verifies, and each trade leg is settled (or
    carried) by exactly one run."""
    trades, runs = case
    led = new_ledger({(m, a): 30 if m in poor else 10**9 for m in (1, 2, 3, 4) for a in ASSETS})
    totals_before = totals(led)
    processed: dict = {}  # (trade_id, due date) -> the run that settled or carried it
    for offset, run_id, chosen in runs:
        day = D1 + offset
        subset = trades[np.asarray(chosen, bool)]
        try:
            result = settle(led, day, subset, roll_to=day + 1, on_fail="roll" if offset % 2 else "cancel",
                            run_id=run_id)
        except RunConflict:
            continue
        if result.status != "settled":
            continue
        due_legs = {(int(t["trade_id"]), day) for t in subset if day in (t["settle_date"], t["far_settle_date"])}
        fresh = due_legs - set(processed)
        assert result.skipped == len(due_legs) - len(fresh)
        processed.update(dict.fromkeys(fresh, result.run_id))
        assert all(b >= 0 for m, _, b in led.accounts() if m >= 0)
    assert totals(led) == totals_before
    keys = {(int(i), np.datetime64(int(due), "D")) for day in {d for _, d in processed}
            for (due, _), ids in led.settled_keys(day)[0].items() for i in ids}
    assert keys == set(processed)
    led.verify(deep=True)
