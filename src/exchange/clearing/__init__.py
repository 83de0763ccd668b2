"""Clearing: netting, DVP settlement and a durable SQLite ledger (the post-trade half).

Clearing reads trade records (numpy ``exchange.records.TRADE_RECORD_DTYPE`` arrays, pyarrow
Tables, pandas DataFrames, or streams of them) and nothing of the order book.

* :func:`net` -> :class:`Obligations` (NET per member/asset/date against the CCP, GROSS deals,
  the keys of the trades they come from)
* :class:`Ledger`: balances in SQLite (one writer at a time), reservations/commitments in
  memory, listeners told of every settlement run (:class:`SettlementNotice`)
* :func:`settle`: one date, one transaction, DVP, roll or cancel failures, each trade once
* :mod:`exchange.clearing.reports`: statements, per-asset totals, a text summary

Assets, statuses and kinds are small integer codes named by ``exchange.codes.CODES``.
"""
from exchange.records import to_table as trades_to_arrow

from .inputs import TradeValidationError
from .keys import TradeKeys
from .ledger import (
    DEFAULT_SETTLEMENT_BANKS,
    SECURITIES_DEPOSITORY,
    ConservationError,
    InsufficientFunds,
    Ledger,
    LedgerCorrupt,
    LedgerError,
    LedgerLocked,
    SettlementNotice,
)
from .netting import (
    CLEARING_HOUSE,
    EXCHANGE_FEES,
    GROSS_DTYPE,
    OBLIGATION_DTYPE,
    Obligations,
    net,
)
from .results import SettlementResult
from .settlement import RunConflict, settle

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
    "LedgerLocked",
    "Obligations",
    "RunConflict",
    "SettlementNotice",
    "SettlementResult",
    "TradeKeys",
    "TradeValidationError",
    "net",
    "settle",
    "trades_to_arrow",
]
