"""The exchange facade: it runs each order through the venue's stages and answers the caller.

The path of an order, one module per stage (exchange-core's pipeline, in one thread)::

    entry (normalise or refuse) -> risk R1 (hold) -> book (match) -> capture (trade records)
          -> risk R2 (book the fills, trim or release holds) -> order index -> reporting

Each stage is told what the earlier ones learned and never asks them again: the book's single
call returns executed, leaves and its refusal code together, and every trade row carries the
taker's and the maker's remaining quantity. New orders and modifies share one post-trade path
(:meth:`Exchange._post_trade`). Clearing comes later and outside: it reads :meth:`trades`; the
ledger tells the venue when a date has settled (a listener), so the venue never imports it.

Order ids are assigned by the exchange (1, 2, 3, ... across all instruments). Only the member
that owns a resting order may cancel or modify it. Self-trade prevention defaults to
``STP.CANCEL_INCOMING``: the resting order keeps its place (its owner chose that price and
priority earlier) and the incoming remainder is cancelled. The near leg of a swap settles at the
official rate in force on the trade date, else at ``reference_rates[pair]``; with neither, swap
orders are refused (NO_REFERENCE_RATE); the rate is fixed at :meth:`begin_day`.

Errors: every refusal is an :class:`~exchange.venue.codes.OrderRejected` (or ``NotOrderOwner``)
with its reason; it is counted (:meth:`rejections`), reported to subscribers, and changes
nothing, holds included. A subscriber's exception never changes what the caller is told (it is
logged on the ``exchange`` logger).

Durability: with ``journal=`` every state-changing call is journaled once it has succeeded and
before it returns (a refusal counted before the call had a normalised form as ``Refused``);
see ``venue/durable.py`` for snapshots, recovery and the digest. The money calls (members,
deposits, withdrawals, funds, settlement runs) are ``venue/money.py``'s.

Cost: ``submit`` of a deferred member that does not trade is O(1) Python work plus the book's;
a fill adds O(1) here (records are built vectorised later, see ``exchange.venue.capture``). The
journal's fast path adds a few dozen nanoseconds in C (the engine writes the record).
"""
from __future__ import annotations

import datetime as _dt
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import numpy as np

from exchange._book import STP, TIF, Side
from exchange.journal import BeginDay, CloseSession, Durability, EndOfDay, OpenSession
from exchange.reference.calendar import Calendar
from exchange.reference.fees import FeeSchedule, default_fee_schedule
from exchange.reference.instruments import InstrumentSet, default_instruments
from exchange.venue._engine import Engine
from exchange.venue.batches import check_orders, process_one_by_one
from exchange.venue.capture import FixingConfig, OfficialRates, SessionStat, TradeCapture
from exchange.venue.codes import NotOrderOwner, OrderRejected, RejectReason
from exchange.venue.daycycle import DayCycle, DayEnd, ExpiredOrder
from exchange.venue.durable import KEEP_SNAPSHOTS, DurableCalls
from exchange.venue.entry import OrderEntry
from exchange.venue.events import ExecType, OrdStatus
from exchange.venue.markets import BookView, Market, Markets
from exchange.venue.members import MemberRegistry
from exchange.venue.money import MoneyCalls
from exchange.venue.reporting import Reporter, engine_refusal
from exchange.venue.results import OrderResult
from exchange.venue.sessions import SessionSchedule, SessionSpec, SessionState

__all__ = ["Exchange", "OrderResult", "ExpiredOrder", "DayEnd", "BookView"]

log = logging.getLogger("exchange")

#: Makes the ledger of an ``Exchange()`` given none (the package sets it to clearing's
#: in-memory ``Ledger``: the venue itself never imports clearing).
default_ledger: Callable[[], Any] | None = None

_FILLED, _PARTIAL = OrdStatus.FILLED, OrdStatus.PARTIALLY_FILLED
_NEW, _CANCELED = OrdStatus.NEW, OrdStatus.CANCELED


class Exchange(MoneyCalls, DurableCalls):
    """A KASE-style exchange over compiled order books; see the module docstring.

    ``journal`` (a folder or a ``JournalWriter`` holding no records) turns journaling on, with
    ``durability`` (default ``Durability.group()``) for a folder (a ValueError without one);
    ``setup`` (a JSON object) is kept in its Setup record beside the configuration (the
    simulator's scenario); ``keep_snapshots`` (default 2, 0: none) snapshots kept in the
    folder, one written at each session close and end of day.
    """

    def __init__(self, instruments: InstrumentSet | None = None, calendar: Calendar | None = None,
                 fees: FeeSchedule | None = None, ledger: Any = None,
                 sessions: SessionSchedule | None = None,
                 clock: Callable[[], float] | None = None, stp: STP | int = STP.CANCEL_INCOMING,
                 reference_rates: Mapping[str, Any] | None = None,
                 fixing: FixingConfig | None = None, *, journal: Any = None,
                 durability: Durability | None = None, setup: Mapping[str, Any] | None = None,
                 keep_snapshots: int = KEEP_SNAPSHOTS) -> None:
        if journal is None and durability is not None:
            raise ValueError("durability: given without journal= (nothing to make durable)")
        self.instruments = default_instruments() if instruments is None else instruments
        if not isinstance(self.instruments, InstrumentSet):
            raise TypeError(f"instruments: expected an InstrumentSet, got "
                            f"{type(self.instruments).__name__}")
        self.calendar = Calendar() if calendar is None else calendar
        self.fees = default_fee_schedule() if fees is None else fees
        self.schedule = SessionSchedule() if sessions is None else sessions
        self.stp = STP(stp)
        if clock is not None and not callable(clock):
            raise TypeError(f"clock: expected a callable returning seconds, got "
                            f"{type(clock).__name__}")
        self._clock, self._time = clock, 0.0
        if ledger is None:
            if default_ledger is None:
                raise TypeError("ledger: none given and no default (import exchange first)")
            ledger = default_ledger()
        self._ledger = ledger
        self._markets = markets = Markets(self.instruments, self.schedule, self.fees, self.stp)
        self._engine = Engine([m.book for m in markets], dict(markets.by_symbol_index()),
                              list(markets.assets), ledger)
        self.capture = TradeCapture([m.instrument for m in markets])
        self.official = OfficialRates()
        self._cycle = DayCycle(markets, self._engine, self.schedule, self.calendar,
                               self.official, FixingConfig() if fixing is None else fixing,
                               markets.reference_ticks(reference_rates or {}))
        self._members = MemberRegistry()
        self._member_index: dict[int, int] = {}  # member id -> the engine's index
        self._client_ids: dict[int, str] = {}
        self._entry = OrderEntry(self._members, markets, self._engine.market_of,
                                 self._cycle.refuse_closed)
        self._reporter = Reporter(self._client_ids, self._engine.cum, self.now)
        self._bus = self._reporter.bus
        self._journal = None
        self._user_setup: dict[str, Any] = {}
        if isinstance(keep_snapshots, bool) or not isinstance(keep_snapshots, int) \
                or keep_snapshots < 0:
            raise ValueError(f"keep_snapshots: {keep_snapshots!r} is not an int >= 0")
        self._keep_snapshots = keep_snapshots
        if journal is not None:
            self._open_journal(journal, durability, setup)
        # last: an exchange that failed to build leaves no listener on the caller's ledger
        listen = getattr(ledger, "add_listener", None)
        if listen is not None:
            listen(self._settled)

    @property
    def capture(self) -> TradeCapture:
        """Trade capture: the records of every fill, statistics and the fixing."""
        return self._capture

    @capture.setter
    def capture(self, capture: TradeCapture) -> None:
        self._capture = capture
        self._engine.set_capture(capture.staging, capture.flush, capture.flush_every)

    # -- clock -------------------------------------------------------------------------------

    def set_time(self, t: float) -> None:
        """Set the simulated clock (seconds since midnight). ValueError with a callable clock."""
        if self._clock is not None:
            raise ValueError("set_time: this exchange reads the clock callable it was given")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) \
                or t < 0:
            raise ValueError(f"set_time: t={t!r} is not a finite number of seconds >= 0")
        self._time = float(t)

    def now(self) -> float:
        """The simulated time, seconds since midnight of the trading date."""
        return float(self._clock()) if self._clock is not None else self._time

    # -- the trading day ---------------------------------------------------------------------

    @property
    def date(self) -> _dt.date | None:
        """The current (or last) trading date, None before the first ``begin_day``."""
        return self._cycle.date

    def session_state(self, name: str) -> SessionState:
        """The state of session ``name`` today; CLOSED before any day has begun."""
        return self._cycle.state(name)

    def begin_day(self, date: _dt.date) -> None:
        """Start trading date ``date``: all sessions CLOSED, settlement dates and swap
        reference rates fixed for the date. NonBusinessDayError for a non-business day at
        home; SessionError if the previous day has not ended or ``date`` does not come after
        it. Nothing changes on error. O(instruments)."""
        self._cycle.begin(date)
        self._engine.new_day()
        if self._journal is not None:
            self._journal.append(BeginDay(date), self.now())

    def open_session(self, name: str) -> SessionSpec:
        """Open session ``name`` (CLOSED -> OPEN); its instruments accept orders. SessionError
        naming the session and state for an illegal transition, or with no day begun."""
        spec = self._cycle.open(name, self.capture)
        if self._journal is not None:
            self._journal.append(OpenSession(name), self.now())
        return spec

    def close_session(self, name: str) -> list[ExpiredOrder]:
        """Close session ``name`` (OPEN -> CLOSED_FOR_DAY): its resting orders expire and their
        holds are released; returns the expired orders (also sent as EXPIRED events).
        O(resting orders). A journal is synced and a snapshot written then."""
        expired = self._close(name)
        if self._journal is not None:
            self._journal.append(CloseSession(name), self.now())
            self._after_close()
        return expired

    def _close(self, name: str) -> list[ExpiredOrder]:
        expired = self._cycle.close(name)
        for order in expired:
            self._engine.release(order.order_id)
        self._reporter.expired(expired)
        self._client_ids.clear()  # every order is gone: only the open session's books held any
        return expired

    def end_of_day(self) -> DayEnd:
        """End the trading date: close the open session (expiring its orders), mark every
        session CLOSED_FOR_DAY, and publish each pair's official rate (the fixing of the day's
        spot trades, see ``FixingConfig``) for the next business day. A journal is synced and
        a snapshot written then."""
        self._cycle._live("end the trading day")
        current = self._cycle.open_session()
        expired = self._close(current.name) if current is not None else []
        date, effective, rates = self._cycle.end(self.capture)
        if self._journal is not None:
            self._journal.append(EndOfDay(), self.now())
            self._after_close()
        return DayEnd(date, expired, effective, rates)

    # -- orders ------------------------------------------------------------------------------

    def submit(self, member: int, instrument: str, side: Side | int, price: Any = None,
               qty: Any = None, tif: TIF | int = TIF.GTC, *, price_ticks: int | None = None,
               lots: int | None = None, client_order_id: str | None = None) -> OrderResult:
        """Enter a limit order; returns its :class:`OrderResult` (id, status, fills).

        ``price``/``qty`` are decimals (quote units per base unit; base units), or give
        ``price_ticks``/``lots`` as ints (``exchange.venue.entry``). Refusals raise
        :class:`OrderRejected` and change nothing: unknown member or instrument, no day or
        session closed, bad side/tif/price/qty, off-tick price, fractional lot, amounts beyond
        int64, missing swap reference rate, insufficient funds or credit, and the book's
        FOK_NOT_FILLED / POST_ONLY_WOULD_CROSS / LEVEL_OVERFLOW. O(1) plus matching.
        """
        t = self.now()
        if price is None and qty is None and client_order_id is None \
                and not self._bus.active and not self._client_ids:
            # plain ints, nobody listening: the engine checks, places and journals it in C
            code, _ = self._engine.try_submit(member, instrument, side, price_ticks, lots, tif, t)
            if code == 0:
                return self._result(lots)  # type: ignore[arg-type]  # an int: the engine took it
        try:
            m, market, side, px, q, tif = self._entry.limit(member, instrument, side, price, qty,
                                                            tif, price_ticks, lots)
            code = self._engine.submit(self._member_index[m.id], market.index, side, px, q, tif,
                                       t)
            if code:
                raise self._engine_refusal(code, market, m.id, side, px, q)
        except OrderRejected as exc:
            self._reporter.refused(exc, member, instrument, side, price_ticks, client_order_id)
            self._journal_refused(t, "submit", exc)
            raise
        if self._journal is not None:
            self._journal.submit(t, m.id, market.index, side, px, q, tif, client_order_id)
        return self._post_trade(market, m.id, side, px, q, False, client_order_id)

    def market(self, member: int, instrument: str, side: Side | int, qty: Any = None, *,
               lots: int | None = None, client_order_id: str | None = None) -> OrderResult:
        """Enter a market order: it trades what the opposite side holds (up to ``qty``) and
        the rest is cancelled. Same refusals as :meth:`submit` (no price ones). A checked
        member's worst case is what the opposite side can fill, walked in the book."""
        t = self.now()
        try:
            m, market, side, q = self._entry.market_order(member, instrument, side, qty, lots)
            code = self._engine.market_order(self._member_index[m.id], market.index, side, q, t)
            if code:
                raise self._engine_refusal(code, market, m.id, side, 0, q)
        except OrderRejected as exc:
            self._reporter.refused(exc, member, instrument, side, 0, client_order_id)
            self._journal_refused(t, "market", exc)
            raise
        if self._journal is not None:
            self._journal.market(t, m.id, market.index, side, q, client_order_id)
        return self._post_trade(market, m.id, side, 0, q, False, client_order_id)

    def cancel(self, member: int, order_id: int) -> OrderResult:
        """Cancel a resting order of ``member``; its hold is released. UnknownOrder (a
        KeyError and OrderRejected) if it is not resting, NotOrderOwner (a PermissionError)
        if it is another member's; nothing changes then (a CancelReject event is sent). O(1)."""
        try:
            m, market, oid, (side, price, _, _) = self._entry.resting(member, order_id, "cancel")
        except (OrderRejected, NotOrderOwner) as exc:
            self._reporter.cancel_refused(exc, member, order_id, "1")
            self._journal_refused(self.now(), "cancel", exc)
            raise
        self._engine.cancel_order(self._member_index[m.id], oid)
        if self._journal is not None:
            self._journal.cancel(self.now(), m.id, oid)
        return self._cancelled(market, oid, m.id, side, price)

    def _cancelled(self, market: Market, oid: int, member: int, side: int, price: int
                   ) -> OrderResult:
        cum = self._engine.last_cum
        reporter = self._reporter
        if reporter.active:
            reporter.bus.publish([reporter.report(ExecType.CANCELED, _CANCELED, oid, member,
                                                  market.symbol, side, price, 0, cum)])
        if self._client_ids:
            self._client_ids.pop(oid, None)
        return OrderResult(oid, _CANCELED, cum, 0)

    def modify(self, member: int, order_id: int, qty: Any = None, price: Any = None, *,
               lots: int | None = None, price_ticks: int | None = None) -> OrderResult:
        """Change a resting order of ``member``: ``qty``/``lots`` is the new resting (open)
        quantity (0 cancels it, as the book's modify does), ``price``/``price_ticks`` the new
        price (None: keep it). A smaller quantity at the same price keeps the order's queue
        place; otherwise it re-enters at the back and may trade at once. A checked member's
        hold grows first (refused with INSUFFICIENT_FUNDS / CREDIT_LIMIT if it cannot) and
        shrinks after. Refusals as :meth:`cancel`, plus the price/qty reasons of
        :meth:`submit` and the book's LEVEL_OVERFLOW; nothing changes then."""
        t = self.now()
        try:
            m, market, oid, (side, old_px, _, _) = self._entry.resting(member, order_id,
                                                                       "modify")
            px, q = self._entry.new_terms(market, old_px, qty, price, lots, price_ticks)
            new_px = 0 if px == old_px else px
            code = self._engine.modify_order(self._member_index[m.id], oid, q, new_px, t)
            if code:
                raise self._engine_refusal(code, market, m.id, side, px, q, oid)
        except (OrderRejected, NotOrderOwner) as exc:
            self._reporter.cancel_refused(exc, member, order_id, "2")
            self._journal_refused(t, "modify", exc)
            raise
        if self._journal is not None:
            self._journal.modify(t, m.id, oid, q, new_px)
        if not q:
            return self._cancelled(market, oid, m.id, side, old_px)
        return self._post_trade(market, m.id, side, px, q, True)

    def _engine_refusal(self, code: int, market: Market, member: int, side: int, px: int,
                        q: int, oid: int = 0) -> OrderRejected:
        return engine_refusal(code, market.symbol, self._engine, self._markets.assets, member,
                              side, px, q, oid)

    def _journal_refused(self, t: float, call: str, error: OrderRejected | NotOrderOwner
                         ) -> None:
        """Journal a refusal (already counted) of a call that never reached the journal."""
        if self._journal is not None:
            self._journal.refused(t, call, error.reason.code)

    # -- post-trade: one path for new orders and modifies -------------------------------------

    def _result(self, q: int) -> OrderResult:
        """The caller's answer to the engine's last new order or modify (of ``q`` lots)."""
        engine = self._engine
        leaves, cum = engine.last_leaves, engine.last_cum
        if leaves:
            status = _PARTIAL if cum else _NEW
        else:
            status = _FILLED if engine.last_executed == q else _CANCELED
        return OrderResult(engine.last_id, status, cum, leaves, self._capture, engine.last_first,
                           engine.last_count)

    def _post_trade(self, market: Market, member: int, side: int, px: int, q: int,
                    replaced: bool, client_order_id: str | None = None) -> OrderResult:
        """After the engine placed a new order or a modify: client ids, events; O(fills)."""
        engine, reporter = self._engine, self._reporter
        oid, leaves = engine.last_id, engine.last_leaves
        if client_order_id is not None:
            self._client_ids[oid] = client_order_id
        result = self._result(q)
        if reporter.active or self._client_ids:
            rows, maker_cums = engine.last_fills()
            stp = engine.last_stp_cancels() if engine.last_stp else []
            if reporter.active:
                reporter.order_events(market.symbol, member, side, px, q, replaced, result,
                                      engine.last_executed, engine.last_first, rows,
                                      maker_cums, stp)
            reporter.forget_done(oid, leaves, rows, stp)
        return result

    # -- batches -----------------------------------------------------------------------------

    def process(self, orders: np.ndarray) -> np.ndarray:
        """Apply a numpy array of ``ORDER_DTYPE`` (action, order_id, member, instrument, side,
        price_ticks, lots, tif) in order; returns ``RESULT_DTYPE`` (order_id, executed, leaves,
        code) per row. Exactly what the same orders sent one by one through
        submit/market/cancel/modify give (ids, fills, records, holds, refusal counts): NEW and
        MARKET rows carry order_id 0 and get the next id; CANCEL and MODIFY name an order of
        that member (MODIFY lots 0 cancels, price 0 keeps the price); ``executed`` is the
        order's fills so far (FIX CumQty), ``leaves`` what rests, ``code`` 0 or the negative
        :class:`RejectReason` code of a refusal, which changed nothing (the batch goes on). The
        clock is read once per batch. With a subscriber or client order ids about, the rows go
        through the single calls (events need them); otherwise the batch stays in C. The batch
        is journaled as one Process record, ahead of its rows (write-ahead: under group commit
        the journal's thread writes it while the rows run). TypeError for another input, with
        nothing journaled or applied. O(rows + fills)."""
        t = self.now()
        check_orders(orders)
        if self._journal is not None:
            self._journal.process(t, orders)
        if self._bus.active or self._client_ids:
            with self._unjournaled():
                results = process_one_by_one(self, orders)
        else:
            results = self._engine.process(orders, t)
            codes = results["code"]
            refused = codes[codes != 0]
            if len(refused):
                for code, count in zip(*np.unique(refused, return_counts=True)):
                    self._reporter.rejections[RejectReason(int(code))] += int(count)
        return results

    # -- reading -----------------------------------------------------------------------------

    def book(self, instrument: str) -> BookView:
        """Read-only view of ``instrument``'s book; KeyError naming an unknown symbol."""
        market = self._markets.by_symbol.get(instrument)
        if market is None:
            raise KeyError(f"unknown instrument {instrument!r}")
        return BookView(market.book, market.instrument)

    def instrument_id(self, symbol: str) -> int:
        """The small integer id of ``symbol`` (stable for the exchange's life)."""
        return self._markets.instrument_id(symbol)

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Receive every order event (ExecutionReport, CancelReject) from now on; returns an
        unsubscribe function. A callback that raises is logged and skipped."""
        return self._reporter.bus.subscribe(callback)

    def rejections(self) -> dict[RejectReason, int]:
        """How many orders, cancels, modifies and withdrawals were refused, by reason."""
        return dict(self._reporter.rejections)

    def trades(self) -> np.ndarray:
        """Every trade record so far (``TRADE_RECORD_DTYPE``), oldest first, read-only."""
        return self.capture.trades()

    def trades_table(self) -> Any:
        """The trade records as a ``pyarrow.Table``."""
        return self.capture.table()

    def trades_frame(self) -> Any:
        """The trade records as a ``pandas.DataFrame``."""
        return self.capture.frame()

    def session_stats(self, trade_date: _dt.date | None = None) -> list[SessionStat]:
        """OHLC, volume, turnover, VWAP per trading date, session and instrument."""
        return self.capture.session_stats(trade_date)

    def session_stats_frame(self, trade_date: _dt.date | None = None) -> Any:
        """:meth:`session_stats` as a ``pandas.DataFrame``."""
        import pandas as pd

        return pd.DataFrame([asdict(s) for s in self.session_stats(trade_date)])

    def official_rate(self, pair: str, date: _dt.date) -> Decimal:
        """The official rate of ``pair`` (``"USDKZT"`` or ``"USD/KZT"``) published for
        ``date``; KeyError naming pair and date if none was published for it."""
        return self.official.get(pair, date)
