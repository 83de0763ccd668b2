"""What a settlement run reports: :class:`SettlementResult` and its arrays, and how its GROSS
report is stored in (and read back from) the ledger file.

Kinds, statuses and assets are codes (``exchange.codes.CODES``); ``to_arrow``/``to_pandas`` give
names. Large parts (the GROSS report, the shortfalls, rolled GROSS deals) are stored as ``.npy``
images (no pickle) whose asset codes index a list of names stored beside them, so they read
back right in any process.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from exchange.codes import CODES, to_arrow, to_pandas

from .netting import GROSS_DTYPE

__all__ = [
    "BALANCE_DTYPE", "CCP", "FAILED", "GROSS_LINE_DTYPE", "NET", "NET_LINE_DTYPE", "SETTLED",
    "SHORTFALL_DTYPE", "SettlementResult",
]

#: Status codes (``CODES.status``) and line kinds (``CODES.kind``).
SETTLED, FAILED = CODES.status.code("settled"), CODES.status.code("failed")
NET, GROSS, CCP = CODES.kind.code("net"), CODES.kind.code("gross"), CODES.kind.code("ccp")

#: One NET line of a run: a member's (or the fee account's) obligation of the date (kind net),
#: or the CCP's movement per asset (kind ccp); carried_to is the date a failed obligation
#: rolled to (NaT: settled, or cancelled).
NET_LINE_DTYPE = np.dtype(
    [("kind", "i1"), ("member", "i8"), ("asset", "i2"), ("amount", "i8"), ("status", "i1"), ("carried_to", "M8[D]")]
)
#: One GROSS instruction of a run with its outcome (packed: a GROSS_DTYPE row, then these).
GROSS_LINE_DTYPE = np.dtype(GROSS_DTYPE.descr + [("status", "i1"), ("carried_to", "M8[D]")])
assert GROSS_LINE_DTYPE.fields["status"][1] == GROSS_DTYPE.itemsize
#: Why something failed: needed > available for member in asset (trade_id -1 for NET).
SHORTFALL_DTYPE = np.dtype(
    [("trade_id", "i8"), ("leg", "i1"), ("member", "i8"), ("asset", "i2"), ("needed", "i8"), ("available", "i8")]
)
#: Balances after the run of every account it touched.
BALANCE_DTYPE = np.dtype([("member", "i8"), ("asset", "i2"), ("balance", "i8")])

_NAT = np.datetime64("NaT", "D")


@dataclass(frozen=True)
class SettlementResult:
    """What a settlement run did (or, for ``already_settled``, had done).

    ``skipped``: legs of the given trades left out because earlier runs had settled them;
    ``settled_by``: those runs.
    """

    run_id: str
    date: np.datetime64
    status: str  # "settled" | "already_settled" | "nothing_due"
    policy: str | None
    net: np.ndarray  # NET_LINE_DTYPE
    gross: np.ndarray  # GROSS_LINE_DTYPE
    shortfalls: np.ndarray  # SHORTFALL_DTYPE
    balances: np.ndarray  # BALANCE_DTYPE
    skipped: int = 0
    settled_by: tuple[str, ...] = ()

    @property
    def failed_members(self) -> list[int]:
        """Members whose NET obligations failed, ascending."""
        lines = self.net[(self.net["kind"] == NET) & (self.net["status"] == FAILED)]
        return sorted(set(lines["member"].tolist()))

    @property
    def settled_members(self) -> list[int]:
        """Members (not the fee account) whose NET obligations settled, ascending."""
        lines = self.net[(self.net["kind"] == NET) & (self.net["status"] == SETTLED) & (self.net["member"] >= 0)]
        return sorted(set(lines["member"].tolist()))

    @property
    def ccp_movements(self) -> dict[str, int]:
        """asset -> change of the CCP's balance in this run (non-zero only with failures)."""
        lines = self.net[self.net["kind"] == CCP]
        return dict(zip(CODES.asset.decode(lines["asset"]), lines["amount"].tolist()))

    def to_arrow(self, part: str = "net") -> Any:
        """One part ("net", "gross", "shortfalls", "balances") as a pyarrow Table, with names."""
        return to_arrow(self._part(part))

    def to_pandas(self, part: str = "net") -> Any:
        """One part as a pandas DataFrame (names as categoricals)."""
        return to_pandas(self._part(part))

    def _part(self, part: str) -> np.ndarray:
        if part not in ("net", "gross", "shortfalls", "balances"):
            raise ValueError(f"part: {part!r} is not one of net, gross, shortfalls, balances")
        return getattr(self, part)


def empty_result(run_id: str, day: np.datetime64, status: str, policy: str | None = None, skipped: int = 0,
                 settled_by: Sequence[str] = ()) -> SettlementResult:
    return SettlementResult(run_id, day, status, policy, np.zeros(0, NET_LINE_DTYPE), np.zeros(0, GROSS_LINE_DTYPE),
                            np.zeros(0, SHORTFALL_DTYPE), np.zeros(0, BALANCE_DTYPE), skipped, tuple(settled_by))


def encode_coded(lines: np.ndarray) -> tuple[bytes, list[str]]:
    """A structured array as an .npy image (no pickle) whose asset codes index the returned
    names (sorted, so that the image does not depend on this process's codes)."""
    fields = [n for n in lines.dtype.names if CODES.fields.get(n) is CODES.asset]
    lines = lines.copy()
    used = sorted(set().union(*(np.unique(lines[f]).tolist() for f in fields)), key=CODES.asset.name)
    local = np.zeros(len(CODES.asset) + 1, np.int16)
    local[used] = np.arange(len(used))
    for name in fields:
        lines[name] = local[lines[name].astype(np.intp)]
    buffer = io.BytesIO()
    np.save(buffer, lines, allow_pickle=False)
    return buffer.getvalue(), CODES.asset.decode(np.asarray(used, np.int16))


def decode_coded(blob: bytes | None, names: Sequence[str], dtype: np.dtype) -> np.ndarray:
    """Inverse of :func:`encode_coded`, on this process's codes; an empty array for None."""
    if blob is None:
        return np.zeros(0, dtype)
    lines = np.load(io.BytesIO(blob), allow_pickle=False)
    if lines.dtype != dtype:
        raise ValueError(f"stored report has dtype {lines.dtype}, expected {dtype}")
    codes = CODES.asset.codes(names) if names else np.zeros(1, np.int16)
    for name in (n for n in dtype.names if CODES.fields.get(n) is CODES.asset):
        lines[name] = codes[lines[name].astype(np.intp)]
    return lines


def net_line_array(lines: Sequence[tuple]) -> np.ndarray:
    """Stored/report rows ``(kind, status, member, asset, amount, carried_to)`` with names."""
    out = np.zeros(len(lines), NET_LINE_DTYPE)
    for i, (kind, status, member, asset, amount, carried) in enumerate(lines):
        out[i] = (CODES.kind.code(kind), member, CODES.asset.code(asset), amount, CODES.status.code(status),
                  _NAT if carried is None else np.datetime64(carried, "D"))
    return out


def shortfall_array(rows: Sequence[tuple]) -> np.ndarray:
    """Rows ``(trade_id, leg, member, asset code, needed, available)`` as SHORTFALL_DTYPE."""
    out = np.zeros(len(rows), SHORTFALL_DTYPE)
    for name, column in zip(SHORTFALL_DTYPE.names, zip(*rows)):
        out[name] = column
    return out


def balance_array(rows: Sequence[tuple[int, str, int]]) -> np.ndarray:
    """Rows ``(member, asset name, balance)``, in the order given."""
    out = np.zeros(len(rows), BALANCE_DTYPE)
    for i, (member, asset, balance) in enumerate(rows):
        out[i] = (member, CODES.asset.code(asset), balance)
    return out
