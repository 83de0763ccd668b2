"""The trading day's cycle: begin a date, open and close its sessions, end it.

:class:`DayCycle` drives the session state machine (:class:`~exchange.venue.sessions.TradingDay`)
and keeps every market's day state in step with it: settlement dates and swap reference rates
when the date begins, capture terms when a session opens, the books emptied when it closes, and
the official rates published at the end of the day. It knows nothing of members or holds; the
exchange facade releases what closing a session expired. Every transition is O(instruments),
plus O(resting orders) for a close.
"""
from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from exchange.records import SESSION_NAMES
from exchange.reference.calendar import Calendar, NonBusinessDayError
from exchange.reference.instruments import Asset
from exchange.venue._engine import Engine
from exchange.venue.capture import FixingConfig, OfficialRates, TradeCapture
from exchange.venue.codes import OrderRejected, RejectReason
from exchange.venue.markets import Market, Markets
from exchange.venue.sessions import (
    SessionError,
    SessionSchedule,
    SessionSpec,
    SessionState,
    TradingDay,
)
from exchange.venue.terms import Terms

__all__ = ["DayCycle", "DayEnd", "ExpiredOrder"]

log = logging.getLogger("exchange")


class ExpiredOrder(NamedTuple):
    """A resting order that expired at its session's close."""

    order_id: int
    member: int
    instrument: str
    side: int
    price_ticks: int
    qty: int


@dataclass(frozen=True)
class DayEnd:
    """What :meth:`Exchange.end_of_day` did: orders expired (if a session was still open) and
    the official rates published, in force from ``effective_date`` (the next business day)."""

    date: _dt.date
    expired: list[ExpiredOrder]
    effective_date: _dt.date
    official_rates: dict[str, Decimal]


class DayCycle:
    """The current trading date and its sessions, applied to every market."""

    def __init__(self, markets: Markets, engine: Engine, schedule: SessionSchedule,
                 calendar: Calendar, official: OfficialRates, fixing: FixingConfig,
                 reference_rates: Mapping[str, int]) -> None:
        self.markets, self.engine = markets, engine
        self.schedule, self.calendar = schedule, calendar
        self.official, self.fixing = official, fixing
        self.reference_rates = dict(reference_rates)
        self.day: TradingDay | None = None
        self._home = Asset("HOME", 2, calendar.home_region)

    # -- queries ------------------------------------------------------------------------------

    @property
    def date(self) -> _dt.date | None:
        return None if self.day is None else self.day.date

    def state(self, name: str) -> SessionState:
        if self.day is None:
            self.schedule.spec(name)
            return SessionState.CLOSED
        return self.day.state(name)

    def refuse_closed(self, market: Market) -> None:
        """Raise the precise refusal of an order for a market that is not open."""
        raise OrderRejected(*self._closed_reason(market))

    def _closed_reason(self, market: Market) -> tuple[RejectReason, str]:
        day = self.day
        if day is None or day.ended:
            return RejectReason.NO_TRADING_DAY, "no trading day is in progress (call begin_day)"
        if not any(day.states[code] is SessionState.OPEN for code in market.sessions):
            names = "/".join(SESSION_NAMES[c] for c in market.sessions)
            return (RejectReason.SESSION_CLOSED,
                    f"{market.symbol} trades in the {names} session, which is not open")
        assert market.blocked is not None
        return market.blocked

    def _tell_engine(self) -> None:
        """Give the engine every closed market's refusal (a batch's code for its orders)."""
        for market in self.markets:
            if not market.open:
                self.engine.close_market(market.index, self._closed_reason(market)[0].code)

    # -- transitions --------------------------------------------------------------------------

    def begin(self, date: _dt.date) -> None:
        """Start ``date`` (see :meth:`Exchange.begin_day`); nothing changes on error."""
        if not isinstance(date, _dt.date) or isinstance(date, _dt.datetime):
            raise TypeError(f"date: expected a datetime.date, got {type(date).__name__} "
                            f"{date!r}")
        if self.day is not None and not self.day.ended:
            raise SessionError(f"cannot begin {date.isoformat()}: trading day "
                               f"{self.day.date.isoformat()} has not ended (call end_of_day)")
        if self.day is not None and date <= self.day.date:
            raise SessionError(f"cannot begin {date.isoformat()}: trading dates must advance "
                               f"(last was {self.day.date.isoformat()})")
        if not self.calendar.is_business_day(date, (self._home,)):
            raise NonBusinessDayError(f"trade date {date.isoformat()} is not a business day in "
                                      f"{self.calendar.home_region}: no trading")
        references = [self.markets.swap_reference(self.official, self.reference_rates,
                                                  m.instrument, date) for m in self.markets]
        for market, reference in zip(self.markets, references):
            market.plan(date, self.calendar, reference)
        self.day = TradingDay(date, self.schedule)
        self._tell_engine()
        log.info("trading day %s begins", date.isoformat())

    def open(self, name: str, capture: TradeCapture) -> SessionSpec:
        """Open session ``name``; its markets accept orders (unless blocked today) with their
        session terms registered in ``capture``."""
        day = self._live(f"open session {name!r}")
        spec = day.open(name)
        for market in self.markets:
            if spec.code in market.sessions and market.blocked is None:
                assert market.settle is not None
                terms = capture.register(Terms(market.instrument, market.index, spec.code,
                                               day.date, market.settle, market.far, market.ref,
                                               market.fees))
                self.engine.set_market(market.index, **market.begin_session(terms))
        self._tell_engine()
        log.info("session %s opens on %s", name, day.date.isoformat())
        return spec

    def close(self, name: str) -> list[ExpiredOrder]:
        """Close session ``name``: its markets stop trading and their resting orders expire
        (returned in book order: bids first, each side in priority order)."""
        day = self._live(f"close session {name!r}")
        spec = day.close(name)
        expired: list[ExpiredOrder] = []
        for market in self.markets:
            if spec.code in market.sessions:
                market.open = False
                expired += _expire(market)
        self._tell_engine()
        log.info("session %s closes on %s: %d orders expired", name, day.date.isoformat(),
                 len(expired))
        return expired

    def end(self, capture: TradeCapture) -> tuple[_dt.date, _dt.date, dict[str, Decimal]]:
        """Mark the day ended (no session may be open) and publish each pair's official rate,
        the fixing of ``capture``'s records, for the next business day: (date, effective date,
        rates)."""
        day = self._live("end the trading day")
        day.end()
        self._tell_engine()
        rates = capture.fixing(day.date, self.fixing)
        effective = self.calendar.next_business_day(day.date, (self._home,))
        for pair, rate in rates.items():
            self.official.publish(pair, effective, rate)
        log.info("trading day %s ends; official rates for %s: %s", day.date.isoformat(),
                 effective.isoformat(), {p: str(r) for p, r in rates.items()})
        return day.date, effective, rates

    # -- snapshots ---------------------------------------------------------------------------

    def day_state(self) -> dict:
        """The date, its session states and every market's day state as JSON data."""
        day = None if self.day is None else {
            "date": self.day.date.isoformat(), "ended": self.day.ended,
            "states": [state.value for state in self.day.states]}
        return {"day": day, "markets": [market.day_state() for market in self.markets]}

    def restore_day(self, state: dict, terms: list[Terms]) -> None:
        """Take :meth:`day_state`'s ``state`` back (``terms``: the capture's, by row). The engine's
        markets are restored with the engine."""
        day = state["day"]
        if day is not None:
            self.day = TradingDay(_dt.date.fromisoformat(day["date"]), self.schedule)
            self.day.states = [SessionState(value) for value in day["states"]]
            self.day.ended = bool(day["ended"])
        for market, market_state in zip(self.markets, state["markets"], strict=True):
            market.restore_day(market_state, terms)

    def open_session(self) -> SessionSpec | None:
        return None if self.day is None else self.day.open_session

    def _live(self, what: str) -> TradingDay:
        if self.day is None:
            raise SessionError(f"cannot {what}: no trading day has begun (call begin_day)")
        if self.day.ended:
            raise SessionError(f"cannot {what}: trading day {self.day.date.isoformat()} "
                               f"has ended")
        return self.day


def _expire(market: Market) -> list[ExpiredOrder]:
    removed = market.book.clear()
    if len(removed) == 0:
        return []
    rows = zip(removed["order_id"].tolist(), removed["owner"].tolist(),
               removed["side"].tolist(), removed["price"].tolist(), removed["qty"].tolist())
    return [ExpiredOrder(oid, owner, market.symbol, side, price, qty)
            for oid, owner, side, price, qty in rows]
