"""Order events: FIX execution reports and cancel rejects, and the bus that delivers them.

Every order outcome the exchange reports is one of the small frozen records below, delivered to
subscribers in the order it happened (:class:`EventBus`). The fields map one to one onto a FIX
4.4 ExecutionReport (MsgType 8) or OrderCancelReject (MsgType 9); :meth:`ExecutionReport.to_fix`
gives the tag -> value mapping:

======================  =====  ===================================================================
field                   tag    meaning
======================  =====  ===================================================================
``exec_id``             17     event sequence number, unique per exchange
``exec_type``           150    0 new, F trade, 4 cancelled, 5 replaced, 8 rejected, C expired
``ord_status``          39     0 new, 1 partially filled, 2 filled, 4 cancelled, 8 rejected,
                               C expired
``order_id``            37     exchange-assigned id (0 for an order refused before it had one)
``cl_ord_id``           11     the member's own id of the order, if it gave one
``member``              1      Account: the member id
``symbol``              55     instrument symbol
``side``                54     ``Side.BUY`` -> '1', ``Side.SELL`` -> '2'
``price_ticks``         44     the order's limit price (ticks; 0 for a market order)
``last_qty``            32     lots of this fill (0 if not a fill)
``last_px_ticks``       31     price of this fill (ticks; 0 if not a fill)
``leaves_qty``          151    lots still open after this event
``cum_qty``             14     lots filled so far
``transact_time``       60     simulated clock, seconds since midnight of the trading date
``trade_id``            1003   the trade record id of a fill (0 otherwise)
``reason``, ``text``    103/58 the refusal reason (FIX OrdRejReason code) and a message
======================  =====  ===================================================================

Prices stay integer ticks in the events (the hot path never builds a Decimal); ``to_fix`` takes
the instrument to turn them into decimal prices.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from exchange.venue.codes import FIX_ORD_REJ_REASON, RejectReason

__all__ = [
    "ExecType",
    "OrdStatus",
    "ExecutionReport",
    "CancelReject",
    "EventBus",
]

log = logging.getLogger("exchange")


class ExecType(str, enum.Enum):
    """FIX ExecType (tag 150)."""

    NEW = "0"
    TRADE = "F"
    CANCELED = "4"
    REPLACED = "5"
    REJECTED = "8"
    EXPIRED = "C"


class OrdStatus(str, enum.Enum):
    """FIX OrdStatus (tag 39)."""

    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    CANCELED = "4"
    REJECTED = "8"
    EXPIRED = "C"


def _fix_side(side: int) -> str:
    return "1" if side == 0 else "2"


class ExecutionReport(NamedTuple):
    """One order event; see the module docstring for the FIX tag of each field.

    A NamedTuple (immutable, and cheap to build: one is made per order and per fill while
    somebody subscribes).
    """

    exec_id: int
    exec_type: ExecType
    ord_status: OrdStatus
    order_id: int
    cl_ord_id: str | None
    member: int
    symbol: str
    side: int
    price_ticks: int
    last_qty: int
    last_px_ticks: int
    leaves_qty: int
    cum_qty: int
    transact_time: float
    trade_id: int = 0
    reason: RejectReason | None = None
    text: str = ""

    def to_fix(self, instrument: Any = None) -> dict[int, Any]:
        """The FIX tag -> value mapping of this report (MsgType 8).

        With ``instrument`` (an :class:`~exchange.reference.instruments.Instrument`), prices and
        quantities are decimals (price per base unit, base units); without it, ticks and lots.
        Fields that do not apply (no ClOrdID, no fill, no refusal) are left out. O(1).
        """
        px, qty = _converters(instrument)
        fix: dict[int, Any] = {35: "8", 17: str(self.exec_id), 150: self.exec_type.value,
                               39: self.ord_status.value, 37: str(self.order_id),
                               1: str(self.member), 55: self.symbol, 54: _fix_side(self.side),
                               151: qty(self.leaves_qty), 14: qty(self.cum_qty),
                               60: self.transact_time}
        if self.cl_ord_id is not None:
            fix[11] = self.cl_ord_id
        if self.price_ticks:
            fix[44] = px(self.price_ticks)
        if self.last_qty:
            fix[32], fix[31], fix[1003] = qty(self.last_qty), px(self.last_px_ticks), \
                str(self.trade_id)
        if self.reason is not None:
            fix[103] = FIX_ORD_REJ_REASON[self.reason]
        if self.text:
            fix[58] = self.text
        return fix


class CancelReject(NamedTuple):
    """A refused cancel or modify (FIX OrderCancelReject, MsgType 9).

    ``response_to`` is FIX CxlRejResponseTo (434): '1' cancel, '2' modify (cancel/replace).
    """

    exec_id: int
    order_id: int
    member: int
    response_to: str
    reason: RejectReason
    text: str
    transact_time: float

    def to_fix(self) -> dict[int, Any]:
        """The FIX tag -> value mapping of this reject (MsgType 9). O(1)."""
        code = FIX_ORD_REJ_REASON[self.reason]
        return {35: "9", 17: str(self.exec_id), 37: str(self.order_id), 1: str(self.member),
                434: self.response_to, 102: 1 if code == 5 else 99, 58: self.text,
                60: self.transact_time}


def _converters(instrument: Any) -> tuple[Callable[[int], Any], Callable[[int], Any]]:
    if instrument is None:
        return int, int
    return (lambda t: str(instrument.from_ticks(t))), (lambda n: str(instrument.from_lots(n)))


Subscriber = Callable[[Any], None]


class EventBus:
    """Subscribers of order events, called synchronously in subscription order.

    ``active`` is False while nobody listens: publishers test it before building an event, so
    events cost nothing without a subscriber. A subscriber that raises changes nothing for the
    caller of the exchange or for the other subscribers: the error is logged (logger
    ``exchange``, with the traceback and the event) and delivery goes on.
    """

    __slots__ = ("_subscribers", "active", "_seq")

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.active = False
        self._seq = 0

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; returns a function that unsubscribes it. TypeError if not callable."""
        if not callable(callback):
            raise TypeError(f"callback: expected a callable, got {type(callback).__name__}")
        self._subscribers.append(callback)
        self.active = True

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)
            self.active = bool(self._subscribers)

        return unsubscribe

    def next_id(self) -> int:
        """The next event sequence number (ExecID)."""
        self._seq += 1
        return self._seq

    @property
    def sequence(self) -> int:
        """The last event sequence number given out (a snapshot keeps it)."""
        return self._seq

    @sequence.setter
    def sequence(self, value: int) -> None:
        self._seq = value

    def publish(self, events: list[Any]) -> None:
        """Deliver ``events`` in order to every subscriber; a subscriber's error is logged."""
        for event in events:
            for callback in tuple(self._subscribers):
                try:
                    callback(event)
                except Exception:
                    log.exception("event subscriber %r raised on %r; delivery goes on",
                                  callback, event)
