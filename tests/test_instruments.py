"""Instruments: definitions, exact tick/lot conversions, money amounts, instrument sets."""
from __future__ import annotations

import dataclasses
import decimal
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.records import GROSS, NET
from exchange.reference.instruments import (
    EUR,
    KZT,
    MAX_INT64,
    RUB,
    USD,
    Asset,
    DuplicateInstrumentError,
    Instrument,
    InstrumentDefinitionError,
    InstrumentSet,
    InstrumentValueError,
    Kind,
    default_instruments,
    to_decimal,
)

INSTRUMENTS = default_instruments()
ALL = list(INSTRUMENTS.values())
SWAPS = [i for i in ALL if i.kind is Kind.FX_SWAP]

instruments = st.sampled_from(ALL)
# Up to 10**12 ticks/lots: far above real prices, and products still fit in int64 for most.
counts = st.integers(min_value=1, max_value=10**12)


def exact_minor(value: Decimal, asset: Asset) -> Fraction:
    """Oracle: a Decimal amount in minor units of ``asset``, as an exact fraction."""
    return Fraction(value) / Fraction(asset.minor_unit)


# -- the default market ---------------------------------------------------------------------


def test_default_market_has_every_required_symbol():
    expected = {f"{pair}_{t}" for pair in ("USDKZT", "EURKZT", "RUBKZT", "EURUSD")
                for t in ("TOD", "TOM", "SPT")}
    expected |= {"USDKZT_SWAP_1D", "USDKZT_SWAP_2D", "EURKZT_SWAP_1D", "EURKZT_SWAP_2D",
                 "MEKAM_0120", "KZTK", "KZTO_B1"}
    assert set(INSTRUMENTS) == expected


@pytest.mark.parametrize("symbol, tick, lot, base, quote", [
    ("USDKZT_TOD", "0.01", "1000", USD, KZT),
    ("EURKZT_TOM", "0.01", "1000", EUR, KZT),
    ("RUBKZT_SPT", "0.0001", "10000", RUB, KZT),
    ("EURUSD_SPT", "0.0001", "1000", EUR, USD),
    ("KZTK", "0.01", "1", None, KZT),
])
def test_default_grids(symbol, tick, lot, base, quote):
    inst = INSTRUMENTS[symbol]
    assert inst.tick_size == Decimal(tick) and inst.lot_size == Decimal(lot)
    assert inst.quote == quote
    if base is not None:
        assert inst.base == base


@pytest.mark.parametrize("suffix, tenor", [("TOD", 0), ("TOM", 1), ("SPT", 2)])
def test_spot_tenors(suffix, tenor):
    for pair in ("USDKZT", "EURKZT", "RUBKZT", "EURUSD"):
        inst = INSTRUMENTS[f"{pair}_{suffix}"]
        assert (inst.kind, inst.tenor, inst.far_tenor) == (Kind.FX_SPOT, tenor, None)
        assert inst.settlement == NET


def test_swaps_and_securities():
    one, two = INSTRUMENTS["USDKZT_SWAP_1D"], INSTRUMENTS["USDKZT_SWAP_2D"]
    assert (one.tenor, one.far_tenor, two.tenor, two.far_tenor) == (0, 1, 0, 2)
    assert one.underlying is INSTRUMENTS["USDKZT_TOD"]
    kinds = {s: INSTRUMENTS[s].kind for s in ("MEKAM_0120", "KZTK", "KZTO_B1")}
    assert kinds == {"MEKAM_0120": Kind.GOVT, "KZTK": Kind.SHARE, "KZTO_B1": Kind.CORP_BOND}
    for symbol in kinds:
        inst = INSTRUMENTS[symbol]
        assert (inst.settlement, inst.tenor, inst.quote) == (GROSS, 0, KZT)
        assert not inst.base.is_currency and inst.base.decimals == 0


def test_currency_assets():
    assert [(a.code, a.decimals, a.region) for a in (KZT, USD, EUR, RUB)] == [
        ("KZT", 2, "KZ"), ("USD", 2, "US"), ("EUR", 2, "EU"), ("RUB", 2, "RU")]


def test_instrument_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        INSTRUMENTS["USDKZT_TOD"].tick_size = Decimal("1")


# -- conversions: examples ------------------------------------------------------------------


def test_conversion_examples():
    usd = INSTRUMENTS["USDKZT_TOD"]
    assert usd.to_ticks("450.12") == 45012
    assert usd.to_ticks(Decimal("450.1200")) == 45012
    assert usd.to_ticks(450) == 45000
    assert usd.from_ticks(45012) == Decimal("450.12")
    assert usd.to_lots("5000") == 5 and usd.from_lots(5) == Decimal(5000)
    assert usd.quote_amount(45012, 5) == 225_060_000  # 5,000 USD x 450.12 = 2,250,600.00 KZT
    assert usd.base_amount(5) == 500_000  # 5,000.00 USD in cents
    rub = INSTRUMENTS["RUBKZT_SPT"]
    assert rub.to_ticks("5.4321") == 54321
    assert rub.quote_amount(54321, 3) == 16_296_300  # 30,000 RUB x 5.4321 = 162,963.00 KZT
    share = INSTRUMENTS["KZTK"]
    assert share.quote_amount(share.to_ticks("31000.5"), 7) == 21_700_350  # 217,003.50 KZT
    assert share.base_amount(7) == 7


def test_numpy_integers_accepted_for_ticks_and_lots():
    usd = INSTRUMENTS["USDKZT_TOD"]
    assert usd.quote_amount(np.int64(45012), np.int32(5)) == 225_060_000
    assert usd.from_ticks(np.int64(45012)) == Decimal("450.12")


def test_from_ticks_is_exact_whatever_the_decimal_context():
    usd = INSTRUMENTS["EURUSD_TOD"]
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        price = usd.from_ticks(MAX_INT64)
    assert price == Decimal(MAX_INT64) * Decimal("0.0001")  # computed at default precision 28
    assert usd.to_ticks(price) == MAX_INT64


# -- conversions: properties ----------------------------------------------------------------


@given(instruments, counts)
def test_ticks_round_trip(inst, ticks):
    price = inst.from_ticks(ticks)
    assert Fraction(price) == ticks * Fraction(inst.tick_size)
    assert inst.to_ticks(price) == ticks
    assert inst.to_ticks(str(price)) == ticks


@given(instruments, counts)
def test_lots_round_trip(inst, lots):
    qty = inst.from_lots(lots)
    assert Fraction(qty) == lots * Fraction(inst.lot_size)
    assert inst.to_lots(qty) == lots
    assert inst.to_lots(str(qty)) == lots


@given(instruments, st.integers(0, 10**9), st.integers(1, 6), st.data())
def test_off_tick_price_always_refused(inst, ticks, digits, data):
    # A positive fraction of a tick, strictly between two grid points.
    part = data.draw(st.integers(1, 10**digits - 1))
    price = inst.tick_size * ticks + inst.tick_size * Decimal(part).scaleb(-digits)
    with pytest.raises(InstrumentValueError) as err:
        inst.to_ticks(price)
    message = str(err.value)
    assert inst.symbol in message and str(price) in message and str(inst.tick_size) in message


@given(instruments, st.integers(0, 10**9), st.integers(1, 6), st.data())
def test_fractional_lot_always_refused(inst, lots, digits, data):
    part = data.draw(st.integers(1, 10**digits - 1))
    qty = inst.lot_size * lots + inst.lot_size * Decimal(part).scaleb(-digits)
    with pytest.raises(InstrumentValueError) as err:
        inst.to_lots(qty)
    message = str(err.value)
    assert inst.symbol in message and str(qty) in message and str(inst.lot_size) in message


@given(instruments, counts, st.integers(1, 10**6))
def test_money_amounts_are_exact(inst, ticks, lots):
    price, qty = inst.from_ticks(ticks), inst.from_lots(lots)
    expected_quote = exact_minor(price, inst.quote) * Fraction(qty)
    expected_base = exact_minor(qty, inst.base)
    if expected_quote > MAX_INT64:
        with pytest.raises(InstrumentValueError, match="exceeds int64"):
            inst.quote_amount(ticks, lots)
        return
    quote, base = inst.quote_amount(ticks, lots), inst.base_amount(lots)
    assert type(quote) is int and type(base) is int
    assert quote == expected_quote and base == expected_base


@settings(max_examples=200)
@given(st.sampled_from(SWAPS), st.integers(1, 10**7), st.integers(1, 10**5),
       st.integers(1, 10**4))
def test_swap_legs_exact_and_directional(swap, ref, points, lots):
    legs = swap.swap_legs(ref, points, lots)
    qty = swap.from_lots(lots)
    near_rate = swap.underlying.from_ticks(ref)
    far_rate = near_rate + swap.from_ticks(points)
    assert legs.near_base == legs.far_base == exact_minor(qty, swap.base)
    assert legs.near_quote == exact_minor(near_rate * qty, swap.quote)
    assert legs.far_quote == exact_minor(far_rate * qty, swap.quote)
    # Positive points: the buyer gets back more quote on the far leg than it paid near.
    assert legs.far_quote - legs.near_quote == swap.quote_amount(points, lots)


# -- conversions: errors --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["to_ticks", "to_lots"])
@pytest.mark.parametrize("value", [0.5, 450.12, float("nan"), True, None, [1]])
def test_non_decimal_types_refused(method, value):
    with pytest.raises(TypeError, match="USDKZT_TOD"):
        getattr(INSTRUMENTS["USDKZT_TOD"], method)(value)


def test_float_message_says_why():
    with pytest.raises(TypeError, match="floats are refused"):
        INSTRUMENTS["USDKZT_TOD"].to_ticks(450.5)


@pytest.mark.parametrize("method", ["to_ticks", "to_lots"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN", "abc", "",
                                   Decimal("NaN"), Decimal("-Infinity")])
def test_not_a_finite_number_refused(method, value):
    with pytest.raises(InstrumentValueError, match="USDKZT_TOD"):
        getattr(INSTRUMENTS["USDKZT_TOD"], method)(value)


@pytest.mark.parametrize("method", ["to_ticks", "to_lots"])
@pytest.mark.parametrize("value", [0, "0", "-0.00", "-1000", Decimal("-450.12")])
def test_non_positive_refused(method, value):
    with pytest.raises(InstrumentValueError, match="not positive"):
        getattr(INSTRUMENTS["USDKZT_TOD"], method)(value)


@pytest.mark.parametrize("value, fragment", [
    (Decimal("1E+999999"), "beyond int64"), (Decimal("1E-999999"), "not a multiple"),
    ("0.001", "not a multiple"),
])
def test_extreme_exponents_refused(value, fragment):
    with pytest.raises(InstrumentValueError, match=fragment):
        INSTRUMENTS["USDKZT_TOD"].to_ticks(value)


@pytest.mark.parametrize("text", [
    "5_00", " 500 ", "500 ", "\t500", "1e3", "1E3", "nan", "inf", "5.", ".5", "0x1F", "5,00",
    "1 000", "\u0665\u0660\u0660", "--5", "+-5",
])
def test_only_plain_decimal_strings(text):
    usd = INSTRUMENTS["USDKZT_TOD"]
    with pytest.raises(InstrumentValueError, match="plain decimal"):
        usd.to_ticks(text)
    with pytest.raises(InstrumentValueError, match="plain decimal"):
        usd.to_lots(text)
    with pytest.raises(ValueError) as refused:
        to_decimal(text, "price")
    assert str(refused.value).startswith(f"price: {text!r} is not a plain decimal")


@pytest.mark.parametrize("text, value", [("512.35", "512.35"), ("-10", "-10"), ("+7", "7"),
                                         ("0001.50", "1.50")])
def test_plain_decimal_strings(text, value):
    assert to_decimal(text, "x") == Decimal(value)


def test_numpy_integers_are_ints_and_numpy_bools_are_not():
    usd = INSTRUMENTS["USDKZT_TOD"]
    assert usd.to_lots(np.int64(10_000)) == usd.to_lots(10_000) == 10
    assert to_decimal(np.uint16(7), "x") == Decimal(7)
    for value in (np.True_, np.float64(1.0), True):
        with pytest.raises(TypeError, match="x: expected Decimal, int or str"):
            to_decimal(value, "x")


def test_definition_integers_take_numpy_but_not_bools():
    asset = Asset("ABC", np.int64(2), "KZ")
    assert asset.decimals == 2 and type(asset.decimals) is int
    spot = Instrument("ABCKZT", Kind.FX_SPOT, asset, KZT, "0.01", "1", tenor=np.int8(1))
    assert spot.tenor == 1 and type(spot.tenor) is int
    with pytest.raises(InstrumentDefinitionError, match="decimals True"):
        Asset("ABC", True, "KZ")
    with pytest.raises(InstrumentDefinitionError, match=r"tenor (np\.)?True"):  # repr: numpy 2
        Instrument("ABCKZT", Kind.FX_SPOT, asset, KZT, "0.01", "1", tenor=np.True_)


def test_beyond_int64_refused():
    usd = INSTRUMENTS["USDKZT_TOD"]
    with pytest.raises(InstrumentValueError, match="beyond int64"):
        usd.to_ticks(Decimal(MAX_INT64 + 1) * usd.tick_size)
    with pytest.raises(InstrumentValueError, match="beyond int64"):
        usd.to_lots(Decimal(MAX_INT64 + 1) * usd.lot_size)


@pytest.mark.parametrize("method, args", [
    ("from_ticks", (0,)), ("from_ticks", (-5,)), ("from_lots", (0,)),
    ("from_ticks", (MAX_INT64 + 1,)), ("base_amount", (0,)),
    ("quote_amount", (0, 1)), ("quote_amount", (1, -1)),
])
def test_integer_inputs_out_of_range_refused(method, args):
    with pytest.raises(InstrumentValueError, match="USDKZT_TOD"):
        getattr(INSTRUMENTS["USDKZT_TOD"], method)(*args)


@pytest.mark.parametrize("method, args", [
    ("from_ticks", (1.0,)), ("from_lots", ("5",)), ("from_ticks", (True,)),
    ("quote_amount", (Decimal(1), 1)), ("base_amount", (2.0,)),
])
def test_integer_inputs_of_wrong_type_refused(method, args):
    with pytest.raises(TypeError, match="expected an integer"):
        getattr(INSTRUMENTS["USDKZT_TOD"], method)(*args)


def test_quote_amount_overflow_refused():
    usd = INSTRUMENTS["USDKZT_TOD"]  # 1,000 tiyn per tick and lot
    with pytest.raises(InstrumentValueError, match="exceeds int64"):
        usd.quote_amount(MAX_INT64 // 1000 + 1, 1)
    assert usd.quote_amount(MAX_INT64 // 1000, 1) == MAX_INT64 // 1000 * 1000


def test_swap_legs_refused_for_non_swap_and_bad_inputs():
    with pytest.raises(InstrumentValueError, match="not FX_SWAP"):
        INSTRUMENTS["USDKZT_TOD"].swap_legs(45000, 10, 1)
    swap = INSTRUMENTS["USDKZT_SWAP_1D"]
    for args in [(0, 10, 1), (45000, 0, 1), (45000, -3, 1), (45000, 10, 0)]:
        with pytest.raises(InstrumentValueError, match="USDKZT_SWAP_1D"):
            swap.swap_legs(*args)


# -- definitions ----------------------------------------------------------------------------


def spot(**changes):
    fields = dict(symbol="XXXKZT_TOD", kind=Kind.FX_SPOT, base=USD, quote=KZT,
                  tick_size="0.01", lot_size="1000")
    fields.update(changes)
    return Instrument(**fields)


def test_definition_converts_sizes_and_defaults_settlement():
    inst = spot(tick_size=Decimal("0.05"), lot_size=100)
    assert inst.tick_size == Decimal("0.05") and isinstance(inst.lot_size, Decimal)
    assert inst.settlement == NET
    bond = Instrument("B", Kind.CORP_BOND, Asset("B", 0, "KZ", False), KZT, "0.01", "1")
    assert bond.settlement == GROSS
    assert spot(settlement=GROSS).settlement == GROSS


@pytest.mark.parametrize("changes, fragment", [
    (dict(tick_size="0.001", lot_size="1"), "tick_size 0.001 x lot_size 1"),
    (dict(lot_size="0.001"), "lot_size 0.001 is not a whole number of USD"),
    (dict(tick_size="0"), "tick_size 0 is not positive"),
    (dict(lot_size="-1000"), "lot_size -1000 is not positive"),
    (dict(symbol="usdkzt"), "symbol 'usdkzt'"),
    (dict(symbol="A" * 17), "symbol"),
    (dict(symbol=""), "symbol"),
    (dict(base=KZT), "base and quote are both KZT"),
    (dict(kind="FX_SPOT"), "is not a Kind"),
    (dict(base="USD"), "is not an Asset"),
    (dict(tenor=3), "tenor 3"),
    (dict(tenor=-1), "tenor -1"),
    (dict(tenor=True), "tenor True"),
    (dict(far_tenor=1), "only swaps have a far_tenor"),
    (dict(settlement=5), "settlement 5"),
    (dict(kind=Kind.SHARE), "needs base a security"),
    (dict(quote=Asset("BOND", 0, "KZ", False)), "quote asset BOND is not a currency"),
])
def test_bad_definitions_refused(changes, fragment):
    with pytest.raises(InstrumentDefinitionError) as err:
        spot(**changes)
    assert fragment in str(err.value)


def test_float_tick_size_refused():
    with pytest.raises(TypeError, match="tick_size"):
        spot(tick_size=0.01)


def test_swap_definitions():
    under = INSTRUMENTS["USDKZT_TOD"]
    good = Instrument("S", Kind.FX_SWAP, USD, KZT, "0.01", "1000", tenor=1, far_tenor=2,
                      underlying=under)
    assert good.swap_legs(45000, 1, 1).far_quote == 45_001_000
    bad = [
        dict(far_tenor=None), dict(far_tenor=0), dict(tenor=1, far_tenor=1),
        dict(far_tenor=11), dict(underlying=None), dict(underlying=INSTRUMENTS["EURKZT_TOD"]),
        dict(underlying=INSTRUMENTS["USDKZT_SWAP_1D"]), dict(tick_size="0.001", lot_size="1"),
    ]
    for changes in bad:
        fields = dict(symbol="S", kind=Kind.FX_SWAP, base=USD, quote=KZT, tick_size="0.01",
                      lot_size="1000", tenor=0, far_tenor=1, underlying=under)
        fields.update(changes)
        with pytest.raises(InstrumentDefinitionError, match="^S: "):
            Instrument(**fields)
    with pytest.raises(InstrumentDefinitionError, match="only swaps have an underlying"):
        spot(underlying=under)


def test_swap_with_finer_underlying_tick_checked():
    # Underlying tick 0.0001 on a 1-unit lot is not a whole tiyn: refused for the swap too.
    fine = Instrument("F", Kind.FX_SPOT, USD, KZT, "0.0001", "100")
    with pytest.raises(InstrumentDefinitionError, match="underlying tick_size 0.0001"):
        Instrument("S", Kind.FX_SWAP, USD, KZT, "0.01", "1", far_tenor=1, underlying=fine)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(code="usd", decimals=2, region="US"), "asset code 'usd'"),
    (dict(code="A" * 13, decimals=2, region="US"), "asset code"),
    (dict(code="USD", decimals=-1, region="US"), "decimals -1"),
    (dict(code="USD", decimals=2.0, region="US"), "decimals 2.0"),
    (dict(code="USD", decimals=2, region=""), "region ''"),
])
def test_bad_assets_refused(kwargs, fragment):
    with pytest.raises(InstrumentDefinitionError) as err:
        Asset(**kwargs)
    assert fragment in str(err.value)


def test_asset_minor_units():
    assert KZT.to_minor("1234.56") == 123456 and KZT.to_minor(-2) == -200
    assert KZT.from_minor(123456) == Decimal("1234.56")
    with pytest.raises(InstrumentValueError, match="KZT amount 0.001"):
        KZT.to_minor("0.001")
    with pytest.raises(TypeError):
        KZT.to_minor(1.5)


# -- instrument sets ------------------------------------------------------------------------


def test_set_add_and_lookup():
    market = InstrumentSet()
    inst = market.add(spot())
    assert market["XXXKZT_TOD"] is inst and len(market) == 1 and list(market) == ["XXXKZT_TOD"]
    assert market.assets == {"USD": USD, "KZT": KZT}
    with pytest.raises(KeyError, match="NOPE"):
        market["NOPE"]


def test_set_refuses_duplicates_and_changes_nothing():
    market = InstrumentSet()
    market.add(spot())
    with pytest.raises(DuplicateInstrumentError, match="XXXKZT_TOD"):
        market.add(spot(tick_size="0.05"))
    assert market["XXXKZT_TOD"].tick_size == Decimal("0.01") and len(market) == 1


def test_set_refuses_conflicting_asset_definitions():
    market = InstrumentSet()
    market.add(spot())
    odd_usd = Asset("USD", 0, "US")
    with pytest.raises(DuplicateInstrumentError, match="asset USD"):
        market.add(spot(symbol="OTHER", base=odd_usd, lot_size="1000"))
    assert "OTHER" not in market and market.assets["USD"] == USD


def test_set_refuses_non_instruments():
    with pytest.raises(TypeError):
        InstrumentSet().add("USDKZT_TOD")


def test_default_instruments_is_a_fresh_set_each_call():
    first, second = default_instruments(), default_instruments()
    first.add(spot())
    assert "XXXKZT_TOD" in first and "XXXKZT_TOD" not in second
    assert second["USDKZT_TOD"] == first["USDKZT_TOD"]


def test_set_from_mapping():
    copy = InstrumentSet(INSTRUMENTS)
    assert dict(copy) == dict(INSTRUMENTS)
