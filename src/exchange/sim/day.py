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
"""
from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exchange.clearing import Ledger, Obligations, SettlementResult, net, settle
from exchange.codes import CODES
from exchange.records import SESSION_NAMES
from exchange.reference.dates import as_date
from exchange.reference.instruments import KZT
from exchange.venue.exchange import DayEnd, Exchange
from exchange.venue.members import Regime

from .market import SimClock
from .scenario import Scenario
from .scheduler import Scheduler, SessionRun

__all__ = ["DayResult", "SettlementDay", "run_day", "business_day_on_or_after"]


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
        if member == -1:
            return "CLEARING HOUSE"
        if member == -2:
            return "EXCHANGE FEES"
        return self.scenario.member(member).name


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


def _setup(scenario: Scenario, ledger: Ledger, clock: SimClock) -> Exchange:
    """The exchange with every member registered, accounts opened and balances deposited."""
    exchange = Exchange(instruments=scenario.instruments, ledger=ledger, clock=clock,
                        reference_rates=scenario.reference_rates, fees=scenario.fees)
    assets = sorted(scenario.instruments.assets)
    for spec in scenario.members:
        exchange.add_member(spec.id, spec.name, spec.regime)
    ledger.open_accounts([(spec.id, a) for spec in scenario.members
                          if spec.regime is not Regime.PREFUNDED for a in assets])
    rows = [(spec.id, a, spec.balances[a]) for spec in scenario.members for a in assets
            if spec.balances.get(a, 0) > 0]
    if rows:
        ledger.deposit_many(rows)
    return exchange


def run_day(scenario: Scenario, *, date: _dt.date, orders: int,
            ledger_path: str | os.PathLike | None = None,
            progress: Callable[[str, int, int], None] | None = None,
            phase: Callable[[str], None] | None = None) -> DayResult:
    """Simulate ``date`` with ``orders`` order messages per session (see the module docstring).

    ``progress(session, done, total)`` reports each session's progress; ``phase(text)`` each
    later step. Raises NonBusinessDayError if ``date`` is not a business day, ValueError for
    a bad argument or an existing ledger file. Time O(orders) for trading plus
    O(trades) for netting and settlement.
    """
    if isinstance(orders, bool) or not isinstance(orders, int) or orders < 1:
        raise ValueError(f"orders: {orders!r} is not a positive int")
    say = phase or (lambda text: None)
    timings: dict[str, float] = {}
    ledger = _open_ledger(ledger_path)
    clock = SimClock()
    exchange = _setup(scenario, ledger, clock)
    opening = {(m, a): b for m, a, b in ledger.accounts() if m >= 0}
    exchange.begin_day(date)
    scheduler = Scheduler(exchange, scenario.agents, seed=scenario.seed, clock=clock,
                          profiles=scenario.profiles, drivers=scenario.drivers)
    sessions = []
    for name in SESSION_NAMES:
        report = None if progress is None else \
            (lambda done, total, name=name: progress(name, done, total))
        sessions.append(scheduler.run_session(name, orders, report))
    timings["trading"] = sum(s.wall_seconds for s in sessions)
    say("end of day: official rates")
    day_end = exchange.end_of_day()
    started = time.perf_counter()
    say("netting the day's trades")
    trades = exchange.trades().copy()
    obligations = net(trades, ledger=ledger)
    timings["netting"] = time.perf_counter() - started
    started = time.perf_counter()
    settlements = _settle_all(exchange, scenario, ledger, obligations, say)
    timings["settlement"] = time.perf_counter() - started
    outstanding = _outstanding(ledger, settlements)
    return DayResult(scenario, date, orders, exchange, ledger, sessions, day_end, trades,
                     obligations, settlements, opening, outstanding, timings)


def _settle_all(exchange: Exchange, scenario: Scenario, ledger: Ledger,
                obligations: Obligations, say: Callable[[str], None]) -> list[SettlementDay]:
    """Settle each due date in turn; a date failures roll to is settled too if it is not
    after the last date something is due. O(dates x obligations)."""
    currencies = [a for a in scenario.instruments.assets.values() if a.is_currency]

    def next_business_day(day: np.datetime64) -> _dt.date:
        return exchange.calendar.next_business_day(as_date(day), currencies)

    pending = sorted({as_date(d) for d in obligations.dates().tolist()})
    if not pending:
        return []
    last = pending[-1]
    done: list[SettlementDay] = []
    while pending:
        day = pending.pop(0)
        say(f"settling {day.isoformat()}")
        top_ups = _top_up(scenario, ledger, obligations, day)
        before = ledger.asset_totals()
        result = settle(ledger, day, obligations=obligations,
                        next_business_day=next_business_day)
        done.append(SettlementDay(day, result, top_ups, before, ledger.asset_totals()))
        for target in _roll_targets(result):
            if target <= last and target not in pending:
                pending = sorted(pending + [target])
    return done


def _roll_targets(result: SettlementResult) -> list[_dt.date]:
    carried = np.concatenate([result.net["carried_to"], result.gross["carried_to"]])
    carried = carried[~np.isnat(carried)]
    return [as_date(d) for d in np.unique(carried).tolist()]


def _top_up(scenario: Scenario, ledger: Ledger, obligations: Obligations,
            day: _dt.date) -> list[tuple[int, str, int]]:
    """Deposits of members that top up, before ``day``'s run: for each asset in which their
    rolled plus fresh NET obligations due on ``day`` exceed their balance, the difference.
    Only members with obligations rolled to ``day`` (they failed before) top up."""
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
    if rows:
        ledger.deposit_many(rows)
    return rows


def _outstanding(ledger: Ledger, settlements: list[SettlementDay]
                 ) -> list[tuple[str, int, str, int]]:
    """NET obligations rolled past the last settlement run: (due date, member, asset,
    amount), still owed when the simulation ends."""
    targets = sorted({d for s in settlements for d in _roll_targets(s.result)}
                     - {s.date for s in settlements})
    rows = []
    for day in targets:
        carried, _ = ledger.carried(day)
        rows += [(day.isoformat(), m, a, x) for _, m, a, x in carried]
    return rows
