"""Clearing: netting, DVP settlement and a durable SQLite ledger (the post-trade half).

Clearing reads trade records (``exchange.records.TRADE_RECORD_DTYPE`` arrays or pyarrow Tables)
and nothing of the order book.

* :func:`net` -> :class:`Obligations` (NET per member/asset/date against the CCP, GROSS deals)
* :class:`Ledger`: balances in SQLite, reservations/commitments in memory
* :func:`settle`: one date, one transaction, DVP, roll or cancel failures
* :mod:`exchange.clearing.reports`: statements, per-asset totals, a text summary
"""
from .ledger import (
    DEFAULT_SETTLEMENT_BANKS,
    SECURITIES_DEPOSITORY,
    ConservationError,
    InsufficientFunds,
    Ledger,
    LedgerCorrupt,
    LedgerError,
)
from .netting import (
    CLEARING_HOUSE,
    EXCHANGE_FEES,
    GROSS_DTYPE,
    OBLIGATION_DTYPE,
    Obligations,
    TradeValidationError,
    net,
    trades_to_arrow,
)
from .settlement import RunConflict, SettlementResult, settle

__all__ = [
    "CLEARING_HOUSE",
    "DEFAULT_SETTLEMENT_BANKS",
    "EXCHANGE_FEES",
    "GROSS_DTYPE",
    "OBLIGATION_DTYPE",
    "SECURITIES_DEPOSITORY",
    "ConservationError",
    "InsufficientFunds",
    "Ledger",
    "LedgerCorrupt",
    "LedgerError",
    "Obligations",
    "RunConflict",
    "SettlementResult",
    "TradeValidationError",
    "net",
    "settle",
    "trades_to_arrow",
]
