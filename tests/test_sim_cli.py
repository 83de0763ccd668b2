"""The ``exchange simulate`` command fails fast: every bad value is refused before the day
starts, with one line on stderr and exit status 2, no traceback, and nothing left behind. A
failure after the start removes what the run created. And a small run writes its files."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from exchange.app import cli, report
from exchange.app.cli import build_parser, main
from exchange.reference.calendar import Calendar
from exchange.sim.day import business_day_on_or_after

SRC = str(Path(__import__("exchange").__file__).resolve().parent.parent)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _setup(tmp_path: Path) -> None:
    """A file, a folder, a non-empty ledger and a report.html that is a folder."""
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "old.sqlite").write_bytes(b"not empty")
    (tmp_path / "taken" / "report.html").mkdir(parents=True)


BAD = [
    (["--orders", "0"], ["--orders", "1..5,000,000", "got 0"]),
    (["--orders", "-5"], ["--orders", "-5"]),
    (["--orders", "lots"], ["--orders", "integer", "'lots'"]),
    (["--orders", "2.5"], ["--orders", "'2.5'"]),
    (["--orders", "5000001"], ["--orders", "5,000,001"]),
    (["--members", "3"], ["--members", "6..1,000", "got 3"]),
    (["--members", "1001"], ["--members", "1,001"]),
    (["--seed", "-1"], ["--seed", "-1"]),
    (["--seed", str(2**63)], ["--seed", "9,223,372,036,854,775,808"]),
    (["--date", "2026-13-01"], ["--date", "YYYY-MM-DD", "'2026-13-01'"]),
    (["--date", "9999-12-31"], ["--date", "2000-01-01..2099-12-31", "9999-12-31"]),
    (["--date", "1999-12-31"], ["--date", "1999-12-31"]),
    (["--out", "a_file"], ["--out", "a_file", "not a folder"]),
    (["--out", "a_file/sub"], ["--out", "a_file/sub", "not a folder"]),
    (["--out", "/proc/exchange_out"], ["--out", "cannot write", "/proc"]),
    (["--out", "taken"], ["--out", "report.html", "is a folder"]),
    (["--ledger", "old.sqlite"], ["--ledger", "old.sqlite", "already exists"]),
    (["--ledger", "taken"], ["--ledger", "taken", "is a folder"]),
    (["--ledger", "missing/ledger.sqlite"], ["--ledger", "missing", "does not exist"]),
    (["--ledger", "/proc/ledger.sqlite"], ["--ledger", "cannot write", "/proc"]),
    (["--frobnicate"], ["unrecognized arguments", "--frobnicate"]),
    (["--days", "0"], ["--days", "1..250", "got 0"]),
    (["--days", "251"], ["--days", "251"]),
    (["--days", "two"], ["--days", "'two'"]),
    (["--days", "2", "--orders", "3000000"], ["--days", "2 days of 3,000,000", "5,000,000"]),
]


@pytest.mark.parametrize("args, words", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_value_exits_2_at_once_leaving_nothing(args, words, tmp_path):
    _setup(tmp_path)
    before = _files(tmp_path)
    env = {**os.environ, "PYTHONPATH": SRC}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "exchange", "simulate", *args], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=60)
    elapsed = time.perf_counter() - started
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    for word in words:
        assert word in done.stderr
    assert _files(tmp_path) == before  # no output folder, no ledger
    assert (tmp_path / "old.sqlite").read_bytes() == b"not empty"
    assert elapsed < 5, f"took {elapsed:.1f} s: the day must not have started"


def test_no_command_exits_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "COMMAND" in err and len(err.splitlines()) == 1


def test_help_shows_ranges_and_defaults(capsys):
    assert main(["simulate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for part in ("--members 6..1000", "--orders 1..5000000", "--seed 0..2**63-1", "--days 1..250",
                 "--date 2000-01-01..2099-12-31", "(default 20)", "(default 50000)",
                 "(default 1)", "(default 2026-11-27)", "(default ./out)", "--json"):
        assert part in text


def test_defaults():
    args = build_parser().parse_args(["simulate"])
    assert (args.seed, args.members, args.date, args.out, args.ledger, args.quiet, args.json,
            args.days) == (1, 20, dt.date(2026, 11, 27), "out", None, False, False, 1)
    assert args.orders == cli.DEFAULT_ORDERS


def test_a_date_without_trading_moves_to_the_next_business_day():
    calendar = Calendar()
    assert business_day_on_or_after(calendar, dt.date(2026, 11, 27)) == dt.date(2026, 11, 27)
    assert business_day_on_or_after(calendar, dt.date(2026, 11, 28)) == dt.date(2026, 11, 30)


def test_a_missing_sim_extra_gives_a_one_line_hint(monkeypatch, tmp_path, capsys):
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec",
                        lambda name: None if name == "matplotlib" else real(name))
    out = tmp_path / "out"
    assert main(["simulate", "--out", str(out), "--ledger", str(tmp_path / "l.sqlite")]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ['exchange simulate: error: exchange simulate needs the [sim] '
                                'extra (matplotlib is not installed): pip install '
                                '"exchange[sim]"']
    assert _files(tmp_path) == []


def test_a_failure_while_writing_removes_what_the_run_created(monkeypatch, tmp_path, capsys):
    def full_disk(result, out):
        Path(out).mkdir(parents=True)
        (Path(out) / "trades.parquet").write_bytes(b"PAR1")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_outputs", full_disk)
    ledger = tmp_path / "ledger.sqlite"
    status = main(["simulate", "--orders", "50", "--members", "6", "--quiet",
                   "--out", str(tmp_path / "new" / "out"), "--ledger", str(ledger)])
    assert status == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "No space left on device" in err
    assert _files(tmp_path) == []  # neither the settled ledger nor the output folder stays


def test_an_empty_ledger_file_is_used_and_emptied_again_on_failure(monkeypatch, tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    ledger.touch()

    def fail(result, out):
        assert ledger.stat().st_size > 0  # the day was settled into it
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(report, "write_outputs", fail)
    assert main(["simulate", "--orders", "50", "--members", "6", "--quiet",
                 "--out", str(tmp_path / "out"), "--ledger", str(ledger)]) == 1
    assert _files(tmp_path) == ["ledger.sqlite"] and ledger.stat().st_size == 0


@pytest.mark.slow
def test_python_dash_m_exchange_simulate(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-m", "exchange", "simulate", "--orders", "300", "--members", "8",
         "--seed", "3", "--out", str(out), "--ledger", str(tmp_path / "ledger.sqlite")],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    for table in ("Trading by session and instrument", "Refusals by reason",
                  "Net obligations per member", "Settlement outcome per date"):
        assert table in done.stdout
    assert pq.read_table(out / "trades.parquet").num_rows > 0
    assert (out / "report.html").stat().st_size > 50_000
    assert (tmp_path / "ledger.sqlite").stat().st_size > 0


def _wall_clock_free(page: str) -> str:
    """A report page without its wall-clock figures (speeds and timings)."""
    page = re.sub(r"Wall-clock timings of this run: .*?\. Files", "Files", page)
    return re.sub(r"[0-9][0-9,]*/s", "N/s", page)


def test_one_day_writes_the_same_files_as_days_1(tmp_path):
    common = ["simulate", "--orders", "300", "--members", "8", "--seed", "3", "--quiet"]
    assert main(common + ["--out", str(tmp_path / "plain")]) == 0
    assert main(common + ["--days", "1", "--out", str(tmp_path / "one")]) == 0
    for name in ("trades.parquet", "obligations.parquet", "settlement.parquet"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    plain, one = ((tmp_path / d / "report.html").read_text() for d in ("plain", "one"))
    assert "Simulated KASE trading day: 2026-11-27" in plain
    assert _wall_clock_free(plain) == _wall_clock_free(one)


def test_days_3_prints_a_summary_of_every_day(tmp_path, capsys):
    assert main(["simulate", "--orders", "300", "--members", "8", "--seed", "3", "--days", "3",
                 "--date", "2026-11-28", "--json", "--out", str(tmp_path / "out")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["requested_date"] == "2026-11-28"  # a Saturday: trading from Monday
    assert data["trade_dates"] == ["2026-11-30", "2026-12-01", "2026-12-02"]
    assert len(data["days"]) == 3 and data["trades"] == sum(d["trades"] for d in data["days"])
    trades = pq.read_table(tmp_path / "out" / "trades.parquet")
    assert sorted(set(trades.column("trade_date").to_pylist())) == \
        [dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 2)]
