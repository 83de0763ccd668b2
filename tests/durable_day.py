"""A small scripted trading day for the journal, snapshot, recovery and digest tests.

:func:`build` makes the exchange every test of issue 11 part 2 uses (the default instruments on
a fixed calendar, a USDKZT reference rate for the swaps); :func:`members` registers a
pre-funded, a deferred and a credit-limited member and funds the first two; :func:`scripted_day`
makes one of every state-changing call (and refusals of each call) and returns the journal
records it must give, in order; :func:`state` is everything a test compares between two
exchanges that must be equal. :func:`flip` and :func:`set_journal_version` damage files.
"""
from __future__ import annotations

import datetime as dt
import struct
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from exchange import ORDER_DTYPE, Exchange, OrderRejected, Regime
from exchange.journal import (
    AddMember,
    BeginDay,
    Cancel,
    CloseSession,
    Command,
    Deposit,
    EndOfDay,
    MarketOrder,
    Modify,
    OpenSession,
    Process,
    Refused,
    SettlementRun,
    Submit,
    Withdraw,
)
from exchange.journal.format import HEADER_SIZE
from exchange.reference.calendar import Calendar

THU = dt.date(2024, 3, 7)
FRI = dt.date(2024, 3, 11)  # the next business day (Friday 8 March is a holiday)
OPTIONS: dict[str, Any] = {"calendar": Calendar(), "reference_rates": {"USDKZT": "470.00"}}
#: Symbols the scripts and random streams trade: spot T+0, a swap and a security (all trade
#: in the day session) with the lowest price (ticks) each order stream starts from.
LOW = {"USDKZT_TOD": 46_995, "USDKZT_SWAP_1D": 1, "KZTK": 100}
ASSETS = ("KZT", "USD", "KZTK")
MEMBERS = (1, 2, 3)  # 1 pre-funded, 2 deferred, 3 deferred with a KZT credit limit


def build(**extra: Any) -> Exchange:
    """A new exchange on :data:`OPTIONS` (``extra``: more constructor options)."""
    return Exchange(**OPTIONS, **extra)


def members(ex: Exchange) -> list[Command]:
    """Register :data:`MEMBERS` and fund members 1 and 2; returns the records that must give."""
    ex.add_member(1, "prefunded", Regime.PREFUNDED)
    ex.add_member(2, "deferred")
    ex.add_member(3, "limited", credit_limits={"KZT": "3000000"})
    ex.deposit(1, "KZT", 10**12)
    ex.deposit(1, "USD", 10**10)
    ex.deposit(np.int64(1), "KZTK", np.int64(500))
    ex.deposit(2, "KZT", 10**9)
    ex.deposit(2, "KZTK", 100)
    return [AddMember(1, "prefunded", "PREFUNDED"), AddMember(2, "deferred", "DEFERRED"),
            AddMember(3, "limited", "DEFERRED", {"KZT": Decimal("3000000")}),
            Deposit(1, "KZT", 10**12), Deposit(1, "USD", 10**10), Deposit(1, "KZTK", 500),
            Deposit(2, "KZT", 10**9), Deposit(2, "KZTK", 100)]


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    """Make a call that must be refused; returns the reason's name."""
    try:
        call(*args, **kwargs)
    except OrderRejected as exc:
        return exc.reason.name
    raise AssertionError(f"{call.__name__}{args} was not refused")


def scripted_day(ex: Exchange) -> list[tuple[float, Command]]:
    """One trading day on an exchange holding :func:`members`: every kind of call, and a
    refusal of each call that counts them; returns (time, record) of each journal record it
    must give, in order."""
    tod, swap = ex.instrument_id("USDKZT_TOD"), ex.instrument_id("USDKZT_SWAP_1D")
    kztk = ex.instrument_id("KZTK")
    out: list[tuple[float, Command]] = []

    def at(t: float, *records: Command) -> None:
        out.extend((t, record) for record in records)

    ex.begin_day(THU)
    at(0.0, BeginDay(THU))
    ex.set_time(36_000)
    ex.open_session("morning")
    at(36_000, OpenSession("morning"))
    ex.set_time(36_001.5)
    first = ex.submit(1, "USDKZT_TOD", 0, price_ticks=47_000, lots=3)  # plain ints: fast path
    ex.submit(2, "USDKZT_TOD", 1, price_ticks=47_000, lots=1)
    ex.submit(np.int64(2), "USDKZT_SWAP_1D", np.int32(1), price_ticks=np.int64(5),
              lots=np.int64(4))  # numpy ints: the slow path
    ex.market(1, "USDKZT_SWAP_1D", 0, lots=1)
    ex.submit(3, "USDKZT_TOD", 1, "470.10", "2000", client_order_id="c-1")  # decimals
    at(36_001.5, Submit(1, tod, 0, 47_000, 3, 0), Submit(2, tod, 1, 47_000, 1, 0),
       Submit(2, swap, 1, 5, 4, 0), MarketOrder(1, swap, 0, 1),
       Submit(3, tod, 1, 47_010, 2, 0, "c-1"))
    ex.set_time(36_002)
    reasons = [refused(ex.submit, 1, "USDKZT_TOD", 0, price_ticks=0, lots=1),
               refused(ex.submit, 99, "USDKZT_TOD", 0, price_ticks=47_000, lots=1),
               refused(ex.market, 1, "KZTK", 0, lots=1),  # KZTK trades in the day session
               refused(ex.cancel, 2, 12_345),
               refused(ex.modify, 1, 12_345, lots=1),
               refused(ex.withdraw, 2, "KZT", 10**15)]
    assert reasons == ["INVALID_PRICE", "UNKNOWN_MEMBER", "SESSION_CLOSED", "UNKNOWN_ORDER",
                       "UNKNOWN_ORDER", "INSUFFICIENT_FUNDS"]
    at(36_002, Refused("submit", -4), Refused("submit", -20), Refused("market", -23),
       Refused("cancel", -7), Refused("modify", -7), Refused("withdraw", -29))
    ex.modify(1, first.order_id, lots=1)  # smaller: keeps its place
    ex.modify(1, first.order_id, lots=1, price_ticks=46_999)
    ex.withdraw(1, "KZT", 1_000)
    at(36_002, Modify(1, first.order_id, 1, 0), Modify(1, first.order_id, 1, 46_999),
       Withdraw(1, "KZT", 1_000))
    ex.set_time(41_400)
    ex.close_session("morning")
    ex.open_session("day")
    at(41_400, CloseSession("morning"), OpenSession("day"))
    ex.set_time(41_500)
    batch = np.zeros(4, ORDER_DTYPE)
    batch[0] = (0, 0, 1, kztk, 0, 150, 10, 0)  # NEW: rests
    batch[1] = (0, 0, 2, kztk, 1, 149, 4, 0)  # NEW: trades with it
    batch[2] = (0, 0, 2, kztk, 3, 149, 4, 0)  # side 3: refused inside the batch
    batch[3] = (2, 0, 2, kztk, 0, 0, 2, 0)  # MARKET buy: nothing on the ask side
    ex.process(batch)
    at(41_500, Process(batch))
    resting = ex.submit(2, "KZTK", 1, price_ticks=160, lots=3)
    ex.cancel(2, resting.order_id)
    at(41_500, Submit(2, kztk, 1, 160, 3, 0), Cancel(2, resting.order_id))
    ex.set_time(55_800)
    ex.end_of_day()
    at(55_800, EndOfDay())
    ex.set_time(60_000)
    ex.settle(THU)
    at(60_000, SettlementRun(THU, f"settle:{THU}", {"on_fail": "roll",
                                                     "roll_to": FRI.isoformat()}))
    return out


def books(ex: Exchange) -> dict[str, list[list[tuple[int, ...]]]]:
    """Every non-empty book's resting orders, bids then asks, in priority order."""
    found = {}
    for symbol in sorted(ex.instruments):
        view = ex.book(symbol)
        sides = [[tuple(int(x) for x in row) for row in view.orders(side)] for side in (0, 1)]
        if any(sides):
            found[symbol] = sides
    return found


def state(ex: Exchange) -> dict[str, Any]:
    """What two equal exchanges share: the digest and, to name what differs, the trades,
    books, funds, credit exposure, refusals, ledger, members, day and sessions."""
    return {
        "digest": ex.digest(),
        "trades": ex.trades().tobytes(),
        "books": books(ex),
        "funds": {(m.id, a): ex.funds(m.id, a) for m in ex.members for a in ASSETS},
        "exposure": {m.id: ex.credit_exposure(m.id, "KZT") for m in ex.members
                     if m.credit_limits},
        "rejections": ex.rejections(),
        "ledger": list(ex.ledger.accounts()),
        "members": [(m.id, m.name, m.regime, m.credit_limits) for m in ex.members],
        "date": ex.date,
        "sessions": [ex.session_state(name) for name in ("morning", "day", "evening")],
    }


# -- random streams (hypothesis draws the operations; :func:`apply` makes each) ---------------

SESSIONS = ("morning", "day", "evening")


def start_day(ex: Exchange) -> None:
    """Begin :data:`THU` and open its morning session at 10:00."""
    ex.begin_day(THU)
    ex.set_time(36_000)
    ex.open_session("morning")


def next_session(ex: Exchange) -> str:
    """Close the open session and open the next one (the last: end the day); returns what
    happened."""
    for i, name in enumerate(SESSIONS):
        if ex.session_state(name).name == "OPEN":
            if i + 1 < len(SESSIONS):
                ex.close_session(name)
                ex.open_session(SESSIONS[i + 1])
                return f"open {SESSIONS[i + 1]}"
            ex.end_of_day()
            return "day ended"
    return "nothing open"


def apply(ex: Exchange, op: tuple) -> str:
    """Make the call ``op`` describes on ``ex``; its result (or refusal) as text, so that two
    exchanges' answers compare. Order ids name orders 1..20 of either exchange's numbering."""
    kind, *args = op
    try:
        if kind == "submit":
            member, symbol, side, offset, lots, tif = args
            result: Any = ex.submit(member, symbol, side, price_ticks=LOW[symbol] + offset,
                                    lots=lots, tif=tif)
        elif kind == "market":
            member, symbol, side, lots = args
            result = ex.market(member, symbol, side, lots=lots)
        elif kind == "cancel":
            result = ex.cancel(*args)
        elif kind == "modify":
            member, order_id, lots, price = args
            result = ex.modify(member, order_id, lots=lots, price_ticks=price or None)
        elif kind == "deposit":
            result = ex.deposit(*args)
        elif kind == "withdraw":
            result = ex.withdraw(*args)
        elif kind == "time":
            result = ex.set_time(ex.now() + args[0])
        else:
            result = next_session(ex)
    except (OrderRejected, PermissionError) as exc:
        return f"refused {exc.reason.name}" if isinstance(exc, OrderRejected) else repr(exc)
    return repr(result)


# -- damage ------------------------------------------------------------------------------------

def flip(path: Path, offset: int, mask: int = 0x40) -> None:
    """Flip the bits ``mask`` of the byte at ``offset`` of the file ``path``."""
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def set_journal_version(path: Path, version: int) -> None:
    """Rewrite a journal segment header's format version, with a CRC that holds (the header a
    newer writer would write)."""
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, 8, version)
    struct.pack_into("<I", data, HEADER_SIZE - 4, zlib.crc32(bytes(data[:HEADER_SIZE - 4])))
    path.write_bytes(bytes(data))
