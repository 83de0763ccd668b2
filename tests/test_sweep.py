"""Parameter sweeps (issue 13): scenario knobs, the sweep API on a process pool, Dask and Ray,
failures and dying workers, and the ``sweep`` command.

The proof of the issue is :func:`test_same_table_locally_on_dask_and_on_ray`: 2 parameter
points x 3 seeds on each backend with 2 workers give the same table. Runs use a few hundred
order messages per session so that a run takes a fraction of a second; starting a Dask or Ray
cluster and restarting killed workers takes seconds, so the tests that do are marked slow
(CI runs them: .ci/run selects no marker).
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import sys
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from exchange.codes import CODES
from exchange.reference.fees import default_fee_schedule
from exchange.sim import DEFAULT_DATE, ScenarioParams, comparable, default_scenario, run_day, sweep
from exchange.sim.engines import EngineMissing, dask_settings, require
from exchange.sim.runs import VOLATILE_COLUMNS, RunTask, result_columns, run_one
from exchange.sim.sweep import check_seeds, grid_points
from exchange.venue.members import Regime

ORDERS = 300  # per session: a run takes about 0.1 s
GRID = {"prefunded": [0, 3], "orders": [ORDERS]}
SEEDS = [1, 2, 3]


def _day(**knobs):
    scenario = default_scenario(seed=5, orders=ORDERS, **knobs)
    result = run_day(scenario, date=DEFAULT_DATE, orders=ORDERS)
    result.ledger.close()
    return result


# ------------------------------------------------------------------------- scenario knobs

@pytest.mark.parametrize("members", [6, 7, 12, 20, 33, 1000])
def test_default_knobs_give_the_roster_of_before(members):
    """The roster formula from before the knobs existed, written out again here."""
    makers, new = max(2, round(members * 0.2)), max(1, round(members * 0.15))
    expected = (["market maker"] * makers + ["noise trader"] * (members - makers - new - 2)
                + ["new member"] * new + ["overtrader TOD", "overtrader TOM"])
    scenario = default_scenario(seed=3, members=members, orders=1_000)
    assert [m.role for m in scenario.members] == expected
    assert [m.regime for m in scenario.members] == \
        [Regime.PREFUNDED if r == "new member" else Regime.DEFERRED for r in expected]


def test_default_knobs_trade_as_the_exchange_default_fees():
    """The scenario's explicit fee schedule is the exchange's default: same trades, same fees
    as a scenario that leaves the fees to the exchange."""
    assert default_scenario().fees.rules == default_fee_schedule().rules
    ours = default_scenario(seed=5, orders=ORDERS)
    theirs = default_scenario(seed=5, orders=ORDERS)
    theirs.fees = None
    a = run_day(ours, date=DEFAULT_DATE, orders=ORDERS)
    b = run_day(theirs, date=DEFAULT_DATE, orders=ORDERS)
    assert len(a.trades) > 100
    assert a.trades.tobytes() == b.trades.tobytes()


def test_knobs_resolve_and_accept_numpy_integers():
    params = ScenarioParams(members=np.int64(20), orders=np.int32(500), makers=np.int16(5),
                            prefunded=np.uint8(0), fee_bps="1.25", security_fee_bps=3)
    assert (params.members, params.orders, params.makers, params.prefunded) == (20, 500, 5, 0)
    assert type(params.members) is int and params.noise_traders == 13
    assert params.fee_bps == Decimal("1.25") and params.security_fee_bps == Decimal(3)
    assert ScenarioParams().makers == 4 and ScenarioParams().prefunded == 3


@pytest.mark.parametrize("knobs, error, words", [
    ({"members": 5}, ValueError, "members: 5"),
    ({"members": 1001}, ValueError, "members: 1001"),
    ({"members": True}, TypeError, "members: expected an integer, got bool"),
    ({"members": 20.0}, TypeError, "members: expected an integer, got float"),
    ({"orders": 0}, ValueError, "orders: 0"),
    ({"fee_bps": 0.5}, TypeError, "fee_bps: expected Decimal, int or str, got float"),
    ({"fee_bps": "-1"}, ValueError, "fee_bps: '-1' bp is not in 0..1000"),
    ({"fee_bps": "1001"}, ValueError, "fee_bps: '1001' bp"),
    ({"fee_bps": "0.00001"}, ValueError, "fee_bps: '0.00001' has more than 4 decimal"),
    ({"fee_bps": "abc"}, ValueError, "fee_bps: 'abc' is not a plain decimal number"),
    ({"security_fee_bps": "nan"}, ValueError, "security_fee_bps: 'nan' is not a plain decimal"),
    ({"makers": -1}, ValueError, "makers: -1"),
    ({"prefunded": 21}, ValueError, "prefunded: 21"),
    ({"prefunded": False}, TypeError, "prefunded: expected an integer, got bool"),
    ({"makers": 10, "prefunded": 8}, ValueError, "members: 20 leave no noise trader"),
    ({"overtraders_prefunded": 1}, TypeError, "overtraders_prefunded: expected a bool"),
])
def test_bad_knobs_are_refused_naming_them(knobs, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(".", r"\.")):
        ScenarioParams(**knobs)
    with pytest.raises(error):
        default_scenario(**knobs)


def test_unknown_knob_is_a_type_error():
    with pytest.raises(TypeError, match="fee_bp"):
        default_scenario(fee_bp=1)


def test_member_mix_knobs_build_that_roster():
    scenario = default_scenario(members=10, makers=1, prefunded=4, overtraders_prefunded=True)
    roles = [m.role for m in scenario.members]
    assert roles.count("market maker") == 1 and roles.count("new member") == 4
    assert roles.count("noise trader") == 3
    prefunded = [m.role for m in scenario.members if m.regime is Regime.PREFUNDED]
    assert prefunded == ["new member"] * 4 + ["overtrader TOD", "overtrader TOM"]
    assert not any(m.regime is Regime.PREFUNDED for m in default_scenario(prefunded=0).members)


def test_pre_funding_the_overtraders_prevents_their_settlement_fails():
    row = run_one(RunTask(ScenarioParams(orders=ORDERS), 5, DEFAULT_DATE))
    ruled = run_one(RunTask(ScenarioParams(orders=ORDERS, overtraders_prefunded=True), 5,
                            DEFAULT_DATE))
    assert row["failed_members"] == 2 and row["settlement"] == "outstanding"
    assert row["failed_member_ids"] == "19 20" and row["rolled.KZT"] > 0
    assert ruled["failed_members"] == 0 and ruled["settlement"] == "settled"
    assert ruled["refused.INSUFFICIENT_FUNDS"] > row["refused.INSUFFICIENT_FUNDS"]


def test_fee_rates_are_the_fees_charged():
    """fee_bps sets FX fees, security_fee_bps securities fees: each trade's fee is the
    schedule's fee of its value (a swap's near leg)."""
    result = _day(fee_bps="7", security_fee_bps="12.5")
    schedule = default_fee_schedule("7", "12.5")
    instruments = result.scenario.instruments
    kinds = set()
    for t in result.trades[::7]:
        ins = instruments[CODES.instrument.name(t["instrument"])]
        kinds.add(ins.kind)
        taker_buys = int(t["aggressor"]) == 0
        assert int(t["fee_buyer"]) == schedule.fee(ins, int(t["quote_amount"]), taker_buys)
        assert int(t["fee_seller"]) == schedule.fee(ins, int(t["quote_amount"]), not taker_buys)
    assert len(kinds) >= 3  # FX spot, swap or securities all seen
    low = run_one(RunTask(ScenarioParams(orders=ORDERS, fee_bps=0, security_fee_bps=0), 5,
                          DEFAULT_DATE))
    high = run_one(RunTask(ScenarioParams(orders=ORDERS, fee_bps=7, security_fee_bps="12.5"),
                           5, DEFAULT_DATE))
    fees = (result.trades["fee_buyer"].sum() + result.trades["fee_seller"].sum()) / 100
    assert high["fees_kzt"] == pytest.approx(fees, abs=0.005)
    assert 0 < low["fees_kzt"] < high["fees_kzt"]


# ------------------------------------------------------------------------------ one run

def test_a_run_row_matches_the_day_it_measures():
    """Every measured column, recomputed from the day's own objects."""
    params = ScenarioParams(orders=ORDERS)
    row = run_one(RunTask(params, 5, DEFAULT_DATE))
    day = _day()
    trades = day.trades
    assert set(result_columns()) <= set(row) and row["status"] == "ok" and row["error"] == ""
    assert row["trades"] == len(trades) and row["order_messages"] == day.orders
    tod = trades[trades["instrument"] == CODES.instrument.find("USDKZT_TOD")]
    assert row["turnover_kzt.USDKZT_TOD"] == pytest.approx(tod["quote_amount"].sum() / 100)
    assert row["turnover_kzt"] == pytest.approx(trades["quote_amount"].sum() / 100)
    vwap = (tod["price_ticks"] * tod["qty"]).sum() / tod["qty"].sum() / 100  # ticks of 0.01
    assert row["vwap.USDKZT_TOD"] == pytest.approx(vwap, rel=1e-12)
    assert row["official_rate.USDKZT"] == float(day.day_end.official_rates["USDKZT"])
    refused = sum(sum(s.refusals.values()) for s in day.sessions)
    assert row["refused"] == refused == sum(row[c] for c in row if c.startswith("refused."))
    failed = {m for s in day.settlements for m in s.result.failed_members}
    assert row["failed_members"] == len(failed)
    assert row["settlement_runs"] == len(day.settlements)
    owed = sum(-x for _, _, a, x in day.outstanding if a == "KZT" and x < 0) / 100
    assert row["outstanding.KZT"] == pytest.approx(owed)
    assert 0 < row["outstanding.KZT"] <= row["rolled.KZT"]
    assert row["trades_file"] == ""


def test_a_run_that_raises_is_a_failed_row():
    row = run_one(RunTask(ScenarioParams(orders=ORDERS), 1, dt.date(2026, 11, 28)))
    assert row["status"] == "failed"
    assert row["error"].startswith("NonBusinessDayError: trade date 2026-11-28")
    assert "trades" not in row


# ------------------------------------------------------------------------ grid and seeds

def test_grid_is_every_combination_sorted_by_the_grid_order():
    names, points = grid_points({"prefunded": [6, 0], "fee_bps": ["2", 1]})
    assert names == ["prefunded", "fee_bps"]
    assert [(p.prefunded, p.fee_bps) for p in points] == \
        [(0, 1), (0, 2), (6, 1), (6, 2)]
    names, points = grid_points([{"makers": 3}, {"makers": 2, "members": 30}])
    assert names == ["makers", "members"]
    assert [(p.makers, p.members) for p in points] == [(2, 30), (3, 20)]
    assert grid_points(None) == ([], [ScenarioParams()]) == grid_points({})


@pytest.mark.parametrize("grid, error, words", [
    ({"fee": [1]}, ValueError, "grid: 'fee' is not a parameter"),
    ({"fee_bps": []}, ValueError, r"grid\['fee_bps'\]: no values"),
    ({"fee_bps": "125"}, TypeError, r"grid\['fee_bps'\]: expected a list"),
    ({"fee_bps": [1, "1.0"]}, ValueError, "the point fee_bps=1 is given twice"),
    ({"prefunded": [True]}, TypeError, "prefunded: expected an integer, got bool"),
    ([], ValueError, "an empty list of points"),
    ("fee_bps=1", TypeError, "grid: expected a mapping"),
])
def test_bad_grids_are_refused(grid, error, words):
    with pytest.raises(error, match=words):
        grid_points(grid)


def test_seeds_are_checked():
    assert check_seeds(range(3, 0, -1)) == [1, 2, 3]
    assert check_seeds(np.arange(2)) == [0, 1]
    for seeds, error, words in (([], ValueError, "no seeds"), ([1, 1], ValueError, "1 is given"),
                                ([-1], ValueError, "seeds: -1"), ([True], TypeError, "bool"),
                                ("12", TypeError, "seeds: expected integers"),
                                ([2**63], ValueError, "seeds: 9223372036854775808")):
        with pytest.raises(error, match=words):
            check_seeds(seeds)


@pytest.mark.parametrize("options, error, words", [
    ({"backend": "spark"}, ValueError, "backend: 'spark' is not one of local, dask, ray"),
    ({"workers": 0}, ValueError, "workers: 0"),
    ({"workers": True}, TypeError, "workers: expected an integer, got bool"),
    ({"address": "tcp://10.0.0.1:8786"}, ValueError, "needs backend dask or ray"),
    ({"backend": "dask", "address": "tcp://h:1", "workers": 2}, ValueError, "one or the other"),
    ({"retries": -1}, ValueError, "retries: -1"),
    ({"date": dt.date(2026, 11, 28)}, ValueError, r"2026-11-28 is not a business day.*2026-11-30"),
    ({"date": "2026-11-27"}, TypeError, "date: expected a datetime.date"),
    ({"keep_trades": True}, ValueError, "keep_trades: needs out"),
    ({"keep_trades": 1}, TypeError, "keep_trades: expected a bool"),
])
def test_bad_options_fail_before_anything_runs(options, error, words, tmp_path):
    with pytest.raises(error, match=words):
        sweep(GRID, SEEDS, **options)


def test_a_missing_engine_is_a_one_line_install_hint(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(EngineMissing) as caught:
        require("ray")
    assert str(caught.value) == 'backend \'ray\' needs the [ray] extra: pip install "exchange[ray]"'
    require("local")


# ------------------------------------------------------------------- sweeps on the backends

@pytest.mark.slow
def test_same_table_locally_on_dask_and_on_ray():
    """The proof of issue 13: 2 points x 3 seeds, 2 workers each, identical tables."""
    local = sweep(GRID, SEEDS, backend="local", workers=2)
    on_dask = sweep(GRID, SEEDS, backend="dask", workers=2)
    on_ray = sweep(GRID, SEEDS, backend="ray", workers=2)
    assert list(local["prefunded"]) == [0, 0, 0, 3, 3, 3]
    assert list(local["seed"]) == SEEDS * 2
    assert (local["status"] == "ok").all() and (local["trades"] > 100).all()
    assert local["trades"].nunique() > 1  # the seeds do differ
    assert local["worker"].nunique() == 2  # two processes did the work
    pd.testing.assert_frame_equal(comparable(local), comparable(on_dask))
    pd.testing.assert_frame_equal(comparable(local), comparable(on_ray))
    assert set(local.columns) - set(comparable(local).columns) == set(VOLATILE_COLUMNS)


def test_one_worker_gives_the_same_table_as_two_and_arrow_on_request():
    two = sweep(GRID, SEEDS, workers=2)
    one = sweep(GRID, SEEDS, workers=1, arrow=True)
    assert isinstance(one, pa.Table) and one.num_rows == 6
    pd.testing.assert_frame_equal(comparable(two), comparable(one))


def test_table_columns_and_types():
    table = sweep({"fee_bps": ["0.5", 2], "orders": [ORDERS]}, [7])
    knobs = ["fee_bps", "orders", "members", "security_fee_bps", "makers", "prefunded",
             "overtraders_prefunded"]
    assert list(table.columns) == knobs + ["seed"] + result_columns() + \
        ["status", "error", "wall_seconds", "worker"]
    assert list(table["fee_bps"]) == [0.5, 2.0] and list(table["makers"]) == [4, 4]
    assert table["trades"].dtype == "Int64" and table["settlement"].dtype == "string"
    assert table["overtraders_prefunded"].dtype == "boolean"
    assert (table["wall_seconds"] > 0).all()


def fail_on_seed_2(result):
    """A metric that raises for one run."""
    if result.scenario.seed == 2:
        raise RuntimeError("no metric for seed 2")
    return {"members_seen": len(result.scenario.members)}


def test_a_failing_run_is_recorded_and_the_sweep_goes_on():
    table = sweep(GRID, SEEDS, workers=2, metrics=fail_on_seed_2)
    failed = table[table["status"] == "failed"]
    assert list(failed["seed"]) == [2, 2] and list(failed["prefunded"]) == [0, 3]
    assert failed["error"].str.startswith(
        "RuntimeError: no metric for seed 2 (test_sweep.py:").all()
    assert failed["trades"].isna().all()
    ok = table[table["status"] == "ok"]
    assert len(ok) == 4 and (ok["members_seen"] == 20).all() and (ok["error"] == "").all()


def die_once(marker_dir, result):
    """Kills its worker process the first time it sees seed 2, then behaves."""
    point = sum(m.role == "new member" for m in result.scenario.members)
    marker = os.path.join(marker_dir, f"died-{point}")
    if result.scenario.seed == 2 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)
    return {}


def die_always(result):
    """Kills its worker process every time it sees seed 2."""
    if result.scenario.seed == 2:
        os._exit(3)
    return {}


def _check_deaths(once, always, retries):
    """``once``: each seed-2 run killed its worker once and was retried; ``always``: the
    seed-2 runs are failed rows saying their worker died; every other run is fine."""
    assert (once["status"] == "ok").all()
    pd.testing.assert_frame_equal(comparable(once), comparable(sweep(GRID, SEEDS)))
    died = always[always["seed"] == 2]
    assert (died["status"] == "failed").all() and len(died) == 2
    assert died["error"].str.startswith("worker died: ").all()
    assert (always[always["seed"] != 2]["status"] == "ok").all()


def test_local_pool_retries_a_run_whose_worker_died(tmp_path):
    once = sweep(GRID, SEEDS, workers=2, metrics=functools.partial(die_once, str(tmp_path)))
    always = sweep(GRID, SEEDS, workers=2, retries=1, metrics=die_always)
    _check_deaths(once, always, 1)
    assert (always[always["seed"] == 2]["error"]
            == "worker died: 2 times running this run alone").all()


@pytest.fixture(scope="module")
def dask_scheduler():
    """A Dask cluster of 2 workers that gives up on a run after its worker died twice."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(dask_settings(retries=1)), \
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                         silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.mark.slow
def test_dask_at_an_address_retries_a_run_whose_worker_died(tmp_path, dask_scheduler):
    once = sweep(GRID, SEEDS, backend="dask", address=dask_scheduler,
                 metrics=functools.partial(die_once, str(tmp_path)))
    always = sweep(GRID, SEEDS, backend="dask", address=dask_scheduler, metrics=die_always)
    _check_deaths(once, always, 1)
    assert always[always["seed"] == 2]["error"].str.contains("KilledWorker").all()


@pytest.mark.slow
def test_ray_already_started_retries_a_run_whose_worker_died(tmp_path):
    """Ray started by the caller: the sweep runs on it and leaves it running."""
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        once = sweep(GRID, SEEDS, backend="ray", metrics=functools.partial(die_once, str(tmp_path)))
        always = sweep(GRID, SEEDS, backend="ray", retries=1, metrics=die_always)
        assert ray.is_initialized()
    finally:
        ray.shutdown()
    _check_deaths(once, always, 1)
    assert always[always["seed"] == 2]["error"].str.contains("WorkerCrashedError").all()


def test_keep_trades_writes_each_run_s_trades(tmp_path):
    import pyarrow.parquet as pq

    table = sweep({"fee_bps": [1, "2.5"], "orders": [ORDERS]}, [4], out=tmp_path,
                  keep_trades=True)
    files = sorted(p.name for p in (tmp_path / "trades").iterdir())
    assert files == ["fee_bps=1_orders=300_seed=4.parquet",
                     "fee_bps=2.5_orders=300_seed=4.parquet"]
    assert list(table["trades_file"]) == [str(tmp_path / "trades" / f) for f in files]
    for path, trades in zip(table["trades_file"], table["trades"]):
        written = pq.read_table(path)
        assert written.num_rows == trades and "fee_buyer" in written.column_names
    fees = pq.read_table(table["trades_file"][1])["fee_buyer"].to_numpy()
    assert fees.sum() > pq.read_table(table["trades_file"][0])["fee_buyer"].to_numpy().sum()


# ---------------------------------------------------------------------------- the command

def _status(argv) -> int:
    """The command's exit status, whether it returns it or argparse exits with it."""
    from exchange.app.cli import main

    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_command_writes_the_table_and_a_summary(tmp_path, capsys):
    argv = ["sweep", "--param", "prefunded=0,3", "--param", "fee_bps=1,2.5", "--seeds", "1..2",
            "--orders", str(ORDERS), "--workers", "2", "--out", str(tmp_path / "new" / "out")]
    assert _status(argv) == 0
    out = tmp_path / "new" / "out"
    written = pd.read_parquet(out / "sweep.parquet")
    expected = sweep({"prefunded": [0, 3], "fee_bps": ["1", "2.5"], "orders": [ORDERS]}, [1, 2])
    pd.testing.assert_frame_equal(comparable(written), comparable(expected))
    page = (out / "sweep.html").read_text()
    assert page.count("<figure>") == 2 * 7 and page.count("data:image/png;base64,") == 14
    assert "failed runs" not in page.lower()
    for caption in ("trades against prefunded", "exchange fees (KZT) against fee_bps",
                    "members that failed a settlement against fee_bps"):
        assert f"<figcaption>{caption}</figcaption>" in page
    said = capsys.readouterr().out
    assert "Sweeping 8 runs (4 points x 2 seeds) on local" in said
    assert "8 runs ok, 0 failed" in said


def test_command_with_seeds_only_sweeps_the_default_scenario(tmp_path, capsys):
    assert _status(["sweep", "--seeds", "3,5", "--orders", str(ORDERS), "--out",
                    str(tmp_path), "--quiet"]) == 0
    table = pd.read_parquet(tmp_path / "sweep.parquet")
    assert list(table["seed"]) == [3, 5] and list(table["members"]) == [20, 20]
    assert (table["orders"] == ORDERS).all() and (table["status"] == "ok").all()
    page = (tmp_path / "sweep.html").read_text()
    assert "<figcaption>trades across seeds</figcaption>" in page
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("argv, words", [
    (["--seeds", "5..1"], "--seeds: the range '5..1' is empty"),
    (["--seeds", "1", "--param", "fee=1"], "--param: 'fee' is not a parameter"),
    (["--seeds", "1", "--param", "fee_bps"], "--param: 'fee_bps' is not NAME=V1,V2"),
    (["--seeds", "1", "--param", "prefunded=1", "--param", "prefunded=2"], "given twice"),
    (["--seeds", "1", "--param", "members=2..3"], "members: 2 is not in 6..1000"),
    (["--seeds", "1", "--param", "overtraders_prefunded=yes"], "'yes' is not true or false"),
    (["--seeds", "1", "--orders", "5", "--param", "orders=6"], "give one or the other"),
    (["--seeds", "1", "--workers", "0"], "workers: 0 is not in 1..1024"),
    (["--seeds", "1", "--backend", "spark"], "argument --backend: invalid choice: 'spark'"),
    (["--seeds", "1", "--date", "2026-11-28"], "2026-11-28 is not a business day"),
    (["--seeds", "1", "--date", "27.11.2026"], "must be a date YYYY-MM-DD, got '27.11.2026'"),
    (["--seeds", "1", "--orders", "x"], "argument --orders: invalid int value: 'x'"),
    ([], "the following arguments are required: --seeds"),
])
def test_command_bad_arguments_fail_fast_on_one_line(argv, words, tmp_path, capsys):
    out = tmp_path / "out"
    assert _status(["sweep", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("exchange sweep: error: ") and words in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_command_out_must_be_a_folder(tmp_path, capsys):
    taken = tmp_path / "file"
    taken.write_text("x")
    assert _status(["sweep", "--seeds", "1", "--out", str(taken / "sub")]) == 2
    assert "--out: " in capsys.readouterr().err


def test_command_missing_extra_is_a_one_line_hint(monkeypatch, tmp_path, capsys):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    assert _status(["sweep", "--seeds", "1", "--backend", "dask", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == ("exchange sweep: error: backend 'dask' needs the [dask] "
                                       'extra: pip install "exchange[dask]"\n')


def _resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc heap, /proc")
def test_a_worker_s_memory_stays_flat_run_after_run():
    """A long-lived worker gives back each run's memory (runs._give_back_memory): without it
    the resident size grew by megabytes per run, which 100,000 runs cannot afford."""
    rss = []
    for seed in range(1, 13):
        run_one(RunTask(ScenarioParams(orders=3_000), seed, DEFAULT_DATE))
        rss.append(_resident_mb())
    assert rss[-1] - rss[2] < 8, [round(x) for x in rss]


def test_a_driver_with_threads_spawns_its_workers_and_gets_the_same_table():
    import threading

    from exchange.sim.engines import _start_method

    forked = sweep(GRID, [1, 2], workers=2)
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert _start_method() == "spawn"  # forking beside another thread can deadlock
        spawned = sweep(GRID, [1, 2], workers=2)
    finally:
        stop.set()
        helper.join()
    pd.testing.assert_frame_equal(comparable(forked), comparable(spawned))
    assert set(forked["worker"]).isdisjoint(spawned["worker"])


def test_summary_page_lists_failed_runs_and_survives_a_sweep_that_all_failed():
    from exchange.app.sweep import render_html

    table = sweep(GRID, SEEDS, workers=2, metrics=fail_on_seed_2)
    page = render_html(table, ["prefunded", "orders"], 1.0)
    assert "<h2>Failed runs (2)</h2>" in page
    assert page.count("RuntimeError: no metric for seed 2") == 2
    assert page.count("<figure>") == 7  # one swept parameter: prefunded
    nothing = sweep({"orders": [ORDERS]}, [1], date=DEFAULT_DATE, metrics=always_fails)
    page = render_html(nothing, ["orders"], 1.0)
    assert "<figure>" not in page and "no run finished" not in page
    assert "Failed runs (1)" in page


def always_fails(result):
    raise ValueError("nothing to measure")
