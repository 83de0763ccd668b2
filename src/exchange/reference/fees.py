"""Exchange fees: a rate in basis points of trade value, with a minimum per trade.

A :class:`FeeRule` gives, for one instrument kind, the maker and taker rates in basis points
(1 bp = 0.01 %) and a minimum fee per quote currency in that currency's minor units. The fee of
one side of one trade is::

    fee = max(round_half_up(quote_amount * bp / 10_000), minimum[quote currency])

in the quote asset's minor units, where ``quote_amount`` is the trade value in the same minor
units (``Instrument.quote_amount``; for a swap, pass the near leg's quote amount). The
computation is exact (rational arithmetic), rounding only once, half up, to the minor unit.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from exchange.reference.instruments import Instrument, Kind
from exchange.reference.numbers import DecimalLike, checked_int, to_decimal

__all__ = ["FeeRule", "FeeSchedule", "FeeError", "MAX_BP", "DEFAULT_FX_BP", "DEFAULT_SECURITIES_BP",
           "default_fee_schedule"]

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
        rule = self.rule(instrument)
        code = instrument.quote.code
        if code not in rule.minimum:
            raise KeyError(f"fee rule for {instrument.kind.name} has no minimum in {code} "
                           f"({instrument.symbol})")
        num, den = rule._taker_ratio if is_taker else rule._maker_ratio
        # Half up for a non-negative amount x = value * num / den: floor(x + 1/2), in integers.
        rounded = (2 * value * num + den) // (2 * den)
        return max(rounded, rule.minimum[code])


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
