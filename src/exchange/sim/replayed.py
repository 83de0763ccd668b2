"""A journaled simulation rebuilt from its journal: the exchange, and what the run reported.

``simulate --journal DIR`` journals the run with the scenario in its Setup record
(:func:`simulate_setup`: seed, members, orders per session, first trade date, days).
:func:`replay_run` reads that record, builds the same exchange (on a new in-memory ledger) and
replays the journal into it, all of it or its first ``upto`` records; with ``record`` a
:class:`RunRecorder` watches the replay and rebuilds the :class:`~exchange.sim.days.RunResult`
the run returned, so that the same report files can be written: the trades, obligations and
settlement runs are the journal's own, so a complete journal gives a byte-identical
``trades.parquet``. What the journal does not hold is approximated: a session's agent turns
are its order messages, and times are the replay's. O(records) plus the calls' cost.
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from exchange.clearing import Ledger, net
from exchange.journal import (
    BeginDay,
    Cancel,
    CloseSession,
    Deposit,
    EndOfDay,
    Entry,
    JournalReader,
    MarketOrder,
    Modify,
    OpenSession,
    Process,
    Refused,
    SettlementRun,
    Setup,
    Submit,
)
from exchange.venue.exchange import Exchange
from exchange.venue.replay import ReplayError, replay

from .day import DayResult, SettlementDay, exchange_options, roll_targets
from .days import RunResult
from .scenario import Scenario, default_scenario
from .scheduler import SessionRun

__all__ = ["Replayed", "RunRecorder", "replay_run", "simulate_setup"]

#: Book levels a session's depth at the close keeps (as the scheduler's default).
DEPTH_LEVELS = 200
_ORDER_CALLS = {"submit", "market", "cancel", "modify"}


def simulate_setup(seed: int, members: int, orders: int, start: _dt.date,
                   days: int) -> dict[str, Any]:
    """The Setup record's part a simulated run writes: what rebuilds its scenario."""
    return {"simulate": {"seed": seed, "members": members, "orders": orders,
                         "start": start.isoformat(), "days": days}}


@dataclass
class Replayed:
    """A replay's outcome: the ``exchange``, the journal records applied (``commands``, the
    Setup record included), the simulation's settings, and the rebuilt ``run`` (None unless
    recorded, or if no day began)."""

    exchange: Exchange
    commands: int
    settings: dict[str, Any]
    run: RunResult | None = None


def read_settings(folder: Path) -> dict[str, Any]:
    """The ``simulate`` settings of the journal in ``folder``; ReplayError if its first record
    is not a Setup record written by ``simulate --journal``."""
    for entry in JournalReader(folder):
        if isinstance(entry.command, Setup):
            settings = entry.command.settings.get("user", {}).get("simulate")
            if isinstance(settings, dict):
                return dict(settings)
            raise ReplayError(f"journal {str(folder)!r} was not written by "
                              f"'exchange simulate --journal' (its Setup record names no "
                              f"scenario)")
        break
    raise ReplayError(f"journal {str(folder)!r} does not start with a Setup record (an empty "
                      f"journal, or one that continues a snapshot)")


def replay_run(folder: str | Path, upto: int | None = None, record: bool = False) -> Replayed:
    """Replay the simulation journaled in ``folder`` (module docstring), up to ``upto``
    records. Raises CorruptJournal, UnsupportedVersion, ReplayError or ConfigMismatch."""
    folder = Path(folder)
    settings = read_settings(folder)
    scenario = default_scenario(seed=settings["seed"], members=settings["members"],
                                orders=settings["orders"])
    exchange = Exchange(ledger=Ledger(), **exchange_options(scenario))
    recorder = RunRecorder(scenario, exchange, settings["orders"]) if record else None
    entries = JournalReader(folder)
    limited = iter(entries) if upto is None else islice(entries, upto)
    count = replay(exchange, limited, None if recorder is None else recorder.after,
                   None if recorder is None else recorder.before)
    run = None if recorder is None else recorder.result()
    return Replayed(exchange, count, settings, run)


class RunRecorder:
    """Rebuilds a simulated run's :class:`RunResult` from the calls a replay makes: give
    :meth:`before` and :meth:`after` to ``venue.replay.replay``, then take :meth:`result`."""

    def __init__(self, scenario: Scenario, exchange: Exchange, orders_per_session: int) -> None:
        self.scenario, self.exchange = scenario, exchange
        self.orders_per_session = orders_per_session
        self.days: list[DayResult] = []
        self._day: dict[str, Any] | None = None
        self._session: dict[str, Any] | None = None
        self._top_ups: list[tuple[int, str, int]] = []
        self._totals: dict[str, int] = {}
        self._targets: set[_dt.date] = set()  # dates failures rolled to
        self._settled: set[_dt.date] = set()

    def before(self, entry: Entry) -> None:
        """Note what the record's call is about to change."""
        command, ex = entry.command, self.exchange
        if isinstance(command, BeginDay):
            self._finish_day()
            self._day = {"date": command.date, "first_trade": len(ex.trades()), "sessions": [],
                         "settlements": [], "started": time.perf_counter(),
                         "opening": {(m, a): b for m, a, b in ex.ledger.accounts() if m >= 0}}
        elif isinstance(command, OpenSession):
            self._session = {"name": command.name, "orders": 0, "trades": len(ex.trades()),
                             "refusals": ex.rejections(), "wall": time.perf_counter()}
        elif isinstance(command, CloseSession) and self._session is not None:
            symbols = ex.schedule.symbols_in(command.name, ex.instruments)
            self._session["symbols"] = symbols
            self._session["depth"] = {s: ex.book(s).depth(DEPTH_LEVELS) for s in symbols}
        elif isinstance(command, SettlementRun):
            self._totals = ex.ledger.asset_totals()

    def after(self, entry: Entry, result: Any) -> None:
        """Take in what the record's call did."""
        command, session = entry.command, self._session
        if session is not None and _is_order(command):
            session["orders"] += len(command.orders) if isinstance(command, Process) else 1
        if isinstance(command, CloseSession) and session is not None:
            self._close_session(session, result)
        elif isinstance(command, EndOfDay) and self._day is not None:
            self._end_day(self._day, result)
        elif isinstance(command, Deposit) and self._day is not None and "day_end" in self._day:
            self._top_ups.append((command.member, command.asset, command.amount))
        elif isinstance(command, SettlementRun) and self._day is not None:
            self._settled.add(command.date)
            self._targets.update(roll_targets(result))
            self._day["settlements"].append(SettlementDay(
                command.date, result, self._top_ups, self._totals,
                self.exchange.ledger.asset_totals()))
            self._top_ups = []

    def _close_session(self, session: dict[str, Any], expired: list) -> None:
        assert self._day is not None
        ex = self.exchange
        spec = ex.schedule.spec(session["name"])
        before, after = session["refusals"], ex.rejections()
        refusals = {r: n - before.get(r, 0) for r, n in after.items() if n - before.get(r, 0)}
        self._day["sessions"].append(SessionRun(
            spec.name, spec.start, spec.end, session["orders"], session["orders"],
            len(ex.trades()) - session["trades"], refusals, len(expired), session["symbols"],
            session["depth"], time.perf_counter() - session["wall"]))
        self._session = None

    def _end_day(self, day: dict[str, Any], day_end: Any) -> None:
        trades = self.exchange.trades()[day["first_trade"]:].copy()
        day.update(day_end=day_end, trades=trades,
                   obligations=net(trades, ledger=self.exchange.ledger),
                   trading=time.perf_counter() - day["started"])

    def _finish_day(self) -> None:
        day, self._day = self._day, None
        if day is None or "day_end" not in day:
            return
        outstanding = []
        for due in sorted(self._targets - self._settled):
            carried, _ = self.exchange.ledger.carried(due)
            outstanding += [(due.isoformat(), m, a, x) for _, m, a, x in carried]
        self.days.append(DayResult(
            self.scenario, day["date"], self.orders_per_session, self.exchange,
            self.exchange.ledger, day["sessions"], day["day_end"], day["trades"],
            day["obligations"], day["settlements"], day["opening"], outstanding,
            {"trading": day["trading"]}))

    def result(self) -> RunResult | None:
        """The run so far (days that reached their end of day), or None if none did."""
        self._finish_day()
        if not self.days:
            return None
        obligations = self.days[0].obligations if len(self.days) == 1 else \
            net(np.concatenate([day.trades for day in self.days]), ledger=self.exchange.ledger)
        return RunResult(self.scenario, self.orders_per_session, self.days, obligations, {})


def _is_order(command: Any) -> bool:
    if isinstance(command, Refused):
        return command.call in _ORDER_CALLS
    return isinstance(command, (Submit, MarketOrder, Cancel, Modify, Process))
