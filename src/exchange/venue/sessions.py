"""Trading sessions: the schedule of a trading day and the state machine the caller drives.

A trading day has three sessions, in this order (``records.SESSION_NAMES``):

============  =================  ===============================================================
session       default times      trades (default assignment, :func:`default_assignment`)
============  =================  ===============================================================
``morning``   10:00 - 11:30      TOD currency instruments and FX swaps (near leg TOD): T+0
``day``       11:30 - 15:30      the same, plus securities (T+0)
``evening``   15:30 - 17:30      TOM and SPT currency instruments: T+1 / T+2
============  =================  ===============================================================

Times are seconds since midnight of the trading date (Almaty time by convention, but only as
numbers: nothing here reads a wall clock). They describe the schedule; transitions are driven
explicitly by the caller through :class:`TradingDay`. Morning and day sessions trade for
settlement on the trade date and the evening session for T+1/T+2: a schedule that assigns an
instrument to a session whose tenors do not include the instrument's (near-leg) tenor is refused.

State machine of each session, per trading date::

    CLOSED --open--> OPEN --close--> CLOSED_FOR_DAY
    CLOSED ------(a later session opens, or end of day)-----> CLOSED_FOR_DAY   (skipped)

At most one session is open at a time and sessions open in schedule order: opening ``day``
while ``morning`` was never opened skips ``morning`` for the rest of the date. Every illegal
transition raises :class:`SessionError` naming the session and its state.
"""
from __future__ import annotations

import datetime as _dt
import enum
import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from exchange.records import SESSION_NAMES
from exchange.reference.instruments import Instrument, Kind

__all__ = [
    "SessionError",
    "SessionState",
    "SessionSpec",
    "SessionSchedule",
    "TradingDay",
    "default_assignment",
    "DEFAULT_TIMES",
    "DEFAULT_TENORS",
    "seconds",
]

_DAY_SECONDS = 86_400

#: Default session times, seconds since midnight.
DEFAULT_TIMES: Mapping[str, tuple[float, float]] = {
    "morning": (10 * 3600, 11 * 3600 + 1800),
    "day": (11 * 3600 + 1800, 15 * 3600 + 1800),
    "evening": (15 * 3600 + 1800, 17 * 3600 + 1800),
}

#: Settlement tenors (business days after the trade date) each session may trade.
DEFAULT_TENORS: Mapping[str, frozenset[int]] = {
    "morning": frozenset({0}),
    "day": frozenset({0}),
    "evening": frozenset({1, 2}),
}


class SessionError(ValueError):
    """An illegal session or trading-day transition, or a bad schedule."""


class SessionState(enum.Enum):
    """The state of one session on the current trading date."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    CLOSED_FOR_DAY = "CLOSED_FOR_DAY"


def seconds(value: float | int | str | _dt.time, what: str = "time") -> float:
    """``value`` as seconds since midnight: a number, ``"HH:MM"``/``"HH:MM:SS"`` or a time.

    Raises TypeError for other types, ValueError for text that is not a time or a number
    outside 0..86400. O(1).
    """
    if isinstance(value, _dt.time):
        return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    if isinstance(value, str):
        parts = value.split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            h, m, s = (int(parts[0]), int(parts[1]), float(parts[2]) if len(parts) == 3 else 0.0)
            if not (0 <= h <= 24 and 0 <= m < 60 and 0 <= s < 60):
                raise ValueError
        except ValueError:
            raise ValueError(f"{what}: {value!r} is not a time of day HH:MM[:SS]") from None
        result = h * 3600 + m * 60 + s
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what}: expected seconds since midnight, 'HH:MM' or datetime.time, "
                        f"got {type(value).__name__} {value!r}")
    else:
        result = float(value)
    if not (math.isfinite(result) and 0 <= result <= _DAY_SECONDS):
        raise ValueError(f"{what}: {value!r} is not within a day (0..{_DAY_SECONDS} seconds)")
    return result


def default_assignment(instrument: Instrument) -> tuple[str, ...]:
    """The sessions an instrument trades in by default (see the module table)."""
    if instrument.kind is Kind.FX_SWAP or (instrument.kind is Kind.FX_SPOT
                                           and instrument.tenor == 0):
        return ("morning", "day")
    if instrument.kind is Kind.FX_SPOT:
        return ("evening",)
    return ("day",)


@dataclass(frozen=True)
class SessionSpec:
    """One session of the schedule: ``code`` is its index in ``records.SESSION_NAMES``."""

    name: str
    code: int
    start: float
    end: float
    tenors: frozenset[int]


class SessionSchedule:
    """The three sessions' times, tenors and instrument assignment.

    ``times`` maps a session name to ``(start, end)`` (anything :func:`seconds` accepts) over
    :data:`DEFAULT_TIMES`; ``tenors`` maps a name to the settlement tenors it may trade over
    :data:`DEFAULT_TENORS`; ``assign(instrument)`` gives the session names of an instrument
    (default :func:`default_assignment`) and ``overrides`` maps a symbol to its session names,
    over ``assign``. Raises SessionError for unknown names, sessions out of order or
    overlapping, and assignments that break the tenor rule (checked in :meth:`sessions_of`).
    """

    def __init__(self, times: Mapping[str, tuple] | None = None,
                 tenors: Mapping[str, Iterable[int]] | None = None,
                 assign: Callable[[Instrument], Iterable[str]] | None = None,
                 overrides: Mapping[str, Iterable[str]] | None = None) -> None:
        for what, config in (("times", times), ("tenors", tenors)):
            unknown = set(config or {}) - set(SESSION_NAMES)
            if unknown:
                raise SessionError(f"{what}: unknown session {sorted(unknown)[0]!r}; sessions "
                                   f"are {', '.join(SESSION_NAMES)}")
        merged_times = {**DEFAULT_TIMES, **(times or {})}
        merged_tenors = {**DEFAULT_TENORS, **{k: frozenset(v) for k, v in (tenors or {}).items()}}
        specs = []
        for code, name in enumerate(SESSION_NAMES):
            start, end = merged_times[name]
            start, end = seconds(start, f"{name} start"), seconds(end, f"{name} end")
            if not start < end:
                raise SessionError(f"session {name!r}: start {start} is not before end {end}")
            specs.append(SessionSpec(name, code, start, end, merged_tenors[name]))
        for before, after in itertools.pairwise(specs):
            if after.start < before.end:
                raise SessionError(f"session {after.name!r} starts at {after.start} before "
                                   f"{before.name!r} ends at {before.end}")
        self.specs: tuple[SessionSpec, ...] = tuple(specs)
        self._assign = assign or default_assignment
        self._overrides = {symbol: tuple(names) for symbol, names in (overrides or {}).items()}

    def spec(self, name: str) -> SessionSpec:
        """The session called ``name``; SessionError listing the names if there is none."""
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise SessionError(f"unknown session {name!r}; sessions are {', '.join(SESSION_NAMES)}")

    def sessions_of(self, instrument: Instrument) -> tuple[int, ...]:
        """Codes of the sessions ``instrument`` trades in, ascending.

        Raises SessionError for an unknown session name, an empty assignment, or a session
        whose tenors do not include the instrument's (near-leg) tenor.
        """
        names = self._overrides.get(instrument.symbol)
        if names is None:
            names = tuple(self._assign(instrument))
        if not names:
            raise SessionError(f"{instrument.symbol}: assigned to no session")
        codes = set()
        for name in names:
            spec = self.spec(name)
            if instrument.tenor not in spec.tenors:
                raise SessionError(
                    f"{instrument.symbol} settles T+{instrument.tenor} but session {name!r} "
                    f"trades tenors {sorted(spec.tenors)}")
            codes.add(spec.code)
        return tuple(sorted(codes))

    def symbols_in(self, name: str, instruments: Mapping[str, Instrument]) -> tuple[str, ...]:
        """The symbols of ``instruments`` that trade in session ``name``, sorted. Raises what
        :meth:`spec` and :meth:`sessions_of` raise. O(instruments)."""
        code = self.spec(name).code
        return tuple(s for s in sorted(instruments) if code in self.sessions_of(instruments[s]))

    def session_at(self, t: float) -> str | None:
        """The name of the session scheduled at ``t`` seconds (start inclusive), or None."""
        t = seconds(t)
        for spec in self.specs:
            if spec.start <= t < spec.end:
                return spec.name
        return None


class TradingDay:
    """The session states of one trading date, driven by :meth:`open` and :meth:`close`.

    Transitions are O(number of sessions). ``ended`` becomes True after :meth:`end`; an ended
    day refuses every transition.
    """

    def __init__(self, date: _dt.date, schedule: SessionSchedule) -> None:
        self.date = date
        self.schedule = schedule
        self.states = [SessionState.CLOSED for _ in schedule.specs]
        self.ended = False

    def state(self, name: str) -> SessionState:
        """The state of session ``name``."""
        return self.states[self.schedule.spec(name).code]

    @property
    def open_session(self) -> SessionSpec | None:
        """The session that is open now, if any."""
        for spec, state in zip(self.schedule.specs, self.states):
            if state is SessionState.OPEN:
                return spec
        return None

    def _check_live(self, verb: str, name: str) -> SessionSpec:
        spec = self.schedule.spec(name)
        if self.ended:
            raise SessionError(f"cannot {verb} session {name!r}: trading day "
                               f"{self.date.isoformat()} has ended")
        return spec

    def open(self, name: str) -> SessionSpec:
        """CLOSED -> OPEN; earlier sessions never opened are skipped (CLOSED_FOR_DAY).

        SessionError if the session is not CLOSED, another session is OPEN, or the day ended.
        """
        spec = self._check_live("open", name)
        state = self.states[spec.code]
        if state is not SessionState.CLOSED:
            raise SessionError(f"cannot open session {name!r}: it is {state.value} on "
                               f"{self.date.isoformat()}")
        current = self.open_session
        if current is not None:
            raise SessionError(f"cannot open session {name!r}: session {current.name!r} is "
                               f"OPEN (close it first)")
        for code in range(spec.code):
            if self.states[code] is SessionState.CLOSED:
                self.states[code] = SessionState.CLOSED_FOR_DAY
        self.states[spec.code] = SessionState.OPEN
        return spec

    def close(self, name: str) -> SessionSpec:
        """OPEN -> CLOSED_FOR_DAY; SessionError naming the state if the session is not OPEN."""
        spec = self._check_live("close", name)
        state = self.states[spec.code]
        if state is not SessionState.OPEN:
            raise SessionError(f"cannot close session {name!r}: it is {state.value} on "
                               f"{self.date.isoformat()}")
        self.states[spec.code] = SessionState.CLOSED_FOR_DAY
        return spec

    def end(self) -> None:
        """Mark every session CLOSED_FOR_DAY and the day ended (the caller closes an open
        session first). SessionError if the day already ended or a session is still OPEN."""
        if self.ended:
            raise SessionError(f"trading day {self.date.isoformat()} has already ended")
        current = self.open_session
        if current is not None:
            raise SessionError(f"cannot end trading day {self.date.isoformat()}: session "
                               f"{current.name!r} is OPEN")
        self.states = [SessionState.CLOSED_FOR_DAY for _ in self.states]
        self.ended = True
