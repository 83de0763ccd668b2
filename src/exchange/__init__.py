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
