"""An exchange built with ``journal=`` journals every state-changing call, once, in order.

A scripted day (tests/durable_day.py: day and session transitions, members, deposits and
withdrawals, submits through the fast path and the slow path, market orders, cancels,
modifies, a batch, a settlement run and a refusal of every call that counts one) is read back
with ``JournalReader``: the records' kinds, fields and times are the calls'. Replaying the
journal into a new exchange gives an equal state (digest, trades, books, funds, refusals).
Every durability policy journals the same records; bad ``journal=``, ``durability=`` and
``setup=`` values raise naming the option and leave no file behind.
"""
from __future__ import annotations

import numpy as np
import pytest

from durable_day import ASSETS, THU, build, members, scripted_day, state
from exchange import ORDER_DTYPE
from exchange.journal import (
    Durability,
    JournalReader,
    JournalWriter,
    Process,
    Setup,
    Submit,
)
from exchange.venue.config import describe
from exchange.venue.replay import replay

POLICIES = {"fsync": Durability.fsync_each(), "group": Durability.group(records=4, ms=5),
            "none": Durability.none(), "default": None}


def _files(folder):
    return sorted(p.name for p in folder.rglob("*"))


def _journaled_day(folder, durability=None, setup=None):
    """A journaled exchange after the scripted day (journal closed), and the expected
    records after the Setup record as (time, command)."""
    ex = build(journal=folder, durability=durability, setup=setup)
    expected = [(0.0, command) for command in members(ex)]
    expected += scripted_day(ex)
    ex.close()
    return ex, expected


@pytest.mark.parametrize("policy", POLICIES, ids=list(POLICIES))
def test_every_call_is_journaled_with_its_fields_and_time(policy, tmp_path):
    ex, expected = _journaled_day(tmp_path / "j", POLICIES[policy], {"run": "scripted"})
    entries = list(JournalReader(tmp_path / "j"))
    assert [e.seq for e in entries] == list(range(len(expected) + 1))
    assert entries[0].command == Setup({"exchange": describe(ex), "user": {"run": "scripted"}})
    assert [(e.time, e.command) for e in entries[1:]] == expected
    traded = ex.trades_table().column("instrument").to_pylist()
    assert set(traded) == {"USDKZT_TOD", "USDKZT_SWAP_1D", "KZTK"}  # spot, a swap, a security


def test_a_replay_of_the_journal_gives_an_equal_exchange(tmp_path):
    ex, expected = _journaled_day(tmp_path / "j")
    fresh = build()
    assert replay(fresh, JournalReader(tmp_path / "j")) == len(expected) + 1
    assert state(fresh) == state(ex)
    assert fresh.journal is None  # a replay journals nothing


def test_a_plain_int_submit_is_journaled_by_the_fast_path(tmp_path):
    """Plain ints (and the enums' default tif) never reach the Python order entry, and are
    journaled all the same; numpy ints go through it and are journaled as equal records."""
    ex = build(journal=tmp_path / "j")
    members(ex)
    ex.begin_day(THU)
    ex.open_session("morning")
    entered = []
    limit = ex._entry.limit
    ex._entry.limit = lambda *args: (entered.append(args), limit(*args))[1]
    ex.submit(2, "USDKZT_TOD", 0, price_ticks=47_000, lots=1)
    assert entered == []
    ex.submit(np.int64(2), "USDKZT_TOD", np.int8(0), price_ticks=np.int32(47_000),
              lots=np.uint16(1))
    assert len(entered) == 1
    ex.close()
    tod = ex.instrument_id("USDKZT_TOD")
    submits = [e.command for e in JournalReader(tmp_path / "j")
               if isinstance(e.command, Submit)]
    assert submits == [Submit(2, tod, 0, 47_000, 1, 0)] * 2


def test_a_batch_with_a_subscriber_is_still_one_process_record(tmp_path):
    """With a subscriber the batch runs through the single calls, unjournaled: the journal
    holds it once, and its replay (without the subscriber) gives the same state."""
    ex = build(journal=tmp_path / "j")
    members(ex)
    ex.begin_day(THU)
    ex.open_session("day")
    events = []
    ex.subscribe(events.append)
    kztk = ex.instrument_id("KZTK")
    batch = np.zeros(3, ORDER_DTYPE)
    batch[0] = (0, 0, 1, kztk, 0, 150, 10, 0)
    batch[1] = (0, 0, 2, kztk, 1, 149, 4, 0)
    batch[2] = (0, 0, 77, kztk, 1, 149, 4, 0)  # unknown member: refused in the batch
    results = ex.process(batch)
    assert list(results["code"]) == [0, 0, -20] and len(events) >= 3
    ex.close()
    records = [e.command for e in JournalReader(tmp_path / "j")][-1:]
    assert records == [Process(batch)]
    assert sum(isinstance(e.command, Process) for e in JournalReader(tmp_path / "j")) == 1
    fresh = build()
    replay(fresh, JournalReader(tmp_path / "j"))
    assert state(fresh) == state(ex)


FAILING = {
    "begin_day twice": lambda ex: ex.begin_day(THU),
    "add_member taken": lambda ex: ex.add_member(1, "again"),
    "deposit unknown member": lambda ex: ex.deposit(9, "KZT", 1),
    "deposit unknown asset": lambda ex: ex.deposit(1, "XXX", 1),
    "deposit negative": lambda ex: ex.deposit(1, "KZT", -1),
    "deposit bool": lambda ex: ex.deposit(1, "KZT", True),
    "withdraw zero": lambda ex: ex.withdraw(1, "KZT", 0),
    "open out of order": lambda ex: ex.open_session("morning"),
    "close a closed session": lambda ex: ex.close_session("evening"),
    "settle a bad date": lambda ex: ex.settle("nonsense"),
    "process a list": lambda ex: ex.process([1, 2]),
}


@pytest.mark.parametrize("call", FAILING, ids=list(FAILING))
def test_a_call_that_raises_without_counting_a_refusal_is_not_journaled(call, tmp_path):
    ex = build(journal=tmp_path / "j")
    members(ex)
    ex.begin_day(THU)
    ex.open_session("day")
    before, digest = ex.journal.next_seq, ex.digest()
    with pytest.raises((ValueError, TypeError, KeyError)):
        FAILING[call](ex)
    assert ex.journal.next_seq == before
    assert ex.digest() == digest


def test_a_refused_order_is_journaled_and_replays_its_count(tmp_path):
    ex = build(journal=tmp_path / "j")
    members(ex)
    ex.begin_day(THU)
    ex.open_session("morning")
    for _ in range(3):
        with pytest.raises(ValueError):
            ex.submit(2, "USDKZT_TOD", 0, price_ticks=47_000, lots=-1)
    ex.close()
    fresh = build()
    replay(fresh, JournalReader(tmp_path / "j"))
    assert sum(fresh.rejections().values()) == 3
    assert fresh.rejections() == ex.rejections()


BAD_OPTIONS = {
    "journal int": ({"journal": 42}, TypeError, "journal: expected a folder"),
    "durability text": ({"durability": "fsync"}, TypeError, "durability: expected a Durability"),
    "durability class": ({"durability": Durability}, TypeError, "durability"),
    "durability alone": ({"journal": None, "durability": Durability.none()}, ValueError,
                         "durability: given without journal="),
    "setup a list": ({"setup": [1]}, TypeError, "setup: expected a JSON object"),
    "setup not JSON": ({"setup": {"x": object()}}, TypeError, "Setup.settings['user']['x']"),
    "setup nan": ({"setup": {"x": float("nan")}}, ValueError, "not a finite number"),
    "keep_snapshots": ({"keep_snapshots": -1}, ValueError, "keep_snapshots"),
}


@pytest.mark.parametrize("name", BAD_OPTIONS, ids=list(BAD_OPTIONS))
def test_a_bad_journal_option_raises_and_makes_no_folder(name, tmp_path):
    options, error, words = BAD_OPTIONS[name]
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        build(**{"journal": tmp_path / "new" / "j", **options})
    assert _files(tmp_path) == []


def test_a_folder_holding_a_journal_is_refused_and_left_as_it_was(tmp_path):
    _journaled_day(tmp_path / "j")
    files = {name: (tmp_path / "j" / name).read_bytes() for name in _files(tmp_path / "j")}
    with pytest.raises(ValueError, match="already holds 32 records: Exchange.recover"):
        build(journal=tmp_path / "j")
    assert {name: (tmp_path / "j" / name).read_bytes()
            for name in _files(tmp_path / "j")} == files


def test_durability_beside_a_writer_is_refused(tmp_path):
    writer = JournalWriter(tmp_path / "j", Durability.none())
    with pytest.raises(ValueError, match="durability: give it to the JournalWriter"):
        build(journal=writer, durability=Durability.fsync_each())
    assert writer.next_seq == 0
    ex = build(journal=writer)  # the writer is still usable
    members(ex)
    ex.close()
    assert ex.journal is None
    assert len(list(JournalReader(tmp_path / "j"))) == 1 + 8


def test_the_funds_of_every_member_survive_a_replay(tmp_path):
    """Holds of resting orders and the ledger's balances after the scripted day (a direct
    check, beside the digest, that the replay rebuilt the money side)."""
    ex, _ = _journaled_day(tmp_path / "j")
    fresh = build()
    replay(fresh, JournalReader(tmp_path / "j"))
    funds = {(m, a): fresh.funds(m, a) for m in (1, 2, 3) for a in ASSETS}
    assert funds == {(m, a): ex.funds(m, a) for m in (1, 2, 3) for a in ASSETS}
    assert any(f.balance for f in funds.values())


def test_an_exchange_that_fails_to_open_its_journal_leaves_no_listener_on_the_ledger(tmp_path):
    from exchange.clearing import Ledger
    from exchange.venue.exchange import Exchange

    ledger = Ledger()
    with pytest.raises(TypeError, match="journal"):
        Exchange(ledger=ledger, journal=12345)
    with pytest.raises(TypeError, match="setup"):
        Exchange(ledger=ledger, journal=tmp_path / "j", setup=[1, 2])
    assert ledger._listeners == []
    Exchange(ledger=ledger, journal=tmp_path / "ok").close()
    assert len(ledger._listeners) == 1
