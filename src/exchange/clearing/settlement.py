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

A trade settles once, whatever the run id: the ledger keeps the keys (trade date, trade id, due
date) of every leg a run settled or carried, and a run leaves those out (``result.skipped``);
a run over trades that are all settled moves nothing and says so (``already_settled``, with
``settled_by``). The whole run is ONE ledger transaction keyed by ``run_id`` (default
``"settle:<date>"``): re-running it with the same arguments returns the stored result and
changes nothing; with other arguments (trades, ``on_fail``, roll date) it raises
:class:`RunConflict`. A date with nothing due (no trade leg, nothing rolled) returns
``nothing_due`` and writes nothing; trades due that net to zero are settled (and remembered)
although nothing moves.
After a run commits, the ledger's listeners get a :class:`~.ledger.SettlementNotice`.
Everything runs on asset codes; names appear only in what is written to the ledger file.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from exchange.codes import CODES
from exchange.reference.dates import as_day64

from .gross import GrossOutcome, settle_gross
from .ledger import Ledger, RunRecord, SettlementNotice
from .netting import (
    CLEARING_HOUSE,
    GROSS_DTYPE,
    Obligations,
    TradeValidationError,
    net_due,
)
from .results import (
    FAILED,
    GROSS_LINE_DTYPE,
    SETTLED,
    SettlementResult,
    balance_array,
    decode_coded,
    empty_result,
    encode_coded,
    net_line_array,
    shortfall_array,
)

log = logging.getLogger("exchange")

__all__ = ["RunConflict", "SettlementResult", "settle"]

_NAT = np.datetime64("NaT", "D")


class RunConflict(ValueError):
    """The run id was already used with other arguments, or obligations overlap runs that settled
    some of their trades."""


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

    ``trades`` (numpy, Arrow, pandas, a stream) are netted and checked against the ledger's
    members and assets; or pass precomputed ``obligations`` (from :func:`net`); or neither to
    settle only rolled obligations. Raises ValueError for bad arguments, TradeValidationError
    for bad trades, RunConflict (see the class); in every such case nothing is written.
    O(trades) for netting plus O(obligations + deals), and a Python step per GROSS deal of an
    under-funded member.
    """
    day = as_day64(date, "date")
    target = _roll_target(day, on_fail, next_business_day, roll_to)
    run_id = f"settle:{day}" if run_id is None else run_id
    if not isinstance(run_id, str) or not run_id or "\x00" in run_id:
        raise ValueError(f"run_id: {run_id!r} must be a non-empty string without NUL")
    settled, settled_runs = ledger.settled_keys(day)
    full, fresh = _fresh_obligations(ledger, day, trades, obligations, settled)
    args = {"date": str(day), "on_fail": on_fail, "roll_to": None if target is None else str(target),
            "obligations": full.digest()}
    stored = _stored_result(ledger, run_id, day, args)
    if stored is not None:
        return stored
    skipped = len(full.keys) - len(fresh.keys)
    by = sorted({r for (d, t), ids in full.keys.items() for r in settled_runs.get((d, t), [])
                 if settled.contains(d, t, ids).any()})
    carried_net, batches, carried_gross = ledger.carried_deals(day)
    if not len(fresh.keys) and not carried_net and not len(carried_gross):
        return empty_result(run_id, day, "already_settled" if skipped else "nothing_due", None, skipped, by)
    deals = np.concatenate([carried_gross, fresh.gross])
    work = _WorkingBalances(ledger)
    gross = settle_gross(deals, work)
    netted = _settle_net(_merge_net(fresh.net, carried_net), work)
    record, parts = _record(run_id, day, on_fail, target, deals, gross, netted)
    record.args, record.digest, record.settled = args, args["obligations"], fresh.keys
    record.consume_net = [row[0] for row in carried_net]
    record.consume_gross = sorted(set(batches))
    balances = ledger.post_run(record)
    if balances is None:  # another handle settled this run id first
        return _stored_result(ledger, run_id, day, args)
    rows = [(m, a, b) for (m, a), b in sorted(balances.items())]
    result = SettlementResult(run_id, day, "settled", on_fail, *parts, balance_array(rows), skipped, tuple(by))
    log.info("settlement run %s of %s: %d members failed %s, %d gross deals failed; rolled to %s",
             run_id, day, len(result.failed_members), result.failed_members,
             int((~gross.settled).sum()) if len(deals) else 0, target)
    return result


def _roll_target(day: np.datetime64, on_fail: str, next_business_day, roll_to) -> np.datetime64 | None:
    if on_fail not in ("roll", "cancel"):
        raise ValueError(f"on_fail: {on_fail!r} is neither 'roll' nor 'cancel'")
    if on_fail == "cancel":
        return None
    if roll_to is None and next_business_day is None:
        raise ValueError("on_fail='roll' needs next_business_day (a callable) or roll_to (a date)")
    target = as_day64(roll_to if roll_to is not None else next_business_day(day), "roll_to")
    if target <= day:
        raise ValueError(f"roll_to: {target} is not after the settlement date {day}")
    return target


def _fresh_obligations(ledger: Ledger, day: np.datetime64, trades: Any, obligations: Obligations | None,
                       settled) -> tuple[Obligations, Obligations]:
    """(everything due on ``day`` from the trades or obligations, the part not yet settled)."""
    if trades is not None and obligations is not None:
        raise ValueError("pass trades or obligations, not both")
    if trades is not None:
        return net_due(trades, day, settled, ledger=ledger)
    if obligations is None:
        return Obligations.empty(), Obligations.empty()
    if not isinstance(obligations, Obligations):
        raise TypeError(f"obligations: expected Obligations, got {type(obligations).__name__}")
    due = obligations.for_date(day)
    _check_registry(due, ledger)
    imbalance = due.imbalance()
    if (imbalance["amount"] != 0).any():
        bad = imbalance[imbalance["amount"] != 0][0]
        raise TradeValidationError(f"obligations: asset {CODES.asset.name(bad['asset'])!r} does not net to zero "
                                   f"on {bad['date']} ({bad['amount']})")
    if len(due) and not len(due.keys):
        raise TradeValidationError("obligations: they name no trades (keys), so the ledger could not settle each "
                                   "trade once; make them with net()")
    overlap = due.keys.overlap(settled)
    if overlap == 0:
        return due, due
    if overlap == len(due.keys):
        return due, Obligations.empty()
    raise RunConflict(f"obligations: {overlap} of their {len(due.keys)} trade legs due on {day} were settled by "
                      "earlier runs; pass the trades instead to settle the others")


def _check_registry(due: Obligations, ledger: Ledger) -> None:
    """TradeValidationError if the obligations name a member or an asset without accounts."""
    known_m = set(ledger.members()) | {CLEARING_HOUSE, -2}
    known_a = set(ledger.assets())
    used_m = set(np.unique(np.concatenate([due.net["member"], due.gross["receiver"], due.gross["deliverer"]])).tolist())
    codes = np.concatenate([due.net["asset"], due.gross["base_asset"], due.gross["quote_asset"]])
    used_a = set(CODES.asset.decode(np.unique(codes)))
    if used_m - known_m:
        raise TradeValidationError(f"member: {min(used_m - known_m)} is not a known member")
    if used_a - known_a:
        raise TradeValidationError(f"asset: {min(used_a - known_a)!r} is not a known asset")


class _WorkingBalances:
    """Balances as they evolve during a run, over the ledger's committed ones (missing = 0);
    keyed by (member, asset code)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.delta: dict[tuple[int, int], int] = {}

    def get(self, key: tuple[int, int]) -> int:
        member, asset = key[0], CODES.asset.name(key[1])
        base = self._ledger.balance(member, asset) if self._ledger.has_account(member, asset) else 0
        return base + self.delta.get(key, 0)

    def add(self, key: tuple[int, int], amount: int) -> None:
        if amount:
            self.delta[key] = self.delta.get(key, 0) + amount


# --------------------------------------------------------------------------- NET


def _merge_net(fresh: np.ndarray, carried: list[tuple]) -> dict[tuple[int, int], int]:
    """Fresh NET obligations plus rolled ones, summed per (member, asset code)."""
    due: dict[tuple[int, int], int] = {}
    for member, asset, amount in zip(fresh["member"].tolist(), fresh["asset"].tolist(), fresh["amount"].tolist()):
        due[(member, asset)] = due.get((member, asset), 0) + amount
    for _, member, asset, amount in carried:
        key = (member, CODES.asset.code(asset))
        due[key] = due.get(key, 0) + amount
    return {k: v for k, v in sorted(due.items(), key=lambda kv: (kv[0][0], CODES.asset.name(kv[0][1]))) if v}


def _settle_net(due: dict[tuple[int, int], int], work: _WorkingBalances) -> tuple[list[tuple], dict[int, int], list[tuple]]:
    """All-or-nothing per member against the CCP; updates ``work``. Returns the lines
    ``(member, asset, amount, settled)``, the CCP's movement per asset, the shortfalls."""
    by_member: dict[int, list[tuple[int, int]]] = {}
    for (member, asset), amount in due.items():
        by_member.setdefault(member, []).append((asset, amount))
    lines, shortfalls, ccp = [], [], {}
    for member, rows in by_member.items():
        short = [(-1, 0, member, asset, -amount, work.get((member, asset))) for asset, amount in rows
                 if member >= 0 and amount < 0 and work.get((member, asset)) < -amount]
        shortfalls.extend(short)
        for asset, amount in rows:
            lines.append((member, asset, amount, not short))
            if not short:
                work.add((member, asset), amount)
                ccp[asset] = ccp.get(asset, 0) - amount
    for asset, amount in ccp.items():
        work.add((CLEARING_HOUSE, asset), amount)
    return lines, {a: x for a, x in sorted(ccp.items(), key=lambda kv: CODES.asset.name(kv[0])) if x}, shortfalls


# --------------------------------------------------------------------------- the run record


def _record(run_id, day, policy, target, deals, gross: GrossOutcome, netted) -> tuple[RunRecord, tuple]:
    """The RunRecord (names for the file, the notice for listeners) and the result arrays."""
    lines, ccp, net_short = netted
    name = CODES.asset.name
    ctext = None if target is None else str(target)
    report = [("net", "settled" if ok else "failed", m, name(a), x, None if ok else ctext) for m, a, x, ok in lines]
    report += [("ccp", "settled", CLEARING_HOUSE, name(a), x, None) for a, x in ccp.items()]
    failed = deals[~gross.settled]
    gross_lines = _gross_lines(deals, gross.settled, _NAT if target is None else target)
    blob, blob_assets = encode_coded(gross_lines)
    movements: dict[tuple[int, str], int] = {}
    for (m, a), x in gross.legs.per_account(gross.settled).items() if gross.legs else ():
        movements[(m, name(a))] = x
    for m, a, x, ok in lines:
        if ok:
            movements[(m, name(a))] = movements.get((m, name(a)), 0) + x
    for a, x in ccp.items():
        movements[(CLEARING_HOUSE, name(a))] = movements.get((CLEARING_HOUSE, name(a)), 0) + x
    short = np.concatenate([gross.shortfalls, shortfall_array(net_short)])
    summary = {
        "policy": policy, "carried_to": ctext, "failed_members": sorted({m for m, _, _, ok in lines if not ok}),
        "gross_settled": int(gross.settled.sum()), "gross_failed": int((~gross.settled).sum()),
        "ccp": {name(a): x for a, x in ccp.items()},
    }
    record = RunRecord(
        run_id=run_id, kind="settlement", settle_date=str(day), summary=summary, movements=movements,
        lines=report, gross=blob, gross_assets=blob_assets, shortfalls=short,
        carried_net=[] if target is None else [(ctext, m, name(a), x) for m, a, x, ok in lines if not ok],
        carried_gross=None if target is None else failed, carried_to=ctext,
        notice=_notice(run_id, day, target, lines, gross, failed),
    )
    return record, (net_line_array(report), gross_lines, short)


def _notice(run_id, day, target, lines, gross: GrossOutcome, failed: np.ndarray) -> SettlementNotice:
    """What listeners hear: the signed amounts carried to ``target`` and the debits in them."""
    carried: dict[tuple[int, str], int] = {}
    debits: dict[tuple[int, str], int] = {}
    if target is not None:
        name = CODES.asset.name
        for m, a, x, ok in lines:
            if not ok:
                carried[(m, name(a))] = carried.get((m, name(a)), 0) + x
                if x < 0:
                    debits[(m, name(a))] = debits.get((m, name(a)), 0) - x
        if gross.legs is not None:
            for (m, a), x in gross.legs.per_account(~gross.settled, members_only=True).items():
                carried[(m, name(a))] = carried.get((m, name(a)), 0) + x
            for (m, a), x in gross.legs.per_account(~gross.settled, debits_only=True).items():
                debits[(m, name(a))] = debits.get((m, name(a)), 0) + x
    def as_date(d: np.datetime64 | None) -> Any:
        return None if d is None else d.astype(object)

    return SettlementNotice(run_id, as_date(day), as_date(target), {k: v for k, v in carried.items() if v}, debits)


def _gross_lines(deals: np.ndarray, settled: np.ndarray, carried_to: np.datetime64) -> np.ndarray:
    """GROSS_LINE_DTYPE rows: each deal's bytes (a GROSS_LINE row begins with the GROSS row it
    reports, both packed) and its outcome."""
    out = np.zeros(len(deals), GROSS_LINE_DTYPE)
    width = GROSS_DTYPE.itemsize
    out.view(np.uint8).reshape(len(deals), GROSS_LINE_DTYPE.itemsize)[:, :width] = np.ascontiguousarray(
        deals).view(np.uint8).reshape(len(deals), width)
    out["status"] = np.where(settled, SETTLED, FAILED)
    out["carried_to"] = np.where(settled, _NAT, carried_to)
    return out


def _stored_result(ledger: Ledger, run_id: str, day: np.datetime64, args: dict) -> SettlementResult | None:
    """The result of an already-recorded run, or None. RunConflict if it was asked otherwise."""
    info = ledger.run_info(run_id)
    if info is None:
        return None
    if info["kind"] != "settlement" or info["args"] != args:
        stored = info["args"] or {"kind": info["kind"]}
        diff = sorted(k for k in set(stored) | set(args) if stored.get(k) != args.get(k))
        raise RunConflict(f"run_id: {run_id!r} was already used ({info['kind']} of {info['settle_date']}) with other "
                          f"{', '.join(diff)}; use another run_id for another run")
    rows = ledger.run_rows(run_id)
    return SettlementResult(
        run_id, day, "already_settled", info["summary"].get("policy"), net_line_array(rows["lines"]),
        decode_coded(rows["gross"], rows["gross_assets"], GROSS_LINE_DTYPE), rows["shortfalls"],
        balance_array(rows["balances"]),
    )

