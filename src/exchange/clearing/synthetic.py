"""Random but realistic trade records for benchmarks, demos and tests (vectorised, seeded).

Instruments: FX on the currency market (NET: TOD, TOM and a 1-day swap) and shares on the
securities market (GROSS, T+0). Amounts are integer minor units: one USD lot is 1,000 USD
(100,000 cents) at about 470 KZT, one RUB lot 100,000 RUB at about 5.2 KZT, one share about
250-1,500 KZT; fees are 1 basis point of the quote amount from each side. Gross totals stay
far below int64 limits for tens of millions of trades.

``random_trades`` returns a numpy array of ``TRADE_RECORD_DTYPE`` (~300 bytes a record);
``random_trades_arrow`` the same columns as a pyarrow Table with dictionary-encoded strings
(~130 bytes a record), which is what a 10M-trade run should use to keep memory in check.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from exchange.records import GROSS, NET, TRADE_RECORD_DTYPE

__all__ = ["INSTRUMENTS", "random_trades", "random_trades_arrow"]

# name, base, quote, settlement, base minor units per lot, quote minor units per lot (mid),
# near-leg offset in days, far-leg offset in days (-1: no far leg)
INSTRUMENTS: tuple[tuple[str, str, str, int, int, int, int, int], ...] = (
    ("USDKZT_TOD", "USD", "KZT", NET, 100_000, 47_000_000, 0, -1),
    ("USDKZT_TOM", "USD", "KZT", NET, 100_000, 47_050_000, 1, -1),
    ("EURKZT_TOD", "EUR", "KZT", NET, 100_000, 51_000_000, 0, -1),
    ("RUBKZT_TOD", "RUB", "KZT", NET, 10_000_000, 52_000_000, 0, -1),
    ("USDKZT_SWAP", "USD", "KZT", NET, 100_000, 47_000_000, 0, 1),
    ("HSBK", "HSBK", "KZT", GROSS, 1, 25_000, 0, -1),
    ("KCEL", "KCEL", "KZT", GROSS, 1, 150_000, 0, -1),
    ("KZTO", "KZTO", "KZT", GROSS, 1, 110_000, 0, -1),
    ("KEGC", "KEGC", "KZT", GROSS, 1, 140_000, 0, -1),
)
_FIELDS = [name for name in TRADE_RECORD_DTYPE.names]


def _columns(n: int, members: int, days: int, gross_share: float, seed: int, start: str) -> dict[str, Any]:
    """All columns as flat numpy arrays, strings as codes into the INSTRUMENTS table."""
    rng = np.random.default_rng(seed)
    net_idx = np.flatnonzero([i[3] == NET for i in INSTRUMENTS])
    gross_idx = np.flatnonzero([i[3] == GROSS for i in INSTRUMENTS])
    is_gross = rng.random(n) < gross_share
    inst = np.where(is_gross, rng.choice(gross_idx, n), rng.choice(net_idx, n)).astype(np.int32)
    table = np.array([i[3:] for i in INSTRUMENTS], np.int64)  # settlement, lot, price, near, far
    buyer = rng.integers(1, members + 1, n)
    seller = (buyer - 1 + rng.integers(1, members, n)) % members + 1  # never the buyer
    qty = rng.integers(1, 100, n)
    price = table[inst, 2] + rng.integers(-200, 201, n) * (table[inst, 2] // 10_000)
    trade_day = np.datetime64(start, "D") + np.sort(rng.integers(0, days, n))
    quote = qty * price
    far = table[inst, 4]
    has_far = far >= 0
    cols: dict[str, Any] = {
        "trade_id": np.arange(1, n + 1, dtype=np.int64),
        "trade_date": trade_day,
        "session": rng.integers(0, 3, n).astype(np.int8),
        "instrument": inst,
        "buyer": buyer,
        "seller": seller,
        "aggressor": rng.integers(0, 2, n).astype(np.int8),
        "buy_order_id": rng.integers(1, 2**40, n),
        "sell_order_id": rng.integers(1, 2**40, n),
        "price_ticks": price,
        "price": price / 100.0,
        "qty": qty,
        "time": np.sort(rng.random(n)) * 8 * 3600 + 11 * 3600,
        "base_asset": inst,
        "quote_asset": inst,
        "settle_date": trade_day + table[inst, 3],
        "base_amount": qty * table[inst, 1],
        "quote_amount": quote,
        "far_settle_date": np.where(has_far, trade_day + np.maximum(far, 0), np.datetime64("NaT", "D")),
        "far_base_amount": np.where(has_far, qty * table[inst, 1], 0),
        "far_quote_amount": np.where(has_far, quote + quote // 20_000, 0),
        "fee_buyer": quote // 10_000,
        "fee_seller": quote // 10_000,
        "settlement": table[inst, 0].astype(np.int8),
    }
    return cols


def _names(field: str) -> list[str]:
    position = {"instrument": 0, "base_asset": 1, "quote_asset": 2}[field]
    return [i[position] for i in INSTRUMENTS]


def random_trades(
    n: int, members: int = 50, days: int = 1, gross_share: float = 0.2, seed: int = 0, start: str = "2024-01-02"
) -> np.ndarray:
    """``n`` random trade records (TRADE_RECORD_DTYPE) among members ``1..members`` over
    ``days`` trading days from ``start``; ``gross_share`` of them on the securities market."""
    if members < 2:
        raise ValueError(f"members: {members} must be at least 2")
    cols = _columns(n, members, days, gross_share, seed, start)
    out = np.empty(n, TRADE_RECORD_DTYPE)
    for name in _FIELDS:
        if name in ("instrument", "base_asset", "quote_asset"):
            out[name] = np.asarray(_names(name), dtype=TRADE_RECORD_DTYPE[name])[cols[name]]
        else:
            out[name] = cols[name]
    return out


def random_trades_arrow(
    n: int, members: int = 50, days: int = 1, gross_share: float = 0.2, seed: int = 0, start: str = "2024-01-02"
) -> pa.Table:
    """The same trades as :func:`random_trades` (same seed, same values) as a pyarrow Table
    whose string columns are dictionary-encoded: no per-record strings are ever built."""
    if members < 2:
        raise ValueError(f"members: {members} must be at least 2")
    cols = _columns(n, members, days, gross_share, seed, start)
    arrays = {}
    for name in _FIELDS:
        if name in ("instrument", "base_asset", "quote_asset"):
            arrays[name] = pa.DictionaryArray.from_arrays(pa.array(cols[name]), pa.array(_names(name)))
        elif name == "far_settle_date":
            arrays[name] = pa.array(cols[name], mask=np.isnat(cols[name]))
        else:
            arrays[name] = pa.array(cols[name])
    return pa.table(arrays)
