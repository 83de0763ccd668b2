"""What an exchange was built from, as JSON: the journal's ``Setup`` record and a recovery's check.

A journal holds calls in their integer form (instrument ids, ticks, lots, minor units): they mean
the same thing only to an exchange built on the same configuration. :func:`describe` writes that
configuration down (every instrument's definition in id order, each one's fee terms and
sessions, the session times, the calendar's settings, self-trade prevention, the configured swap
reference rates and the fixing), and :func:`check_same` compares a description with another,
raising :class:`ConfigMismatch` naming the first thing that differs. The calendar is described
by its settings (home region, extra holidays and working days); the holiday tables themselves
come from the ``holidays`` package. O(instruments).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exchange.records import SESSION_NAMES
from exchange.reference.instruments import Asset, Instrument

__all__ = ["ConfigMismatch", "check_same", "describe"]


class ConfigMismatch(ValueError):
    """An exchange is not built as the journal or snapshot it is asked to continue."""


def describe(exchange: Any) -> dict[str, Any]:
    """The JSON description of ``exchange``'s configuration (module docstring)."""
    markets = list(exchange._markets)
    schedule = exchange.schedule
    cycle = exchange._cycle
    return {
        "instruments": [_instrument(m.instrument) for m in markets],
        "fees": [[m.fees.taker_num, m.fees.taker_den, m.fees.maker_num, m.fees.maker_den,
                  m.fees.minimum] for m in markets],
        "sessions": {
            "specs": [[s.name, s.start, s.end, sorted(s.tenors)] for s in schedule.specs],
            "of": [[SESSION_NAMES[c] for c in m.sessions] for m in markets]},
        "calendar": _calendar(exchange.calendar),
        "stp": int(exchange.stp),
        "reference_rates": dict(sorted(cycle.reference_rates.items())),
        "fixing": {"tenors": sorted(cycle.fixing.tenors), "cutoff": cycle.fixing.cutoff},
    }


def _asset(asset: Asset) -> list[Any]:
    return [asset.code, asset.decimals, asset.region, asset.is_currency]


def _instrument(ins: Instrument) -> dict[str, Any]:
    return {"symbol": ins.symbol, "kind": ins.kind.value, "base": _asset(ins.base),
            "quote": _asset(ins.quote), "tick_size": str(ins.tick_size),
            "lot_size": str(ins.lot_size), "tenor": ins.tenor, "far_tenor": ins.far_tenor,
            "settlement": ins.settlement, "prefunded": ins.prefunded,
            "underlying": None if ins.underlying is None else ins.underlying.symbol}


def _calendar(calendar: Any) -> dict[str, Any]:
    def dates(sets: Mapping[str, Any]) -> dict[str, list[str]]:
        return {region: sorted(d.isoformat() for d in days)
                for region, days in sorted(sets.items())}

    return {"home_region": calendar.home_region,
            "extra_holidays": dates(getattr(calendar, "_extra_closed", {})),
            "extra_working_days": dates(getattr(calendar, "_extra_open", {}))}


def check_same(stored: Mapping[str, Any], current: Mapping[str, Any], where: str) -> None:
    """ConfigMismatch naming the first key path (``instruments[3].tick_size``) at which the
    description ``stored`` (read from ``where``) and ``current`` differ."""
    path = _first_difference(_plain(stored), _plain(current), "")
    if path is not None:
        raise ConfigMismatch(f"{where} was written by an exchange built otherwise: "
                             f"{path or 'the description'} differs (build the exchange with "
                             f"the same instruments, fees, sessions, calendar and options)")


def _plain(value: Any) -> Any:
    """JSON data with tuples as lists (a decoded record holds tuples)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _first_difference(a: Any, b: Any, path: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if a == b and type(a) is type(b) else path
