"""Settlement of one date's obligations against the ledger: GROSS deals by DVP, then NET.

``settle(ledger, date, trades)`` settles everything due on ``date``: the GROSS deals (deal by
deal, in the order of the trade records, each all or nothing: the receiver pays and the
deliverer delivers, or nothing moves), then the NET obligations (end of day, multilateral,
against the clearing house). Obligations that failed on an earlier date and were rolled to
``date`` are included automatically (they are stored in the ledger).

DVP for NET: a member settles all of the date's obligations or none. It fails if any net debit
exceeds its balance (after the date's GROSS deals); receipts of the same run do not count.
Other members settle in full against the CCP, whose account then carries the failed member's
exposure. Failed obligations roll to the next business day (``on_fail="roll"``, with a
``next_business_day`` callable or a ``roll_to`` date) or are cancelled (``on_fail="cancel"``),
and are reported with the shortfall per asset.

The whole run is ONE ledger transaction keyed by ``run_id`` (default ``"settle:<date>"``):
re-running it returns the stored result and changes nothing. A date with nothing due returns
an explicit empty result (``status == "nothing_due"``) and writes nothing: the run id stays
free, so settling the date later with its trades still works.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .ledger import Journal, Ledger, RunRecord
from .netting import (
    CLEARING_HOUSE,
    EXCHANGE_FEES,
    GROSS_DTYPE,
    Obligations,
    TradeValidationError,
    _as_day,
    check_registry,
    factorize_strings,
    net,
    structured_to_arrow,
)

__all__ = [
    "BALANCE_DTYPE",
    "GROSS_LINE_DTYPE",
    "NET_LINE_DTYPE",
    "SHORTFALL_DTYPE",
    "RunConflict",
    "SettlementResult",
    "settle",
]

#: One NET line of a run: a member's (or the fee account's) obligation of the date, or the
#: CCP's movement per asset (kind "ccp"). status "settled" or "failed"; carried_to is the date
#: a failed obligation rolled to (NaT: settled, or cancelled).
NET_LINE_DTYPE = np.dtype(
    [("kind", "U4"), ("member", "i8"), ("asset", "U12"), ("amount", "i8"), ("status", "U8"), ("carried_to", "M8[D]")]
)
#: One GROSS instruction of a run with its outcome.
GROSS_LINE_DTYPE = np.dtype(GROSS_DTYPE.descr + [("status", "U8"), ("carried_to", "M8[D]")])
#: Why something failed: needed > available for member in asset (trade_id -1 for NET).
SHORTFALL_DTYPE = np.dtype(
    [("trade_id", "i8"), ("leg", "i1"), ("member", "i8"), ("asset", "U12"), ("needed", "i8"), ("available", "i8")]
)
#: Balances after the run of every account it touched.
BALANCE_DTYPE = np.dtype([("member", "i8"), ("asset", "U12"), ("balance", "i8")])

SETTLED, FAILED = "settled", "failed"
_NAT = np.datetime64("NaT", "D")


class RunConflict(ValueError):
    """The run id was already settled with different obligations."""


@dataclass(frozen=True)
class SettlementResult:
    """What a settlement run did (or, for ``already_settled``, had done)."""

    run_id: str
    date: np.datetime64
    status: str  # "settled" | "already_settled" | "nothing_due"
    policy: str | None
    net: np.ndarray  # NET_LINE_DTYPE
    gross: np.ndarray  # GROSS_LINE_DTYPE
    shortfalls: np.ndarray  # SHORTFALL_DTYPE
    balances: np.ndarray  # BALANCE_DTYPE

    @property
    def failed_members(self) -> list[int]:
        """Members whose NET obligations failed, ascending."""
        lines = self.net[(self.net["kind"] == "net") & (self.net["status"] == FAILED)]
        return sorted(set(lines["member"].tolist()))

    @property
    def settled_members(self) -> list[int]:
        """Members (not the fee account) whose NET obligations settled, ascending."""
        lines = self.net[(self.net["kind"] == "net") & (self.net["status"] == SETTLED) & (self.net["member"] >= 0)]
        return sorted(set(lines["member"].tolist()))

    @property
    def ccp_movements(self) -> dict[str, int]:
        """asset -> change of the CCP's balance in this run (non-zero only with failures)."""
        lines = self.net[self.net["kind"] == "ccp"]
        return {a: int(x) for a, x in zip(lines["asset"].tolist(), lines["amount"].tolist())}

    def to_arrow(self, part: str = "net") -> pa.Table:
        """One part ("net", "gross", "shortfalls", "balances") as a pyarrow Table."""
        if part not in ("net", "gross", "shortfalls", "balances"):
            raise ValueError(f"part: {part!r} is not one of net, gross, shortfalls, balances")
        return structured_to_arrow(getattr(self, part))

    def to_pandas(self, part: str = "net"):
        """One part as a pandas DataFrame."""
        return self.to_arrow(part).to_pandas()


# --------------------------------------------------------------------------- entry point


def settle(
    ledger: Ledger,
    date: Any,
    trades: Any = None,
    *,
    obligations: Obligations | None = None,
    on_fail: str = "roll",
    next_business_day: Callable[[np.datetime64], Any] | None = None,
    roll_to: Any = None,
    run_id: str | None = None,
) -> SettlementResult:
    """Settle everything due on ``date`` (see the module docstring) in one ledger transaction.

    ``trades`` (records or Arrow) are netted and checked against the ledger's members and
    assets; or pass precomputed ``obligations``; or neither to settle only rolled obligations.
    Raises ValueError for bad arguments, TradeValidationError for bad trades, RunConflict if
    ``run_id`` was settled with different obligations; in every such case nothing is written.
    O(obligations + deals) plus a Python step per GROSS deal of an under-funded member.
    """
    day = _as_day(date, "date")
    target = _roll_target(day, on_fail, next_business_day, roll_to)
    fresh = _fresh_obligations(ledger, day, trades, obligations)
    run_id = f"settle:{day}" if run_id is None else run_id
    if not isinstance(run_id, str) or not run_id or "\x00" in run_id:
        raise ValueError(f"run_id: {run_id!r} must be a non-empty string without NUL")
    digest = fresh.digest()
    stored = _stored_result(ledger, run_id, day, digest)
    if stored is not None:
        return stored
    carried_net, carried_gross = ledger.carried(day)
    if len(fresh) == 0 and not carried_net and not carried_gross:
        return _empty_result(run_id, day, "nothing_due", None)
    gross_due = np.concatenate([_carried_gross_array(carried_gross, day), fresh.gross])
    work = _WorkingBalances(ledger)
    gross = _settle_gross(gross_due, work)
    netted = _settle_net(_merge_net(fresh.net, carried_net), work)
    record, result_parts, rolled = _record(run_id, day, digest, on_fail, target, gross_due, gross, netted)
    record.consume_net = [row[0] for row in carried_net]
    record.consume_gross = [row[0] for row in carried_gross]
    balances = ledger.post_run(record)
    if balances is None:  # another process settled this run id first
        return _stored_result(ledger, run_id, day, digest)
    ledger.settle_commitments(str(day), None if target is None else str(target), rolled)
    return SettlementResult(run_id, day, "settled", on_fail, *result_parts, _balance_array(balances))


def _roll_target(day: np.datetime64, on_fail: str, next_business_day, roll_to) -> np.datetime64 | None:
    if on_fail not in ("roll", "cancel"):
        raise ValueError(f"on_fail: {on_fail!r} is neither 'roll' nor 'cancel'")
    if on_fail == "cancel":
        return None
    if roll_to is None and next_business_day is None:
        raise ValueError("on_fail='roll' needs next_business_day (a callable) or roll_to (a date)")
    target = _as_day(roll_to if roll_to is not None else next_business_day(day), "roll_to")
    if target <= day:
        raise ValueError(f"roll_to: {target} is not after the settlement date {day}")
    return target


def _fresh_obligations(ledger: Ledger, day: np.datetime64, trades: Any, obligations: Obligations | None) -> Obligations:
    if trades is not None and obligations is not None:
        raise ValueError("pass trades or obligations, not both")
    if trades is not None:
        return net(trades, ledger=ledger).for_date(day)
    if obligations is None:
        return Obligations.empty()
    if not isinstance(obligations, Obligations):
        raise TypeError(f"obligations: expected Obligations, got {type(obligations).__name__}")
    due = obligations.for_date(day)
    check_registry(due, ledger.members(), ledger.assets())
    imbalance = due.imbalance()
    if (imbalance["amount"] != 0).any():
        bad = imbalance[imbalance["amount"] != 0][0]
        raise TradeValidationError(f"obligations: asset {bad['asset']!r} does not net to zero on {bad['date']} ({bad['amount']})")
    return due


# --------------------------------------------------------------------------- working state


class _WorkingBalances:
    """Balances as they evolve during a run, over the ledger's committed ones (missing = 0)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.delta: dict[tuple[int, str], int] = {}

    def get(self, key: tuple[int, str]) -> int:
        base = self._ledger.balance(*key) if self._ledger.has_account(*key) else 0
        return base + self.delta.get(key, 0)

    def add(self, key: tuple[int, str], amount: int) -> None:
        if amount:
            self.delta[key] = self.delta.get(key, 0) + amount


# --------------------------------------------------------------------------- GROSS


@dataclass
class _Legs:
    """The 5 balance movements of every GROSS deal as (n, 5) arrays.

    Legs: receiver +base, receiver -pay, deliverer -base, deliverer +proceeds, fees +fee.
    ``cell`` numbers each leg's (member, asset) account for vectorised sums.
    """

    member: np.ndarray
    asset: np.ndarray  # codes into names
    amount: np.ndarray
    names: list[str]
    ids: np.ndarray  # member id of each member code
    cell: np.ndarray

    @classmethod
    def of(cls, deals: np.ndarray) -> _Legs:
        n = len(deals)
        codes, names = factorize_strings(np.concatenate([deals["base_asset"], deals["quote_asset"]]))
        base, quote = codes[:n], codes[n:]
        rec, dlv = deals["receiver"], deals["deliverer"]
        member = np.stack([rec, rec, dlv, dlv, np.full(n, EXCHANGE_FEES, np.int64)], axis=1)
        asset = np.stack([base, quote, base, quote, quote], axis=1)
        amount = np.stack(
            [deals["base_amount"], -deals["pay_amount"], -deals["base_amount"], deals["proceeds"], deals["fee"]], axis=1
        )
        mcode, ids = pd.factorize(member.ravel())  # a hash, not a sort: ~10x faster than np.unique
        return cls(member, asset, amount, names, np.asarray(ids, np.int64),
                   mcode.reshape(member.shape).astype(np.int64) * max(len(names), 1) + asset)

    def per_account(self, rows: np.ndarray, debits_only: bool = False) -> dict[tuple[int, str], int]:
        """Sum per account of the legs of ``rows`` (a boolean mask over deals): all movements,
        or with ``debits_only`` the debits as positive amounts. Members only (ids >= 0) for
        debits. Vectorised: O(legs) plus O(accounts)."""
        cell, amount = self.cell[rows].ravel(), self.amount[rows].ravel()
        if debits_only:
            keep = amount < 0
            cell, amount = cell[keep], -amount[keep]
        k = max(len(self.names), 1)
        totals = np.zeros(len(self.ids) * k, np.int64)
        np.add.at(totals, cell, amount)
        out = {(int(self.ids[c // k]), self.names[c % k]): int(totals[c]) for c in np.flatnonzero(totals).tolist()}
        return {key: v for key, v in out.items() if key[0] >= 0} if debits_only else out

    def journal(self, deals: np.ndarray, rows: np.ndarray) -> Journal:
        """The journal rows of the deals ``rows`` (a boolean mask), zero movements left out."""
        member, asset, amount = self.member[rows].ravel(), self.asset[rows].ravel(), self.amount[rows].ravel()
        trade = np.repeat(deals["trade_id"][rows], 5)
        keep = amount != 0
        return Journal(member[keep], asset[keep], self.names, amount[keep], trade[keep])


@dataclass
class _GrossOutcome:
    settled: np.ndarray  # bool per deal
    shortfalls: list[tuple]
    legs: _Legs | None


def _covered_members(legs: _Legs, work: _WorkingBalances) -> list[int]:
    """Members whose balances cover the sum of all their GROSS debits of the run.

    Such a member can never fail a deal, whatever the order, so its deals need no sequential
    check unless the other party is not covered. O(legs) plus O(accounts).
    """
    debits = legs.per_account(np.ones(len(legs.member), bool), debits_only=True)
    short = {key[0] for key, needed in debits.items() if work.get(key) < needed}
    return [m for m in legs.ids.tolist() if m not in short]


def _settle_gross(deals: np.ndarray, work: _WorkingBalances) -> _GrossOutcome:
    """Settle GROSS deals in order, each all or nothing; updates ``work``.

    Deals whose both parties are covered for all their debits settle at once (vectorised);
    the others go through :func:`_sequential_deals`, which gives the same outcome as checking
    every deal in order.
    """
    if len(deals) == 0:
        return _GrossOutcome(np.zeros(0, bool), [], None)
    legs = _Legs.of(deals)
    covered = _covered_members(legs, work)
    settled = np.isin(deals["receiver"], covered) & np.isin(deals["deliverer"], covered)
    shortfalls = _sequential_deals(deals, np.flatnonzero(~settled), legs, settled, work)
    for key, amount in legs.per_account(settled).items():
        work.add(key, amount)
    return _GrossOutcome(settled, shortfalls, legs)


def _sequential_deals(deals: np.ndarray, rows: np.ndarray, legs: _Legs, settled: np.ndarray, work: _WorkingBalances) -> list[tuple]:
    """Check ``rows`` one by one in order, marking ``settled``; return the shortfall rows.

    A Python step per deal, because an earlier deal's receipt can fund a later deal's
    delivery. Only under-funded members' deals come here; the balances start from ``work``
    (deals between covered members never touch an under-funded member's balance). Accounts
    are addressed by their integer cell to keep the step short.
    """
    k = max(len(legs.names), 1)
    ids = legs.ids.tolist()
    cells, amounts = legs.cell[rows].tolist(), legs.amount[rows].tolist()
    local: dict[int, int] = {}
    failed: list[tuple[int, list[tuple[int, int, int]]]] = []
    for j, i in enumerate(rows.tolist()):
        moves: dict[int, int] = {}
        for cell, amount in zip(cells[j], amounts[j]):
            moves[cell] = moves.get(cell, 0) + amount
        short = []
        for cell, amount in moves.items():
            if amount < 0 and ids[cell // k] >= 0:
                have = local.get(cell)
                if have is None:
                    have = local[cell] = work.get((ids[cell // k], legs.names[cell % k]))
                if have + amount < 0:
                    short.append((cell, -amount, have))
        if short:
            failed.append((i, short))
            continue
        settled[i] = True
        for cell, amount in moves.items():
            if cell not in local:
                local[cell] = work.get((ids[cell // k], legs.names[cell % k]))
            local[cell] += amount
    return [
        (int(deals["trade_id"][i]), int(deals["leg"][i]), ids[cell // k], legs.names[cell % k], needed, have)
        for i, short in failed
        for cell, needed, have in short
    ]


# --------------------------------------------------------------------------- NET


@dataclass
class _NetOutcome:
    lines: list[tuple[int, str, int, bool]]  # (member, asset, amount, settled)
    ccp: dict[str, int]
    shortfalls: list[tuple]


def _merge_net(fresh: np.ndarray, carried: list[tuple]) -> dict[tuple[int, str], int]:
    """Fresh NET obligations plus rolled ones, summed per (member, asset)."""
    due: dict[tuple[int, str], int] = {}
    for member, asset, amount in zip(fresh["member"].tolist(), fresh["asset"].tolist(), fresh["amount"].tolist()):
        due[(member, asset)] = due.get((member, asset), 0) + amount
    for _, member, asset, amount in carried:
        due[(member, asset)] = due.get((member, asset), 0) + amount
    return {k: v for k, v in sorted(due.items()) if v}


def _settle_net(due: dict[tuple[int, str], int], work: _WorkingBalances) -> _NetOutcome:
    """All-or-nothing per member against the CCP; updates ``work``. O(obligations)."""
    by_member: dict[int, list[tuple[str, int]]] = {}
    for (member, asset), amount in due.items():
        by_member.setdefault(member, []).append((asset, amount))
    lines, shortfalls, ccp = [], [], {}
    for member, rows in by_member.items():
        short = [
            (-1, 0, member, asset, -amount, work.get((member, asset)))
            for asset, amount in rows
            if member >= 0 and amount < 0 and work.get((member, asset)) < -amount
        ]
        shortfalls.extend(short)
        for asset, amount in rows:
            lines.append((member, asset, amount, not short))
            if not short:
                work.add((member, asset), amount)
                ccp[asset] = ccp.get(asset, 0) - amount
    for asset, amount in ccp.items():
        work.add((CLEARING_HOUSE, asset), amount)
    return _NetOutcome(lines, {a: x for a, x in sorted(ccp.items()) if x}, shortfalls)


# --------------------------------------------------------------------------- the run record


def _record(run_id, day, digest, policy, target, deals, gross: _GrossOutcome, netted: _NetOutcome):
    """Build the RunRecord, the result arrays and the rolled debits per (member, asset)."""
    ctext = None if target is None else str(target)
    lines, carried_net = _net_report(netted, ctext)
    gross_lines = _gross_lines(deals, gross.settled, _NAT if target is None else target)
    failed = deals[~gross.settled]
    carried_gross = [] if target is None else [(ctext, *row[:2], *row[3:]) for row in failed.tolist()]
    journal_net = [(m, a, x, None) for m, a, x, ok in netted.lines if ok]
    journal_net += [(CLEARING_HOUSE, a, x, None) for a, x in netted.ccp.items()]
    parts = [Journal.from_rows(journal_net)]
    if gross.legs is not None:
        parts.insert(0, gross.legs.journal(deals, gross.settled))
    shortfalls = gross.shortfalls + netted.shortfalls
    summary = {
        "policy": policy,
        "carried_to": ctext,
        "failed_members": sorted({m for m, _, _, ok in netted.lines if not ok}),
        "gross_settled": int(gross.settled.sum()),
        "gross_failed": int((~gross.settled).sum()),
        "ccp": netted.ccp,
    }
    record = RunRecord(
        run_id=run_id, kind="settlement", settle_date=str(day), digest=digest, summary=summary,
        journal=Journal.concat(parts), lines=lines, gross=encode_lines(gross_lines),
        shortfalls=shortfalls, carried_net=carried_net, carried_gross=carried_gross,
    )
    parts = (_net_line_array(lines), gross_lines, _shortfall_array(shortfalls))
    return record, parts, _rolled_debits(netted, gross)


def _net_report(netted: _NetOutcome, ctext: str | None) -> tuple[list[tuple], list[tuple]]:
    """run_lines rows (NET lines, then the CCP's movements) and the NET rows to carry."""
    lines, carried = [], []
    for member, asset, amount, ok in netted.lines:
        lines.append(("net", SETTLED if ok else FAILED, member, asset, amount, None if ok else ctext))
        if not ok and ctext is not None:
            carried.append((ctext, member, asset, amount))
    lines += [("ccp", SETTLED, CLEARING_HOUSE, asset, amount, None) for asset, amount in netted.ccp.items()]
    return lines, carried


def _rolled_debits(netted: _NetOutcome, gross: _GrossOutcome) -> dict[tuple[int, str], int]:
    """What each member still owes per asset after the run: its failed NET debits and its
    debits in failed GROSS deals (these become commitments on the roll date)."""
    rolled: dict[tuple[int, str], int] = {}
    for member, asset, amount, ok in netted.lines:
        if not ok and amount < 0:
            rolled[(member, asset)] = rolled.get((member, asset), 0) - amount
    if gross.legs is not None:
        for key, amount in gross.legs.per_account(~gross.settled, debits_only=True).items():
            rolled[key] = rolled.get(key, 0) + amount
    return rolled


def _gross_lines(deals: np.ndarray, settled: np.ndarray, carried_to: np.datetime64) -> np.ndarray:
    out = np.zeros(len(deals), GROSS_LINE_DTYPE)
    for name in GROSS_DTYPE.names:
        out[name] = deals[name]
    out["status"] = np.where(settled, SETTLED, FAILED)
    out["carried_to"] = np.where(settled, _NAT, carried_to)
    return out


def encode_lines(lines: np.ndarray) -> bytes:
    """A structured array as an .npy image (no pickle): how GROSS reports are stored."""
    buffer = io.BytesIO()
    np.save(buffer, lines, allow_pickle=False)
    return buffer.getvalue()


def decode_lines(blob: bytes | None, dtype: np.dtype) -> np.ndarray:
    """Inverse of :func:`encode_lines`; an empty array for None."""
    if blob is None:
        return np.zeros(0, dtype)
    lines = np.load(io.BytesIO(blob), allow_pickle=False)
    if lines.dtype != dtype:
        raise ValueError(f"stored report has dtype {lines.dtype}, expected {dtype}")
    return lines


def _carried_gross_array(rows: list[tuple], day: np.datetime64) -> np.ndarray:
    out = np.zeros(len(rows), GROSS_DTYPE)
    for i, (_, trade_id, leg, rec, dlv, base_asset, base_amount, quote_asset, pay, proceeds, fee) in enumerate(rows):
        out[i] = (trade_id, leg, day, rec, dlv, base_asset, base_amount, quote_asset, pay, proceeds, fee)
    return out


# --------------------------------------------------------------------------- result arrays


def _net_line_array(lines: list[tuple]) -> np.ndarray:
    out = np.zeros(len(lines), NET_LINE_DTYPE)
    for i, (kind, status, member, asset, amount, carried) in enumerate(lines):
        out[i] = (kind, member, asset, amount, status, _NAT if carried is None else np.datetime64(carried, "D"))
    return out


def _shortfall_array(rows: list[tuple]) -> np.ndarray:
    out = np.zeros(len(rows), SHORTFALL_DTYPE)
    for i, row in enumerate(rows):
        out[i] = row
    return out


def _balance_array(balances: dict[tuple[int, str], int] | list[tuple]) -> np.ndarray:
    items = sorted(balances.items()) if isinstance(balances, dict) else [((m, a), b) for m, a, b in balances]
    out = np.zeros(len(items), BALANCE_DTYPE)
    for i, ((member, asset), balance) in enumerate(items):
        out[i] = (member, asset, balance)
    return out


def _empty_result(run_id: str, day: np.datetime64, status: str, policy: str | None) -> SettlementResult:
    return SettlementResult(
        run_id, day, status, policy, np.zeros(0, NET_LINE_DTYPE), np.zeros(0, GROSS_LINE_DTYPE),
        np.zeros(0, SHORTFALL_DTYPE), np.zeros(0, BALANCE_DTYPE),
    )


def _stored_result(ledger: Ledger, run_id: str, day: np.datetime64, digest: str) -> SettlementResult | None:
    """The result of an already-recorded run, or None. RunConflict if it differs."""
    info = ledger.run_info(run_id)
    if info is None:
        return None
    if info["kind"] != "settlement" or info["settle_date"] != str(day) or info["digest"] != digest:
        raise RunConflict(
            f"run_id: {run_id!r} was already settled ({info['kind']} of {info['settle_date']}) "
            "with different obligations; use another run_id for a new run"
        )
    rows = ledger.run_rows(run_id)
    gross = decode_lines(rows["gross"], GROSS_LINE_DTYPE)
    return SettlementResult(
        run_id, day, "already_settled", info["summary"].get("policy"),
        _net_line_array(rows["lines"]), gross, _shortfall_array(rows["shortfalls"]),
        _balance_array(rows["balances"]),
    )
