"""Kill -9 a journaled simulated day at random moments, recover, and compare with a run that was
not killed (issue 11, "Proof").

A child process runs ``run_days(..., journal=DIR)`` (what ``python -m exchange simulate
--journal DIR`` runs, without the report) and is SIGKILLed:

* at random moments spread over the trading day: the parent draws (seeded) one byte offset in
  each tenth of the day's journal, watches the child's journal file grow, and kills the child
  as soon as the file reaches the offset. The child runs freely meanwhile, so the kill lands
  wherever it happens to be (inside a call, a journal write, a snapshot, the next group
  commit); the records wholly below the offset were on the disk already, so the recovered
  exchange must hold at least those;
* during a settlement run: the child's ledger has a hook at fixed stages of ``post_run`` (inside
  its SQLite transaction) and a listener called after the run commits, before the exchange
  journals its SettlementRun record. When the run of a chosen date reaches a chosen stage, the
  child prints ``paused <date> <stage>`` and sleeps; the parent kills it on reading that line,
  so the kill lands while the child is inside ``Exchange.settle``. The journal agrees: the
  recovered exchange holds every record up to the last sync before that run (the end of day or
  the run before) and not the run's own record.

The uninterrupted run is the same child, not killed; the simulator is deterministic, so the
killed children's journals are prefixes of its journal. After each kill, ``Exchange.recover``
with the simulator's options must give the digest of the uninterrupted journal replayed to the
same number of records (``journal.next_seq`` of the recovered exchange). The simulator's agents
are not in the journal, so the day is continued with the uninterrupted journal's remaining
records, made as live calls on the recovered exchange (which journals on into the folder):
the digest (books, holds, trades, ledger balances) must then be the uninterrupted run's final
one, so a settlement run cut by the kill was neither lost nor applied twice. The folder's
journal must then be the uninterrupted one record for record, and replaying it from scratch,
or recovering it again, must give the same final digest.

Times (2-core machine, one run): about 18 s for the single day (ten random kills 12 s, three
in settlement runs 4 s), 4 s for the three days.
"""
from __future__ import annotations

import bisect
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

import exchange
from exchange import Exchange
from exchange.clearing import Ledger
from exchange.journal import (
    BeginDay,
    CloseSession,
    EndOfDay,
    Entry,
    JournalReader,
    OpenSession,
    Refused,
    SettlementRun,
)
from exchange.journal.files import segment_paths
from exchange.sim import default_scenario
from exchange.sim.day import exchange_options
from exchange.sim.scenario import Scenario
from exchange.venue.replay import apply, replay

needs_sigkill = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

SEED, MEMBERS, START = 5, 12, dt.date(2026, 11, 27)
DAY_ORDERS = 12_000  # per session: about 36,000 journal records, 0.5 s of trading
DAYS3_ORDERS = 4_000
RANDOM_KILLS = 10
# The child must import the very package this test imported (the installed one in CI).
PACKAGE_ROOT = str(Path(exchange.__file__).resolve().parents[1])

CHILD = textwrap.dedent(
    """
    import datetime as dt
    import sys
    import time

    import exchange.sim.day as sim_day
    from exchange.codes import CODES
    from exchange.sim import default_scenario, run_days
    from exchange.sim.replayed import simulate_setup

    folder, days, orders, pause_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    seed, members, start = {seed}, {members}, dt.date.fromisoformat("{start}")
    for k in range(int(sys.argv[5])):  # names that take this process's first registry codes
        CODES.register_instrument(f"OTHER{{k}}", 0)
        CODES.asset.code(f"OTHER{{k}}")
    phase = [""]

    def pause(stage):
        # pause_at is "<date> <stage>" (or "-"): the settlement run of that date, at that stage
        if phase[0] == "settling " + pause_at.split()[0] and stage == pause_at.split()[-1]:
            print("paused", pause_at, flush=True)
            time.sleep(600)  # the parent kills us here

    open_ledger = sim_day._open_ledger

    def instrumented(path):
        ledger = open_ledger(path)
        ledger.run_hook = pause  # the stages of Ledger.post_run, inside its transaction
        ledger.add_listener(lambda notice: pause("committed"))  # after COMMIT
        return ledger

    sim_day._open_ledger = instrumented
    run = run_days(default_scenario(seed=seed, members=members, orders=orders), start=start,
                   days=days, orders=orders, journal=folder,
                   phase=lambda text: phase.__setitem__(0, text),
                   setup=simulate_setup(seed, members, orders, start, days))
    print("finished", run.exchange.digest(), flush=True)
    """
).format(seed=SEED, members=MEMBERS, start=START.isoformat())


def start_child(folder: Path, days: int, orders: int, pause_at: str = "-",
                other_names: int = 0) -> subprocess.Popen:
    """The child simulating ``days`` days into the journal ``folder``; see CHILD."""
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(days), str(orders),
                             pause_at, str(other_names)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_child(folder: Path, days: int, orders: int, other_names: int = 0) -> str:
    """Run the child to the end; returns the digest it printed of its exchange."""
    child = start_child(folder, days, orders, other_names=other_names)
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0 and out.startswith("finished "), err
    return out.split()[1]


def kill(child: subprocess.Popen) -> None:
    """SIGKILL ``child``; it must not have ended before (its exit status says which)."""
    os.kill(child.pid, signal.SIGKILL)
    _, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, f"the child was not killed: {err}"


def kill_at_size(child: subprocess.Popen, folder: Path, size: int) -> None:
    """Kill ``child`` once its journal file holds ``size`` bytes."""
    deadline = time.monotonic() + 120
    while True:
        segments = segment_paths(folder) if folder.exists() else []
        if segments and sum(path.stat().st_size for _, path in segments) >= size:
            break
        if child.poll() is not None:
            raise AssertionError(f"the child ended before the kill: {child.communicate()}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError("the child's journal never reached the kill point")
        time.sleep(0.0005)
    kill(child)


def kill_when_paused(child: subprocess.Popen, pause_at: str) -> None:
    """Kill ``child`` once it says it is paused at ``pause_at`` (inside a settlement run)."""
    assert child.stdout is not None
    line = child.stdout.readline()
    if line != f"paused {pause_at}\n":
        child.kill()
        raise AssertionError(f"the child never paused at {pause_at}: {line!r} "
                             f"{child.communicate()}")
    kill(child)


def fresh_exchange(scenario: Scenario) -> Exchange:
    return Exchange(ledger=Ledger(), **exchange_options(scenario))


def settlement_runs(ledger: Ledger) -> list[str]:
    """The ids of the settlement runs ``ledger`` holds, in the order they were made."""
    return [run["run_id"] for run in ledger.runs() if run["kind"] == "settlement"]


@dataclass
class Reference:
    """The uninterrupted run: its journal's records, and the final digest."""

    scenario: Scenario
    entries: list[Entry]
    final: str
    settled: list[str]  # the ledger's settlement runs, in order
    size: int  # bytes of its journal file

    @classmethod
    def run(cls, folder: Path, days: int, orders: int) -> Reference:
        digest = run_child(folder, days, orders)
        ((_, segment),) = segment_paths(folder)  # one segment: byte offsets are file offsets
        scenario = default_scenario(seed=SEED, members=MEMBERS, orders=orders)
        entries = list(JournalReader(folder))
        exchange = fresh_exchange(scenario)
        assert replay(exchange, entries) == len(entries)
        assert exchange.digest() == digest  # the child's own, in another process
        return cls(scenario, entries, digest, settlement_runs(exchange.ledger),
                   segment.stat().st_size)

    def index(self, kind: type, date: dt.date | None = None, nth: int = 0) -> int:
        """The index of the ``nth`` record of ``kind`` (of ``date`` if given)."""
        found = [e.seq for e in self.entries if isinstance(e.command, kind)
                 and (date is None or e.command.date == date)]
        return found[nth]

    def whole_records_below(self, size: int) -> int:
        """How many records end at or before byte ``size`` of the journal file."""
        ends = [e.offset for e in self.entries[1:]] + [self.size]
        return bisect.bisect_right(ends, size)

    def last_sync_before(self, seq: int) -> int:
        """The index of the last record before ``seq`` after which the exchange syncs."""
        synced = (CloseSession, EndOfDay, SettlementRun)
        return max(e.seq for e in self.entries[:seq] if isinstance(e.command, synced))

    def digests_at(self, counts: Iterable[int]) -> dict[int, str]:
        """The digest after each of ``counts`` records, replayed in one pass."""
        wanted, digests = set(counts), {}
        exchange = fresh_exchange(self.scenario)

        def observe(entry: Entry, _: object) -> None:
            if entry.seq + 1 in wanted:
                digests[entry.seq + 1] = exchange.digest()

        replay(exchange, self.entries[:max(wanted)], observe)
        return digests


def continue_live(exchange: Exchange, entries: Iterable[Entry]) -> None:
    """Make each record's call on ``exchange`` as the simulator's agents did, at the record's
    time, journaled as usual (not a replay). A refusal is journaled with its call and reason
    only, not its arguments, so it is counted and journaled here the way the exchange does
    for a refused call."""
    for entry in entries:
        exchange.set_time(entry.time)
        if isinstance(entry.command, Refused):
            assert exchange.journal is not None
            exchange.journal.refused(entry.time, entry.command.call, entry.command.code)
        apply(exchange, entry.command)


@dataclass
class Recovered:
    count: int  # journal records the recovered exchange holds
    digest: str  # its digest, before it was continued
    date: dt.date | None  # its trading date
    settled: list[str]  # its ledger's settlement runs


def recover_and_finish(folder: Path, reference: Reference) -> Recovered:
    """Recover ``folder``, continue it to the end of the run, and check the end state."""
    options = exchange_options(reference.scenario)
    recovered = Exchange.recover(folder, **options)
    try:
        assert recovered.journal is not None
        found = Recovered(recovered.journal.next_seq, recovered.digest(), recovered.date,
                          settlement_runs(recovered.ledger))
        assert found.count < len(reference.entries), "the kill came after the run's end"
        continue_live(recovered, reference.entries[found.count:])
        assert recovered.digest() == reference.final
        assert settlement_runs(recovered.ledger) == reference.settled  # each once
    finally:
        recovered.close()
    entries = list(JournalReader(folder))
    assert [(e.time, e.command) for e in entries] == \
        [(e.time, e.command) for e in reference.entries]
    replayed = fresh_exchange(reference.scenario)
    replay(replayed, entries)
    assert replayed.digest() == reference.final
    assert Exchange.recover(folder, resume=False, **options).digest() == reference.final
    return found


def assert_matches_reference(found: dict[str, Recovered], reference: Reference) -> None:
    """Each recovered digest is the uninterrupted run's after as many records."""
    expected = reference.digests_at(r.count for r in found.values())
    for name, recovered in found.items():
        assert recovered.digest == expected[recovered.count], \
            f"{name}: recovered {recovered.count} records, digests differ"


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Reference:
    return Reference.run(tmp_path_factory.mktemp("kill") / "reference", 1, DAY_ORDERS)


@pytest.mark.slow
@needs_sigkill
def test_killed_at_random_moments_of_the_day_recovers_to_the_same_state(day, tmp_path):
    rng = random.Random(20261127)
    first = day.entries[day.index(BeginDay) + 1].offset
    last = day.entries[day.index(EndOfDay)].offset
    tenth = (last - first) / RANDOM_KILLS
    # one kill point in each tenth of the trading day, short of its very end (so that the
    # parent, polling, still kills the child before the day is over)
    targets = [int(first + tenth * (k + 0.9 * rng.random())) for k in range(RANDOM_KILLS)]
    found = {}
    for k, target in enumerate(targets):
        folder = tmp_path / f"kill{k}"
        kill_at_size(start_child(folder, 1, DAY_ORDERS), folder, target)
        found[f"kill {k} at byte {target}"] = recovered = recover_and_finish(folder, day)
        assert recovered.count >= day.whole_records_below(target)
    opens = [day.index(OpenSession, nth=n) for n in range(3)] + [len(day.entries)]
    sessions = {bisect.bisect_right(opens, r.count - 1) for r in found.values()}
    assert sessions == {1, 2, 3}, "the kills did not land in every session of the day"
    assert_matches_reference(found, day)


@pytest.mark.slow
@needs_sigkill
@pytest.mark.parametrize("run, stage", [(0, "begin"), (1, "journal"), (-1, "committed")])
def test_killed_during_a_settlement_run_recovers_it_once(day, tmp_path, run, stage):
    runs = [e for e in day.entries if isinstance(e.command, SettlementRun)]
    assert len(runs) >= 3, "the day has too few settlement runs for this test"
    record = runs[run]
    pause_at = f"{record.command.date.isoformat()} {stage}"
    folder = tmp_path / "kill"
    kill_when_paused(start_child(folder, 1, DAY_ORDERS, pause_at), pause_at)
    recovered = recover_and_finish(folder, day)
    # killed inside the run: everything synced before it is there, its own record is not;
    # the recovered ledger holds the runs before it and not the run itself
    assert day.last_sync_before(record.seq) < recovered.count <= record.seq
    assert recovered.settled == day.settled[:day.settled.index(record.command.run_id)]
    assert_matches_reference({pause_at: recovered}, day)


@pytest.mark.slow
@needs_sigkill
def test_killed_on_day_three_recovers_into_day_three(tmp_path):
    days = Reference.run(tmp_path / "reference", 3, DAYS3_ORDERS)
    begins = [e for e in days.entries if isinstance(e.command, BeginDay)]
    assert len(begins) == 3
    third = begins[2].command.date
    rng = random.Random(3)
    first = days.entries[begins[2].seq + 1].offset
    last = days.entries[days.index(EndOfDay, nth=2)].offset
    target = int(first + (last - first) * 0.9 * rng.random())
    folder = tmp_path / "trading"
    kill_at_size(start_child(folder, 3, DAYS3_ORDERS), folder, target)
    found = {"trading": recover_and_finish(folder, days)}
    assert found["trading"].count >= days.whole_records_below(target)
    settling = days.entries[days.index(SettlementRun, third)]
    pause_at = f"{third.isoformat()} journal"
    folder = tmp_path / "settling"
    kill_when_paused(start_child(folder, 3, DAYS3_ORDERS, pause_at), pause_at)
    found["settling"] = recover_and_finish(folder, days)
    assert days.last_sync_before(settling.seq) < found["settling"].count <= settling.seq
    assert settling.command.run_id not in found["settling"].settled
    for recovered in found.values():
        assert recovered.date == third and recovered.count > begins[2].seq
    assert_matches_reference(found, days)


def test_recovery_into_a_ledger_that_holds_accounts_is_refused(tmp_path):
    """A killed run's own ledger file is no place to recover into: the journal's deposits
    (and settlement runs) would be made on it a second time. Refused, nothing changed."""
    scenario = default_scenario(seed=SEED, members=MEMBERS, orders=DAYS3_ORDERS)
    spec = scenario.members[0]
    folder, path = tmp_path / "journal", tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        venue = Exchange(ledger=ledger, journal=folder, **exchange_options(scenario))
        venue.add_member(spec.id, spec.name, spec.regime)
        venue.deposit(spec.id, "KZT", 1_000)
        venue.close()
    journal = (folder / "000001.journal").read_bytes()
    with Ledger(path) as ledger, pytest.raises(ValueError, match="ledger"):
        Exchange.recover(folder, ledger=ledger, **exchange_options(scenario))
    with Ledger(path) as ledger:
        assert ledger.balance(spec.id, "KZT") == 1_000
    assert (folder / "000001.journal").read_bytes() == journal
    recovered = Exchange.recover(folder, resume=False, **exchange_options(scenario))
    assert recovered.ledger.balance(spec.id, "KZT") == 1_000


def test_snapshots_and_digests_do_not_depend_on_the_process_registry_codes(tmp_path):
    """Registry codes of instruments and assets are process-local (exchange/codes.py): the
    child gives its first codes to other names, so its trade records' codes differ from this
    process's. A snapshot it wrote must still restore the same trades here, and its digest
    must be the one this process computes of the same state."""
    folder = tmp_path / "journal"
    digest = run_child(folder, 1, DAYS3_ORDERS, other_names=3)
    options = exchange_options(default_scenario(seed=SEED, members=MEMBERS, orders=DAYS3_ORDERS))
    replayed = Exchange(ledger=Ledger(), **options)
    replay(replayed, JournalReader(folder))
    assert replayed.digest() == digest
    recovered = Exchange.recover(folder, resume=False, **options)  # from a snapshot
    assert len(replayed.trades()) > 0
    assert recovered.trades().tobytes() == replayed.trades().tobytes()
    assert recovered.digest() == digest
    portable = recovered.capture.portable(recovered.trades()[:3])
    assert recovered.capture.local(portable).tobytes() == recovered.trades()[:3].tobytes()
    portable["instrument"][1] = len(recovered.instruments)
    with pytest.raises(ValueError, match=f"instrument numbers are not in "
                                         f"0..{len(recovered.instruments) - 1}"):
        recovered.capture.local(portable)
