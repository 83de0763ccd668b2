"""Fees: basis-point rates with a minimum, rounded half up to the minor unit."""
from __future__ import annotations

import dataclasses
import decimal
import re
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.reference.fees import (
    DEFAULT_MINIMUM,
    MAX_BP,
    FeeError,
    FeeRule,
    FeeSchedule,
    default_fee_schedule,
)
from exchange.reference.instruments import MAX_INT64, Kind, default_instruments

INSTRUMENTS = default_instruments()
USDKZT = INSTRUMENTS["USDKZT_TOD"]
EURUSD = INSTRUMENTS["EURUSD_SPT"]
KZTK = INSTRUMENTS["KZTK"]
DEFAULT = default_fee_schedule()


def oracle(amount: int, bp: Decimal, minimum: int) -> int:
    """Independent computation with Decimal's own ROUND_HALF_UP at ample precision."""
    with decimal.localcontext() as ctx:
        ctx.prec = 80
        raw = (Decimal(amount) * bp / Decimal(10_000)).quantize(Decimal(1), ROUND_HALF_UP)
    return max(int(raw), minimum)


def schedule(taker="1", maker=None, minimum=0, kind=Kind.FX_SPOT):
    codes = ("KZT", "USD", "EUR", "RUB")
    return FeeSchedule({kind: FeeRule(taker, maker, dict.fromkeys(codes, minimum))})


bps = st.decimals(min_value=0, max_value=MAX_BP, places=4, allow_nan=False,
                  allow_infinity=False)
amounts = st.integers(min_value=1, max_value=MAX_INT64)


@given(amounts, bps, st.integers(0, 10**6), st.booleans())
def test_fee_matches_half_up_oracle(amount, bp, minimum, is_taker):
    fees = schedule(taker=bp, maker=bp, minimum=minimum)
    assert fees.fee(USDKZT, amount, is_taker) == oracle(amount, bp, minimum)


@given(amounts, amounts, bps)
def test_fee_grows_with_trade_value(a, b, bp):
    fees = schedule(taker=bp, minimum=100)
    low, high = sorted((a, b))
    assert 100 <= fees.fee(USDKZT, low, True) <= fees.fee(USDKZT, high, True)


def test_rounding_half_up_at_the_boundary():
    fees = schedule(taker="1")  # fee = amount / 10,000
    assert fees.fee(USDKZT, 15_000, True) == 2  # 1.5 -> 2
    assert fees.fee(USDKZT, 14_999, True) == 1  # 1.4999 -> 1
    assert fees.fee(USDKZT, 25_000, True) == 3  # 2.5 -> 3 (half up, not to even)
    assert fees.fee(USDKZT, 4_999, True) == 0  # below half a minor unit, no minimum


def test_maker_and_taker_rates():
    fees = schedule(taker="2", maker="0.5")
    assert fees.fee(USDKZT, 10**8, True) == 20_000
    assert fees.fee(USDKZT, 10**8, False) == 5_000
    same = schedule(taker="2")
    assert same.fee(USDKZT, 10**8, False) == same.fee(USDKZT, 10**8, True) == 20_000


def test_minimum_applies_per_quote_currency():
    # One lot of USD/KZT at 450.00: 45,000,000 tiyn x 0.5 bp = 2,250 tiyn < 100 KZT minimum.
    assert DEFAULT.fee(USDKZT, USDKZT.quote_amount(45_000, 1), True) == 10_000
    # 1,000 lots: 45,000,000,000 tiyn x 0.5 bp = 2,250,000 tiyn.
    assert DEFAULT.fee(USDKZT, USDKZT.quote_amount(45_000, 1000), False) == 2_250_000
    # EUR/USD pays in USD cents, with the USD minimum.
    assert DEFAULT.fee(EURUSD, EURUSD.quote_amount(10_850, 1), True) == DEFAULT_MINIMUM["USD"]


def test_default_securities_rate():
    value = KZTK.quote_amount(KZTK.to_ticks("31000"), 100)  # 3,100,000.00 KZT
    assert DEFAULT.fee(KZTK, value, True) == 155_000  # 5 bp = 1,550.00 KZT


def test_default_schedule_covers_every_default_instrument():
    for inst in INSTRUMENTS.values():
        assert DEFAULT.fee(inst, 1, True) == DEFAULT_MINIMUM[inst.quote.code]


def test_numpy_integer_amount_accepted():
    assert DEFAULT.fee(USDKZT, np.int64(10**12), True) == 50_000_000


@pytest.mark.parametrize("amount, error", [
    (0, FeeError), (-1, FeeError), (MAX_INT64 + 1, FeeError),
    (1.0, TypeError), (Decimal(5), TypeError), ("5", TypeError), (True, TypeError),
])
def test_bad_trade_value_refused(amount, error):
    with pytest.raises(error, match="USDKZT_TOD quote_amount"):
        DEFAULT.fee(USDKZT, amount, True)


def test_bad_is_taker_and_instrument_refused():
    with pytest.raises(TypeError, match="is_taker"):
        DEFAULT.fee(USDKZT, 100, 1)
    with pytest.raises(TypeError, match="instrument"):
        DEFAULT.fee("USDKZT_TOD", 100, True)


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(taker_bp="-0.1"), FeeError, "taker_bp: -0.1 bp"),
    (dict(taker_bp="1001"), FeeError, "taker_bp: 1001 bp"),
    (dict(taker_bp="1", maker_bp="-1"), FeeError, "maker_bp: -1 bp"),
    (dict(taker_bp="NaN"), FeeError, "taker_bp"),
    (dict(taker_bp=0.5), TypeError, "taker_bp"),
    (dict(taker_bp="1", minimum={"KZT": -1}), FeeError, "minimum['KZT']: -1"),
    (dict(taker_bp="1", minimum={"KZT": 1.5}), TypeError, "minimum['KZT']"),
    (dict(taker_bp="1", minimum=[("KZT", 1)]), TypeError, "minimum"),
])
def test_bad_rules_refused(kwargs, error, fragment):
    with pytest.raises(error) as err:
        FeeRule(**kwargs)
    assert fragment in str(err.value)


def test_rules_are_frozen_and_normalised():
    rule = FeeRule("0.5", minimum={"KZT": 100})
    assert rule.taker_bp == rule.maker_bp == Decimal("0.5")
    assert rule == FeeRule(Decimal("0.50"), Decimal("0.5"), {"KZT": 100})
    assert hash(rule) == hash(FeeRule(Decimal("0.50"), Decimal("0.5"), {"KZT": 100}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.taker_bp = Decimal(1)
    with pytest.raises(TypeError):
        rule.minimum["KZT"] = 0  # read-only view


def test_caller_mapping_changes_do_not_leak_in():
    minimum = {"KZT": 100}
    rule = FeeRule("1", minimum=minimum)
    minimum["KZT"] = 0
    assert rule.minimum["KZT"] == 100


def test_missing_rule_or_currency_is_a_key_error():
    only_fx = schedule(kind=Kind.FX_SPOT)
    with pytest.raises(KeyError, match="SHARE"):
        only_fx.fee(KZTK, 100, True)
    no_usd = FeeSchedule({Kind.FX_SPOT: FeeRule("1", minimum={"KZT": 0})})
    with pytest.raises(KeyError, match="USD"):
        no_usd.fee(EURUSD, 100, True)


def test_bad_schedule_refused():
    with pytest.raises(TypeError, match="Kind"):
        FeeSchedule({"FX_SPOT": FeeRule("1")})
    with pytest.raises(TypeError, match="FeeRule"):
        FeeSchedule({Kind.FX_SPOT: "1bp"})


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(taker_bp="0_5"), FeeError, "taker_bp: '0_5' is not a plain decimal"),
    (dict(taker_bp=" 1"), FeeError, "taker_bp"),
    (dict(taker_bp="1e1"), FeeError, "taker_bp"),
    (dict(taker_bp=True), TypeError, "taker_bp"),
    (dict(taker_bp="1", maker_bp=np.True_), TypeError, "maker_bp"),
    (dict(taker_bp="1", minimum={"KZT": True}), TypeError, "minimum['KZT']"),
    (dict(taker_bp="1", minimum={"KZT": np.True_}), TypeError, "minimum['KZT']"),
])
def test_fee_terms_refuse_bools_and_non_plain_decimals(kwargs, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        FeeRule(**kwargs)


def test_fee_terms_take_numpy_integers():
    rule = FeeRule(taker_bp=np.int64(2), minimum={"KZT": np.int32(100)})
    assert rule.taker_bp == Decimal(2) and rule.minimum["KZT"] == 100
    assert type(rule.minimum["KZT"]) is int
