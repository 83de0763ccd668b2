"""Business days and settlement dates, built on the ``holidays`` package.

A date is a business day in a *region* (an
:class:`~exchange.reference.instruments.Asset`'s ``region``) when it is a configured extra
working day there, or else when it is a Monday..Friday that is neither a public holiday of the
region nor a configured extra holiday. Weekend days that the
government declared working days (Kazakhstan and Russia move days off) count as business days
when the ``holidays`` package knows them (its ``weekend_workdays``) or when configured.

Regions and their holiday sources: ``"KZ"`` Kazakhstan, ``"RU"`` Russia (public holidays);
``"US"`` the Federal Reserve calendar (``holidays.financial_holidays('FED')``: the days USD does
not settle); ``"EU"`` the ECB's TARGET2 calendar (``financial_holidays('ECB')``). Any other
region code is looked up as a country of the ``holidays`` package, then as a financial market.

Settlement: an instrument traded on day T settles on T+n (n = its tenor), the n-th day after T
that is a business day in the home region (``"KZ"``: the exchange and its clearing house) and in
the region of each of its assets; T+0 is T itself. Trading happens on home business days only,
and an instrument settling T+0 also needs T to be a business day for its assets: USDKZT_TOD does
not trade on 4 July, USDKZT_TOM does and settles on the next day open in both KZ and the US. A
security (both assets in KZ) follows the KZ calendar alone.

Holiday sets are computed once per (region, year) and each (region, day) answer is memoised; a
business-day test is then one dict lookup per region, O(number of regions).
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping

import holidays

from exchange.reference.instruments import Asset, Instrument
from exchange.reference.numbers import checked_int

__all__ = ["Calendar", "CalendarError", "NonBusinessDayError", "HOME_REGION"]

#: The exchange's own region: trading and clearing happen on its business days.
HOME_REGION = "KZ"

#: Longest run of consecutive non-business days searched before giving up (a guard against a
#: configuration that closes a region for good; real runs are under two weeks).
_MAX_CLOSED_RUN = 60

# Regions whose settlement calendar is a financial one, not the country's public holidays.
_FINANCIAL_REGIONS = {"US": "FED", "EU": "ECB"}

HolidayLoader = Callable[[int], tuple[frozenset[_dt.date], frozenset[_dt.date]]]


class CalendarError(ValueError):
    """Base of the calendar's errors (bad dates, regions, or configuration)."""


class NonBusinessDayError(CalendarError):
    """A trade or settlement on a day that is not a business day where it must be."""


def _check_date(value: object, what: str) -> _dt.date:
    # datetime is a subclass of date; refusing it keeps a time of day from being dropped silently.
    if not isinstance(value, _dt.date) or isinstance(value, _dt.datetime):
        raise TypeError(f"{what}: expected a datetime.date, got {type(value).__name__} "
                        f"{value!r}")
    return value


def _package_loader(region: str) -> HolidayLoader:
    """A function year -> (holidays, weekend working days) of ``region`` from ``holidays``."""
    if region in _FINANCIAL_REGIONS:
        def make(year: int) -> holidays.HolidayBase:
            return holidays.financial_holidays(_FINANCIAL_REGIONS[region], years=year)
    elif region in holidays.list_supported_countries():
        def make(year: int) -> holidays.HolidayBase:
            return holidays.country_holidays(region, years=year)
    elif region in holidays.list_supported_financial():
        def make(year: int) -> holidays.HolidayBase:
            return holidays.financial_holidays(region, years=year)
    else:
        raise CalendarError(f"region {region!r}: the holidays package knows no such country "
                            f"or market")

    def load(year: int) -> tuple[frozenset[_dt.date], frozenset[_dt.date]]:
        table = make(year)
        # weekend_workdays may carry dates of other years: keep only this year's.
        workdays = getattr(table, "weekend_workdays", ()) or ()
        return (frozenset(d for d in table if d.year == year),
                frozenset(d for d in workdays if d.year == year))

    return load


class Calendar:
    """Business days per region and settlement dates of instruments.

    ``extra_holidays`` and ``extra_working_days`` map a region code to dates that are closed
    or open there whatever the ``holidays`` package says (an extra working day may be a weekend
    day). A date in both for one region raises CalendarError. The calendar is immutable after
    construction, so its per-year caches never go stale.
    """

    def __init__(self,
                 extra_holidays: Mapping[str, Iterable[_dt.date]] | None = None,
                 extra_working_days: Mapping[str, Iterable[_dt.date]] | None = None,
                 home_region: str = HOME_REGION) -> None:
        self._extra_closed = self._date_sets(extra_holidays, "extra_holidays")
        self._extra_open = self._date_sets(extra_working_days, "extra_working_days")
        for region, days in self._extra_closed.items():
            both = days & self._extra_open.get(region, frozenset())
            if both:
                raise CalendarError(f"region {region}: {sorted(both)[0]} is both an extra "
                                    f"holiday and an extra working day")
        if not isinstance(home_region, str) or not home_region:
            raise CalendarError(f"home_region {home_region!r} is not a region code")
        self.home_region = home_region
        self._loaders: dict[str, HolidayLoader] = {}
        self._years: dict[tuple[str, int], tuple[frozenset[_dt.date], frozenset[_dt.date]]] = {}
        self._days: dict[tuple[str, _dt.date], bool] = {}
        self._settlements: dict[tuple, _dt.date] = {}

    @staticmethod
    def _date_sets(config: Mapping[str, Iterable[_dt.date]] | None,
                   what: str) -> dict[str, frozenset[_dt.date]]:
        result: dict[str, frozenset[_dt.date]] = {}
        for region, days in (config or {}).items():
            if not isinstance(region, str) or not region:
                raise CalendarError(f"{what}: region {region!r} is not a region code")
            result[region] = frozenset(_check_date(d, f"{what}[{region!r}]") for d in days)
        return result

    # -- one region ----------------------------------------------------------------------------

    def _year(self, region: str, year: int) -> tuple[frozenset[_dt.date], frozenset[_dt.date]]:
        """(closed weekdays and holidays, open weekend days) of ``region`` in ``year``, cached."""
        key = (region, year)
        cached = self._years.get(key)
        if cached is None:
            loader = self._loaders.get(region)
            if loader is None:
                loader = self._loaders[region] = _package_loader(region)
            closed, open_ = loader(year)
            cached = self._years[key] = (closed, open_)
        return cached

    def _open_in(self, day: _dt.date, region: str) -> bool:
        """True if ``day`` is a business day in ``region``; memoised per (region, day)."""
        key = (region, day)
        known = self._days.get(key)
        if known is None:
            known = self._days[key] = self._compute_open(day, region)
        return known

    def _compute_open(self, day: _dt.date, region: str) -> bool:
        if day in self._extra_open.get(region, ()):
            return True
        if day in self._extra_closed.get(region, ()):
            return False
        closed, open_ = self._year(region, day.year)
        if day.weekday() >= 5:
            return day in open_
        return day not in closed

    def _closed_region(self, day: _dt.date, regions: Iterable[str]) -> str | None:
        """The first region of ``regions`` where ``day`` is not a business day, or None."""
        for region in regions:
            if not self._open_in(day, region):
                return region
        return None

    # -- public API ----------------------------------------------------------------------------

    def is_business_day(self, day: _dt.date, assets: Iterable[Asset]) -> bool:
        """True if ``day`` is a business day in the region of every asset of ``assets``.

        The home region is not implied here (pass an asset of it, e.g. KZT, if it matters).
        Raises TypeError for a non-date or non-Asset, CalendarError for an unknown region.
        O(len(assets)) after the first call for a (region, year).
        """
        return self._closed_region(_check_date(day, "day"), self._regions(assets)) is None

    def next_business_day(self, day: _dt.date, assets: Iterable[Asset]) -> _dt.date:
        """The first business day for all ``assets`` strictly after ``day``."""
        return self.add_business_days(day, 1, assets)

    def add_business_days(self, day: _dt.date, n: int, assets: Iterable[Asset]) -> _dt.date:
        """The ``n``-th business day for all ``assets`` strictly after ``day`` (``n >= 0``).

        ``n == 0`` gives ``day`` itself if it is a business day, else the next one (the
        "following" convention). ``day`` need not be a business day; ``n`` may be a numpy
        integer. Raises TypeError for a bool or non-integer ``n``, CalendarError (a
        ValueError) for a negative one or if no business day occurs within 60 days. O(n + run of
        closed days).
        """
        _check_date(day, "day")
        n = checked_int(n, "n", 0, CalendarError)
        regions = self._regions(assets)
        if n == 0 and self._closed_region(day, regions) is None:
            return day
        for _ in range(max(n, 1)):
            day = self._step(day, regions)
        return day

    def settlement_date(self, trade_date: _dt.date, instrument: Instrument,
                        far: bool = False) -> _dt.date:
        """The date a trade in ``instrument`` on ``trade_date`` settles; with ``far=True``, the
        date of a swap's far leg.

        T+n (n = tenor, or far_tenor) is the n-th day after T that is a business day in the home
        region and in the region of both assets; T+0 is T. Raises NonBusinessDayError naming the
        date if the instrument does not trade on ``trade_date`` (see :meth:`is_trading_day`);
        ValueError for ``far=True`` on a non-swap. O(n + run of closed days).
        """
        if not isinstance(instrument, Instrument):
            raise TypeError(f"instrument: expected an Instrument, got "
                            f"{type(instrument).__name__} {instrument!r}")
        # Memo key: everything the answer depends on, so equal instruments of any set share it.
        key = (trade_date, instrument.base.region, instrument.quote.region, instrument.tenor,
               instrument.far_tenor if far else instrument.tenor)
        known = self._settlements.get(key)
        if known is not None:
            return known
        _check_date(trade_date, "trade_date")
        regions = self._instrument_regions(instrument)
        steps = instrument.far_tenor if far else instrument.tenor
        if steps is None:
            raise ValueError(f"{instrument.symbol} is {instrument.kind.name}: it has no far leg")
        closed = self._why_not_trading(trade_date, instrument, regions)
        if closed == self.home_region:
            raise NonBusinessDayError(f"trade date {trade_date.isoformat()} is not a business "
                                      f"day in {closed}: no trading")
        if closed is not None:
            raise NonBusinessDayError(
                f"{instrument.symbol} does not trade on {trade_date.isoformat()}: it settles "
                f"T+0 and that is not a business day in {closed}")
        day = trade_date
        for _ in range(steps):
            day = self._step(day, regions)
        self._settlements[key] = day
        return day

    def is_trading_day(self, trade_date: _dt.date, instrument: Instrument) -> bool:
        """True if ``instrument`` trades on ``trade_date`` (settlement_date would not raise).

        An instrument trades on home-region business days, except that one settling T+0 (TOD,
        a TOD/.. swap, a T+0 security) also needs the date to be a business day in both its
        assets' regions: USDKZT_TOD does not trade on 4 July, USDKZT_TOM does.
        """
        day = _check_date(trade_date, "trade_date")
        regions = self._instrument_regions(instrument)
        return self._why_not_trading(day, instrument, regions) is None

    # -- helpers -------------------------------------------------------------------------------

    def _instrument_regions(self, instrument: Instrument) -> tuple[str, ...]:
        """The home region, then the regions of the instrument's assets, without repeats."""
        if not isinstance(instrument, Instrument):
            raise TypeError(f"instrument: expected an Instrument, got "
                            f"{type(instrument).__name__} {instrument!r}")
        return self._regions((instrument.base, instrument.quote), first=self.home_region)

    def _why_not_trading(self, day: _dt.date, instrument: Instrument,
                         regions: tuple[str, ...]) -> str | None:
        """The region whose closure stops ``instrument`` trading on ``day``, or None."""
        if not self._open_in(day, self.home_region):
            return self.home_region
        return self._closed_region(day, regions) if instrument.tenor == 0 else None

    def _regions(self, assets: Iterable[Asset], first: str | None = None) -> tuple[str, ...]:
        """Distinct regions of ``assets`` in first-seen order, after ``first`` if given."""
        if isinstance(assets, Asset):
            raise TypeError("assets: expected an iterable of Asset, got a single Asset "
                            f"{assets.code} (wrap it in a tuple)")
        regions: list[str] = [] if first is None else [first]
        for asset in assets:
            if not isinstance(asset, Asset):
                raise TypeError(f"assets: expected Asset, got {type(asset).__name__} {asset!r}")
            if asset.region not in regions:
                regions.append(asset.region)
        return tuple(regions)

    def _step(self, day: _dt.date, regions: tuple[str, ...]) -> _dt.date:
        """The first day after ``day`` open in all ``regions``."""
        one = _dt.timedelta(days=1)
        for _ in range(_MAX_CLOSED_RUN):
            day += one
            if self._closed_region(day, regions) is None:
                return day
        raise CalendarError(f"no business day in {', '.join(regions)} within "
                            f"{_MAX_CLOSED_RUN} days after {(day - one * _MAX_CLOSED_RUN)}")
