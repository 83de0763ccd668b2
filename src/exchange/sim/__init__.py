"""exchange.sim: simulated traders on the exchange, and a whole simulated KASE trading day.

An :class:`Agent` is one member's behaviour: in each turn the :class:`Scheduler` gives it,
``act(view, rng)`` reads the market through its :class:`AgentView` (best bid/ask live, last
price, reference price, its resting orders and balances, the simulated clock) and sends
orders through the public ``Exchange`` API, in ticks and lots. The scheduler interleaves the
agents with one seeded numpy Generator, moves the simulated clock through a session's hours
and opens and closes the session: the same seed gives the same trades. Your own agent::

    import datetime as dt
    from exchange import TIF, Exchange
    from exchange.sim import Agent, MarketMaker, Scheduler

    class BargainHunter(Agent):
        \"\"\"Takes the best ask whenever it is within 5 ticks of the reference price.\"\"\"
        def act(self, view, rng):
            ask = view.best_ask("USDKZT_TOD")
            if ask is not None and ask[0] <= view.reference("USDKZT_TOD") + 5:
                view.buy("USDKZT_TOD", ask[0], lots=rng.integers(1, 4), tif=TIF.IOC)

    ex = Exchange(reference_rates={"USDKZT": "505"})  # swap reference until a fixing
    ex.add_member(1, "Bargain Capital"); ex.add_member(2, "Steppe Markets")
    ex.begin_day(dt.date(2026, 11, 27))
    agents = [BargainHunter(1), MarketMaker(2, weight=3, symbols=["USDKZT_TOD"])]
    run = Scheduler(ex, agents, seed=7).run_session("morning", orders=2_000)
    print(run.orders, run.trades, ex.session_stats()[0].vwap)

(For speed, give the exchange a :class:`SimClock` and the scheduler the same one:
``Exchange(clock=clock)``, ``Scheduler(..., clock=clock)``.)

The whole day behind ``python -m exchange simulate`` (members, balances, three sessions, end
of day, netting, settlement T+0..T+2) is :func:`run_day` on a :func:`default_scenario`;
``exchange.app.report.write_outputs`` writes its Parquet files and HTML report. Several
consecutive days on one ledger (``simulate --days N``), each obligation settled on its own
date: :func:`run_days`. Many days
at once, one per parameter point and seed, on a process pool, Dask or Ray: :func:`sweep`
(docs/sweeps.md).

Modules, one job each: ``rng`` (buffered seeded draws), ``market`` (reference prices, market
data cache, clock), ``view`` (an agent's window and order gateway), ``agents`` (base class
and built-in traders), ``scheduler`` (interleaving and sessions), ``scenario`` (the default
setup and its knobs), ``day`` (the day end to end), ``days`` (consecutive days),
``runs``/``engines``/``sweep`` (one measured run, where runs execute, the sweep API),
``summary``/``charts``/``console``/``report`` (results as tables, charts, terminal output and
files), ``cli`` (the command).
"""
from __future__ import annotations

from .agents import Agent, MarketMaker, NoiseTrader, Overtrader
from .day import DayResult, SettlementDay, run_day
from .days import RunResult, run_days
from .market import (
    DEFAULT_DRIVERS,
    DEFAULT_PROFILES,
    Driver,
    MarketData,
    Profile,
    ReferencePrices,
    SimClock,
)
from .rng import Random
from .scenario import DEFAULT_DATE, MemberSpec, Scenario, ScenarioParams, default_scenario
from .scheduler import Scheduler, SessionRun
from .sweep import comparable, sweep
from .view import BUY, SELL, AgentView

__all__ = [
    "Agent", "AgentView", "BUY", "DEFAULT_DATE", "DEFAULT_DRIVERS", "DEFAULT_PROFILES",
    "DayResult", "Driver", "MarketData", "MarketMaker", "MemberSpec", "NoiseTrader",
    "Overtrader", "Profile", "Random", "ReferencePrices", "RunResult", "SELL", "Scenario",
    "ScenarioParams", "Scheduler", "SessionRun", "SettlementDay", "SimClock", "comparable",
    "default_scenario", "run_day", "run_days", "sweep",
]
