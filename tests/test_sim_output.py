"""What ``exchange simulate`` prints: tables that fit the terminal without splitting a number,
piped output in order and without progress bars, and the ``--json`` summary."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from exchange.app import summary
from exchange.app.console import ProgressBars, ProgressLines, print_table, progress_for
from exchange.app.layout import block_width, blocks
from exchange.app.summary import Table
from exchange.sim import default_scenario, run_day

SRC = str(Path(__import__("exchange").__file__).resolve().parent.parent)
PRINTED = ("overview", "sessions", "stats", "official", "refusals", "obligations",
           "settlement", "outstanding")
RULE = re.compile(r"^─+$")


@pytest.fixture(scope="module")
def day():
    scenario = default_scenario(seed=4, members=14, orders=600)
    result = run_day(scenario, date=dt.date(2026, 11, 27), orders=600)
    yield result
    result.ledger.close()


def _words(text: str) -> list[str]:
    return [w for w in text.split() if not RULE.match(w)]


def _expected_words(table: Table, width: int) -> Counter:
    """Every word the table shows at ``width``: per block its title, headers and cells; the
    note once."""
    words: Counter = Counter()
    for number, part in enumerate(blocks(table, width)):
        words.update(_words(table.title if number == 0 else f"{table.title} (continued)"))
        if any(table.columns):
            for c in part.columns:
                words.update(_words(table.columns[c]))
        for row in table.rows or [["none"] + [""] * (len(table.columns) - 1)]:
            for c in part.columns:
                words.update(_words(row[c]))
    words.update(_words(table.note))
    return words


def _render(table: Table, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    print_table(console, table)
    return console.file.getvalue()


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_tables_fit_and_no_word_or_number_is_split(day, width):
    tables = summary.all_tables(day)
    for key in PRINTED:
        text = _render(tables[key], width)
        lines = text.splitlines()
        assert max(len(line) for line in lines) <= width, (key, width)
        # wrapping happens between words only: the words on screen are exactly the words of
        # the title, headers, cells and note (a split number would give two other words)
        assert Counter(_words(text)) == _expected_words(tables[key], width), (key, width)


def test_a_wide_table_comes_in_blocks_that_repeat_its_keys(day):
    table = summary.session_stats(day)
    parts = blocks(table, 80)
    assert len(parts) >= 2
    shown = []
    for part in parts:
        assert part.columns[:2] == [0, 1]  # session and instrument in every block
        assert block_width(part.widths) <= 80
        shown += part.columns[2:]
    assert shown == list(range(2, len(table.columns)))
    for part in parts:  # a numeric column is at least as wide as its widest cell
        for column, width in zip(part.columns, part.widths):
            if table.numeric[column]:
                assert width >= max(len(row[column]) for row in table.rows)


def test_at_200_columns_a_table_is_one_block(day):
    assert len(blocks(summary.session_stats(day), 200)) == 1


def _simulate(tmp_path: Path, columns: int, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": SRC}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "exchange", "simulate", "--orders", "400", "--members", "9",
         "--seed", "5", "--out", "out", *extra],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)


def _steady(text: str) -> Counter:
    """Words of a run's output without the wall-clock figures (``N/s``, ``Done in X s``)."""
    text = re.sub(r"Done in [\d.]+ s", "Done in", text)
    return Counter(w for w in _words(text) if not re.fullmatch(r"[\d,]+/s,?", w))


@pytest.mark.slow
def test_piped_at_80_columns_fits_in_order_and_splits_no_number(tmp_path):
    (tmp_path / "narrow").mkdir()
    (tmp_path / "wide").mkdir()
    narrow = _simulate(tmp_path / "narrow", 80)
    wide = _simulate(tmp_path / "wide", 250)
    assert narrow.returncode == 0 and wide.returncode == 0, narrow.stderr + wide.stderr
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert max(len(line) for line in wide.stdout.splitlines()) > 80  # the check can fail
    # no progress bars or redraws when piped; the sessions before the end of day
    assert "\r" not in narrow.stdout and "━" not in narrow.stdout and "\x1b[" not in narrow.stdout
    order = ["morning session:", "day session:", "evening session:", "end of day",
             "netting", "settling", "writing report", "The day at a glance", "Done in"]
    at = [next(i for i, line in enumerate(lines) if line.startswith(o)) for o in order]
    assert at == sorted(at)
    # the same day at 250 columns shows the same words: nothing was split at 80 (the narrow
    # run only adds the titles and key columns its extra blocks repeat)
    narrow_words, wide_words = _steady(narrow.stdout), _steady(wide.stdout)
    assert not wide_words - narrow_words
    added = narrow_words - wide_words
    numbers = [w for w in added if re.search(r"\d", w)]
    assert all(re.fullmatch(r"\d{1,2}|-\d|\d{4}-\d\d-\d\d|\w+_\w+", w) for w in numbers), numbers


@pytest.mark.slow
def test_json_prints_one_machine_readable_summary(tmp_path):
    done = _simulate(tmp_path, 80, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # stdout is the JSON and nothing else
    assert data["schema"] == 1 and data["trade_date"] == data["requested_date"] == "2026-11-27"
    assert (data["seed"], data["members"], data["orders_per_session"]) == (5, 9, 400)
    assert [s["name"] for s in data["sessions"]] == ["morning", "day", "evening"]
    assert data["order_messages"] == sum(s["orders"] for s in data["sessions"]) >= 1200
    trades = pq.read_table(tmp_path / data["files"]["trades.parquet"])
    assert data["trades"] == trades.num_rows == sum(s["trades"] for s in data["sessions"])
    assert data["trades"] == sum(i["trades"] for i in data["instruments"])
    kzt = trades.filter(trades.column("quote_asset").to_numpy(zero_copy_only=False) == "KZT")
    assert data["kzt_turnover_minor"] == sum(kzt.column("quote_amount").to_pylist())
    for asset in ("KZT", "USD"):  # obligations net to zero per asset over all members
        assert sum(m.get(asset, 0) for m in data["net_obligations_minor"].values()) == 0
    assert [s["date"] for s in data["settlements"]] == ["2026-11-27", "2026-11-30",
                                                        "2026-12-01"]
    assert set(data["official_rates"]) >= {"USDKZT"} and data["official_rates_from"] == \
        "2026-11-30"
    assert set(data["seconds"]) == {"trading", "netting", "settlement", "total"}
    assert set(data["member_names"]) >= {str(m) for m in range(1, 10)}


def test_in_a_terminal_the_bars_end_before_the_steps_after_trading():
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    with progress_for(console) as bars:
        assert isinstance(bars, ProgressBars)
        bars.update("morning", 10, 10)
        bars.phase("end of day: official rates")
    text = console.file.getvalue()
    assert 0 <= text.rindex("morning session") < text.index("end of day: official rates")


def test_in_a_terminal_each_day_of_a_run_gets_its_own_bars_below_its_steps():
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    with progress_for(console) as bars:
        bars.update("2026-11-27 morning", 10, 10)
        bars.phase("settling 2026-11-27")
        bars.update("2026-11-30 morning", 10, 10)
        bars.phase("settling 2026-11-30")
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", console.file.getvalue())  # colours off
    assert text.rindex("2026-11-27 morning session") < text.index("settling 2026-11-27") \
        < text.index("2026-11-30 morning session") < text.index("settling 2026-11-30")


def test_piped_progress_is_one_line_per_session_in_order():
    console = Console(file=io.StringIO(), width=80)
    with progress_for(console) as lines:
        assert isinstance(lines, ProgressLines)
        for session in ("morning", "day"):
            for done in (256, 512, 600):
                lines.update(session, done, 600)
        lines.update("evening", 300, 600)  # stopped early (idle agents): reported at the next step
        lines.phase("end of day: official rates")
    out = console.file.getvalue().splitlines()
    assert [line.split(",")[0] for line in out] == [
        "morning session: 600 order messages", "day session: 600 order messages",
        "evening session: 300 order messages", "end of day: official rates"]
