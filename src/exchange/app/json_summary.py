"""The machine-readable summary of a simulated day: what ``exchange simulate --json`` prints.

One JSON object (keys documented in docs/api.md, "exchange simulate --json"). Units: money
in an asset's *minor units* as integers (``*_minor`` keys: tiyn, cents, kopecks, pieces of a
security); prices, rates and volumes as decimal *strings* (exact: ``"501.30"``); dates ISO
``YYYY-MM-DD``; times of day ``HH:MM``; durations in seconds (floats, wall clock). Members are
ids; ``member_names`` maps them to names (``-1`` the clearing house, ``-2`` the fee account).
``schema`` is 1 and goes up only if a key changes meaning or goes away.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exchange.sim.day import DayResult
from exchange.venue.members import Regime

from .summary import hhmm, kzt_turnover, net_totals, run_facts

__all__ = ["SCHEMA", "day_summary"]

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


def _settlements(result: DayResult) -> list[dict[str, Any]]:
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
    scenario = result.scenario
    refusals: dict[str, int] = {}
    for run in result.sessions:
        for reason, count in run.refusals.items():
            refusals[reason.value] = refusals.get(reason.value, 0) + count
    ids = sorted(set(net_totals(result)) | {spec.id for spec in scenario.members})
    return {
        "schema": SCHEMA,
        "trade_date": result.date.isoformat(),
        "seed": scenario.seed,
        "members": len(scenario.members),
        "prefunded_members": sorted(s.id for s in scenario.members
                                    if s.regime is Regime.PREFUNDED),
        "member_names": {str(m): result.member_name(m) for m in ids},
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
        "net_obligations_minor": {str(m): dict(sorted(assets.items()))
                                  for m, assets in sorted(net_totals(result).items())},
        "settlements": _settlements(result),
        "outstanding": [{"due": due, "member": m, "asset": a, "amount_minor": x}
                        for due, m, a, x in result.outstanding],
        "files": {name: str(path) for name, path in files.items()},
        "seconds": {**{k: round(v, 3) for k, v in result.timings.items()},
                    "total": round(seconds, 3)},
    }
