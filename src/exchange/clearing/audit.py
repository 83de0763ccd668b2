"""``Ledger.verify``: the checks that a ledger file is consistent, read from the file itself.

Every sum is a Python int (exact whatever the values: no SQL ``SUM`` that could overflow).
O(journal rows); ``deep`` adds O(report rows) per settlement run.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from exchange.codes import CODES

from .netting import CLEARING_HOUSE, EXCHANGE_FEES
from .store import LedgerError

__all__ = ["check_ledger"]

_INTEGER_COLUMNS = {
    "accounts": ("member", "balance"), "journal": ("member", "amount"),
    "run_lines": ("member", "amount"), "run_balances": ("member", "balance"),
    "carried_net": ("member", "amount"),
}


def check_ledger(conn: sqlite3.Connection, cache: Mapping[tuple[int, str], int], deep: bool) -> None:
    """Raise LedgerError naming the first inconsistency (see ``Ledger.verify``)."""
    for table, columns in _INTEGER_COLUMNS.items():
        for column in columns:
            bad = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE typeof({column}) != 'integer'").fetchone()[0]
            if bad:
                raise LedgerError(f"{table}.{column}: {bad} values are not integers")
    stored = {(m, a): b for m, a, b in conn.execute("SELECT member, asset, balance FROM accounts")}
    if stored != dict(cache):
        raise LedgerError("balance cache differs from the database")
    running: dict[tuple[int, str], int] = {}
    per_run: dict[str, dict[tuple[int, str], int]] = {}
    for run_id, member, asset, amount in conn.execute("SELECT run_id, member, asset, amount FROM journal ORDER BY id"):
        key = (member, asset)
        running[key] = running.get(key, 0) + amount
        if member >= 0 and running[key] < 0:
            raise LedgerError(f"member {member} {asset!r} went below zero ({running[key]}) after run {run_id!r}")
        moves = per_run.setdefault(run_id, {})
        moves[key] = moves.get(key, 0) + amount
    bad = [(k, b, running.get(k, 0)) for k, b in sorted(stored.items()) if b != running.get(k, 0)]
    if bad:
        raise LedgerError(f"balances differ from journal sums (account, balance, journal): {bad[:5]}")
    negative = [(k, b) for k, b in sorted(stored.items()) if k[0] >= 0 and b < 0]
    if negative:
        raise LedgerError(f"member balances below zero: {negative[:5]}")
    settlements = [r[0] for r in conn.execute("SELECT run_id FROM runs WHERE kind = 'settlement' ORDER BY rowid")]
    for run_id in settlements:
        totals: dict[str, int] = {}
        for (_, asset), amount in per_run.get(run_id, {}).items():
            totals[asset] = totals.get(asset, 0) + amount
        if any(totals.values()):
            raise LedgerError(f"settlement run {run_id!r} changed asset totals: {totals}")
        if deep:
            _check_report(conn, run_id, {k: v for k, v in per_run.get(run_id, {}).items() if v})


def _check_report(conn: sqlite3.Connection, run_id: str, journal: dict[tuple[int, str], int]) -> None:
    """A settlement run's journal equals the movements of its report: settled NET lines, the
    CCP's lines and the five legs of every settled GROSS deal."""
    from .results import GROSS_LINE_DTYPE, SETTLED, decode_coded

    moves: dict[tuple[int, str], int] = {}

    def add(key: tuple[int, str], amount: int) -> None:
        moves[key] = moves.get(key, 0) + amount

    for kind, status, member, asset, amount in conn.execute(
            "SELECT kind, status, member, asset, amount FROM run_lines WHERE run_id = ?", (run_id,)):
        if status == "settled":
            add((CLEARING_HOUSE if kind == "ccp" else member, asset), amount)
    row = conn.execute("SELECT lines, assets FROM run_gross WHERE run_id = ?", (run_id,)).fetchone()
    if row is not None:
        lines = decode_coded(row[0], json.loads(row[1]), GROSS_LINE_DTYPE)
        for d in lines[lines["status"] == SETTLED].tolist():
            base, quote = CODES.asset.name(d[5]), CODES.asset.name(d[7])
            add((d[3], base), d[6])
            add((d[3], quote), -d[8])
            add((d[4], base), -d[6])
            add((d[4], quote), d[9])
            add((EXCHANGE_FEES, quote), d[10])
    moves = {k: v for k, v in moves.items() if v}
    if moves != journal:
        diff = {k: (moves.get(k, 0), journal.get(k, 0)) for k in set(moves) | set(journal)
                if moves.get(k, 0) != journal.get(k, 0)}
        raise LedgerError(f"run {run_id!r}: journal differs from its report (report, journal): {diff}")
