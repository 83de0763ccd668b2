"""Calendar: business days per region, business-day arithmetic, settlement dates."""
from __future__ import annotations

import datetime as dt

import holidays
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.reference import calendar as calendar_module
from exchange.reference.calendar import Calendar, CalendarError, NonBusinessDayError
from exchange.reference.instruments import EUR, KZT, RUB, USD, Asset, default_instruments

D = dt.date
INSTRUMENTS = default_instruments()
CAL = Calendar()  # shared: its caches only speed things up, it is immutable

dates = st.dates(min_value=D(2020, 1, 1), max_value=D(2030, 12, 31))
instruments = st.sampled_from(list(INSTRUMENTS.values()))


def pair(instrument):
    return (KZT, instrument.base, instrument.quote)


def open_days_between(start, end, assets):
    """Oracle for counting: business days d with start < d <= end, tested one by one."""
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        count += CAL.is_business_day(day, assets)
    return count


# -- known days -------------------------------------------------------------------------------


@pytest.mark.parametrize("day, assets, expected", [
    (D(2025, 12, 16), (KZT,), False),  # Independence Day
    (D(2025, 12, 16), (USD,), True),
    (D(2025, 7, 4), (USD,), False),  # US Independence Day
    (D(2025, 7, 4), (KZT,), True),
    (D(2025, 7, 7), (KZT,), False),  # Capital Day (6 July, a Sunday) observed on Monday
    (D(2025, 4, 18), (EUR,), False),  # Good Friday: TARGET closed
    (D(2025, 4, 18), (USD,), True),  # ... the Fed is open
    (D(2025, 4, 21), (EUR,), False),  # Easter Monday
    (D(2025, 6, 12), (RUB,), False),  # Russia Day
    (D(2025, 1, 5), (KZT,), True),  # a Sunday made a working day (for 3 January)
    (D(2025, 1, 3), (KZT,), False),
    (D(2025, 3, 3), (KZT, USD, EUR, RUB), True),  # an ordinary Monday
    (D(2025, 3, 1), (KZT,), False),  # Saturday
    (D(2025, 3, 2), (USD,), False),  # Sunday
])
def test_known_days(day, assets, expected):
    assert CAL.is_business_day(day, assets) is expected


@pytest.mark.parametrize("year", [2024, 2025, 2026, 2027])
@pytest.mark.parametrize("asset", [KZT, USD, EUR, RUB])
def test_new_year_closed_everywhere(year, asset):
    assert not CAL.is_business_day(D(year, 1, 1), (asset,))


def test_needs_every_asset_open():
    assert not CAL.is_business_day(D(2025, 7, 4), (KZT, USD))
    assert not CAL.is_business_day(D(2025, 12, 16), (KZT, USD))
    assert CAL.is_business_day(D(2025, 7, 3), (KZT, USD))


@given(dates)
def test_weekends_closed_unless_declared_working(day):
    if day.weekday() >= 5:
        declared = getattr(holidays.country_holidays("KZ", years=day.year),
                           "weekend_workdays", set())
        assert CAL.is_business_day(day, (KZT,)) is (day in declared)
        assert not CAL.is_business_day(day, (USD,))
        assert not CAL.is_business_day(day, (EUR,))


# -- business-day arithmetic -----------------------------------------------------------------


def test_add_business_days_examples():
    assert CAL.add_business_days(D(2025, 3, 3), 5, (KZT,)) == D(2025, 3, 11)  # 8 March is Sat
    assert CAL.add_business_days(D(2025, 3, 3), 0, (KZT,)) == D(2025, 3, 3)
    assert CAL.add_business_days(D(2025, 12, 16), 0, (KZT,)) == D(2025, 12, 17)  # following
    assert CAL.next_business_day(D(2025, 7, 3), (KZT, USD)) == D(2025, 7, 8)
    assert CAL.next_business_day(D(2025, 12, 31), (KZT,)) == D(2026, 1, 5)


@settings(max_examples=150)
@given(dates, st.integers(0, 15), st.lists(st.sampled_from([KZT, USD, EUR, RUB]), min_size=1,
                                            max_size=4))
def test_add_business_days_counts_only_business_days(day, n, assets):
    result = CAL.add_business_days(day, n, assets)
    assert CAL.is_business_day(result, assets)
    if n == 0:
        assert result >= day and open_days_between(day, result - dt.timedelta(days=1),
                                                   assets) == 0
    else:
        assert result > day and open_days_between(day, result, assets) == n


@pytest.mark.parametrize("n, error", [(-1, CalendarError), (1.0, TypeError), (True, TypeError),
                                      (np.True_, TypeError), ("1", TypeError)])
def test_add_business_days_bad_n(n, error):
    with pytest.raises(error, match="n: "):
        CAL.add_business_days(D(2025, 3, 3), n, (KZT,))


def test_add_business_days_takes_numpy_integers():
    assert CAL.add_business_days(D(2025, 3, 3), np.int64(2), (KZT,)) == \
        CAL.add_business_days(D(2025, 3, 3), 2, (KZT,)) == D(2025, 3, 5)


def test_holidays_of_the_declared_minimum_version():
    # holidays < 0.104 still closed Monday 31 August 2026 (Constitution Day) in KZ
    assert CAL.is_business_day(D(2026, 8, 31), (KZT,))
    # holidays >= 0.109 has the Fed's calendar: Columbus Day closes USD settlement
    assert not CAL.is_business_day(D(2026, 10, 12), (USD,))
    assert CAL.is_business_day(D(2026, 10, 12), (KZT,))


# -- settlement -------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol, trade, settle", [
    ("USDKZT_TOD", D(2025, 7, 3), D(2025, 7, 3)),
    ("USDKZT_TOM", D(2025, 7, 3), D(2025, 7, 8)),  # 4 July (US), weekend, 7 July (KZ)
    ("USDKZT_SPT", D(2025, 7, 3), D(2025, 7, 9)),
    ("USDKZT_TOM", D(2025, 7, 4), D(2025, 7, 8)),  # TOM trades on a US holiday
    ("USDKZT_TOM", D(2025, 12, 15), D(2025, 12, 17)),  # 16 Dec skipped
    ("EURUSD_TOM", D(2025, 4, 17), D(2025, 4, 22)),  # Good Friday, weekend, Easter Monday
    ("EURKZT_SPT", D(2025, 4, 17), D(2025, 4, 23)),
    ("EURUSD_TOM", D(2025, 12, 15), D(2025, 12, 17)),  # KZ closed on 16 Dec: no clearing
    ("RUBKZT_TOM", D(2025, 6, 11), D(2025, 6, 16)),  # Russia Day 12 June, 13 June moved off
    ("KZTK", D(2025, 7, 4), D(2025, 7, 4)),  # securities: KZ only
    ("USDKZT_TOM", D(2025, 12, 31), D(2026, 1, 5)),  # 1-2 January, weekend
])
def test_known_settlement_dates(symbol, trade, settle):
    assert CAL.settlement_date(trade, INSTRUMENTS[symbol]) == settle


def test_swap_near_and_far_legs():
    swap = INSTRUMENTS["USDKZT_SWAP_2D"]
    assert CAL.settlement_date(D(2025, 7, 3), swap) == D(2025, 7, 3)
    assert CAL.settlement_date(D(2025, 7, 3), swap, far=True) == D(2025, 7, 9)
    with pytest.raises(ValueError, match="USDKZT_TOM is FX_SPOT: it has no far leg"):
        CAL.settlement_date(D(2025, 7, 3), INSTRUMENTS["USDKZT_TOM"], far=True)


@pytest.mark.parametrize("day", [D(2025, 12, 16), D(2025, 1, 1), D(2025, 3, 1), D(2025, 3, 2)])
@pytest.mark.parametrize("symbol", ["USDKZT_TOM", "KZTK", "EURUSD_SPT"])
def test_trade_on_home_holiday_or_weekend_refused(day, symbol):
    with pytest.raises(NonBusinessDayError, match=day.isoformat()):
        CAL.settlement_date(day, INSTRUMENTS[symbol])
    assert not CAL.is_trading_day(day, INSTRUMENTS[symbol])


@pytest.mark.parametrize("symbol", ["USDKZT_TOD", "USDKZT_SWAP_1D", "EURUSD_TOD"])
def test_t0_on_foreign_holiday_refused(symbol):
    with pytest.raises(NonBusinessDayError, match="2025-07-04.*US"):
        CAL.settlement_date(D(2025, 7, 4), INSTRUMENTS[symbol])
    assert not CAL.is_trading_day(D(2025, 7, 4), INSTRUMENTS[symbol])
    assert CAL.is_trading_day(D(2025, 7, 4), INSTRUMENTS["USDKZT_TOM"])


@settings(max_examples=300)
@given(dates, instruments)
def test_settlement_dates_are_business_days_for_both_currencies(day, inst):
    if not CAL.is_trading_day(day, inst):
        with pytest.raises(NonBusinessDayError, match=day.isoformat()):
            CAL.settlement_date(day, inst)
        return
    assert CAL.is_business_day(day, (KZT,))
    legs = [(inst.tenor, False)] + ([(inst.far_tenor, True)] if inst.far_tenor else [])
    for tenor, far in legs:
        settle = CAL.settlement_date(day, inst, far=far)
        assert CAL.is_business_day(settle, pair(inst))
        assert open_days_between(day, settle, pair(inst)) == tenor
        assert (settle == day) is (tenor == 0)


@settings(max_examples=200)
@given(dates, st.sampled_from(["USDKZT", "EURKZT", "RUBKZT", "EURUSD"]))
def test_later_tenors_settle_later(day, pair_code):
    tod, tom, spt = (INSTRUMENTS[f"{pair_code}_{t}"] for t in ("TOD", "TOM", "SPT"))
    if not CAL.is_trading_day(day, tom):
        return
    assert CAL.settlement_date(day, tom) < CAL.settlement_date(day, spt)
    if CAL.is_trading_day(day, tod):
        assert CAL.settlement_date(day, tod) == day < CAL.settlement_date(day, tom)


# -- configuration ----------------------------------------------------------------------------


def test_extra_holiday_and_working_day():
    cal = Calendar(extra_holidays={"KZ": [D(2025, 3, 5)]},
                   extra_working_days={"KZ": [D(2025, 3, 8)], "US": [D(2025, 7, 4)]})
    assert not cal.is_business_day(D(2025, 3, 5), (KZT,))
    assert cal.is_business_day(D(2025, 3, 8), (KZT,))  # a Saturday made a working day
    assert cal.is_business_day(D(2025, 7, 4), (USD,))  # holiday overridden
    assert cal.settlement_date(D(2025, 3, 4), INSTRUMENTS["USDKZT_TOM"]) == D(2025, 3, 6)
    with pytest.raises(NonBusinessDayError, match="2025-03-05"):
        cal.settlement_date(D(2025, 3, 5), INSTRUMENTS["KZTK"])
    assert CAL.is_business_day(D(2025, 3, 5), (KZT,))  # other calendars unaffected


def test_conflicting_configuration_refused():
    with pytest.raises(CalendarError, match="2025-03-05"):
        Calendar(extra_holidays={"KZ": [D(2025, 3, 5)]},
                 extra_working_days={"KZ": [D(2025, 3, 5)]})
    with pytest.raises(TypeError, match="extra_holidays"):
        Calendar(extra_holidays={"KZ": ["2025-03-05"]})
    with pytest.raises(CalendarError, match="region"):
        Calendar(extra_holidays={"": [D(2025, 3, 5)]})


def test_unknown_region_refused():
    odd = Asset("XYZ", 2, "ATLANTIS")
    with pytest.raises(CalendarError, match="ATLANTIS"):
        CAL.is_business_day(D(2025, 3, 3), (odd,))


def test_other_package_regions_work():
    gbp = Asset("GBP", 2, "GB")
    assert not CAL.is_business_day(D(2025, 12, 25), (gbp,))
    assert CAL.is_business_day(D(2025, 12, 24), (gbp,))


def test_a_region_closed_for_good_is_reported():
    closed = Calendar(extra_holidays={"KZ": [D(2025, 3, 1) + dt.timedelta(days=i)
                                             for i in range(90)]})
    with pytest.raises(CalendarError, match="no business day"):
        closed.next_business_day(D(2025, 3, 1), (KZT,))


@pytest.mark.parametrize("bad", ["2025-03-03", dt.datetime(2025, 3, 3, 12), 20250303, None])
def test_non_dates_refused(bad):
    with pytest.raises(TypeError, match="datetime.date"):
        CAL.is_business_day(bad, (KZT,))
    with pytest.raises(TypeError, match="datetime.date"):
        CAL.settlement_date(bad, INSTRUMENTS["USDKZT_TOM"])


def test_bad_assets_and_instruments_refused():
    with pytest.raises(TypeError, match="single Asset"):
        CAL.is_business_day(D(2025, 3, 3), KZT)
    with pytest.raises(TypeError, match="expected Asset"):
        CAL.is_business_day(D(2025, 3, 3), ("KZT",))
    with pytest.raises(TypeError, match="expected an Instrument"):
        CAL.settlement_date(D(2025, 3, 3), "USDKZT_TOM")


# -- caching ----------------------------------------------------------------------------------


def test_holiday_tables_loaded_once_per_region_and_year(monkeypatch):
    calls = []
    real = holidays.country_holidays

    def counting(country, *args, **kwargs):
        calls.append((country, kwargs.get("years")))
        return real(country, *args, **kwargs)

    monkeypatch.setattr(calendar_module.holidays, "country_holidays", counting)
    cal = Calendar()
    start = D(2025, 1, 1)
    for i in range(730):
        cal.is_business_day(start + dt.timedelta(days=i), (KZT,))
    cal.settlement_date(D(2025, 3, 3), INSTRUMENTS["KZTK"])
    assert sorted(calls) == [("KZ", 2025), ("KZ", 2026)]
