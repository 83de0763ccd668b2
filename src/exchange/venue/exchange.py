"""The exchange facade: members send orders, the exchange checks, matches, captures and reports.

Pipeline of one order, one module per step::

    Exchange.submit -> pre-trade check (members) -> matching (OrderBook, one per instrument)
                    -> post-trade: trade records, fees, statistics (capture); events (events)
                    -> clearing, later and outside the exchange: it reads trades()

Prices and quantities (documented choice, the least surprising one): the positional ``price``
and ``qty`` are always decimal amounts -- a price in quote units per base unit (swap points for
a swap) and a quantity in base units (USD, pieces) -- given as ``Decimal``, ``str`` or ``int``
(``500`` means 500 KZT, not 500 ticks); floats are refused. The integer grid is reached through
the keyword-only ``price_ticks=`` and ``lots=`` (positive ints), which is also the fast path a
simulation should use. Exactly one of ``price``/``price_ticks`` and of ``qty``/``lots`` is given.
Money is integer minor units everywhere inside.

Order ids are assigned by the exchange (1, 2, 3, ... across all instruments). Only the member
that owns a resting order may cancel or modify it (:class:`~exchange.venue.events.NotOrderOwner`, a
``PermissionError``, for anyone else; the order is untouched).

Self-trade prevention defaults to ``STP.CANCEL_INCOMING``: the resting order keeps its place
(its owner chose that price and priority earlier) and the incoming remainder is cancelled and
reported; it is also the cheaper mode here, as the book records nothing to drain.
``STP.CANCEL_RESTING`` and ``STP.NONE`` are supported too.

Swap reference rate (documented choice): the near leg of a swap settles at the official rate in
force on the trade date (the latest one published for that date or before, rounded half up to a
tick of the swap's underlying); if the pair has none yet, at ``reference_rates[pair]`` given to
the constructor; with neither, swap orders are refused with ``NO_REFERENCE_RATE``. The rate is
fixed at :meth:`Exchange.begin_day` for the whole date.

Cost: ``submit`` of a deferred member without a credit limit does O(1) Python work plus the
book's matching; a fill adds O(1) here (records are built vectorised later, see
``exchange.venue.capture``). Events are built only while somebody subscribes.
"""
from __future__ import annotations

import datetime as _dt
import math
import operator
from array import array
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

import numpy as np

from exchange._book import STP, TIF, TRADE_DTYPE, OrderBook, Side
from exchange.reference.calendar import Calendar, NonBusinessDayError
from exchange.venue.capture import (
    FeeTerms,
    FixingConfig,
    OfficialRates,
    SessionStat,
    Terms,
    TradeCapture,
    pair_of,
)
from exchange.venue.events import (
    CancelReject,
    EventBus,
    ExecType,
    ExecutionReport,
    NotOrderOwner,
    OrderRejected,
    OrdStatus,
    OrderTypeRejected,
    RejectReason,
    UnknownOrder,
)
from exchange.reference.fees import FeeSchedule, default_fee_schedule
from exchange.reference.instruments import (
    MAX_INT64,
    Asset,
    Instrument,
    InstrumentSet,
    InstrumentValueError,
    Kind,
    default_instruments,
    to_decimal,
)
from exchange.venue.members import (
    CreditAccount,
    LedgerAccount,
    Member,
    MemberRegistry,
    PreTradeRisk,
    Regime,
)
from exchange.records import SESSION_NAMES
from exchange.venue.sessions import SessionError, SessionSchedule, SessionSpec, SessionState, TradingDay

__all__ = ["Exchange", "OrderResult", "ExpiredOrder", "DayEnd", "BookView"]

R = RejectReason
_GTC, _IOC, _FOK, _POST_ONLY = int(TIF.GTC), int(TIF.IOC), int(TIF.FOK), int(TIF.POST_ONLY)
# Positions of the book's trade fields in a drained row's .tolist() tuple.
_F = {name: i for i, name in enumerate(TRADE_DTYPE.names)}
_TAKER_ID, _MAKER_ID = _F["taker_id"], _F["maker_id"]
_TAKER_OWNER, _MAKER_OWNER = _F["taker_owner"], _F["maker_owner"]
_TAKER_SIDE, _PRICE, _QTY = _F["taker_side"], _F["price"], _F["qty"]
_FILLED, _PARTIAL, _NEW = OrdStatus.FILLED, OrdStatus.PARTIALLY_FILLED, OrdStatus.NEW
_CANCELED = OrdStatus.CANCELED


class OrderResult:
    """The outcome of ``submit``, ``market``, ``cancel`` or ``modify`` for one order.

    ``status`` is the FIX OrdStatus after the call; ``executed_qty`` the lots filled so far
    (FIX CumQty), ``leaves_qty`` the lots still resting. ``trades`` is the trade records this
    call made (a numpy array of ``TRADE_RECORD_DTYPE``, built on first access).
    """

    __slots__ = ("order_id", "status", "executed_qty", "leaves_qty", "_capture", "_first",
                 "_count", "_trades")

    def __init__(self, order_id: int, status: OrdStatus, executed_qty: int, leaves_qty: int,
                 capture: TradeCapture | None = None, first: int = 0, count: int = 0) -> None:
        self.order_id, self.status = order_id, status
        self.executed_qty, self.leaves_qty = executed_qty, leaves_qty
        self._capture, self._first, self._count = capture, first, count
        self._trades: np.ndarray | None = None

    @property
    def trades(self) -> np.ndarray:
        if self._trades is None:
            if self._capture is None or self._count == 0:
                from exchange.records import empty_trades

                self._trades = empty_trades(0)
            else:
                self._trades = self._capture.records(self._first, self._count)
        return self._trades

    @property
    def trade_ids(self) -> range:
        """Ids of the trades this call made (consecutive)."""
        return range(self._first, self._first + self._count)

    def __repr__(self) -> str:
        return (f"OrderResult(order_id={self.order_id}, status={self.status.name}, "
                f"executed_qty={self.executed_qty}, leaves_qty={self.leaves_qty}, "
                f"trades={self._count})")


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


class _Market:
    """One instrument's book and its state for the current date and session."""

    __slots__ = ("index", "instrument", "symbol", "book", "sessions", "fees", "open", "terms",
                 "blocked", "settle", "far", "ref", "fixed", "f", "max_px")

    def __init__(self, index: int, instrument: Instrument, book: OrderBook,
                 sessions: tuple[int, ...], fees: FeeTerms) -> None:
        self.index, self.instrument, self.symbol = index, instrument, instrument.symbol
        self.book, self.sessions, self.fees = book, sessions, fees
        self.open = False  # the hot path's one test: session open and nothing blocks it
        self.terms: Terms | None = None
        self.blocked: tuple[RejectReason, str] | None = None
        self.settle: _dt.date | None = None
        self.far: _dt.date | None = None
        self.ref = 0
        self.f = instrument.quote_amount(1, 1)
        self.fixed = 0  # value per lot that does not depend on the price (a swap's near leg)
        self.max_px = 0  # highest limit price entered since the book was last empty


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
        self.fixing_config = FixingConfig() if fixing is None else fixing
        if clock is not None and not callable(clock):
            raise TypeError(f"clock: expected a callable returning seconds, got "
                            f"{type(clock).__name__}")
        self._clock, self._time = clock, 0.0
        self._ledger = ledger
        self._members = MemberRegistry()
        self._member_ids: dict[int, Member] = {}
        self._risk = PreTradeRisk()
        self._tracked: set[int] = set()
        self._bus = EventBus()
        self._rejections: Counter[RejectReason] = Counter()
        self._markets: dict[str, _Market] = {}
        self._by_index: list[_Market] = []
        for symbol in self.instruments:
            ins = self.instruments[symbol]
            market = _Market(len(self._by_index), ins, OrderBook(stp=self.stp),
                             self.schedule.sessions_of(ins), FeeTerms.of(self.fees, ins))
            self._markets[symbol] = market
            self._by_index.append(market)
        self._reference = self._reference_rates(reference_rates or {})
        self.capture = TradeCapture([m.instrument for m in self._by_index])
        self.official = OfficialRates()
        self._day: TradingDay | None = None
        self._next_id = 1
        self._order_market = array("I", [0])  # order id -> market index (ids start at 1)
        self._cum: dict[int, int] = {}  # lots filled so far of partly filled resting orders
        self._client_ids: dict[int, str] = {}
        self._home = Asset("HOME", 2, self.calendar.home_region)

    def _reference_rates(self, rates: Mapping[str, Any]) -> dict[str, int]:
        """Configured swap reference rates in ticks of each pair's swap underlying."""
        underlying = {pair_of(m.instrument): m.instrument.underlying for m in self._by_index
                      if m.instrument.kind is Kind.FX_SWAP}
        result = {}
        for pair, rate in rates.items():
            key = pair.replace("/", "")
            if key not in underlying:
                raise KeyError(f"reference_rates: no swap trades pair {pair!r}")
            result[key] = underlying[key].to_ticks(rate)
        return result

    # -- members ---------------------------------------------------------------------------

    def add_member(self, member_id: int, name: str, regime: Regime = Regime.DEFERRED,
                   credit_limits: Mapping[str, Any] | None = None) -> Member:
        """Register a member. ``credit_limits`` (DEFERRED only) maps a currency code to the
        limit in whole currency units (Decimal, str or int: ``{"KZT": "5000000"}``).

        Every member gets ledger accounts in every asset of the instrument set (the exchange
        makes an in-memory ``Ledger`` if none was given); fund them with
        ``exchange.ledger.deposit``. Raises ValueError/TypeError/KeyError with nothing changed.
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
        # every member gets its accounts: settlement moves deferred members' assets too
        for code in sorted(assets):
            self.ledger.open_account(member.id, code)
        if regime is Regime.PREFUNDED:
            self._risk.add_account(member.id, LedgerAccount(member.id, self.ledger))
        elif limits:
            self._risk.add_account(member.id, CreditAccount(member.id, member.credit_limits))
        self._members.add(member)
        self._member_ids[member.id] = member
        if member.tracked:
            self._tracked.add(member.id)
        return member

    @property
    def members(self) -> MemberRegistry:
        return self._members

    @property
    def ledger(self) -> Any:
        """The clearing ledger pre-funded members' orders reserve against (made on first use)."""
        if self._ledger is None:
            from exchange.clearing.ledger import Ledger

            self._ledger = Ledger()
        return self._ledger

    def credit_exposure(self, member_id: int, currency: str) -> int:
        """A credit-limited member's net owed plus open-order worst case, minor units."""
        account = self._risk.accounts.get(member_id)
        if not isinstance(account, CreditAccount):
            raise KeyError(f"member {member_id!r} has no credit limit")
        return account.exposure(currency)

    # -- clock -----------------------------------------------------------------------------

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

    # -- the trading day -------------------------------------------------------------------

    @property
    def date(self) -> _dt.date | None:
        """The current (or last) trading date, None before the first ``begin_day``."""
        return None if self._day is None else self._day.date

    def session_state(self, name: str) -> SessionState:
        """The state of session ``name`` today; CLOSED before any day has begun."""
        if self._day is None:
            self.schedule.spec(name)
            return SessionState.CLOSED
        return self._day.state(name)

    def begin_day(self, date: _dt.date) -> None:
        """Start trading date ``date``: all sessions CLOSED, settlement dates and swap
        reference rates fixed for the date. NonBusinessDayError (from the calendar's rules)
        for a non-business day at home; SessionError if the previous day has not ended or
        ``date`` does not come after it. Nothing changes on error. O(instruments)."""
        if not isinstance(date, _dt.date) or isinstance(date, _dt.datetime):
            raise TypeError(f"date: expected a datetime.date, got {type(date).__name__} "
                            f"{date!r}")
        if self._day is not None and not self._day.ended:
            raise SessionError(f"cannot begin {date.isoformat()}: trading day "
                               f"{self._day.date.isoformat()} has not ended (call end_of_day)")
        if self._day is not None and date <= self._day.date:
            raise SessionError(f"cannot begin {date.isoformat()}: trading dates must advance "
                               f"(last was {self._day.date.isoformat()})")
        if not self.calendar.is_business_day(date, (self._home,)):
            raise NonBusinessDayError(f"trade date {date.isoformat()} is not a business day in "
                                      f"{self.calendar.home_region}: no trading")
        plans = [self._plan(m, date) for m in self._by_index]
        for market, plan in zip(self._by_index, plans):
            market.settle, market.far, market.ref, market.blocked = plan
            market.fixed = 0 if not market.ref else \
                market.ref * market.instrument.swap_legs(1, 1, 1).near_quote
            market.open, market.terms, market.max_px = False, None, 0
        self._risk.new_day()
        self._day = TradingDay(date, self.schedule)

    def _plan(self, market: _Market, date: _dt.date) -> tuple:
        """(settle date, far date, reference ticks, blocked) of ``market`` on ``date``."""
        ins = market.instrument
        try:
            settle = self.calendar.settlement_date(date, ins)
            far = self.calendar.settlement_date(date, ins, far=True) \
                if ins.kind is Kind.FX_SWAP else None
        except NonBusinessDayError as exc:
            return None, None, 0, (R.NOT_TRADING_DAY, str(exc))
        if ins.kind is not Kind.FX_SWAP:
            return settle, far, 0, None
        ref = self._swap_reference(ins, date)
        if ref is None:
            return settle, far, 0, (R.NO_REFERENCE_RATE,
                                    f"{ins.symbol}: no official rate of {pair_of(ins)} in force "
                                    f"on {date.isoformat()} and no configured reference rate")
        return settle, far, ref, None

    def _swap_reference(self, ins: Instrument, date: _dt.date) -> int | None:
        pair = pair_of(ins)
        found = self.official.in_force(pair, date)
        if found is not None:
            tick = ins.underlying.tick_size
            return ins.underlying.to_ticks(found[1].quantize(tick, rounding=ROUND_HALF_UP))
        return self._reference.get(pair)

    def open_session(self, name: str) -> SessionSpec:
        """Open session ``name`` (CLOSED -> OPEN); its instruments accept orders. SessionError
        naming the session and state for an illegal transition, or with no day begun."""
        day = self._live_day(f"open session {name!r}")
        spec = day.open(name)
        for market in self._by_index:
            if spec.code in market.sessions:
                if market.blocked is None:
                    market.terms = self.capture.register(Terms(
                        market.instrument, market.index, spec.code, day.date, market.settle,
                        market.far, market.ref, market.fees))
                market.open = market.blocked is None
        return spec

    def close_session(self, name: str) -> list[ExpiredOrder]:
        """Close session ``name`` (OPEN -> CLOSED_FOR_DAY): its resting orders expire, their
        reservations are released; returns the expired orders (also sent as EXPIRED events).
        O(resting orders)."""
        day = self._live_day(f"close session {name!r}")
        spec = day.close(name)
        expired: list[ExpiredOrder] = []
        for market in self._by_index:
            if spec.code in market.sessions:
                market.open, market.max_px = False, 0
                self._expire(market, expired)
        events = self._expiry_events(expired) if self._bus.active else None
        self._cum.clear()  # every order is gone: only the open session's books held any
        self._client_ids.clear()
        if events:
            self._bus.publish(events)
        return expired

    def _expire(self, market: _Market, expired: list[ExpiredOrder]) -> None:
        removed = market.book.clear()
        if len(removed) == 0:
            return
        symbol, finish = market.symbol, self._risk.finish
        names = removed.dtype.names
        pos = [names.index(n) for n in ("order_id", "owner", "side", "price", "qty")]
        for row in removed.tolist():
            oid, owner, side, price, qty = (row[i] for i in pos)
            finish(oid, 0)
            expired.append(ExpiredOrder(oid, owner, symbol, side, price, qty))

    def _expiry_events(self, expired: list[ExpiredOrder]) -> list[ExecutionReport]:
        now, bus, cum, ids = self.now(), self._bus, self._cum, self._client_ids
        return [ExecutionReport(bus.next_id(), ExecType.EXPIRED, OrdStatus.EXPIRED, e.order_id,
                                ids.get(e.order_id), e.member, e.instrument, e.side,
                                e.price_ticks, 0, 0, 0, cum.get(e.order_id, 0), now,
                                text="session closed")
                for e in expired]

    def end_of_day(self) -> DayEnd:
        """End the trading date: close the open session (expiring its orders), mark every
        session CLOSED_FOR_DAY, and publish each pair's official rate (the fixing of the
        day's spot trades, see ``FixingConfig``) for the next business day."""
        day = self._live_day("end the trading day")
        current = day.open_session
        expired = self.close_session(current.name) if current is not None else []
        day.end()
        rates = self.capture.fixing(day.date, self.fixing_config)
        effective = self.calendar.next_business_day(day.date, (self._home,))
        for pair, rate in rates.items():
            self.official.publish(pair, effective, rate)
        return DayEnd(day.date, expired, effective, rates)

    def _live_day(self, what: str) -> TradingDay:
        if self._day is None:
            raise SessionError(f"cannot {what}: no trading day has begun (call begin_day)")
        if self._day.ended:
            raise SessionError(f"cannot {what}: trading day {self._day.date.isoformat()} "
                               f"has ended")
        return self._day

    # -- refusals --------------------------------------------------------------------------

    def _refused(self, error: OrderRejected, member: Any, symbol: Any, side: Any,
                 price_ticks: Any, client_order_id: str | None) -> None:
        """Count a refused order and report it (a REJECTED event); the caller re-raises."""
        self._rejections[error.reason] += 1
        if self._bus.active:
            self._bus.publish([ExecutionReport(
                self._bus.next_id(), ExecType.REJECTED, OrdStatus.REJECTED, 0, client_order_id,
                member if type(member) is int else -1, str(symbol)[:16],
                side if type(side) is int and side in (0, 1) else -1,
                price_ticks if type(price_ticks) is int else 0, 0, 0, 0, 0, self.now(),
                reason=error.reason, text=error.message)])

    def _cancel_refused(self, error: OrderRejected | NotOrderOwner, member: Any, order_id: Any,
                        response_to: str) -> None:
        """Count a refused cancel/modify and report it (a CancelReject event)."""
        self._rejections[error.reason] += 1
        if self._bus.active:
            self._bus.publish([CancelReject(
                self._bus.next_id(), order_id if type(order_id) is int else 0,
                member if type(member) is int else -1, response_to, error.reason,
                error.message, self.now())])

    def rejections(self) -> dict[RejectReason, int]:
        """How many orders, cancels and modifies were refused, by reason."""
        return dict(self._rejections)

    # -- validation: each helper raises OrderRejected and changes nothing -------------------

    def _member(self, member: Any) -> Member:
        found = None
        if not isinstance(member, bool):
            try:
                found = self._member_ids.get(operator.index(member))
            except TypeError:
                found = None
        if found is None:
            raise OrderRejected(R.UNKNOWN_MEMBER, f"member {member!r} is not registered")
        return found

    def _market(self, instrument: Any) -> _Market:
        market = self._markets.get(instrument) if type(instrument) is str else None
        if market is None:
            raise OrderRejected(R.UNKNOWN_INSTRUMENT, f"unknown instrument {instrument!r}")
        return market

    def _closed(self, market: _Market) -> None:
        """Refuse an order for a market that is not open, with the precise reason."""
        day = self._day
        if day is None or day.ended:
            raise OrderRejected(R.NO_TRADING_DAY, "no trading day is in progress "
                                                  "(call begin_day)")
        if not any(day.states[code] is SessionState.OPEN for code in market.sessions):
            names = "/".join(SESSION_NAMES[c] for c in market.sessions)
            raise OrderRejected(R.SESSION_CLOSED, f"{market.symbol} trades in the {names} "
                                                  f"session, which is not open")
        raise OrderRejected(*market.blocked)

    @staticmethod
    def _int_field(value: Any, reason: RejectReason, what: str, low: int, high: int) -> int:
        if isinstance(value, bool):
            raise OrderTypeRejected(reason, f"{what}={value!r}: expected an integer, got bool")
        try:
            number = operator.index(value)
        except TypeError:
            raise OrderTypeRejected(reason, f"{what}={value!r}: expected an integer, got "
                                            f"{type(value).__name__}") from None
        if not low <= number <= high:
            raise OrderRejected(reason, f"{what}={number} is not in {low}..{high}")
        return number

    def _ticks(self, ins: Instrument, price: Any, price_ticks: Any) -> int:
        if price_ticks is not None:
            if price is not None:
                raise OrderTypeRejected(R.INVALID_PRICE, "give price or price_ticks, not both")
            return self._int_field(price_ticks, R.INVALID_PRICE, "price_ticks", 1, MAX_INT64)
        if price is None:
            raise OrderTypeRejected(R.INVALID_PRICE, f"{ins.symbol}: a limit order needs "
                                                     f"price (decimal) or price_ticks (int)")
        return self._grid(ins, price, ins.tick_size, ins.to_ticks, "price", R.INVALID_PRICE,
                          R.OFF_TICK)

    def _lots(self, ins: Instrument, qty: Any, lots: Any) -> int:
        if lots is not None:
            if qty is not None:
                raise OrderTypeRejected(R.INVALID_QTY, "give qty or lots, not both")
            return self._int_field(lots, R.INVALID_QTY, "lots", 1, MAX_INT64)
        if qty is None:
            raise OrderTypeRejected(R.INVALID_QTY, f"{ins.symbol}: an order needs qty "
                                                   f"(decimal base units) or lots (int)")
        return self._grid(ins, qty, ins.lot_size, ins.to_lots, "qty", R.INVALID_QTY, R.OFF_LOT)

    @staticmethod
    def _grid(ins: Instrument, value: Any, step: Decimal, convert: Callable[[Any], int],
              what: str, invalid: RejectReason, off: RejectReason) -> int:
        """A decimal price or quantity as ticks or lots, refused with the precise reason."""
        try:
            number = to_decimal(value, f"{ins.symbol} {what}")
        except TypeError as exc:
            raise OrderTypeRejected(invalid, str(exc)) from None
        except ValueError as exc:
            raise OrderRejected(invalid, str(exc)) from None
        if number <= 0:
            raise OrderRejected(invalid, f"{ins.symbol} {what} {number} is not positive")
        try:
            return convert(number)
        except InstrumentValueError as exc:
            # off the grid, or so large that the count of steps leaves int64
            too_big = number.adjusted() - step.adjusted() > 18
            raise OrderRejected(invalid if too_big else off, str(exc)) from None

    def _too_large(self, market: _Market, side: int, px: int, lots: int) -> None:
        """Refuse if some fill of this order (px 0: a market order) could write an amount
        beyond int64. Called only when the cheap bound on the book's prices fails."""
        book = market.book
        worst = px
        if side == 1:  # a sell fills at the bids' prices, the best bid first
            best = book.best_bid()
            worst = max(px, best[0] if best else 0)
        elif px == 0:  # a market buy walks the asks: the last level is the worst
            _, asks = book.depth(MAX_INT64)
            worst = int(asks[-1, 0]) if len(asks) else 0
        if lots * (market.fixed + worst * market.f) > MAX_INT64:
            raise OrderRejected(R.VALUE_TOO_LARGE, f"{market.symbol}: {lots} lots at up to "
                                f"{worst} ticks exceed an int64 amount of minor units")

    # -- orders ----------------------------------------------------------------------------

    def submit(self, member: int, instrument: str, side: Side | int, price: Any = None,
               qty: Any = None, tif: TIF | int = TIF.GTC, *, price_ticks: int | None = None,
               lots: int | None = None, client_order_id: str | None = None) -> OrderResult:
        """Enter a limit order; returns its :class:`OrderResult` (id, status, fills).

        ``price``/``qty`` are decimals (quote units per base unit; base units), or give
        ``price_ticks``/``lots`` as ints. Refusals raise :class:`OrderRejected` (reason,
        message; a REJECTED event is sent) and change nothing: unknown member or instrument,
        no day or session closed, bad side/tif/price/qty, off-tick price, fractional lot,
        amounts beyond int64, missing swap reference rate, insufficient funds or credit,
        and the book's FOK_NOT_FILLED / POST_ONLY_WOULD_CROSS. O(1) plus matching.
        """
        try:
            m = self._member_ids.get(member) if type(member) is int else None
            if m is None:
                m = self._member(member)
            market = self._markets.get(instrument) if type(instrument) is str else None
            if market is None:
                market = self._market(instrument)
            if not market.open:
                self._closed(market)
            if (type(side) is not int and type(side) is not Side) or (side != 0 and side != 1):
                side = self._int_field(side, R.INVALID_SIDE, "side", 0, 1)
            if (type(tif) is not int and type(tif) is not TIF) or not 0 <= tif <= 3:
                tif = self._int_field(tif, R.INVALID_TIF, "tif", 0, 3)
            if type(price_ticks) is int and price is None and 0 < price_ticks <= MAX_INT64:
                px = price_ticks
            else:
                px = self._ticks(market.instrument, price, price_ticks)
            if type(lots) is int and qty is None and 0 < lots <= MAX_INT64:
                q = lots
            else:
                q = self._lots(market.instrument, qty, lots)
            member = m.id
            top = px if px > market.max_px else market.max_px
            if q * (market.fixed + top * market.f) > MAX_INT64:
                self._too_large(market, side, px, q)
            oid = self._next_id
            if member in self._tracked:
                self._risk.hold_limit(oid, member, market.terms, side, px, q)
            book = market.book
            done = book.submit(oid, side, px, q, tif, member)
            if done == q:
                leaves = 0
            elif tif == _GTC or tif == _POST_ONLY:
                leaves = q - done if oid in book else 0
            else:
                leaves = 0
            if done == 0 and leaves == 0 and (tif == _FOK or tif == _POST_ONLY):
                self._risk.finish(oid, 0)
                self._nothing_done(market.symbol, side, px, tif)
        except OrderRejected as exc:
            self._refused(exc, member, instrument, side, price_ticks, client_order_id)
            raise
        if px > market.max_px:
            market.max_px = px
        self._next_id = oid + 1
        self._order_market.append(market.index)
        if done or client_order_id is not None or self._bus.active or self._stp_resting \
                or member in self._tracked:
            return self._after_order(market, oid, member, side, px, q, done, leaves,
                                     client_order_id)
        return OrderResult(oid, _NEW if leaves else _CANCELED, 0, leaves)  # the common case

    @staticmethod
    def _nothing_done(symbol: str, side: int, px: int, tif: int) -> None:
        """A FOK or POST_ONLY the book did nothing with: refused, as if never entered."""
        if tif == _FOK:
            raise OrderRejected(R.FOK_NOT_FILLED, f"{symbol}: fill-or-kill order of side "
                                f"{side} at {px} ticks cannot fill in full")
        raise OrderRejected(R.POST_ONLY_WOULD_CROSS, f"{symbol}: post-only order at {px} "
                            f"ticks would trade on arrival")

    def market(self, member: int, instrument: str, side: Side | int, qty: Any = None, *,
               lots: int | None = None, client_order_id: str | None = None) -> OrderResult:
        """Enter a market order: it trades what the opposite side holds (up to ``qty``) and
        the rest is cancelled. Same refusals as :meth:`submit` (no price ones). A pre-funded
        member's worst case is walked from the opposite side of the book."""
        try:
            m = self._member_ids.get(member) if type(member) is int else None
            if m is None:
                m = self._member(member)
            market = self._market(instrument)
            if not market.open:
                self._closed(market)
            if (type(side) is not int and type(side) is not Side) or (side != 0 and side != 1):
                side = self._int_field(side, R.INVALID_SIDE, "side", 0, 1)
            q = lots if type(lots) is int and qty is None and 0 < lots <= MAX_INT64 else \
                self._lots(market.instrument, qty, lots)
            member = m.id
            if q * (market.fixed + market.max_px * market.f) > MAX_INT64:
                self._too_large(market, side, 0, q)
            oid = self._next_id
            if member in self._tracked:
                self._risk.hold_market(oid, member, market.terms, side, q,
                                       self._walkable(market, side, member))
        except OrderRejected as exc:
            self._refused(exc, member, instrument, side, 0, client_order_id)
            raise
        self._next_id = oid + 1
        self._order_market.append(market.index)
        done = market.book.market(oid, side, q, member)
        return self._after_order(market, oid, member, side, 0, q, done, 0, client_order_id)

    def _walkable(self, market: _Market, side: int, member: int) -> list[tuple[int, int]]:
        """The opposite side's (price, qty) a market order of ``member`` can reach, best first
        (its own orders excluded when self-trade prevention would not let it trade them)."""
        book = market.book
        if self.stp == STP.NONE:
            bids, asks = book.depth(MAX_INT64)
            return (asks if side == 0 else bids).tolist()
        orders = book.orders(1 - side)
        mine = orders["owner"] == member
        if self.stp == STP.CANCEL_INCOMING and mine.any():
            orders = orders[: int(np.argmax(mine))]  # matching stops at the first own order
        else:
            orders = orders[~mine]
        return list(zip(orders["price"].tolist(), orders["qty"].tolist()))

    def _after_order(self, market: _Market, oid: int, member: int, side: int, px: int, q: int,
                     done: int, leaves: int, cl: str | None) -> OrderResult:
        """Post-trade of a new order: capture fills, settle holds, report. Returns the result."""
        if cl is not None:
            self._client_ids[oid] = cl
        first = count = 0
        fills = None
        if done:
            fills = market.book.drain_trades()
            count = len(fills)
            first = self.capture.add(fills, market.terms,
                                     self._time if self._clock is None else self.now())
        stp = market.book.drain_stp_cancels() if self._stp_resting else None
        events = [self._report(ExecType.NEW, _NEW, oid, member, market.symbol, side, px, q, 0)] \
            if self._bus.active else None
        if fills is not None:
            self._on_fills(market, fills, first, events, px, q, 0)
        if member in self._tracked:
            self._risk.finish(oid, leaves)
        if stp is not None and len(stp):
            self._on_stp(market, stp, events)
        if leaves:
            status = _PARTIAL if done else _NEW
            if done:
                self._cum[oid] = done
        else:
            status = _FILLED if done == q else _CANCELED
        if events is not None:
            if status is _CANCELED:
                events.append(self._report(ExecType.CANCELED, _CANCELED, oid, member,
                                           market.symbol, side, px, 0, done,
                                           text="remainder cancelled (IOC, market order or "
                                                "self-trade prevention)"))
            self._bus.publish(events)
        if cl is not None and not leaves:
            del self._client_ids[oid]
        return OrderResult(oid, status, done, leaves, self.capture, first, count)

    def _on_fills(self, market: _Market, fills: np.ndarray, first: int, events: list | None,
                  taker_px: int, taker_qty: int, taker_cum: int) -> None:
        """Book-keeping of one order's fills: makers' filled quantities, holds, events."""
        cum, book, risk = self._cum, market.book, self._risk
        rows = fills.tolist()
        last = rows[-1]
        if events is not None:
            self._fill_events(market, rows, first, events, taker_px, taker_qty, taker_cum)
        if risk.holds:
            holds = risk.holds
            for row in rows:
                if row[_TAKER_ID] in holds or row[_MAKER_ID] in holds:
                    risk.on_fill(market.terms, row[_TAKER_ID], row[_TAKER_SIDE],
                                 row[_MAKER_ID], row[_PRICE], row[_QTY])
            for row in rows:  # makers filled in full are gone: drop their holds
                if row[_MAKER_ID] in holds and row[_MAKER_ID] not in book:
                    risk.finish(row[_MAKER_ID], 0)
        maker = last[_MAKER_ID]
        if maker in book:  # only the last maker can be left partly filled
            cum[maker] = cum.get(maker, 0) + last[_QTY]
        else:
            if cum:
                cum.pop(maker, None)
            if self._client_ids:
                self._client_ids.pop(maker, None)

    def _fill_events(self, market: _Market, rows: list, first: int, events: list,
                     taker_px: int, taker_qty: int, taker_cum: int) -> None:
        """TRADE reports of the taker and the maker of each fill, in execution order."""
        book, cum, symbol = market.book, self._cum, market.symbol
        done = 0
        for i, row in enumerate(rows):
            tid, mid, price, qty = row[_TAKER_ID], row[_MAKER_ID], row[_PRICE], row[_QTY]
            tside = row[_TAKER_SIDE]
            done += qty
            t_leaves = taker_qty - done
            events.append(self._report(ExecType.TRADE, _FILLED if t_leaves == 0 else _PARTIAL,
                                       tid, row[_TAKER_OWNER], symbol, tside, taker_px,
                                       t_leaves, taker_cum + done, qty, price, first + i))
            m_leaves = book.order(mid)[2] if (i == len(rows) - 1 and mid in book) else 0
            events.append(self._report(ExecType.TRADE, _FILLED if m_leaves == 0 else _PARTIAL,
                                       mid, row[_MAKER_OWNER], symbol, 1 - tside, price,
                                       m_leaves, cum.get(mid, 0) + qty, qty, price, first + i))

    def _on_stp(self, market: _Market, cancelled: np.ndarray, events: list | None) -> None:
        """Resting orders that self-trade prevention cancelled: release holds, report."""
        names = cancelled.dtype.names
        pos = [names.index(n) for n in ("order_id", "owner", "side", "price")]
        for row in cancelled.tolist():
            oid, owner, side, price = (row[i] for i in pos)
            self._risk.finish(oid, 0)
            filled = self._cum.pop(oid, 0)
            if events is not None:
                events.append(self._report(ExecType.CANCELED, _CANCELED, oid, owner,
                                           market.symbol, side, price, 0, filled,
                                           text="self-trade prevention"))
            self._client_ids.pop(oid, None)

    def _report(self, exec_type: ExecType, status: OrdStatus, oid: int, member: int,
                symbol: str, side: int, px: int, leaves: int, cum: int, last_qty: int = 0,
                last_px: int = 0, trade_id: int = 0, text: str = "") -> ExecutionReport:
        return ExecutionReport(self._bus.next_id(), exec_type, status, oid,
                               self._client_ids.get(oid), member, symbol, side, px, last_qty,
                               last_px, leaves, cum, self.now(), trade_id, None, text)

    # -- cancel and modify -----------------------------------------------------------------

    def _owned(self, member: Any, order_id: Any, what: str) -> tuple[_Market, int, tuple]:
        """(market, order id, book entry) of a resting order of ``member``, or raise."""
        if isinstance(order_id, bool) or not isinstance(order_id, (int, np.integer)):
            raise UnknownOrder(R.UNKNOWN_ORDER, f"{what}: order_id={order_id!r} is not an int")
        oid = int(order_id)
        known = self._member_ids.get(member) if type(member) is int else None
        if known is None:
            raise OrderRejected(R.UNKNOWN_MEMBER, f"{what}: member {member!r} is not "
                                                  f"registered")
        market = self._by_index[self._order_market[oid]] \
            if 0 < oid < len(self._order_market) else None
        if market is None or oid not in market.book:
            raise UnknownOrder(R.UNKNOWN_ORDER, f"{what}: order {oid} is not resting")
        entry = market.book.order(oid)
        if entry[3] != member:
            raise NotOrderOwner(f"{what}: order {oid} does not belong to member {member}")
        return market, oid, entry

    def cancel(self, member: int, order_id: int) -> OrderResult:
        """Cancel a resting order of ``member``; its hold is released. UnknownOrder (a
        KeyError and OrderRejected) if it is not resting, NotOrderOwner (a PermissionError)
        if it is another member's; nothing changes then (a CancelReject event is sent). O(1)."""
        try:
            market, oid, (side, price, _, _) = self._owned(member, order_id, "cancel")
        except (OrderRejected, NotOrderOwner) as exc:
            self._cancel_refused(exc, member, order_id, "1")
            raise
        market.book.cancel(oid)
        self._risk.finish(oid, 0)
        filled = self._cum.pop(oid, 0)
        if self._bus.active:
            self._bus.publish([self._report(ExecType.CANCELED, _CANCELED, oid, member,
                                            market.symbol, side, price, 0, filled)])
        self._client_ids.pop(oid, None)
        return OrderResult(oid, _CANCELED, filled, 0)

    def modify(self, member: int, order_id: int, qty: Any = None, price: Any = None, *,
               lots: int | None = None, price_ticks: int | None = None) -> OrderResult:
        """Change a resting order of ``member``: ``qty``/``lots`` is the new resting (open)
        quantity, ``price``/``price_ticks`` the new price (None: keep it). A smaller quantity
        at the same price keeps the order's queue place; otherwise it re-enters at the back
        and may trade at once (as the book's ``modify``). A tracked member's hold grows first
        (refused with INSUFFICIENT_FUNDS / CREDIT_LIMIT if it cannot) and shrinks after.
        Refusals as :meth:`cancel`, plus the price/qty reasons of :meth:`submit`; nothing
        changes then."""
        try:
            market, oid, (side, old_px, _, _) = self._owned(member, order_id, "modify")
            ins = market.instrument
            new_q = self._lots(ins, qty, lots)
            if price is None and price_ticks is None:
                new_px = old_px
            else:
                new_px = self._ticks(ins, price, price_ticks)
            if new_q * (market.fixed + max(new_px, market.max_px) * market.f) > MAX_INT64:
                self._too_large(market, side, new_px, new_q)
            self._risk.rehold(oid, new_q, new_px)
        except (OrderRejected, NotOrderOwner) as exc:
            self._cancel_refused(exc, member, order_id, "2")
            raise
        market.max_px = max(market.max_px, new_px)
        done = market.book.modify(oid, new_q, None if new_px == old_px else new_px)
        leaves = new_q - done if oid in market.book else 0
        return self._after_modify(market, oid, member, side, new_px, new_q, done, leaves)

    def _after_modify(self, market: _Market, oid: int, member: int, side: int, px: int,
                      q: int, done: int, leaves: int) -> OrderResult:
        """Post-trade of a modify: as :meth:`_after_order`, with the order's earlier fills."""
        before = self._cum.get(oid, 0)
        cum = before + done
        first = count = 0
        fills = None
        if done:
            fills = market.book.drain_trades()
            count = len(fills)
            first = self.capture.add(fills, market.terms, self.now())
        stp = market.book.drain_stp_cancels() if self._stp_resting else None
        if leaves:
            status = _PARTIAL if cum else _NEW
        else:
            status = _FILLED if done == q else _CANCELED
        events = [self._report(ExecType.REPLACED, _PARTIAL if before else _NEW, oid, member,
                               market.symbol, side, px, q, before)] \
            if self._bus.active else None
        if fills is not None:
            self._on_fills(market, fills, first, events, px, q, before)
        self._risk.finish(oid, leaves)
        if stp is not None and len(stp):
            self._on_stp(market, stp, events)
        if leaves and cum:
            self._cum[oid] = cum
        elif not leaves:
            self._cum.pop(oid, None)
        if events is not None:
            if status is _CANCELED:
                events.append(self._report(ExecType.CANCELED, _CANCELED, oid, member,
                                           market.symbol, side, px, 0, cum,
                                           text="self-trade prevention"))
            self._bus.publish(events)
        if not leaves:
            self._client_ids.pop(oid, None)
        return OrderResult(oid, status, cum, leaves, self.capture, first, count)

    # -- reading ---------------------------------------------------------------------------

    def book(self, instrument: str) -> BookView:
        """Read-only view of ``instrument``'s book; KeyError naming an unknown symbol."""
        market = self._markets.get(instrument)
        if market is None:
            raise KeyError(f"unknown instrument {instrument!r}")
        return BookView(market.book, market.instrument)

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Receive every order event (ExecutionReport, CancelReject) from now on; returns an
        unsubscribe function."""
        return self._bus.subscribe(callback)

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
        from dataclasses import asdict

        return pd.DataFrame([asdict(s) for s in self.session_stats(trade_date)])

    def official_rate(self, pair: str, date: _dt.date) -> Decimal:
        """The official rate of ``pair`` (``"USDKZT"`` or ``"USD/KZT"``) published for
        ``date``; KeyError naming pair and date if none was published for it."""
        return self.official.get(pair, date)
