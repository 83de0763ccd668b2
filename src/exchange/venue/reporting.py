"""The last stage: refusals counted, and order events built and published, only for listeners.

Every refusal is counted by reason, whether or not anybody listens. Events are built only while
somebody subscribes (``Reporter.active``); they are made from what the earlier stages already
know (the book's result, the trade rows with both sides' leaves, the order index), so reporting
never asks the book again. O(fills) per order while active, O(1) otherwise.
"""
from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from exchange.venue.codes import NotOrderOwner, OrderRejected, RejectReason
from exchange.venue.events import CancelReject, EventBus, ExecType, ExecutionReport, OrdStatus

__all__ = ["Reporter", "engine_refusal"]

from exchange.venue.fills import (
    MAKER_ID as _MID,
)
from exchange.venue.fills import (
    MAKER_LEAVES as _MLEAVES,
)
from exchange.venue.fills import (
    MAKER_OWNER as _MOWNER,
)
from exchange.venue.fills import (
    PRICE as _PX,
)
from exchange.venue.fills import (
    QTY as _QTY,
)
from exchange.venue.fills import (
    TAKER_ID as _TID,
)
from exchange.venue.fills import (
    TAKER_LEAVES as _TLEAVES,
)
from exchange.venue.fills import (
    TAKER_OWNER as _TOWNER,
)
from exchange.venue.fills import (
    TAKER_SIDE as _SIDE,
)

_FILLED, _PARTIAL = OrdStatus.FILLED, OrdStatus.PARTIALLY_FILLED
_NEW, _CANCELED = OrdStatus.NEW, OrdStatus.CANCELED


class Reporter:
    """Counts refusals and builds the FIX events of each outcome for the :class:`EventBus`."""

    def __init__(self, client_ids: dict[int, str], cum: Callable[[int], int],
                 now: Callable[[], float]) -> None:
        self.bus = EventBus()
        self.client_ids, self.cum, self.now = client_ids, cum, now
        self.rejections: Counter[RejectReason] = Counter()

    @property
    def active(self) -> bool:
        return self.bus.active

    # -- refusals ---------------------------------------------------------------------------

    def refused(self, error: OrderRejected, member: Any, symbol: Any, side: Any,
                price_ticks: Any, client_order_id: str | None) -> None:
        """Count a refused order and report it (a REJECTED ExecutionReport)."""
        self.rejections[error.reason] += 1
        if self.bus.active:
            self.bus.publish([ExecutionReport(
                self.bus.next_id(), ExecType.REJECTED, OrdStatus.REJECTED, 0, client_order_id,
                _int_or(member, -1), str(symbol)[:16],
                side if type(side) is int and side in (0, 1) else -1,
                _int_or(price_ticks, 0), 0, 0, 0, 0, self.now(),
                reason=error.reason, text=error.message)])

    def cancel_refused(self, error: OrderRejected | NotOrderOwner, member: Any, order_id: Any,
                       response_to: str) -> None:
        """Count a refused cancel ('1') or modify ('2') and report it (a CancelReject)."""
        self.rejections[error.reason] += 1
        if self.bus.active:
            self.bus.publish([CancelReject(
                self.bus.next_id(), _int_or(order_id, 0), _int_or(member, -1), response_to,
                error.reason, error.message, self.now())])

    # -- outcomes ---------------------------------------------------------------------------

    def report(self, exec_type: ExecType, status: OrdStatus, oid: int, member: int,
               symbol: str, side: int, px: int, leaves: int, cum: int, last_qty: int = 0,
               last_px: int = 0, trade_id: int = 0, text: str = "") -> ExecutionReport:
        return ExecutionReport(self.bus.next_id(), exec_type, status, oid,
                               self.client_ids.get(oid), member, symbol, side, px,
                               last_qty, last_px, leaves, cum, self.now(), trade_id, None, text)

    def fills(self, events: list, symbol: str, rows: Sequence[tuple], maker_cums: Sequence[int],
              first: int, taker_px: int, taker_cum: int) -> None:
        """TRADE reports of the taker and the maker of each fill, in execution order
        (``maker_cums``: each maker's fills so far after its fill)."""
        for i, row in enumerate(rows):
            price, qty, t_leaves, m_leaves = row[_PX], row[_QTY], row[_TLEAVES], row[_MLEAVES]
            taker_cum += qty
            tside = row[_SIDE]
            events.append(self.report(ExecType.TRADE, _PARTIAL if t_leaves else _FILLED,
                                      row[_TID], row[_TOWNER], symbol, tside, taker_px, t_leaves,
                                      taker_cum, qty, price, first + i))
            mid = row[_MID]
            events.append(self.report(ExecType.TRADE, _PARTIAL if m_leaves else _FILLED,
                                      mid, row[_MOWNER], symbol, 1 - tside, price, m_leaves,
                                      maker_cums[i], qty, price, first + i))

    def stp_cancelled(self, events: list, symbol: str, cancelled: Sequence[tuple]) -> None:
        """CANCELED reports of resting orders that self-trade prevention removed, given as
        (order id, owner, side, price) rows."""
        for oid, owner, side, price in cancelled:
            events.append(self.report(ExecType.CANCELED, _CANCELED, oid, owner, symbol, side,
                                      price, 0, self.cum(oid), text="self-trade prevention"))

    def order_events(self, symbol: str, member: int, side: int, px: int, q: int,
                     replaced: bool, result: Any, executed_now: int, first: int, rows: list,
                     maker_cums: list, stp: list) -> None:
        """Publish what a new order or a modify did: NEW or REPLACED, each fill's TRADE
        reports, the resting orders STP cancelled, and a CANCELED report for a remainder
        that does not rest (``result``: the caller's OrderResult; ``executed_now`` the lots it
        traded in this call, ``first`` the trade id of its first fill)."""
        before = result.executed_qty - executed_now
        events = [self.report(ExecType.REPLACED if replaced else ExecType.NEW,
                              _PARTIAL if before else _NEW, result.order_id, member, symbol,
                              side, px, q, before)]
        self.fills(events, symbol, rows, maker_cums, first, px, before)
        self.stp_cancelled(events, symbol, stp)
        if result.status is _CANCELED:
            events.append(self.report(
                ExecType.CANCELED, _CANCELED, result.order_id, member, symbol, side, px,
                0, result.executed_qty,
                text="self-trade prevention" if replaced else
                "remainder cancelled (IOC, market order or self-trade prevention)"))
        self.bus.publish(events)

    def forget_done(self, oid: int, leaves: int, rows: list, stp: list) -> None:
        """Drop the client ids of the orders a call finished: filled makers, STP cancels,
        the order itself if nothing of it rests."""
        ids = self.client_ids
        for row in rows:
            if row[_MLEAVES] == 0:
                ids.pop(row[_MID], None)
        for row in stp:
            ids.pop(row[0], None)
        if not leaves:
            ids.pop(oid, None)

    def expired(self, expired: Sequence[Any]) -> None:
        """EXPIRED reports of the orders a session close removed (ExpiredOrder rows)."""
        if not self.bus.active or not expired:
            return
        now, bus, cum, ids = self.now(), self.bus, self.cum, self.client_ids
        self.bus.publish([ExecutionReport(bus.next_id(), ExecType.EXPIRED, OrdStatus.EXPIRED,
                                          e.order_id, ids.get(e.order_id), e.member,
                                          e.instrument, e.side, e.price_ticks, 0, 0, 0,
                                          cum(e.order_id), now, text="session closed")
                          for e in expired])


def engine_refusal(code: int, symbol: str, engine: Any, assets: Sequence[str], member: int,
                   side: int, px: int, q: int, oid: int = 0) -> OrderRejected:
    """The refusal of an engine ``code`` (risk, the int64 bound, the book) for an order of
    ``member`` in ``symbol``, its message built from what the engine says it lacked."""
    reason = RejectReason(code)
    asset = assets[engine.refused_asset]
    what = f"order {oid}" if oid else "order"
    if reason is RejectReason.INSUFFICIENT_FUNDS:
        text = (f"member {member} needs {engine.refused_needed} {asset} minor units for the "
                f"worst case of this {what}, available {engine.refused_have}")
    elif reason is RejectReason.CREDIT_LIMIT:
        text = (f"member {member} would owe up to {engine.refused_needed} {asset} minor "
                f"units, credit limit {engine.refused_have}")
    elif reason is RejectReason.FOK_NOT_FILLED:
        text = f"fill-or-kill order of side {side} at {px} ticks cannot fill in full"
    elif reason is RejectReason.POST_ONLY_WOULD_CROSS:
        text = f"post-only order at {px} ticks would trade on arrival"
    elif reason is RejectReason.VALUE_TOO_LARGE:
        text = (f"{q} lots at up to {px} ticks, or the book's prices it would take, could "
                f"write an amount beyond int64 minor units")
    else:
        text = f"{what}: {q} lots at {px} ticks: {reason.value}"
    return OrderRejected(reason, f"{symbol}: {text}")


def _int_or(value: Any, default: int) -> int:
    """``value`` as an int for an event field (numpy integers too), ``default`` for anything
    else (bools included)."""
    if type(value) is int:
        return value
    if isinstance(value, bool):
        return default
    try:
        return operator.index(value)
    except TypeError:
        return default
