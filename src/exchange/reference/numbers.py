"""Numbers at the edge: the one home of the checks every decimal and integer input passes.

* :func:`to_decimal`: a ``Decimal``, an integer or a *plain* decimal string (``"512.35"``) as a
  finite Decimal; floats, bools and any other text refused.
* :func:`checked_int`: an integer (numpy integers included, bools refused) in a range.
* :func:`is_bool`: Python and numpy bools, which are never numbers here.

Errors name the field (``what``) and the value; nothing is rounded or truncated.
"""
from __future__ import annotations

import operator
import re
from decimal import Decimal

import numpy as np

__all__ = ["MAX_INT64", "DecimalLike", "checked_int", "is_bool", "to_decimal"]

#: Decimal-valued inputs accepted at the edge.
DecimalLike = Decimal | int | str

#: Largest value an int64 field (book price, lots, record amounts) can hold.
MAX_INT64 = 2**63 - 1

#: A plain decimal: an optional sign, ASCII digits, optionally a point and more digits. No
#: spaces, underscores, exponents, NaN or infinity: a price typed by a person or a file must
#: mean exactly what it shows.
_PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def is_bool(value: object) -> bool:
    """True for a Python or numpy bool (numpy < 2 lets ``np.bool_`` pass as an integer)."""
    return isinstance(value, (bool, np.bool_))


def to_decimal(value: DecimalLike, what: str) -> Decimal:
    """``value`` as a finite ``Decimal``; ``what`` names the field in error messages.

    Accepts a ``Decimal``, an integer (numpy integers included) or a *plain* decimal string
    such as ``"512.35"`` or ``"-10"``. Raises ``TypeError`` for float, bool and other types,
    ``ValueError`` for any other text (``"5_00"``, ``" 500 "``, ``"1e3"``, ``"nan"``) and for
    a NaN or infinite Decimal. O(len(value)).
    """
    if isinstance(value, str):
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise ValueError(f"{what}: {value!r} is not a plain decimal number (digits with "
                             f"an optional sign and decimal point, e.g. '512.35')")
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{what}: {value!r} is not a finite number")
        return value
    if is_bool(value) or isinstance(value, float) or not hasattr(value, "__index__"):
        hint = " (floats are refused: pass a str or Decimal)" if isinstance(value, float) else ""
        raise TypeError(f"{what}: expected Decimal, int or str, got {type(value).__name__} "
                        f"{value!r}{hint}")
    return Decimal(operator.index(value))


def checked_int(value: int, what: str, low: int, error: type[ValueError],
                high: int = MAX_INT64) -> int:
    """``value`` as a Python int in ``low..high`` (numpy integers accepted, bool and
    non-integers refused with TypeError; out of range raises ``error``)."""
    if is_bool(value):
        raise TypeError(f"{what}: expected an integer, got bool {value!r}")
    try:
        result = operator.index(value)
    except TypeError:
        raise TypeError(f"{what}: expected an integer, got {type(value).__name__} "
                        f"{value!r}") from None
    if not low <= result <= high:
        raise error(f"{what}: {result} is not in {low}..{high}")
    return result
