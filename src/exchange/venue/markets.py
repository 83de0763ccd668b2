"""The venue's markets: one compiled book per instrument, with its state for the trading date.

A :class:`Market` holds what the order path needs of its instrument today, precomputed when the
date begins or a session opens so that an order costs no lookups: whether it is open, the
capture ``terms`` of the session, the risk terms, and the bounds that keep every amount of a
fill inside int64. Markets are numbered 0, 1, 2, ... in the instrument set's order:
:meth:`Markets.instrument_id` is that number, stable for the exchange's life.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from exchange._book import STP, OrderBook
from exchange.reference.calendar import Calendar, NonBusinessDayError
from exchange.reference.dates import day_number
from exchange.reference.fees import FeeSchedule, FeeTerms
from exchange.reference.instruments import Instrument, InstrumentSet, Kind
from exchange.venue.capture import OfficialRates
from exchange.venue.codes import OrderRejected, RejectReason
from exchange.venue.sessions import SessionSchedule
from exchange.venue.terms import Terms, pair_of

__all__ = ["Market", "Markets", "BookView"]

class Market:
    """One instrument's book and its state on the current trading date."""

    __slots__ = ("index", "instrument", "symbol", "book", "sessions", "fees", "prefunded",
                 "assets", "open", "terms", "blocked", "settle", "far", "ref", "fixed")

    def __init__(self, index: int, instrument: Instrument, book: OrderBook,
                 sessions: tuple[int, ...], fees: FeeTerms, assets: list[str]) -> None:
        self.index, self.instrument, self.symbol = index, instrument, instrument.symbol
        self.book, self.sessions, self.fees = book, sessions, fees
        self.prefunded = bool(instrument.prefunded)
        self.assets = assets  # the engine's asset codes (an asset's index is its position)
        self.open = False  # session open and nothing blocks it (the engine has the same flag)
        # Set by begin_session: read only while the market is open.
        self.terms: Terms = None  # type: ignore[assignment]
        self.blocked: tuple[RejectReason, str] | None = None
        self.settle: _dt.date | None = None
        self.far: _dt.date | None = None
        self.ref = 0  # a swap's reference rate, ticks of its underlying
        self.fixed = 0  # value per lot that does not depend on the price (a swap's near leg)

    def plan(self, date: _dt.date, calendar: Calendar, reference: int | None) -> None:
        """Fix settlement dates and the reference rate for ``date``, or why it cannot trade."""
        ins = self.instrument
        self.open = False
        self.settle = self.far = None
        self.ref = self.fixed = 0
        try:
            self.settle = calendar.settlement_date(date, ins)
            if ins.kind is Kind.FX_SWAP:
                self.far = calendar.settlement_date(date, ins, far=True)
        except NonBusinessDayError as exc:
            self.blocked = (RejectReason.NOT_TRADING_DAY, str(exc))
            return
        self.blocked = None
        if ins.kind is not Kind.FX_SWAP:
            return
        if reference is None:
            self.blocked = (RejectReason.NO_REFERENCE_RATE,
                            f"{ins.symbol}: no official rate of {pair_of(ins)} in force on "
                            f"{date.isoformat()} and no configured reference rate")
            return
        self.ref = reference
        self.fixed = reference * ins.swap_legs(1, 1, 1).near_quote

    def day_state(self) -> dict[str, Any]:
        """This market's state for the trading date as JSON data (a snapshot keeps it)."""
        blocked = None if self.blocked is None else [self.blocked[0].code, self.blocked[1]]
        return {"open": self.open, "terms": None if self.terms is None else self.terms.row,
                "blocked": blocked, "settle": _iso(self.settle), "far": _iso(self.far),
                "ref": self.ref, "fixed": self.fixed}

    def restore_day(self, state: dict[str, Any], terms: list[Terms]) -> None:
        """Take :meth:`day_state`'s ``state`` back; ``terms`` are the capture's, by row."""
        self.open = bool(state["open"])
        self.terms = None if state["terms"] is None else terms[state["terms"]]  # type: ignore[assignment]
        blocked = state["blocked"]
        self.blocked = None if blocked is None else (RejectReason(blocked[0]), blocked[1])
        self.settle, self.far = _date_or_none(state["settle"]), _date_or_none(state["far"])
        self.ref, self.fixed = int(state["ref"]), int(state["fixed"])

    def begin_session(self, terms: Terms) -> dict[str, Any]:
        """Trade in a session under ``terms`` (registered with capture by the caller); returns
        what the engine needs of this market for it (``Engine.set_market``'s keywords)."""
        self.terms, self.open = terms, True
        assert self.settle is not None
        fees = terms.fees
        worst_num, worst_den = fees.worst_rate
        return dict(open=True, closed_code=0, prefunded=self.prefunded, swap=terms.swap,
                    quote=self.assets.index(terms.quote_code),
                    base=self.assets.index(terms.base_code), terms_row=terms.row,
                    near_day=day_number(self.settle),
                    far_day=-1 if self.far is None else day_number(self.far),
                    f=terms.f, bpl=terms.bpl, ref=terms.ref, fref=terms.fref, fixed=self.fixed,
                    fee_min=fees.minimum, worst_num=worst_num, worst_den=worst_den,
                    taker_num=fees.taker_num, taker_den=fees.taker_den,
                    maker_num=fees.maker_num, maker_den=fees.maker_den)


class Markets:
    """Every instrument's :class:`Market`, by symbol and by index."""

    def __init__(self, instruments: InstrumentSet, schedule: SessionSchedule,
                 fees: FeeSchedule, stp: STP) -> None:
        self.by_symbol: dict[str, Market] = {}
        self.by_index: list[Market] = []
        self.assets: list[str] = sorted(instruments.assets)
        for symbol in instruments:
            ins = instruments[symbol]
            market = Market(len(self.by_index), ins, OrderBook(stp=stp),
                            schedule.sessions_of(ins), FeeTerms.of(fees, ins), self.assets)
            self.by_symbol[symbol] = market
            self.by_index.append(market)

    def __iter__(self) -> Iterator[Market]:
        return iter(self.by_index)

    def by_symbol_index(self) -> dict[str, int]:
        """symbol -> instrument id."""
        return {symbol: market.index for symbol, market in self.by_symbol.items()}

    def get(self, symbol: Any) -> Market:
        """The market of ``symbol``; OrderRejected(UNKNOWN_INSTRUMENT) otherwise. O(1)."""
        market = self.by_symbol.get(symbol) if type(symbol) is str else None
        if market is None:
            raise OrderRejected(RejectReason.UNKNOWN_INSTRUMENT, f"unknown instrument {symbol!r}")
        return market

    def instrument_id(self, symbol: str) -> int:
        """The small integer id of ``symbol`` (its index); KeyError naming an unknown one."""
        market = self.by_symbol.get(symbol)
        if market is None:
            raise KeyError(f"unknown instrument {symbol!r}")
        return market.index

    def reference_ticks(self, rates: Mapping[str, Any]) -> dict[str, int]:
        """Configured swap reference rates (pair -> decimal rate) in ticks of each pair's swap
        underlying; KeyError for a pair no swap trades, InstrumentValueError off the grid."""
        underlying = {pair_of(m.instrument): m.instrument.underlying for m in self.by_index
                      if m.instrument.kind is Kind.FX_SWAP}
        result = {}
        for pair, rate in rates.items():
            key = pair.replace("/", "")
            if key not in underlying:
                raise KeyError(f"reference_rates: no swap trades pair {pair!r}")
            spot = underlying[key]
            assert spot is not None  # a swap's definition requires its underlying
            result[key] = spot.to_ticks(rate)
        return result

    def swap_reference(self, official: OfficialRates, configured: dict[str, int],
                       ins: Instrument, date: _dt.date) -> int | None:
        """A swap's reference rate on ``date`` in ticks of its underlying: the official rate in
        force (rounded half up to a tick), else the configured one, else None."""
        if ins.kind is not Kind.FX_SWAP:
            return None
        found = official.in_force(pair_of(ins), date)
        spot = ins.underlying
        assert spot is not None  # a swap's definition requires its underlying
        if found is not None:
            return spot.to_ticks(Decimal(found[1]).quantize(spot.tick_size, ROUND_HALF_UP))
        return configured.get(pair_of(ins))


def _iso(day: _dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _date_or_none(text: str | None) -> _dt.date | None:
    return None if text is None else _dt.date.fromisoformat(text)


class BookView:
    """Read-only access to one instrument's book (ticks and lots), and decimal best prices."""

    __slots__ = ("_book", "instrument")

    def __init__(self, book: OrderBook, instrument: Instrument) -> None:
        self._book, self.instrument = book, instrument

    def best_bid(self) -> tuple[int, int] | None:
        return self._book.best_bid()

    def best_ask(self) -> tuple[int, int] | None:
        return self._book.best_ask()

    def best_prices(self) -> tuple[Decimal | None, Decimal | None]:
        """(best bid, best ask) as decimal prices, None for an empty side."""
        bid, ask = self._book.best_bid(), self._book.best_ask()
        conv = self.instrument.from_ticks
        return (conv(bid[0]) if bid else None, conv(ask[0]) if ask else None)

    def depth(self, levels: int) -> tuple[np.ndarray, np.ndarray]:
        return self._book.depth(levels)

    def orders(self, side: int) -> np.ndarray:
        return self._book.orders(side)

    def order(self, order_id: int) -> tuple[int, int, int, int]:
        return self._book.order(order_id)

    def __len__(self) -> int:
        return len(self._book)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._book
