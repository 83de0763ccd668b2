"""Trade records: the one data format the exchange layer hands to clearing.

A trade record says everything clearing needs without knowing instruments or books: who bought
and sold, which assets move, how much of each (integer minor units: tiyn, cents, kopecks, or
pieces of a security), on which date, and the fees. Clearing reads only these fields.

Amounts are integers so that netting and settlement conserve every asset exactly:
``base_amount`` is what the buyer receives and the seller delivers on ``settle_date``;
``quote_amount`` is what the buyer pays and the seller receives. A swap (or repo) has a second,
far leg in the opposite direction on ``far_settle_date``: the buyer delivers the same
``base_amount`` back and receives ``far_quote_amount``; for other trades ``far_settle_date`` is
NaT and ``far_quote_amount`` 0. Fees are in the quote asset's minor units, paid by each side to
the exchange.

Layout (:data:`TRADE_RECORD_DTYPE`, 128 bytes, every field aligned): the 8-byte fields first,
then member ids as int32 (:data:`MEMBER_ID_MAX`), then the codes: ``instrument``, ``base_asset``
and ``quote_asset`` (int16) and ``session`` and ``aggressor`` (int8). Codes are named by
:data:`exchange.codes.CODES`; the settlement method (NET or GROSS) is the instrument's, from the
same registry. Two values of the former 307-byte layout are derived instead of stored: the
display ``price`` (``price_ticks`` times the instrument's tick size) and ``far_base_amount``
(equal to ``base_amount`` for every swap, see ``Instrument.swap_legs``). :func:`to_table` adds
them back, with the names, for Arrow, Parquet and pandas (:data:`TABLE_COLUMNS`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from exchange.codes import CODES, to_arrow

__all__ = [
    "GROSS", "MEMBER_ID_MAX", "NET", "SESSION_NAMES", "TABLE_COLUMNS", "TRADE_RECORD_DTYPE",
    "empty_trades", "to_table",
]

#: Sessions of the trading day, as coded in ``TRADE_RECORD_DTYPE['session']``.
SESSION_NAMES = CODES.session.names

#: Settlement method of an instrument (``CODES.register_instrument``).
NET = 0  #: multilateral netting at the end of the day (currency market)
GROSS = 1  #: deal by deal, delivery versus payment (securities)

#: Member ids are int32 in the records: 0..MEMBER_ID_MAX (negative ids are the clearing
#: house's and the fee account's).
MEMBER_ID_MAX = 2**31 - 1

TRADE_RECORD_DTYPE = np.dtype(
    [
        ("trade_id", "i8"),  # 1, 2, 3, ... in execution order; unique within a trade date
        ("trade_date", "M8[D]"),
        ("time", "f8"),  # simulated clock, seconds since midnight of trade_date
        ("buy_order_id", "i8"),
        ("sell_order_id", "i8"),
        ("price_ticks", "i8"),  # the exact price, in ticks of the instrument
        ("qty", "i8"),  # lots
        ("settle_date", "M8[D]"),
        ("base_amount", "i8"),
        ("quote_amount", "i8"),
        ("far_settle_date", "M8[D]"),  # NaT unless a swap
        ("far_quote_amount", "i8"),
        ("fee_buyer", "i8"),
        ("fee_seller", "i8"),
        ("buyer", "i4"),
        ("seller", "i4"),
        ("instrument", "i2"),  # CODES.instrument
        ("base_asset", "i2"),  # CODES.asset
        ("quote_asset", "i2"),  # CODES.asset
        ("session", "i1"),  # CODES.session: 0 morning, 1 day, 2 evening
        ("aggressor", "i1"),  # Side of the taker: 0 buy, 1 sell
    ]
)

#: Columns of the trade table (Arrow, Parquet, pandas), in order, with the derived ones.
TABLE_COLUMNS = (
    "trade_id", "trade_date", "session", "instrument", "buyer", "seller", "aggressor",
    "buy_order_id", "sell_order_id", "price_ticks", "price", "qty", "time", "base_asset",
    "quote_asset", "settle_date", "base_amount", "quote_amount", "far_settle_date",
    "far_base_amount", "far_quote_amount", "fee_buyer", "fee_seller", "settlement",
)


def empty_trades(n: int = 0) -> np.ndarray:
    """An array of ``n`` zeroed trade records with ``far_settle_date`` set to NaT."""
    records = np.zeros(n, dtype=TRADE_RECORD_DTYPE)
    records["far_settle_date"] = np.datetime64("NaT")
    return records


def to_table(records: np.ndarray, price: np.ndarray | None = None) -> Any:
    """Trade records as a pyarrow Table with :data:`TABLE_COLUMNS`: names as dictionary
    columns, dates as date32 (NaT as null), ``far_base_amount`` and ``settlement`` (from the
    instrument) derived. ``price`` (float, display only) is the caller's, who knows the tick
    sizes; without it the column is left out. O(n)."""
    import pyarrow as pa

    records = np.asarray(records)
    swap = ~np.isnat(records["far_settle_date"])
    extra = {
        "far_base_amount": pa.array(np.where(swap, records["base_amount"], 0)),
        "settlement": CODES.settlement.dictionary(CODES.settlement_of(records["instrument"])),
    }
    columns = [c for c in TABLE_COLUMNS if c != "price" or price is not None]
    if price is not None:
        extra["price"] = pa.array(np.asarray(price, np.float64))
    return to_arrow(records, columns=columns, extra=extra)
