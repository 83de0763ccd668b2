"""Multilateral netting of trade records against the clearing house (CCP), in numpy chunks.

``net(trades)`` turns trade records (numpy, Arrow, pandas or a stream of them, see
:mod:`exchange.clearing.inputs`) into :class:`Obligations`:

* ``Obligations.net``: for every settlement date, every member's (and the exchange fee
  account's) net amount per asset against the CCP, from all NET trades; positive = the member
  receives, negative = it pays. Swaps contribute their far leg on ``far_settle_date`` (the base
  amount back, ``far_quote_amount`` the other way). Fees are in the quote asset, owed on the near
  leg's date to the fee account ``EXCHANGE_FEES``. For every (asset, date) the amounts sum to 0.
* ``Obligations.gross``: GROSS trades deal by deal, one DVP instruction per leg: the receiver
  gets ``base_amount`` and pays ``pay_amount`` (quote + its fee), the deliverer hands over
  ``base_amount`` and gets ``proceeds`` (quote - its fee); ``fee = pay_amount - proceeds`` goes to
  the fee account. A swap's far leg is a second instruction with the roles reversed and no fee.
* ``Obligations.keys``: which trades' legs are due on which date (:class:`TradeKeys`), so that
  the ledger can settle each trade once.

Assets are ``CODES.asset`` codes throughout (the records' own codes: nothing is factorised by
name). Per chunk of records, legs are summed with ``np.add.at`` into a small (date, asset,
member) grid; chunks' sums are merged at the end. Time O(n); memory O(chunk) plus the GROSS
instructions and the keys (8 bytes a leg), whatever the number of NET trades.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exchange.codes import CODES, to_arrow, to_pandas
from exchange.reference.dates import as_day64

from .inputs import NAT_DAY, Chunk, TradeValidationError, read_chunks, validate
from .keys import TradeKeys

__all__ = [
    "CLEARING_HOUSE", "EXCHANGE_FEES", "GROSS_DTYPE", "OBLIGATION_DTYPE", "Obligations",
    "TradeValidationError", "net", "net_due",
]

#: Reserved account id of the clearing house (central counterparty).
CLEARING_HOUSE = -1
#: Reserved account id of the exchange's fee account.
EXCHANGE_FEES = -2

#: One net obligation: positive amount = the member receives, negative = it pays.
OBLIGATION_DTYPE = np.dtype([("member", "i8"), ("asset", "i2"), ("date", "M8[D]"), ("amount", "i8")])

#: One GROSS DVP instruction (one leg of one deal).
GROSS_DTYPE = np.dtype(
    [
        ("trade_id", "i8"),
        ("leg", "i1"),  # 0 near leg, 1 far leg of a swap
        ("date", "M8[D]"),
        ("receiver", "i8"),  # receives base_amount, pays pay_amount
        ("deliverer", "i8"),  # delivers base_amount, receives proceeds
        ("base_asset", "i2"),
        ("base_amount", "i8"),
        ("quote_asset", "i2"),
        ("pay_amount", "i8"),
        ("proceeds", "i8"),
        ("fee", "i8"),  # pay_amount - proceeds, to EXCHANGE_FEES
        ("trade_date", "M8[D]"),
    ]
)


@dataclass(frozen=True)
class Obligations:
    """Result of :func:`net`: NET obligations per (member, asset, date), GROSS instructions,
    and the keys of the trades they come from.

    ``net`` is sorted by (date, asset name, member) and lists only non-zero amounts; ``gross`` is
    sorted by (date, order of the trade records, leg): the order GROSS deals settle in.
    """

    net: np.ndarray
    gross: np.ndarray
    keys: TradeKeys = field(default_factory=TradeKeys)

    @classmethod
    def empty(cls) -> Obligations:
        return cls(np.zeros(0, OBLIGATION_DTYPE), np.zeros(0, GROSS_DTYPE))

    def dates(self) -> np.ndarray:
        """Every date on which something is due (NET or GROSS), ascending."""
        return np.union1d(self.net["date"], self.gross["date"]).astype("M8[D]")

    def for_date(self, date: Any) -> Obligations:
        """The obligations due on ``date`` only. O(n)."""
        day = as_day64(date, "date")
        return Obligations(self.net[self.net["date"] == day], self.gross[self.gross["date"] == day],
                           self.keys.for_due(int(day.astype(np.int64))))

    def __len__(self) -> int:
        return len(self.net) + len(self.gross)

    def imbalance(self) -> np.ndarray:
        """Sum of net amounts per (asset, date); all zero for a consistent set. O(n log n)."""
        dtype = [("asset", "i2"), ("date", "M8[D]"), ("amount", "i8")]
        if len(self.net) == 0:
            return np.zeros(0, dtype)
        keys, inverse = np.unique(self.net[["asset", "date"]], return_inverse=True)
        sums = np.zeros(len(keys), np.int64)
        np.add.at(sums, inverse, self.net["amount"])
        out = np.zeros(len(keys), dtype)
        out["asset"], out["date"], out["amount"] = keys["asset"], keys["date"], sums
        return out

    def digest(self) -> str:
        """A SHA-256 of the content (asset names, not this process's codes), used to recognise
        a re-run of the same settlement in any process."""
        h = hashlib.sha256()
        for array, asset_fields in ((self.net, ("asset",)), (self.gross, ("base_asset", "quote_asset"))):
            h.update(json.dumps([len(array), array.dtype.descr]).encode())
            for name in array.dtype.names:
                column = array[name]
                if name in asset_fields:
                    used = sorted(set(np.unique(column).tolist()), key=CODES.asset.name)
                    h.update(json.dumps([CODES.asset.name(c) for c in used]).encode())
                    rank = np.zeros(len(CODES.asset) + 1, np.int64)
                    rank[used] = np.arange(len(used))
                    column = rank[column.astype(np.intp)]
                h.update(np.ascontiguousarray(column).tobytes())
        self.keys.update_hash(h)
        return h.hexdigest()

    def to_arrow(self) -> Any:
        """NET obligations as a pyarrow Table (member, asset name, date, amount)."""
        return to_arrow(self.net)

    def to_pandas(self) -> Any:
        """NET obligations as a pandas DataFrame (asset as a categorical)."""
        return to_pandas(self.net)

    def gross_to_arrow(self) -> Any:
        """GROSS instructions as a pyarrow Table."""
        return to_arrow(self.gross)

    def gross_to_pandas(self) -> Any:
        """GROSS instructions as a pandas DataFrame."""
        return to_pandas(self.gross)


def net(trades: Any, *, members: Iterable[int] | None = None, assets: Iterable[str] | None = None,
        ledger: Any = None) -> Obligations:
    """Net trade records into obligations against the CCP (see the module docstring).

    ``members``/``assets`` (or a ``ledger``'s accounts) are what the trades are checked against;
    with neither, any non-negative member id and any asset is accepted. Raises
    :class:`TradeValidationError` (a ValueError) naming the field, value and trade_id for bad
    input, including a trade (trade date and trade id) given twice. O(n) time.
    """
    return _run(trades, members, assets, ledger, None, None)[0]


def net_due(trades: Any, day: np.datetime64, skip: TradeKeys, *, ledger: Any = None) -> tuple[Obligations, Obligations]:
    """The obligations of the legs due on ``day``: all of them, and those whose keys are not
    in ``skip`` (already settled). One pass over ``trades``."""
    return _run(trades, None, None, ledger, int(day.astype(np.int64)), skip)


def _run(trades, members, assets, ledger, due, skip) -> tuple[Obligations, Obligations]:
    if ledger is not None:
        members = ledger.members() if members is None else members
        assets = ledger.assets() if assets is None else assets
    allowed = None if members is None else np.fromiter((int(m) for m in members), np.int64)
    netting = _Netting(due, skip)
    totals: dict[str, float] = {}
    for chunk in read_chunks(trades):
        validate(chunk, allowed, _known_assets(assets), totals)
        netting.add(chunk)
    return netting.result()


def _known_assets(assets: Iterable[str] | None) -> np.ndarray | None:
    if assets is None:
        return None
    known = np.zeros(len(CODES.asset), bool)
    for name in assets:
        code = CODES.asset.find(name)
        if code is not None and code < len(known):
            known[code] = True
    return known


# --------------------------------------------------------------------------- the engine


class _Netting:
    """Accumulates chunk after chunk: NET cell sums, GROSS instructions, trade keys."""

    def __init__(self, due: int | None, skip: TradeKeys | None) -> None:
        self.due, self.skip = due, skip if skip is not None and len(skip) else None
        self.cells: list[tuple[np.ndarray, ...]] = []  # (day, asset, member, amount) per chunk
        self.kept_cells: list[tuple[np.ndarray, ...]] = []
        self.gross: list[np.ndarray] = []
        self.gross_kept: list[np.ndarray] = []
        self.near: dict[tuple[int, int], list[np.ndarray]] = {}  # keys of near legs
        self.far: dict[tuple[int, int], list[np.ndarray]] = {}
        self.ordered, self.last = True, None

    def add(self, c: Chunk) -> None:
        self._track_order(c)
        has_far = c.far_day != NAT_DAY
        near = np.ones(len(c), bool) if self.due is None else c.settle_day == self.due
        far = has_far if self.due is None else has_far & (c.far_day == self.due)
        _add_keys(self.near, c.settle_day[near], c.trade_day[near], c.ints["trade_id"][near])
        _add_keys(self.far, c.far_day[far], c.trade_day[far], c.ints["trade_id"][far])
        is_net = c.settlement == 0
        self.cells.append(_net_cells(c, near & is_net, far & is_net))
        rows, at, legs = _gross_rows(c, near & ~is_net, far & ~is_net)
        self.gross.append(rows)
        if self.skip is not None:
            near_kept, far_kept = near & ~self._skipped(c), far & ~self._skipped(c)
            self.kept_cells.append(_net_cells(c, near_kept & is_net, far_kept & is_net))
            kept = np.where(legs == 0, near_kept[at], far_kept[at])
            self.gross_kept.append(kept)

    def _skipped(self, c: Chunk) -> np.ndarray:
        out = np.zeros(len(c), bool)
        for trade_day in np.unique(c.trade_day).tolist():
            sel = c.trade_day == trade_day
            out[sel] = self.skip.contains(self.due, trade_day, c.ints["trade_id"][sel])
        return out

    def _track_order(self, c: Chunk) -> None:
        """Note whether the input is strictly increasing in (trade day, trade id): the usual
        case, in which no trade can be there twice and no key needs sorting."""
        td, ids = c.trade_day, c.ints["trade_id"]
        if not len(ids):
            return
        if self.ordered:
            later = (td[1:] > td[:-1]) | ((td[1:] == td[:-1]) & (ids[1:] > ids[:-1]))
            first = self.last is None or (int(td[0]), int(ids[0])) > self.last
            self.ordered = bool(first and later.all())
        self.last = (int(td[-1]), int(ids[-1]))

    def result(self) -> tuple[Obligations, Obligations]:
        try:
            near, far = TradeKeys.collect(self.near, self.ordered), TradeKeys.collect(self.far, self.ordered)
            if not self.ordered and self.due is None:  # every trade has one near leg: each once
                by_trade_day: dict[tuple[int, int], list[np.ndarray]] = {}
                for (_, trade_day), ids in near.items():
                    by_trade_day.setdefault((0, trade_day), []).append(ids)
                TradeKeys.collect(by_trade_day, False)
        except ValueError as exc:
            raise TradeValidationError(str(exc)) from None
        keys = TradeKeys.union([near, far]) if len(far) else near
        gross = _sort_gross(self.gross)
        everything = Obligations(_merge_cells(self.cells), gross, keys)
        if self.skip is None:
            return everything, everything
        kept_gross = gross[_sort_gross_mask(self.gross, self.gross_kept)] if len(gross) else gross
        return everything, Obligations(_merge_cells(self.kept_cells), kept_gross, keys.minus(self.skip))


def _add_keys(store: dict[tuple[int, int], list[np.ndarray]], due: np.ndarray, trade_day: np.ndarray,
              ids: np.ndarray) -> None:
    for key, part in _groups(due, trade_day, ids).items():
        store.setdefault(key, []).append(part)


def _groups(due: np.ndarray, trade_day: np.ndarray, ids: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """``ids`` split by (due, trade day), order kept. O(n x groups); groups are few."""
    if not len(ids):
        return {}
    d0, t0, t1 = int(due.min()), int(trade_day.min()), int(trade_day.max())
    if d0 == int(due.max()) and t0 == t1:
        return {(d0, t0): ids}
    span = t1 - t0 + 1
    code = (due - d0) * span + (trade_day - t0)
    present = np.unique(code) if int(code.max()) >= 1 << 20 else np.flatnonzero(np.bincount(code))
    return {(d0 + int(c) // span, t0 + int(c) % span): ids[code == c] for c in present.tolist()}


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, sorted distinct values) of int64 ``values``: a table lookup when their range is
    small, else a sort."""
    lo, hi = int(values.min()), int(values.max())
    if hi - lo < 1 << 22:
        present = np.zeros(hi - lo + 1, bool)
        present[values - lo] = True
        code_of = np.cumsum(present, dtype=np.int64) - 1
        return code_of[values - lo], np.flatnonzero(present).astype(np.int64) + lo
    distinct, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), distinct


def _reduce(day: np.ndarray, asset: np.ndarray, member: np.ndarray, amount: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sum ``amount`` per (day, asset, member); only non-zero sums, in (day, asset, member) order."""
    if not len(amount):
        return (np.zeros(0, np.int64),) * 4
    dcode, days = factorize(day)
    acode, assets = factorize(asset)
    mcode, members = factorize(member)
    nd, na, nm = len(days), len(assets), len(members)
    key = (dcode * na + acode) * nm + mcode
    if nd * na * nm <= max(4 * len(key), 1 << 16):
        sums = np.zeros(nd * na * nm, np.int64)
        np.add.at(sums, key, amount)
        cells = np.flatnonzero(sums)
        sums = sums[cells]
    else:
        cells, inverse = np.unique(key, return_inverse=True)
        sums = np.zeros(len(cells), np.int64)
        np.add.at(sums, inverse, amount)
        keep = sums != 0
        cells, sums = cells[keep], sums[keep]
    return days[cells // (na * nm)], assets[cells // nm % na], members[cells % nm], sums


def _net_cells(c: Chunk, near: np.ndarray, far: np.ndarray) -> tuple[np.ndarray, ...]:
    """The chunk's NET legs (five per near leg, four per far leg) summed per (day, asset,
    member) cell: ``np.add.at`` into a dense grid of the chunk's days x assets x members."""
    n, f = np.flatnonzero(near), np.flatnonzero(far)
    if not len(n) and not len(f):
        return (np.zeros(0, np.int64),) * 4
    i = c.ints
    b_near, s_near, b_far, s_far = i["buyer"][n], i["seller"][n], i["buyer"][f], i["seller"][f]
    ids = np.concatenate([b_near, s_near, b_far, s_far, [EXCHANGE_FEES]])
    mcode, members = factorize(ids)
    b_near, s_near, b_far, s_far, fee = np.split(mcode, np.cumsum([len(n), len(n), len(f), len(f)]))
    near_day, far_day = c.settle_day[n], c.far_day[f]
    d0 = int(min(near_day.min(initial=np.iinfo(np.int64).max), far_day.min(initial=np.iinfo(np.int64).max)))
    nd = int(max(near_day.max(initial=d0), far_day.max(initial=d0))) - d0 + 1
    na, nm = len(CODES.asset), len(members)
    grid = np.zeros(nd * na * nm, np.int64)

    def cell(day: np.ndarray, asset: np.ndarray) -> np.ndarray:
        key = day - d0
        key *= na
        key += asset
        key *= nm
        return key

    amount, quote, fb, fs = i["base_amount"][n], i["quote_amount"][n], i["fee_buyer"][n], i["fee_seller"][n]
    base_cell, quote_cell = cell(near_day, c.base[n]), cell(near_day, c.quote[n])
    np.add.at(grid, base_cell + b_near, amount)
    np.add.at(grid, base_cell + s_near, -amount)
    np.add.at(grid, quote_cell + b_near, -(quote + fb))
    np.add.at(grid, quote_cell + s_near, quote - fs)
    np.add.at(grid, quote_cell + fee[0], fb + fs)
    amount, far_quote = i["base_amount"][f], i["far_quote_amount"][f]
    base_cell, quote_cell = cell(far_day, c.base[f]), cell(far_day, c.quote[f])
    np.add.at(grid, base_cell + b_far, -amount)
    np.add.at(grid, base_cell + s_far, amount)
    np.add.at(grid, quote_cell + b_far, far_quote)
    np.add.at(grid, quote_cell + s_far, -far_quote)
    cells = np.flatnonzero(grid)
    return cells // (na * nm) + d0, cells // nm % na, members[cells % nm], grid[cells]


def _merge_cells(parts: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    """The chunks' cell sums merged into OBLIGATION_DTYPE rows, sorted by (date, asset name,
    member)."""
    day, asset, member, amount = (np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, np.int64)
                                  for k in range(4))
    day, asset, member, amount = _reduce(day, asset, member, amount)
    out = np.zeros(len(amount), OBLIGATION_DTYPE)
    out["member"], out["asset"], out["date"], out["amount"] = member, asset, day.view("M8[D]"), amount
    by_name = np.argsort(np.argsort(np.asarray(CODES.asset.names + ("",), dtype=object)))
    order = np.lexsort((out["member"], by_name[out["asset"].astype(np.intp)], out["date"]))
    return out[order]


def _gross_rows(c: Chunk, near: np.ndarray, far: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chunk's selected GROSS legs in (record, leg) order as GROSS_DTYPE rows, with the
    row in the chunk and the leg of each."""
    n, f = np.flatnonzero(near), np.flatnonzero(far)
    rows = np.concatenate([n, f])
    leg = np.repeat(np.array([0, 1], np.int8), [len(n), len(f)])
    if len(f):
        order = np.argsort(rows * 2 + leg, kind="stable")
        rows, leg = rows[order], leg[order]
    is_far = leg == 1
    i = c.ints
    out = np.empty(len(rows), GROSS_DTYPE)
    out["trade_id"], out["leg"] = i["trade_id"][rows], leg
    out["date"] = np.where(is_far, c.far_day[rows], c.settle_day[rows]).view("M8[D]")
    out["trade_date"] = c.trade_day[rows].view("M8[D]")
    buyer, seller = i["buyer"][rows], i["seller"][rows]
    out["receiver"], out["deliverer"] = np.where(is_far, seller, buyer), np.where(is_far, buyer, seller)
    out["base_asset"], out["quote_asset"] = c.base[rows], c.quote[rows]
    out["base_amount"] = i["base_amount"][rows]
    quote, far_quote = i["quote_amount"][rows], i["far_quote_amount"][rows]
    fb, fs = i["fee_buyer"][rows], i["fee_seller"][rows]
    out["pay_amount"] = np.where(is_far, far_quote, quote + fb)
    out["proceeds"] = np.where(is_far, far_quote, quote - fs)
    out["fee"] = np.where(is_far, 0, fb + fs)
    return out, rows, leg


def _gross_order(parts: list[np.ndarray]) -> np.ndarray | None:
    """The stable order by date of all chunks' rows; None if they are in date order already."""
    dates = (np.concatenate([p["date"] for p in parts]) if parts else np.zeros(0, "M8[D]")).view(np.int64)
    if len(dates) < 2 or (dates[1:] >= dates[:-1]).all():
        return None
    return np.argsort(dates, kind="stable")


def _sort_gross(parts: list[np.ndarray]) -> np.ndarray:
    """All chunks' GROSS rows, stably sorted by date (record order, then leg, within a date)."""
    if not parts:
        return np.zeros(0, GROSS_DTYPE)
    order = _gross_order(parts)
    out = np.concatenate(parts)  # whole rows: one copy, not one per field
    return out if order is None else out[order]


def _sort_gross_mask(parts: list[np.ndarray], masks: list[np.ndarray]) -> np.ndarray:
    order, mask = _gross_order(parts), np.concatenate(masks)
    return mask if order is None else mask[order]
