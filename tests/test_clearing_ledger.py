"""The ledger: accounts, banks, the pre-trade interface, persistence, integer safety, one
writer at a time, verify(), and corrupt files."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.clearing.ledger import (
    CLEARING_HOUSE,
    DEFAULT_SETTLEMENT_BANKS,
    EXCHANGE_FEES,
    SECURITIES_DEPOSITORY,
    ConservationError,
    InsufficientFunds,
    Ledger,
    LedgerCorrupt,
    LedgerError,
    LedgerLocked,
    RunRecord,
)


@pytest.fixture
def ledger() -> Ledger:
    led = Ledger()
    for member in (1, 2):
        for asset in ("KZT", "USD"):
            led.open_account(member, asset)
    led.deposit(1, "KZT", 1_000)
    return led


def funded_file(tmp_path, amount: int):
    """A closed ledger file where member 1 holds ``amount`` KZT."""
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.open_account(1, "KZT")
        led.deposit(1, "KZT", amount)
    return path


def state(led: Ledger) -> tuple:
    return led.accounts(), len(led.journal()), len(led.runs())


# --------------------------------------------------------------------------- accounts


def test_open_account_is_idempotent_and_opens_ccp_and_fee_accounts(ledger):
    before = state(ledger)
    ledger.open_account(1, "KZT")
    assert state(ledger) == before
    assert ledger.members() == [1, 2] and ledger.assets() == ["KZT", "USD"]
    assert ledger.has_account(CLEARING_HOUSE, "USD") and ledger.has_account(EXCHANGE_FEES, "USD")
    assert ledger.balance(CLEARING_HOUSE, "KZT") == 0


@pytest.mark.parametrize("member, asset, exc", [(-1, "KZT", ValueError), (True, "KZT", TypeError),
                                                (1.5, "KZT", TypeError), (1, "", ValueError),
                                                (1, "X" * 13, ValueError), (1, 5, ValueError)])
def test_open_account_rejects_bad_ids(ledger, member, asset, exc):
    before = state(ledger)
    with pytest.raises(exc):
        ledger.open_account(member, asset)
    assert state(ledger) == before


def test_settlement_banks_defaults_and_overrides(tmp_path):
    led = Ledger(tmp_path / "l.sqlite", settlement_banks={"USD": "Citibank N.A., New York"})
    for asset in ("KZT", "USD", "EUR", "HSBK"):
        led.open_account(1, asset)
    banks = led.settlement_banks()
    assert banks["KZT"] == DEFAULT_SETTLEMENT_BANKS["KZT"] == "National Bank of Kazakhstan"
    assert banks["USD"] == "Citibank N.A., New York"
    assert banks["EUR"] == DEFAULT_SETTLEMENT_BANKS["EUR"]
    assert banks["HSBK"] == SECURITIES_DEPOSITORY
    led.close()
    reopened = Ledger(tmp_path / "l.sqlite")  # recorded in the file, not just in memory
    assert reopened.settlement_banks() == banks


# --------------------------------------------------------------------------- pre-trade interface


@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
def test_reserve_release_commit_cycle(ledger):
    ledger.reserve(1, "KZT", 600)
    assert (ledger.balance(1, "KZT"), ledger.reserved(1, "KZT"), ledger.available(1, "KZT")) == (1_000, 600, 400)
    ledger.commit(1, "KZT", 250, "2024-03-01")
    assert ledger.reserved(1, "KZT") == 350 and ledger.committed(1, "KZT") == 250
    assert ledger.committed(1, "KZT", "2024-03-01") == 250 and ledger.committed(1, "KZT", "2024-03-02") == 0
    assert ledger.available(1, "KZT") == 1_000 - 350 - 250
    ledger.release(1, "KZT", 350)
    assert ledger.reserved(1, "KZT") == 0 and ledger.available(1, "KZT") == 750


@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
def test_insufficient_funds_names_everything(ledger):
    ledger.reserve(1, "KZT", 900)
    with pytest.raises(InsufficientFunds) as info:
        ledger.reserve(1, "KZT", 101)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.member, err.asset, err.needed, err.available) == (1, "KZT", 101, 100)
    assert "member 1" in str(err) and "'KZT'" in str(err) and "101" in str(err) and "100" in str(err)
    assert ledger.reserved(1, "KZT") == 900


@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
def test_release_and_commit_more_than_reserved_raise(ledger):
    ledger.reserve(1, "KZT", 100)
    with pytest.raises(ValueError, match="exceeds reserved 100"):
        ledger.release(1, "KZT", 101)
    with pytest.raises(ValueError, match="exceeds reserved 100"):
        ledger.commit(1, "KZT", 101, "2024-03-01")
    assert ledger.reserved(1, "KZT") == 100 and ledger.committed(1, "KZT") == 0


@pytest.mark.parametrize("amount, exc", [(0, ValueError), (-5, ValueError), (1.0, TypeError), (True, TypeError),
                                         ("10", TypeError)])
@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
def test_bad_amounts_change_nothing(ledger, amount, exc):
    before = state(ledger)
    for call in (lambda: ledger.reserve(1, "KZT", amount), lambda: ledger.deposit(1, "KZT", amount),
                 lambda: ledger.release(1, "KZT", amount)):
        with pytest.raises(exc, match="amount"):
            call()
    assert state(ledger) == before and ledger.reserved(1, "KZT") == 0


@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
def test_unknown_account_is_a_key_error(ledger):
    with pytest.raises(KeyError, match="member 3"):
        ledger.reserve(3, "KZT", 1)
    with pytest.raises(KeyError):
        ledger.balance(1, "EUR")
    with pytest.raises(ValueError, match="reserved"):
        ledger.reserve(CLEARING_HOUSE, "KZT", 1)


@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
def test_numpy_integers_are_accepted(ledger):
    ledger.reserve(np.int64(1), "KZT", np.int64(5))
    assert ledger.reserved(1, "KZT") == 5 and type(ledger.reserved(1, "KZT")) is int


@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
def test_withdraw_respects_available(ledger):
    ledger.reserve(1, "KZT", 700)
    with pytest.raises(InsufficientFunds):
        ledger.withdraw(1, "KZT", 301)
    ledger.withdraw(1, "KZT", 300)
    assert ledger.balance(1, "KZT") == 700
    ledger.verify()


ops = st.lists(st.tuples(st.sampled_from(["reserve", "release", "commit"]), st.integers(1, 400),
                         st.sampled_from(["2024-03-01", "2024-03-02"])), max_size=60)


@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
@settings(max_examples=200)
@given(ops)
def test_pre_trade_state_matches_a_model(operations):
    led = Ledger()
    led.open_account(1, "KZT")
    led.deposit(1, "KZT", 1_000)
    reserved, committed = 0, {"2024-03-01": 0, "2024-03-02": 0}
    for op, amount, day in operations:
        available = 1_000 - reserved - sum(committed.values())
        if op == "reserve":
            if amount > available:
                with pytest.raises(InsufficientFunds):
                    led.reserve(1, "KZT", amount)
            else:
                led.reserve(1, "KZT", amount)
                reserved += amount
        else:
            call = led.release if op == "release" else (lambda m, a, x, day=day: led.commit(m, a, x, day))
            if amount > reserved:
                with pytest.raises(ValueError):
                    call(1, "KZT", amount)
            else:
                call(1, "KZT", amount)
                reserved -= amount
                committed[day] += amount if op == "commit" else 0
        assert led.reserved(1, "KZT") == reserved >= 0
        assert led.committed(1, "KZT") == sum(committed.values())
        assert all(led.committed(1, "KZT", d) == v for d, v in committed.items())
        assert led.available(1, "KZT") == 1_000 - reserved - sum(committed.values()) >= 0
    assert led.balance(1, "KZT") == 1_000


# --------------------------------------------------------------------------- persistence and audit


@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
def test_file_ledger_persists_balances_not_intraday_state(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        led.open_account(7, "USD")
        led.deposit(7, "USD", 123)
        led.deposit(7, "USD", 7)
        led.reserve(7, "USD", 100)
    with Ledger(path) as led:
        assert led.balance(7, "USD") == 130
        assert led.reserved(7, "USD") == 0  # reservations are intraday, in memory only
        assert led.journal() == [(7, "USD", 123, "deposit:1"), (7, "USD", 7, "deposit:2")]
        assert [r["run_id"] for r in led.runs()] == ["deposit:1", "deposit:2"]
        led.verify()


def test_verify_detects_tampering(tmp_path):
    path = funded_file(tmp_path, 50)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE accounts SET balance = 51 WHERE member = 1")
    with Ledger(path) as led, pytest.raises(ValueError, match="journal"):
        led.verify()


def test_post_run_rolls_back_a_non_conserving_run(ledger):
    before = state(ledger)
    bad = RunRecord(run_id="bad", kind="settlement", movements={(1, "KZT"): -100})
    with pytest.raises(ConservationError, match="asset totals"):
        ledger.post_run(bad)
    assert state(ledger) == before and not ledger.has_run("bad")
    ledger.verify()


def test_post_run_refuses_negative_member_balance(ledger):
    before = state(ledger)
    bad = RunRecord(run_id="bad", kind="settlement", movements={(2, "KZT"): -1, (1, "KZT"): 1})
    with pytest.raises(ConservationError, match="member 2"):
        ledger.post_run(bad)
    assert state(ledger) == before


def test_post_run_applies_exactly_its_movements(ledger):
    moves = {(1, "KZT"): -300, (2, "KZT"): 200, (EXCHANGE_FEES, "KZT"): 100, (2, "USD"): 0}
    balances = ledger.post_run(RunRecord(run_id="r1", kind="settlement", movements=moves))
    assert balances == {(1, "KZT"): 700, (2, "KZT"): 200, (EXCHANGE_FEES, "KZT"): 100}
    assert ledger.journal("r1") == [(EXCHANGE_FEES, "KZT", 100, "r1"), (1, "KZT", -300, "r1"), (2, "KZT", 200, "r1")]
    assert ledger.post_run(RunRecord(run_id="r1", kind="settlement", movements=moves)) is None  # once only
    assert ledger.balance(1, "KZT") == 700
    ledger.verify()


# --------------------------------------------------------------------------- corrupt files


def file_bytes(path) -> bytes:
    return path.read_bytes()


def test_random_bytes_file(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(np.random.default_rng(0).bytes(8192))
    before = file_bytes(path)
    with pytest.raises(LedgerCorrupt, match="not a readable SQLite database"):
        Ledger(path)
    assert file_bytes(path) == before


def test_sqlite_file_without_our_schema(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    before = file_bytes(path)
    with pytest.raises(LedgerCorrupt, match="without the ledger schema"):
        Ledger(path)
    assert file_bytes(path) == before


def test_wrong_schema_version(tmp_path):
    path = tmp_path / "old.sqlite"
    Ledger(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = file_bytes(path)
    with pytest.raises(LedgerCorrupt, match="schema_version '99', expected 2"):
        Ledger(path)
    assert file_bytes(path) == before


def test_missing_table(tmp_path):
    path = tmp_path / "cut.sqlite"
    Ledger(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE journal")
    with pytest.raises(LedgerCorrupt, match="journal"):
        Ledger(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "trunc.sqlite"
    with Ledger(path) as led:
        for m in range(200):
            led.open_account(m, "KZT")
    data = file_bytes(path)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LedgerCorrupt):
        led = Ledger(path)
        led.verify()  # pragma: no cover - the open must already fail


def test_empty_file_becomes_a_new_ledger(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    with Ledger(path) as led:
        assert led.members() == []
    with Ledger(path) as led:  # and reopens as a ledger
        led.verify()


def test_sqlite_file_without_any_table_becomes_a_ledger(tmp_path):
    path = tmp_path / "blank.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("DROP TABLE t")  # a valid database file that holds nothing
    assert path.stat().st_size > 0
    with Ledger(path) as led:
        led.open_account(1, "KZT")
    with Ledger(path) as led:
        assert led.members() == [1]


@pytest.mark.filterwarnings("ignore:Ledger.*is deprecated:DeprecationWarning")  # the legacy API
def test_bad_settle_date_for_commit(ledger):
    ledger.reserve(1, "KZT", 10)
    with pytest.raises(ValueError, match="settle_date"):
        ledger.commit(1, "KZT", 10, "someday")
    assert ledger.reserved(1, "KZT") == 10


# --------------------------------------------------------------------------- integers (issue 10)

MAX = 2**63 - 1


@pytest.mark.parametrize("call, message", [
    (lambda led: led.deposit(1, "KZT", 2**63), "amount: 9223372036854775808 is not in 1..9223372036854775807"),
    (lambda led: led.deposit(1, "KZT", MAX), "outside int64|past 2\\*\\*63"),
    (lambda led: led.deposit_many([(2, "KZT", MAX - 1_000), (2, "KZT", 1)]), "past 2\\*\\*63"),
    (lambda led: led.open_account(2**63, "KZT"), "member: 9223372036854775808 is not in 0..2147483647"),
    (lambda led: led.open_account(2**31, "KZT"), "member: 2147483648 is not in 0..2147483647"),
])
def test_out_of_range_amounts_and_ids_are_clean_errors(tmp_path, call, message):
    """Issue 10: a deposit past 2**63-1 was stored as REAL; 2**63 raised a raw OverflowError."""
    path = tmp_path / "l.sqlite"
    with Ledger(path) as led:
        for m in (1, 2):
            led.open_account(m, "KZT")
        led.deposit(1, "KZT", 1_000)
        before, data = state(led), path.read_bytes()
        with pytest.raises(ValueError, match=message):
            call(led)
        assert state(led) == before and path.read_bytes() == data
    with Ledger(path) as led:
        assert type(led.balance(1, "KZT")) is int
        led.verify()


def test_schema_refuses_non_integer_amounts_and_negative_members(tmp_path):
    path = funded_file(tmp_path, 5)
    with sqlite3.connect(path) as conn:
        for sql in ("UPDATE accounts SET balance = 1.5 WHERE member = 1",
                    "UPDATE accounts SET balance = 9223372036854775808 WHERE member = 1",
                    "UPDATE journal SET amount = 'five'",
                    "UPDATE accounts SET balance = -1 WHERE member = 1"):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(sql)


def test_verify_checks_signs_and_types(tmp_path):
    """Issue 10: a member left at -1,000,000 in the file and verify() said OK."""
    path = funded_file(tmp_path, 5)
    with sqlite3.connect(path) as conn:  # a history in which the member went below zero and back
        conn.execute("INSERT INTO journal (run_id, member, asset, amount) VALUES ('x', 1, 'KZT', -1000000)")
        conn.execute("INSERT INTO journal (run_id, member, asset, amount) VALUES ('y', 1, 'KZT', 1000000)")
    with Ledger(path) as led, pytest.raises(LedgerError, match="member 1 'KZT' went below zero"):
        led.verify()
    with sqlite3.connect(path) as conn:  # what a stale second writer could once leave
        conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.execute("UPDATE accounts SET balance = -1000000 WHERE member = 1")
    with pytest.raises(LedgerCorrupt, match="CHECK constraint failed"):
        Ledger(path)


# --------------------------------------------------------------------------- one writer (issue 10)


def test_a_second_writer_is_refused_and_readers_are_fine(tmp_path):
    """Issue 10: a second Ledger handle with a stale view withdrew money settlement had paid."""
    path = tmp_path / "a ledger #1.sqlite"  # a reader opens it by URI: odd characters stay odd
    writer = Ledger(path)
    writer.open_account(1, "KZT")
    writer.deposit(1, "KZT", 100)
    with pytest.raises(LedgerLocked, match="open for writing by another Ledger"):
        Ledger(path)
    reader = Ledger(path, readonly=True)
    assert reader.balance(1, "KZT") == 100
    with pytest.raises(LedgerError, match="read-only"):
        reader.deposit(1, "KZT", 1)
    writer.withdraw(1, "KZT", 40)
    reader.refresh()
    assert reader.balance(1, "KZT") == 60
    reader.verify()
    reader.close()
    writer.close()
    with Ledger(path) as again:  # the lock went with the writer
        assert again.balance(1, "KZT") == 60


def test_a_writer_whose_file_changed_underneath_writes_nothing(tmp_path):
    path = funded_file(tmp_path, 100)
    with Ledger(path) as led:
        with sqlite3.connect(path) as conn:  # outside the ledger (no lock honoured)
            conn.execute("UPDATE accounts SET balance = 10 WHERE member = 1")
        before = path.read_bytes()
        with pytest.raises(LedgerError, match="changed under this handle"):
            led.withdraw(1, "KZT", 50)
        assert path.read_bytes() == before


@settings(max_examples=200)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), unique=True, max_size=50))
def test_settled_trade_ids_round_trip_through_their_blob(ids):
    from exchange.clearing.keys import decode_ids, encode_ids

    ids = np.array(sorted(ids), np.int64)
    assert decode_ids(encode_ids(ids)).tolist() == ids.tolist()
    dense = np.arange(1_000, 3_000, 2, dtype=np.int64)
    assert len(encode_ids(dense)) == 9 + len(dense) - 1  # one byte a gap


def test_the_legacy_pre_trade_calls_are_deprecated(tmp_path):
    """Holds live in the venue now (Exchange.funds); the ledger's own calls warn."""
    ledger = Ledger()
    ledger.open_account(1, "KZT")
    ledger.deposit(1, "KZT", 100)
    for call in (lambda: ledger.reserve(1, "KZT", 10), lambda: ledger.available(1, "KZT"),
                 lambda: ledger.reserved(1, "KZT"), lambda: ledger.committed(1, "KZT")):
        with pytest.deprecated_call(match="Exchange.funds"):
            call()
