"""What a settlement run writes besides balances and journal, and how it is read back.

:class:`RunRecord` is everything one run writes (``Ledger.post_run`` applies it in one
transaction); :class:`SettlementNotice` is what the ledger's listeners hear once it committed.
Rows are stored with asset names (codes are process-local); the GROSS report is a blob
(``results.encode_gross``) and the settled trade keys are sorted int64 id blobs.
"""
from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .keys import TradeKeys, decode_ids, encode_ids
from .netting import GROSS_DTYPE
from .results import SHORTFALL_DTYPE, decode_coded, encode_coded

__all__ = ["RunRecord", "SettlementNotice", "read_carried", "read_run_rows", "read_settled_keys", "write_run_rows"]

Key = tuple[int, str]


@dataclass(frozen=True)
class SettlementNotice:
    """What listeners hear after a settlement run commits.

    ``carried``: (member, asset) -> signed net amount carried to ``roll_to`` (negative: the
    member still owes it): failed NET obligations and both parties' legs of failed GROSS deals.
    ``debits``: (member, asset) -> what the member still has to pay on ``roll_to`` (its failed
    NET debits plus its debit legs of failed GROSS deals, each counted gross). Both are empty
    when failures are cancelled (``roll_to`` None).
    """

    run_id: str
    date: _dt.date
    roll_to: _dt.date | None
    carried: Mapping[Key, int]
    debits: Mapping[Key, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "carried", MappingProxyType(dict(self.carried)))
        object.__setattr__(self, "debits", MappingProxyType(dict(self.debits)))


@dataclass
class RunRecord:
    """Everything one settlement run writes, applied atomically by :meth:`Ledger.post_run`.

    ``movements`` are the run's balance changes per (member, asset), one journal row each.
    ``lines`` and ``shortfalls`` are report rows; ``gross`` the GROSS report blob whose asset
    codes index ``gross_assets``; ``carried_net``/``carried_gross`` obligations moved to a later
    date; ``consume_*`` the ids of earlier carried rows this run settles or re-carries;
    ``settled`` the keys of the trades whose legs this run settled (or carried); ``args`` what
    the run was asked (a re-run must ask the same); ``notice`` what listeners hear.
    """

    run_id: str
    kind: str
    settle_date: str | None = None
    digest: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    movements: Mapping[Key, int] = field(default_factory=dict)
    lines: Sequence[tuple] = ()  # (kind, status, member, asset, amount, carried_to)
    gross: bytes | None = None
    gross_assets: Sequence[str] = ()
    shortfalls: np.ndarray | None = None  # results.SHORTFALL_DTYPE
    carried_net: Sequence[tuple] = ()  # (due_date, member, asset, amount)
    carried_gross: np.ndarray | None = None  # netting.GROSS_DTYPE: deals rolled to carried_to
    carried_to: str | None = None
    consume_net: Sequence[int] = ()
    consume_gross: Sequence[int] = ()
    settled: TradeKeys = field(default_factory=TradeKeys)
    notice: SettlementNotice | None = None


def write_run_rows(conn: sqlite3.Connection, run: RunRecord) -> None:
    """Insert a run's report rows, carried obligations and settled trade keys."""
    rid = run.run_id
    conn.executemany("INSERT INTO run_lines VALUES (?, ?, ?, ?, ?, ?, ?)", ((rid, *r) for r in run.lines))
    if run.gross is not None:
        conn.execute("INSERT INTO run_gross (run_id, assets, lines) VALUES (?, ?, ?)",
                     (rid, json.dumps(list(run.gross_assets)), run.gross))
    if run.shortfalls is not None and len(run.shortfalls):
        blob, assets = encode_coded(run.shortfalls)
        conn.execute("INSERT INTO run_shortfalls VALUES (?, ?, ?)", (rid, json.dumps(assets), blob))
    conn.executemany(
        "INSERT INTO carried_net (due_date, member, asset, amount, origin_run) VALUES (?, ?, ?, ?, ?)",
        ((*r, rid) for r in run.carried_net))
    if run.carried_gross is not None and len(run.carried_gross):
        blob, assets = encode_coded(run.carried_gross)
        conn.execute("INSERT INTO carried_gross (due_date, origin_run, assets, deals) VALUES (?, ?, ?, ?)",
                     (run.carried_to, rid, json.dumps(assets), blob))
    conn.executemany("UPDATE carried_net SET consumed_by = ? WHERE id = ?", ((rid, i) for i in run.consume_net))
    conn.executemany("UPDATE carried_gross SET consumed_by = ? WHERE id = ?", ((rid, i) for i in run.consume_gross))
    conn.executemany("INSERT INTO settled_trades VALUES (?, ?, ?, ?)",
                     ((rid, due, day, encode_ids(ids)) for (due, day), ids in run.settled.items()))


def read_run_rows(conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """The stored report of a run: rows of lines and balances, the shortfalls (an array), the
    gross blob and the asset names its codes index."""
    q = conn.execute
    gross = q("SELECT lines, assets FROM run_gross WHERE run_id = ?", (run_id,)).fetchone()
    short = q("SELECT lines, assets FROM run_shortfalls WHERE run_id = ?", (run_id,)).fetchone()
    short = None if short is None else (short[0], json.loads(short[1]))
    return {
        "lines": q("SELECT kind, status, member, asset, amount, carried_to FROM run_lines WHERE run_id = ? "
                   "ORDER BY rowid", (run_id,)).fetchall(),
        "gross": None if gross is None else gross[0],
        "gross_assets": [] if gross is None else json.loads(gross[1]),
        "shortfalls": decode_coded(*(short or (None, [])), SHORTFALL_DTYPE),
        "balances": q("SELECT member, asset, balance FROM run_balances WHERE run_id = ? ORDER BY member, asset",
                      (run_id,)).fetchall(),
    }


def read_carried(conn: sqlite3.Connection, day: str) -> tuple[list[tuple], list[tuple[int, np.ndarray]]]:
    """Unconsumed carried obligations due on ``day`` (ISO): NET rows ``(id, member, asset,
    amount)`` and the batches of rolled GROSS deals ``(id, GROSS_DTYPE array)`` (this
    process's codes), oldest first."""
    net_rows = conn.execute(
        "SELECT id, member, asset, amount FROM carried_net WHERE due_date = ? AND consumed_by IS NULL ORDER BY id",
        (day,)).fetchall()
    batches = [(i, decode_coded(blob, json.loads(assets), GROSS_DTYPE)) for i, assets, blob in conn.execute(
        "SELECT id, assets, deals FROM carried_gross WHERE due_date = ? AND consumed_by IS NULL ORDER BY id", (day,))]
    return net_rows, batches


def read_settled_keys(conn: sqlite3.Connection, due: int) -> tuple[TradeKeys, dict[tuple[int, int], list[str]]]:
    """The trade keys settled for the due day ``due`` (int64 days), and the runs per group."""
    groups: list[TradeKeys] = []
    runs: dict[tuple[int, int], list[str]] = {}
    for run_id, trade_day, blob in conn.execute(
            "SELECT run_id, trade_date, ids FROM settled_trades WHERE due_date = ? ORDER BY rowid", (due,)):
        groups.append(TradeKeys({(due, trade_day): decode_ids(blob)}))
        runs.setdefault((due, trade_day), []).append(run_id)
    return TradeKeys.union(groups), runs
