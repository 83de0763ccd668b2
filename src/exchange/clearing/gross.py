"""GROSS settlement: deal by deal, in order, each deal all or nothing (delivery versus payment).

Deals whose both parties can cover all their debits of the run settle at once (vectorised):
such a member can never fail a deal, whatever the order. The others are checked one by one in
order (a Python step per deal), because an earlier deal's receipt can fund a later deal's
delivery. Accounts are addressed by integer cells (member code x asset code) throughout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from exchange.codes import CODES

from .netting import EXCHANGE_FEES, factorize
from .results import SHORTFALL_DTYPE

__all__ = ["GrossOutcome", "Legs", "settle_gross"]


@dataclass
class Legs:
    """The 5 balance movements of every deal as (n, 5) arrays.

    Legs: receiver +base, receiver -pay, deliverer -base, deliverer +proceeds, fees +fee.
    ``cell`` numbers each leg's (member, asset code) account: ``member code * assets + asset``.
    """

    amount: np.ndarray
    ids: np.ndarray  # member id of each member code
    cell: np.ndarray
    assets: int

    @classmethod
    def of(cls, deals: np.ndarray) -> Legs:
        n = len(deals)
        rec, dlv = deals["receiver"], deals["deliverer"]
        member = np.stack([rec, rec, dlv, dlv, np.full(n, EXCHANGE_FEES, np.int64)], axis=1)
        base, quote = deals["base_asset"].astype(np.int64), deals["quote_asset"].astype(np.int64)
        asset = np.stack([base, quote, base, quote, quote], axis=1)
        amount = np.stack(
            [deals["base_amount"], -deals["pay_amount"], -deals["base_amount"], deals["proceeds"], deals["fee"]], axis=1)
        mcode, ids = factorize(member.ravel())
        k = len(CODES.asset)
        return cls(amount, ids, mcode.reshape(member.shape) * k + asset, k)

    def key(self, cell: int) -> tuple[int, int]:
        """(member id, asset code) of a cell."""
        return int(self.ids[cell // self.assets]), cell % self.assets

    def per_account(self, rows: np.ndarray, debits_only: bool = False, members_only: bool = False) -> dict[tuple[int, int], int]:
        """Sum per (member, asset code) of the legs of ``rows`` (a bool mask over deals): all
        movements, or with ``debits_only`` the members' debits as positive amounts; with
        ``members_only`` the fee account's legs are left out. O(legs) plus O(accounts)."""
        cell, amount = self.cell[rows], self.amount[rows]
        if members_only:
            cell, amount = cell[:, :4], amount[:, :4]
        cell, amount = cell.ravel(), amount.ravel()
        if debits_only:
            keep = amount < 0
            cell, amount = cell[keep], -amount[keep]
        totals = np.zeros(len(self.ids) * self.assets, np.int64)
        np.add.at(totals, cell, amount)
        out = {self.key(c): int(totals[c]) for c in np.flatnonzero(totals).tolist()}
        return {key: v for key, v in out.items() if key[0] >= 0} if debits_only else out


@dataclass
class GrossOutcome:
    settled: np.ndarray  # bool per deal
    shortfalls: np.ndarray  # SHORTFALL_DTYPE, in deal order
    legs: Legs | None


_ORDERED_SHORTFALL = np.dtype([("order", "i8")] + SHORTFALL_DTYPE.descr)


def settle_gross(deals: np.ndarray, work: Any) -> GrossOutcome:
    """Settle GROSS deals in order, each all or nothing; updates ``work`` (balances by
    (member, asset code)). Same outcome as checking every deal in order."""
    if len(deals) == 0:
        return GrossOutcome(np.zeros(0, bool), np.zeros(0, SHORTFALL_DTYPE), None)
    legs = Legs.of(deals)
    debits = legs.per_account(np.ones(len(deals), bool), debits_only=True)
    short = {key[0] for key, needed in debits.items() if work.get(key) < needed}
    covered = [m for m in legs.ids.tolist() if m not in short]
    dead = _penniless(deals, debits, short, work)
    rec_ok, dlv_ok = np.isin(deals["receiver"], covered), np.isin(deals["deliverer"], covered)
    settled = rec_ok & dlv_ok
    rec_dead, dlv_dead = np.isin(deals["receiver"], dead), np.isin(deals["deliverer"], dead)
    doomed = (rec_dead | dlv_dead) & (rec_ok | rec_dead) & (dlv_ok | dlv_dead)
    stepped = np.array(_sequential(deals, np.flatnonzero(~settled & ~doomed), legs, settled, work), _ORDERED_SHORTFALL)
    shortfalls = np.concatenate([stepped, _doomed_shortfalls(deals, np.flatnonzero(doomed), rec_dead, dlv_dead)])
    shortfalls = shortfalls[np.argsort(shortfalls["order"], kind="stable")]
    for key, amount in legs.per_account(settled).items():
        work.add(key, amount)
    return GrossOutcome(settled, shortfalls[list(SHORTFALL_DTYPE.names)].astype(SHORTFALL_DTYPE), legs)


def _penniless(deals: np.ndarray, debits: dict, short: set[int], work: Any) -> list[int]:
    """Short members that hold nothing of what they pay and pay something in each of their
    deals: none of their deals can settle (a receipt needs a payment first), so they need no
    step by step check. Members in a deal with themselves are left to the step by step check."""
    held = {m: 0 for m in short}
    for m, asset in debits:
        if m in held:
            held[m] += work.get((m, asset)) != 0
    candidates = [m for m, n in held.items() if n == 0]
    if not candidates:
        return []
    rec, dlv = deals["receiver"], deals["deliverer"]
    free = (rec == dlv) | ((deals["pay_amount"] <= 0) & np.isin(rec, candidates)) | (
        (deals["base_amount"] <= 0) & np.isin(dlv, candidates))
    spoiled = set(rec[free].tolist()) | set(dlv[free].tolist())
    return [m for m in candidates if m not in spoiled]


def _doomed_shortfalls(deals: np.ndarray, rows: np.ndarray, rec_dead: np.ndarray, dlv_dead: np.ndarray) -> np.ndarray:
    """The shortfalls of deals that fail for a penniless party: each of its debits whole,
    nothing held, ordered as the step by step check lists them (receiver's quote, deliverer's
    base, deliverer's quote when its fee exceeds the quote amount)."""
    d = deals[rows]
    kinds = ((1, rec_dead[rows] & (d["pay_amount"] > 0), "receiver", "quote_asset", d["pay_amount"]),
             (2, dlv_dead[rows] & (d["base_amount"] > 0), "deliverer", "base_asset", d["base_amount"]),
             (3, dlv_dead[rows] & (d["proceeds"] < 0), "deliverer", "quote_asset", -d["proceeds"]))
    parts = []
    for k, sel, who, asset, needed in kinds:
        part = np.zeros(int(sel.sum()), _ORDERED_SHORTFALL)
        part["order"], part["trade_id"], part["leg"] = rows[sel] * 4 + k, d["trade_id"][sel], d["leg"][sel]
        part["member"], part["asset"], part["needed"] = d[who][sel], d[asset][sel], needed[sel]
        parts.append(part)
    return np.concatenate(parts)


def _sequential(deals: np.ndarray, rows: np.ndarray, legs: Legs, settled: np.ndarray, work: Any) -> list[tuple]:
    """Check ``rows`` one by one in order, marking ``settled``; return the shortfall rows
    (each led by its order: 4 x the deal's index).

    Only under-funded members' deals come here; the balances start from ``work`` (deals between
    covered members never touch an under-funded member's balance).
    """
    cells, amounts = legs.cell[rows].tolist(), legs.amount[rows].tolist()
    local: dict[int, int] = {}
    failed: list[tuple[int, list[tuple[int, int, int]]]] = []
    for j, i in enumerate(rows.tolist()):
        moves: dict[int, int] = {}
        for cell, amount in zip(cells[j], amounts[j]):
            moves[cell] = moves.get(cell, 0) + amount
        short = []
        for cell, amount in moves.items():
            if amount < 0 and legs.key(cell)[0] >= 0:
                have = local.get(cell)
                if have is None:
                    have = local[cell] = work.get(legs.key(cell))
                if have + amount < 0:
                    short.append((cell, -amount, have))
        if short:
            failed.append((i, short))
            continue
        settled[i] = True
        for cell, amount in moves.items():
            if cell not in local:
                local[cell] = work.get(legs.key(cell))
            local[cell] += amount
    return [(i * 4, int(deals["trade_id"][i]), int(deals["leg"][i]), *legs.key(cell), needed, have)
            for i, short in failed for cell, needed, have in short]
