"""Several consecutive simulated trading days on one ledger: :func:`run_days`.

One :class:`~exchange.sim.day.SimVenue` (ledger, exchange, members, scheduler and agents) runs
every day, so members keep their balances, agents their state and the market data its
positions, and each day runs as :func:`~exchange.sim.day.run_day` describes, except for
settlement: at the end of each day only the dates due by then are settled (the day's T+0, the
T+1 of the day before, the T+2 of the one before that, and what failed and rolled to it), so
every obligation settles on its own date; a failure rolls to the next business day and is
settled (or fails and rolls again) on that later day. After the last day every date still due
is settled in turn, as a single day does. The exchange publishes each day's official rates for
the next business day, so day k's fixing is day k+1's swap reference rate.

``run_days(..., days=1).days[0]`` is exactly ``run_day``'s result: the same trades, runs and
files.
"""
from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exchange.clearing import Ledger, Obligations, net
from exchange.reference.calendar import Calendar
from exchange.reference.instruments import KZT
from exchange.reference.numbers import checked_int
from exchange.venue.exchange import Exchange

from .day import DayResult, SettlementDay, SimVenue, _check_orders
from .scenario import Scenario

__all__ = ["RunResult", "run_days", "trade_dates"]


@dataclass
class RunResult:
    """Every day of a multi-day run (``days``, each a :class:`DayResult` whose settlements are
    the runs made at its end) and the whole run's NET ``obligations`` (every trade, by
    settlement date). ``timings``: wall seconds per step, summed over the days."""

    scenario: Scenario
    orders_per_session: int
    days: list[DayResult]
    obligations: Obligations
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exchange(self) -> Exchange:
        return self.days[0].exchange

    @property
    def ledger(self) -> Ledger:
        return self.days[0].ledger

    @property
    def dates(self) -> list[_dt.date]:
        """The trade dates, in order."""
        return [day.date for day in self.days]

    @property
    def trades(self) -> np.ndarray:
        """Every trade record of the run, oldest first."""
        return np.concatenate([day.trades for day in self.days])

    @property
    def settlements(self) -> list[SettlementDay]:
        """Every settlement run, in the order they ran."""
        return [run for day in self.days for run in day.settlements]

    @property
    def outstanding(self) -> list[tuple[str, int, str, int]]:
        """NET obligations still owed after the last run: (due date, member, asset, amount)."""
        return self.days[-1].outstanding

    @property
    def opening(self) -> dict[tuple[int, str], int]:
        """Balances before the first day: (member, asset) -> minor units."""
        return self.days[0].opening

    @property
    def orders(self) -> int:
        """Order messages sent over all days."""
        return sum(day.orders for day in self.days)

    def member_name(self, member: int) -> str:
        """The scenario name of ``member`` (the clearing house and fee account included)."""
        return self.scenario.member_name(member)


def trade_dates(calendar: Calendar, start: _dt.date, days: int) -> list[_dt.date]:
    """``days`` consecutive business days at home from ``start`` (which must be one; the
    exchange refuses it otherwise). CalendarError past the calendar's range. O(days)."""
    dates = [start]
    while len(dates) < days:
        dates.append(calendar.next_business_day(dates[-1], (KZT,)))
    return dates


def run_days(scenario: Scenario, *, start: _dt.date, days: int, orders: int,
             ledger_path: str | os.PathLike | None = None,
             progress: Callable[[str, int, int], None] | None = None,
             phase: Callable[[str], None] | None = None,
             journal: str | os.PathLike | None = None,
             setup: dict[str, Any] | None = None) -> RunResult:
    """Simulate ``days`` consecutive business days from ``start`` with ``orders`` order
    messages per session each (module docstring). ``progress(session, done, total)`` and
    ``phase(text)`` as ``run_day``; with more than one day the session is named with its date
    ("2026-11-30 morning") and each day's start is a phase. ``journal``: a new folder to
    journal the run into (``setup`` kept in its Setup record), closed when the run ends.
    Raises what ``run_day`` raises, and ValueError for ``days`` < 1. Time O(days x orders)
    plus O(trades) netting per day."""
    _check_orders(orders)
    days = checked_int(days, "days", 1, ValueError)
    venue = SimVenue(scenario, ledger_path, journal, setup)
    try:
        dates = trade_dates(venue.exchange.calendar, start, days)
        results = []
        for k, date in enumerate(dates):
            report, say = progress, phase
            if days > 1:
                if phase is not None:
                    phase(f"trading day {k + 1} of {days}: {date.isoformat()}")
                if progress is not None:
                    report = _dated(progress, date)
            results.append(venue.day(date, orders, final=k == days - 1, progress=report,
                                     phase=say))
    finally:
        venue.close()
    obligations = results[0].obligations if days == 1 else \
        net(np.concatenate([day.trades for day in results]), ledger=venue.ledger)
    timings: dict[str, float] = {}
    for day in results:
        for step, seconds in day.timings.items():
            timings[step] = timings.get(step, 0.0) + seconds
    return RunResult(scenario, orders, results, obligations, timings)


def _dated(progress: Callable[[str, int, int], None], date: _dt.date
           ) -> Callable[[str, int, int], None]:
    prefix = date.isoformat()
    return lambda session, done, total: progress(f"{prefix} {session}", done, total)
