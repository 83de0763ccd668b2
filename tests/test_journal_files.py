"""The journal on disk: torn tails at every cut point, damage in the middle, newer versions,
empty journals, segments, durability policies (group commit really fsyncs), one writer."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import exchange
from exchange.journal import (
    VERSION,
    BeginDay,
    Cancel,
    CorruptJournal,
    Deposit,
    Durability,
    EndOfDay,
    JournalError,
    JournalReader,
    JournalWriteError,
    JournalWriter,
    OpenSession,
    Process,
    Refused,
    SettlementRun,
    TornTail,
    UnsupportedVersion,
    scan,
    truncate_to_last_good,
)
from exchange.journal import writer as writer_module
from exchange.journal.format import HEADER_SIZE, SegmentHeader

# the child imports the package this test imported (an installed one in CI, whose compiled
# modules src/ lacks), not src/
PACKAGE_ROOT = Path(exchange.__file__).resolve().parents[1]


def _write_small(folder: Path, durability: Durability | None = None, **options) -> list[int]:
    """A journal of a few commands of different kinds; returns each record's end offset."""
    with JournalWriter(folder, durability or Durability.none(), **options) as writer:
        writer.append(BeginDay(dt.date(2026, 11, 27)), 0.0)
        writer.append(OpenSession("morning"), 36_000.0)
        writer.submit(36_001.5, 3, 0, 0, 51_235, 10, 0)
        writer.cancel(36_002.0, 3, 1)
        writer.append(Deposit(4, "KZT", 10**9), 36_003.0)
        writer.process(36_004.0, np.arange(3, dtype="<i8"))
        writer.append(EndOfDay(), 63_000.0)
    return [e.offset for e in JournalReader(folder)] + [(folder / "000001.journal").stat().st_size]


def _records(folder: Path) -> list:
    return [(e.seq, e.time, e.command) for e in JournalReader(folder)]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, list[int], list]:
    folder = tmp_path_factory.mktemp("small") / "journal"
    bounds = _write_small(folder)
    return folder, bounds, _records(folder)


def test_every_cut_point_is_a_torn_tail_that_recovery_cuts(small, tmp_path):
    source, bounds, records = small
    data = (source / "000001.journal").read_bytes()
    assert bounds[0] == HEADER_SIZE and bounds[-1] == len(data) and len(records) == 7
    for cut in range(len(data)):
        folder = tmp_path / f"cut{cut}"
        folder.mkdir()
        (folder / "000001.journal").write_bytes(data[:cut])
        whole = sum(end <= cut for end in bounds[1:])  # records that survive the cut
        good_end = bounds[whole] if cut >= HEADER_SIZE else 0
        reader = JournalReader(folder)
        assert _records(folder) == records[:whole], cut
        list(reader)
        torn = cut not in bounds
        assert (reader.tail is not None) == torn, cut
        if torn:
            assert reader.tail.offset == good_end and reader.tail.garbage == cut - good_end
        cut_scan = truncate_to_last_good(folder)
        assert cut_scan.records == whole
        after = scan(folder)
        assert after.tail is None and after.records == whole
        with JournalWriter(folder, Durability.none()) as writer:  # it continues after the cut
            assert writer.append(EndOfDay(), 1.0) == whole
        assert _records(folder) == records[:whole] + [(whole, 1.0, EndOfDay())]
        shutil.rmtree(folder)


def test_a_flipped_byte_before_the_last_record_is_damage_in_the_middle(small, tmp_path):
    source, bounds, _ = small
    data = (source / "000001.journal").read_bytes()
    last = bounds[-2]  # where the last record starts
    for position in range(last):
        folder = tmp_path / f"flip{position}"
        folder.mkdir()
        damaged = bytearray(data)
        damaged[position] ^= 0x40
        (folder / "000001.journal").write_bytes(bytes(damaged))
        with pytest.raises(CorruptJournal) as caught:
            scan(folder)
        if position >= HEADER_SIZE:  # the record holding the byte is named
            start = max(b for b in bounds[:-1] if b <= position)
            assert caught.value.offset == start and f"byte {start}" in str(caught.value)
        with pytest.raises(CorruptJournal):
            list(JournalReader(folder))
        with pytest.raises(CorruptJournal):
            truncate_to_last_good(folder)  # refuses, and cuts nothing
        assert (folder / "000001.journal").read_bytes() == bytes(damaged)
        shutil.rmtree(folder)


def test_a_flipped_byte_in_the_last_record_is_a_tail(small, tmp_path):
    source, bounds, records = small
    data = bytearray((source / "000001.journal").read_bytes())
    data[bounds[-2] + 12] ^= 1
    folder = tmp_path / "j"
    folder.mkdir()
    (folder / "000001.journal").write_bytes(bytes(data))
    assert _records(folder) == records[:-1]
    assert scan(folder).tail.offset == bounds[-2]


def test_a_journal_of_a_newer_format_version_is_refused(small, tmp_path):
    source, _, _ = small
    data = (source / "000001.journal").read_bytes()
    folder = tmp_path / "newer"
    folder.mkdir()
    newer = SegmentHeader(1, 0, version=VERSION + 1).pack() + data[HEADER_SIZE:]
    (folder / "000001.journal").write_bytes(newer)
    for action in (lambda: scan(folder), lambda: list(JournalReader(folder)),
                   lambda: truncate_to_last_good(folder), lambda: JournalWriter(folder)):
        with pytest.raises(UnsupportedVersion, match=f"version {VERSION + 1} is newer than "
                                                     f"this exchange reads \\(up to {VERSION}"
                                                     f"\\)"):
            action()
    assert (folder / "000001.journal").read_bytes() == newer


def test_a_version_1_journal_is_read_and_continued_in_a_new_segment(small, tmp_path):
    """Version 2 only added a record kind: a version 1 journal reads as before, and a writer
    continuing it starts a version 2 segment rather than mixing versions in one file."""
    source, _, records = small
    folder = tmp_path / "old"
    folder.mkdir()
    data = (source / "000001.journal").read_bytes()
    old = SegmentHeader(1, 0, version=1).pack() + data[HEADER_SIZE:]
    (folder / "000001.journal").write_bytes(old)
    assert _records(folder) == records
    with JournalWriter(folder, Durability.fsync_each()) as writer:
        seq = writer.append(Refused("submit", -20), 1.0)
    assert seq == len(records)
    found = scan(folder)
    assert [s.version for s in found.segments] == [1, VERSION]
    assert found.segments[1].first_seq == len(records)
    assert [e.command for e in JournalReader(folder)][-1] == Refused("submit", -20)
    assert (folder / "000001.journal").read_bytes() == old


def test_a_new_journal_can_start_after_a_snapshot(tmp_path):
    """``first_seq``: the first record of a journal that carries on from a snapshot's state."""
    folder = tmp_path / "later"
    with JournalWriter(folder, Durability.fsync_each(), first_seq=500) as writer:
        assert writer.append(Cancel(1, 2), 3.0) == 500
    found = scan(folder)
    assert (found.records, found.first_seq) == (501, 500)
    assert [(e.seq, e.command) for e in JournalReader(folder)] == [(500, Cancel(1, 2))]
    with JournalWriter(folder, first_seq=7) as writer:  # an existing journal goes on
        assert writer.next_seq == 501
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="first_seq"):
            JournalWriter(tmp_path / "bad", first_seq=bad)


def test_an_empty_journal(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert list(JournalReader(empty)) == [] and scan(empty).records == 0
    assert scan(empty).last_good is None and truncate_to_last_good(empty).tail is None
    with JournalWriter(empty) as writer:  # a header, no record
        assert writer.next_seq == 0
    assert scan(empty).records == 0 and scan(empty).tail is None
    zero = tmp_path / "zero"  # a crash right after creating the first segment
    zero.mkdir()
    (zero / "000001.journal").write_bytes(b"")
    assert list(JournalReader(zero)) == [] and scan(zero).tail.offset == 0
    truncate_to_last_good(zero)
    assert not (zero / "000001.journal").exists()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        JournalReader(tmp_path / "missing")


def test_segments_roll_and_read_back_as_one_journal(tmp_path):
    folder = tmp_path / "j"
    with JournalWriter(folder, Durability.group(records=7, ms=None),
                       segment_bytes=200) as writer:
        for i in range(40):
            writer.cancel(float(i), 1, i)
    names = sorted(p.name for p in folder.glob("*.journal"))
    assert len(names) > 5 and names[0] == "000001.journal"
    assert all(p.stat().st_size <= 200 for p in folder.glob("*.journal"))
    entries = list(JournalReader(folder))
    assert [e.command.order_id for e in entries] == list(range(40))
    assert [e.seq for e in entries] == list(range(40))
    assert next(iter(JournalReader(folder, start=35))).seq == 35
    with JournalWriter(folder, segment_bytes=200) as writer:  # continues the last segment
        assert writer.next_seq == 40
        writer.cancel(0.0, 1, 40)
    assert scan(folder).records == 41


def test_a_missing_or_damaged_segment_before_the_last_is_damage(tmp_path):
    folder = tmp_path / "j"
    with JournalWriter(folder, segment_bytes=120) as writer:
        for i in range(12):
            writer.cancel(0.0, 1, i)
    segments = sorted(folder.glob("*.journal"))
    assert len(segments) >= 4
    cut = tmp_path / "cut"
    shutil.copytree(folder, cut)
    second = sorted(cut.glob("*.journal"))[1]
    second.write_bytes(second.read_bytes()[:-5])  # torn, but good records follow
    with pytest.raises(CorruptJournal, match="holds good records"):
        scan(cut)
    gap = tmp_path / "gap"
    shutil.copytree(folder, gap)
    sorted(gap.glob("*.journal"))[1].unlink()
    with pytest.raises(CorruptJournal, match="segment 2 is missing"):
        scan(gap)


def test_a_torn_tail_stops_the_writer_until_it_is_cut(small, tmp_path):
    source, bounds, _ = small
    folder = tmp_path / "j"
    shutil.copytree(source, folder)
    path = folder / "000001.journal"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(TornTail, match="truncate_to_last_good"):
        JournalWriter(folder)
    truncate_to_last_good(folder)
    with JournalWriter(folder) as writer:
        assert writer.next_seq == len(bounds) - 2


def test_one_writer_per_folder(tmp_path):
    with JournalWriter(tmp_path / "j"):
        with pytest.raises(JournalError, match="in use by a writer"):
            JournalWriter(tmp_path / "j")
        with pytest.raises(JournalError, match="in use by a writer"):
            truncate_to_last_good(tmp_path / "j")
    JournalWriter(tmp_path / "j").close()  # free again once closed


@pytest.fixture
def fsyncs(monkeypatch) -> list[int]:
    """Every fsync the writer makes of a segment file (the call still happens)."""
    calls: list[int] = []
    real = writer_module.fsync_file

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(writer_module, "fsync_file", counting)
    return calls


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.journal"))


def _until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.002)
    return condition()


def test_group_commit_fsyncs_every_n_records(tmp_path, fsyncs):
    folder = tmp_path / "j"
    writer = JournalWriter(folder, Durability.group(records=4, ms=None))
    created = len(fsyncs)  # the new segment's header
    for i in range(3):
        writer.cancel(0.0, 1, i)
    time.sleep(0.05)  # no time bound: three records wait as long as it takes
    assert len(fsyncs) == created and writer.durable_seq == 0 and writer.queued == 3
    assert _size(folder) == HEADER_SIZE  # nothing written yet
    writer.cancel(0.0, 1, 3)  # a whole group: the background thread syncs it
    assert _until(lambda: writer.durable_seq == 4)
    assert len(fsyncs) == created + 1 and scan(folder).records == 4  # on disk, readable
    writer.cancel(0.0, 1, 4)
    writer.sync()  # the venue's session close: everything, now
    assert len(fsyncs) == created + 2 and writer.durable_seq == 5 and scan(folder).records == 5
    writer.close()


def test_group_commit_appends_wait_for_the_disk_once_sixteen_groups_wait(tmp_path, monkeypatch):
    slow: list[int] = []

    def slow_fsync(fd: int) -> None:
        time.sleep(0.02)
        slow.append(fd)

    monkeypatch.setattr(writer_module, "fsync_file", slow_fsync)
    writer = JournalWriter(tmp_path / "j", Durability.group(records=4, ms=None))
    waiting = []
    for i in range(400):
        writer.cancel(0.0, 1, i)
        waiting.append(writer.queued)
        # not yet durable: under 16 groups waiting, under 16 more being written by the thread
        assert writer.next_seq - writer.durable_seq < 2 * 16 * 4
    assert max(waiting) < 64  # at 64 the append itself wrote and synced them
    assert max(waiting) >= 16  # the slow disk did fall behind by more than four groups
    assert len(slow) < 400 // 4  # and yet the disk was flushed a group at a time, or more
    writer.close()
    assert writer.durable_seq == 400 and scan(tmp_path / "j").records == 400


def test_group_commit_fsyncs_within_its_time_bound_without_more_appends(tmp_path, fsyncs):
    folder = tmp_path / "j"
    writer = JournalWriter(folder, Durability.group(records=1000, ms=20))
    created = len(fsyncs)
    writer.cancel(0.0, 1, 1)
    deadline = time.monotonic() + 5
    while writer.durable_seq < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert writer.durable_seq == 1 and len(fsyncs) == created + 1
    assert scan(folder).records == 1
    for i in range(5):  # a second group: the flusher wakes again
        writer.cancel(0.0, 1, i)
    while writer.durable_seq < 6 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert writer.durable_seq == 6
    writer.close()


def test_fsync_each_and_none(tmp_path, fsyncs):
    with JournalWriter(tmp_path / "each", Durability.fsync_each()) as writer:
        created = len(fsyncs)
        for i in range(3):
            writer.cancel(0.0, 1, i)
            assert writer.durable_seq == i + 1 and len(fsyncs) == created + i + 1
    before = len(fsyncs)
    with JournalWriter(tmp_path / "none", Durability.none()) as writer:
        writer.cancel(0.0, 1, 1)
        assert _size(tmp_path / "none") == HEADER_SIZE  # still in memory
        writer.sync()  # handed to the OS (a killed process keeps it), never fsynced
        assert scan(tmp_path / "none").records == 1
    assert len(fsyncs) == before and writer.durable_seq == 0


def test_a_failed_write_breaks_the_writer(tmp_path, monkeypatch):
    writer = JournalWriter(tmp_path / "j", Durability.fsync_each())

    def failing(fd: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_module, "write_all", failing)
    with pytest.raises(JournalWriteError, match="No space left"):
        writer.cancel(0.0, 1, 1)
    with pytest.raises(JournalWriteError, match="unusable"):
        writer.cancel(0.0, 1, 2)
    with pytest.raises(JournalWriteError):
        writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.sync()


@pytest.mark.parametrize("args, words", [
    (dict(mode="sometimes"), "mode"), (dict(mode="group", records=0), "records"),
    (dict(mode="group", records=True), "records"), (dict(mode="group", ms=-1), "ms"),
    (dict(mode="group", ms=float("inf")), "ms")])
def test_a_bad_durability_is_refused(args, words):
    with pytest.raises(ValueError, match=words):
        Durability(**args)


def test_bad_appends_journal_nothing(tmp_path):
    with JournalWriter(tmp_path / "j") as writer:
        with pytest.raises(TypeError, match="journal Command"):
            writer.append("submit")
        with pytest.raises(ValueError, match="time"):
            writer.append(EndOfDay(), float("nan"))
        with pytest.raises(ValueError, match="time"):
            writer.append(EndOfDay(), True)
        assert writer.next_seq == 0
    assert scan(tmp_path / "j").records == 0


@pytest.mark.parametrize("durability", [Durability.fsync_each(), Durability.group(records=2),
                                        Durability.none()], ids=str)
def test_large_batches_and_a_settlement_run(tmp_path, durability):
    """Batches of 64 KiB or more have their CRC written when they are taken to be written
    (with zlib, off the caller's thread under group commit): each reads back, checked, and a
    flipped byte inside one is damage."""
    orders = np.arange(300_000, dtype="<i8")
    rows = np.zeros(9_000, exchange.ORDER_DTYPE)
    rows["lots"] = np.arange(9_000)
    run = SettlementRun(dt.date(2026, 11, 30), "settle:2026-11-30",
                        {"on_fail": "roll", "roll_to": "2026-12-01"})
    with JournalWriter(tmp_path / "j", durability) as writer:
        writer.process(1.0, orders)
        writer.append(run, 2.0)
        writer.append(Process(rows[::2]), 3.0)  # not contiguous: copied once
        writer.process(4.0, rows)
        writer.cancel(5.0, 1, 2)
    entries = list(JournalReader(tmp_path / "j"))
    assert [e.command for e in entries[:4]] == [Process(orders), run, Process(rows[::2].copy()),
                                                Process(rows)]
    segment = tmp_path / "j" / "000001.journal"
    damaged = bytearray(segment.read_bytes())
    damaged[entries[3].offset + 5_000] ^= 0x01
    segment.write_bytes(bytes(damaged))
    with pytest.raises(CorruptJournal):
        scan(tmp_path / "j")


_CHILD = """
import sys
from exchange.journal import Durability, JournalWriter
writer = JournalWriter(sys.argv[1], Durability.fsync_each(), segment_bytes=4096)
i = 0
while True:
    writer.cancel(float(i), 7, i)
    print(i, flush=True)  # acknowledged: durable before this line
    i += 1
"""


def test_a_killed_writer_leaves_every_acknowledged_record_and_at_most_a_torn_tail(tmp_path):
    rng = np.random.default_rng(3)
    for attempt in range(4):
        folder = tmp_path / f"j{attempt}"
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(folder)],
                                 stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)})
        assert child.stdout is not None
        acknowledged = -1
        deadline = time.monotonic() + 30
        target = int(rng.integers(20, 400))
        while acknowledged < target and time.monotonic() < deadline:
            acknowledged = int(child.stdout.readline())
        child.send_signal(signal.SIGKILL)
        child.wait()
        truncate_to_last_good(folder)
        entries = list(JournalReader(folder))
        assert len(entries) > acknowledged
        assert [e.command.order_id for e in entries] == list(range(len(entries)))
