"""The ``exchange simulate`` command: argument errors exit 2 with a clear message, and a
small run through ``python -m exchange`` writes its files."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from exchange.reference.calendar import Calendar
from exchange.app.cli import build_parser, main
from exchange.sim.day import business_day_on_or_after


@pytest.mark.parametrize("args, words", [
    (["--orders", "0"], ["--orders", "1..", "0"]),
    (["--orders", "-5"], ["--orders", "-5"]),
    (["--orders", "lots"], ["--orders", "integer", "'lots'"]),
    (["--orders", "2.5"], ["--orders", "'2.5'"]),
    (["--members", "3"], ["--members", "6..", "3"]),
    (["--seed", "-1"], ["--seed", "-1"]),
    (["--date", "2026-13-01"], ["--date", "YYYY-MM-DD", "'2026-13-01'"]),
    (["--frobnicate"], ["unrecognized arguments", "--frobnicate"]),
])
def test_bad_arguments_exit_2_naming_the_option(args, words, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--out", str(tmp_path / "out"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert not (tmp_path / "out").exists()  # nothing was run or written


def test_no_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_an_existing_ledger_file_exits_2(tmp_path, capsys):
    ledger = tmp_path / "ledger.sqlite"
    ledger.write_bytes(b"x")
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--ledger", str(ledger), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "--ledger" in capsys.readouterr().err and ledger.read_bytes() == b"x"


def test_defaults():
    args = build_parser().parse_args(["simulate"])
    assert (args.seed, args.members, args.date, args.out, args.ledger, args.quiet) == \
        (1, 20, dt.date(2026, 11, 27), "out", None, False)
    assert 20_000 <= args.orders <= 50_000


def test_a_date_without_trading_moves_to_the_next_business_day():
    calendar = Calendar()
    assert business_day_on_or_after(calendar, dt.date(2026, 11, 27)) == dt.date(2026, 11, 27)
    assert business_day_on_or_after(calendar, dt.date(2026, 11, 28)) == dt.date(2026, 11, 30)


def test_python_dash_m_exchange_simulate(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ)
    src = str(Path(__import__("exchange").__file__).parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
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
