"""The commands a journal records, one frozen dataclass per kind, and their compact payloads.

Each command is an ``Exchange`` call in the normalised form the venue works with (member and
order ids, instrument ids, ticks and lots as integers; dates as dates), so that a replay gives
the exchange exactly what it was given. A command's payload is its fields in declaration order,
each written by its field :class:`Codec` (little-endian integers, length-prefixed UTF-8 text,
canonical JSON, a numpy array's dtype description and raw bytes). ``Kind`` codes are never
renumbered; a new kind or layout is a new format version (docs/journal.md has every layout).

Construction checks every field (numpy integers accepted, bools refused, text within its length
limit, JSON values JSON) and raises TypeError or ValueError naming the command and field; values
are normalised (a tuple for a JSON list, a ``Decimal`` for a credit limit), so that a command
equals its decoded copy. :func:`decode` is the inverse of :meth:`Command.payload` and raises
ValueError for a payload that does not parse (the reader reports it as corruption). Encoding and
decoding are O(payload).

The hot commands (submit, market, cancel, modify) are also written by the compiled queue of
the writer's fast path (``exchange.journal._frames``), field by field in C: their layouts here
and there must stay the same (tests/test_journal_commands.py compares the bytes).
"""
from __future__ import annotations

import datetime as _dt
import enum
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, ClassVar, cast

import numpy as np
from numpy.lib.format import descr_to_dtype, dtype_to_descr

from exchange.reference.dates import day_number
from exchange.reference.numbers import DecimalLike, checked_int, to_decimal

__all__ = [
    "COMMANDS", "Kind", "Command", "Setup", "BeginDay", "OpenSession",
    "CloseSession", "EndOfDay", "AddMember", "Deposit", "Withdraw", "Submit", "MarketOrder",
    "Cancel", "Modify", "Process", "SettlementRun", "decode",
]

_EPOCH = _dt.date(1970, 1, 1)


class Kind(enum.IntEnum):
    """The record kind byte. Codes are never renumbered or reused."""

    SETUP = 1
    BEGIN_DAY = 2
    OPEN_SESSION = 3
    CLOSE_SESSION = 4
    END_OF_DAY = 5
    ADD_MEMBER = 6
    DEPOSIT = 7
    WITHDRAW = 8
    SUBMIT = 9
    MARKET = 10
    CANCEL = 11
    MODIFY = 12
    PROCESS = 13
    SETTLEMENT_RUN = 14


# ------------------------------------------------------------------------------ field codecs

class Codec:
    """How one field is checked (``check`` returns the normalised value or raises TypeError /
    ValueError naming ``what``), written (``encode``) and read back (``read`` from an offset,
    returning the value and the next offset). ``fmt`` is the ``struct`` character of a
    fixed-size field, None for a variable one."""

    fmt: str | None = None

    def check(self, value: Any, what: str) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def read(self, data: memoryview, offset: int) -> tuple[Any, int]:
        raise NotImplementedError


class _Int(Codec):
    """An integer of ``struct`` format ``fmt`` (q: int64, H: uint16, B: uint8)."""

    def __init__(self, fmt: str) -> None:
        self.fmt, self._struct = fmt, struct.Struct("<" + fmt)
        bits = self._struct.size * 8
        self.low = -(1 << (bits - 1)) if fmt.islower() else 0
        self.high = (1 << (bits - 1)) - 1 if fmt.islower() else (1 << bits) - 1

    def check(self, value: Any, what: str) -> int:
        return checked_int(value, what, self.low, ValueError, self.high)

    def encode(self, value: int) -> bytes:
        return self._struct.pack(value)

    def read(self, data: memoryview, offset: int) -> tuple[int, int]:
        (value,) = self._struct.unpack_from(data, offset)
        return value, offset + self._struct.size


class _Date(Codec):
    """A ``datetime.date`` as an int32 day number (days since 1970-01-01)."""

    fmt = "i"
    _struct = struct.Struct("<i")

    def check(self, value: Any, what: str) -> _dt.date:
        if not isinstance(value, _dt.date) or isinstance(value, _dt.datetime):
            raise TypeError(f"{what}: expected a datetime.date, got {type(value).__name__} "
                            f"{value!r}")
        return value

    def encode(self, value: _dt.date) -> bytes:
        return self._struct.pack(day_number(value))

    def read(self, data: memoryview, offset: int) -> tuple[_dt.date, int]:
        (days,) = self._struct.unpack_from(data, offset)
        return _EPOCH + _dt.timedelta(days=days), offset + self._struct.size


class _Str(Codec):
    """UTF-8 text with a length prefix of ``size`` bytes (``optional``: a flag byte first,
    0 for None)."""

    def __init__(self, size: int, optional: bool = False) -> None:
        self.prefix = struct.Struct("<" + {1: "B", 2: "H", 4: "I"}[size])
        self.limit = (1 << (8 * size)) - 1
        self.optional = optional

    def check(self, value: Any, what: str) -> str | None:
        if value is None and self.optional:
            return None
        return self.text(value, what)

    def text(self, value: Any, what: str) -> str:
        """``value`` checked as present text."""
        if not isinstance(value, str):
            raise TypeError(f"{what}: expected a str, got {type(value).__name__} {value!r}")
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError(f"{what}: {value!r} is not encodable as UTF-8") from None
        if size > self.limit:
            raise ValueError(f"{what}: {size} bytes of UTF-8 is more than {self.limit}")
        return value

    def encode(self, value: str | None) -> bytes:
        flag = b"" if not self.optional else (b"\x00" if value is None else b"\x01")
        if value is None:
            return flag
        data = value.encode("utf-8")
        return flag + self.prefix.pack(len(data)) + data

    def read(self, data: memoryview, offset: int) -> tuple[str | None, int]:
        if self.optional:
            flag = data[offset]
            offset += 1
            if flag == 0:
                return None, offset
            if flag != 1:
                raise ValueError(f"optional text flag {flag} is neither 0 nor 1")
        return self.read_text(data, offset)

    def read_text(self, data: memoryview, offset: int) -> tuple[str, int]:
        """Present text at ``offset`` (no flag byte)."""
        (size,) = self.prefix.unpack_from(data, offset)
        offset += self.prefix.size
        if offset + size > len(data):
            raise ValueError("text runs past the end of the payload")
        return bytes(data[offset:offset + size]).decode("utf-8"), offset + size


def _json_value(value: Any, what: str) -> Any:
    """``value`` as canonical JSON data (lists as tuples, so that it compares equal to its
    decoded copy); TypeError/ValueError naming ``what`` for anything JSON cannot hold
    exactly."""
    if isinstance(value, np.generic) and not isinstance(value, np.void):
        value = value.item()  # numpy scalars are taken as the Python values they hold
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{what}: {value!r} is not a finite number")
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{what}: key {key!r} is not a str")
            out[key] = _json_value(item, f"{what}[{key!r}]")
        return dict(sorted(out.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_json_value(item, f"{what}[{i}]") for i, item in enumerate(value))
    raise TypeError(f"{what}: {type(value).__name__} {value!r} is not a JSON value (str, int, "
                    f"float, bool, None, list or dict)")


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_from_json(item) for item in value)
    if isinstance(value, dict):
        return {key: _from_json(item) for key, item in value.items()}
    return value


class _JsonObject(Codec):
    """A JSON object with str keys, canonical (sorted keys, no spaces), u32 length prefix."""

    _prefix = struct.Struct("<I")

    def check(self, value: Any, what: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise TypeError(f"{what}: expected a mapping, got {type(value).__name__}")
        normal: dict[str, Any] = _json_value(value, what)
        return normal

    def encode(self, value: dict[str, Any]) -> bytes:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
        return self._prefix.pack(len(data)) + data

    def read(self, data: memoryview, offset: int) -> tuple[dict[str, Any], int]:
        (size,) = self._prefix.unpack_from(data, offset)
        offset += self._prefix.size
        if offset + size > len(data):
            raise ValueError("JSON runs past the end of the payload")
        value = json.loads(bytes(data[offset:offset + size]).decode("utf-8"))
        if not isinstance(value, dict):
            raise ValueError("JSON payload is not an object")
        return _from_json(value), offset + size


class _Limits(Codec):
    """Credit limits: u16 count, then (currency code, plain decimal text) pairs, sorted."""

    _count = struct.Struct("<H")
    _text = _Str(1)

    def check(self, value: Any, what: str) -> tuple[tuple[str, Decimal], ...]:
        if isinstance(value, Mapping):
            value = value.items()
        pairs = []
        for item in value:
            code, amount = item
            name = f"{what}[{code!r}]"
            exact = to_decimal(amount, name)
            if len(format(exact, "f")) > self._text.limit:
                raise ValueError(f"{name}: {amount!r} is too long written out in full")
            pairs.append((self._text.text(code, f"{what} currency"), exact))
        if len(pairs) > 0xFFFF:
            raise ValueError(f"{what}: {len(pairs)} limits is more than 65535")
        if len({code for code, _ in pairs}) != len(pairs):
            raise ValueError(f"{what}: a currency is given twice")
        return tuple(sorted(pairs))

    def encode(self, value: tuple[tuple[str, Decimal], ...]) -> bytes:
        parts = [self._count.pack(len(value))]
        for code, amount in value:
            parts += [self._text.encode(code), self._text.encode(format(amount, "f"))]
        return b"".join(parts)

    def read(self, data: memoryview, offset: int) -> tuple[tuple[tuple[str, Decimal], ...], int]:
        (count,) = self._count.unpack_from(data, offset)
        offset += self._count.size
        pairs = []
        for _ in range(count):
            code, offset = self._text.read_text(data, offset)
            text, offset = self._text.read_text(data, offset)
            pairs.append((code, Decimal(text)))
        return tuple(pairs), offset


class _Array(Codec):
    """A 1-d numpy array: u16 length + dtype description (JSON of numpy's ``dtype_to_descr``),
    then the raw bytes of the elements, to the end of the payload. Object dtypes are refused
    (their bytes are pointers, and rebuilding them would need pickle)."""

    _prefix = struct.Struct("<H")

    def check(self, value: Any, what: str) -> np.ndarray:
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{what}: expected a numpy array, got {type(value).__name__}")
        if value.ndim != 1:
            raise ValueError(f"{what}: expected a 1-d array, got {value.ndim} dimensions")
        if value.dtype.hasobject:
            raise TypeError(f"{what}: dtype {value.dtype} holds Python objects")
        return value

    def describe(self, dtype: np.dtype) -> bytes:
        text = json.dumps(dtype_to_descr(dtype), separators=(",", ":")).encode("ascii")
        return self._prefix.pack(len(text)) + text

    def encode(self, value: np.ndarray) -> bytes:
        return self.describe(value.dtype) + np.ascontiguousarray(value).tobytes()

    def read(self, data: memoryview, offset: int) -> tuple[np.ndarray, int]:
        (size,) = self._prefix.unpack_from(data, offset)
        start = offset + self._prefix.size + size
        dtype = descr_to_dtype(json.loads(bytes(data[offset + self._prefix.size:start])))
        if dtype.hasobject or dtype.itemsize == 0 or (len(data) - start) % dtype.itemsize:
            raise ValueError(f"array of dtype {dtype} does not fit {len(data) - start} bytes")
        return np.frombuffer(data[start:], dtype=dtype).copy(), len(data)


I64, U16, U8, DATE = _Int("q"), _Int("H"), _Int("B"), _Date()
STR8, STR16, OPT_STR16 = _Str(1), _Str(2), _Str(2, optional=True)
JSON_OBJECT, LIMITS, ARRAY = _JsonObject(), _Limits(), _Array()


# ------------------------------------------------------------------------------ commands

class Command:
    """Base of the journal's commands: ``KIND`` and one codec per field (``LAYOUT``, in field
    order)."""

    KIND: ClassVar[Kind]
    LAYOUT: ClassVar[tuple[Codec, ...]]
    _read_plan: ClassVar[tuple[struct.Struct, tuple[Codec, ...], tuple[str, ...] | None]]

    def __post_init__(self) -> None:
        name = type(self).__name__
        for spec, codec in zip(fields(cast(Any, self)), self.LAYOUT):
            checked = codec.check(getattr(self, spec.name), f"{name}.{spec.name}")
            object.__setattr__(self, spec.name, checked)

    def payload(self) -> bytes:
        """The command's payload bytes (module docstring). O(payload)."""
        return b"".join(codec.encode(getattr(self, spec.name))
                        for spec, codec in zip(fields(cast(Any, self)), self.LAYOUT))

    @classmethod
    def from_payload(cls, data: memoryview) -> Command:
        """The command whose payload is ``data``; ValueError (or struct.error) if it does not
        parse or leaves bytes over. Integers and texts need no checks once read (their
        widths bound them): a command of those alone is made without (the hot ones)."""
        head, rest, names = cls._reading()
        values: list[Any] = list(head.unpack_from(data))
        offset = head.size
        for codec in rest:
            value, offset = codec.read(data, offset)
            values.append(value)
        if offset != len(data):
            raise ValueError(f"{cls.__name__}: {len(data) - offset} bytes after the last field")
        if names is None:
            return cls(*values)
        command = cls.__new__(cls)
        command.__dict__.update(zip(names, values))  # a frozen dataclass: no __setattr__
        return command

    @classmethod
    def _reading(cls) -> tuple[struct.Struct, tuple[Codec, ...], tuple[str, ...] | None]:
        """(one struct for the leading integer fields, the codecs of the others, the field
        names if no field needs a check once read, else None); worked out once per class."""
        if "_read_plan" not in cls.__dict__:
            lead = 0
            while lead < len(cls.LAYOUT) and isinstance(cls.LAYOUT[lead], _Int):
                lead += 1
            head = struct.Struct("<" + "".join(c.fmt or "" for c in cls.LAYOUT[:lead]))
            plain = all(isinstance(c, (_Int, _Str)) for c in cls.LAYOUT)
            names = tuple(f.name for f in fields(cast(Any, cls))) if plain else None
            cls._read_plan = (head, cls.LAYOUT[lead:], names)
        return cls._read_plan


@dataclass(frozen=True)
class Setup(Command):
    """What the journal's exchange was built from (scenario, instrument ids, options): a JSON
    object, written first; a replay builds the same exchange and checks it."""

    settings: Mapping[str, Any]
    KIND = Kind.SETUP
    LAYOUT = (JSON_OBJECT,)


@dataclass(frozen=True)
class BeginDay(Command):
    """``Exchange.begin_day(date)``."""

    date: _dt.date
    KIND = Kind.BEGIN_DAY
    LAYOUT = (DATE,)


@dataclass(frozen=True)
class _SessionCommand(Command):
    name: str
    LAYOUT = (STR8,)


@dataclass(frozen=True)
class OpenSession(_SessionCommand):
    """``Exchange.open_session(name)``."""

    KIND = Kind.OPEN_SESSION


@dataclass(frozen=True)
class CloseSession(_SessionCommand):
    """``Exchange.close_session(name)``."""

    KIND = Kind.CLOSE_SESSION


@dataclass(frozen=True)
class EndOfDay(Command):
    """``Exchange.end_of_day()``."""

    KIND = Kind.END_OF_DAY
    LAYOUT = ()


@dataclass(frozen=True)
class AddMember(Command):
    """``Exchange.add_member(member, name, regime, credit_limits)``: ``regime`` is the
    ``Regime`` value ("DEFERRED", "PREFUNDED"); limits are whole currency units, given as a
    mapping or pairs and kept as (currency, Decimal) pairs sorted by currency."""

    member: int
    name: str
    regime: str
    credit_limits: tuple[tuple[str, Decimal], ...] | Mapping[str, DecimalLike] = ()
    KIND = Kind.ADD_MEMBER
    LAYOUT = (I64, STR16, STR8, LIMITS)


@dataclass(frozen=True)
class _Transfer(Command):
    member: int
    asset: str
    amount: int
    LAYOUT = (I64, STR8, I64)


@dataclass(frozen=True)
class Deposit(_Transfer):
    """``Exchange.deposit(member, asset, amount)``, ``amount`` in minor units."""

    KIND = Kind.DEPOSIT


@dataclass(frozen=True)
class Withdraw(_Transfer):
    """``Exchange.withdraw(member, asset, amount)``, ``amount`` in minor units."""

    KIND = Kind.WITHDRAW


@dataclass(frozen=True)
class Submit(Command):
    """``Exchange.submit`` of a limit order: ``instrument`` is ``Exchange.instrument_id``."""

    member: int
    instrument: int
    side: int
    price_ticks: int
    lots: int
    tif: int
    client_order_id: str | None = None
    KIND = Kind.SUBMIT
    LAYOUT = (I64, U16, U8, I64, I64, U8, OPT_STR16)


@dataclass(frozen=True)
class MarketOrder(Command):
    """``Exchange.market``: a market order of ``lots``."""

    member: int
    instrument: int
    side: int
    lots: int
    client_order_id: str | None = None
    KIND = Kind.MARKET
    LAYOUT = (I64, U16, U8, I64, OPT_STR16)


@dataclass(frozen=True)
class Cancel(Command):
    """``Exchange.cancel(member, order_id)``."""

    member: int
    order_id: int
    KIND = Kind.CANCEL
    LAYOUT = (I64, I64)


@dataclass(frozen=True)
class Modify(Command):
    """``Exchange.modify``: the new resting ``lots`` (0 cancels) and ``price_ticks`` (0 keeps
    the price, as the book's MODIFY message; a real price is > 0)."""

    member: int
    order_id: int
    lots: int
    price_ticks: int = 0
    KIND = Kind.MODIFY
    LAYOUT = (I64, I64, I64, I64)


@dataclass(frozen=True, eq=False)
class Process(Command):
    """``Exchange.process(orders)``: a batch, any 1-d numpy array without Python objects
    (equal to another when dtype and bytes are equal)."""

    orders: np.ndarray
    KIND = Kind.PROCESS
    LAYOUT = (ARRAY,)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Process):
            return NotImplemented
        return self.orders.dtype == other.orders.dtype and \
            self.orders.tobytes() == other.orders.tobytes()

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class SettlementRun(Command):
    """A settlement run: its ``date``, ``run_id`` (the ledger's idempotency key) and the
    other arguments as JSON (``on_fail``, ``roll_to`` as ISO text, ...)."""

    date: _dt.date
    run_id: str
    arguments: Mapping[str, Any]
    KIND = Kind.SETTLEMENT_RUN
    LAYOUT = (DATE, STR16, JSON_OBJECT)


#: Command class by kind code.
COMMANDS: dict[int, type[Command]] = {cls.KIND: cls for cls in (
    Setup, BeginDay, OpenSession, CloseSession, EndOfDay, AddMember, Deposit, Withdraw, Submit,
    MarketOrder, Cancel, Modify, Process, SettlementRun)}


def decode(kind: int, payload: memoryview) -> Command:
    """The command of ``kind`` from its payload; ValueError if the kind is unknown or the
    payload does not parse as that kind's layout."""
    cls = COMMANDS.get(kind)
    if cls is None:
        raise ValueError(f"record kind {kind} is not a command of this format version")
    try:
        return cls.from_payload(payload)
    except (struct.error, UnicodeDecodeError, ArithmeticError, TypeError, KeyError) as exc:
        raise ValueError(f"{cls.__name__}: payload does not parse ({exc})") from None
