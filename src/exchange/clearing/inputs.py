"""Reading trade records for clearing: numpy, Arrow, pandas or a stream of them, in chunks.

:func:`read_chunks` turns any accepted input into :class:`Chunk` objects of at most
:data:`CHUNK` rows each: flat int64 columns, dates as int64 days, assets as ``CODES.asset``
codes, the settlement method per row. Accepted inputs:

* a numpy structured array of ``TRADE_RECORD_DTYPE`` (or any dtype with the needed fields);
* a pyarrow Table or RecordBatch, e.g. ``Exchange.trades_table()`` or ``trades.parquet`` read
  back with ``pyarrow.parquet.read_table``: names as string or dictionary columns;
* a pandas DataFrame, e.g. ``Exchange.trades_frame()`` (categoricals or strings);
* a ``pyarrow.parquet.ParquetFile`` (read batch by batch), or any iterable of the above
  (streamed: only one chunk is in memory at a time).

The settlement method comes from a ``settlement`` field or column if there is one (NET/GROSS
names or 0/1), else from the instrument's method in the registry. Numpy records hold codes of
this process's registry; Arrow and pandas must hold names (codes there are refused: they mean
nothing outside the process that made them). Each chunk is checked (:func:`validate`) before it
is used; errors are :class:`TradeValidationError` naming the field, the value, the trade_id and
the row. O(rows) time; memory O(CHUNK).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from exchange.codes import CODES
from exchange.records import GROSS, NET

__all__ = ["CHUNK", "NAT_DAY", "Chunk", "TradeValidationError", "read_chunks", "validate"]

#: Rows per chunk: large enough that numpy's per-call cost vanishes, small enough to stay in cache.
CHUNK = 1 << 15
#: A missing date (NaT) as int64 days.
NAT_DAY = np.iinfo(np.int64).min

INT_FIELDS = ("trade_id", "buyer", "seller", "qty", "base_amount", "quote_amount",
              "far_quote_amount", "fee_buyer", "fee_seller")
DATE_FIELDS = ("trade_date", "settle_date", "far_settle_date")
ASSET_FIELDS = ("base_asset", "quote_asset")
REQUIRED = INT_FIELDS + DATE_FIELDS + ASSET_FIELDS
NON_NEGATIVE = ("base_amount", "quote_amount", "far_quote_amount", "fee_buyer", "fee_seller")
# Gross totals of one input must stay below this, so that no sum of them can leave int64.
_TOTAL_LIMIT = float(2**62)


class TradeValidationError(ValueError):
    """Trade records that cannot be netted; the message names the field, value and trade_id."""


@dataclass
class Chunk:
    """Up to CHUNK trades as flat columns; ``start`` is the row of the first in the input."""

    start: int
    ints: dict[str, np.ndarray]  # INT_FIELDS as int64
    trade_day: np.ndarray  # int64 days
    settle_day: np.ndarray
    far_day: np.ndarray  # NAT_DAY where there is no far leg
    base: np.ndarray  # CODES.asset codes (intp)
    quote: np.ndarray
    settlement: np.ndarray  # int8, NET or GROSS

    def __len__(self) -> int:
        return len(self.settle_day)


def read_chunks(trades: Any) -> Iterator[Chunk]:
    """The chunks of ``trades`` (see the module docstring), not yet validated."""
    start = 0
    for chunk in _chunks(trades):
        chunk.start = start
        start += len(chunk)
        yield chunk


def _chunks(trades: Any) -> Iterator[Chunk]:
    if isinstance(trades, np.ndarray):
        yield from _numpy_chunks(trades)
    elif isinstance(trades, (pa.Table, pa.RecordBatch)):
        table = pa.Table.from_batches([trades]) if isinstance(trades, pa.RecordBatch) else trades
        _require(table.column_names, "columns")
        for batch in table.to_batches(max_chunksize=CHUNK):
            yield _arrow_chunk(batch)
    elif _is_dataframe(trades):
        for s in range(0, max(len(trades), 1), CHUNK):
            yield from _chunks(pa.Table.from_pandas(trades.iloc[s:s + CHUNK], preserve_index=False))
    elif type(trades).__name__ == "ParquetFile" and hasattr(trades, "iter_batches"):
        yield from _chunks(iter(trades.iter_batches(batch_size=CHUNK)))
    elif isinstance(trades, Iterable) and not isinstance(trades, (str, bytes, dict)):
        for part in trades:
            yield from _chunks(part)
    else:
        raise TradeValidationError(
            "trades: expected trade records (numpy TRADE_RECORD_DTYPE array, pyarrow Table or "
            f"RecordBatch, pandas DataFrame, ParquetFile or an iterable of them), got {type(trades).__name__}")


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "iloc")


def _require(names: Iterable[str], what: str) -> None:
    names = set(names)
    missing = [f for f in REQUIRED if f not in names]
    if "settlement" not in names and "instrument" not in names:
        missing.append("settlement (or instrument)")
    if missing:
        raise TradeValidationError(f"trades: missing {what} {missing}")


# --------------------------------------------------------------------------- numpy


def _numpy_chunks(trades: np.ndarray) -> Iterator[Chunk]:
    if trades.dtype.names is None:
        raise TradeValidationError(f"trades: expected a structured array of TRADE_RECORD_DTYPE, got dtype {trades.dtype}")
    _require(trades.dtype.names, "fields")
    for field in trades.dtype.names:
        _check_kind(field, trades.dtype[field])
    trades = trades.ravel()
    for s in range(0, len(trades), CHUNK):
        part = trades[s:s + CHUNK]
        ints = {f: part[f].astype(np.int64) for f in INT_FIELDS}
        if "settlement" in trades.dtype.names:
            settlement = part["settlement"].astype(np.int8)
        else:
            settlement = _checked(CODES.settlement_of, part["instrument"])
        base, quote = part["base_asset"].astype(np.intp), part["quote_asset"].astype(np.intp)
        _checked(CODES.asset.check, base, "base_asset")
        _checked(CODES.asset.check, quote, "quote_asset")
        far = _days(part["far_settle_date"])
        if "far_base_amount" in trades.dtype.names:
            _check_far_base(part["far_base_amount"].astype(np.int64), ints, far, s)
        yield Chunk(s, ints, _days(part["trade_date"]), _days(part["settle_date"]), far, base, quote, settlement)


def _checked(function, *args) -> Any:
    """``function(*args)``, its ValueError raised as a TradeValidationError."""
    try:
        return function(*args)
    except ValueError as exc:
        raise TradeValidationError(str(exc)) from None


def _check_kind(field: str, dtype: np.dtype) -> None:
    if field in INT_FIELDS + ("settlement", "far_base_amount") and dtype.kind not in "iu":
        raise TradeValidationError(f"{field}: expected an integer dtype, got {dtype}")
    if field in DATE_FIELDS and dtype.kind != "M":
        raise TradeValidationError(f"{field}: expected datetime64[D], got {dtype}")
    if field in ASSET_FIELDS + ("instrument",) and dtype.kind not in "iu":
        raise TradeValidationError(f"{field}: expected integer codes (exchange.codes.CODES), got {dtype}")


def _days(values: np.ndarray) -> np.ndarray:
    """datetime64 of any unit -> int64 days (NaT becomes NAT_DAY)."""
    if values.dtype != np.dtype("M8[D]"):
        nat = np.isnat(values)
        values = values.astype("M8[D]")
        values[nat] = np.datetime64("NaT")
    return values.view(np.int64).copy()


def _check_far_base(far_base: np.ndarray, ints: dict[str, np.ndarray], far: np.ndarray, start: int) -> None:
    """A far leg returns the base amount of the near leg; records that say otherwise are refused
    (netting them by the rule would silently change them)."""
    expected = np.where(far != NAT_DAY, ints["base_amount"], 0)
    bad = far_base != expected
    if bad.any():
        i = int(np.argmax(bad))
        raise TradeValidationError(
            f"far_base_amount: {int(far_base[i])} is not the base amount returned on the far leg "
            f"({int(expected[i])}) (trade_id {int(ints['trade_id'][i])}, row {start + i})")


# --------------------------------------------------------------------------- Arrow


def _arrow_chunk(batch: pa.RecordBatch) -> Chunk:
    names = batch.schema.names
    ints = {f: _arrow_ints(batch.column(names.index(f)), f) for f in INT_FIELDS}
    days = {f: _arrow_days(batch.column(names.index(f)), f) for f in DATE_FIELDS}
    base, quote = (_arrow_codes(batch.column(names.index(f)), f) for f in ASSET_FIELDS)
    if "settlement" in names:
        column = batch.column(names.index("settlement"))
        if pa.types.is_integer(column.type):
            settlement = _arrow_ints(column, "settlement").astype(np.int8)
        else:
            settlement = _checked(CODES.settlement.codes_of, column, "settlement")
    else:
        instruments = _checked(CODES.instrument.codes_of, batch.column(names.index("instrument")), "instrument")
        settlement = _checked(CODES.settlement_of, instruments)
    if "far_base_amount" in names:
        _check_far_base(_arrow_ints(batch.column(names.index("far_base_amount")), "far_base_amount"), ints,
                        days["far_settle_date"], 0)
    return Chunk(0, ints, days["trade_date"], days["settle_date"], days["far_settle_date"], base, quote, settlement)


def _arrow_ints(column: pa.Array, field: str) -> np.ndarray:
    if not pa.types.is_integer(column.type):
        raise TradeValidationError(f"{field}: expected an integer column, got {column.type}")
    if column.null_count:
        raise TradeValidationError(f"{field}: {column.null_count} null values")
    return column.to_numpy().astype(np.int64, copy=False)


def _arrow_days(column: pa.Array, field: str) -> np.ndarray:
    if pa.types.is_null(column.type) and field == "far_settle_date":  # no far leg anywhere
        return np.full(len(column), NAT_DAY, np.int64)
    if not (pa.types.is_date(column.type) or pa.types.is_timestamp(column.type)):
        raise TradeValidationError(f"{field}: expected a date column, got {column.type}")
    if field != "far_settle_date" and column.null_count:
        raise TradeValidationError(f"{field}: {column.null_count} null values")
    values = column.to_numpy(zero_copy_only=False)
    return _days(np.asarray(values, dtype=values.dtype if values.dtype.kind == "M" else "M8[D]"))


def _arrow_codes(column: pa.Array, field: str) -> np.ndarray:
    if pa.types.is_integer(column.type):
        raise TradeValidationError(f"{field}: expected names (string or dictionary column), got integer "
                                   "codes, which mean nothing outside the process that made them")
    return _checked(CODES.asset.codes_of, column, field).astype(np.intp)


# --------------------------------------------------------------------------- validation


def _reject(chunk: Chunk, mask: np.ndarray, field: str, what: str, values: Any) -> None:
    """Raise naming the first row where ``mask`` holds; ``values`` gives the offending value."""
    if mask.any():
        i = int(np.argmax(mask))
        value = values(i) if callable(values) else values[i]
        if isinstance(value, np.generic):
            value = value.item()
        raise TradeValidationError(
            f"{field}: {value!r} {what} (trade_id {int(chunk.ints['trade_id'][i])}, row {chunk.start + i}; "
            f"{int(mask.sum())} rows of this chunk affected)")


def validate(chunk: Chunk, members: np.ndarray | None, known_assets: np.ndarray | None, totals: dict[str, float]) -> None:
    """Raise TradeValidationError on the first inconsistency of ``chunk``. ``members``: the
    allowed member ids (None: any non-negative id); ``known_assets``: a bool per asset code
    (None: any); ``totals``: running float sums of the amounts (overflow guard). O(rows)."""
    ints = chunk.ints
    _reject(chunk, ints["qty"] <= 0, "qty", "must be positive", ints["qty"])
    for field in NON_NEGATIVE:
        _reject(chunk, ints[field] < 0, field, "must not be negative", ints[field])
    for field in ("buyer", "seller"):
        _reject(chunk, ints[field] < 0, field, "is not a member id (negative ids are reserved)", ints[field])
    s = chunk.settlement
    _reject(chunk, (s != NET) & (s != GROSS), "settlement", "is neither NET (0) nor GROSS (1)", s)
    for field, days in (("trade_date", chunk.trade_day), ("settle_date", chunk.settle_day)):
        _reject(chunk, days == NAT_DAY, field, "is missing (NaT)", days.view("M8[D]"))
    no_far = chunk.far_day == NAT_DAY
    _reject(chunk, no_far & (ints["far_quote_amount"] != 0), "far_settle_date",
            "is NaT but far_quote_amount is not 0", chunk.far_day.view("M8[D]"))
    _reject(chunk, ~no_far & (chunk.far_day < chunk.settle_day), "far_settle_date", "is before settle_date",
            chunk.far_day.view("M8[D]"))
    name = CODES.asset.name
    _reject(chunk, chunk.base == chunk.quote, "quote_asset", "equals base_asset", lambda i: name(chunk.quote[i]))
    if known_assets is not None:
        for field, codes in (("base_asset", chunk.base), ("quote_asset", chunk.quote)):
            unknown = ~np.append(known_assets, False)[np.minimum(codes, len(known_assets))]
            _reject(chunk, unknown, field, "is not a known asset", lambda i, c=codes: name(c[i]))
    if members is not None:
        for field in ("buyer", "seller"):
            _reject(chunk, ~np.isin(ints[field], members), field, "is not a known member", ints[field])
    for field in NON_NEGATIVE:
        totals[field] = totals.get(field, 0.0) + float(ints[field].sum(dtype=np.float64))
        if totals[field] >= _TOTAL_LIMIT:
            raise TradeValidationError(f"{field}: total {totals[field]:.3e} could overflow int64 sums; "
                                       "net in smaller batches")
