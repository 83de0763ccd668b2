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

Cost: ``submit`` of a deferred member that does not trade is O(1) Python work plus the book's;
a fill adds O(1) here (records are built vectorised later, see ``exchange.venue.capture``).
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

from exchange._book import STP, TIF, Action, Side
from exchange.reference.calendar import Calendar
from exchange.reference.dates import day_number
from exchange.reference.fees import FeeSchedule, default_fee_schedule
from exchange.reference.instruments import InstrumentSet, checked_int, default_instruments
from exchange.venue.capture import FixingConfig, OfficialRates, SessionStat, TradeCapture
from exchange.venue.codes import FROM_BOOK, NotOrderOwner, OrderRejected, RejectReason
from exchange.venue.daycycle import DayCycle, DayEnd, ExpiredOrder
from exchange.venue.entry import OrderEntry
from exchange.venue.events import ExecType, OrdStatus
from exchange.venue.markets import BookView, Market, Markets
from exchange.venue.members import Member, MemberRegistry, Regime
from exchange.venue.orders import OrderIndex
from exchange.venue.reporting import Reporter
from exchange.venue.results import OrderResult
from exchange.venue.risk import Funds, PreTradeRisk
from exchange.venue.sessions import SessionSchedule, SessionSpec, SessionState

__all__ = ["Exchange", "OrderResult", "ExpiredOrder", "DayEnd", "BookView"]

log = logging.getLogger("exchange")

_NEW_ORDER, _MARKET_ORDER, _MODIFY = int(Action.NEW), int(Action.MARKET), int(Action.MODIFY)
_FILLED, _PARTIAL = OrdStatus.FILLED, OrdStatus.PARTIALLY_FILLED
_NEW, _CANCELED = OrdStatus.NEW, OrdStatus.CANCELED


class Exchange:
    """A KASE-style exchange over compiled order books; see the module docstring."""

    def __init__(self, instruments: InstrumentSet | None = None, calendar: Calendar | None = None,
                 fees: FeeSchedule | None = None, ledger: Any = None,
                 sessions: SessionSchedule | None = None,
                 clock: Callable[[], float] | None = None, stp: STP | int = STP.CANCEL_INCOMING,
                 reference_rates: Mapping[str, Any] | None = None,
                 fixing: FixingConfig | None = None) -> None:
        self.instruments = default_instruments() if instruments is None else instruments
        if not isinstance(self.instruments, InstrumentSet):
            raise TypeError(f"instruments: expected an InstrumentSet, got "
                            f"{type(self.instruments).__name__}")
        self.calendar = Calendar() if calendar is None else calendar
        self.fees = default_fee_schedule() if fees is None else fees
        self.schedule = SessionSchedule() if sessions is None else sessions
        self.stp = STP(stp)
        self._stp_resting = self.stp == STP.CANCEL_RESTING
        if clock is not None and not callable(clock):
            raise TypeError(f"clock: expected a callable returning seconds, got "
                            f"{type(clock).__name__}")
        self._clock, self._time = clock, 0.0
        self._markets = Markets(self.instruments, self.schedule, self.fees, self.stp)
        self.capture = TradeCapture([m.instrument for m in self._markets])
        self.official = OfficialRates()
        self._cycle = DayCycle(self._markets, self.schedule, self.calendar, self.official,
                               FixingConfig() if fixing is None else fixing,
                               self._markets.reference_ticks(reference_rates or {}))
        self._members = MemberRegistry()
        self._orders = OrderIndex()
        self._entry = OrderEntry(self._members, self._markets, self._orders,
                                 self._cycle.refuse_closed)
        self._reporter = Reporter(self._orders, self.now)
        self._bus, self._market_of = self._reporter.bus, self._orders.market_of  # hot path
        self._ledger = ledger
        self._risk: PreTradeRisk | None = None
        self._checked: set[int] = set()  # members whose every order risk checks

    # -- members and their money -------------------------------------------------------------

    def add_member(self, member_id: int, name: str, regime: Regime = Regime.DEFERRED,
                   credit_limits: Mapping[str, Any] | None = None) -> Member:
        """Register a member. ``credit_limits`` (DEFERRED only) maps a currency code to the
        limit in whole currency units (Decimal, str or int: ``{"KZT": "5000000"}``).

        Every member gets ledger accounts in every asset of the instrument set (an in-memory
        ledger is made if none was given); fund them with :meth:`deposit`. Raises
        ValueError/TypeError/KeyError with nothing changed.
        """
        assets = self.instruments.assets
        limits = {}
        for code, amount in (credit_limits or {}).items():
            if code not in assets:
                raise KeyError(f"credit_limits: unknown currency {code!r}")
            limits[code] = assets[code].to_minor(amount)
        member = Member(member_id, name, regime, limits)
        if member.id in self._members:
            raise ValueError(f"member id {member.id} is already registered")
        self.ledger.open_accounts([(member.id, code) for code in sorted(assets)])
        self.risk.add_member(member.id, member.prefunded, member.credit_limits)
        if member.prefunded or member.credit_limits:
            self._checked.add(member.id)
        self._members.add(member)
        return member

    @property
    def members(self) -> MemberRegistry:
        return self._members

    @property
    def ledger(self) -> Any:
        """The clearing ledger holding settled balances (an in-memory one made on first use)."""
        if self._ledger is None:
            from exchange.clearing.ledger import Ledger  # the default backend, not a layer call

            self._ledger = Ledger()
        return self._ledger

    @property
    def risk(self) -> PreTradeRisk:
        """The pre-trade risk stage (holds, commitments), reading balances from the ledger."""
        if self._risk is None:
            self._risk = PreTradeRisk(self.ledger)
            listen = getattr(self.ledger, "add_listener", None)
            if listen is not None:
                listen(self._settled)
        return self._risk

    def _settled(self, notice: Any) -> None:
        """The ledger settled a date: its commitments are balances now."""
        roll = None if notice.roll_to is None else day_number(notice.roll_to)
        self.risk.settled(day_number(notice.date), roll, notice.carried)

    def deposit(self, member: int, asset: str, amount: int) -> None:
        """Credit ``amount`` minor units of ``asset`` to ``member`` (a top-up). KeyError for an
        unknown member or asset, ValueError/TypeError for a bad amount; nothing changes then."""
        found = self._members.get(member)
        self.ledger.deposit(found.id, asset, amount)

    def withdraw(self, member: int, asset: str, amount: int) -> None:
        """Pay ``amount`` minor units of ``asset`` out to ``member``: refused
        (OrderRejected(INSUFFICIENT_FUNDS), counted, nothing changed) if it would take
        :meth:`funds`' ``available`` below zero: holds and known future debits stay covered."""
        found = self._members.get(member)
        value = checked_int(amount, "amount", 1, ValueError)
        available = self.funds(found.id, asset).available
        if value > available:
            error = OrderRejected(RejectReason.INSUFFICIENT_FUNDS,
                                  f"withdraw: member {found.id} asks {value} {asset} minor "
                                  f"units, available {available}")
            self._reporter.rejections[error.reason] += 1
            raise error
        self.ledger.withdraw(found.id, asset, value)

    def funds(self, member: int, asset: str) -> Funds:
        """``member``'s :class:`~exchange.venue.risk.Funds` in ``asset`` (minor units):
        balance, reserved, committed, available. KeyError for an unknown member or asset."""
        found = self._members.get(member)
        if asset not in self.instruments.assets:
            raise KeyError(f"unknown asset {asset!r}")
        return self.risk.funds(found.id, asset)

    def credit_exposure(self, member_id: int, currency: str) -> int:
        """A credit-limited member's net owed plus open-order worst case, minor units."""
        return self.risk.credit_exposure(member_id, currency)

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
        self.risk.new_day()

    def open_session(self, name: str) -> SessionSpec:
        """Open session ``name`` (CLOSED -> OPEN); its instruments accept orders. SessionError
        naming the session and state for an illegal transition, or with no day begun."""
        return self._cycle.open(name, self.capture)

    def close_session(self, name: str) -> list[ExpiredOrder]:
        """Close session ``name`` (OPEN -> CLOSED_FOR_DAY): its resting orders expire and their
        holds are released; returns the expired orders (also sent as EXPIRED events).
        O(resting orders)."""
        expired = self._cycle.close(name)
        for order in expired:
            self.risk.finish(order.order_id, 0)
        self._reporter.expired(expired)
        self._orders.clear()  # every order is gone: only the open session's books held any
        return expired

    def end_of_day(self) -> DayEnd:
        """End the trading date: close the open session (expiring its orders), mark every
        session CLOSED_FOR_DAY, and publish each pair's official rate (the fixing of the day's
        spot trades, see ``FixingConfig``) for the next business day."""
        self._cycle._live("end the trading day")
        current = self._cycle.open_session()
        expired = self.close_session(current.name) if current is not None else []
        date, effective, rates = self._cycle.end(self.capture)
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
        try:
            m, market, side, px, q, tif = self._entry.limit(member, instrument, side, price, qty,
                                                            tif, price_ticks, lots)
            oid = len(self._market_of)
            checked = market.prefunded or m.id in self._checked
            if checked:
                self._hold(oid, m.id, market, side, px, q)
            done, leaves, _, code = market.book.apply(_NEW_ORDER, oid, side, px, q, tif, m.id)
            if code:
                self._book_refused(oid, checked, code, market, side, px, q)
        except OrderRejected as exc:
            self._reporter.refused(exc, member, instrument, side, price_ticks, client_order_id)
            raise
        self._market_of.append(market.index)  # the order id is taken: the order was accepted
        if px > market.max_px:
            market.max_px = px
        if client_order_id is not None:
            self._orders.client_ids[oid] = client_order_id
        if done or client_order_id is not None or self._bus.active or self._stp_resting:
            return self._post_trade(market, oid, m.id, side, px, q, done, leaves, False)
        if checked and not leaves:  # an IOC that found nothing: its hold ends with it
            self.risk.finish(oid, 0)
        return OrderResult(oid, _NEW if leaves else _CANCELED, 0, leaves)  # the common case

    def market(self, member: int, instrument: str, side: Side | int, qty: Any = None, *,
               lots: int | None = None, client_order_id: str | None = None) -> OrderResult:
        """Enter a market order: it trades what the opposite side holds (up to ``qty``) and
        the rest is cancelled. Same refusals as :meth:`submit` (no price ones). A checked
        member's worst case is walked from the opposite side of the book."""
        try:
            m, market, side, q = self._entry.market_order(member, instrument, side, qty, lots)
            oid = self._orders.next_id
            checked = market.prefunded or m.id in self._checked
            if checked:
                account = self.risk.account_for(m.id, market.risk_terms)
                self.risk.hold_market(oid, account, market.risk_terms, side, q,
                                      market.reachable(side, m.id, self.stp))
        except OrderRejected as exc:
            self._reporter.refused(exc, member, instrument, side, 0, client_order_id)
            raise
        done, leaves, _, _ = market.book.apply(_MARKET_ORDER, oid, side, 0, q, 0, m.id)
        self._orders.accept(market.index, client_order_id)
        return self._post_trade(market, oid, m.id, side, 0, q, done, leaves, False)

    def cancel(self, member: int, order_id: int) -> OrderResult:
        """Cancel a resting order of ``member``; its hold is released. UnknownOrder (a
        KeyError and OrderRejected) if it is not resting, NotOrderOwner (a PermissionError)
        if it is another member's; nothing changes then (a CancelReject event is sent). O(1)."""
        try:
            m, market, oid, (side, price, _, _) = self._entry.resting(member, order_id, "cancel")
        except (OrderRejected, NotOrderOwner) as exc:
            self._reporter.cancel_refused(exc, member, order_id, "1")
            raise
        return self._cancel(market, oid, m.id, side, price)

    def _cancel(self, market: Market, oid: int, member: int, side: int, price: int
                ) -> OrderResult:
        market.book.cancel(oid)
        if self._risk is not None:
            self._risk.finish(oid, 0)
        reporter = self._reporter
        if reporter.active:
            reporter.bus.publish([reporter.report(ExecType.CANCELED, _CANCELED, oid, member,
                                                  market.symbol, side, price, 0,
                                                  self._orders.cum.get(oid, 0))])
        return OrderResult(oid, _CANCELED, self._orders.done(oid), 0)

    def modify(self, member: int, order_id: int, qty: Any = None, price: Any = None, *,
               lots: int | None = None, price_ticks: int | None = None) -> OrderResult:
        """Change a resting order of ``member``: ``qty``/``lots`` is the new resting (open)
        quantity (0 cancels it, as the book's modify does), ``price``/``price_ticks`` the new
        price (None: keep it). A smaller quantity at the same price keeps the order's queue
        place; otherwise it re-enters at the back and may trade at once. A checked member's
        hold grows first (refused with INSUFFICIENT_FUNDS / CREDIT_LIMIT if it cannot) and
        shrinks after. Refusals as :meth:`cancel`, plus the price/qty reasons of
        :meth:`submit` and the book's LEVEL_OVERFLOW; nothing changes then."""
        try:
            m, market, oid, (side, old_px, _, _) = self._entry.resting(member, order_id,
                                                                       "modify")
            px, q = self._entry.new_terms(market, side, old_px, qty, price, lots, price_ticks)
            before = self._rehold(oid, market, side, px, q) if q else None
            if q:
                done, leaves, _, code = market.book.apply(_MODIFY, oid, 0,
                                                          0 if px == old_px else px, q)
                if code:
                    if self._risk is not None:
                        self._risk.restore(oid, before)
                    raise OrderRejected(FROM_BOOK[code], f"modify: order {oid} to {q} lots at "
                                                         f"{px} ticks: {FROM_BOOK[code].value}")
        except (OrderRejected, NotOrderOwner) as exc:
            self._reporter.cancel_refused(exc, member, order_id, "2")
            raise
        if not q:
            return self._cancel(market, oid, m.id, side, old_px)
        if px > market.max_px:
            market.max_px = px
        return self._post_trade(market, oid, m.id, side, px, q, done, leaves, True)

    # -- risk R1 -----------------------------------------------------------------------------

    def _hold(self, oid: int, member: int, market: Market, side: int, px: int, q: int) -> None:
        risk, rt = self.risk, market.risk_terms
        risk.hold(oid, risk.account_for(member, rt), rt, side, q, market.worst_price(side, px))

    def _rehold(self, oid: int, market: Market, side: int, px: int, q: int) -> tuple | None:
        if self._risk is None or oid not in self._risk.holds:
            return None
        return self._risk.rehold(oid, side, q, market.worst_price(side, px))

    def _book_refused(self, oid: int, checked: bool, code: int, market: Market, side: int,
                      px: int, q: int) -> None:
        """The book refused a new order: release its hold and raise the exchange's refusal."""
        if checked:
            self.risk.finish(oid, 0)
        reason = FROM_BOOK[code]
        if reason is RejectReason.FOK_NOT_FILLED:
            text = f"fill-or-kill order of side {side} at {px} ticks cannot fill in full"
        elif reason is RejectReason.POST_ONLY_WOULD_CROSS:
            text = f"post-only order at {px} ticks would trade on arrival"
        else:
            text = f"{q} lots at {px} ticks: {reason.value}"
        raise OrderRejected(reason, f"{market.symbol}: {text}")

    # -- post-trade: one path for new orders and modifies -------------------------------------

    def _post_trade(self, market: Market, oid: int, member: int, side: int, px: int, q: int,
                    done: int, leaves: int, replaced: bool) -> OrderResult:
        """Capture the fills, release risk (R2), update the order index, report; O(fills)."""
        orders, reporter = self._orders, self._reporter
        before = orders.cum.get(oid, 0) if replaced else 0
        first = count = 0
        rows: list[tuple] = []
        if done:
            fills = market.book.drain_trades()
            count = len(fills)
            first = self.capture.add(fills, market.terms, self.now())
            rows = fills.tolist()
        stp = market.drain_stp_cancels() if self._stp_resting else []
        cum = before + done
        if leaves:
            status = _PARTIAL if cum else _NEW
        else:
            status = _FILLED if done == q else _CANCELED
        events: list | None = None
        if reporter.active:
            head = ExecType.REPLACED if replaced else ExecType.NEW
            events = [reporter.report(head, _PARTIAL if before else _NEW, oid, member,
                                      market.symbol, side, px, q, before)]
            reporter.fills(events, market.symbol, rows, first, px, before)
            reporter.stp_cancelled(events, market.symbol, stp)
            if status is _CANCELED:
                events.append(reporter.report(
                    ExecType.CANCELED, _CANCELED, oid, member, market.symbol, side, px, 0, cum,
                    text="self-trade prevention" if replaced else
                    "remainder cancelled (IOC, market order or self-trade prevention)"))
        risk = self._risk
        if risk is not None and risk.holds:
            risk.release(market.risk_terms, oid, leaves, rows, stp)
        if rows:
            orders.makers_filled(rows)
        for row in stp:
            orders.done(row[0])
        if events is not None:
            reporter.bus.publish(events)
        if leaves:
            if cum:
                orders.cum[oid] = cum
        else:
            orders.done(oid)
        return OrderResult(oid, status, cum, leaves, self.capture, first, count)

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
