"""The journal's commands: every kind round-trips through a real journal folder, the writer's
fast path writes the same bytes as the command objects, and bad fields are refused by name."""
from __future__ import annotations

import datetime as dt
import tempfile
import zlib
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import exchange
from exchange.journal import (
    AddMember,
    BeginDay,
    Cancel,
    CloseSession,
    Deposit,
    Durability,
    EndOfDay,
    JournalReader,
    JournalWriter,
    MarketOrder,
    Modify,
    OpenSession,
    PackedProcess,
    Process,
    Refused,
    SettlementRun,
    Setup,
    Submit,
    Withdraw,
)
from exchange.journal._frames import crc32
from exchange.journal.commands import COMMANDS, Kind, decode
from exchange.journal.fields import PACKED

I64 = st.integers(-(2**63), 2**63 - 1)
U16, U8 = st.integers(0, 2**16 - 1), st.integers(0, 255)
TEXT = st.text(max_size=12)
DATES = st.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31))
TIMES = st.floats(allow_nan=False, allow_infinity=False)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8)
OBJECTS = st.dictionaries(TEXT, JSON, max_size=4)
LIMITS = st.dictionaries(st.text(min_size=1, max_size=5),
                         st.decimals(-10**12, 10**12, places=4), max_size=3)
ORDER_LIKE = np.dtype([("action", "i1"), ("order_id", "<i8"), ("member", "<i8"),
                       ("instrument", "<u2"), ("side", "i1"), ("price_ticks", "<i8"),
                       ("lots", "<i8"), ("tif", "i1")])
BATCHES = st.sampled_from([ORDER_LIKE, np.dtype("<i8"), np.dtype(">f8"),
                           np.dtype([("a", "<i4", (2,)), ("b", "S3")])]).flatmap(
    lambda dtype: arrays(dtype, st.integers(0, 20)))

#: int64-field arrays (what the writer packs): small spans, wide ones, and the extremes
PACKABLE = st.sampled_from([exchange.ORDER_DTYPE, np.dtype("<i8"),
                            np.dtype([("x", "<i8"), ("y", "<i8")])]).flatmap(
    lambda dtype: arrays(dtype, st.integers(0, 30), elements=st.one_of(
        st.integers(-3, 300), I64, st.sampled_from([-(2**63), 2**63 - 1, 2**32, -(2**31)]))
        if dtype.names is None else None))

COMMAND_STRATEGIES = {
    Setup: st.builds(Setup, OBJECTS),
    BeginDay: st.builds(BeginDay, DATES),
    OpenSession: st.builds(OpenSession, TEXT),
    CloseSession: st.builds(CloseSession, TEXT),
    EndOfDay: st.just(EndOfDay()),
    AddMember: st.builds(AddMember, I64, TEXT, TEXT, LIMITS),
    Deposit: st.builds(Deposit, I64, TEXT, I64),
    Withdraw: st.builds(Withdraw, I64, TEXT, I64),
    Submit: st.builds(Submit, I64, U16, U8, I64, I64, U8, st.none() | TEXT),
    MarketOrder: st.builds(MarketOrder, I64, U16, U8, I64, st.none() | TEXT),
    Cancel: st.builds(Cancel, I64, I64),
    Modify: st.builds(Modify, I64, I64, I64, I64),
    Process: st.builds(Process, BATCHES),
    SettlementRun: st.builds(SettlementRun, DATES, TEXT, OBJECTS),
    Refused: st.builds(Refused, TEXT, I64),
    PackedProcess: st.builds(PackedProcess, PACKABLE),
}
ANY_COMMAND = st.one_of(list(COMMAND_STRATEGIES.values()))


def test_every_kind_has_a_strategy_and_a_distinct_code():
    assert set(COMMAND_STRATEGIES) == set(COMMANDS.values())
    assert sorted(COMMANDS) == sorted(int(k) for k in Kind)


@given(st.lists(st.tuples(ANY_COMMAND, TIMES), max_size=12))
def test_commands_round_trip_through_a_journal(commands):
    with tempfile.TemporaryDirectory() as folder:
        with JournalWriter(folder, Durability.none()) as writer:
            seqs = [writer.append(command, time) for command, time in commands]
        reader = JournalReader(folder)
        entries = list(reader)
    assert seqs == list(range(len(commands)))
    assert [(e.seq, e.command, e.time) for e in entries] == \
        [(i, c, t) for i, (c, t) in enumerate(commands)]
    assert reader.tail is None and reader.records == len(commands)


@given(ANY_COMMAND)
def test_decode_is_the_inverse_of_payload(command):
    payload = command.payload()
    assert decode(command.KIND, memoryview(payload)) == command
    if payload:  # a cut payload never decodes as the same command
        with pytest.raises(ValueError):
            decode(command.KIND, memoryview(payload + b"\x00"))


def _segment_bytes(folder: str) -> bytes:
    return (Path(folder) / "000001.journal").read_bytes()


@given(st.lists(st.one_of(
    st.tuples(st.just("submit"), TIMES, I64, U16, U8, I64, I64, U8),
    st.tuples(st.just("market"), TIMES, I64, U16, U8, I64),
    st.tuples(st.just("cancel"), TIMES, I64, I64),
    st.tuples(st.just("modify"), TIMES, I64, I64, I64, I64),
    st.tuples(st.just("refused"), TIMES, TEXT, I64)), max_size=10))
def test_the_fast_path_writes_what_the_command_objects_write(calls):
    classes = {"submit": Submit, "market": MarketOrder, "cancel": Cancel, "modify": Modify,
               "refused": Refused}
    with tempfile.TemporaryDirectory() as fast, tempfile.TemporaryDirectory() as slow:
        with JournalWriter(fast, Durability.none()) as a, \
                JournalWriter(slow, Durability.none()) as b:
            for name, time, *args in calls:
                getattr(a, name)(time, *args)
                b.append(classes[name](*args), time)
        assert _segment_bytes(fast) == _segment_bytes(slow)


@given(st.binary(max_size=10_000))
def test_the_compiled_crc_is_zlibs(data):
    assert crc32(data) == zlib.crc32(data)


@pytest.mark.parametrize("call, words", [
    (lambda w: w.submit(0.0, True, 0, 0, 1, 1, 0), "member: expected an integer, got bool"),
    (lambda w: w.submit(0.0, 1.0, 0, 0, 1, 1, 0), "member: expected an integer, got float"),
    (lambda w: w.submit(0.0, 1, 70_000, 0, 1, 1, 0), "instrument: 70000 is not in 0..65535"),
    (lambda w: w.submit(0.0, 1, 0, 256, 1, 1, 0), "side: 256"),
    (lambda w: w.submit(0.0, 1, 0, 0, 1, 2**63, 0), "lots"),
    (lambda w: w.market(True, 1, 0, 0, 1), "time: expected seconds"),
    (lambda w: w.cancel(0.0, 1, "7"), "order_id: expected an integer, got str"),
    (lambda w: w.modify(0.0, 1, 2, 3, np.True_), "price_ticks: expected an integer, got bool"),
    (lambda w: w.refused(0.0, "x" * 256, -1), "call: 256 bytes"),
    (lambda w: w.refused(0.0, b"submit", -1), "call"),
    (lambda w: w.refused(0.0, "submit", -1.0), "code: expected an integer, got float"),
])
def test_the_fast_path_refuses_by_name_and_journals_nothing(call, words, tmp_path):
    with JournalWriter(tmp_path / "j", Durability.none()) as writer:
        with pytest.raises((TypeError, ValueError), match=words):
            call(writer)
        assert writer.next_seq == 0
        assert writer.submit(np.float64(1.0), np.int64(1), np.uint16(0), np.int8(1),
                             np.int32(5), 2, 0) == 0  # numpy numbers are taken
    (entry,) = JournalReader(tmp_path / "j")
    assert entry.command == Submit(1, 0, 1, 5, 2, 0) and entry.time == 1.0


def test_numpy_integers_are_taken_and_bools_refused():
    assert Submit(np.int64(7), np.uint16(3), np.int8(1), np.int32(5), 2, 0).member == 7
    assert type(Cancel(np.int64(1), np.int64(2)).order_id) is int
    with pytest.raises(TypeError, match="Submit.lots"):
        Submit(1, 0, 0, 100, True, 0)
    with pytest.raises(TypeError, match="Cancel.order_id"):
        Cancel(1, np.True_)
    with pytest.raises(TypeError, match="Deposit.amount"):
        Deposit(1, "KZT", 1.5)


@pytest.mark.parametrize("make, words", [
    (lambda: Submit(1, 70_000, 0, 1, 1, 0), "Submit.instrument: 70000 is not in 0..65535"),
    (lambda: Cancel(1, 2**63), "Cancel.order_id"),
    (lambda: OpenSession("x" * 256), "OpenSession.name: 256 bytes"),
    (lambda: OpenSession("\ud800"), "not encodable"),
    (lambda: BeginDay(dt.datetime(2026, 1, 1)), "BeginDay.date: expected a datetime.date"),
    (lambda: Setup({"rate": float("nan")}), "not a finite number"),
    (lambda: Setup({1: "x"}), "key 1 is not a str"),
    (lambda: SettlementRun(dt.date(2026, 1, 1), "r", {"when": dt.date(2026, 1, 2)}),
     "is not a JSON value"),
    (lambda: AddMember(1, "A", "DEFERRED", {"KZT": 1.5}), "floats are refused"),
    (lambda: AddMember(1, "A", "DEFERRED", {"KZT": Decimal("1E+300")}), "too long"),
    (lambda: Process(np.zeros((2, 2))), "1-d array"),
    (lambda: Process(np.array([object()])), "holds Python objects"),
    (lambda: Process([1, 2]), "expected a numpy array"),
])
def test_a_bad_field_is_refused_by_name(make, words):
    with pytest.raises((TypeError, ValueError), match=words):
        make()


def test_a_payload_that_does_not_parse_is_a_value_error():
    limits = AddMember(1, "A", "DEFERRED", {"KZT": "5"}).payload()
    for kind, payload in ((Kind.ADD_MEMBER, limits.replace(b"\x015", b"\x01x")),
                          (Kind.CANCEL, Cancel(1, 2).payload()[:-1]),
                          (Kind.SUBMIT, Submit(1, 2, 0, 5, 1, 0, "ab").payload()[:-1]),
                          (Kind.OPEN_SESSION, b"\x02\xff\xfe"),
                          (Kind.SETUP, b"\x02\x00\x00\x00[]"),
                          (Kind.PROCESS, b"\x04\x00\"x\"}"),
                          (99, b"")):
        with pytest.raises(ValueError):
            decode(kind, memoryview(payload))


def test_json_values_are_normalised_so_that_a_decoded_copy_is_equal():
    command = Setup({"symbols": ["USDKZT_TOD", "KZTK"], "n": np.int64(3), "x": {"b": 1, "a": 2}})
    assert command.settings == {"n": 3, "symbols": ("USDKZT_TOD", "KZTK"), "x": {"a": 2, "b": 1}}
    assert decode(Kind.SETUP, memoryview(command.payload())) == command


def test_credit_limits_keep_their_exact_decimal_value():
    command = AddMember(5, "Steppe", "DEFERRED", {"USD": "0.01", "KZT": Decimal("5E+6")})
    assert command.credit_limits == (("KZT", Decimal("5000000")), ("USD", Decimal("0.01")))
    back = decode(Kind.ADD_MEMBER, memoryview(command.payload()))
    assert back == command and str(back.credit_limits[0][1]) == "5000000"


def test_a_process_batch_keeps_dtype_and_bytes():
    orders = np.zeros(5, ORDER_LIKE)
    orders["order_id"] = np.arange(5) * 2**40
    orders["price_ticks"] = -1
    back = decode(Kind.PROCESS, memoryview(Process(orders).payload()))
    assert back.orders.dtype == ORDER_LIKE and back.orders.tobytes() == orders.tobytes()
    assert back.orders.flags.writeable  # a copy, not a view of the journal's bytes
    assert Process(orders[::2]) == Process(orders[::2].copy())  # strided input is fine


@given(PACKABLE, TIMES)
def test_the_compiled_packing_writes_what_the_packed_codec_writes(orders, time):
    """The writer packs int64-field batches in C (FrameQueue.packed); fields.PACKED is the
    reference: the same bytes, and they read back as the same array (a Process's equal)."""
    with tempfile.TemporaryDirectory() as fast, tempfile.TemporaryDirectory() as slow:
        with JournalWriter(fast, Durability.none()) as a, \
                JournalWriter(slow, Durability.none()) as b:
            a.process(time, orders)
            b._queue.frame(Kind.PACKED_PROCESS, time, PackedProcess(orders).payload())
        assert _segment_bytes(fast) == _segment_bytes(slow)
        (entry,) = JournalReader(fast)
    assert type(entry.command) is PackedProcess and entry.command == Process(orders)
    assert entry.command.orders.dtype == orders.dtype


def test_an_order_batch_is_packed_to_the_bytes_its_fields_need():
    orders = np.zeros(1000, exchange.ORDER_DTYPE)
    orders["order_id"] = np.arange(1000) + 10**12  # a span under 2**16: 2 bytes
    orders["price_ticks"] = 51_000 + np.arange(1000) % 200  # 1 byte
    orders["lots"] = [-(2**63), 2**63 - 1] * 500  # the whole int64 range: 8 bytes
    payload = PackedProcess(orders).payload()
    described = len(PACKED.describe(orders.dtype))
    assert len(payload) == described + 4 + 9 * 8 + 1000 * (2 + 1 + 8)
    assert decode(Kind.PACKED_PROCESS, memoryview(payload)) == Process(orders)
    with pytest.raises(ValueError, match="does not fit"):
        decode(Kind.PACKED_PROCESS, memoryview(payload[:-1]))
    with pytest.raises(TypeError, match="int64 fields"):
        PackedProcess(np.zeros(3, ORDER_LIKE))
