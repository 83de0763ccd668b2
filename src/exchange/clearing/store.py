"""The ledger's SQLite file: schema, opening and checking it, and the one-writer lock.

Every table is STRICT: an amount or a balance can only be an INTEGER (SQLite refuses a REAL or
a text, which it would otherwise store silently), and ``accounts`` refuses a negative balance of
a member (ids >= 0) by a CHECK. A run's movements are one journal row per account it touched
(``balance == SUM(journal.amount)`` per account, checked by ``Ledger.verify``); the trades a run
settled are stored as id blobs per (due date, trade date) in ``settled_trades``
(``keys.encode_ids``); a run's shortfalls and its GROSS deals that rolled are one blob each
(``results.encode_coded``): a big run writes a few blobs, not hundreds of thousands of rows.

One writer at a time: a writing ``Ledger`` holds an exclusive advisory lock on ``<file>.lock``
for as long as it is open (``flock``; the OS drops it when the process dies, so a killed writer
never blocks the next). A second writer, in this process or another, gets
:class:`LedgerLocked`; readers (``readonly=True``) take no lock and are never blocked.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["SCHEMA_VERSION", "LedgerCorrupt", "LedgerError", "LedgerLocked", "WriterLock", "connect", "dump", "load",
           "transaction"]

SCHEMA_NAME = "exchange.clearing.ledger"
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE accounts (
    member INTEGER NOT NULL, asset TEXT NOT NULL, balance INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (member, asset), CHECK (member < 0 OR balance >= 0)) STRICT, WITHOUT ROWID;
CREATE TABLE banks (asset TEXT PRIMARY KEY, bank TEXT NOT NULL) STRICT;
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, settle_date TEXT, digest TEXT, args TEXT,
    created_at TEXT NOT NULL, summary TEXT, journal_first INTEGER, journal_last INTEGER) STRICT;
CREATE TABLE journal (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, member INTEGER NOT NULL, asset TEXT NOT NULL,
    amount INTEGER NOT NULL) STRICT;
CREATE TABLE run_lines (
    run_id TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, member INTEGER NOT NULL,
    asset TEXT NOT NULL, amount INTEGER NOT NULL, carried_to TEXT) STRICT;
CREATE INDEX run_lines_run ON run_lines (run_id);
CREATE TABLE run_gross (run_id TEXT PRIMARY KEY, assets TEXT NOT NULL, lines BLOB NOT NULL) STRICT;
CREATE TABLE run_shortfalls (run_id TEXT PRIMARY KEY, assets TEXT NOT NULL, lines BLOB NOT NULL) STRICT;
CREATE TABLE run_balances (
    run_id TEXT NOT NULL, member INTEGER NOT NULL, asset TEXT NOT NULL, balance INTEGER NOT NULL) STRICT;
CREATE INDEX run_balances_run ON run_balances (run_id);
CREATE TABLE carried_net (
    id INTEGER PRIMARY KEY, due_date TEXT NOT NULL, member INTEGER NOT NULL, asset TEXT NOT NULL,
    amount INTEGER NOT NULL, origin_run TEXT NOT NULL, consumed_by TEXT) STRICT;
CREATE INDEX carried_net_due ON carried_net (due_date);
CREATE TABLE carried_gross (
    id INTEGER PRIMARY KEY, due_date TEXT NOT NULL, origin_run TEXT NOT NULL, assets TEXT NOT NULL,
    deals BLOB NOT NULL, consumed_by TEXT) STRICT;
CREATE INDEX carried_gross_due ON carried_gross (due_date);
CREATE TABLE settled_trades (
    run_id TEXT NOT NULL, due_date INTEGER NOT NULL, trade_date INTEGER NOT NULL, ids BLOB NOT NULL) STRICT;
CREATE INDEX settled_trades_due ON settled_trades (due_date);
"""

REQUIRED_TABLES = (
    "meta", "accounts", "banks", "runs", "journal", "run_lines", "run_gross", "run_shortfalls",
    "run_balances", "carried_net", "carried_gross", "settled_trades",
)


class LedgerError(ValueError):
    """Base class of the ledger's own errors."""


class LedgerCorrupt(LedgerError):
    """The file is not a ledger of this schema version (or not an SQLite database at all)."""


class LedgerLocked(LedgerError):
    """Another Ledger has the file open for writing."""


def connect(path: str | None, readonly: bool) -> sqlite3.Connection:
    """An autocommit connection to a checked ledger file (created if new and not ``readonly``).
    Raises LedgerCorrupt, leaving the file as it was, if it is not a ledger of this version."""
    fresh = path is None or not os.path.exists(path) or os.path.getsize(path) == 0
    if readonly and (path is None or fresh):
        raise LedgerError(f"ledger {path!r}: a read-only ledger needs an existing ledger file")
    target = ":memory:" if path is None else (Path(path).resolve().as_uri() + "?mode=ro" if readonly else path)
    try:
        conn = sqlite3.connect(target, isolation_level=None, uri=readonly)
    except sqlite3.Error as exc:
        raise LedgerCorrupt(f"ledger {path!r}: cannot open ({exc})") from exc
    try:
        if not readonly and (fresh or _no_tables(conn)):
            _create(conn)
        else:
            _check_schema(conn, f"ledger file {path!r}")
        conn.execute("PRAGMA synchronous = FULL")
        # Big runs write tens of megabytes in one transaction: keep the pages in memory until
        # COMMIT instead of spilling the default 2 MB cache to the file.
        conn.execute("PRAGMA cache_size = -262144")
    except BaseException:
        conn.close()
        raise
    return conn


def _no_tables(conn: sqlite3.Connection) -> bool:
    """True for an SQLite database without any table (e.g. a creation cut short by a crash
    and rolled back): it holds nothing, so it becomes a new ledger."""
    try:
        return conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    except sqlite3.DatabaseError:
        return False  # not a database: _check_schema reports it


def _create(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        # executescript() would COMMIT on its own; run the statements one by one instead.
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                         [("schema", SCHEMA_NAME), ("schema_version", str(SCHEMA_VERSION))])


def _check_schema(conn: sqlite3.Connection, where: str) -> None:
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
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise LedgerCorrupt(f"{where}: tables missing: {missing}")


def dump(conn: sqlite3.Connection) -> bytes:
    """The whole database as bytes: SQLite's serialization, the image a copy of the file would
    hold (what a snapshot of the venue keeps of its ledger). O(database size)."""
    return conn.serialize()


def load(conn: sqlite3.Connection, data: bytes, where: str) -> None:
    """Replace the database of ``conn`` by the one ``data`` holds (as :func:`dump` made it),
    checked first as a ledger of this schema version (LedgerCorrupt naming ``where`` if it is
    not; ``conn`` is then unchanged). O(database size)."""
    source = sqlite3.connect(":memory:")
    try:
        try:
            source.deserialize(data)
        except (sqlite3.DatabaseError, TypeError, ValueError) as exc:
            raise LedgerCorrupt(f"{where} is not a readable SQLite database: {exc}") from exc
        _check_schema(source, where)
        source.backup(conn)
    finally:
        source.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception (the exception propagates)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class WriterLock:
    """An exclusive, non-blocking advisory lock on ``<path>.lock`` (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path + ".lock"
        self._file: IO[str] | None = open(self.path, "a+")  # noqa: SIM115 - held open: it holds the lock
        try:
            _lock(self._file)
        except OSError:
            self._file.seek(0)
            holder = self._file.read().strip() or "unknown"
            self._file.close()
            self._file = None
            raise LedgerLocked(
                f"ledger file {path!r} is open for writing by another Ledger (process {holder}); one writer "
                "at a time: close it first, or open this one with Ledger(path, readonly=True) to read") from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the lock
            self._file = None


def _lock(file: IO[str]) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
