"""What simulated agents know about the market: reference prices and a market-data cache.

Two pieces, both read by agents through :class:`~exchange.sim.view.AgentView`:

* :class:`ReferencePrices`: the "outside world" price of each instrument (the interbank USD/KZT
  rate, a share's fair value), a seeded random walk per *driver* (a currency pair or a
  security) that TOD/TOM/SPT instruments of one pair follow together, each with its own
  premium (forward points). Market makers quote around it.
* :class:`MarketData`: a cache of what the exchange publishes, refreshed every few hundred
  agent turns (a conflated drop copy): each instrument's last trade price, and each member's
  net traded amount per asset today. Best bid and ask are read live from the books.

Everything is in the exchange's integers: prices in ticks, quantities in lots, amounts in minor
units. Nothing here reads a wall clock or unseeded randomness.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from exchange.codes import CODES
from exchange.reference.instruments import Instrument
from exchange.reference.numbers import checked_int

__all__ = ["Driver", "Profile", "DEFAULT_DRIVERS", "DEFAULT_PROFILES", "ReferencePrices",
           "MarketData", "SimClock", "TRADING_SECONDS"]

#: Seconds of trading in a default day (10:00-17:30): the horizon of a driver's daily volatility.
TRADING_SECONDS = 7.5 * 3600


class SimClock:
    """The simulated clock: ``t`` seconds since midnight of the trading date.

    Calling it returns ``t``, so it can be given to ``Exchange(clock=...)``: the exchange then
    stamps trades with simulated time and nothing needs setting per order.
    """

    __slots__ = ("t",)

    def __init__(self, t: float = 0.0) -> None:
        self.t = float(t)

    def __call__(self) -> float:
        return self.t


@dataclass(frozen=True)
class Driver:
    """One random walk of reference prices: ``level`` at the open (quote units per base unit)
    and ``daily_vol``, the standard deviation of its relative change over a trading day."""

    level: float
    daily_vol: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.level) and self.level > 0):
            raise ValueError(f"driver level: {self.level!r} is not a positive number")
        if not (math.isfinite(self.daily_vol) and 0 <= self.daily_vol < 1):
            raise ValueError(f"driver daily_vol: {self.daily_vol!r} is not in [0, 1)")


@dataclass(frozen=True)
class Profile:
    """How agents treat one instrument.

    ``driver``: the :class:`Driver` the reference follows (None: constant, e.g. swap points);
    ``premium``: quote units added to the driver's level (forward points of TOM/SPT; for a
    swap without driver, the points themselves); ``spread_bp``: a market maker's half spread
    in basis points of the reference (at least one tick); ``lots``: a typical order size in
    lots; ``activity``: relative share of agents' turns spent on this instrument.
    """

    driver: str | None
    premium: float = 0.0
    spread_bp: float = 1.0
    lots: int = 5
    activity: float = 1.0

    def __post_init__(self) -> None:
        if self.spread_bp <= 0 or not math.isfinite(self.spread_bp):
            raise ValueError(f"profile spread_bp: {self.spread_bp!r} is not positive")
        object.__setattr__(self, "lots", checked_int(self.lots, "profile lots", 1, ValueError))
        if not (self.activity > 0 and math.isfinite(self.activity)):
            raise ValueError(f"profile activity: {self.activity!r} is not positive")


#: Reference levels at the open of a default day (about late-2026 levels; illustrative).
DEFAULT_DRIVERS: Mapping[str, Driver] = {
    "USDKZT": Driver(505.0, 0.006),
    "EURKZT": Driver(586.0, 0.007),
    "RUBKZT": Driver(5.60, 0.010),
    "EURUSD": Driver(1.16, 0.005),
    "MEKAM_0120": Driver(98.50, 0.002),
    "KZTK": Driver(32_000.0, 0.015),
    "KZTO_B1": Driver(101.20, 0.003),
}


def _fx(pair: str, tod_lots: int, activity: float, spread_bp: float, day_points: float,
        swaps: bool) -> dict[str, Profile]:
    """TOD/TOM/SPT (and 1D/2D swaps) of one pair: forward points grow a day per tenor."""
    out = {
        f"{pair}_TOD": Profile(pair, 0.0, spread_bp, tod_lots, activity),
        f"{pair}_TOM": Profile(pair, day_points, spread_bp, tod_lots, 0.8 * activity),
        f"{pair}_SPT": Profile(pair, 2 * day_points, spread_bp, tod_lots, 0.4 * activity),
    }
    if swaps:
        out[f"{pair}_SWAP_1D"] = Profile(None, day_points, 5.0, 2 * tod_lots, 0.3 * activity)
        out[f"{pair}_SWAP_2D"] = Profile(None, 2 * day_points, 5.0, 2 * tod_lots,
                                         0.2 * activity)
    return out


#: Agents' view of every instrument of ``default_instruments()``.
DEFAULT_PROFILES: Mapping[str, Profile] = {
    **_fx("USDKZT", 5, 5.0, 1.0, 0.14, True),
    **_fx("EURKZT", 3, 2.0, 1.5, 0.12, True),
    **_fx("RUBKZT", 20, 1.0, 5.0, 0.0015, False),
    **_fx("EURUSD", 5, 0.5, 1.0, 0.00005, False),
    "MEKAM_0120": Profile("MEKAM_0120", 0.0, 5.0, 2_000, 0.8),
    "KZTK": Profile("KZTK", 0.0, 5.0, 30, 1.2),
    "KZTO_B1": Profile("KZTO_B1", 0.0, 8.0, 2_000, 0.6),
}


class ReferencePrices:
    """Seeded random walks of the drivers, and each instrument's reference in ticks.

    The log of each driver's level moves by ``daily_vol * sqrt(dt / TRADING_SECONDS)`` times a
    standard normal draw per :meth:`advance`. ``ticks(symbol)`` is the driver's level plus the
    instrument's premium, on the instrument's tick grid (at least 1 tick). O(instruments) per
    advance; ``ticks`` is a dict lookup.
    """

    def __init__(self, instruments: Mapping[str, Instrument], profiles: Mapping[str, Profile],
                 drivers: Mapping[str, Driver], rng: np.random.Generator) -> None:
        missing = [s for s in instruments if s not in profiles]
        if missing:
            raise KeyError(f"profiles: no Profile for instrument {missing[0]!r}")
        for symbol in instruments:
            name = profiles[symbol].driver
            if name is not None and name not in drivers:
                raise KeyError(f"profiles[{symbol!r}]: unknown driver {name!r}")
        self._rng = rng
        self._names = sorted({p.driver for s, p in profiles.items()
                              if s in instruments and p.driver is not None})
        self._vol = np.array([drivers[n].daily_vol for n in self._names])
        self._log = np.log(np.array([drivers[n].level for n in self._names]))
        self._index = {n: i for i, n in enumerate(self._names)}
        self._symbols = [(s, instruments[s], profiles[s]) for s in sorted(instruments)]
        self._ticks: dict[str, int] = {}
        self._reprice()

    def levels(self) -> dict[str, float]:
        """Each driver's current level, quote units per base unit."""
        return {n: float(math.exp(x)) for n, x in zip(self._names, self._log.tolist())}

    def advance(self, dt: float) -> None:
        """Move every driver ``dt`` simulated seconds forward (dt <= 0: nothing moves)."""
        if dt <= 0 or not self._names:
            return
        z = self._rng.standard_normal(len(self._names))
        self._log += self._vol * math.sqrt(dt / TRADING_SECONDS) * z
        self._reprice()

    def _reprice(self) -> None:
        levels = np.exp(self._log).tolist()
        for symbol, ins, profile in self._symbols:
            base = levels[self._index[profile.driver]] if profile.driver is not None else 0.0
            value = base + profile.premium
            self._ticks[symbol] = max(1, round(value / float(ins.tick_size)))

    @property
    def table(self) -> dict[str, int]:
        """The live dict symbol -> reference ticks (updated in place by :meth:`advance`)."""
        return self._ticks

    def ticks(self, symbol: str) -> int:
        """The reference price of ``symbol`` in ticks; KeyError naming an unknown symbol."""
        try:
            return self._ticks[symbol]
        except KeyError:
            raise KeyError(f"no reference price for instrument {symbol!r}") from None


class MarketData:
    """What the exchange has published, as the agents see it (refreshed, not per order).

    ``last[symbol]``: the last trade's price in ticks (None before the first trade);
    ``position(member, asset)``: the member's net traded amount today, minor units (bought
    base and received quote positive; a swap's far leg included; fees excluded); both as of
    the latest :meth:`refresh`. Books are read live through ``books[symbol]``
    (:class:`~exchange.venue.exchange.BookView`). A refresh reads only the trade records added since
    the previous one: O(new trades) vectorised, plus O(instruments) to reprice references.
    """

    def __init__(self, exchange: Any, reference: ReferencePrices, clock: SimClock) -> None:
        self.exchange, self.reference, self.clock = exchange, reference, clock
        symbols = sorted(exchange.instruments)
        self.books = {s: exchange.book(s) for s in symbols}
        self.instruments = {s: exchange.instruments[s] for s in symbols}
        self.last: dict[str, int | None] = dict.fromkeys(symbols)
        self._symbols = np.array(symbols, dtype="U16")
        codes = [CODES.instrument.code(s) for s in symbols]  # records name instruments by code
        self._index_of = np.full(max(codes, default=-1) + 1, -1, np.intp)
        self._index_of[codes] = np.arange(len(symbols))
        assets = sorted(exchange.instruments.assets)
        self._assets = assets
        self._base = np.array([assets.index(exchange.instruments[s].base.code) for s in symbols])
        self._quote = np.array([assets.index(exchange.instruments[s].quote.code)
                                for s in symbols])
        self._positions: dict[int, dict[str, int]] = {}  # member -> asset -> amount
        self._seen = len(exchange.trades())
        self._t: float | None = None  # the walk starts at the first refresh (a session open)
        # set by the scheduler: the session running (None between sessions), its instruments
        self.session: str | None = None
        self.open_symbols: tuple[str, ...] = ()

    def position(self, member: int, asset: str) -> int:
        """Net traded amount of ``asset`` today (minor units) as of the last refresh."""
        return self.member_positions(member).get(asset, 0)

    def member_positions(self, member: int) -> dict[str, int]:
        """The live dict asset -> net traded amount of ``member`` (updated in place by every
        refresh, so a caller may keep it)."""
        found = self._positions.get(member)
        if found is None:
            found = self._positions[member] = {}
        return found

    def positions(self) -> dict[tuple[int, str], int]:
        """Every non-zero (member, asset) -> net traded amount, sorted by key."""
        return {(m, a): v for m, by_asset in sorted(self._positions.items())
                for a, v in sorted(by_asset.items()) if v}

    def refresh(self) -> int:
        """Advance the reference prices to the clock (the first call only starts the walk)
        and read the new trades; returns how many trades were new."""
        if self._t is not None:
            self.reference.advance(self.clock.t - self._t)
        self._t = self.clock.t
        records = self.exchange.trades()
        new = records[self._seen:]
        self._seen = len(records)
        if len(new):
            self._read(new)
        return len(new)

    def _read(self, new: np.ndarray) -> None:
        code = self._index_of[new["instrument"]]
        # the last trade of each instrument: first occurrence in the reversed slice
        found, first_rev = np.unique(code[::-1], return_index=True)
        prices = new["price_ticks"]
        for c, i in zip(found.tolist(), first_rev.tolist()):
            self.last[str(self._symbols[c])] = int(prices[len(new) - 1 - i])
        # a swap returns its base on the far leg
        base = np.where(np.isnat(new["far_settle_date"]), new["base_amount"], 0)
        quote = new["far_quote_amount"] - new["quote_amount"]
        n_assets = len(self._assets)
        members = np.concatenate([new["buyer"], new["seller"]] * 2)
        assets = np.concatenate([self._base[code], self._base[code],
                                 self._quote[code], self._quote[code]])
        amounts = np.concatenate([base, -base, quote, -quote])
        ids, inverse = np.unique(members, return_inverse=True)
        totals = np.zeros(len(ids) * n_assets, np.int64)
        np.add.at(totals, inverse * n_assets + assets, amounts)
        for cell in np.flatnonzero(totals).tolist():
            held = self.member_positions(int(ids[cell // n_assets]))
            asset = self._assets[cell % n_assets]
            held[asset] = held.get(asset, 0) + int(totals[cell])
