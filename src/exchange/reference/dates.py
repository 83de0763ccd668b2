"""Dates in their three forms, and the one converter between them.

A trading or settlement date is a ``datetime.date`` at the API, a ``numpy.datetime64[D]`` in
record arrays (NaT: no date), and a day number (days since 1970-01-01, numpy's ``M8[D]`` as an
integer) where the hot path keys dicts by date. Everything else converts through here. O(1).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

__all__ = ["NAT", "as_date", "as_day64", "day64", "day_number", "parse_date"]

#: numpy's "no date" in record arrays.
NAT = np.datetime64("NaT", "D")

_EPOCH = _dt.date(1970, 1, 1)


def as_day64(value: Any, what: str = "date") -> np.datetime64:
    """``value`` (a date, a datetime64 or an ISO text) as a numpy day; ValueError naming
    ``what`` and the value if it is not a date (NaT included)."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: {value!r} is not a date")
    try:
        day = np.datetime64(value, "D")
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {value!r} is not a date") from None
    if np.isnat(day):
        raise ValueError(f"{what}: {value!r} is not a date")
    return day


def as_date(value: Any, what: str = "date") -> _dt.date:
    """``value`` (as :func:`as_day64` takes it) as a ``datetime.date``."""
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value
    day: _dt.date = as_day64(value, what).astype(_dt.date)
    return day


def day64(day: _dt.date | None) -> np.datetime64:
    """A ``datetime.date`` (or None: NaT) as a numpy day, for a record field."""
    return NAT if day is None else np.datetime64(day, "D")


def day_number(day: _dt.date) -> int:
    """``day`` as days since 1970-01-01 (the integer of numpy's ``datetime64[D]``)."""
    return (day - _EPOCH).days


def parse_date(text: str, first: _dt.date | None = None, last: _dt.date | None = None) -> _dt.date:
    """A ``YYYY-MM-DD`` text as a date in ``first..last``; ValueError saying what is wrong."""
    try:
        value = _dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"must be a date YYYY-MM-DD, got {text!r}") from None
    if (first is not None and value < first) or (last is not None and value > last):
        raise ValueError(f"must be in {first}..{last}, got {value}")
    return value
