"""Exchange fees: a rate in basis points of trade value, with a minimum per trade.

A :class:`FeeRule` gives, for one instrument kind, the maker and taker rates in basis points
(1 bp = 0.01 %) and a minimum fee per quote currency in that currency's minor units. The fee of
one side of one trade is::

    fee = max(round_half_up(quote_amount * bp / 10_000), minimum[quote currency])

in the quote asset's minor units, where ``quote_amount`` is the trade value in the same minor
units (``Instrument.quote_amount``; for a swap, pass the near leg's quote amount). The
computation is exact (rational arithmetic), rounding only once, half up, to the minor unit.

This module is the formula's home: :class:`FeeTerms` is a rule as exact integers and
``FeeSchedule.fee`` the checked single call; the venue's compiled engine computes the same in
int64 (venue/_engine.pyx ``_fee``, tested equal on values up to 2**62).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from exchange.reference.instruments import MAX_INT64, Instrument, Kind
from exchange.reference.numbers import DecimalLike, checked_int, to_decimal

__all__ = ["FeeRule", "FeeSchedule", "FeeTerms", "FeeError", "MAX_BP",
           "DEFAULT_FX_BP", "DEFAULT_SECURITIES_BP", "default_fee_schedule"]

#: Highest rate accepted, in basis points (10 %): anything above is taken for a unit mistake.
MAX_BP = Decimal(1000)

_BP_PER_UNIT = 10_000


class FeeError(ValueError):
    """A fee rule or fee request with an invalid value."""


def _rate(value: DecimalLike, what: str) -> Decimal:
    try:
        bp = to_decimal(value, what)
    except TypeError:
        raise
    except ValueError as exc:
        raise FeeError(str(exc)) from None
    if not 0 <= bp <= MAX_BP:
        raise FeeError(f"{what}: {bp} bp is not in 0..{MAX_BP} bp")
    return bp


def _minor_units(value: int, what: str, low: int = 0) -> int:
    return checked_int(value, what, low, FeeError)


@dataclass(frozen=True)
class FeeRule:
    """Fee terms of one instrument kind.

    ``taker_bp`` and ``maker_bp`` are rates in basis points (Decimal, int or str; 0..MAX_BP);
    ``maker_bp=None`` means the same as the taker. ``minimum`` maps a quote asset code to the
    minimum fee per trade in that asset's minor units (a non-negative int). Raises FeeError or
    TypeError on construction for bad values.
    """

    taker_bp: Decimal
    maker_bp: Decimal | None = None
    minimum: Mapping[str, int] = field(default_factory=dict)
    # (numerator, denominator) of each rate as a fraction of the trade value, for integer maths.
    _taker_ratio: tuple[int, int] = field(init=False, repr=False, compare=False)
    _maker_ratio: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the inputs once, here
        set_(self, "taker_bp", _rate(self.taker_bp, "taker_bp"))
        maker = self.taker_bp if self.maker_bp is None else _rate(self.maker_bp, "maker_bp")
        set_(self, "maker_bp", maker)
        if not isinstance(self.minimum, Mapping):
            raise TypeError(f"minimum: expected a mapping of asset code to minor units, got "
                            f"{type(self.minimum).__name__}")
        minimum = {code: _minor_units(amount, f"minimum[{code!r}]")
                   for code, amount in self.minimum.items()}
        set_(self, "minimum", MappingProxyType(minimum))
        for name, bp in (("_taker_ratio", self.taker_bp), ("_maker_ratio", maker)):
            num, den = bp.as_integer_ratio()
            set_(self, name, (num, den * _BP_PER_UNIT))

    def __hash__(self) -> int:  # the mapping proxy is unhashable; hash its items instead
        return hash((self.taker_bp, self.maker_bp, tuple(sorted(self.minimum.items()))))


@dataclass(frozen=True, slots=True)
class FeeTerms:
    """One instrument's fee rule as integers: rate = num/den of the trade value, and a minimum.

    ``fee(value, is_taker) == FeeSchedule.fee(instrument, value, is_taker)`` for every value
    (tests check it); it exists so that the exchange can compute fees without the schedule's
    per-call validation, and in C (the venue's engine).
    """

    taker_num: int
    taker_den: int
    maker_num: int
    maker_den: int
    minimum: int
    #: The higher of the taker and maker rates as (num, den): what a worst case must assume.
    worst_rate: tuple[int, int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if self.taker_num * self.maker_den >= self.maker_num * self.taker_den:
            worst = (self.taker_num, self.taker_den)
        else:
            worst = (self.maker_num, self.maker_den)
        object.__setattr__(self, "worst_rate", worst)

    @classmethod
    def of(cls, schedule: FeeSchedule, instrument: Instrument) -> FeeTerms:
        """The terms of ``instrument`` under ``schedule``.

        KeyError if the schedule has no rule or no minimum in the quote currency for it;
        ValueError if a rate has so many digits that the integer formula could leave int64.
        """
        rule = schedule.rule(instrument)
        code = instrument.quote.code
        if code not in rule.minimum:
            raise KeyError(f"fee rule for {instrument.kind.name} has no minimum in {code} "
                           f"({instrument.symbol})")
        (tn, td), (mn, md) = rule._taker_ratio, rule._maker_ratio
        terms = cls(tn, td, mn, md, int(rule.minimum[code]))
        for n, d in ((terms.taker_num, terms.taker_den), (terms.maker_num, terms.maker_den)):
            if 2 * d * n + d > MAX_INT64:
                raise ValueError(f"{instrument.symbol}: fee rate {n}/{d} has too many digits "
                                 f"for exact int64 fee arithmetic")
        return terms

    def fee(self, value: int, is_taker: bool) -> int:
        """The fee on a trade of ``value`` quote minor units (value > 0). O(1)."""
        if is_taker:
            n, d = self.taker_num, self.taker_den
        else:
            n, d = self.maker_num, self.maker_den
        return max((2 * value * n + d) // (2 * d), self.minimum)



class FeeSchedule:
    """Fee rules by instrument kind; immutable once built.

    ``rules`` maps each :class:`~exchange.reference.instruments.Kind` that may trade to its FeeRule.
    """

    def __init__(self, rules: Mapping[Kind, FeeRule]) -> None:
        checked: dict[Kind, FeeRule] = {}
        for kind, rule in rules.items():
            if not isinstance(kind, Kind):
                raise TypeError(f"rules: key {kind!r} is not a Kind")
            if not isinstance(rule, FeeRule):
                raise TypeError(f"rules[{kind.name}]: expected a FeeRule, got "
                                f"{type(rule).__name__}")
            checked[kind] = rule
        self._rules = MappingProxyType(checked)

    @property
    def rules(self) -> Mapping[Kind, FeeRule]:
        """The rules by kind (read-only)."""
        return self._rules

    def rule(self, instrument: Instrument) -> FeeRule:
        """The rule for ``instrument``'s kind; KeyError naming the kind if there is none."""
        try:
            return self._rules[instrument.kind]
        except KeyError:
            raise KeyError(f"no fee rule for kind {instrument.kind.name} "
                           f"({instrument.symbol})") from None

    def fee(self, instrument: Instrument, quote_amount: int, is_taker: bool) -> int:
        """The fee one side pays on a trade of value ``quote_amount``, both in quote minor units.

        ``quote_amount`` must be an int in 1..2**63-1 (FeeError otherwise, TypeError for a
        non-integer), ``is_taker`` a bool. Rounded half up to the minor unit, then raised to the
        rule's minimum for the quote asset (KeyError if the rule has none for it). O(1).
        """
        if not isinstance(instrument, Instrument):
            raise TypeError(f"instrument: expected an Instrument, got "
                            f"{type(instrument).__name__}")
        if not isinstance(is_taker, bool):
            raise TypeError(f"is_taker: expected a bool, got {type(is_taker).__name__} "
                            f"{is_taker!r}")
        value = _minor_units(quote_amount, f"{instrument.symbol} quote_amount", low=1)
        return self.terms(instrument).fee(value, is_taker)

    def terms(self, instrument: Instrument) -> FeeTerms:
        """``instrument``'s fee rule as exact integers (:class:`FeeTerms`); KeyError if there
        is no rule or no minimum in its quote currency, ValueError for a rate with too many
        digits for int64 arithmetic. O(1)."""
        return FeeTerms.of(self, instrument)


#: Minimum fee per quote currency, minor units: 100 KZT and its rough equivalent (at about
#: 500 KZT/USD, 540 KZT/EUR, 5.5 KZT/RUB), fixed here so that fees do not depend on a rate feed.
DEFAULT_MINIMUM = MappingProxyType({"KZT": 10_000, "USD": 20, "EUR": 19, "RUB": 1_800})


#: Default rates in basis points: FX spot and swaps, and securities.
DEFAULT_FX_BP = Decimal("0.5")
DEFAULT_SECURITIES_BP = Decimal(5)


def default_fee_schedule(fx_bp: DecimalLike = DEFAULT_FX_BP,
                         securities_bp: DecimalLike = DEFAULT_SECURITIES_BP) -> FeeSchedule:
    """The default schedule: FX spot and swaps ``fx_bp`` (0.5 bp), securities
    ``securities_bp`` (5 bp), maker = taker; minimum 100 KZT (or DEFAULT_MINIMUM's equivalent
    in USD, EUR, RUB) per trade and side. FeeError or TypeError for a bad rate."""
    fx = FeeRule(taker_bp=_rate(fx_bp, "fx_bp"), minimum=DEFAULT_MINIMUM)
    securities = FeeRule(taker_bp=_rate(securities_bp, "securities_bp"), minimum=DEFAULT_MINIMUM)
    return FeeSchedule({
        Kind.FX_SPOT: fx,
        Kind.FX_SWAP: fx,
        Kind.GOVT: securities,
        Kind.SHARE: securities,
        Kind.CORP_BOND: securities,
    })
