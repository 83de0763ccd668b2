"""The economics of an instrument in one session of one trading date: what a fill moves.

:class:`Terms` is where a fill's amounts are computed, for every stage that needs them: trade
capture (the record's amounts and fees), pre-trade risk (the legs it books as commitments) and
the vectorised flush (which computes the same formula over arrays and is tested equal). Amounts
are exact Python ints in minor units::

    base  = qty * base minor units per lot
    near  = price_ticks * qty * f                       (spot and securities)
          = ref_ticks * qty * fref                      (a swap's near leg, at the reference)
    far   = near + price_ticks * qty * f                (a swap's far leg: reference + points)
    fees  = FeeTerms.fee(near, taker or maker)          (reference/fees.py)
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from exchange.codes import CODES
from exchange.reference.dates import day64
from exchange.reference.fees import FeeTerms
from exchange.reference.instruments import Instrument, Kind
from exchange.venue.fills import (
    MAKER_ID,
    MAKER_OWNER,
    PRICE,
    QTY,
    TAKER_ID,
    TAKER_OWNER,
    TAKER_SIDE,
)

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
    codes: tuple[int, int, int] = field(init=False)  # CODES of instrument, base, quote
    settle_day: np.datetime64 = field(init=False)  # settle as numpy day: cheap for the ledger
    _row_constants: tuple = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ins = self.instrument
        self.f = ins.quote_amount(1, 1)
        self.bpl = ins.base_amount(1)
        self.swap = ins.kind is Kind.FX_SWAP
        self.fref = ins.swap_legs(1, 1, 1).near_quote if self.swap else 0
        self.quote_code, self.base_code = ins.quote.code, ins.base.code
        self.codes = instrument_codes(ins)
        self.settle_day = day64(self.settle)
        self._row_constants = (day64(self.trade_date), day64(self.far))

    def record(self, trade_id: int, fill: tuple, time: float) -> tuple:
        """The TRADE_RECORD_DTYPE row of one fill (a book trade row as a tuple), the same
        values as the vectorised :meth:`TradeCapture.flush` computes. O(1)."""
        trade_day, far_day = self._row_constants
        taker_id, maker_id, side, px, qty = (fill[TAKER_ID], fill[MAKER_ID], fill[TAKER_SIDE],
                                             fill[PRICE], fill[QTY])
        taker_owner, maker_owner = fill[TAKER_OWNER], fill[MAKER_OWNER]
        base, near, far_quote = self.amounts(px, qty)
        buy_taker = side == 0
        fee_buyer, fee_seller = self.fees.fee(near, buy_taker), self.fees.fee(near, not buy_taker)
        if buy_taker:
            buyer, seller, buy_id, sell_id = taker_owner, maker_owner, taker_id, maker_id
        else:
            buyer, seller, buy_id, sell_id = maker_owner, taker_owner, maker_id, taker_id
        instrument, base_asset, quote_asset = self.codes
        return (trade_id, trade_day, time, buy_id, sell_id, px, qty, self.settle_day, base,
                near, far_day, far_quote, fee_buyer, fee_seller, buyer, seller, instrument,
                base_asset, quote_asset, self.session, side)

    def amounts(self, price_ticks: int, lots: int) -> tuple[int, int, int]:
        """(base, near quote, far quote) of ``lots`` filled at ``price_ticks`` (far 0 unless a
        swap). O(1)."""
        base, value = lots * self.bpl, price_ticks * lots * self.f
        if self.swap:
            near = self.ref * lots * self.fref
            return base, near, near + value
        return base, value, 0

    def near_value(self, price_ticks: int, lots: int) -> int:
        """What the buyer pays on the (near) settle date, before fees."""
        if self.swap:
            return self.ref * lots * self.fref
        return price_ticks * lots * self.f

    def table_row(self) -> tuple:
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
