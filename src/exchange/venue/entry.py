"""Order entry, the first stage: a member's message becomes integers the book takes, or a refusal.

Prices and quantities (documented choice, the least surprising one): the positional ``price``
and ``qty`` are always decimal amounts -- a price in quote units per base unit (swap points for
a swap) and a quantity in base units (USD, pieces) -- given as ``Decimal``, ``str`` or ``int``
(``500`` means 500 KZT, not 500 ticks); floats are refused. The integer grid is reached through
the keyword-only ``price_ticks=`` and ``lots=`` (ints or numpy integers), the fast path a
simulation uses. Exactly one of ``price``/``price_ticks`` and of ``qty``/``lots`` is given.

Every check raises :class:`~exchange.venue.codes.OrderRejected` (a TypeError too,
:class:`~exchange.venue.codes.OrderTypeRejected`, for a value of the wrong type) with the
precise reason and a message naming the field and value, before anything changes. Plain ints
in range take a fast path of a few comparisons; everything else goes through the one integer
check, :func:`~exchange.reference.instruments.checked_int`. O(1) per message. (Whether the
amounts of a fill fit int64 depends on the book, so the engine checks it: VALUE_TOO_LARGE.)
"""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from exchange.reference.instruments import (
    MAX_INT64,
    Instrument,
    InstrumentValueError,
    checked_int,
    to_decimal,
)
from exchange.venue.codes import (
    NotOrderOwner,
    OrderRejected,
    OrderTypeRejected,
    RejectReason,
    UnknownOrder,
)
from exchange.venue.markets import Market, Markets
from exchange.venue.members import Member, MemberRegistry

__all__ = ["OrderEntry"]

R = RejectReason


class OrderEntry:
    """Normalises orders, cancels and modifies into integer tickets, or refuses them."""

    def __init__(self, members: MemberRegistry, markets: Markets,
                 market_of: Callable[[int], int], refuse_closed: Callable[[Market], None]) -> None:
        self.members, self.markets, self.market_of = members, markets, market_of
        self.refuse_closed = refuse_closed

    def member(self, member: Any) -> Member:
        """The registered member ``member`` names; UNKNOWN_MEMBER otherwise (bools, strs)."""
        found = self.members.find(member)
        if found is None:
            raise OrderRejected(R.UNKNOWN_MEMBER, f"member {member!r} is not registered")
        return found

    def open_market(self, instrument: Any) -> Market:
        """The market of ``instrument``, open for orders; the precise refusal otherwise."""
        market = self.markets.get(instrument)
        if not market.open:
            self.refuse_closed(market)
        return market

    def limit(self, member: Any, instrument: Any, side: Any, price: Any, qty: Any, tif: Any,
              price_ticks: Any, lots: Any) -> tuple[Member, Market, int, int, int, int]:
        """A limit order as (member, market, side, price ticks, lots, tif)."""
        m = self.members._members.get(member) if type(member) is int else None
        if m is None:
            m = self.member(member)
        market = self.markets.by_symbol.get(instrument) if type(instrument) is str else None
        if market is None or not market.open:
            market = self.open_market(instrument)
        if type(side) is not int or (side != 0 and side != 1):
            side = _integer(side, R.INVALID_SIDE, "side", 0, 1)
        if type(tif) is not int or not 0 <= tif <= 3:
            tif = _integer(tif, R.INVALID_TIF, "tif", 0, 3)
        if type(price_ticks) is int and price is None and 0 < price_ticks <= MAX_INT64:
            px = price_ticks
        else:
            px = ticks(market.instrument, price, price_ticks)
        if type(lots) is int and qty is None and 0 < lots <= MAX_INT64:
            q = lots
        else:
            q = lots_of(market.instrument, qty, lots)
        return m, market, side, px, q, tif

    def market_order(self, member: Any, instrument: Any, side: Any, qty: Any,
                     lots: Any) -> tuple[Member, Market, int, int]:
        """A market order as (member, market, side, lots)."""
        m = self.member(member)
        market = self.open_market(instrument)
        if type(side) is not int or (side != 0 and side != 1):
            side = _integer(side, R.INVALID_SIDE, "side", 0, 1)
        q = lots if type(lots) is int and qty is None and 0 < lots <= MAX_INT64 else \
            lots_of(market.instrument, qty, lots)
        return m, market, side, q

    def resting(self, member: Any, order_id: Any, what: str
                ) -> tuple[Member, Market, int, tuple[int, int, int, int]]:
        """(member, market, order id, (side, price, qty, owner)) of a resting order of
        ``member``: UNKNOWN_MEMBER, UNKNOWN_ORDER (also a KeyError) or NotOrderOwner (a
        PermissionError) otherwise."""
        try:
            oid = checked_int(order_id, f"{what}: order_id", 1, ValueError)
        except (TypeError, ValueError):
            raise UnknownOrder(R.UNKNOWN_ORDER, f"{what}: order_id={order_id!r} is not an "
                                                f"order id") from None
        m = self.members.find(member)
        if m is None:
            raise OrderRejected(R.UNKNOWN_MEMBER, f"{what}: member {member!r} is not "
                                                  f"registered")
        index = self.market_of(oid)
        market = self.markets.by_index[index] if index >= 0 else None
        if market is None or oid not in market.book:
            raise UnknownOrder(R.UNKNOWN_ORDER, f"{what}: order {oid} is not resting")
        entry = market.book.order(oid)
        if entry[3] != m.id:
            raise NotOrderOwner(f"{what}: order {oid} does not belong to member {m.id}")
        return m, market, oid, entry

    def new_terms(self, market: Market, old_px: int, qty: Any, price: Any,
                  lots: Any, price_ticks: Any) -> tuple[int, int]:
        """A modify's (new price ticks, new lots); lots 0 means cancel."""
        ins = market.instrument
        if (lots is not None and qty is None and not isinstance(lots, bool) and lots == 0) \
                or (qty is not None and lots is None and _is_zero(qty)):
            new_q = 0
        else:
            new_q = lots_of(ins, qty, lots)
        if price is None and price_ticks is None:
            new_px = old_px
        else:
            new_px = ticks(ins, price, price_ticks)
        return new_px, new_q


def ticks(ins: Instrument, price: Any, price_ticks: Any) -> int:
    """A limit price as ticks, from ``price`` (decimal) or ``price_ticks`` (int)."""
    if price_ticks is not None:
        if price is not None:
            raise OrderTypeRejected(R.INVALID_PRICE, "give price or price_ticks, not both")
        return _integer(price_ticks, R.INVALID_PRICE, "price_ticks", 1, MAX_INT64)
    if price is None:
        raise OrderTypeRejected(R.INVALID_PRICE, f"{ins.symbol}: a limit order needs price "
                                                 f"(decimal) or price_ticks (int)")
    return _grid(ins, price, ins.tick_size, ins.to_ticks, "price", R.INVALID_PRICE, R.OFF_TICK)


def lots_of(ins: Instrument, qty: Any, lots: Any) -> int:
    """A quantity as lots, from ``qty`` (decimal base units) or ``lots`` (int)."""
    if lots is not None:
        if qty is not None:
            raise OrderTypeRejected(R.INVALID_QTY, "give qty or lots, not both")
        return _integer(lots, R.INVALID_QTY, "lots", 1, MAX_INT64)
    if qty is None:
        raise OrderTypeRejected(R.INVALID_QTY, f"{ins.symbol}: an order needs qty (decimal "
                                               f"base units) or lots (int)")
    return _grid(ins, qty, ins.lot_size, ins.to_lots, "qty", R.INVALID_QTY, R.OFF_LOT)


def _integer(value: Any, reason: RejectReason, what: str, low: int, high: int) -> int:
    try:
        return checked_int(value, what, low, ValueError, high)
    except TypeError as exc:
        raise OrderTypeRejected(reason, f"{what}={value!r}: {exc}") from None
    except ValueError:
        raise OrderRejected(reason, f"{what}={value!r} is not in {low}..{high}") from None


def _is_zero(qty: Any) -> bool:
    """True if ``qty`` is a decimal zero (a modify to zero cancels)."""
    try:
        return to_decimal(qty, "qty") == 0
    except (TypeError, ValueError):
        return False


def _grid(ins: Instrument, value: Any, step: Decimal, convert: Callable[[Any], int],
          what: str, invalid: RejectReason, off: RejectReason) -> int:
    """A decimal price or quantity as ticks or lots, refused with the precise reason."""
    try:
        number = to_decimal(value, f"{ins.symbol} {what}")
    except TypeError as exc:
        raise OrderTypeRejected(invalid, str(exc)) from None
    except ValueError as exc:
        raise OrderRejected(invalid, str(exc)) from None
    if number <= 0:
        raise OrderRejected(invalid, f"{ins.symbol} {what} {number} is not positive")
    try:
        return convert(number)
    except InstrumentValueError as exc:
        # off the grid, or so large that the count of steps leaves int64
        too_big = number.adjusted() - step.adjusted() > 18
        raise OrderRejected(invalid if too_big else off, str(exc)) from None
