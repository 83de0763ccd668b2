"""The economics of an instrument in one session of one trading date: what a fill moves.

:class:`Terms` fixes, when a session opens, the constants of an instrument's fills: the
capture's terms table row (:meth:`Terms.table_row`) and the engine's market terms come from it.
The amounts of a fill, in minor units, are (``Terms.amounts`` in Python, ``_amounts`` in
venue/_engine.pyx for risk and the records, tested equal)::

    base  = qty * base minor units per lot
    near  = price_ticks * qty * f                       (spot and securities)
          = ref_ticks * qty * fref                      (a swap's near leg, at the reference)
    far   = near + price_ticks * qty * f                (a swap's far leg: reference + points)
    fees  = FeeTerms.fee(near, taker or maker)          (reference/fees.py)
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from exchange.codes import CODES
from exchange.reference.dates import day64
from exchange.reference.fees import FeeTerms
from exchange.reference.instruments import Instrument, Kind

__all__ = ["Terms", "pair_of", "instrument_codes", "tick_factors"]


def pair_of(instrument: Instrument) -> str:
    """The currency pair code of an instrument: ``"USDKZT"`` for USD/KZT."""
    return instrument.base.code + instrument.quote.code


@dataclass(eq=False)
class Terms:
    """The economics of one instrument in one session of one trading date.

    ``f``: quote minor units per tick per lot; ``bpl``: base minor units per lot; for a swap
    ``ref`` (reference rate, ticks of the underlying) and ``fref`` (quote minor units per
    underlying tick per lot). ``row`` indexes the capture's terms table. Amount methods take
    Python ints and are exact.
    """

    instrument: Instrument
    index: int
    session: int
    trade_date: _dt.date
    settle: _dt.date
    far: _dt.date | None
    ref: int
    fees: FeeTerms
    row: int = -1
    f: int = field(init=False)
    bpl: int = field(init=False)
    fref: int = field(init=False)
    swap: bool = field(init=False)
    quote_code: str = field(init=False)
    base_code: str = field(init=False)

    def __post_init__(self) -> None:
        ins = self.instrument
        self.f = ins.quote_amount(1, 1)
        self.bpl = ins.base_amount(1)
        self.swap = ins.kind is Kind.FX_SWAP
        self.fref = ins.swap_legs(1, 1, 1).near_quote if self.swap else 0
        self.quote_code, self.base_code = ins.quote.code, ins.base.code

    def amounts(self, price_ticks: int, lots: int) -> tuple[int, int, int]:
        """(base, near quote, far quote) of ``lots`` filled at ``price_ticks`` (far 0 unless a
        swap). O(1)."""
        base, value = lots * self.bpl, price_ticks * lots * self.f
        if self.swap:
            near = self.ref * lots * self.fref
            return base, near, near + value
        return base, value, 0

    def table_row(self) -> tuple:
        """The row of the capture's terms table (``capture._TERMS_DTYPE``)."""
        tn, td, mn, md, m = (self.fees.taker_num, self.fees.taker_den, self.fees.maker_num,
                             self.fees.maker_den, self.fees.minimum)
        return (self.index, self.session, day64(self.trade_date), day64(self.settle),
                day64(self.far), self.ref, self.f, self.bpl, self.fref, tn, td, mn, md, m)


def instrument_codes(ins: Instrument) -> tuple[int, int, int]:
    """The registry codes of an instrument (registered with its settlement method) and of its
    base and quote assets."""
    settlement = ins.settlement
    assert settlement is not None  # Instrument fills it in from its kind
    return (CODES.register_instrument(ins.symbol, settlement), CODES.asset.code(ins.base.code),
            CODES.asset.code(ins.quote.code))


def tick_factors(ins: Instrument) -> tuple[float, float]:
    """(mul, div) with ``price = price_ticks * mul / div`` as close as a float gets."""
    _, digits, exp = ins.tick_size.as_tuple()
    exponent = int(exp)  # a tick size is finite (Instrument checks it)
    coefficient = int("".join(map(str, digits)))
    return float(coefficient * 10 ** max(exponent, 0)), float(10 ** max(-exponent, 0))
