"""Random but realistic trade records for benchmarks, demos and tests (vectorised, seeded).

Instruments: FX on the currency market (NET: TOD, TOM and a 1-day swap) and shares on the
securities market (GROSS, T+0). Amounts are integer minor units: one USD lot is 1,000 USD
(100,000 cents) at about 470 KZT, one RUB lot 100,000 RUB at about 5.2 KZT, one share about
250-1,500 KZT; fees are 1 basis point of the quote amount from each side. Gross totals stay
far below int64 limits for tens of millions of trades.

Records are drawn in blocks of :data:`BLOCK` trades, each from its own seeded generator, so
:func:`random_trade_chunks` (one block at a time: bounded memory) yields exactly the records of
:func:`random_trades` (all at once). Trade dates rise with the trade id over ``days`` days, as
an exchange's records do. :func:`random_trades_arrow` gives the same trades as a pyarrow Table
with names (the form of ``trades.parquet``).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from exchange.codes import CODES
from exchange.records import GROSS, NET, empty_trades, to_table

__all__ = ["BLOCK", "INSTRUMENTS", "random_trade_chunks", "random_trades", "random_trades_arrow"]

#: Trades drawn from one generator.
BLOCK = 1 << 20

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


def _codes() -> np.ndarray:
    """(instrument, base, quote) registry codes per row of INSTRUMENTS."""
    return np.array([(CODES.register_instrument(name, method), CODES.asset.code(base), CODES.asset.code(quote))
                     for name, base, quote, method, *_ in INSTRUMENTS], np.int16)


def _block(first: int, size: int, n: int, members: int, days: int, gross_share: float, seed: int,
           start: str) -> np.ndarray:
    """Records ``first .. first + size - 1`` (0-based) of an ``n``-trade set."""
    rng = np.random.default_rng([seed, first // BLOCK])
    net_idx = np.flatnonzero([i[3] == NET for i in INSTRUMENTS])
    gross_idx = np.flatnonzero([i[3] == GROSS for i in INSTRUMENTS])
    inst = np.where(rng.random(size) < gross_share, rng.choice(gross_idx, size), rng.choice(net_idx, size))
    table = np.array([i[3:] for i in INSTRUMENTS], np.int64)  # settlement, lot, price, near, far
    codes = _codes()
    position = np.arange(first, first + size, dtype=np.int64)
    trade_day = np.datetime64(start, "D") + position * days // max(n, 1)
    buyer = rng.integers(1, members + 1, size)
    qty = rng.integers(1, 100, size)
    price = table[inst, 2] + rng.integers(-200, 201, size) * (table[inst, 2] // 10_000)
    quote = qty * price
    far = table[inst, 4]
    out = empty_trades(size)
    out["trade_id"] = position + 1
    out["trade_date"] = trade_day
    out["session"] = rng.integers(0, 3, size)
    out["instrument"], out["base_asset"], out["quote_asset"] = codes[inst].T
    out["buyer"] = buyer
    out["seller"] = (buyer - 1 + rng.integers(1, members, size)) % members + 1  # never the buyer
    out["aggressor"] = rng.integers(0, 2, size)
    out["buy_order_id"] = rng.integers(1, 2**40, size)
    out["sell_order_id"] = rng.integers(1, 2**40, size)
    out["price_ticks"], out["qty"] = price, qty
    out["time"] = 11 * 3600 + 8 * 3600 * ((position * days) % max(n, 1)) / max(n, 1)
    out["settle_date"] = trade_day + table[inst, 3]
    out["base_amount"], out["quote_amount"] = qty * table[inst, 1], quote
    out["far_settle_date"] = np.where(far >= 0, trade_day + np.maximum(far, 0), np.datetime64("NaT", "D"))
    out["far_quote_amount"] = np.where(far >= 0, quote + quote // 20_000, 0)
    out["fee_buyer"] = out["fee_seller"] = quote // 10_000
    return out


def random_trade_chunks(n: int, members: int = 50, days: int = 1, gross_share: float = 0.2, seed: int = 0,
                        start: str = "2024-01-02") -> Iterator[np.ndarray]:
    """The records of :func:`random_trades`, one block of at most BLOCK at a time."""
    if members < 2:
        raise ValueError(f"members: {members} must be at least 2")
    for first in range(0, n, BLOCK):
        yield _block(first, min(BLOCK, n - first), n, members, days, gross_share, seed, start)


def random_trades(n: int, members: int = 50, days: int = 1, gross_share: float = 0.2, seed: int = 0,
                  start: str = "2024-01-02") -> np.ndarray:
    """``n`` random trade records (TRADE_RECORD_DTYPE) among members ``1..members`` over
    ``days`` trading days from ``start``; ``gross_share`` of them on the securities market."""
    out = empty_trades(n)  # filled block by block: no second copy of all the records
    first = 0
    for block in random_trade_chunks(n, members, days, gross_share, seed, start):
        out[first:first + len(block)] = block
        first += len(block)
    return out


def random_trades_arrow(n: int, members: int = 50, days: int = 1, gross_share: float = 0.2, seed: int = 0,
                        start: str = "2024-01-02") -> Any:
    """The same trades as :func:`random_trades` as a pyarrow Table with names (dictionary
    columns), as ``Exchange.trades_table()`` and ``trades.parquet`` have them."""
    import pyarrow as pa

    batches = [to_table(part).to_batches() for part in random_trade_chunks(n, members, days, gross_share, seed, start)]
    batches = [b for part in batches for b in part]
    return pa.Table.from_batches(batches) if batches else to_table(empty_trades(0))
