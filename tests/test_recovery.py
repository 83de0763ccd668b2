"""``Exchange.recover``: the latest good snapshot plus the journal after it, and what goes wrong.

The issue's list: a torn tail (cut; the state is the replay up to the last good record), a
flipped byte in the middle (CorruptJournal, nothing cut), a journal of a newer format version
(UnsupportedVersion), an empty journal and an empty folder, a snapshot without its journal,
recovery twice in a row (the same digest; calls after it carry on as the uninterrupted run),
and settlement runs in the journal that must not be applied twice to the ledger. A
configuration unlike the journal's is a ConfigMismatch, a ledger holding accounts a ValueError.
Every exchange here is closed (its journal durable) before it is recovered: the SIGKILL test is
elsewhere.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from durable_day import (
    ASSETS,
    MEMBERS,
    OPTIONS,
    THU,
    apply,
    build,
    flip,
    members,
    scripted_day,
    set_journal_version,
    start_day,
    state,
)
from exchange import Exchange
from exchange.clearing import Ledger
from exchange.journal import (
    CorruptJournal,
    Durability,
    JournalReader,
    JournalWriter,
    SettlementRun,
    Setup,
    UnsupportedVersion,
)
from exchange.journal.format import VERSION
from exchange.venue import recovery
from exchange.venue.config import ConfigMismatch
from exchange.venue.replay import replay
from exchange.venue.snapshot import SnapshotError, snapshot_paths

SEGMENT = "000001.journal"


def _day(folder, keep_snapshots=2):
    """A journaled exchange after the scripted day, closed, and its state."""
    ex = build(journal=folder, keep_snapshots=keep_snapshots)
    members(ex)
    scripted_day(ex)
    ex.close()
    return ex, state(ex)


def _replayed(folder, count):
    """A new exchange with the first ``count`` records of the journal in ``folder`` replayed."""
    ex = build()
    replay(ex, list(JournalReader(folder))[:count])
    return ex


def _recover(folder, **options):
    return Exchange.recover(folder, **{**OPTIONS, **options})


def _ops(seed, count):
    """A fixed stream of calls for ``durable_day.apply``, the next session opened after a
    third and two thirds of it (no clock moves: a journal holds the times of calls, not of
    ``set_time``)."""
    rng = random.Random(seed)
    symbols = ("USDKZT_TOD", "USDKZT_SWAP_1D", "KZTK")
    ops = []
    for i in range(count):
        if i in (count // 3, count * 2 // 3):  # morning -> day -> evening
            ops.append(("session",))
            continue
        roll = rng.random()
        member = rng.choice(MEMBERS)
        if roll < 0.7:
            ops.append(("submit", member, rng.choice(symbols), rng.randint(0, 1),
                        rng.randint(0, 8), rng.randint(1, 5), rng.choice([0, 0, 1])))
        elif roll < 0.8:
            ops.append(("cancel", member, rng.randint(1, 30)))
        elif roll < 0.9:
            ops.append(("modify", member, rng.randint(1, 30), rng.randint(0, 4),
                        rng.randint(0, 8)))
        else:
            ops.append(("deposit", member, rng.choice(ASSETS), rng.randint(1, 10**8)))
    return ops


def test_recovery_restores_the_latest_snapshot_and_replays_only_what_follows(tmp_path,
                                                                             monkeypatch):
    folder = tmp_path / "j"
    _, expected = _day(folder)
    records = len(list(JournalReader(folder)))
    latest = snapshot_paths(folder)[-1][0]
    replayed = []
    real = recovery.replay
    monkeypatch.setattr(recovery, "replay",
                        lambda ex, entries: real(ex, (replayed.append(e) or e for e in entries)))
    recovered = _recover(folder)
    assert state(recovered) == expected
    assert [e.seq for e in replayed] == list(range(latest, records)) and latest < records
    assert recovered.journal is not None and recovered.journal.next_seq == records
    recovered.close()


def test_a_torn_tail_is_cut_and_the_state_is_the_replay_to_the_last_good_record(tmp_path):
    folder = tmp_path / "j"
    _day(folder, keep_snapshots=0)
    entries = list(JournalReader(folder))
    segment = folder / SEGMENT
    size = segment.stat().st_size
    with open(segment, "r+b") as file:  # a crash in the middle of the last record's write
        file.truncate(size - 5)
    recovered = _recover(folder, resume=False)
    assert state(recovered) == state(_replayed(folder, len(entries) - 1))
    assert isinstance(entries[-1].command, SettlementRun)  # the one lost: nothing settled
    assert not any(run["run_id"].startswith("settle") for run in recovered.ledger.runs())
    assert segment.stat().st_size == entries[-1].offset  # cut at the last good record's end
    assert len(list(JournalReader(folder))) == len(entries) - 1


def test_garbage_after_the_last_record_is_cut_and_nothing_is_lost(tmp_path):
    folder = tmp_path / "j"
    _, expected = _day(folder)
    segment = folder / SEGMENT
    size = segment.stat().st_size
    with open(segment, "ab") as file:
        file.write(b"\xe5\x9f\x30\x00\x00\x00torn")
    recovered = _recover(folder)
    assert state(recovered) == expected
    assert segment.stat().st_size == size
    recovered.close()


def test_a_torn_tail_under_a_snapshot_is_a_clear_error(tmp_path):
    """Cutting the tail lost a record the newest snapshot holds: recovery refuses, as
    recovery.py documents, rather than give that record's number to another call."""
    folder = tmp_path / "j"
    _day(folder)
    entries = list(JournalReader(folder))
    latest = snapshot_paths(folder)[-1][0]
    with open(folder / SEGMENT, "r+b") as file:
        file.truncate(entries[latest - 1].offset + 7)  # inside the record before it
    with pytest.raises(SnapshotError, match=f"holds {latest} journal records but the journal"):
        _recover(folder)


def test_a_flipped_byte_mid_file_is_a_clear_error_and_nothing_is_cut(tmp_path):
    folder = tmp_path / "j"
    _day(folder)
    entries = list(JournalReader(folder))
    segment = folder / SEGMENT
    flip(segment, entries[5].offset + 12)  # inside record 5's time field
    damaged = segment.read_bytes()
    names = sorted(p.name for p in folder.iterdir())
    with pytest.raises(CorruptJournal, match=f"record at byte {entries[5].offset} is damaged "
                                             f"and a good record follows"):
        _recover(folder)
    assert segment.read_bytes() == damaged
    assert sorted(p.name for p in folder.iterdir()) == names


def test_a_journal_of_a_newer_format_version_is_refused(tmp_path):
    folder = tmp_path / "j"
    _day(folder)
    set_journal_version(folder / SEGMENT, VERSION + 1)
    before = (folder / SEGMENT).read_bytes()
    with pytest.raises(UnsupportedVersion, match=f"version {VERSION + 1} is newer than this "
                                                 f"exchange reads"):
        _recover(folder)
    assert (folder / SEGMENT).read_bytes() == before


def test_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds neither a journal nor a snapshot"):
        _recover(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _recover(tmp_path / "missing")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_journal_recovers_an_empty_exchange_that_journals_on(tmp_path):
    """A crash before the Setup record reached the disk leaves a segment with its header
    only: an empty exchange, whose journal starts again with its Setup record (so that it
    can be recovered again)."""
    JournalWriter(tmp_path / "j").close()
    recovered = _recover(tmp_path / "j")
    assert len(recovered.members) == 0 and recovered.date is None
    assert recovered.digest() == build().digest()
    members(recovered)
    expected = state(recovered)
    recovered.close()
    first = next(iter(JournalReader(tmp_path / "j"))).command
    assert isinstance(first, Setup)
    assert state(_recover(tmp_path / "j", resume=False)) == expected


def test_a_snapshot_without_its_journal_is_the_state(tmp_path):
    folder = tmp_path / "j"
    ex = build(journal=folder)
    members(ex)
    start_day(ex)
    for op in _ops(3, 40):
        apply(ex, op)
    ex.snapshot()
    expected = state(ex)
    ex.close()
    (folder / SEGMENT).unlink()
    recovered = _recover(folder)
    assert state(recovered) == expected
    apply(recovered, ("deposit", 2, "USD", 7))
    after = state(recovered)
    recovered.close()
    assert state(_recover(folder, resume=False)) == after  # its journal after the snapshot


def test_recovery_twice_in_a_row_and_after_more_calls_continues_as_the_uninterrupted_run(
        tmp_path):
    ops = _ops(11, 160)
    straight = build()
    members(straight)
    start_day(straight)
    answers = [apply(straight, op) for op in ops]

    folder = tmp_path / "j"
    first = build(journal=folder)
    members(first)
    start_day(first)
    assert [apply(first, op) for op in ops[:80]] == answers[:80]
    at_crash = state(first)
    assert at_crash["books"]  # orders rest at the crash
    first.close()
    once = _recover(folder, durability=Durability.fsync_each())
    assert state(once) == at_crash
    assert once.journal.durability == Durability.fsync_each()
    once.close()
    twice = _recover(folder)
    assert state(twice) == at_crash
    assert [apply(twice, op) for op in ops[80:]] == answers[80:]
    assert state(twice) == state(straight)
    twice.close()
    assert state(_recover(folder, resume=False)) == state(straight)
    assert len(straight.trades()) > 10


def test_a_settlement_run_is_applied_to_the_ledger_once(tmp_path):
    """The end of day's snapshot holds the ledger before the settlement run after it; a second
    run of the same date (answered from the ledger), an on-demand snapshot after them, and a
    deposit after that: however recovery starts, the balances are the uninterrupted run's."""
    folder = tmp_path / "j"
    ex = build(journal=folder, keep_snapshots=5)
    members(ex)
    scripted_day(ex)
    settled = list(ex.ledger.accounts())
    ex.settle(THU)  # the same run id: answered from the ledger, nothing moves
    assert list(ex.ledger.accounts()) == settled
    ex.close()
    recovered = _recover(folder)  # the end of day's snapshot, then both SettlementRun records
    assert list(recovered.ledger.accounts()) == settled
    runs = [run["run_id"] for run in recovered.ledger.runs()]
    assert [run for run in runs if run.startswith("settle")] == [f"settle:{THU}"]
    recovered.snapshot()
    recovered.deposit(2, "USD", 5)
    expected = state(recovered)
    recovered.close()
    again = _recover(folder, resume=False)  # the on-demand snapshot, then the deposit
    assert state(again) == expected
    assert again.ledger.balance(2, "USD") == {(m, a): b for m, a, b in settled}[2, "USD"] + 5


def test_a_ledger_holding_accounts_is_refused_before_anything_is_cut(tmp_path):
    """The crashed process's own ledger already holds the journal's deposits (and maybe its
    settlement runs): replaying into it would make them twice."""
    path = tmp_path / "ledger.sqlite"
    ex = build(journal=tmp_path / "j", ledger=Ledger(str(path)), keep_snapshots=0)
    members(ex)
    scripted_day(ex)
    ex.close()
    ex.ledger.close()
    with open(tmp_path / "j" / SEGMENT, "ab") as file:
        file.write(b"\xe5\x9f torn")
    size = (tmp_path / "j" / SEGMENT).stat().st_size
    crashed = Ledger(str(path))
    with pytest.raises(ValueError, match="ledger= holds accounts already"):
        _recover(tmp_path / "j", ledger=crashed)
    assert (tmp_path / "j" / SEGMENT).stat().st_size == size  # the tail is still there
    crashed.close()
    fresh = Ledger(str(tmp_path / "new.sqlite"))
    recovered = _recover(tmp_path / "j", ledger=fresh, resume=False)
    assert state(recovered) == state(_replayed(tmp_path / "j", None))


@pytest.mark.parametrize("snapshots", [0, 2], ids=["journal only", "with snapshots"])
def test_options_unlike_the_journal_are_a_config_mismatch(snapshots, tmp_path):
    folder = tmp_path / "j"
    _day(folder, keep_snapshots=snapshots)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ConfigMismatch, match="reference_rates.USDKZT differs"):
        _recover(folder, reference_rates={"USDKZT": "471.00"})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


_CHILD = """
import sys
sys.path[:0] = [sys.argv[1]]
from exchange.codes import CODES
CODES.register_instrument("AAA_FIRST", 0)  # other codes than the process that wrote it
for name in ("AAA", "USD", "KZTK"):
    CODES.asset.code(name)
from durable_day import OPTIONS
from exchange import Exchange
ex = Exchange.recover(sys.argv[2], resume=False, **OPTIONS)
table = ex.trades_table()
print(ex.digest(), ",".join(table.column("instrument").to_pylist()))
"""


def test_another_process_with_other_codes_recovers_the_same_trades(tmp_path):
    """Trade records hold codes a process interns in the order it meets names: a snapshot
    restored in a process that met other names first must still name the right instruments
    (and give the same digest)."""
    folder = tmp_path / "j"
    ex, _ = _day(folder)
    assert snapshot_paths(folder)  # the recovery below starts from a snapshot
    tests = str(Path(__file__).resolve().parent)
    src = str(Path(__import__("exchange").__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-c", _CHILD, tests, str(folder)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": src})
    assert done.returncode == 0, done.stderr
    digest, names = done.stdout.split()
    assert names.split(",") == ex.trades_table().column("instrument").to_pylist()
    assert names.split(",") == ["USDKZT_TOD", "USDKZT_SWAP_1D", "KZTK"]
    assert digest == ex.digest()
