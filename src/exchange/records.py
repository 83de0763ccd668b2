"""Trade records: the one data format the exchange layer hands to clearing.

A trade record says everything clearing needs without knowing instruments or books: who bought
and sold, which assets move, how much of each (integer minor units: tiyn, cents, kopecks, or
pieces of a security), on which date, and the fees. Clearing reads only these fields.

Amounts are integers so that netting and settlement conserve every asset exactly:
``base_amount`` is what the buyer receives and the seller delivers on ``settle_date``;
``quote_amount`` is what the buyer pays and the seller receives. A swap has a second, far leg in
the opposite direction (the buyer delivers ``far_base_amount`` and receives
``far_quote_amount`` on ``far_settle_date``); for other trades ``far_settle_date`` is NaT and the
far amounts are 0. Fees are in the quote asset's minor units, paid by each side to the exchange.
"""
from __future__ import annotations

import numpy as np

#: Sessions of the trading day, as stored in ``TRADE_RECORD_DTYPE['session']``.
SESSION_NAMES = ("morning", "day", "evening")

#: Settlement method, as stored in ``TRADE_RECORD_DTYPE['settlement']``.
NET = 0  #: multilateral netting at the end of the day (currency market)
GROSS = 1  #: deal by deal, delivery versus payment (securities)

TRADE_RECORD_DTYPE = np.dtype(
    [
        ("trade_id", "i8"),
        ("trade_date", "M8[D]"),
        ("session", "i1"),
        ("instrument", "U16"),
        ("buyer", "i8"),
        ("seller", "i8"),
        ("aggressor", "i1"),  # Side of the taker: 0 buy, 1 sell
        ("buy_order_id", "i8"),
        ("sell_order_id", "i8"),
        ("price_ticks", "i8"),
        ("price", "f8"),  # for display and charts only; price_ticks is the exact price
        ("qty", "i8"),  # lots
        ("time", "f8"),  # simulated clock, seconds since midnight of trade_date
        ("base_asset", "U12"),
        ("quote_asset", "U12"),
        ("settle_date", "M8[D]"),
        ("base_amount", "i8"),
        ("quote_amount", "i8"),
        ("far_settle_date", "M8[D]"),
        ("far_base_amount", "i8"),
        ("far_quote_amount", "i8"),
        ("fee_buyer", "i8"),
        ("fee_seller", "i8"),
        ("settlement", "i1"),  # NET or GROSS
    ]
)


def empty_trades(n: int = 0) -> np.ndarray:
    """An array of ``n`` zeroed trade records with ``far_settle_date`` set to NaT."""
    records = np.zeros(n, dtype=TRADE_RECORD_DTYPE)
    records["far_settle_date"] = np.datetime64("NaT")
    return records
