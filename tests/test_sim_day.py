"""End to end: a small seeded simulated day, its netting, settlement, report and files.

One day is simulated once per module (2,000 order messages per session, 12 members) and
checked against numbers recomputed here from the trade records, independently of the
clearing code.
"""
from __future__ import annotations

import base64
import datetime as dt
from collections import defaultdict

import numpy as np
import pyarrow.parquet as pq
import pytest

from exchange.app.report import write_outputs
from exchange.app.summary import settlement as settlement_table
from exchange.codes import CODES
from exchange.records import NET
from exchange.sim import default_scenario, run_day
from exchange.venue.codes import RejectReason
from exchange.venue.members import Regime
from sim_checks import assert_ledger_conserves, net_legs

DATE = dt.date(2026, 11, 27)
T1, T2 = dt.date(2026, 11, 30), dt.date(2026, 12, 1)
ORDERS, MEMBERS, SEED = 2_000, 12, 11


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    scenario = default_scenario(seed=SEED, members=MEMBERS, orders=ORDERS)
    result = run_day(scenario, date=DATE, orders=ORDERS, ledger_path=out / "ledger.sqlite")
    files = write_outputs(result, out)
    yield result, files
    result.ledger.close()


def _role(result, role):
    return [m.id for m in result.scenario.members if m.role == role]


def test_the_day_traded_in_every_session(day):
    result, _ = day
    assert [s.name for s in result.sessions] == ["morning", "day", "evening"]
    for run in result.sessions:
        assert run.orders >= ORDERS and run.trades > 0 and not run.idle
    assert len(result.trades) == sum(s.trades for s in result.sessions)
    assert set(np.unique(result.trades["session"]).tolist()) == {0, 1, 2}
    times = result.trades["time"]
    assert (np.diff(times) >= 0).all() and times[0] >= 10 * 3600 and times[-1] <= 17.5 * 3600
    assert set(result.day_end.official_rates) >= {"USDKZT"}
    assert result.day_end.effective_date == T1


def test_new_members_run_out_of_money(day):
    result, _ = day
    refused = sum(s.refusals.get(RejectReason.INSUFFICIENT_FUNDS, 0) for s in result.sessions)
    assert refused > 0
    prefunded = {m.id for m in result.scenario.members if m.regime is Regime.PREFUNDED}
    assert prefunded and len(prefunded) < MEMBERS
    for s in result.settlements:  # pre-funded members never fail: their debits were held
        assert not prefunded & set(s.result.failed_members)


def test_every_trade_is_in_the_netting(day):
    result, _ = day
    net = result.obligations.net
    got = {(int(m), a, d): int(x) for m, a, d, x in
           zip(net["member"], CODES.asset.decode(net["asset"]), net["date"], net["amount"])}
    assert got == net_legs(result.trades)
    gross = result.obligations.gross
    securities = result.trades[CODES.settlement_of(result.trades["instrument"]) != NET]
    assert len(securities) > 0
    assert sorted(gross["trade_id"].tolist()) == sorted(securities["trade_id"].tolist())


def test_obligations_net_to_zero_per_asset_and_date(day):
    result, _ = day
    net = result.obligations.net
    sums: dict = defaultdict(int)
    for a, d, x in zip(net["asset"].tolist(), net["date"].tolist(), net["amount"].tolist()):
        sums[(a, d)] += x
    assert sums and all(v == 0 for v in sums.values())
    dates = sorted({d for _, d in sums})
    assert dates == [DATE, T1, T2]


def test_the_ledger_conserves_every_asset(day):
    assert_ledger_conserves(day[0])


def test_failing_members_roll_as_reported(day):
    result, _ = day
    (tod,) = _role(result, "overtrader TOD")
    (tom,) = _role(result, "overtrader TOM")
    by_date = {s.date: s for s in result.settlements}
    assert sorted(by_date) == [DATE, T1, T2]
    first = by_date[DATE].result
    assert tod in first.failed_members
    lines = first.net[(first.net["member"] == tod) & (first.net["kind"] == CODES.kind.code("net"))]
    assert (lines["status"] == CODES.status.code("failed")).all() and (lines["carried_to"] == np.datetime64(T1)).all()
    short = first.shortfalls[first.shortfalls["member"] == tod]
    assert "KZT" in CODES.asset.decode(short["asset"])
    assert (short["needed"] > short["available"]).all()
    # on T+1 the rolled amounts come back, with what was fresh on T+1, and settle after the
    # member's top-up; the other overtrader's T+1 obligations fail and roll again
    second = by_date[T1]
    rolled = {int(a): int(x) for a, x in zip(lines["asset"], lines["amount"])}
    fresh = result.obligations.for_date(T1).net
    for asset, amount in rolled.items():
        extra = fresh[(fresh["member"] == tod) & (fresh["asset"] == asset)]["amount"].sum()
        line = second.result.net[(second.result.net["member"] == tod)
                                 & (second.result.net["asset"] == asset)]
        assert int(line["amount"].sum()) == amount + int(extra)
    assert [m for m, _, _ in second.top_ups] == [tod]
    assert tod not in second.result.failed_members
    assert tom in second.result.failed_members and tom in by_date[T2].result.failed_members
    assert {m for _, m, _, _ in result.outstanding} == {tom}
    # the report says the same
    table = settlement_table(result)
    failed_cells = {row[0]: row[2] for row in table.rows}
    assert failed_cells[DATE.isoformat()] == result.member_name(tod)
    assert failed_cells[T1.isoformat()] == result.member_name(tom)
    assert table.highlight == [True, True, True]


def test_files_read_back(day):
    result, files = day
    trades = pq.read_table(files["trades.parquet"])
    assert trades.num_rows == len(result.trades)
    for name in ("trade_id", "price_ticks", "qty", "buyer", "seller", "quote_amount"):
        assert trades.column(name).to_numpy().tolist() == result.trades[name].tolist()
    obligations = pq.read_table(files["obligations.parquet"])
    assert obligations.column("amount").to_numpy().tolist() == \
        result.obligations.net["amount"].tolist()
    assert "member_name" in obligations.column_names
    settlement = pq.read_table(files["settlement.parquet"])
    assert set(settlement.column("status").to_pylist()) == {"settled", "failed"}


def test_report_html_embeds_the_charts(day):
    _, files = day
    page = files["report.html"].read_text(encoding="utf-8")
    images = page.split('src="data:image/png;base64,')[1:]
    assert len(images) == 5
    for chunk in images:
        data = base64.b64decode(chunk.split('"', 1)[0])
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    for text in ("Simulated KASE trading day: 2026-11-27", "Settlement outcome per date",
                 "Official rates", "Refusals by reason", "INSUFFICIENT_FUNDS"):
        assert text in page
    assert "<script" not in page and "http://" not in page and "https://" not in page


def _day_trades(seed: int) -> np.ndarray:
    scenario = default_scenario(seed=seed, members=8, orders=800)
    result = run_day(scenario, date=DATE, orders=800)
    result.ledger.close()
    return result.trades


def test_same_seed_same_trades_other_seed_other_trades():
    a, b, c = _day_trades(5), _day_trades(5), _day_trades(6)
    assert len(a) > 100
    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert len(a) != len(c) or a.tobytes() != c.tobytes()


def test_a_ledger_file_that_exists_is_refused(tmp_path):
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"not empty")
    scenario = default_scenario(seed=1, members=6, orders=10)
    with pytest.raises(ValueError, match="already exists"):
        run_day(scenario, date=DATE, orders=10, ledger_path=path)
    assert path.read_bytes() == b"not empty"
