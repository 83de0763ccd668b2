"""Simulated traders: the :class:`Agent` base class and the built-in kinds of a trading day.

An agent is one member's behaviour. The scheduler gives it turns; in a turn, ``act(view, rng)``
looks at the market through its :class:`~exchange.sim.view.AgentView` and sends zero or more
order messages through it (usually one). ``rng`` is the agent's own seeded
:class:`~exchange.sim.rng.Random`, so an agent's decisions depend only on the seed and on what
it sees. Prices are ticks, quantities lots.

Built-in kinds:

* :class:`MarketMaker`: keeps a ladder of quotes on both sides around the reference price,
  refreshing one quote per turn (post-only new quotes, then modifies), skewed against its
  inventory.
* :class:`NoiseTrader`: random limit (passive or marketable), market, IOC and FOK orders and
  cancels, around the book's mid.
* :class:`Overtrader`: buys a fixed amount of one instrument with marketable IOC orders,
  whatever its account holds: the member that fails settlement.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate

from exchange._book import TIF
from exchange.reference.numbers import checked_int
from exchange.venue.codes import RejectReason
from exchange.venue.exchange import OrderResult

from .rng import Random
from .view import BUY, SELL, AgentView

__all__ = ["Agent", "MarketMaker", "NoiseTrader", "Overtrader"]

_GTC, _IOC, _FOK, _POST = int(TIF.GTC), int(TIF.IOC), int(TIF.FOK), int(TIF.POST_ONLY)
_NO_FUNDS = RejectReason.INSUFFICIENT_FUNDS


class Agent:
    """A simulated member's trading behaviour. Subclasses override :meth:`act`.

    ``member`` is the exchange member id the agent trades for; ``weight`` its relative share
    of the scheduler's turns; ``symbols`` the instruments it trades (None: all). Hooks
    :meth:`on_session_open` and :meth:`on_session_close` run once per session.
    """

    def __init__(self, member: int, *, weight: float = 1.0,
                 symbols: Iterable[str] | None = None, name: str | None = None) -> None:
        member = checked_int(member, "member", 0, ValueError)
        if not (isinstance(weight, (int, float)) and 0 < weight < float("inf")):
            raise ValueError(f"weight: {weight!r} is not a positive number")
        self.member = member
        self.weight = float(weight)
        self.universe = None if symbols is None else frozenset(symbols)
        self.name = name or f"{type(self).__name__}({member})"
        self._menu_key: tuple[str, ...] | None = None
        self._menu: tuple[list[str], list[float], float] = ([], [], 0.0)

    def act(self, view: AgentView, rng: Random) -> None:
        """One turn: look at ``view``, send orders through it. Must be overridden."""
        raise NotImplementedError(f"{type(self).__name__}.act is not implemented")

    def on_session_open(self, view: AgentView) -> None:
        """Called when a session opens (``view.session``, ``view.symbols`` are set)."""

    def on_session_close(self, view: AgentView) -> None:
        """Called just before a session closes (its resting orders then expire)."""

    def pick_symbol(self, view: AgentView, rng: Random) -> str | None:
        """An open instrument of this agent's universe, drawn by profile activity; None if
        none is open. O(log instruments)."""
        if view.symbols is not self._menu_key:  # a new session: a new tuple of symbols
            symbols = [s for s in view.symbols if self.universe is None or s in self.universe]
            cum = list(accumulate(view.profile(s).activity for s in symbols))
            self._menu = (symbols, cum, cum[-1] if cum else 0.0)
            self._menu_key = view.symbols
        symbols, cum, total = self._menu
        if not symbols:
            return None
        return symbols[min(bisect_right(cum, rng.random() * total), len(symbols) - 1)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(member={self.member}, weight={self.weight})"


class _Terms:
    """Per-instrument constants an agent needs every turn, computed once."""

    __slots__ = ("base", "bpl", "spread", "lots")

    def __init__(self, view: AgentView, symbol: str) -> None:
        ins, profile = view.instrument(symbol), view.profile(symbol)
        self.base, self.bpl = ins.base.code, ins.base_amount(1)
        self.spread, self.lots = profile.spread_bp * 1e-4, profile.lots

    def half(self, reference: int) -> int:
        """Half of a market maker's spread around ``reference``, in ticks (at least 1)."""
        half = int(reference * self.spread)
        return half if half > 1 else 1


def _terms(cache: dict[str, _Terms], view: AgentView, symbol: str) -> _Terms:
    terms = cache.get(symbol)
    if terms is None:
        terms = cache[symbol] = _Terms(view, symbol)
    return terms


class MarketMaker(Agent):
    """Quotes ``levels`` orders a side around the reference price, one message per turn.

    A turn picks an instrument and a side. If the opposite best price is more than a half
    spread through its fair price (the reference, shifted against inventory), it takes it
    with an IOC order. Otherwise, with fewer than ``levels`` quotes there, it adds a
    post-only quote one level further out (level k at ``(k + 1) * half spread`` from the
    reference, but never through the opposite best price); otherwise it modifies its least
    recently touched quote to a fresh price at a random level and a fresh size. Quotes are
    shifted against inventory: long ``max_lots`` lots of the base asset, the fair price moves
    down by one half spread (short: up).
    """

    def __init__(self, member: int, *, levels: int = 4, max_lots: int = 400,
                 size: float = 2.0, **kwargs) -> None:
        super().__init__(member, **kwargs)
        if not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels: {levels!r} is not a positive int")
        if not isinstance(max_lots, int) or max_lots < 1:
            raise ValueError(f"max_lots: {max_lots!r} is not a positive int")
        if not size > 0:
            raise ValueError(f"size: {size!r} is not positive")
        self.levels, self.max_lots, self.size = levels, max_lots, float(size)
        self._terms: dict[str, _Terms] = {}

    def act(self, view: AgentView, rng: Random) -> None:
        symbol = self.pick_symbol(view, rng)
        if symbol is None:
            return
        terms = _terms(self._terms, view, symbol)
        ref = view.reference(symbol)
        half = terms.half(ref)
        held = view.position(terms.base) / terms.bpl / self.max_lots
        skew = int(half * (1.0 if held > 1.0 else -1.0 if held < -1.0 else held))
        side = BUY if rng.random() < 0.5 else SELL
        lots = 1 + int(rng.exponential(terms.lots * self.size))
        fair = ref - skew
        if side == BUY:
            ask = view.best_ask(symbol)
            if ask is not None and ask[0] < fair - half:  # offered below fair: take it
                view.limit(symbol, BUY, ask[0], lots if lots < ask[1] else ask[1], _IOC)
                return
        else:
            bid = view.best_bid(symbol)
            if bid is not None and bid[0] > fair + half:
                view.limit(symbol, SELL, bid[0], lots if lots < bid[1] else bid[1], _IOC)
                return
        # one book lookup a turn: only the quote about to be modified is checked
        quotes = view.tracked_orders(symbol, side)
        refresh = len(quotes) >= self.levels
        if refresh and not view.is_resting(symbol, quotes[0]):
            view.untrack(quotes[0])  # filled since: quote a new one instead
            refresh = False
        level = rng.integers(0, self.levels) if refresh else len(quotes)
        offset = (level + 1) * half
        if side == BUY:
            price = fair - offset
            if ask is not None and price >= ask[0]:
                price = ask[0] - 1 - level  # join below the ask, do not take it
        else:
            price = fair + offset
            if bid is not None and price <= bid[0]:
                price = bid[0] + 1 + level
        if refresh:
            view.modify(quotes[0], lots, price if price > 1 else 1)
        else:
            view.limit(symbol, side, price if price > 1 else 1, lots, _POST)


class NoiseTrader(Agent):
    """Random orders around the average of the book's mid and the reference price.

    Per turn, with probabilities ``p_cancel`` (cancel one of its resting orders, if any),
    ``p_market``, ``p_ioc``, ``p_fok`` (marketable by a few ticks), and otherwise a GTC
    limit order: marketable with probability ``p_cross``, else passive a random number of
    half spreads behind the touch. At most ``max_open`` resting orders a side: beyond, it
    cancels the oldest instead. Sizes are 1 + exponential(profile lots x ``size``) lots.
    After an order refused for lack of funds (a pre-funded member that ran out), it sits out
    ``cool_down`` of its turns.
    """

    def __init__(self, member: int, *, p_cancel: float = 0.15, p_market: float = 0.06,
                 p_ioc: float = 0.08, p_fok: float = 0.04, p_cross: float = 0.2,
                 max_open: int = 6, size: float = 1.0, cool_down: int = 25,
                 **kwargs) -> None:
        super().__init__(member, **kwargs)
        probs = {"p_cancel": p_cancel, "p_market": p_market, "p_ioc": p_ioc, "p_fok": p_fok,
                 "p_cross": p_cross}
        for what, p in probs.items():
            if not 0 <= p <= 1:
                raise ValueError(f"{what}: {p!r} is not a probability")
        if p_cancel + p_market + p_ioc + p_fok > 1:
            raise ValueError("p_cancel + p_market + p_ioc + p_fok exceeds 1")
        if not isinstance(max_open, int) or max_open < 1:
            raise ValueError(f"max_open: {max_open!r} is not a positive int")
        if not size > 0:
            raise ValueError(f"size: {size!r} is not positive")
        cool_down = checked_int(cool_down, "cool_down", 0, ValueError)
        self.max_open, self.size, self.p_cross = max_open, float(size), p_cross
        self.cool_down = cool_down
        self._idle = 0
        self._cuts = list(accumulate((p_cancel, p_market, p_ioc, p_fok)))
        self._terms: dict[str, _Terms] = {}

    def act(self, view: AgentView, rng: Random) -> None:
        if self._idle:
            self._idle -= 1
            return
        symbol = self.pick_symbol(view, rng)
        if symbol is None:
            return
        side = BUY if rng.random() < 0.5 else SELL
        u = rng.random()
        cancel, market, ioc, fok = self._cuts
        if u < cancel:
            resting = view.tracked_orders(symbol, side)
            if resting:
                order_id = resting[rng.integers(0, len(resting))]
                if view.is_resting(symbol, order_id):
                    view.cancel(order_id)
                    return
                view.untrack(order_id)  # filled since
            u = 1.0  # nothing to cancel: a limit order instead
        terms = _terms(self._terms, view, symbol)
        lots = 1 + int(rng.exponential(terms.lots * self.size))
        if u < market:
            self._check(view.market(symbol, side, lots), view)
            return
        bid, ask = view.best_bid(symbol), view.best_ask(symbol)
        ref = view.reference(symbol)
        half = terms.half(ref)
        if u < fok:
            tif = _IOC if u < ioc else _FOK
            self._check(view.limit(symbol, side, self._crossing(side, bid, ask, ref, half, rng),
                                   lots, tif), view)
            return
        resting = view.tracked_orders(symbol, side)
        if len(resting) >= self.max_open:
            if view.is_resting(symbol, resting[0]):
                view.cancel(resting[0])
                return
            view.untrack(resting[0])
        if rng.random() < self.p_cross:
            price = self._crossing(side, bid, ask, ref, half, rng)
        else:
            price = self._passive(side, bid, ask, ref, half, rng)
        self._check(view.limit(symbol, side, price, lots, _GTC), view)

    def _check(self, result: OrderResult | None, view: AgentView) -> None:
        """Refused for lack of funds: sit out the next ``cool_down`` turns."""
        if result is None and view.last_refusal is not None \
                and view.last_refusal.reason is _NO_FUNDS:
            self._idle = self.cool_down

    @staticmethod
    def _crossing(side: int, bid, ask, ref: int, half: int, rng: Random) -> int:
        """A price through the opposite touch by 0..half ticks."""
        if side == BUY:
            return (ask[0] if ask else ref + half) + rng.integers(0, half + 1)
        return max(1, (bid[0] if bid else ref - half) - rng.integers(0, half + 1))

    @staticmethod
    def _passive(side: int, bid, ask, ref: int, half: int, rng: Random) -> int:
        """A price at or behind the own-side touch (sometimes inside the spread)."""
        # half the book's mid, half the reference: noise follows the outside price too
        mid = (bid[0] + ask[0] + 2 * ref) // 4 if bid and ask else ref
        away = int(rng.exponential(2.0 * half))
        if side == BUY:
            return max(1, mid - 1 - away)
        return mid + 1 + away


class Overtrader(Agent):
    """Buys ``target_lots`` of ``symbol`` over the day with marketable IOC orders of at most
    ``max_lots`` lots, paying up to ``reach`` half spreads through the best ask; it never
    looks at its account. Sends nothing once the target is bought or while ``symbol`` is
    closed. ``bought`` is the lots filled so far."""

    def __init__(self, member: int, symbol: str, target_lots: int, *, max_lots: int = 25,
                 reach: int = 2, **kwargs) -> None:
        super().__init__(member, symbols=(symbol,), **kwargs)
        for what, value in (("target_lots", target_lots), ("max_lots", max_lots),
                            ("reach", reach)):
            checked_int(value, what, 1, ValueError)
        self.symbol, self.target_lots = symbol, int(target_lots)
        self.max_lots, self.reach = max_lots, reach
        self.bought = 0
        self._terms: dict[str, _Terms] = {}

    def act(self, view: AgentView, rng: Random) -> None:
        if self.bought >= self.target_lots or self.symbol not in view.symbols:
            return
        ask = view.best_ask(self.symbol)
        if ask is None:
            return
        half = _terms(self._terms, view, self.symbol).half(view.reference(self.symbol))
        lots = min(self.max_lots, self.target_lots - self.bought)
        result = view.limit(self.symbol, BUY, ask[0] + self.reach * half, lots, _IOC)
        if result is not None:
            self.bought += result.executed_qty
