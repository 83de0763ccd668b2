"""Kill -9 in the middle of a settlement run: the file holds all of the run or none of it.

A child process settles a big day against a file ledger and is SIGKILLed while inside the run's
transaction (it signals through ``Ledger.run_hook``, a test-only hook called at fixed stages of
``post_run``). Afterwards the ledger must open cleanly and equal, table by table, either the
state before the run or the state an uninterrupted run produces.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import exchange
from exchange.clearing import Ledger, settle
from exchange.clearing.synthetic import INSTRUMENTS, random_trades
from exchange.codes import CODES

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

DAY = "2024-01-02"
ROLL = "2024-01-03"
MEMBERS = 300
TRADES = 60_000
# The child must import the very package this test imported (the installed one in CI, src/ in an
# editable install), never an uncompiled source tree.
PACKAGE_ROOT = str(Path(exchange.__file__).resolve().parents[1])

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from exchange.clearing import Ledger, settle
    from exchange.clearing.synthetic import random_trades
    path, marker, stage, pause = sys.argv[1:5]
    ledger = Ledger(path)
    trades = random_trades({n}, members={members}, gross_share=0.5, seed=11)  # the parent's trades
    def hook(current):
        if current == stage:
            with open(marker, "w") as f:
                f.write(str(time.time()))
            time.sleep(float(pause))
    ledger.run_hook = hook
    settle(ledger, "{day}", trades, roll_to="{roll}")
    print("done")
    """
).format(day=DAY, roll=ROLL, n=TRADES, members=MEMBERS)


def dump(path: Path) -> dict[str, list]:
    """Every table's rows, sorted; run timestamps left out (they differ between runs)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {}
        for table in tables:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "created_at"]
            out[table] = sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
        return out
    finally:
        conn.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A funded file ledger, the day's trades on disk, and the state after a clean run."""
    base = tmp_path_factory.mktemp("crash")
    path = base / "before.sqlite"
    assets = sorted({i[1] for i in INSTRUMENTS} | {i[2] for i in INSTRUMENTS})
    rng = np.random.default_rng(7)
    with Ledger(path) as ledger:
        ledger.open_accounts((m, a) for m in range(1, MEMBERS + 1) for a in assets)
        # most members are rich, every tenth is broke: the run has failures, rolls and CCP exposure
        rows = [(m, a, int(rng.integers(10**12, 10**13))) for m in range(1, MEMBERS + 1) if m % 10 for a in assets]
        ledger.deposit_many(rows)
    trades = random_trades(TRADES, members=MEMBERS, gross_share=0.5, seed=11)
    after_path = base / "after.sqlite"
    shutil.copy(path, after_path)
    with Ledger(after_path) as ledger:
        stamps = {}
        ledger.run_hook = lambda stage: stamps.setdefault(stage, time.perf_counter())
        result = settle(ledger, DAY, trades, roll_to=ROLL)
        stamps["end"] = time.perf_counter()
    assert result.failed_members and (result.gross["status"] == CODES.status.code("failed")).any()
    return dict(path=path, trades=trades, before=dump(path), after=dump(after_path),
                run_seconds=stamps["end"] - stamps["begin"])


def run_child(db: Path, marker: Path, stage: str, pause: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(marker), stage, str(pause)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(marker: Path, child: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if child.poll() is not None:
            raise AssertionError(f"child exited early: {child.communicate()}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError("child never reached the run")
        time.sleep(0.01)


def kill(child: subprocess.Popen) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    child.communicate()


@pytest.mark.parametrize("stage", ["balances", "journal", "commit"])
def test_killed_inside_the_transaction_leaves_the_state_before(setup, tmp_path, stage):
    db = tmp_path / "ledger.sqlite"
    shutil.copy(setup["path"], db)
    marker = tmp_path / "inside"
    child = run_child(db, marker, stage, pause=600)
    wait_for(marker, child)
    kill(child)
    assert child.returncode == -signal.SIGKILL
    with Ledger(db) as ledger:  # opens cleanly: SQLite rolls the hot journal back
        ledger.verify()
    assert dump(db) == setup["before"]
    # and the run can then be done for real, giving exactly the clean run's state
    with Ledger(db) as ledger:
        assert settle(ledger, DAY, setup["trades"], roll_to=ROLL).status == "settled"
    assert dump(db) == setup["after"]


def test_killed_at_a_random_moment_leaves_before_or_after(setup, tmp_path):
    outcomes = []
    for attempt in range(4):
        db = tmp_path / f"ledger{attempt}.sqlite"
        shutil.copy(setup["path"], db)
        marker = tmp_path / f"begin{attempt}"
        child = run_child(db, marker, "begin", pause=0)
        wait_for(marker, child)
        time.sleep(random.Random(attempt).uniform(0, 1.5 * setup["run_seconds"]))
        kill(child)
        with Ledger(db) as ledger:
            ledger.verify()
        state = dump(db)
        assert state in (setup["before"], setup["after"])
        outcomes.append("after" if state == setup["after"] else "before")
    print("outcomes:", outcomes)
