"""exchange: a KASE-style exchange library with a compiled price-time order book at its core.

Layers, bottom up: the book core (``OrderBook``), instruments and calendars, sessions and the
exchange facade (``Exchange``), clearing (netting, settlement, ledger) and simulation.
"""
from ._book import (
    MESSAGE_DTYPE,
    STP,
    STP_CANCEL_DTYPE,
    TIF,
    TRADE_DTYPE,
    Action,
    OrderBook,
    Reject,
    Side,
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
from .clearing.ledger import Ledger as _Ledger
from .clearing.settlement import settle as _settle

# The composition root: an Exchange made without a ledger gets clearing's in-memory one, and
# Exchange.settle runs clearing's settle (the venue itself never imports clearing).
from .venue import exchange as _venue_exchange
from .venue import money as _venue_money
from .venue._engine import ORDER_DTYPE, RESULT_DTYPE
from .venue.capture import FixingConfig, SessionStat
from .venue.codes import (
    NotOrderOwner,
    OrderRejected,
    OrderTypeRejected,
    RejectReason,
    UnknownOrder,
)
from .venue.events import CancelReject, ExecType, ExecutionReport, OrdStatus
from .venue.exchange import BookView, DayEnd, Exchange, ExpiredOrder, OrderResult
from .venue.members import Member, Regime
from .venue.risk import Funds
from .venue.sessions import SessionError, SessionSchedule, SessionState

_venue_exchange.default_ledger = _Ledger
_venue_money.default_settle = _settle

__all__ += [
    "ORDER_DTYPE",
    "RESULT_DTYPE",
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
