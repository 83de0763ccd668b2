"""The exchange's one refusal vocabulary: every stage refuses with a :class:`RejectReason`.

Each reason has a name (its ``value``, as in a log line) and a negative integer ``code``: the code
an ``Exchange.process`` result carries and the key of the FIX mapping. The codes form ONE space
with the book's :class:`~exchange._book.Reject` codes: a reason the book can give has the book's
code, and :data:`FROM_BOOK` is the one table that maps a book refusal into this vocabulary. Codes
are never renumbered; a new reason gets a new code. (exchange-core's ``CommandResultCode`` is the
model: one code space for every stage, so no stage re-asks another why.)

==========================  =====  ======================================================  ====
reason                      code   meaning                                                 FIX
==========================  =====  ======================================================  ====
``INVALID_ACTION``          -1     a batch row's action is not NEW/CANCEL/MARKET/MODIFY     99
``INVALID_SIDE``            -2     side is not 0 (buy) or 1 (sell)                         11
``INVALID_QTY``             -3     quantity not a positive whole number of lots            13
``INVALID_PRICE``           -4     price not a positive number (or not a number at all)    99
``INVALID_TIF``             -5     time in force not GTC/IOC/FOK/POST_ONLY                 11
``UNKNOWN_ORDER``           -7     cancel/modify of an order that is not resting           5
``FOK_NOT_FILLED``          -8     fill-or-kill could not fill in full (the book's)        99
``POST_ONLY_WOULD_CROSS``   -9     post-only would trade on arrival (the book's)           99
``LEVEL_OVERFLOW``          -10    a price level's total would pass int64 (the book's)     13
``UNKNOWN_MEMBER``          -20    member id not registered                                15
``UNKNOWN_INSTRUMENT``      -21    symbol not listed                                       1
``NO_TRADING_DAY``          -22    no trading date begun (or it has ended)                 2
``SESSION_CLOSED``          -23    the instrument's session is not open                    2
``NOT_TRADING_DAY``         -24    the instrument cannot settle from today (holiday)      2
``OFF_TICK``                -25    price not a whole number of ticks                       18
``OFF_LOT``                 -26    quantity not a whole number of lots                     13
``VALUE_TOO_LARGE``         -27    an amount of a fill could exceed int64                  13
``NO_REFERENCE_RATE``       -28    a swap without a reference rate for its legs            99
``INSUFFICIENT_FUNDS``      -29    pre-funded: available below the order's worst case      3
``CREDIT_LIMIT``            -30    deferred: over its credit limit in a currency           3
``NOT_OWNER``               -31    cancel/modify of another member's order                 99
``INVALID_ORDER_ID``        -32    a batch row's NEW/MARKET names an order id (it must be 0)  99
==========================  =====  ======================================================  ====
"""
from __future__ import annotations

import enum

from exchange._book import Reject

__all__ = [
    "RejectReason",
    "FROM_BOOK",
    "FIX_ORD_REJ_REASON",
    "OrderRejected",
    "OrderTypeRejected",
    "UnknownOrder",
    "NotOrderOwner",
]


class RejectReason(enum.Enum):
    """Why the exchange refused an order, a cancel, a modify or a withdrawal.

    ``value`` is the reason's name; ``code`` its negative integer code (module docstring).
    ``RejectReason(code)`` and ``RejectReason(name)`` both find a reason.
    """

    code: int

    def __new__(cls, code: int) -> RejectReason:
        member = object.__new__(cls)
        member.code = code
        return member

    def __init__(self, code: int) -> None:
        self._value_ = self.name

    INVALID_ACTION = int(Reject.INVALID_ACTION)
    INVALID_SIDE = int(Reject.INVALID_SIDE)
    INVALID_QTY = int(Reject.INVALID_QTY)
    INVALID_PRICE = int(Reject.INVALID_PRICE)
    INVALID_TIF = int(Reject.INVALID_TIF)
    UNKNOWN_ORDER = int(Reject.UNKNOWN_ID)
    FOK_NOT_FILLED = int(Reject.FOK_NOT_FILLED)
    POST_ONLY_WOULD_CROSS = int(Reject.POST_ONLY_WOULD_CROSS)
    LEVEL_OVERFLOW = int(Reject.LEVEL_OVERFLOW)
    UNKNOWN_MEMBER = -20
    UNKNOWN_INSTRUMENT = -21
    NO_TRADING_DAY = -22
    SESSION_CLOSED = -23
    NOT_TRADING_DAY = -24
    OFF_TICK = -25
    OFF_LOT = -26
    VALUE_TOO_LARGE = -27
    NO_REFERENCE_RATE = -28
    INSUFFICIENT_FUNDS = -29
    CREDIT_LIMIT = -30
    NOT_OWNER = -31
    INVALID_ORDER_ID = -32

    @classmethod
    def _missing_(cls, value: object) -> RejectReason | None:
        """``RejectReason(-29)`` finds a reason by code (the definition's value) and
        ``RejectReason("INSUFFICIENT_FUNDS")`` by name."""
        return cls.__members__.get(value) if isinstance(value, str) else None

#: The book's refusal codes in the exchange's vocabulary (same code, same meaning). The book's
#: DUPLICATE_ID cannot reach a member: the exchange gives out the order ids.
FROM_BOOK: dict[int, RejectReason] = {
    int(Reject.INVALID_ACTION): RejectReason.INVALID_ACTION,
    int(Reject.INVALID_SIDE): RejectReason.INVALID_SIDE,
    int(Reject.INVALID_QTY): RejectReason.INVALID_QTY,
    int(Reject.INVALID_PRICE): RejectReason.INVALID_PRICE,
    int(Reject.INVALID_TIF): RejectReason.INVALID_TIF,
    int(Reject.UNKNOWN_ID): RejectReason.UNKNOWN_ORDER,
    int(Reject.FOK_NOT_FILLED): RejectReason.FOK_NOT_FILLED,
    int(Reject.POST_ONLY_WOULD_CROSS): RejectReason.POST_ONLY_WOULD_CROSS,
    int(Reject.LEVEL_OVERFLOW): RejectReason.LEVEL_OVERFLOW,
}

#: FIX OrdRejReason (tag 103) / CxlRejReason (tag 102) code of each reason.
FIX_ORD_REJ_REASON: dict[RejectReason, int] = {
    RejectReason.INVALID_ACTION: 99,
    RejectReason.INVALID_SIDE: 11,  # Unsupported order characteristic
    RejectReason.INVALID_QTY: 13,  # Incorrect quantity
    RejectReason.INVALID_PRICE: 99,  # Other
    RejectReason.INVALID_TIF: 11,
    RejectReason.UNKNOWN_ORDER: 5,  # Unknown order
    RejectReason.FOK_NOT_FILLED: 99,
    RejectReason.POST_ONLY_WOULD_CROSS: 99,
    RejectReason.LEVEL_OVERFLOW: 13,
    RejectReason.UNKNOWN_MEMBER: 15,  # Unknown account(s)
    RejectReason.UNKNOWN_INSTRUMENT: 1,  # Unknown symbol
    RejectReason.NO_TRADING_DAY: 2,  # Exchange closed
    RejectReason.SESSION_CLOSED: 2,
    RejectReason.NOT_TRADING_DAY: 2,
    RejectReason.OFF_TICK: 18,  # Invalid price increment
    RejectReason.OFF_LOT: 13,
    RejectReason.VALUE_TOO_LARGE: 13,
    RejectReason.NO_REFERENCE_RATE: 99,
    RejectReason.INSUFFICIENT_FUNDS: 3,  # Order exceeds limit
    RejectReason.CREDIT_LIMIT: 3,
    RejectReason.NOT_OWNER: 99,
    RejectReason.INVALID_ORDER_ID: 99,
}


class OrderRejected(ValueError):
    """An order, cancel, modify or withdrawal the exchange refused; nothing changed.

    ``reason`` is a :class:`RejectReason`, ``message`` says which field and value.
    """

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


class OrderTypeRejected(OrderRejected, TypeError):
    """A refusal caused by a value of the wrong type (a float price, a str lot count)."""


class UnknownOrder(OrderRejected, KeyError):
    """Cancel or modify of an order id that is not resting (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return ValueError.__str__(self)


class NotOrderOwner(PermissionError):
    """Cancel or modify of an order by a member that does not own it; the order is untouched.

    Carries ``reason`` (``RejectReason.NOT_OWNER``) and ``message`` like :class:`OrderRejected`.
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"{RejectReason.NOT_OWNER.value}: {message}")
        self.reason = RejectReason.NOT_OWNER
        self.message = message
