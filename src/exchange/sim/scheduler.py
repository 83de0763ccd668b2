"""The scheduler: deterministic interleaving of agents through a session's hours.

:meth:`Scheduler.run_session` opens a session on the exchange, then gives turns to agents
until they have sent ``orders`` order messages, and closes it (resting orders expire). Which
agent acts next is drawn with the scheduler's own seeded ``Generator`` in proportion to the
agents' weights (drawn a block at a time); each agent draws from its own seeded
:class:`~exchange.sim.rng.Random`. The simulated clock moves linearly with the messages sent,
from the session's start to its end, so the same seed gives the same day, trade for trade:
nothing depends on the wall clock (used only to report orders per second) or on hash order.

Per turn the scheduler does O(1) work besides the agent's own: a list index for the agent,
a method call, and a clock update. Every ``refresh_every`` turns it refreshes the market data
(vectorised over the trades since the last refresh) and reports progress.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exchange.reference.numbers import checked_int
from exchange.venue.codes import RejectReason

from .agents import Agent
from .market import (
    DEFAULT_DRIVERS,
    DEFAULT_PROFILES,
    Driver,
    MarketData,
    Profile,
    ReferencePrices,
    SimClock,
)
from .rng import Random, spawn
from .view import AgentView, Tally

__all__ = ["Scheduler", "SessionRun"]

_PICK_BLOCK = 8192


@dataclass
class SessionRun:
    """What one session of the simulation did.

    ``orders``: order messages sent (new, market, cancel, modify; refused ones included);
    ``turns``: agent turns given; ``trades``: trades made; ``refusals``: refused messages by
    reason; ``expired``: resting orders expired at the close; ``depth``: each open
    instrument's book at the close, ``(bids, asks)`` arrays of (price ticks, lots) rows, best
    first; ``idle``: True if agents stopped sending before ``orders`` was reached.
    """

    name: str
    start: float
    end: float
    orders: int
    turns: int
    trades: int
    refusals: dict[RejectReason, int]
    expired: int
    symbols: tuple[str, ...]
    depth: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)
    wall_seconds: float
    idle: bool = False

    @property
    def orders_per_second(self) -> float:
        """Order messages per wall-clock second (0 if too fast to measure)."""
        return self.orders / self.wall_seconds if self.wall_seconds > 0 else 0.0


class Scheduler:
    """Runs ``agents`` against ``exchange`` (see the module docstring).

    ``seed``: the one seed of the run. ``clock``: a :class:`SimClock` the exchange was built
    with (``Exchange(clock=clock)``), checked here; without one the scheduler keeps its own
    and calls ``exchange.set_time`` every turn (slower). ``profiles``/``drivers``: how agents
    see each instrument and the reference price walks (defaults cover
    ``default_instruments()``). Raises KeyError for an agent whose member is not registered
    or an instrument without a profile, ValueError for a bad argument.
    """

    def __init__(self, exchange: Any, agents: Sequence[Agent], *, seed: int,
                 clock: SimClock | None = None,
                 profiles: Mapping[str, Profile] | None = None,
                 drivers: Mapping[str, Driver] | None = None,
                 refresh_every: int = 256, depth_levels: int = 200) -> None:
        self._check(exchange, agents, seed, refresh_every, depth_levels)
        self.exchange = exchange
        self.agents = list(agents)
        self.clock, self._external_clock = self._clock(exchange, clock)
        self.profiles = dict(DEFAULT_PROFILES if profiles is None else profiles)
        seeds = spawn(seed, len(self.agents) + 2)
        self._picker = np.random.default_rng(seeds[0])
        reference = ReferencePrices(exchange.instruments, self.profiles,
                                    DEFAULT_DRIVERS if drivers is None else drivers,
                                    np.random.default_rng(seeds[1]))
        self.market = MarketData(exchange, reference, self.clock)
        self.tally = Tally()
        self.views = [AgentView(exchange, a.member, self.market, self.tally, self.profiles)
                      for a in self.agents]
        self.rngs = [Random(s) for s in seeds[2:]]
        weights = np.array([a.weight for a in self.agents], dtype=float)
        self._weights = weights / weights.sum()
        self.refresh_every, self.depth_levels = refresh_every, depth_levels

    @staticmethod
    def _check(exchange: Any, agents: Sequence[Agent], seed: int, refresh_every: int,
               depth_levels: int) -> None:
        seed = checked_int(seed, "seed", 0, ValueError)
        if not agents:
            raise ValueError("agents: at least one agent is needed")
        for agent in agents:
            if not isinstance(agent, Agent):
                raise TypeError(f"agents: {agent!r} is not an exchange.sim.Agent")
            if agent.member not in exchange.members:
                raise KeyError(f"agent {agent.name}: member {agent.member} is not registered "
                               f"on the exchange")
        for what, value in (("refresh_every", refresh_every), ("depth_levels", depth_levels)):
            checked_int(value, what, 1, ValueError)

    @staticmethod
    def _clock(exchange: Any, clock: SimClock | None) -> tuple[SimClock, bool]:
        if clock is None:
            return SimClock(exchange.now()), False
        if not isinstance(clock, SimClock):
            raise TypeError(f"clock: expected a SimClock, got {type(clock).__name__}")
        saved, clock.t = clock.t, 12_345.678  # does the exchange read this clock?
        reads = exchange.now() == clock.t
        clock.t = saved
        if not reads:
            raise ValueError("clock: the exchange does not read this clock; build it with "
                             "Exchange(clock=clock) or pass no clock")
        return clock, True

    # -- sessions ----------------------------------------------------------------------------

    def _open(self, name: str) -> tuple[Any, tuple[str, ...]]:
        spec = self.exchange.schedule.spec(name)
        self._set_time(spec.start)
        self.exchange.open_session(name)
        symbols = self.exchange.schedule.symbols_in(name, self.exchange.instruments)
        self.market.session, self.market.open_symbols = name, symbols
        self.market.refresh()
        for agent, view in zip(self.agents, self.views):
            agent.on_session_open(view)
        return spec, symbols

    def _set_time(self, t: float) -> None:
        self.clock.t = t
        if not self._external_clock:
            self.exchange.set_time(t)

    def run_session(self, name: str, orders: int,
                    progress: Callable[[int, int], None] | None = None) -> SessionRun:
        """Open session ``name``, run agents until they sent ``orders`` messages, close it.

        ``progress(done, orders)`` is called every ``refresh_every`` turns and at the end.
        Stops early (``idle=True``) if no agent sent anything for many turns in a row.
        SessionError (from the exchange) for an illegal session transition. O(orders).
        """
        orders = checked_int(orders, "orders", 1, ValueError)
        spec, symbols = self._open(name)
        rejected_before = self.exchange.rejections()
        trades_before = len(self.exchange.trades())
        wall = time.perf_counter()
        turns, idle = self._loop(spec.start, spec.end, orders, progress)
        wall = time.perf_counter() - wall
        sent = self._sent
        for agent, view in zip(self.agents, self.views):
            agent.on_session_close(view)
        self._set_time(spec.end)
        self.market.refresh()
        depth = {s: self.market.books[s].depth(self.depth_levels) for s in symbols}
        expired = self.exchange.close_session(name)
        for view in self.views:
            view.forget_orders()
        self.market.session, self.market.open_symbols = None, ()
        after = self.exchange.rejections()
        refusals = {r: n - rejected_before.get(r, 0) for r, n in after.items()
                    if n - rejected_before.get(r, 0)}
        return SessionRun(name, spec.start, spec.end, sent, turns,
                          len(self.exchange.trades()) - trades_before, refusals, len(expired),
                          symbols, depth, wall, idle)

    def _loop(self, start: float, end: float, orders: int,
              progress: Callable[[int, int], None] | None) -> tuple[int, bool]:
        """The hot loop; returns (turns, stopped idle). Sets ``self._sent``."""
        tally, clock, market = self.tally, self.clock, self.market
        acts = [a.act for a in self.agents]
        views, rngs = self.views, self.rngs
        n_agents, weights, picker = len(self.agents), self._weights, self._picker
        first = tally.n
        target = first + orders
        span = (end - start) / orders
        external = self._external_clock
        set_time = self.exchange.set_time
        idle_limit = max(10_000, 50 * n_agents)
        picks: list[int] = []
        i = n_picks = turns = 0
        last_sent, quiet = first, 0
        refresh = self.refresh_every
        idle = False
        while tally.n < target:
            if i == n_picks:
                picks = picker.choice(n_agents, size=_PICK_BLOCK, p=weights).tolist()
                i, n_picks = 0, _PICK_BLOCK
            k = picks[i]
            i += 1
            acts[k](views[k], rngs[k])
            turns += 1
            t = start + (tally.n - first) * span
            clock.t = t if t < end else end
            if not external:
                set_time(clock.t)
            if turns % refresh == 0:
                market.refresh()
                if progress is not None:
                    progress(min(tally.n, target) - first, orders)
                quiet = quiet + refresh if tally.n == last_sent else 0
                last_sent = tally.n
                if quiet >= idle_limit:
                    idle = True
                    break
        self._sent = tally.n - first
        if progress is not None:
            progress(min(self._sent, orders), orders)
        return turns, idle
