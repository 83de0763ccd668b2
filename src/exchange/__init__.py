"""exchange: a KASE-style exchange library with a compiled price-time order book at its core.

Layers, bottom up: the book core (``OrderBook``), instruments and calendars, sessions and the
exchange facade (``Exchange``), clearing (netting, settlement, ledger) and simulation.
"""
from ._book import (
    MESSAGE_DTYPE,
    STP_CANCEL_DTYPE,
    TRADE_DTYPE,
    Action,
    OrderBook,
    Reject,
    Side,
    STP,
    TIF,
)

__all__ = [
    "MESSAGE_DTYPE",
    "STP_CANCEL_DTYPE",
    "TRADE_DTYPE",
    "Action",
    "OrderBook",
    "Reject",
    "Side",
    "STP",
    "TIF",
]
__version__ = "0.1.0"

# The exchange layer: sessions, members and pre-trade checks, trade capture, events, the facade.
from .venue.capture import FixingConfig, SessionStat  # noqa: E402
from .venue.codes import (  # noqa: E402
    NotOrderOwner,
    OrderRejected,
    OrderTypeRejected,
    RejectReason,
    UnknownOrder,
)
from .venue.events import CancelReject, ExecType, ExecutionReport, OrdStatus  # noqa: E402
from .venue.exchange import BookView, DayEnd, Exchange, ExpiredOrder, OrderResult  # noqa: E402
from .venue.risk import Funds  # noqa: E402
from .venue.members import Member, Regime  # noqa: E402
from .venue.sessions import SessionError, SessionSchedule, SessionState  # noqa: E402

__all__ += [
    "BookView",
    "CancelReject",
    "DayEnd",
    "Exchange",
    "ExecType",
    "ExecutionReport",
    "ExpiredOrder",
    "FixingConfig",
    "Funds",
    "Member",
    "NotOrderOwner",
    "OrdStatus",
    "OrderRejected",
    "OrderTypeRejected",
    "OrderResult",
    "Regime",
    "RejectReason",
    "SessionError",
    "SessionSchedule",
    "SessionStat",
    "SessionState",
    "UnknownOrder",
]
