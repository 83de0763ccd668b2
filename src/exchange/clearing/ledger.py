"""The clearing ledger: settled balances in SQLite (:mod:`.store`), the runs that moved them,
the trades each run settled, and listeners told of every committed settlement run.

Balances (integer minor units per member and asset) are read through a dict cache kept in step
with every committed write. Every run (deposit, withdrawal, settlement) writes one journal row
per account it moved, so ``balance == SUM(journal.amount)`` for every account
(:meth:`Ledger.verify` checks it, with the types and signs). A settlement run is written by
:meth:`Ledger.post_run` as ONE SQLite transaction: after a crash the file holds all of the run or
none of it, and a run id already in the file is never applied twice.

Every amount is checked before anything is written: a movement that would take a balance or an
asset's total out of int64, or a member below zero, raises ValueError (ConservationError for a
run) and changes nothing. ``CLEARING_HOUSE`` (the CCP) and ``EXCHANGE_FEES`` (the fee account)
are reserved negative member ids with an account in every asset; their balances may go negative
(the CCP fronts a failed member's obligations), members' never do. Member ids are
0..``records.MEMBER_ID_MAX``.

Reservations and commitments (intraday, in memory) are :mod:`.reservations`; they follow
settlement as a listener (:meth:`Ledger.add_listener`).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from exchange.codes import CODES
from exchange.records import MEMBER_ID_MAX
from exchange.reference.dates import as_day64
from exchange.reference.instruments import MAX_INT64, checked_int

from .audit import check_ledger
from .keys import TradeKeys
from .netting import CLEARING_HOUSE, EXCHANGE_FEES, GROSS_DTYPE
from .reservations import InsufficientFunds, Reservations
from .runs import (
    RunRecord,
    SettlementNotice,
    read_carried,
    read_run_rows,
    read_settled_keys,
    write_run_rows,
)
from .store import (
    SCHEMA_VERSION,
    LedgerCorrupt,
    LedgerError,
    LedgerLocked,
    WriterLock,
    connect,
    dump,
    load,
    transaction,
)

__all__ = [
    "CLEARING_HOUSE", "DEFAULT_SETTLEMENT_BANKS", "EXCHANGE_FEES", "SCHEMA_VERSION", "SECURITIES_DEPOSITORY",
    "ConservationError", "InsufficientFunds", "Ledger", "LedgerCorrupt", "LedgerError", "LedgerLocked",
    "RunRecord", "SettlementNotice",
]

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
_MIN_INT64 = -(2**63)

Key = tuple[int, str]


class ConservationError(LedgerError):
    """A run would change the sum of some asset's balances or leave a member below zero; the
    transaction is rolled back."""


def _member(value: Any, name: str = "member") -> int:
    """An integer member id (numpy ints accepted, bools refused); its range is checked where
    accounts are opened."""
    if type(value) is int:  # the per-order fast path
        return value
    return checked_int(value, name, -MAX_INT64 - 1, ValueError)


def _amount(value: Any, name: str = "amount") -> int:
    """A positive int amount within int64 (numpy ints accepted); bools, floats refused."""
    if type(value) is int and 0 < value <= MAX_INT64:  # the per-order fast path
        return value
    return checked_int(value, name, 1, ValueError)


def _asset(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 12 or not value.isprintable():
        raise ValueError(f"asset: {value!r} must be a non-empty string of at most 12 characters")
    return value


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _deprecated(name: str) -> None:
    warnings.warn(f"Ledger.{name} is deprecated: pre-trade holds and commitments live in the "
                  f"venue (Exchange.funds, Exchange.deposit, Exchange.withdraw)",
                  DeprecationWarning, stacklevel=3)


class Ledger:
    """Balances per (member, asset) in SQLite; reservations and commitments in memory.

    ``Ledger(path)`` opens or creates the file for writing (``None``: an in-memory database);
    ``Ledger(path, readonly=True)`` opens an existing file to read (:meth:`refresh` re-reads it).
    An existing file that is not a ledger of this schema version raises :class:`LedgerCorrupt`
    and is not modified; a file another writer has open raises :class:`LedgerLocked`.
    ``settlement_banks`` maps asset -> bank name, over :data:`DEFAULT_SETTLEMENT_BANKS`; assets
    not in the map settle at :data:`SECURITIES_DEPOSITORY`.
    """

    #: Called as ``hook(stage)`` inside a run's transaction (stages "begin", "balances",
    #: "journal", "commit"); tests use it to kill the process mid-run. None in production.
    run_hook: Callable[[str], None] | None = None

    def __init__(self, path: str | os.PathLike | None = None, settlement_banks: Mapping[str, str] | None = None,
                 *, readonly: bool = False) -> None:
        self.path = None if path is None else os.fspath(path)
        self.readonly = readonly
        self._banks_config = {**DEFAULT_SETTLEMENT_BANKS, **(settlement_banks or {})}
        self._lock = WriterLock(self.path) if self.path is not None and not readonly else None
        try:
            self._conn = connect(self.path, readonly)
        except BaseException:
            self._release()
            raise
        self._balances: dict[Key, int] = {}
        self._banks: dict[str, str] = {}
        self._listeners: list[Callable[[SettlementNotice], None]] = []
        #: Counts committed balance changes (deposits, withdrawals, settlement runs, refresh):
        #: a reader that mirrors balances re-reads them when it moves. O(1) to read.
        self.version = 0
        self._legacy_holds: Reservations | None = None  # made by the first deprecated call
        self.refresh()
        if settlement_banks and not readonly:
            self._store_banks(self._banks_config, only_known=True)

    def refresh(self) -> None:
        """Re-read balances and banks from the file (a reader's view of the writer's work)."""
        self._balances = {(m, a): b for m, a, b in self._conn.execute("SELECT member, asset, balance FROM accounts")}
        self.version += 1
        self._banks = dict(self._conn.execute("SELECT asset, bank FROM banks"))

    def close(self) -> None:
        """Close the database and release the writer lock; the in-memory state is dropped."""
        self._conn.close()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def dump(self) -> bytes:
        """The whole ledger (balances, runs, journal, settled and carried obligations) as an
        SQLite database image: what a snapshot of the venue keeps. O(ledger size)."""
        return dump(self._conn)

    def load(self, data: bytes) -> None:
        """Become the ledger ``data`` holds (:meth:`dump`): a recovery rebuilds its ledger from
        a snapshot. This ledger must hold no account yet (ValueError); LedgerCorrupt if
        ``data`` is not a ledger of this schema version (nothing changed then)."""
        if self.readonly:
            raise LedgerError(f"ledger {self.path!r} is open read-only")
        if self._balances:
            raise ValueError("load: this ledger already holds accounts; load into a new one")
        load(self._conn, data, "the snapshot's ledger")
        self.refresh()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self):
        if self.readonly:
            raise LedgerError(f"ledger {self.path!r} is open read-only")
        return transaction(self._conn)

    # ------------------------------------------------------------------ listeners

    def add_listener(self, callback: Callable[[SettlementNotice], None]) -> Callable[[], None]:
        """Call ``callback(notice)`` once after every settlement run that commits (not for
        ``already_settled`` or ``nothing_due`` answers); returns a function that unsubscribes."""
        if not callable(callback):
            raise TypeError(f"callback: {callback!r} is not callable")
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def _notify(self, notice: SettlementNotice) -> None:
        """Call every listener; if some raise, raise the first after all were called (the run
        is committed whatever they do)."""
        errors = []
        for listener in list(self._listeners):
            try:
                listener(notice)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise LedgerError(f"settlement run {notice.run_id!r} committed, but a listener failed: "
                              f"{errors[0]!r}") from errors[0]

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

    @staticmethod
    def _new_member(value: Any) -> int:
        member = _member(value)
        if member < 0:
            raise ValueError(f"member: {member} is reserved ({_RESERVED_IDS.get(member, 'negative id')})")
        if member > MEMBER_ID_MAX:
            raise ValueError(f"member: {member} is not in 0..{MEMBER_ID_MAX} (member ids are int32 in trade records)")
        return member

    def open_account(self, member: int, asset: str) -> None:
        """Open ``member``'s account in ``asset`` (idempotent); also opens the CCP and fee
        accounts in that asset and records its settlement bank."""
        key = (self._new_member(member), _asset(asset))
        if key not in self._balances:
            self._open_accounts([key])

    def open_accounts(self, keys: Iterable[tuple[int, str]]) -> None:
        """Open many ``(member, asset)`` accounts in one transaction (idempotent)."""
        self._open_accounts([(self._new_member(m), _asset(a)) for m, a in keys])

    def _open_accounts(self, keys: Iterable[Key]) -> None:
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
    def _insert_accounts(conn: sqlite3.Connection, keys: Sequence[Key], banks: Sequence[tuple[str, str]]) -> None:
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

    def _key(self, member: Any, asset: Any) -> Key:
        key = (_member(member), asset)
        if key not in self._balances:
            raise KeyError(f"no account for member {key[0]} asset {asset!r}; call open_account first")
        return key

    def balance(self, member: int, asset: str) -> int:
        """Settled balance in minor units. O(1)."""
        return self._balances[self._key(member, asset)]

    def reserved(self, member: int, asset: str) -> int:
        """Amount held for resting orders. O(1)."""
        _deprecated("reserved")
        return self._holds().reserved(self._key(member, asset))

    def committed(self, member: int, asset: str, settle_date: Any = None) -> int:
        """Filled but unsettled debits (all dates, or only ``settle_date``). O(1)."""
        _deprecated("committed")
        key = self._key(member, asset)
        return self._holds().committed(key, None if settle_date is None else str(as_day64(settle_date, "settle_date")))

    def available(self, member: int, asset: str) -> int:
        """balance - reserved - committed. O(1)."""
        _deprecated("available")
        return self._holds().available(self._key(member, asset))

    def asset_totals(self) -> dict[str, int]:
        """Sum of all balances per asset, read from the database (not the cache), summed
        exactly in Python."""
        totals: dict[str, int] = {}
        for asset, balance in self._conn.execute("SELECT asset, balance FROM accounts"):
            totals[asset] = totals.get(asset, 0) + balance
        return totals

    def deposit(self, member: int, asset: str, amount: int) -> str:
        """Credit an external top-up or opening balance (amount > 0); returns its run id."""
        return self.deposit_many([(member, asset, amount)])

    def deposit_many(self, rows: Iterable[tuple[int, str, int]]) -> str:
        """Deposit ``(member, asset, amount)`` rows as one run, one transaction; all or none.
        ValueError (nothing written) if a balance or an asset's total would pass 2**63 - 1."""
        rows = [(*self._key(m, a), _amount(x)) for m, a, x in rows]
        bad = [r for r in rows if r[0] < 0]
        if bad:
            raise ValueError(f"member: {bad[0][0]} is reserved; deposits are for members")
        if not rows:
            raise ValueError("rows: nothing to deposit")
        return self._external("deposit", rows)

    def withdraw(self, member: int, asset: str, amount: int) -> str:
        """Pay out up to ``available``; raises InsufficientFunds otherwise. Returns its run id."""
        key = self._key(member, asset)
        amount = _amount(amount)
        if key[0] < 0:
            raise ValueError(f"member: {key[0]} is reserved; withdrawals are for members")
        available = self._balances[key] if self._legacy_holds is None else \
            self._legacy_holds.available(key)
        if available < amount:
            raise InsufficientFunds(key[0], key[1], amount, available)
        return self._external("withdrawal", [(*key, -amount)])

    def _external(self, kind: str, rows: Sequence[tuple[int, str, int]]) -> str:
        """Journal an external movement (the only kind that changes an asset's total)."""
        deltas: dict[Key, int] = {}
        for m, a, x in rows:
            deltas[(m, a)] = deltas.get((m, a), 0) + x
        totals = self.asset_totals()
        for asset in {a for _, a in deltas}:
            total = totals.get(asset, 0) + sum(x for (_, a), x in deltas.items() if a == asset)
            if total > MAX_INT64:
                raise ValueError(f"amount: {asset} would total {total} over all accounts, past 2**63 - 1")
        after = self._after(deltas)
        with self._transaction() as conn:
            seq = conn.execute("SELECT COUNT(*) FROM runs WHERE kind = ?", (kind,)).fetchone()[0]
            run_id = f"{kind}:{seq + 1}"
            self._write_movements(conn, run_id, kind, deltas, after, {})
        self._balances.update(after)
        self.version += 1
        return run_id

    def _after(self, deltas: Mapping[Key, int], run_kind: str = "external") -> dict[Key, int]:
        """The balances ``deltas`` lead to; ValueError (ConservationError for a run) if one
        leaves int64 or a member's goes below zero."""
        error = ConservationError if run_kind == "settlement" else ValueError
        after = {}
        for key, delta in deltas.items():
            value = self._balances.get(key, 0) + delta
            if not _MIN_INT64 <= value <= MAX_INT64:
                raise error(f"amount: member {key[0]} {key[1]!r} would hold {value}, outside int64")
            if key[0] >= 0 and value < 0:
                what = "settlement" if run_kind == "settlement" else "this movement"
                raise error(f"{what} would leave member {key[0]} {key[1]!r} at {value}")
            after[key] = value
        return after

    def _write_movements(self, conn: sqlite3.Connection, run_id: str, kind: str, deltas: Mapping[Key, int],
                         after: Mapping[Key, int], run: Mapping[str, Any]) -> None:
        """The balances (compare-and-set against this handle's view), one journal row per
        account, and the run row."""
        rows = [(after[k], k[0], k[1], self._balances.get(k, 0)) for k in sorted(deltas) if deltas[k]]
        cur = conn.executemany("UPDATE accounts SET balance = ? WHERE member = ? AND asset = ? AND balance = ?", rows)
        if cur.rowcount != len(rows):
            raise LedgerError("the ledger file changed under this handle (a balance is not what it read); nothing written")
        self._hook("balances")
        first = conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0] + 1
        conn.executemany("INSERT INTO journal (run_id, member, asset, amount) VALUES (?, ?, ?, ?)",
                         [(run_id, m, a, deltas[(m, a)]) for m, a in sorted(deltas) if deltas[(m, a)]])
        last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0]
        conn.execute(
            "INSERT INTO runs (run_id, kind, settle_date, digest, args, created_at, summary, journal_first, "
            "journal_last) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, kind, run.get("settle_date"), run.get("digest"), run.get("args"), _now(), run.get("summary"),
             first, last))

    # ------------------------------------------------------------------ pre-trade interface (legacy)

    def _holds(self) -> Reservations:
        """The legacy reservations, made (and listening to settlements) on first use."""
        if self._legacy_holds is None:
            self._legacy_holds = Reservations(lambda key: self._balances[key])
            self.add_listener(self._legacy_holds.on_settled)
        return self._legacy_holds
    # Deprecated: pre-trade holds live in the venue's risk stage (Exchange.funds/deposit/
    # withdraw); these keep the ledger's own bookkeeping for one release.

    def reserve(self, member: int, asset: str, amount: int) -> None:
        """Hold ``amount`` for a resting order; raises InsufficientFunds if available < amount."""
        _deprecated("reserve")
        key = self._key(member, asset)
        amount = _amount(amount)
        if key[0] < 0:
            raise ValueError(f"member: {key[0]} is reserved ({_RESERVED_IDS[key[0]]}) and places no orders")
        self._holds().reserve(key, amount)

    def release(self, member: int, asset: str, amount: int) -> None:
        """Give back part of a reservation; more than is reserved raises ValueError."""
        _deprecated("release")
        self._holds().release(self._key(member, asset), _amount(amount))

    def commit(self, member: int, asset: str, amount: int, settle_date: Any) -> None:
        """A fill: move ``amount`` from reserved to committed for ``settle_date``."""
        _deprecated("commit")
        key = self._key(member, asset)
        self._holds().commit(key, _amount(amount), str(as_day64(settle_date, "settle_date")))

    def commitments(self, settle_date: Any) -> dict[Key, int]:
        """(member, asset) -> committed amount for one settlement date."""
        _deprecated("commitments")
        return self._holds().commitments(str(as_day64(settle_date, "settle_date")))

    def settle_commitments(self, day: str, to_day: str | None, rolled: Mapping[Key, int]) -> None:
        """See :meth:`Reservations.settle_commitments` (called by the settlement listener)."""
        self._holds().settle_commitments(day, to_day, rolled)

    # ------------------------------------------------------------------ runs

    def has_run(self, run_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def run_info(self, run_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT run_id, kind, settle_date, digest, args, created_at, summary FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            return None
        info = dict(zip(("run_id", "kind", "settle_date", "digest", "args", "created_at", "summary"), row))
        info["summary"] = json.loads(info["summary"]) if info["summary"] else {}
        info["args"] = json.loads(info["args"]) if info["args"] else {}
        return info

    def runs(self) -> list[dict[str, Any]]:
        """Every run (deposits, withdrawals, settlements) in the order they were written."""
        ids = [r[0] for r in self._conn.execute("SELECT run_id FROM runs ORDER BY rowid")]
        return [self.run_info(i) for i in ids]

    def carried(self, due_date: Any) -> tuple[list[tuple], list[tuple]]:
        """Unconsumed carried NET rows ``(id, member, asset, amount)`` and GROSS deals
        ``(id, trade_id, leg, receiver, deliverer, base_asset, base_amount, quote_asset,
        pay_amount, proceeds, fee, trade_date)`` due on ``due_date`` (``id``: the stored batch
        of the deals that rolled together). O(rows)."""
        net_rows, ids, deals = self.carried_deals(due_date)
        columns = [deals[f].tolist() for f in GROSS_DTYPE.names if f != "date"]
        for i, f in enumerate(n for n in GROSS_DTYPE.names if n != "date"):
            if f in ("base_asset", "quote_asset"):
                columns[i] = CODES.asset.decode(deals[f])
            elif f == "trade_date":
                columns[i] = deals[f].astype(str).tolist()
        return net_rows, list(zip(ids, *columns))

    def carried_deals(self, due_date: Any) -> tuple[list[tuple], list[int], np.ndarray]:
        """What :meth:`carried` reads, the GROSS deals as one GROSS_DTYPE array (``date`` the
        due date): (NET rows, the batch id of each deal, the deals)."""
        net_rows, batches = read_carried(self._conn, str(as_day64(due_date, "due_date")))
        deals = np.concatenate([b for _, b in batches]) if batches else np.zeros(0, GROSS_DTYPE)
        deals["date"] = np.datetime64(str(as_day64(due_date, "due_date")), "D")
        return net_rows, [i for i, b in batches for _ in range(len(b))], deals

    def settled_keys(self, due_date: Any) -> tuple[TradeKeys, dict[tuple[int, int], list[str]]]:
        """The keys of the trades whose legs due on ``due_date`` some run settled, and which
        runs settled each (due, trade day) group."""
        return read_settled_keys(self._conn, int(np.datetime64(str(as_day64(due_date, "due_date")), "D").astype(np.int64)))

    def _hook(self, stage: str) -> None:
        if self.run_hook is not None:
            self.run_hook(stage)

    def post_run(self, run: RunRecord) -> dict[Key, int] | None:
        """Apply a settlement run atomically; return the balances after of touched accounts.

        Returns None (and writes nothing) if ``run.run_id`` is already in the ledger. Checked
        before anything is written: every asset's movements sum to zero and no balance leaves
        int64 or goes below zero for a member (else :class:`ConservationError`). Then, in one
        transaction: missing accounts, balances, journal, report rows, carried obligations,
        settled trade keys. The cache changes and listeners are called only after COMMIT.
        """
        if not isinstance(run.run_id, str) or not run.run_id or "\x00" in run.run_id:
            raise ValueError(f"run_id: {run.run_id!r} must be a non-empty string without NUL")
        deltas = {k: int(v) for k, v in run.movements.items() if v}
        sums: dict[str, int] = {}
        for (_, asset), amount in deltas.items():
            sums[asset] = sums.get(asset, 0) + amount
        changed = {a: x for a, x in sums.items() if x}
        if changed:
            raise ConservationError(f"settlement would change asset totals by {changed}")
        after = self._after(deltas, "settlement")
        touched = sorted(set(deltas) | {(m, a) for _, _, m, a, _, _ in run.lines})
        missing = {k for k in touched if k not in self._balances}
        for asset in {a for _, a in touched}:
            missing |= {k for k in ((CLEARING_HOUSE, asset), (EXCHANGE_FEES, asset)) if k not in self._balances}
        banks = [(a, self.bank_for(a)) for a in sorted({a for _, a in missing}) if a not in self._banks]
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run.run_id,)).fetchone():
                return None
            self._hook("begin")
            self._insert_accounts(conn, sorted(missing), banks)
            self._write_movements(conn, run.run_id, run.kind, deltas, after, {
                "settle_date": run.settle_date, "digest": run.digest,
                "args": json.dumps(run.args, sort_keys=True), "summary": json.dumps(run.summary, sort_keys=True)})
            write_run_rows(conn, run)
            self._hook("journal")
            balances = {k: after.get(k, self._balances.get(k, 0)) for k in touched}
            conn.executemany("INSERT INTO run_balances VALUES (?, ?, ?, ?)",
                             [(run.run_id, m, a, b) for (m, a), b in sorted(balances.items())])
            self._hook("commit")
        for key in missing:
            self._balances.setdefault(key, 0)
        self._balances.update(after)
        self.version += 1
        self._banks.update(banks)
        if run.notice is not None:
            self._notify(run.notice)
        return balances

    def run_rows(self, run_id: str) -> dict[str, Any]:
        """The stored report of a run: rows of lines, shortfalls, balances; the gross blob and
        the asset names its codes index."""
        return read_run_rows(self._conn, run_id)

    def journal(self, run_id: str | None = None) -> list[tuple[int, str, int, str]]:
        """Journal rows ``(member, asset, amount, run_id)``, all or of one run."""
        if run_id is None:
            return self._conn.execute("SELECT member, asset, amount, run_id FROM journal ORDER BY id").fetchall()
        row = self._conn.execute("SELECT journal_first, journal_last FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        first, last = (0, -1) if row is None or row[0] is None else row
        return self._conn.execute(
            "SELECT member, asset, amount, run_id FROM journal WHERE id BETWEEN ? AND ? AND run_id = ? ORDER BY id",
            (first, last, run_id)).fetchall()

    def verify(self, deep: bool = False) -> None:
        """Raise LedgerError unless the file is consistent: integer types everywhere, the cache
        equals the file, every balance equals its journal sum, no member account ever went
        below zero, every settlement run conserved every asset; ``deep`` also recomputes each
        settlement run's movements from its stored report. O(journal rows) (+ reports)."""
        check_ledger(self._conn, self._balances, deep)
