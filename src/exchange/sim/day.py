"""A whole simulated trading day, from the opening balances to the last settlement run.

:func:`run_day` drives the layers below in order and keeps what each produced:

1. a clearing :class:`~exchange.clearing.Ledger` (SQLite file or memory) with every member's
   accounts and opening balances deposited;
2. an :class:`~exchange.venue.exchange.Exchange` on the scenario's instruments, reading the
   scheduler's simulated clock; ``begin_day(date)``;
3. the morning, day and evening sessions in turn, each run by the
   :class:`~exchange.sim.scheduler.Scheduler` (open, agents trade, close with expiries);
4. ``end_of_day()``: the day's weighted average rates become the next business day's
   official rates;
5. netting of the day's trade records (``exchange.clearing.net``);
6. settlement on each settlement date in turn (T+0 on the trade date, then T+1, T+2 on the
   calendar): failed obligations roll to the next business day and are settled again there
   if that is one of the day's settlement dates. Members whose scenario says they top up
   deposit what they lack before each later date. The ledger's per-asset totals are read
   before and after every run.

:class:`SimVenue` keeps steps 1-2 (and the scheduler, the agents and the dates still due)
from one day to the next: ``exchange.sim.days.run_days`` trades several consecutive days on
it, settling on each day only the dates due by then (step 6 runs to the end on the last day
alone); a one-day run is exactly :func:`run_day`.
"""
from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exchange.clearing import Ledger, Obligations, SettlementResult, net
from exchange.codes import CODES
from exchange.records import SESSION_NAMES
from exchange.reference.dates import as_date
from exchange.reference.instruments import KZT
from exchange.reference.numbers import checked_int
from exchange.venue.exchange import DayEnd, Exchange

from .market import SimClock
from .scenario import Scenario
from .scheduler import Scheduler, SessionRun

__all__ = ["DayResult", "SettlementDay", "SimVenue", "run_day", "business_day_on_or_after"]


@dataclass(frozen=True)
class SettlementDay:
    """One settlement run: its result, the deposits made just before it (``top_ups``:
    (member, asset, minor units)), and the ledger's per-asset totals around it."""

    date: _dt.date
    result: SettlementResult
    top_ups: list[tuple[int, str, int]]
    totals_before: dict[str, int]
    totals_after: dict[str, int]


@dataclass
class DayResult:
    """Everything a simulated day produced (see the module docstring for the order)."""

    scenario: Scenario
    date: _dt.date
    orders_per_session: int
    exchange: Exchange
    ledger: Ledger
    sessions: list[SessionRun]
    day_end: DayEnd
    trades: np.ndarray
    obligations: Obligations
    settlements: list[SettlementDay]
    opening: dict[tuple[int, str], int]
    outstanding: list[tuple[str, int, str, int]]  # (due date, member, asset, amount)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def orders(self) -> int:
        """Order messages sent over all sessions."""
        return sum(s.orders for s in self.sessions)

    def member_name(self, member: int) -> str:
        """The scenario name of ``member`` (the clearing house and fee account included)."""
        return self.scenario.member_name(member)


def business_day_on_or_after(exchange_or_calendar: Any, date: _dt.date) -> _dt.date:
    """``date`` if the exchange's home region trades on it, else the next day that does."""
    calendar = getattr(exchange_or_calendar, "calendar", exchange_or_calendar)
    return date if calendar.is_business_day(date, (KZT,)) else \
        calendar.next_business_day(date, (KZT,))


def _open_ledger(path: str | os.PathLike | None) -> Ledger:
    """A fresh ledger; ValueError if ``path`` names a non-empty file (a day's settlement
    run ids would collide with the runs already there)."""
    if path is not None and os.path.exists(path) and os.path.getsize(path) > 0:
        raise ValueError(f"ledger: {os.fspath(path)!r} already exists; give a new path (runs "
                         f"of an earlier simulation would collide with this one's)")
    return Ledger(path)


def _setup(scenario: Scenario, ledger: Ledger, clock: SimClock, journal: Any = None,
           setup: dict[str, Any] | None = None) -> Exchange:
    """The exchange with every member registered (which opens its ledger accounts) and opening
    balances deposited, all through the exchange (so a journal holds them)."""
    exchange = Exchange(ledger=ledger, clock=clock, journal=journal, setup=setup,
                        **exchange_options(scenario))
    assets = sorted(scenario.instruments.assets)
    for spec in scenario.members:
        exchange.add_member(spec.id, spec.name, spec.regime)
    for spec in scenario.members:
        for asset in assets:
            if spec.balances.get(asset, 0) > 0:
                exchange.deposit(spec.id, asset, spec.balances[asset])
    return exchange


def exchange_options(scenario: Scenario) -> dict[str, Any]:
    """What ``Exchange`` is built from for ``scenario`` (a recovery or replay builds it the
    same way)."""
    return {"instruments": scenario.instruments, "reference_rates": scenario.reference_rates,
            "fees": scenario.fees}


def run_day(scenario: Scenario, *, date: _dt.date, orders: int,
            ledger_path: str | os.PathLike | None = None,
            progress: Callable[[str, int, int], None] | None = None,
            phase: Callable[[str], None] | None = None) -> DayResult:
    """Simulate ``date`` with ``orders`` order messages per session (see the module docstring).

    ``progress(session, done, total)`` reports each session's progress; ``phase(text)`` each
    later step. Raises NonBusinessDayError if ``date`` is not a business day, ValueError for
    a bad argument or an existing ledger file. Time O(orders) for trading plus
    O(trades) for netting and settlement. The same as ``run_days(..., days=1).days[0]``.
    """
    _check_orders(orders)
    return SimVenue(scenario, ledger_path).day(date, orders, final=True, progress=progress,
                                               phase=phase)


def _check_orders(orders: int) -> None:
    checked_int(orders, "orders", 1, ValueError)


class SimVenue:
    """What a simulation keeps from one trading day to the next: the ledger (new, at
    ``ledger_path`` or in memory), the exchange with every member and opening balance, the
    scheduler with its agents (made at the first day's start), and the settlement dates with
    something still due. :meth:`day` runs one day on them. With ``journal`` (a new folder)
    the exchange journals every call into it, ``setup`` beside its configuration in the Setup
    record; :meth:`close` closes the journal."""

    def __init__(self, scenario: Scenario, ledger_path: str | os.PathLike | None = None,
                 journal: str | os.PathLike | None = None,
                 setup: dict[str, Any] | None = None) -> None:
        self.scenario = scenario
        self.ledger = _open_ledger(ledger_path)
        self.clock = SimClock()
        self.exchange = _setup(scenario, self.ledger, self.clock, journal, setup)
        self.scheduler: Scheduler | None = None
        self.due: set[_dt.date] = set()  # settlement dates with something due, not yet run
        self.settled: set[_dt.date] = set()  # dates already settled (each is settled once)

    def day(self, date: _dt.date, orders: int, *, final: bool,
            progress: Callable[[str, int, int], None] | None = None,
            phase: Callable[[str], None] | None = None) -> DayResult:
        """Trade ``date`` (three sessions, end of day), net its trades, and settle every date
        due by the end of it, or, if ``final``, every date anything is due on (dates that
        failures roll to included while not after the last of them). ``progress``, ``phase``
        and errors as :func:`run_day`."""
        say = phase or (lambda text: None)
        exchange, ledger = self.exchange, self.ledger
        opening = {(m, a): b for m, a, b in ledger.accounts() if m >= 0}
        first_trade = len(exchange.trades())
        exchange.begin_day(date)
        if self.scheduler is None:
            scenario = self.scenario
            self.scheduler = Scheduler(exchange, scenario.agents, seed=scenario.seed,
                                       clock=self.clock, profiles=scenario.profiles,
                                       drivers=scenario.drivers)
        sessions = []
        for name in SESSION_NAMES:
            report = None if progress is None else \
                (lambda done, total, name=name: progress(name, done, total))
            sessions.append(self.scheduler.run_session(name, orders, report))
        timings = {"trading": sum(s.wall_seconds for s in sessions)}
        say("end of day: official rates")
        day_end = exchange.end_of_day()
        started = time.perf_counter()
        say("netting the day's trades")
        trades = exchange.trades()[first_trade:].copy()
        obligations = net(trades, ledger=ledger)
        still_due = obligations if first_trade == 0 else self._open_obligations()
        timings["netting"] = time.perf_counter() - started
        started = time.perf_counter()
        settlements = self._settle(still_due, None if final else date, say)
        timings["settlement"] = time.perf_counter() - started
        return DayResult(self.scenario, date, orders, exchange, ledger, sessions, day_end,
                         trades, obligations, settlements, opening, self._outstanding(),
                         timings)

    def close(self) -> None:
        """Close the exchange's journal, if it has one (everything in it becomes durable)."""
        self.exchange.close()

    def _open_obligations(self) -> Obligations:
        """The obligations of every trade with a leg on a date not yet settled. O(trades)."""
        trades = self.exchange.trades()
        done = np.array(sorted(self.settled), dtype="M8[D]")
        far = trades["far_settle_date"]
        still = ~np.isin(trades["settle_date"], done) | (~np.isnat(far) & ~np.isin(far, done))
        return net(trades[still], ledger=self.ledger)

    def _settle(self, obligations: Obligations, until: _dt.date | None,
                say: Callable[[str], None]) -> list[SettlementDay]:
        """Settle each due date up to ``until`` (None: all) in turn through the exchange
        (failures roll to the next business day of every currency); a date failures roll to
        is remembered, and settled now too if it is not after ``until`` (None: not after the
        last date due). O(dates x trades)."""
        self.due |= {as_date(d) for d in obligations.dates().tolist()} - self.settled
        limit = until if until is not None else max(self.due, default=None)
        pending = sorted(d for d in self.due if limit is not None and d <= limit)
        done: list[SettlementDay] = []
        while pending:
            day = pending.pop(0)
            say(f"settling {day.isoformat()}")
            top_ups = _top_up(self.scenario, self.exchange, obligations, day)
            before = self.ledger.asset_totals()
            result = self.exchange.settle(day)
            done.append(SettlementDay(day, result, top_ups, before, self.ledger.asset_totals()))
            self.due.discard(day)
            self.settled.add(day)
            for target in roll_targets(result):
                self.due.add(target)
                if limit is not None and target <= limit and target not in pending:
                    pending = sorted(pending + [target])
        return done

    def _outstanding(self) -> list[tuple[str, int, str, int]]:
        """NET obligations rolled to a date not yet settled: (due date, member, asset,
        amount), still owed at this point of the simulation."""
        rows = []
        for day in sorted(self.due):
            carried, _ = self.ledger.carried(day)
            rows += [(day.isoformat(), m, a, x) for _, m, a, x in carried]
        return rows


def roll_targets(result: SettlementResult) -> list[_dt.date]:
    """The dates a settlement run rolled failures to."""
    carried = np.concatenate([result.net["carried_to"], result.gross["carried_to"]])
    carried = carried[~np.isnat(carried)]
    return [as_date(d) for d in np.unique(carried).tolist()]


def _top_up(scenario: Scenario, exchange: Exchange, obligations: Obligations,
            day: _dt.date) -> list[tuple[int, str, int]]:
    """Deposits of members that top up, before ``day``'s run: for each asset in which their
    rolled plus fresh NET obligations due on ``day`` exceed their balance, the difference.
    Only members with obligations rolled to ``day`` (they failed before) top up."""
    ledger = exchange.ledger
    carried, _ = ledger.carried(day)
    rolled: dict[tuple[int, str], int] = {}
    for _, member, asset, amount in carried:
        rolled[(member, asset)] = rolled.get((member, asset), 0) + amount
    toppers = sorted({m for m, _ in rolled if m >= 0 and scenario.member(m).tops_up})
    if not toppers:
        return []
    due = dict(rolled)
    fresh = obligations.for_date(day).net
    for member, asset, amount in zip(fresh["member"].tolist(), CODES.asset.decode(fresh["asset"]),
                                     fresh["amount"].tolist()):
        if member in toppers:
            due[(member, asset)] = due.get((member, asset), 0) + amount
    rows = []
    for (member, asset), amount in sorted(due.items()):
        if member in toppers and amount < 0:
            lacking = -amount - ledger.balance(member, asset)
            if lacking > 0:
                rows.append((member, asset, lacking))
    for member, asset, amount in rows:
        exchange.deposit(member, asset, amount)
    return rows
