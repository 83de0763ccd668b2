"""The clearing ledger: settled balances in SQLite, intraday reservations and commitments in memory.

Balances (integer minor units per member and asset) live in an SQLite file (or in memory) and
are read through a dict cache kept in step with every committed write. Every balance movement
is a journal row ``(run_id, member, asset, amount)``, so ``balance == SUM(journal.amount)`` for
every account (:meth:`Ledger.verify` checks it). A settlement run is written by
:meth:`Ledger.post_run` as ONE SQLite transaction: after a crash the file holds all of the run
or none of it, and a run id already in the file is never applied twice.

Reservations (held for resting orders) and commitments (filled, not yet settled debits, per
settlement date) are intraday state kept in dicts only: the exchange layer calls
``reserve``/``release``/``commit`` per order, in O(1). They are lost on restart by design.

``CLEARING_HOUSE`` (the CCP) and ``EXCHANGE_FEES`` (the fee account) are reserved negative
member ids with an account in every asset; their balances may go negative (the CCP fronts a
failed member's obligations), members' never do.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import json
import operator
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .netting import CLEARING_HOUSE, EXCHANGE_FEES

__all__ = [
    "CLEARING_HOUSE",
    "DEFAULT_SETTLEMENT_BANKS",
    "EXCHANGE_FEES",
    "SCHEMA_VERSION",
    "SECURITIES_DEPOSITORY",
    "ConservationError",
    "InsufficientFunds",
    "Journal",
    "Ledger",
    "LedgerCorrupt",
    "LedgerError",
    "RunRecord",
]

SCHEMA_NAME = "exchange.clearing.ledger"
SCHEMA_VERSION = 1

#: Where each currency settles unless the caller configures otherwise. The correspondent banks
#: are illustrative defaults, not a statement of KASE's actual arrangements.
DEFAULT_SETTLEMENT_BANKS: dict[str, str] = {
    "KZT": "National Bank of Kazakhstan",
    "USD": "The Bank of New York Mellon (USD correspondent)",
    "EUR": "Deutsche Bank AG, Frankfurt (EUR correspondent)",
    "RUB": "Sberbank, Moscow (RUB correspondent)",
}
#: Any asset not named in the bank map is a security and settles at the depository.
SECURITIES_DEPOSITORY = "Central Securities Depository"

_RESERVED_IDS = {CLEARING_HOUSE: "CLEARING_HOUSE", EXCHANGE_FEES: "EXCHANGE_FEES"}

# journal has no run_id index (it doubled the cost of a run's inserts): a run's rows are
# contiguous and its row-id range is stored in runs. A run's GROSS report (one line per deal,
# hundreds of thousands on a busy day, written once and read back only for reports) is one
# blob in run_gross: an .npy image of GROSS_LINE_DTYPE, read with allow_pickle=False.
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE accounts (
    member INTEGER NOT NULL, asset TEXT NOT NULL, balance INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (member, asset)) WITHOUT ROWID;
CREATE TABLE banks (asset TEXT PRIMARY KEY, bank TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, settle_date TEXT, digest TEXT,
    created_at TEXT NOT NULL, summary TEXT,
    journal_first INTEGER, journal_last INTEGER);
CREATE TABLE journal (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, member INTEGER NOT NULL, asset TEXT NOT NULL,
    amount INTEGER NOT NULL, trade_id INTEGER);
CREATE TABLE run_lines (
    run_id TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, member INTEGER NOT NULL,
    asset TEXT NOT NULL, amount INTEGER NOT NULL, carried_to TEXT);
CREATE INDEX run_lines_run ON run_lines (run_id);
CREATE TABLE run_gross (run_id TEXT PRIMARY KEY, lines BLOB NOT NULL);
CREATE TABLE run_shortfalls (
    run_id TEXT NOT NULL, trade_id INTEGER, leg INTEGER, member INTEGER NOT NULL,
    asset TEXT NOT NULL, needed INTEGER NOT NULL, available INTEGER NOT NULL);
CREATE INDEX run_shortfalls_run ON run_shortfalls (run_id);
CREATE TABLE run_balances (
    run_id TEXT NOT NULL, member INTEGER NOT NULL, asset TEXT NOT NULL, balance INTEGER NOT NULL);
CREATE INDEX run_balances_run ON run_balances (run_id);
CREATE TABLE carried_net (
    id INTEGER PRIMARY KEY, due_date TEXT NOT NULL, member INTEGER NOT NULL, asset TEXT NOT NULL,
    amount INTEGER NOT NULL, origin_run TEXT NOT NULL, consumed_by TEXT);
CREATE INDEX carried_net_due ON carried_net (due_date);
CREATE TABLE carried_gross (
    id INTEGER PRIMARY KEY, due_date TEXT NOT NULL, trade_id INTEGER NOT NULL, leg INTEGER NOT NULL,
    receiver INTEGER NOT NULL, deliverer INTEGER NOT NULL, base_asset TEXT NOT NULL,
    base_amount INTEGER NOT NULL, quote_asset TEXT NOT NULL, pay_amount INTEGER NOT NULL,
    proceeds INTEGER NOT NULL, fee INTEGER NOT NULL, origin_run TEXT NOT NULL, consumed_by TEXT);
CREATE INDEX carried_gross_due ON carried_gross (due_date);
"""

_REQUIRED_TABLES = (
    "meta", "accounts", "banks", "runs", "journal", "run_lines", "run_gross",
    "run_shortfalls", "run_balances", "carried_net", "carried_gross",
)


class LedgerError(ValueError):
    """Base class of the ledger's own errors."""


class LedgerCorrupt(LedgerError):
    """The file is not a ledger of this schema version (or not an SQLite database at all)."""


class ConservationError(LedgerError):
    """A run would change the sum of some asset's balances; the transaction is rolled back."""


class InsufficientFunds(ValueError):
    """``available < needed`` for a reservation; names member, asset, needed and available."""

    def __init__(self, member: int, asset: str, needed: int, available: int) -> None:
        self.member, self.asset, self.needed, self.available = member, asset, needed, available
        super().__init__(
            f"insufficient funds: member {member} asset {asset!r} needs {needed}, available {available}"
        )


class Journal:
    """Balance movements as columns: one row per (member, asset, amount, trade_id or None).

    The ledger derives a run's balance deltas from its journal (vectorised), so the journal
    and the balances cannot disagree. O(rows) to build, sum and stream.
    """

    def __init__(self, member: np.ndarray, asset: np.ndarray, names: Sequence[str], amount: np.ndarray,
                 trade_id: np.ndarray | None = None) -> None:
        self.member = np.asarray(member, np.int64)
        self.asset = np.asarray(asset, np.int64)  # codes into names
        self.names = list(names)
        self.amount = np.asarray(amount, np.int64)
        n = len(self.member)
        # trade_id < 0 is stored as NULL (NET and CCP movements belong to no single trade)
        self.trade_id = np.full(n, -1, np.int64) if trade_id is None else np.asarray(trade_id, np.int64)
        if not (len(self.asset) == len(self.amount) == len(self.trade_id) == n):
            raise ValueError("journal: columns differ in length")

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, str, int, int | None]]) -> Journal:
        rows = list(rows)
        names = sorted({r[1] for r in rows})
        code = {a: i for i, a in enumerate(names)}
        return cls(
            np.array([r[0] for r in rows], np.int64), np.array([code[r[1]] for r in rows], np.int64), names,
            np.array([r[2] for r in rows], np.int64), np.array([-1 if r[3] is None else r[3] for r in rows], np.int64),
        )

    @classmethod
    def concat(cls, parts: Sequence[Journal]) -> Journal:
        names = sorted({a for p in parts for a in p.names})
        code = {a: i for i, a in enumerate(names)}
        recode = [np.array([code[a] for a in p.names] or [0], np.int64)[p.asset] for p in parts]
        return cls(
            np.concatenate([p.member for p in parts] or [np.zeros(0, np.int64)]),
            np.concatenate(recode or [np.zeros(0, np.int64)]), names,
            np.concatenate([p.amount for p in parts] or [np.zeros(0, np.int64)]),
            np.concatenate([p.trade_id for p in parts] or [np.zeros(0, np.int64)]),
        )

    def __len__(self) -> int:
        return len(self.member)

    def sums(self) -> dict[tuple[int, str], int]:
        """Non-zero total per (member, asset)."""
        if len(self) == 0:
            return {}
        ids, mcode = np.unique(self.member, return_inverse=True)
        k = len(self.names)
        totals = np.zeros(len(ids) * k, np.int64)
        np.add.at(totals, mcode * k + self.asset, self.amount)
        return {(int(ids[c // k]), self.names[c % k]): int(totals[c]) for c in np.flatnonzero(totals).tolist()}

    def rows(self, chunk: int = 65536) -> Iterator[tuple[int, str, int, int | None]]:
        """The rows, built chunk by chunk by C-level zips (no Python step per row)."""
        names = np.asarray(self.names, dtype=object)

        def chunks():
            for s in range(0, len(self), chunk):
                t = self.trade_id[s:s + chunk]
                trades = t.tolist() if (t >= 0).all() else [v if v >= 0 else None for v in t.tolist()]
                yield zip(self.member[s:s + chunk].tolist(), names[self.asset[s:s + chunk]].tolist(),
                          self.amount[s:s + chunk].tolist(), trades)

        return itertools.chain.from_iterable(chunks())


@dataclass
class RunRecord:
    """Everything one settlement run writes, applied atomically by :meth:`Ledger.post_run`.

    The balance movements are the ``journal``'s sums per (member, asset). ``lines`` and
    ``shortfalls`` are report rows, ``gross`` the GROSS report blob; ``carried_net`` and
    ``carried_gross`` are obligations moved to a later date; ``consume_*`` are the ids of
    earlier carried rows this run settles or re-carries.
    """

    run_id: str
    kind: str
    settle_date: str | None = None
    digest: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    journal: Journal = field(default_factory=lambda: Journal.from_rows([]))
    lines: Sequence[tuple] = ()  # (kind, status, member, asset, amount, carried_to)
    gross: bytes | None = None  # the GROSS report blob
    shortfalls: Sequence[tuple] = ()  # (trade_id, leg, member, asset, needed, available)
    carried_net: Sequence[tuple] = ()  # (due_date, member, asset, amount)
    carried_gross: Sequence[tuple] = ()  # carried_gross columns due_date .. fee
    consume_net: Sequence[int] = ()
    consume_gross: Sequence[int] = ()


def _member(value: Any, name: str = "member") -> int:
    if type(value) is int:  # the per-order fast path
        return value
    if isinstance(value, bool):
        raise TypeError(f"{name}: {value!r} is not an integer id")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: {value!r} is not an integer id") from None


def _amount(value: Any, name: str = "amount") -> int:
    """A positive int amount (numpy ints accepted); bools, floats and Decimals refused."""
    if type(value) is int and value > 0:  # the per-order fast path
        return value
    if isinstance(value, bool):
        raise TypeError(f"{name}: {value!r} is not an integer amount")
    try:
        amount = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: {value!r} is not an integer amount (minor units)") from None
    if amount <= 0:
        raise ValueError(f"{name}: {amount} must be positive")
    return amount


def _asset(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 12:
        raise ValueError(f"asset: {value!r} must be a non-empty string of at most 12 characters")
    return value


def _day(value: Any) -> str:
    try:
        day = np.datetime64(value, "D")
    except (TypeError, ValueError):
        raise ValueError(f"settle_date: {value!r} is not a date") from None
    if np.isnat(day):
        raise ValueError(f"settle_date: {value!r} is not a date")
    return str(day)


class Ledger:
    """Balances per (member, asset) in SQLite; reservations and commitments in memory.

    ``Ledger(path)`` opens or creates the file (``None``: an in-memory database). An existing
    file that is not a ledger of this schema version raises :class:`LedgerCorrupt` and is not
    modified. ``settlement_banks`` maps asset -> bank name, over :data:`DEFAULT_SETTLEMENT_BANKS`;
    assets not in the map settle at :data:`SECURITIES_DEPOSITORY`.
    """

    #: Called as ``hook(stage)`` inside a run's transaction (stages "begin", "balances",
    #: "journal", "commit"); tests use it to kill the process mid-run. None in production.
    run_hook: Callable[[str], None] | None = None

    def __init__(self, path: str | os.PathLike | None = None, settlement_banks: Mapping[str, str] | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        self._banks_config = dict(DEFAULT_SETTLEMENT_BANKS)
        self._banks_config.update(settlement_banks or {})
        self._conn = self._connect()
        self._balances: dict[tuple[int, str], int] = {}
        self._banks: dict[str, str] = {}
        self._reserved: dict[tuple[int, str], int] = {}
        self._committed: dict[tuple[int, str], int] = {}  # totals over dates
        self._committed_by_date: dict[tuple[int, str, str], int] = {}
        self._load()
        if settlement_banks:
            self._store_banks(self._banks_config, only_known=True)

    # ------------------------------------------------------------------ opening the file

    def _connect(self) -> sqlite3.Connection:
        fresh = self.path is None or not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        try:
            conn = sqlite3.connect(":memory:" if self.path is None else self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise LedgerCorrupt(f"ledger {self.path!r}: cannot open ({exc})") from exc
        try:
            if fresh or self._no_tables(conn):
                self._create(conn)
            else:
                self._check_schema(conn)
            conn.execute("PRAGMA synchronous = FULL")
            # Big runs write hundreds of thousands of rows in one transaction: keep the pages
            # in memory until COMMIT instead of spilling the default 2 MB cache to the file.
            conn.execute("PRAGMA cache_size = -262144")
        except BaseException:
            conn.close()
            raise
        return conn

    def _no_tables(self, conn: sqlite3.Connection) -> bool:
        """True for an SQLite database without any table (e.g. a creation cut short by a
        crash and rolled back): it holds nothing, so it becomes a new ledger."""
        try:
            return conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
        except sqlite3.DatabaseError:
            return False  # not a database: _check_schema reports it

    def _create(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # executescript() would COMMIT on its own; run the statements one by one instead.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema", SCHEMA_NAME), ("schema_version", str(SCHEMA_VERSION))],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        where = f"ledger file {self.path!r}"
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise LedgerCorrupt(f"{where} is not a readable SQLite database: {exc}") from exc
        if check != "ok":
            raise LedgerCorrupt(f"{where} fails SQLite's integrity check: {check}")
        if "meta" not in tables:
            raise LedgerCorrupt(f"{where} is an SQLite database without the ledger schema (no meta table)")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema") != SCHEMA_NAME:
            raise LedgerCorrupt(f"{where}: schema {meta.get('schema')!r}, expected {SCHEMA_NAME!r}")
        if meta.get("schema_version") != str(SCHEMA_VERSION):
            raise LedgerCorrupt(f"{where}: schema_version {meta.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        missing = [t for t in _REQUIRED_TABLES if t not in tables]
        if missing:
            raise LedgerCorrupt(f"{where}: tables missing: {missing}")

    def _load(self) -> None:
        self._balances = {(m, a): b for m, a, b in self._conn.execute("SELECT member, asset, balance FROM accounts")}
        self._banks = dict(self._conn.execute("SELECT asset, bank FROM banks"))

    def close(self) -> None:
        """Close the database; the in-memory state is dropped."""
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception (the exception propagates)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ accounts and banks

    def bank_for(self, asset: str) -> str:
        """The settlement bank (or depository) of ``asset``."""
        return self._banks.get(asset) or self._banks_config.get(asset, SECURITIES_DEPOSITORY)

    def settlement_banks(self) -> dict[str, str]:
        """asset -> settlement bank, for every asset with accounts."""
        return {a: self.bank_for(a) for a in self.assets()}

    def _store_banks(self, banks: Mapping[str, str], only_known: bool) -> None:
        rows = [(a, b) for a, b in banks.items() if not only_known or a in self._banks]
        if not rows:
            return
        with self._transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO banks (asset, bank) VALUES (?, ?)", rows)
        self._banks.update(rows)

    def open_account(self, member: int, asset: str) -> None:
        """Open ``member``'s account in ``asset`` (idempotent); also opens the CCP and fee
        accounts in that asset and records its settlement bank."""
        member, asset = _member(member), _asset(asset)
        if member < 0:
            raise ValueError(f"member: {member} is reserved ({_RESERVED_IDS.get(member, 'negative id')})")
        if (member, asset) in self._balances:
            return
        self._open_accounts([(member, asset)])

    def open_accounts(self, keys: Iterable[tuple[int, str]]) -> None:
        """Open many ``(member, asset)`` accounts in one transaction (idempotent)."""
        keys = [(_member(m), _asset(a)) for m, a in keys]
        bad = [m for m, _ in keys if m < 0]
        if bad:
            raise ValueError(f"member: {bad[0]} is reserved ({_RESERVED_IDS.get(bad[0], 'negative id')})")
        self._open_accounts(keys)

    def _open_accounts(self, keys: Iterable[tuple[int, str]]) -> None:
        keys = set(keys)
        for asset in {a for _, a in keys}:
            keys |= {(CLEARING_HOUSE, asset), (EXCHANGE_FEES, asset)}
        new = sorted(k for k in keys if k not in self._balances)
        if not new:
            return
        banks = [(a, self.bank_for(a)) for a in sorted({a for _, a in new}) if a not in self._banks]
        with self._transaction() as conn:
            self._insert_accounts(conn, new, banks)
        for key in new:
            self._balances[key] = 0
        self._banks.update(banks)

    @staticmethod
    def _insert_accounts(conn: sqlite3.Connection, keys: Sequence[tuple[int, str]], banks: Sequence[tuple[str, str]]) -> None:
        conn.executemany("INSERT OR IGNORE INTO accounts (member, asset, balance) VALUES (?, ?, 0)", keys)
        conn.executemany("INSERT OR IGNORE INTO banks (asset, bank) VALUES (?, ?)", banks)

    def has_account(self, member: int, asset: str) -> bool:
        return (member, asset) in self._balances

    def members(self) -> list[int]:
        """Member ids with at least one account, ascending (reserved ids excluded)."""
        return sorted({m for m, _ in self._balances if m >= 0})

    def assets(self) -> list[str]:
        """Assets with at least one account, sorted."""
        return sorted({a for _, a in self._balances})

    def accounts(self) -> list[tuple[int, str, int]]:
        """(member, asset, balance) for every account, CCP and fee account included."""
        return sorted((m, a, b) for (m, a), b in self._balances.items())

    # ------------------------------------------------------------------ balances

    def _key(self, member: Any, asset: Any) -> tuple[int, str]:
        key = (_member(member), asset)
        if key not in self._balances:
            raise KeyError(f"no account for member {key[0]} asset {asset!r}; call open_account first")
        return key

    def balance(self, member: int, asset: str) -> int:
        """Settled balance in minor units. O(1)."""
        return self._balances[self._key(member, asset)]

    def reserved(self, member: int, asset: str) -> int:
        """Amount held for resting orders. O(1)."""
        return self._reserved.get(self._key(member, asset), 0)

    def committed(self, member: int, asset: str, settle_date: Any = None) -> int:
        """Filled but unsettled debits (all dates, or only ``settle_date``). O(1)."""
        key = self._key(member, asset)
        if settle_date is None:
            return self._committed.get(key, 0)
        return self._committed_by_date.get((*key, _day(settle_date)), 0)

    def available(self, member: int, asset: str) -> int:
        """balance - reserved - committed. O(1)."""
        key = self._key(member, asset)
        return self._balances[key] - self._reserved.get(key, 0) - self._committed.get(key, 0)

    def deposit(self, member: int, asset: str, amount: int) -> str:
        """Credit an external top-up or opening balance (amount > 0); returns its run id."""
        key = self._key(member, asset)
        amount = _amount(amount)
        if key[0] < 0:
            raise ValueError(f"member: {key[0]} is reserved; deposits are for members")
        return self._external(key, amount, "deposit")

    def deposit_many(self, rows: Iterable[tuple[int, str, int]]) -> str:
        """Deposit ``(member, asset, amount)`` rows as one run, one transaction; all or none."""
        rows = [(*self._key(m, a), _amount(x)) for m, a, x in rows]
        bad = [r for r in rows if r[0] < 0]
        if bad:
            raise ValueError(f"member: {bad[0][0]} is reserved; deposits are for members")
        if not rows:
            raise ValueError("rows: nothing to deposit")
        with self._transaction() as conn:
            run_id = self._new_run(conn, "deposit", rows)
            conn.executemany("UPDATE accounts SET balance = balance + ? WHERE member = ? AND asset = ?",
                             [(x, m, a) for m, a, x in rows])
        for m, a, x in rows:
            self._balances[(m, a)] += x
        return run_id

    @classmethod
    def _new_run(cls, conn: sqlite3.Connection, kind: str, rows: Sequence[tuple[int, str, int]]) -> str:
        """Record an external run ``kind:N`` with its journal rows ``(member, asset, amount)``."""
        seq = conn.execute("SELECT COUNT(*) FROM runs WHERE kind = ?", (kind,)).fetchone()[0]
        run_id = f"{kind}:{seq + 1}"
        first = cls._max_rowid(conn, "journal") + 1
        conn.executemany("INSERT INTO journal (run_id, member, asset, amount) VALUES (?, ?, ?, ?)",
                         [(run_id, m, a, x) for m, a, x in rows])
        conn.execute(
            "INSERT INTO runs (run_id, kind, created_at, journal_first, journal_last) VALUES (?, ?, ?, ?, ?)",
            (run_id, kind, _now(), first, cls._max_rowid(conn, "journal")),
        )
        return run_id

    @staticmethod
    def _max_rowid(conn: sqlite3.Connection, table: str) -> int:
        return conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}").fetchone()[0]

    def withdraw(self, member: int, asset: str, amount: int) -> str:
        """Pay out up to ``available``; raises InsufficientFunds otherwise. Returns its run id."""
        key = self._key(member, asset)
        amount = _amount(amount)
        available = self.available(*key)
        if key[0] < 0:
            raise ValueError(f"member: {key[0]} is reserved; withdrawals are for members")
        if available < amount:
            raise InsufficientFunds(key[0], key[1], amount, available)
        return self._external(key, -amount, "withdrawal")

    def _external(self, key: tuple[int, str], amount: int, kind: str) -> str:
        """Journal an external movement (the only kind that changes an asset's total)."""
        with self._transaction() as conn:
            run_id = self._new_run(conn, kind, [(*key, amount)])
            conn.execute(
                "UPDATE accounts SET balance = balance + ? WHERE member = ? AND asset = ?", (amount, *key)
            )
        self._balances[key] += amount
        return run_id

    # ------------------------------------------------------------------ pre-trade interface

    def reserve(self, member: int, asset: str, amount: int) -> None:
        """Hold ``amount`` for a resting order; raises InsufficientFunds if available < amount."""
        key = self._key(member, asset)
        amount = _amount(amount)
        if key[0] < 0:
            raise ValueError(f"member: {key[0]} is reserved ({_RESERVED_IDS[key[0]]}) and places no orders")
        available = self._balances[key] - self._reserved.get(key, 0) - self._committed.get(key, 0)
        if available < amount:
            raise InsufficientFunds(key[0], key[1], amount, available)
        self._reserved[key] = self._reserved.get(key, 0) + amount

    def release(self, member: int, asset: str, amount: int) -> None:
        """Give back part of a reservation; more than is reserved raises ValueError."""
        key = self._key(member, asset)
        amount = _amount(amount)
        held = self._reserved.get(key, 0)
        if amount > held:
            raise ValueError(f"release: amount {amount} exceeds reserved {held} for member {key[0]} asset {key[1]!r}")
        self._set(self._reserved, key, held - amount)

    def commit(self, member: int, asset: str, amount: int, settle_date: Any) -> None:
        """A fill: move ``amount`` from reserved to committed for ``settle_date``."""
        key = self._key(member, asset)
        amount = _amount(amount)
        day = _day(settle_date)
        held = self._reserved.get(key, 0)
        if amount > held:
            raise ValueError(f"commit: amount {amount} exceeds reserved {held} for member {key[0]} asset {key[1]!r}")
        self._set(self._reserved, key, held - amount)
        self._committed[key] = self._committed.get(key, 0) + amount
        dkey = (*key, day)
        self._committed_by_date[dkey] = self._committed_by_date.get(dkey, 0) + amount

    @staticmethod
    def _set(store: dict, key: Any, value: int) -> None:
        if value:
            store[key] = value
        else:
            store.pop(key, None)

    def commitments(self, settle_date: Any) -> dict[tuple[int, str], int]:
        """(member, asset) -> committed amount for one settlement date."""
        day = _day(settle_date)
        return {(m, a): v for (m, a, d), v in self._committed_by_date.items() if d == day}

    def settle_commitments(self, day: str, to_day: str | None, rolled: Mapping[tuple[int, str], int]) -> None:
        """After the settlement run of ``day``: every commitment for ``day`` is done with
        (settled or failed); the failed debits ``rolled[(member, asset)]`` become commitments
        on ``to_day`` when they roll (None: cancelled)."""
        for (m, a, d), v in list(self._committed_by_date.items()):
            if d == day:
                del self._committed_by_date[(m, a, d)]
                self._set(self._committed, (m, a), self._committed.get((m, a), 0) - v)
        if to_day is None:
            return
        for (m, a), v in rolled.items():
            if v > 0:
                self._committed[(m, a)] = self._committed.get((m, a), 0) + v
                dkey = (m, a, to_day)
                self._committed_by_date[dkey] = self._committed_by_date.get(dkey, 0) + v

    # ------------------------------------------------------------------ runs

    def has_run(self, run_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def run_info(self, run_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT run_id, kind, settle_date, digest, created_at, summary FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            return None
        keys = ("run_id", "kind", "settle_date", "digest", "created_at", "summary")
        info = dict(zip(keys, row))
        info["summary"] = json.loads(info["summary"]) if info["summary"] else {}
        return info

    def runs(self) -> list[dict[str, Any]]:
        """Every run (deposits, withdrawals, settlements) in the order they were written."""
        ids = [r[0] for r in self._conn.execute("SELECT run_id FROM runs ORDER BY rowid")]
        return [self.run_info(i) for i in ids]

    def carried(self, due_date: Any) -> tuple[list[tuple], list[tuple]]:
        """Unconsumed carried NET rows ``(id, member, asset, amount)`` and GROSS rows
        ``(id, trade_id, leg, receiver, deliverer, base_asset, base_amount, quote_asset,
        pay_amount, proceeds, fee)`` due on ``due_date``."""
        day = _day(due_date)
        net_rows = self._conn.execute(
            "SELECT id, member, asset, amount FROM carried_net WHERE due_date = ? AND consumed_by IS NULL ORDER BY id",
            (day,),
        ).fetchall()
        gross_rows = self._conn.execute(
            "SELECT id, trade_id, leg, receiver, deliverer, base_asset, base_amount, quote_asset, pay_amount, "
            "proceeds, fee FROM carried_gross WHERE due_date = ? AND consumed_by IS NULL ORDER BY id",
            (day,),
        ).fetchall()
        return net_rows, gross_rows

    def asset_totals(self) -> dict[str, int]:
        """Sum of all balances per asset, read from the database (not the cache)."""
        return dict(self._conn.execute("SELECT asset, SUM(balance) FROM accounts GROUP BY asset"))

    def _hook(self, stage: str) -> None:
        if self.run_hook is not None:
            self.run_hook(stage)

    def post_run(self, run: RunRecord) -> dict[tuple[int, str], int] | None:
        """Apply a settlement run atomically; return the balances after of touched accounts.

        Returns None (and writes nothing) if ``run.run_id`` is already in the ledger. Inside
        the one transaction: open missing accounts, apply the journal's sums, check that no
        member balance is negative and that every asset's total is unchanged (else
        :class:`ConservationError`, rolled back), write report rows and carried obligations.
        The balance cache changes only after COMMIT succeeds.
        """
        if not isinstance(run.run_id, str) or not run.run_id or "\x00" in run.run_id:
            raise ValueError(f"run_id: {run.run_id!r} must be a non-empty string without NUL")
        deltas = run.journal.sums()
        touched = sorted(set(deltas) | {(m, a) for _, _, m, a, _, _ in run.lines})
        missing = [k for k in touched if k not in self._balances]
        for asset in {a for _, a in touched}:
            missing += [k for k in ((CLEARING_HOUSE, asset), (EXCHANGE_FEES, asset)) if k not in self._balances]
        banks = [(a, self.bank_for(a)) for a in sorted({a for _, a in missing}) if a not in self._banks]
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run.run_id,)).fetchone():
                return None
            self._hook("begin")
            before = dict(conn.execute("SELECT asset, SUM(balance) FROM accounts GROUP BY asset"))
            self._insert_accounts(conn, sorted(set(missing)), banks)
            self._apply_deltas(conn, deltas)
            self._hook("balances")
            ranges = self._write_rows(conn, run)
            self._hook("journal")
            self._check_after(conn, before)
            balances = self._snapshot(conn, run.run_id, touched)
            conn.execute(
                "INSERT INTO runs (run_id, kind, settle_date, digest, created_at, summary, journal_first, "
                "journal_last) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run.run_id, run.kind, run.settle_date, run.digest, _now(), json.dumps(run.summary, sort_keys=True),
                 *ranges),
            )
            self._hook("commit")
        for key in set(missing):
            self._balances.setdefault(key, 0)
        self._balances.update(balances)
        self._banks.update(banks)
        return balances

    @staticmethod
    def _apply_deltas(conn: sqlite3.Connection, deltas: Mapping[tuple[int, str], int]) -> None:
        conn.executemany(
            "UPDATE accounts SET balance = balance + ? WHERE member = ? AND asset = ?",
            [(d, m, a) for (m, a), d in deltas.items() if d],
        )

    @classmethod
    def _write_rows(cls, conn: sqlite3.Connection, run: RunRecord) -> tuple[int, int]:
        """Insert the run's rows; return the row-id range of its journal rows."""
        rid = run.run_id
        journal_first = cls._max_rowid(conn, "journal") + 1
        # The run id as an SQL literal (quotes doubled): binding it per row would need a Python
        # generator step per row, the main cost of writing millions of journal rows.
        literal = "'" + rid.replace("'", "''") + "'"
        conn.executemany(
            f"INSERT INTO journal (run_id, member, asset, amount, trade_id) VALUES ({literal}, ?, ?, ?, ?)",
            run.journal.rows(),
        )
        journal_last = cls._max_rowid(conn, "journal")
        conn.executemany("INSERT INTO run_lines VALUES (?, ?, ?, ?, ?, ?, ?)", ((rid, *r) for r in run.lines))
        if run.gross is not None:
            conn.execute("INSERT INTO run_gross (run_id, lines) VALUES (?, ?)", (rid, run.gross))
        conn.executemany("INSERT INTO run_shortfalls VALUES (?, ?, ?, ?, ?, ?, ?)", ((rid, *r) for r in run.shortfalls))
        conn.executemany(
            "INSERT INTO carried_net (due_date, member, asset, amount, origin_run) VALUES (?, ?, ?, ?, ?)",
            ((*r, rid) for r in run.carried_net),
        )
        conn.executemany(
            "INSERT INTO carried_gross (due_date, trade_id, leg, receiver, deliverer, base_asset, base_amount, "
            "quote_asset, pay_amount, proceeds, fee, origin_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((*r, rid) for r in run.carried_gross),
        )
        conn.executemany("UPDATE carried_net SET consumed_by = ? WHERE id = ?", ((rid, i) for i in run.consume_net))
        conn.executemany("UPDATE carried_gross SET consumed_by = ? WHERE id = ?", ((rid, i) for i in run.consume_gross))
        return journal_first, journal_last

    @staticmethod
    def _check_after(conn: sqlite3.Connection, before: Mapping[str, int]) -> dict[str, int]:
        """Raise ConservationError if an asset total changed or a member balance is negative."""
        after = dict(conn.execute("SELECT asset, SUM(balance) FROM accounts GROUP BY asset"))
        changed = {a: (before.get(a, 0), after.get(a, 0)) for a in set(before) | set(after) if before.get(a, 0) != after.get(a, 0)}
        if changed:
            raise ConservationError(f"settlement would change asset totals (before, after): {changed}")
        negative = conn.execute(
            "SELECT member, asset, balance FROM accounts WHERE member >= 0 AND balance < 0 LIMIT 1"
        ).fetchone()
        if negative:
            raise ConservationError(f"settlement would leave member {negative[0]} {negative[1]!r} at {negative[2]}")
        return after

    @staticmethod
    def _snapshot(conn: sqlite3.Connection, run_id: str, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """Store and return the balances of ``keys`` as they are inside the transaction."""
        wanted = set(keys)
        balances = {
            (m, a): b for m, a, b in conn.execute("SELECT member, asset, balance FROM accounts") if (m, a) in wanted
        }
        conn.executemany(
            "INSERT INTO run_balances VALUES (?, ?, ?, ?)", ((run_id, m, a, b) for (m, a), b in sorted(balances.items()))
        )
        return balances

    def run_rows(self, run_id: str) -> dict[str, Any]:
        """The stored report of a run: rows of lines, shortfalls, balances; the gross blob."""
        q = self._conn.execute
        return {
            "lines": q("SELECT kind, status, member, asset, amount, carried_to FROM run_lines WHERE run_id = ? ORDER BY rowid", (run_id,)).fetchall(),
            "gross": (q("SELECT lines FROM run_gross WHERE run_id = ?", (run_id,)).fetchone() or [None])[0],
            "shortfalls": q("SELECT trade_id, leg, member, asset, needed, available FROM run_shortfalls WHERE run_id = ? ORDER BY rowid", (run_id,)).fetchall(),
            "balances": q("SELECT member, asset, balance FROM run_balances WHERE run_id = ? ORDER BY member, asset", (run_id,)).fetchall(),
        }

    def journal(self, run_id: str | None = None) -> list[tuple[int, str, int, str, int | None]]:
        """Journal rows ``(member, asset, amount, run_id, trade_id)``, all or of one run."""
        if run_id is None:
            cur = self._conn.execute("SELECT member, asset, amount, run_id, trade_id FROM journal ORDER BY id")
        else:
            cur = self._conn.execute(
                "SELECT member, asset, amount, run_id, trade_id FROM journal WHERE id BETWEEN ? AND ? AND run_id = ? "
                "ORDER BY id", (*self._range(run_id, "journal"), run_id),
            )
        return cur.fetchall()

    def _range(self, run_id: str, table: str) -> tuple[int, int]:
        """The row-id range of a run's rows in ``journal`` ((0, -1) if none)."""
        row = self._conn.execute(
            f"SELECT {table}_first, {table}_last FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        return (0, -1) if row is None or row[0] is None else (row[0], row[1])

    def verify(self) -> None:
        """Check the cache equals the database and every balance equals its journal sum."""
        stored = {(m, a): b for m, a, b in self._conn.execute("SELECT member, asset, balance FROM accounts")}
        if stored != self._balances:
            raise LedgerError("balance cache differs from the database")
        sums = {(m, a): s for m, a, s in self._conn.execute("SELECT member, asset, SUM(amount) FROM journal GROUP BY member, asset")}
        bad = [(k, b, sums.get(k, 0)) for k, b in stored.items() if b != sums.get(k, 0)]
        if bad:
            raise LedgerError(f"balances differ from journal sums (account, balance, journal): {bad[:5]}")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
