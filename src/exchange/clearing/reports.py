"""Reports of a settlement run: member statements, per-asset totals and a short text summary.

Everything is computed from a :class:`~exchange.clearing.results.SettlementResult` (fresh or
``already_settled``), optionally the trade records (for the statement's trade list) and the
ledger (for settlement banks). Tables are pyarrow with names; every table has ``.to_pandas()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exchange.codes import CODES, to_arrow
from exchange.records import to_table

from .ledger import DEFAULT_SETTLEMENT_BANKS, SECURITIES_DEPOSITORY, Ledger
from .netting import EXCHANGE_FEES
from .results import CCP, GROSS, NET, SETTLED, SettlementResult

__all__ = ["MOVEMENT_DTYPE", "MemberStatement", "asset_totals", "member_movements", "member_statement", "summary"]

MOVEMENT_DTYPE = np.dtype(
    [
        ("kind", "i1"),  # CODES.kind: net or gross
        ("trade_id", "i8"),  # -1 for NET lines
        ("leg", "i1"),
        ("asset", "i2"),
        ("amount", "i8"),  # from the member's side: + receives, - pays
        ("status", "i1"),
        ("carried_to", "M8[D]"),
    ]
)


@dataclass(frozen=True)
class MemberStatement:
    """One member's view of one settlement run."""

    member: int
    run_id: str
    date: np.datetime64
    trades: pa.Table  # the member's trades with a leg on the date (empty without trades)
    obligations: pa.Table  # every movement due: NET lines and the member's GROSS legs
    settled: pa.Table
    failed: pa.Table
    shortfalls: pa.Table
    balances: pa.Table  # balances after the run of the member's touched accounts

    def to_pandas(self) -> dict[str, Any]:
        """Every table as a pandas DataFrame, by name."""
        names = ("trades", "obligations", "settled", "failed", "shortfalls", "balances")
        return {n: getattr(self, n).to_pandas() for n in names}

    def text(self) -> str:
        """A few lines for humans."""
        out = [f"Statement of member {self.member}, run {self.run_id} ({self.date})"]
        out.append(f"  trades: {self.trades.num_rows}, movements due: {self.obligations.num_rows}, "
                   f"settled: {self.settled.num_rows}, failed: {self.failed.num_rows}")
        for row in self.shortfalls.to_pylist():
            out.append(f"  short {row['asset']}: needed {row['needed']:,}, available {row['available']:,}")
        for row in self.balances.to_pylist():
            out.append(f"  balance {row['asset']}: {row['balance']:,}")
        return "\n".join(out)


def member_movements(result: SettlementResult, member: int) -> np.ndarray:
    """The member's movements of the run (MOVEMENT_DTYPE): its NET lines and GROSS legs."""
    net = result.net[(result.net["kind"] == NET) & (result.net["member"] == member)]
    g = result.gross
    rec, dlv = g[g["receiver"] == member], g[g["deliverer"] == member]
    parts = [_movements(NET, np.full(len(net), -1), 0, net["asset"], net["amount"], net)]
    parts.append(_movements(GROSS, rec["trade_id"], rec["leg"], rec["base_asset"], rec["base_amount"], rec))
    parts.append(_movements(GROSS, rec["trade_id"], rec["leg"], rec["quote_asset"], -rec["pay_amount"], rec))
    parts.append(_movements(GROSS, dlv["trade_id"], dlv["leg"], dlv["base_asset"], -dlv["base_amount"], dlv))
    parts.append(_movements(GROSS, dlv["trade_id"], dlv["leg"], dlv["quote_asset"], dlv["proceeds"], dlv))
    out = np.concatenate(parts)
    return out[np.lexsort((out["asset"], out["trade_id"], out["kind"]))]


def _movements(kind, trade_id, leg, asset, amount, lines) -> np.ndarray:
    out = np.zeros(len(lines), MOVEMENT_DTYPE)
    out["kind"], out["trade_id"], out["leg"] = kind, trade_id, leg
    out["asset"], out["amount"] = asset, amount
    out["status"], out["carried_to"] = lines["status"], lines["carried_to"]
    return out


def _member_trades(trades: Any, member: int, day: np.datetime64) -> pa.Table:
    if trades is None:
        return pa.table({})
    table = trades if isinstance(trades, pa.Table) else to_table(np.asarray(trades))
    scalar = pa.scalar(day.astype("M8[D]").item(), pa.date32())
    mine = pc.or_(pc.equal(table["buyer"], member), pc.equal(table["seller"], member))
    due = pc.or_(pc.equal(table["settle_date"], scalar), pc.fill_null(pc.equal(table["far_settle_date"], scalar), False))
    return table.filter(pc.and_(mine, due))


def member_statement(result: SettlementResult, member: int, trades: Any = None) -> MemberStatement:
    """The statement of ``member`` for ``result``'s run; ``trades`` adds the trade list. O(run)."""
    moves = member_movements(result, member)
    short = result.shortfalls[result.shortfalls["member"] == member]
    balances = result.balances[result.balances["member"] == member]
    return MemberStatement(
        member=member,
        run_id=result.run_id,
        date=result.date,
        trades=_member_trades(trades, member, result.date),
        obligations=to_arrow(moves),
        settled=to_arrow(moves[moves["status"] == SETTLED]),
        failed=to_arrow(moves[moves["status"] != SETTLED]),
        shortfalls=to_arrow(short),
        balances=to_arrow(balances, columns=["asset", "balance"]),
    )


def _bank(asset: str, ledger: Ledger | None) -> str:
    if ledger is not None:
        return ledger.bank_for(asset)
    return DEFAULT_SETTLEMENT_BANKS.get(asset, SECURITIES_DEPOSITORY)


_TOTALS = ("paid_in", "paid_out", "failed_debits", "failed_credits", "ccp_movement", "fees", "gross_settled",
           "gross_failed")


def asset_totals(result: SettlementResult, ledger: Ledger | None = None) -> pa.Table:
    """Per asset: settlement bank, amounts paid in/out by members (NET and GROSS settled),
    failed debits/credits, the CCP's movement, fees collected, GROSS deals settled/failed."""
    rows: dict[str, dict[str, Any]] = {}

    def row(asset: str) -> dict[str, Any]:
        return rows.setdefault(asset, dict.fromkeys(_TOTALS, 0))

    for kind, member, asset, amount, status, _ in result.net.tolist():
        r = row(CODES.asset.name(asset))
        if kind == CCP:
            r["ccp_movement"] += amount
        elif member == EXCHANGE_FEES:
            r["fees"] += amount if status == SETTLED else 0
        elif status == SETTLED:
            r["paid_in" if amount < 0 else "paid_out"] += abs(amount)
        else:
            r["failed_debits" if amount < 0 else "failed_credits"] += abs(amount)
    _gross_totals(result.gross, row)
    assets = sorted(rows)
    table = {"asset": assets, "bank": [_bank(a, ledger) for a in assets]}
    for name in _TOTALS:
        table[name] = pa.array([rows[a][name] for a in assets], pa.int64())
    return pa.table(table)


def _gross_totals(gross: np.ndarray, row) -> None:
    """Add GROSS deal volumes per asset (vectorised per asset, Python per distinct asset)."""
    ok = gross["status"] == SETTLED
    for code in np.unique(np.concatenate([gross["base_asset"], gross["quote_asset"]])).tolist():
        r = row(CODES.asset.name(code))
        base, quote = gross["base_asset"] == code, gross["quote_asset"] == code
        r["paid_in"] += int(gross["base_amount"][base & ok].sum() + gross["pay_amount"][quote & ok].sum())
        r["paid_out"] += int(gross["base_amount"][base & ok].sum() + gross["proceeds"][quote & ok].sum())
        r["fees"] += int(gross["fee"][quote & ok].sum())
        r["failed_debits"] += int(gross["base_amount"][base & ~ok].sum() + gross["pay_amount"][quote & ~ok].sum())
        r["failed_credits"] += int(gross["base_amount"][base & ~ok].sum() + gross["proceeds"][quote & ~ok].sum())
        r["gross_settled"] += int((base & ok).sum())
        r["gross_failed"] += int((base & ~ok).sum())


def summary(result: SettlementResult, ledger: Ledger | None = None) -> str:
    """A short text summary of the run."""
    head = f"Settlement {result.run_id} for {result.date}: {result.status}"
    if result.status == "nothing_due":
        return head + " (nothing was due; nothing written)"
    if result.status == "already_settled" and not len(result.net) and not len(result.gross):
        return head + f" ({result.skipped} trade legs were settled by {', '.join(result.settled_by)}; nothing moved)"
    lines = [head + f" (failures: {result.policy})"]
    lines.append(f"  NET: {len(result.settled_members)} members settled, {len(result.failed_members)} failed")
    name = CODES.asset.name
    for m in result.failed_members:
        short = result.shortfalls[(result.shortfalls["member"] == m) & (result.shortfalls["trade_id"] == -1)]
        detail = ", ".join(f"{name(s['asset'])} short {int(s['needed'] - s['available']):,}" for s in short)
        carried = result.net[(result.net["member"] == m) & (result.net["kind"] == NET)]["carried_to"]
        where = f"rolled to {carried[0]}" if len(carried) and not np.isnat(carried[0]) else "cancelled"
        lines.append(f"    member {m} failed ({detail}); {where}")
    ok = int((result.gross["status"] == SETTLED).sum())
    lines.append(f"  GROSS: {ok} deals settled, {len(result.gross) - ok} failed")
    ccp = result.ccp_movements
    lines.append("  CCP exposure: " + (", ".join(f"{a} {x:+,}" for a, x in ccp.items()) if ccp else "none"))
    for r in asset_totals(result, ledger).to_pylist():
        lines.append(f"  {r['asset']} via {r['bank']}: paid in {r['paid_in']:,}, paid out {r['paid_out']:,}, fees {r['fees']:,}")
    return "\n".join(lines)
