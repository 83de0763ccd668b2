"""Multi-day runs: three consecutive days on one ledger, every obligation settled on its own
date, fails rolling from day to day, each day's official rate the next day's swap reference,
the same seed giving the same run, and one day being exactly ``run_day``.

The checks recompute what is due on each date from the trade records, independently of the
clearing code (as tests/test_sim_day.py does for one day).
"""
from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from exchange.app.console import print_run_report
from exchange.app.json_summary import run_summary
from exchange.app.report import write_outputs
from exchange.codes import CODES
from exchange.sim import default_scenario, run_day, run_days
from sim_checks import assert_ledger_conserves, net_legs

D1, D2, D3 = dt.date(2026, 11, 27), dt.date(2026, 11, 30), dt.date(2026, 12, 1)
ORDERS, MEMBERS, SEED = 2_000, 12, 11
SWAP = "USDKZT_SWAP_1D"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("days")
    scenario = default_scenario(seed=SEED, members=MEMBERS, orders=ORDERS)
    result = run_days(scenario, start=D1, days=3, orders=ORDERS,
                      ledger_path=out / "ledger.sqlite")
    files = write_outputs(result, out)
    yield result, files
    result.ledger.close()


def _net_lines(result) -> dict[tuple[int, str], int]:
    net = result.net[result.net["kind"] == CODES.kind.code("net")]
    lines: dict = defaultdict(int)
    for m, a, x in zip(net["member"].tolist(), CODES.asset.decode(net["asset"]),
                       net["amount"].tolist()):
        lines[(m, a)] += x
    return {k: v for k, v in lines.items() if v}


def _role(result, role):
    (member,) = [m.id for m in result.scenario.members if m.role == role]
    return member


def test_three_consecutive_business_days_on_one_ledger(run):
    result, _ = run
    assert result.dates == [D1, D2, D3]  # Friday, then Monday and Tuesday
    assert all(day.ledger is result.ledger and day.exchange is result.exchange
               for day in result.days)
    for day in result.days:
        assert len(day.trades) > 0 and set(day.trades["trade_date"].astype(dt.date)) == {day.date}
    assert len(result.trades) == len(result.exchange.trades())


def test_each_obligation_settles_on_its_own_date(run):
    result, _ = run
    # at the end of a day only that day's date is settled; the last day settles the rest
    assert [[s.date for s in day.settlements] for day in result.days[:2]] == [[D1], [D2]]
    last = [s.date for s in result.days[2].settlements]
    assert last[0] == D3 and last == sorted(last) and len(last) >= 3
    trades = result.trades
    tenors = trades["settle_date"].astype(dt.date)
    day1 = trades["trade_date"].astype(dt.date) == D1
    assert (tenors[day1] == D2).any() and (tenors[day1] == D3).any()  # day 1's T+1 and T+2
    due = net_legs(trades)
    rolled_in: dict = defaultdict(int)
    for run_ in result.settlements:
        fresh = {(m, a): x for (m, a, d), x in due.items() if d == np.datetime64(run_.date)}
        expected = defaultdict(int, fresh)
        for key, amount in rolled_in.items():
            expected[key] += amount
        assert _net_lines(run_.result) == {k: v for k, v in expected.items() if v}, run_.date
        rolled_in = defaultdict(int)
        net = run_.result.net
        failed = net[(net["kind"] == CODES.kind.code("net")) & ~np.isnat(net["carried_to"])]
        for m, a, x in zip(failed["member"].tolist(), CODES.asset.decode(failed["asset"]),
                           failed["amount"].tolist()):
            rolled_in[(m, a)] += x


def test_a_rolled_fail_settles_or_rolls_again_on_a_later_day(run):
    result, _ = run
    tod, tom = _role(result, "overtrader TOD"), _role(result, "overtrader TOM")
    first, second, third = (day.settlements[0] for day in result.days)
    assert tod in first.result.failed_members  # its TOD buys fail on day 1 ...
    assert first.result.net["carried_to"][first.result.net["member"] == tod][0] == \
        np.datetime64(D2)
    assert [m for m, _, _ in second.top_ups] == [tod]  # ... and settle on day 2 after a top-up
    assert tod not in second.result.failed_members
    assert tom in second.result.failed_members  # its day-1 TOM buys fail on day 2 (T+1) ...
    assert tom in third.result.failed_members  # ... and again on day 3, rolled from day 2
    assert {d for d, m, _, _ in result.days[1].outstanding if m == tom} == {D3.isoformat()}
    assert {m for _, m, _, _ in result.outstanding} == {tom}  # still owed after the run


def _reference(result, rate: Decimal) -> int:
    spot = result.scenario.instruments[SWAP].underlying
    return spot.to_ticks(rate.quantize(spot.tick_size, ROUND_HALF_UP))


def test_the_official_rate_of_each_day_is_the_next_days_swap_reference(run):
    result, _ = run
    ins = result.scenario.instruments[SWAP]
    spot = ins.underlying
    references = [Decimal(result.scenario.reference_rates["USDKZT"])] + \
        [day.day_end.official_rates["USDKZT"] for day in result.days[:-1]]
    for day, rate in zip(result.days, references):
        swaps = day.trades[day.trades["instrument"] == CODES.instrument.find(SWAP)]
        assert len(swaps) > 0, day.date
        per_lot = _reference(result, rate) * spot.tick_size * ins.lot_size  # KZT per lot
        assert (swaps["quote_amount"] == swaps["qty"] * int(per_lot * 100)).all(), day.date
    for before, after in zip(result.days, result.days[1:]):
        assert before.day_end.effective_date == after.date
        assert result.exchange.official_rate("USDKZT", after.date) == \
            before.day_end.official_rates["USDKZT"]
    assert references[1] != references[2]  # the check would see a stale reference


def test_the_ledger_conserves_every_asset_over_the_run(run):
    result, _ = run
    assert_ledger_conserves(result)
    # members start each day with what the day before left them
    assert result.days[1].opening != result.days[0].opening


def test_the_files_cover_every_day(run):
    result, files = run
    trades = pq.read_table(files["trades.parquet"])
    assert trades.column("trade_id").to_pylist() == result.trades["trade_id"].tolist()
    assert set(trades.column("trade_date").to_pylist()) == {D1, D2, D3}
    settled = pq.read_table(files["settlement.parquet"]).column("settle_date").to_pylist()
    assert sorted(set(settled)) == [s.date for s in result.settlements]
    obligations = pq.read_table(files["obligations.parquet"])
    assert obligations.column("amount").to_pylist() == result.obligations.net["amount"].tolist()
    page = files["report.html"].read_text(encoding="utf-8")
    images = page.split('src="data:image/png;base64,')[1:]
    assert len(images) == 1 + 3 + 2  # across the days, one per day, positions, settlement
    for chunk in images:
        assert base64.b64decode(chunk.split('"', 1)[0])[:8] == b"\x89PNG\r\n\x1a\n"
    for text in ("Simulated KASE trading days: 2026-11-27 to 2026-12-01", "Trading days",
                 "Day 1: Friday 2026-11-27", "Day 3: Tuesday 2026-12-01",
                 "Settlement outcome per date"):
        assert text in page


def test_the_json_summary_and_console_cover_every_day(run):
    result, files = run
    data = json.loads(json.dumps(run_summary(result, files, 1.0)))
    assert data["trade_dates"] == [D1.isoformat(), D2.isoformat(), D3.isoformat()]
    assert [d["trade_date"] for d in data["days"]] == data["trade_dates"]
    assert data["trades"] == sum(d["trades"] for d in data["days"]) == len(result.trades)
    assert [s["date"] for s in data["settlements"]] == \
        [s.date.isoformat() for s in result.settlements]
    assert [s["date"] for s in data["days"][1]["settlements"]] == [D2.isoformat()]
    console = Console(file=io.StringIO(), width=120, color_system=None)
    print_run_report(result, console, files.values())
    text = console.file.getvalue()
    for date in (D1, D2, D3):
        assert re.search(rf"^ *{date.isoformat()} ", text, re.MULTILINE)
    assert "Trading days" in text and "Still outstanding after the last run" in text


def _summary(result) -> list:
    return [(s.date, s.result.net.tobytes(), s.result.gross.tobytes(), s.top_ups)
            for s in result.settlements]


def test_one_day_is_exactly_run_day():
    scenario = default_scenario(seed=4, members=8, orders=600)
    one = run_days(scenario, start=D1, days=1, orders=600)
    again = run_day(default_scenario(seed=4, members=8, orders=600), date=D1, orders=600)
    assert one.trades.tobytes() == again.trades.tobytes() and len(one.trades) > 100
    assert _summary(one) == _summary(again) and one.outstanding == again.outstanding
    assert one.obligations.digest() == again.obligations.digest()


def test_same_seed_same_run_other_seed_other_run():
    def days(seed: int):
        return run_days(default_scenario(seed=seed, members=8, orders=500), start=D1, days=2,
                        orders=500)

    a, b, c = days(5), days(5), days(6)
    assert a.trades.tobytes() == b.trades.tobytes() and _summary(a) == _summary(b)
    assert a.trades.tobytes() != c.trades.tobytes()


def test_a_bad_number_of_days_is_refused():
    scenario = default_scenario(seed=1, members=6, orders=10)
    for days, error in ((0, ValueError), (-1, ValueError), (True, TypeError), (2.0, TypeError)):
        with pytest.raises(error, match="days"):
            run_days(scenario, start=D1, days=days, orders=10)
