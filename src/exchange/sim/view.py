"""An agent's window on the market, and its order gateway to the exchange.

Each agent gets one :class:`AgentView` for the whole run (never rebuilt per turn). It reads:

* live books: ``best_bid(symbol)``, ``best_ask(symbol)``, ``depth(symbol, levels)``;
* the market-data cache (refreshed every few hundred turns): ``last(symbol)``,
  ``reference(symbol)`` (the outside price agents quote around), ``position(asset)``;
* the clock and session: ``t`` (seconds since midnight), ``session``, ``symbols`` (the
  instruments open now);
* its own state: ``open_orders(symbol, side)`` (orders it placed that still rest; checks
  each in the book) or the cheaper ``tracked_orders`` with ``is_resting``/``untrack`` (check
  only the one you act on), ``balance(asset)`` / ``available(asset)`` from the ledger.

and sends orders through the public :class:`~exchange.venue.exchange.Exchange` API only, in ticks
and lots (the exchange's fast path): ``limit``/``buy``/``sell``, ``market``, ``cancel``,
``modify``. Each call is one order message for the scheduler's count. A refused message
returns None (the exchange counted it by reason); ``last_refusal`` keeps the exception and
``refusals`` counts this agent's refusals by reason.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from exchange._book import TIF
from exchange.reference.instruments import Instrument
from exchange.venue.codes import NotOrderOwner, OrderRejected, RejectReason
from exchange.venue.exchange import OrderResult

from .market import MarketData, Profile

__all__ = ["AgentView", "Tally", "BUY", "SELL"]

BUY, SELL = 0, 1
_GTC = int(TIF.GTC)


class Tally:
    """The scheduler's count of order messages, shared by every view. ``n`` only grows."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class AgentView:
    """Market data and the order gateway of one member (see the module docstring).

    Reads are O(1) (a book's best price, a dict lookup) except ``open_orders``, which is
    O(orders the agent keeps on that side) because it drops the ones no longer resting.
    """

    __slots__ = ("member", "exchange", "_market", "_books", "_tally", "_profiles", "_ledger",
                 "_submit", "_market_order", "_cancel", "_modify", "_open", "_where",
                 "_reference", "_positions", "refusals", "last_refusal")

    def __init__(self, exchange: Any, member: int, market: MarketData, tally: Tally,
                 profiles: dict[str, Profile]) -> None:
        self.member, self.exchange = member, exchange
        self._market, self._books, self._tally = market, market.books, tally
        self._profiles = profiles
        self._ledger: Any = None
        # live dicts the market data updates in place: a read is one dict lookup
        self._reference = market.reference.table
        self._positions = market.member_positions(member)
        # bound methods cached: one attribute lookup per order instead of two
        self._submit, self._market_order = exchange.submit, exchange.market
        self._cancel, self._modify = exchange.cancel, exchange.modify
        self._open: dict[tuple[str, int], list[int]] = {}
        self._where: dict[int, list[int]] = {}
        self.refusals: Counter[RejectReason] = Counter()
        self.last_refusal: OrderRejected | NotOrderOwner | None = None

    # -- clock and session -----------------------------------------------------------------

    @property
    def t(self) -> float:
        """Simulated time, seconds since midnight of the trading date."""
        return self._market.clock.t

    @property
    def session(self) -> str | None:
        """The open session's name, None between sessions."""
        return self._market.session

    @property
    def symbols(self) -> tuple[str, ...]:
        """Instruments open for trading now, sorted."""
        return self._market.open_symbols

    # -- market data -----------------------------------------------------------------------

    def best_bid(self, symbol: str) -> tuple[int, int] | None:
        """(price ticks, total lots) of the best bid, live; None if no bid rests."""
        return self._books[symbol].best_bid()

    def best_ask(self, symbol: str) -> tuple[int, int] | None:
        """(price ticks, total lots) of the best ask, live; None if no ask rests."""
        return self._books[symbol].best_ask()

    def depth(self, symbol: str, levels: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(bids, asks): arrays of (price ticks, lots) rows, best first, live."""
        return self._books[symbol].depth(levels)

    def last(self, symbol: str) -> int | None:
        """The last trade price in ticks as of the latest market-data refresh, or None."""
        return self._market.last[symbol]

    def reference(self, symbol: str) -> int:
        """The outside reference price of ``symbol`` in ticks (see ``ReferencePrices``)."""
        return self._reference[symbol]

    def instrument(self, symbol: str) -> Instrument:
        """The instrument (tick and lot size, assets) of ``symbol``."""
        return self._market.instruments[symbol]

    def profile(self, symbol: str) -> Profile:
        """The agents' :class:`~exchange.sim.market.Profile` of ``symbol``."""
        return self._profiles[symbol]

    def position(self, asset: str) -> int:
        """This member's net traded amount of ``asset`` today (minor units), as of the latest
        refresh: bought base and received quote count positive."""
        return self._positions.get(asset, 0)

    def balance(self, asset: str) -> int:
        """Settled ledger balance (minor units); KeyError if the member has no account."""
        return self._ledger_().balance(self.member, asset)

    def available(self, asset: str) -> int:
        """Ledger balance less reservations and unsettled debits (minor units)."""
        return self.exchange.funds(self.member, asset).available

    def _ledger_(self) -> Any:
        if self._ledger is None:
            self._ledger = self.exchange.ledger
        return self._ledger

    def open_orders(self, symbol: str, side: int) -> list[int]:
        """Ids of this agent's orders on ``symbol``/``side`` that still rest, least recently
        placed or modified first (the list itself: callers must not change it)."""
        orders = self._open.get((symbol, side))
        if not orders:
            return []
        book = self._books[symbol]
        for o in orders:
            if o not in book:
                break
        else:
            return orders
        alive = [o for o in orders if o in book]
        for o in orders:
            if o not in book:
                self._where.pop(o, None)
        orders[:] = alive
        return orders

    def tracked_orders(self, symbol: str, side: int) -> list[int]:
        """Like :meth:`open_orders` but without checking the book: the list may still hold
        orders filled since (O(1); check one with :meth:`is_resting`, drop it with
        :meth:`untrack`). Callers must not change the list."""
        return self._open.get((symbol, side)) or []

    def is_resting(self, symbol: str, order_id: int) -> bool:
        """True if ``order_id`` still rests in ``symbol``'s book. O(1)."""
        return order_id in self._books[symbol]

    def untrack(self, order_id: int) -> None:
        """Stop tracking ``order_id`` (e.g. found filled); unknown ids are ignored."""
        orders = self._where.pop(order_id, None)
        if orders is not None:
            orders.remove(order_id)

    def forget_orders(self) -> None:
        """Drop every tracked order (the scheduler calls it when a session closes: the
        exchange expired them all)."""
        self._open.clear()
        self._where.clear()

    # -- orders ----------------------------------------------------------------------------

    def _refused(self, exc: OrderRejected | NotOrderOwner) -> None:
        self.refusals[exc.reason] += 1
        self.last_refusal = exc

    def _track(self, symbol: str, side: int, order_id: int) -> None:
        key = (symbol, side)
        orders = self._open.get(key)
        if orders is None:
            orders = self._open[key] = []
        orders.append(order_id)
        self._where[order_id] = orders

    def limit(self, symbol: str, side: int, price_ticks: int, lots: int,
              tif: int = _GTC) -> OrderResult | None:
        """A limit order (``tif``: GTC, IOC, FOK or POST_ONLY); its result, or None if the
        exchange refused it."""
        self._tally.n += 1
        try:
            result = self._submit(self.member, symbol, side, tif=tif, price_ticks=price_ticks,
                                  lots=lots)
        except OrderRejected as exc:
            self._refused(exc)
            return None
        if result.leaves_qty:
            self._track(symbol, side, result.order_id)
        return result

    def buy(self, symbol: str, price_ticks: int, lots: int, tif: int = _GTC) -> OrderResult | None:
        """``limit(symbol, BUY, ...)``."""
        return self.limit(symbol, BUY, price_ticks, lots, tif)

    def sell(self, symbol: str, price_ticks: int, lots: int,
             tif: int = _GTC) -> OrderResult | None:
        """``limit(symbol, SELL, ...)``."""
        return self.limit(symbol, SELL, price_ticks, lots, tif)

    def market(self, symbol: str, side: int, lots: int) -> OrderResult | None:
        """A market order (what does not fill is cancelled); None if refused."""
        self._tally.n += 1
        try:
            return self._market_order(self.member, symbol, side, lots=lots)
        except OrderRejected as exc:
            self._refused(exc)
            return None

    def cancel(self, order_id: int) -> bool:
        """Cancel a resting order of this member; False if refused (e.g. no longer resting)."""
        self._tally.n += 1
        try:
            self._cancel(self.member, order_id)
        except (OrderRejected, NotOrderOwner) as exc:
            self._refused(exc)
            return False
        orders = self._where.pop(order_id, None)
        if orders is not None:
            orders.remove(order_id)
        return True

    def modify(self, order_id: int, lots: int, price_ticks: int | None = None
               ) -> OrderResult | None:
        """Change a resting order's open quantity and/or price (a new price or a larger
        quantity loses queue priority and may trade at once); None if refused."""
        self._tally.n += 1
        try:
            result = self._modify(self.member, order_id, lots=lots, price_ticks=price_ticks)
        except (OrderRejected, NotOrderOwner) as exc:
            self._refused(exc)
            return None
        orders = self._where.get(order_id)
        if orders is not None and result.leaves_qty and orders[-1] != order_id:
            orders.remove(order_id)  # most recently touched goes last
            orders.append(order_id)
        return result
