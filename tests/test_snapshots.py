"""Snapshots: the whole trading state in one file, written at a session close and on demand.

Restoring a snapshot gives an equal state (digest, trades, books, funds, refusals, day and
sessions) and equal behaviour afterwards: hypothesis draws random order streams over spot, a
swap and a security, with a pre-funded, a deferred and a credit-limited member and session
changes; the stream is cut at a random point, the exchange snapshotted and restored, and both
the original and the restored exchange take the rest of the stream: every answer and the final
state must agree. The snapshot at each session close of a journaled day equals a replay of the
journal up to its record. A snapshot of a newer format version or a damaged one is refused by
``read`` with a SnapshotError naming the file, and skipped with a warning by recovery.
"""
from __future__ import annotations

import io
import json
import logging
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_day import (
    ASSETS,
    LOW,
    MEMBERS,
    OPTIONS,
    apply,
    build,
    flip,
    members,
    scripted_day,
    start_day,
    state,
)
from exchange import Exchange
from exchange.journal import JournalReader
from exchange.venue import snapshot
from exchange.venue.config import ConfigMismatch
from exchange.venue.replay import replay
from exchange.venue.snapshot import SnapshotError, snapshot_name, snapshot_paths

SYMBOLS = sorted(LOW)
member = st.sampled_from(MEMBERS * 6 + (9,))  # 9: unknown, refused
side = st.integers(0, 1)
order_id = st.integers(1, 20)
submit = st.tuples(st.just("submit"), member, st.sampled_from(SYMBOLS), side,
                   st.integers(0, 8), st.integers(1, 6), st.sampled_from([0, 0, 0, 1, 2, 3]))


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of ``choices`` (weight, strategy), drawn in proportion to the weights."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


#: A stream: mostly orders, with a session change (morning -> day -> evening -> end of day)
#: now and then.
stream = st.lists(weighted(
    (50, submit),
    (5, st.tuples(st.just("market"), member, st.sampled_from(SYMBOLS), side,
                  st.integers(1, 6))),
    (8, st.tuples(st.just("cancel"), member, order_id)),
    (8, st.tuples(st.just("modify"), member, order_id, st.integers(0, 6), st.integers(0, 8))),
    (3, st.tuples(st.just("deposit"), st.sampled_from(MEMBERS), st.sampled_from(ASSETS),
                  st.integers(1, 10**9))),
    (3, st.tuples(st.just("withdraw"), st.sampled_from(MEMBERS), st.sampled_from(ASSETS),
                  st.integers(1, 10**11))),
    (4, st.tuples(st.just("time"), st.floats(0.5, 600))),
    (2, st.just(("session",))),
), min_size=30, max_size=120)


def _restored(ex: Exchange, path: Path) -> Exchange:
    """A new exchange with the snapshot of ``ex`` written to ``path`` restored into it."""
    assert ex.snapshot(path) == path
    copy = build()
    snapshot.restore(copy, snapshot.read(path))
    return copy


@settings(max_examples=40)
@given(ops=stream, cut=st.floats(0, 1))
def test_a_restored_snapshot_equals_the_original_and_behaves_the_same(ops, cut):
    at = int(cut * len(ops))
    ex = build()
    members(ex)
    start_day(ex)
    answers = [apply(ex, op) for op in ops[:at]]
    with tempfile.TemporaryDirectory() as folder:
        copy = _restored(ex, Path(folder) / "state.npz")
    assert state(copy) == state(ex)
    for op in ops[at:]:
        answers.append(apply(ex, op))
        assert apply(copy, op) == answers[-1], op
    assert state(copy) == state(ex)


def test_the_operations_trade_refuse_and_rest():
    """The operations the property draws trade, rest and are refused (their price ranges
    cross), so that the states it compares hold fills, orders and refusal counts."""
    ex = build()
    members(ex)
    start_day(ex)
    for lots in (3, 1):
        apply(ex, ("submit", 2, "USDKZT_TOD", 0, 5, lots, 0))
        apply(ex, ("submit", 1, "USDKZT_TOD", 1, 4, 1, 0))
    assert apply(ex, ("submit", 9, "KZTK", 0, 1, 1, 0)) == "refused UNKNOWN_MEMBER"
    assert len(ex.trades()) == 2 and len(ex.book("USDKZT_TOD")) == 2


def test_the_snapshot_of_each_session_close_equals_the_journal_replayed_to_it(tmp_path):
    folder = tmp_path / "j"
    ex = build(journal=folder, keep_snapshots=10)  # keep every snapshot
    members(ex)
    scripted_day(ex)
    ex.close()
    found = snapshot_paths(folder)
    closes = [e.seq + 1 for e in JournalReader(folder)
              if type(e.command).__name__ in ("CloseSession", "EndOfDay")]
    assert [seq for seq, _ in found] == closes and len(closes) == 2
    entries = list(JournalReader(folder))
    for seq, path in found:
        replayed = build()
        replay(replayed, entries[:seq])
        restored = build()
        snapshot.restore(restored, snapshot.read(path))
        assert state(restored) == state(replayed)
        assert snapshot.read(path).seq == seq


def test_only_the_newest_snapshots_are_kept(tmp_path):
    ex = build(journal=tmp_path / "j", keep_snapshots=1)
    members(ex)
    scripted_day(ex)
    assert [p.name for _, p in snapshot_paths(tmp_path / "j")] == \
        [snapshot_name(ex.journal.next_seq - 1)]  # the end of the day; the settlement after
    ex.close()


def test_an_on_demand_snapshot_goes_into_the_journal_and_recovers(tmp_path):
    ex = build(journal=tmp_path / "j")
    members(ex)
    start_day(ex)
    apply(ex, ("submit", 2, "USDKZT_TOD", 0, 5, 3, 0))
    path = ex.snapshot()
    assert path == tmp_path / "j" / snapshot_name(ex.journal.next_seq)
    assert ex.journal.durable_seq == ex.journal.next_seq  # synced before the snapshot
    expected = state(ex)
    ex.close()
    path.with_name("000001.journal").unlink()  # the snapshot alone is the state
    recovered = Exchange.recover(tmp_path / "j", resume=False, **OPTIONS)
    assert state(recovered) == expected


def test_a_snapshot_needs_a_path_or_a_journal(tmp_path):
    ex = build()
    with pytest.raises(ValueError, match="snapshot: give a path"):
        ex.snapshot()
    assert list(tmp_path.iterdir()) == []


def test_restoring_needs_a_fresh_exchange_of_the_same_configuration(tmp_path):
    ex = build()
    members(ex)
    start_day(ex)
    ex.snapshot(tmp_path / "s.npz")
    taken = build()
    members(taken)
    digest = taken.digest()
    with pytest.raises(ValueError, match="already has members"):
        snapshot.restore(taken, snapshot.read(tmp_path / "s.npz"))
    assert taken.digest() == digest
    with pytest.raises(ConfigMismatch, match="reference_rates.*differs"):
        Exchange.recover(_folder_with(tmp_path, "s.npz"), resume=False,
                         **{**OPTIONS, "reference_rates": {}})
    recovered = Exchange.recover(tmp_path / "only", resume=False, **OPTIONS)
    assert state(recovered) == state(ex)


def _folder_with(tmp_path: Path, name: str) -> Path:
    """A folder holding only the snapshot ``name`` (taken outside a journal: as the snapshot
    of 0 records, the journal to start after it)."""
    folder = tmp_path / "only"
    folder.mkdir()
    data = _rewrite_meta(tmp_path / name, lambda meta: meta.update(seq=0))
    (folder / snapshot_name(0)).write_bytes(data)
    return folder


def _rewrite_meta(path: Path, change) -> bytes:
    """The snapshot in ``path`` with its meta changed by ``change(meta)``, as bytes."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays["meta"].tobytes())
    change(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_a_snapshot_of_a_newer_version_is_refused_naming_it(tmp_path):
    ex = build()
    ex.snapshot(tmp_path / "s.npz")
    newer = tmp_path / "newer.npz"
    newer.write_bytes(_rewrite_meta(tmp_path / "s.npz",
                                    lambda meta: meta.update(version=snapshot.VERSION + 1)))
    with pytest.raises(SnapshotError, match=f"newer.npz.*version {snapshot.VERSION + 1} is "
                                            f"newer than this exchange reads"):
        snapshot.read(newer)
    alien = tmp_path / "alien.npz"
    alien.write_bytes(_rewrite_meta(tmp_path / "s.npz", lambda meta: meta.update(format="x")))
    with pytest.raises(SnapshotError, match="alien.npz.*not an exchange snapshot"):
        snapshot.read(alien)


def test_a_damaged_snapshot_is_refused_naming_it(tmp_path):
    ex = build()
    members(ex)
    start_day(ex)
    apply(ex, ("submit", 2, "USDKZT_TOD", 0, 5, 3, 0))
    path = ex.snapshot(tmp_path / "s.npz")
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("books.npy")
    flip(path, info.header_offset + 30 + len(info.filename) + info.file_size - 3)
    with pytest.raises(SnapshotError, match="s.npz.*cannot be read"):
        snapshot.read(path)
    (tmp_path / "t.npz").write_bytes(b"not a zip at all")
    with pytest.raises(SnapshotError, match="t.npz.*cannot be read"):
        snapshot.read(tmp_path / "t.npz")


@pytest.mark.parametrize("damage", ["flipped", "newer"])
def test_recovery_skips_a_bad_newest_snapshot_with_a_warning(damage, tmp_path, caplog):
    """The newest snapshot is damaged (or of a newer version): recovery warns, uses the one
    before it and the journal after that, and reaches the same state."""
    folder = tmp_path / "j"
    ex = build(journal=folder)
    members(ex)
    scripted_day(ex)
    expected = state(ex)
    ex.close()
    (old_seq, _), (seq, newest) = snapshot_paths(folder)
    if damage == "flipped":
        flip(newest, newest.stat().st_size // 2)
    else:
        newest.write_bytes(_rewrite_meta(newest, lambda meta: meta.update(version=99)))
    with caplog.at_level(logging.WARNING, logger="exchange"):
        recovered = Exchange.recover(folder, resume=False, **OPTIONS)
    assert state(recovered) == expected
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and newest.name in warnings[0] and "skipping" in warnings[0]
    assert old_seq < seq
