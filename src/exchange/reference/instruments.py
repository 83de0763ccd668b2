"""Assets and instruments of a KASE-style exchange, and exact price/quantity conversions.

Inside the exchange every price is a positive integer number of *ticks* and every quantity a
positive integer number of *lots*; money is an integer number of an asset's *minor units*
(tiyn, cents, kopecks, or whole pieces of a security). This module is the edge where decimals
become integers and back, and it never rounds: a value that is not exactly on the grid raises
:class:`InstrumentValueError`.

Accepted inputs for decimal values (prices, quantities, tick and lot sizes): ``Decimal``,
``int`` (numpy integers too) and plain decimal ``str`` (``"512.35"``; no spaces, underscores,
exponents, NaN or infinity). ``float`` (and ``bool``) is refused with ``TypeError``: a binary
float such as ``0.1`` has no exact decimal value, and guessing would silently move money.

Units:

* a price is in quote-asset units per one base-asset unit (KZT per USD, KZT per share);
* a quantity is in base-asset units (USD, shares); one lot is ``lot_size`` base units;
* ``tick_size * lot_size`` is, by construction, a whole number of quote minor units, so
  ``quote_amount(ticks, lots) = ticks * lots * (tick_size * lot_size / quote minor unit)`` is an
  exact integer. An instrument for which that is not true is refused when defined.

Swaps (``Kind.FX_SWAP``): the price is in *swap points*, on the swap's own tick grid. The near leg
settles at a reference rate (in ticks of ``underlying``, a spot instrument of the same pair) and
the far leg at reference + points. The swap *buyer* buys the base currency on the near leg and
sells it back on the far leg; the seller does the opposite. Points must be positive, because the
order book only holds positive prices; a pair whose points would be negative is not modelled.
"""
from __future__ import annotations

import enum
import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded
from fractions import Fraction
from typing import Any, NamedTuple

from exchange.records import GROSS, NET

from .numbers import MAX_INT64, DecimalLike, checked_int, is_bool, to_decimal

__all__ = [
    "Asset",
    "Kind",
    "Instrument",
    "InstrumentSet",
    "SwapLegs",
    "InstrumentError",
    "InstrumentValueError",
    "InstrumentDefinitionError",
    "DuplicateInstrumentError",
    "KZT",
    "USD",
    "EUR",
    "RUB",
    "MAX_INT64",
    "MAX_TENOR",
    "MAX_FAR_TENOR",
    "DecimalLike",
    "to_decimal",
    "default_instruments",
]

# Lengths of the string fields in records.TRADE_RECORD_DTYPE: longer names would be truncated.
_MAX_SYMBOL_LEN = 16
_MAX_ASSET_LEN = 12
_NAME_RE = re.compile(r"^[A-Z0-9_]+$")

# Decimal arithmetic that raises instead of rounding: wide enough for any int64 count of steps.
_EXACT = Context(prec=100, traps=[Inexact, Rounded, InvalidOperation])


class InstrumentError(ValueError):
    """Base of this module's errors about values and definitions."""


class InstrumentValueError(InstrumentError):
    """A price or quantity that is not a positive whole number of ticks or lots."""


class InstrumentDefinitionError(InstrumentError):
    """An asset or instrument definition that cannot give exact integer money amounts."""


class DuplicateInstrumentError(InstrumentError):
    """An instrument symbol (or asset code with another definition) is already in the set."""


def _definition_int(value: Any, what: str, low: int, high: int) -> int:
    """:func:`checked_int` for a field of a definition: every failure is an
    InstrumentDefinitionError naming the field and value (``"S: tenor True ..."``)."""
    try:
        return checked_int(value, what, low, InstrumentDefinitionError, high)
    except (TypeError, InstrumentDefinitionError):
        raise InstrumentDefinitionError(f"{what} {value!r} is not an int in {low}..{high}") \
            from None


def _positive_int(value: int, what: str) -> int:
    return checked_int(value, what, 1, InstrumentValueError)


def _whole(ratio: Fraction, message: str) -> int:
    """The integer ``ratio`` equals, or InstrumentDefinitionError(message) if it is not whole."""
    if ratio.denominator != 1:
        raise InstrumentDefinitionError(message)
    return ratio.numerator


@dataclass(frozen=True)
class Asset:
    """Something that changes hands: a currency or a security.

    ``code`` is at most 12 characters of ``A-Z 0-9 _`` (the record field width). ``decimals`` is
    the number of decimal places of the minor unit (2 for a currency, 0 for a security counted in
    pieces). ``region`` names whose holidays apply to its settlement (``"KZ"``, ``"US"``, ``"EU"``,
    ``"RU"``, ...; see :mod:`exchange.reference.calendar`).
    """

    code: str
    decimals: int
    region: str
    is_currency: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _NAME_RE.match(self.code) \
                or len(self.code) > _MAX_ASSET_LEN:
            raise InstrumentDefinitionError(
                f"asset code {self.code!r}: need 1..{_MAX_ASSET_LEN} characters of A-Z, 0-9, _")
        object.__setattr__(self, "decimals", _definition_int(
            self.decimals, f"asset {self.code}: decimals", 0, 8))
        if not isinstance(self.region, str) or not self.region:
            raise InstrumentDefinitionError(f"asset {self.code}: region {self.region!r} is empty")

    @property
    def minor_unit(self) -> Decimal:
        """One minor unit: ``Decimal("0.01")`` for KZT, ``Decimal("1")`` for a share."""
        return Decimal(1).scaleb(-self.decimals)

    def to_minor(self, amount: DecimalLike) -> int:
        """``amount`` (in whole units, any sign) as an exact integer of minor units.

        Raises InstrumentValueError if ``amount`` has more decimals than the minor unit. O(1).
        """
        value = to_decimal(amount, f"{self.code} amount")
        minor = Fraction(value) * 10**self.decimals
        if minor.denominator != 1:
            raise InstrumentValueError(
                f"{self.code} amount {value} is not a whole number of minor units "
                f"({self.minor_unit})")
        return minor.numerator

    def from_minor(self, minor: int) -> Decimal:
        """``minor`` minor units as a Decimal in whole units, exact. O(1)."""
        if is_bool(minor):
            raise TypeError(f"{self.code} minor units: expected an integer, got bool")
        return Decimal(operator.index(minor)).scaleb(-self.decimals, context=_EXACT)


KZT = Asset("KZT", 2, "KZ")
USD = Asset("USD", 2, "US")
EUR = Asset("EUR", 2, "EU")
RUB = Asset("RUB", 2, "RU")


class Kind(enum.Enum):
    """What an instrument is; decides its default settlement method and which rules apply."""

    FX_SPOT = "FX_SPOT"
    FX_SWAP = "FX_SWAP"
    GOVT = "GOVT"
    SHARE = "SHARE"
    CORP_BOND = "CORP_BOND"

    @property
    def is_fx(self) -> bool:
        """True for currency-market kinds (both assets are currencies)."""
        return self in (Kind.FX_SPOT, Kind.FX_SWAP)


#: Business-day tenors: spot and near legs T+0..T+2; a swap's far leg up to T+10.
MAX_TENOR = 2
MAX_FAR_TENOR = 10


class SwapLegs(NamedTuple):
    """The two legs of a swap, all amounts positive integers of minor units.

    Near leg: the buyer receives ``near_base`` and pays ``near_quote``.
    Far leg: the buyer delivers ``far_base`` and receives ``far_quote``.
    """

    near_base: int
    near_quote: int
    far_base: int
    far_quote: int


@dataclass(frozen=True)
class Instrument:
    """One tradable instrument: what is traded, on which grid, settled when and how.

    Fields: ``symbol`` (at most 16 characters of ``A-Z 0-9 _``), ``kind``, ``base`` (what the
    buyer receives), ``quote`` (what the buyer pays), ``tick_size`` (quote units per base unit;
    for a swap: swap points), ``lot_size`` (base units), ``tenor`` (business days from trade to
    settlement, 0..2: TOD/TOM/SPT; for a swap the near leg), ``far_tenor`` (swaps only: the far
    leg, ``tenor`` < ``far_tenor`` <= 10), ``settlement`` (``records.NET`` or ``records.GROSS``;
    default NET for FX kinds, GROSS for securities), ``underlying`` (swaps only: the spot
    instrument of the same pair whose ticks express the reference rate) and ``prefunded``
    (whether every member's orders must be covered by settled funds before they are accepted;
    default True for securities, which settle T+0 deal by deal at the depository, False for FX,
    where only PREFUNDED members pre-fund).

    ``tick_size`` and ``lot_size`` may be given as Decimal, int or str and are stored as Decimal.
    Construction raises InstrumentDefinitionError (a ValueError) unless one tick on one lot is a
    whole number of quote minor units and one lot a whole number of base minor units.
    """

    symbol: str
    kind: Kind
    base: Asset
    quote: Asset
    tick_size: Decimal
    lot_size: Decimal
    tenor: int = 0
    far_tenor: int | None = None
    settlement: int | None = None
    underlying: Instrument | None = field(default=None, repr=False)
    prefunded: bool | None = None
    # Exact integer factors, derived once so conversions are integer multiplications.
    _quote_per_tick_lot: int = field(init=False, repr=False, compare=False)
    _base_per_lot: int = field(init=False, repr=False, compare=False)
    _ref_per_tick_lot: int = field(init=False, repr=False, compare=False)
    _tick_parts: tuple[int, int] = field(init=False, repr=False, compare=False)
    _lot_parts: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_names()
        set_ = object.__setattr__  # frozen dataclass: derived fields are set once, here
        set_(self, "tick_size", self._grid_size(self.tick_size, "tick_size"))
        set_(self, "lot_size", self._grid_size(self.lot_size, "lot_size"))
        set_(self, "_tick_parts", _parts(self.tick_size))
        set_(self, "_lot_parts", _parts(self.lot_size))
        if self.settlement is None:
            set_(self, "settlement", NET if self.kind.is_fx else GROSS)
        if self.prefunded is None:
            set_(self, "prefunded", not self.kind.is_fx)
        elif not isinstance(self.prefunded, bool):
            raise InstrumentDefinitionError(
                f"{self.symbol}: prefunded {self.prefunded!r} is not a bool")
        self._check_kind()
        self._check_tenors()
        set_(self, "_base_per_lot", _whole(
            Fraction(self.lot_size) / Fraction(self.base.minor_unit),
            f"{self.symbol}: lot_size {self.lot_size} is not a whole number of "
            f"{self.base.code} minor units ({self.base.minor_unit})"))
        set_(self, "_quote_per_tick_lot", self._tick_lot_factor(self.tick_size, "tick_size"))
        ref = self.underlying.tick_size if self.underlying is not None else self.tick_size
        set_(self, "_ref_per_tick_lot", self._tick_lot_factor(ref, "underlying tick_size"))

    # -- definition checks -------------------------------------------------------------------

    def _check_names(self) -> None:
        if not isinstance(self.symbol, str) or not _NAME_RE.match(self.symbol) \
                or len(self.symbol) > _MAX_SYMBOL_LEN:
            raise InstrumentDefinitionError(
                f"symbol {self.symbol!r}: need 1..{_MAX_SYMBOL_LEN} characters of A-Z, 0-9, _")
        if not isinstance(self.kind, Kind):
            raise InstrumentDefinitionError(f"{self.symbol}: kind {self.kind!r} is not a Kind")
        for name in ("base", "quote"):
            if not isinstance(getattr(self, name), Asset):
                raise InstrumentDefinitionError(
                    f"{self.symbol}: {name} {getattr(self, name)!r} is not an Asset")
        if self.base.code == self.quote.code:
            raise InstrumentDefinitionError(
                f"{self.symbol}: base and quote are both {self.base.code}")

    def _grid_size(self, value: DecimalLike, name: str) -> Decimal:
        size = to_decimal(value, f"{self.symbol} {name}")
        if size <= 0:
            raise InstrumentDefinitionError(f"{self.symbol}: {name} {size} is not positive")
        return size

    def _check_kind(self) -> None:
        if not self.quote.is_currency:
            raise InstrumentDefinitionError(
                f"{self.symbol}: quote asset {self.quote.code} is not a currency")
        if self.kind.is_fx != self.base.is_currency:
            want = "a currency" if self.kind.is_fx else "a security"
            raise InstrumentDefinitionError(
                f"{self.symbol}: kind {self.kind.name} needs base {want}, got {self.base.code}")
        if self.settlement not in (NET, GROSS):
            raise InstrumentDefinitionError(
                f"{self.symbol}: settlement {self.settlement!r} is not NET ({NET}) or "
                f"GROSS ({GROSS})")
        if self.kind is Kind.FX_SWAP:
            u = self.underlying
            if not isinstance(u, Instrument) or u.kind is not Kind.FX_SPOT \
                    or u.base != self.base or u.quote != self.quote:
                raise InstrumentDefinitionError(
                    f"{self.symbol}: a swap needs an FX_SPOT underlying of "
                    f"{self.base.code}/{self.quote.code}, got {u!r}")
        elif self.underlying is not None:
            raise InstrumentDefinitionError(
                f"{self.symbol}: only swaps have an underlying, got {self.underlying.symbol}")

    def _check_tenors(self) -> None:
        set_ = object.__setattr__  # frozen: store the checked Python ints
        set_(self, "tenor", _definition_int(self.tenor, f"{self.symbol}: tenor", 0, MAX_TENOR))
        if self.kind is Kind.FX_SWAP:
            set_(self, "far_tenor", _definition_int(self.far_tenor, f"{self.symbol}: far_tenor",
                                                    self.tenor + 1, MAX_FAR_TENOR))
        elif self.far_tenor is not None:
            raise InstrumentDefinitionError(
                f"{self.symbol}: only swaps have a far_tenor, got {self.far_tenor!r}")

    def _tick_lot_factor(self, tick: Decimal, name: str) -> int:
        return _whole(
            Fraction(tick) * Fraction(self.lot_size) / Fraction(self.quote.minor_unit),
            f"{self.symbol}: {name} {tick} x lot_size {self.lot_size} is not a whole number of "
            f"{self.quote.code} minor units ({self.quote.minor_unit})")

    # -- conversions ---------------------------------------------------------------------------

    def to_ticks(self, price: DecimalLike) -> int:
        """``price`` (quote units per base unit; for a swap: points) as a whole number of ticks.

        Exact: raises InstrumentValueError if ``price`` is not positive, not on the tick grid, or
        beyond int64; TypeError for float. O(1).
        """
        value = self._decimal(price, "price")
        return self._on_grid(value, self.tick_size, "price", "tick_size")

    def from_ticks(self, ticks: int) -> Decimal:
        """``ticks`` (a positive integer) as a Decimal price, exact (inverse of to_ticks). O(1)."""
        n = _positive_int(ticks, f"{self.symbol} ticks")
        return _exact_product(n, self._tick_parts)

    def to_lots(self, qty: DecimalLike) -> int:
        """``qty`` in base units (USD, pieces) as a whole number of lots.

        Exact: raises InstrumentValueError if ``qty`` is not positive, not a whole number of
        lots, or beyond int64; TypeError for float. O(1).
        """
        value = self._decimal(qty, "quantity")
        return self._on_grid(value, self.lot_size, "quantity", "lot_size")

    def from_lots(self, lots: int) -> Decimal:
        """``lots`` (a positive integer) as a Decimal quantity in base units, exact. O(1)."""
        n = _positive_int(lots, f"{self.symbol} lots")
        return _exact_product(n, self._lot_parts)

    def _decimal(self, value: DecimalLike, what: str) -> Decimal:
        try:
            return to_decimal(value, f"{self.symbol} {what}")
        except TypeError:
            raise
        except ValueError as exc:  # re-raise as the project error, same message
            raise InstrumentValueError(str(exc)) from None

    def _on_grid(self, value: Decimal, step: Decimal, what: str, step_name: str) -> int:
        if value <= 0:
            raise InstrumentValueError(f"{self.symbol} {what} {value} is not positive")
        count = _grid_count(value, step)
        if count is None:
            raise InstrumentValueError(
                f"{self.symbol} {what} {value} is not a multiple of {step_name} {step}")
        if count > MAX_INT64:
            raise InstrumentValueError(
                f"{self.symbol} {what} {value} is more than {MAX_INT64} times {step_name} "
                f"{step}: beyond int64")
        return count

    # -- money ---------------------------------------------------------------------------------

    def quote_amount(self, price_ticks: int, lots: int) -> int:
        """What the buyer pays for ``lots`` at ``price_ticks``, in quote minor units, exact.

        For a swap this is the value of the points alone (far minus near quote amount); use
        :meth:`swap_legs` for the settled amounts. Raises InstrumentValueError if an input is
        not positive or the result exceeds int64. O(1).
        """
        ticks = _positive_int(price_ticks, f"{self.symbol} price_ticks")
        n = _positive_int(lots, f"{self.symbol} lots")
        return self._checked(ticks * n * self._quote_per_tick_lot, "quote amount")

    def base_amount(self, lots: int) -> int:
        """What the buyer receives for ``lots``, in base minor units (pieces), exact. O(1)."""
        n = _positive_int(lots, f"{self.symbol} lots")
        return self._checked(n * self._base_per_lot, "base amount")

    def swap_legs(self, ref_rate_ticks: int, points_ticks: int, lots: int) -> SwapLegs:
        """The settled amounts of a swap of ``lots`` at ``points_ticks`` swap points.

        ``ref_rate_ticks`` is the reference rate in ticks of ``underlying``. The near leg is at
        the reference rate, the far leg at reference + points; the buyer buys base near and sells
        it far (see SwapLegs). Raises InstrumentValueError if this is not a swap, an input is not
        positive, or an amount exceeds int64. O(1).
        """
        if self.kind is not Kind.FX_SWAP:
            raise InstrumentValueError(f"{self.symbol} is {self.kind.name}, not FX_SWAP")
        ref = _positive_int(ref_rate_ticks, f"{self.symbol} ref_rate_ticks")
        points = _positive_int(points_ticks, f"{self.symbol} points_ticks")
        n = _positive_int(lots, f"{self.symbol} lots")
        base = self.base_amount(n)
        near = self._checked(ref * n * self._ref_per_tick_lot, "near quote amount")
        far = self._checked(near + points * n * self._quote_per_tick_lot, "far quote amount")
        return SwapLegs(base, near, base, far)

    def _checked(self, amount: int, what: str) -> int:
        if amount > MAX_INT64:
            raise InstrumentValueError(f"{self.symbol} {what} {amount} exceeds int64")
        return amount


def _grid_count(value: Decimal, step: Decimal) -> int | None:
    """``value / step`` if it is a whole number, else None; exact. Both positive and finite.

    Magnitudes are compared first so that the integers below stay small whatever the exponents
    (``Decimal('1E+999999')`` must not build a million-digit integer): a ratio under 1 is not
    whole, and one over 10**21 is returned as a bound (callers refuse it as beyond int64).
    """
    spread = value.adjusted() - step.adjusted()
    if spread < -1:
        return None
    if spread > 21:
        return 10**21
    num, den = value.as_integer_ratio()
    step_num, step_den = step.as_integer_ratio()
    count, rest = divmod(num * step_den, den * step_num)
    return count if rest == 0 else None


def _parts(step: Decimal) -> tuple[int, int]:
    """(coefficient, exponent) with ``step == coefficient * 10**exponent``."""
    _, digits, exponent = step.as_tuple()
    return int("".join(map(str, digits))), int(exponent)


def _exact_product(n: int, parts: tuple[int, int]) -> Decimal:
    """``n * coefficient * 10**exponent``, in a context that raises rather than rounds. O(1)."""
    coefficient, exponent = parts
    return Decimal(n * coefficient).scaleb(exponent, context=_EXACT)


class InstrumentSet(Mapping[str, Instrument]):
    """Instruments by symbol, plus the assets they use by code.

    A read-only mapping with :meth:`add`; lookups of unknown symbols raise KeyError naming the
    symbol. Adding checks that the symbol is new and that each asset code means one Asset.
    """

    def __init__(self, instruments: Mapping[str, Instrument] | None = None) -> None:
        self._by_symbol: dict[str, Instrument] = {}
        self._assets: dict[str, Asset] = {}
        for instrument in (instruments or {}).values():
            self.add(instrument)

    def add(self, instrument: Instrument) -> Instrument:
        """Add ``instrument`` and return it. O(1).

        Raises TypeError for a non-Instrument, DuplicateInstrumentError if the symbol is taken
        or an asset code is already defined differently; nothing changes on error.
        """
        if not isinstance(instrument, Instrument):
            raise TypeError(f"expected an Instrument, got {type(instrument).__name__}")
        if instrument.symbol in self._by_symbol:
            raise DuplicateInstrumentError(f"instrument {instrument.symbol} is already defined")
        for asset in (instrument.base, instrument.quote):
            known = self._assets.get(asset.code)
            if known is not None and known != asset:
                raise DuplicateInstrumentError(
                    f"{instrument.symbol}: asset {asset.code} is already defined as {known!r}, "
                    f"not {asset!r}")
        self._by_symbol[instrument.symbol] = instrument
        self._assets.setdefault(instrument.base.code, instrument.base)
        self._assets.setdefault(instrument.quote.code, instrument.quote)
        return instrument

    @property
    def assets(self) -> Mapping[str, Asset]:
        """Every asset used by an instrument of the set, by code (a read-only copy)."""
        return dict(self._assets)

    def __getitem__(self, symbol: str) -> Instrument:
        try:
            return self._by_symbol[symbol]
        except KeyError:
            raise KeyError(f"unknown instrument symbol {symbol!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_symbol)

    def __len__(self) -> int:
        return len(self._by_symbol)

    def __repr__(self) -> str:
        return f"InstrumentSet({sorted(self._by_symbol)})"


# Tick and lot per currency pair: (base, quote, tick, lot, has swaps).
_FX_PAIRS = (
    (USD, KZT, "0.01", "1000", True),
    (EUR, KZT, "0.01", "1000", True),
    (RUB, KZT, "0.0001", "10000", False),
    (EUR, USD, "0.0001", "1000", False),
)
_SPOT_TENORS = (("TOD", 0), ("TOM", 1), ("SPT", 2))
_SWAPS = (("SWAP_1D", 0, 1), ("SWAP_2D", 0, 2))  # TOD/TOM and TOD/SPT

# Securities: (code, kind). All in KZT, tick 0.01 KZT, lot 1 piece, T+0, GROSS.
_SECURITIES = (
    ("MEKAM_0120", Kind.GOVT),  # Ministry of Finance treasury obligation
    ("KZTK", Kind.SHARE),  # Kazakhtelecom common share
    ("KZTO_B1", Kind.CORP_BOND),  # KazTransOil bond
)


def default_instruments() -> InstrumentSet:
    """A new InstrumentSet of the default market (a fresh set each call, safe to extend).

    Currency: USD/KZT, EUR/KZT, RUB/KZT and EUR/USD as ``<PAIR>_TOD``, ``_TOM``, ``_SPT``;
    swaps ``USDKZT_SWAP_1D``/``_2D`` and ``EURKZT_SWAP_1D``/``_2D`` (near TOD, far TOM/SPT,
    points tick 0.01 KZT, reference rate in ticks of ``<PAIR>_TOD``). Securities
    ``MEKAM_0120`` (GOVT), ``KZTK`` (SHARE), ``KZTO_B1`` (CORP_BOND): KZT, tick 0.01, lot 1, T+0.
    """
    result = InstrumentSet()
    for base, quote, tick, lot, has_swaps in _FX_PAIRS:
        pair = base.code + quote.code
        for suffix, tenor in _SPOT_TENORS:
            result.add(Instrument(f"{pair}_{suffix}", Kind.FX_SPOT, base, quote, Decimal(tick),
                                  Decimal(lot), tenor=tenor))
        if has_swaps:
            for suffix, near, far in _SWAPS:
                result.add(Instrument(f"{pair}_{suffix}", Kind.FX_SWAP, base, quote,
                                      Decimal(tick), Decimal(lot), tenor=near, far_tenor=far,
                                      underlying=result[f"{pair}_TOD"]))
    for code, kind in _SECURITIES:
        result.add(Instrument(code, kind, Asset(code, 0, "KZ", is_currency=False), KZT,
                              Decimal("0.01"), Decimal(1)))
    return result
