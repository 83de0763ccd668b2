"""Trade capture: every fill becomes a trade record; market statistics and the official rate.

Pipeline position: after the book. The venue's engine copies each order's fills (the book's
trade rows) into the capture's staging, with the terms row of the instrument's session that day
and the time (:meth:`TradeCapture.add` does the same for a ``drain_trades()`` array). Nothing
else runs per fill then: the staged fills become ``records.TRADE_RECORD_DTYPE`` rows in one
compiled pass (:meth:`TradeCapture.flush`, about 20 ns a record) when records are read, or
every ``flush_every`` fills. The records live in one numpy buffer that grows by doubling
(amortised O(1) per trade, no Python object per trade, 128 bytes a record).

Record fields, per fill (buyer and seller from the taker's side; a fill is at the maker's price):

* ``base_amount = qty * base minor units per lot``; ``quote_amount = price_ticks * qty * quote
  minor units per tick-lot`` (``Instrument.quote_amount``). A swap's near leg is at the reference
  rate: ``quote_amount = ref_ticks * qty * (quote minor units per underlying tick-lot)`` and its
  far leg at reference + points: ``far_quote_amount = quote_amount + price_ticks * qty * ...``;
  the far leg returns the same base amount (``Instrument.swap_legs``).
* Fees (``FeeSchedule``): the taker pays the taker rate, the maker the maker rate, on
  ``quote_amount`` (for a swap the near leg, as ``fees`` prescribes), rounded half up and raised
  to the minimum (``reference.fees.FeeTerms``; the compiled flush computes the same in C).
* ``settle_date = calendar.settlement_date(trade_date, instrument)``; ``far_settle_date`` the
  swap's far leg date, NaT otherwise. Instrument and assets are ``exchange.codes.CODES`` codes;
  each instrument is registered there with its NET/GROSS settlement method.

Market data, computed from the records on demand: OHLC, volume, turnover and VWAP per trading
date, session and instrument (:meth:`TradeCapture.session_stats`), and the spot fixing of a
currency pair (:meth:`TradeCapture.fixing`) behind :class:`OfficialRates`.
"""
from __future__ import annotations

import datetime as _dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import numpy as np

from exchange.codes import CODES
from exchange.records import (
    SESSION_NAMES,
    TRADE_RECORD_DTYPE,
    empty_trades,
    to_table,
)
from exchange.reference.fees import FeeTerms
from exchange.reference.instruments import Instrument, Kind
from exchange.venue._engine import Staging
from exchange.venue.terms import Terms, instrument_codes, pair_of, tick_factors

__all__ = [
    "TradeCapture",
    "SessionStat",
    "FixingConfig",
    "OfficialRates",
]



_TERMS_DTYPE = np.dtype([
    ("instr", "i4"), ("session", "i1"), ("trade_date", "M8[D]"), ("settle", "M8[D]"),
    ("far", "M8[D]"), ("ref", "i8"), ("f", "i8"), ("bpl", "i8"), ("fref", "i8"),
    ("tn", "i8"), ("td", "i8"), ("mn", "i8"), ("md", "i8"), ("minimum", "i8"),
])


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class SessionStat:
    """Market statistics of one instrument in one session of one trading date.

    Prices are decimals (quote units per base unit; swap points for a swap), ``volume`` in base
    units (``volume_lots`` in lots), ``turnover`` the sum of ``quote_amount`` in quote units (for
    a swap: the near legs). ``vwap`` = sum(price x qty) / sum(qty), rounded half up to 1/10000
    of a tick.
    """

    trade_date: _dt.date
    session: str
    instrument: str
    trades: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    volume_lots: int
    turnover: Decimal
    vwap: Decimal


@dataclass(frozen=True)
class FixingConfig:
    """Which spot trades make the official rate: ``tenors`` (default all spot tenors 0, 1, 2)
    and ``cutoff`` (seconds since midnight, inclusive; None = the whole day)."""

    tenors: frozenset[int] = frozenset({0, 1, 2})
    cutoff: float | None = None


_FIRST = np.zeros(1, np.int64)  # reduceat starts of a single segment


def _sum_exact(values: np.ndarray, starts: np.ndarray) -> list[int]:
    """Segment sums of an int64 array as Python ints, exact even past int64. O(n)."""
    if len(values) == 0:
        return []
    if float(np.abs(values).astype(np.float64).sum()) < 2.0**62:
        return [int(v) for v in np.add.reduceat(values, starts)]
    bounds = list(starts) + [len(values)]
    return [sum(int(v) for v in values[a:b]) for a, b in itertools.pairwise(bounds)]


class TradeCapture:
    """Trade records of every fill, in execution order, in a doubling numpy buffer.

    ``instruments`` fixes the instrument indices the exchange uses in :class:`Terms`.
    """

    def __init__(self, instruments: Sequence[Instrument], capacity: int = 1024,
                 flush_every: int = 65_536) -> None:
        self.instruments = list(instruments)
        codes = np.array([instrument_codes(i) for i in self.instruments], np.int16).reshape(-1, 3)
        self._instrument_codes = np.ascontiguousarray(codes)
        self._codes, self._bases, self._quotes = codes[:, 0], codes[:, 1], codes[:, 2]
        # instrument code -> index into self.instruments (-1: not this capture's)
        self._index_of = np.full(int(codes[:, 0].max(initial=-1)) + 1, -1, np.intp)
        self._index_of[self._codes] = np.arange(len(self.instruments))
        # the numbering of :meth:`portable` records: an asset is its place in these codes
        names = sorted({a.code for i in self.instruments for a in (i.base, i.quote)})
        self._asset_codes = np.array([CODES.asset.code(name) for name in names], np.int16)
        self._asset_place = np.full(int(self._asset_codes.max(initial=-1)) + 1, -1, np.intp)
        self._asset_place[self._asset_codes] = np.arange(len(names))
        self._ticks = np.array([tick_factors(i) for i in self.instruments],
                               np.float64).reshape(-1, 2)
        self._buf = empty_trades(max(1, capacity))
        self._n = 0  # records in the buffer
        # Pending fills: the book's trade rows, and per order (chunk) its terms row, fill count
        # and time, in C buffers the venue's engine writes to directly: nothing here is a Python
        # object per fill, and a flush is one copy out.
        self.staging = Staging()
        self.flush_every = flush_every
        self._terms = np.zeros(16, _TERMS_DTYPE)
        self._terms_objects: list[Terms] = []
        self._n_terms = 0

    # -- writing ---------------------------------------------------------------------------

    def register(self, terms: Terms) -> Terms:
        """Give ``terms`` a row in the terms table (once per instrument, session and date)."""
        if self._n_terms == len(self._terms):
            grown = np.zeros(2 * len(self._terms), _TERMS_DTYPE)
            grown[: self._n_terms] = self._terms[: self._n_terms]
            self._terms = grown
        self._terms[self._n_terms] = terms.table_row()
        self._terms_objects.append(terms)
        terms.row = self._n_terms
        self._n_terms += 1
        return terms

    @property
    def count(self) -> int:
        """Trades captured so far (records plus fills not yet flushed); the last trade id."""
        return self._n + self.staging.pending

    def add(self, fills: np.ndarray, terms: Terms, time: float) -> int:
        """Capture the fills of one order (a book ``drain_trades()`` array); returns the trade
        id of the first. Trade ids are 1, 2, 3, ... in execution order. Amortised O(1) here,
        O(len(fills)) at the flush. (The exchange's engine stages fills itself.)"""
        first = self.count + 1
        self.staging.add_array(fills, terms.row, time)
        if self.staging.pending >= self.flush_every:
            self.flush()
        return first

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= len(self._buf):
            return
        size = max(need, 2 * len(self._buf))
        buf = np.empty(size, TRADE_RECORD_DTYPE)  # every field of a record is written by a flush
        buf[: self._n] = self._buf[: self._n]
        self._buf = buf

    def flush(self) -> None:
        """Turn the pending fills into records (in C, no Python object per fill).
        O(pending fills)."""
        pending = self.staging.pending
        if not pending:
            return
        self._reserve(pending)
        self.staging.write_records(self._buf[self._n: self._n + pending],
                                   self._terms[: self._n_terms], self._instrument_codes,
                                   self._n + 1)
        self._n += pending

    # -- snapshots -------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the records (:meth:`portable`) and of the terms table (for a snapshot);
        flushes first."""
        self.flush()
        return {"records": self.portable(self._buf[: self._n]),
                "terms": self._terms[: self._n_terms].copy()}

    def portable(self, records: np.ndarray) -> np.ndarray:
        """A copy of this capture's ``records`` numbered the same in every process: the
        instrument as its index into ``instruments`` and each asset as its place in the
        sorted asset codes of the instruments, instead of the codes ``exchange.codes``
        interns per process (a snapshot and the digest hold these). O(n)."""
        out = records.copy()
        out["instrument"] = self._index_of[records["instrument"]]
        out["base_asset"] = self._asset_place[records["base_asset"]]
        out["quote_asset"] = self._asset_place[records["quote_asset"]]
        return out

    def local(self, records: np.ndarray) -> np.ndarray:
        """:meth:`portable` undone: this process's codes. ValueError for a number out of
        range (nothing changed)."""
        out = np.array(records, copy=True)
        for field, codes in (("instrument", self._codes), ("base_asset", self._asset_codes),
                             ("quote_asset", self._asset_codes)):
            numbers = records[field]
            if len(numbers) and not 0 <= int(numbers.min()) <= int(numbers.max()) < len(codes):
                raise ValueError(f"restore: records' {field} numbers are not in "
                                 f"0..{len(codes) - 1}")
            out[field] = codes[numbers]
        return out

    def restore(self, records: np.ndarray, terms: np.ndarray, fees: Sequence[FeeTerms]) -> None:
        """Take a snapshot's ``records`` (numbered as :meth:`portable` numbers them) and
        ``terms`` table (:meth:`state`) into this capture, which must hold none yet; ``fees``
        are each instrument's fee terms (the terms rows are registered again from them and
        must come out as stored). ValueError otherwise."""
        if self.count or self._n_terms:
            raise ValueError("restore: this capture already holds records or terms")
        if records.dtype != TRADE_RECORD_DTYPE or terms.dtype != _TERMS_DTYPE:
            raise ValueError(f"restore: records of dtype {records.dtype} and terms of dtype "
                             f"{terms.dtype} are not a capture's")
        records = self.local(records)
        for row in terms:
            instr = int(row["instr"])
            far = None if np.isnat(row["far"]) else row["far"].astype(_dt.date)
            terms_of = self.register(Terms(
                self.instruments[instr], instr, int(row["session"]),
                row["trade_date"].astype(_dt.date), row["settle"].astype(_dt.date), far,
                int(row["ref"]), fees[instr]))
            if self._terms[terms_of.row].tobytes() != row.tobytes():
                raise ValueError(f"restore: terms row {terms_of.row} does not match the "
                                 f"instrument set and fees")
        self._buf = np.array(records, copy=True) if len(records) else empty_trades(1)
        self._n = len(records)
        self.staging.flushed = self._n

    @property
    def terms_objects(self) -> list[Terms]:
        """The registered terms, by row."""
        return self._terms_objects

    # -- reading ---------------------------------------------------------------------------

    def trades(self) -> np.ndarray:
        """All records, oldest first: a read-only view (O(1) after the flush)."""
        self.flush()
        view = self._buf[: self._n]
        view.flags.writeable = False
        return view

    def records(self, first_id: int, count: int) -> np.ndarray:
        """A copy of the ``count`` records starting at trade id ``first_id``."""
        self.flush()
        return self._buf[first_id - 1: first_id - 1 + count].copy()

    def table(self) -> Any:
        """All records as a ``pyarrow.Table`` (``records.TABLE_COLUMNS``: names as dictionary
        columns, dates as date32, NaT as null, the display price computed). Imports pyarrow on
        first use."""
        records = self.trades()
        index = self.instrument_index(records)
        mul, div = self._ticks[index, 0], self._ticks[index, 1]
        return to_table(records, price=records["price_ticks"] * mul / div)

    def frame(self) -> Any:
        """All records as a ``pandas.DataFrame`` (:meth:`table`: names as categoricals, dates
        as datetime64). Imports pandas on first use."""
        return self.table().to_pandas(date_as_object=False)

    def instrument_index(self, records: np.ndarray) -> np.ndarray:
        """The index into ``self.instruments`` of each record's instrument code. O(n)."""
        return self._index_of[records["instrument"]]

    # -- market data -----------------------------------------------------------------------

    def session_stats(self, trade_date: _dt.date | None = None) -> list[SessionStat]:
        """OHLC, volume, turnover and VWAP per (trade date, session, instrument), in that
        order; only ``trade_date`` if given. O(n log n) in the records read."""
        records = self.trades()
        instr = self.instrument_index(records)
        if trade_date is not None:
            keep = records["trade_date"] == np.datetime64(trade_date, "D")
            records, instr = records[keep], instr[keep]
        if len(records) == 0:
            return []
        day = records["trade_date"].astype(np.int64)
        key = (day * len(SESSION_NAMES) + records["session"]) * len(self.instruments) + instr
        order = np.argsort(key, kind="stable")  # stable: execution order within a group
        key, rec = key[order], records[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], len(key)] - 1
        px, qty = rec["price_ticks"], rec["qty"]
        high, low = np.maximum.reduceat(px, starts), np.minimum.reduceat(px, starts)
        lots, turnover = _sum_exact(qty, starts), _sum_exact(rec["quote_amount"], starts)
        pq = _sum_exact(px * qty, starts)
        result = []
        for g, (a, b) in enumerate(zip(starts, ends)):
            ins = self.instruments[instr[order[a]]]
            result.append(self._stat(ins, rec[a], int(px[a]), int(px[b]), int(high[g]),
                                     int(low[g]), int(b - a + 1), lots[g], turnover[g], pq[g]))
        return result

    @staticmethod
    def _stat(ins: Instrument, first: np.void, open_: int, close: int, high: int, low: int,
              n: int, lots: int, turnover: int, pq: int) -> SessionStat:
        with localcontext() as ctx:
            ctx.prec = 60
            vwap = (Decimal(pq) / Decimal(lots) * ins.tick_size).quantize(
                ins.tick_size.scaleb(-4), rounding=ROUND_HALF_UP)
        return SessionStat(
            trade_date=first["trade_date"].astype(_dt.date),
            session=SESSION_NAMES[int(first["session"])], instrument=ins.symbol, trades=n,
            open=ins.from_ticks(open_), high=ins.from_ticks(high), low=ins.from_ticks(low),
            close=ins.from_ticks(close), volume=ins.from_lots(lots), volume_lots=lots,
            turnover=ins.quote.from_minor(turnover), vwap=vwap)

    def fixing(self, trade_date: _dt.date, config: FixingConfig) -> dict[str, Decimal]:
        """The weighted average rate of each currency pair's spot trades on ``trade_date``.

        Counts FX_SPOT trades whose tenor is in ``config.tenors`` and whose time is at or
        before ``config.cutoff``: rate = sum(quote amounts) / sum(base amounts), in quote units
        per base unit, rounded half up to the finest tick of the pair's counted instruments.
        Pairs without such trades are absent. O(n).
        """
        records = self.trades()
        instr = self.instrument_index(records)
        counted = np.array([i.kind is Kind.FX_SPOT and i.tenor in config.tenors
                            for i in self.instruments], dtype=bool)
        keep = (records["trade_date"] == np.datetime64(trade_date, "D")) & counted[instr]
        if config.cutoff is not None:
            keep &= records["time"] <= config.cutoff
        records, instr = records[keep], instr[keep]
        sums: dict[str, list] = {}
        for index in np.unique(instr):
            ins = self.instruments[index]
            mine = instr == index
            entry = sums.setdefault(pair_of(ins), [0, 0, ins])
            entry[0] += _sum_exact(records["quote_amount"][mine], _FIRST)[0]
            entry[1] += _sum_exact(records["base_amount"][mine], _FIRST)[0]
            if ins.tick_size < entry[2].tick_size:
                entry[2] = ins
        rates = {}
        for pair, (quote, base, ins) in sums.items():
            with localcontext() as ctx:
                ctx.prec = 60
                rate = (ins.quote.from_minor(quote) / ins.base.from_minor(base))
                rates[pair] = rate.quantize(ins.tick_size, rounding=ROUND_HALF_UP)
        return rates


class OfficialRates:
    """Published official rates: (pair, date the rate is in force) -> Decimal."""

    def __init__(self) -> None:
        self._rates: dict[str, dict[_dt.date, Decimal]] = {}

    def publish(self, pair: str, effective: _dt.date, rate: Decimal) -> None:
        """Record ``rate`` as ``pair``'s official rate on ``effective`` (replaces one there)."""
        self._rates.setdefault(pair, {})[effective] = rate

    def get(self, pair: str, day: _dt.date) -> Decimal:
        """The rate published for ``day`` exactly; KeyError naming pair and date otherwise."""
        key = pair.replace("/", "")
        by_day = self._rates.get(key)
        if by_day is None:
            raise KeyError(f"no official rate published for pair {pair!r} (known pairs: "
                           f"{sorted(self._rates) or 'none'})")
        if day not in by_day:
            raise KeyError(f"no official rate of {key} published for {day.isoformat()}")
        return by_day[day]

    def in_force(self, pair: str, day: _dt.date) -> tuple[_dt.date, Decimal] | None:
        """The latest rate of ``pair`` in force on ``day`` (published for ``day`` or before),
        as (effective date, rate), or None. O(rates of the pair)."""
        by_day = self._rates.get(pair, {})
        dates = [d for d in by_day if d <= day]
        if not dates:
            return None
        last = max(dates)
        return last, by_day[last]

    def items(self) -> Iterable[tuple[str, _dt.date, Decimal]]:
        """Every published rate as (pair, effective date, rate), sorted."""
        return sorted((p, d, r) for p, by_day in self._rates.items() for d, r in by_day.items())
