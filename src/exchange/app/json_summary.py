"""The machine-readable summary of a simulated day: what ``exchange simulate --json`` prints.

One JSON object (keys documented in docs/api.md, "exchange simulate --json"). Units: money
in an asset's *minor units* as integers (``*_minor`` keys: tiyn, cents, kopecks, pieces of a
security); prices, rates and volumes as decimal *strings* (exact: ``"501.30"``); dates ISO
``YYYY-MM-DD``; times of day ``HH:MM``; durations in seconds (floats, wall clock). Members are
ids; ``member_names`` maps them to names (``-1`` the clearing house, ``-2`` the fee account).
``schema`` is 1 and goes up only if a key changes meaning or goes away.

A multi-day run (``--days N``, N > 1) prints :func:`run_summary` instead: the run's totals,
every settlement run and what is still owed, and ``days``: each day's :func:`day_facts` (the
single-day keys without ``files`` and ``seconds``).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exchange.sim.day import DayResult
from exchange.sim.days import RunResult
from exchange.venue.members import Regime

from .summary import Outcome, hhmm, kzt_turnover, net_totals, run_facts

__all__ = ["SCHEMA", "day_facts", "day_summary", "run_summary"]

SCHEMA = 1


def _sessions(result: DayResult) -> list[dict[str, Any]]:
    return [{"name": run.name, "start": hhmm(run.start), "end": hhmm(run.end),
             "orders": run.orders, "trades": run.trades,
             "refused": sum(run.refusals.values()), "expired": run.expired, "idle": run.idle,
             "orders_per_second": round(run.orders_per_second, 1)}
            for run in result.sessions]


def _instruments(result: DayResult) -> list[dict[str, Any]]:
    return [{"session": s.session, "instrument": s.instrument, "trades": s.trades,
             "volume": str(s.volume), "volume_lots": s.volume_lots,
             "turnover": str(s.turnover), "open": str(s.open), "high": str(s.high),
             "low": str(s.low), "close": str(s.close), "vwap": str(s.vwap)}
            for s in result.exchange.session_stats(result.date)]


def _settlements(result: Outcome) -> list[dict[str, Any]]:
    out = []
    for day in result.settlements:
        facts = run_facts(day)
        out.append({
            "date": day.date.isoformat(), "members": facts.members, "failed": facts.failed,
            "shortfalls": [{"member": m, "asset": a, "amount_minor": x}
                           for m, a, x in facts.shortfalls],
            "rolled_to": facts.rolled_to, "gross_settled": facts.gross_settled,
            "gross_deals": facts.gross_deals,
            "top_ups": [{"member": m, "asset": a, "amount_minor": x} for m, a, x in day.top_ups],
        })
    return out


def day_summary(result: DayResult, files: Mapping[str, Path],
                seconds: float) -> dict[str, Any]:
    """The summary of ``result`` as JSON-ready data (see the module docstring); ``files`` are
    the files written (name -> path), ``seconds`` the command's wall time. O(members x assets
    + settlement lines + session stats)."""
    return {**day_facts(result), **_files_and_seconds(result.timings, files, seconds)}


def day_facts(result: DayResult) -> dict[str, Any]:
    """Every key of :func:`day_summary` but ``files`` and ``seconds``."""
    refusals: dict[str, int] = {}
    for run in result.sessions:
        for reason, count in run.refusals.items():
            refusals[reason.value] = refusals.get(reason.value, 0) + count
    return {
        "schema": SCHEMA,
        "trade_date": result.date.isoformat(),
        **_roster(result),
        "orders_per_session": result.orders_per_session,
        "order_messages": result.orders,
        "trades": len(result.trades),
        "kzt_turnover_minor": kzt_turnover(result),
        "sessions": _sessions(result),
        "instruments": _instruments(result),
        "refusals": dict(sorted(refusals.items())),
        "official_rates": {pair: str(rate) for pair, rate
                           in sorted(result.day_end.official_rates.items())},
        "official_rates_from": result.day_end.effective_date.isoformat(),
        **_money(result),
    }


def run_summary(run: RunResult, files: Mapping[str, Path], seconds: float) -> dict[str, Any]:
    """The summary of a multi-day run (module docstring): ``trade_dates``, the run's totals,
    the whole run's NET obligations, every settlement run, what is still owed, and ``days``."""
    return {
        "schema": SCHEMA,
        "trade_dates": [d.isoformat() for d in run.dates],
        **_roster(run),
        "orders_per_session": run.orders_per_session,
        "order_messages": run.orders,
        "trades": len(run.trades),
        "kzt_turnover_minor": kzt_turnover(run),
        **_money(run),
        "days": [{k: v for k, v in day_facts(day).items() if k != "schema"}
                 for day in run.days],
        **_files_and_seconds(run.timings, files, seconds),
    }


def _roster(result: Outcome) -> dict[str, Any]:
    scenario = result.scenario
    ids = sorted(set(net_totals(result)) | {spec.id for spec in scenario.members})
    return {
        "seed": scenario.seed,
        "members": len(scenario.members),
        "prefunded_members": sorted(s.id for s in scenario.members
                                    if s.regime is Regime.PREFUNDED),
        "member_names": {str(m): result.member_name(m) for m in ids},
    }


def _money(result: Outcome) -> dict[str, Any]:
    """NET obligations, settlement runs and what is still owed."""
    return {
        "net_obligations_minor": {str(m): dict(sorted(assets.items()))
                                  for m, assets in sorted(net_totals(result).items())},
        "settlements": _settlements(result),
        "outstanding": [{"due": due, "member": m, "asset": a, "amount_minor": x}
                        for due, m, a, x in result.outstanding],
    }


def _files_and_seconds(timings: Mapping[str, float], files: Mapping[str, Path],
                       seconds: float) -> dict[str, Any]:
    return {"files": {name: str(path) for name, path in files.items()},
            "seconds": {**{k: round(v, 3) for k, v in timings.items()},
                        "total": round(seconds, 3)}}
