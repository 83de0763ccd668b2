"""The commands a journal records, one frozen dataclass per kind, and their compact payloads.

Each command is an ``Exchange`` call in the normalised form the venue works with (member and
order ids, instrument ids, ticks and lots as integers; dates as dates), so that a replay gives
the exchange exactly what it was given. A command's payload is its fields in declaration order,
each written by its field codec (:mod:`exchange.journal.fields`: little-endian integers,
length-prefixed UTF-8 text, canonical JSON, a numpy array's dtype description and raw bytes).
``Kind`` codes are never renumbered; a new kind or layout is a new format version
(docs/journal.md has every layout).

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
import struct
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, ClassVar, cast

import numpy as np

from exchange.reference.numbers import DecimalLike

from .fields import (
    ARRAY,
    DATE,
    I64,
    JSON_OBJECT,
    LIMITS,
    OPT_STR16,
    PACKED,
    STR8,
    STR16,
    U8,
    U16,
    Codec,
    Integer,
    Text,
)

__all__ = [
    "COMMANDS", "Kind", "Command", "Setup", "BeginDay", "OpenSession",
    "CloseSession", "EndOfDay", "AddMember", "Deposit", "Withdraw", "Submit", "MarketOrder",
    "Cancel", "Modify", "Process", "PackedProcess", "SettlementRun", "Refused", "decode",
]


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
    REFUSED = 15  # format version 2
    PACKED_PROCESS = 16  # format version 3


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
            while lead < len(cls.LAYOUT) and isinstance(cls.LAYOUT[lead], Integer):
                lead += 1
            head = struct.Struct("<" + "".join(c.fmt or "" for c in cls.LAYOUT[:lead]))
            plain = all(isinstance(c, (Integer, Text)) for c in cls.LAYOUT)
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


@dataclass(frozen=True, eq=False)
class PackedProcess(Process):
    """A :class:`Process` batch whose dtype is all int64 fields (``ORDER_DTYPE``), written
    packed: each field in the bytes its range needs (docs/journal.md, ``packed``), about a sixth
    of the raw rows for an order flow. The writer picks it for such arrays; it reads back as a
    Process (equal to one of the same array). (Format version 3.)"""

    KIND = Kind.PACKED_PROCESS
    LAYOUT = (PACKED,)


@dataclass(frozen=True)
class SettlementRun(Command):
    """A settlement run: its ``date``, ``run_id`` (the ledger's idempotency key) and the
    other arguments as JSON (``on_fail``, ``roll_to`` as ISO text, ...)."""

    date: _dt.date
    run_id: str
    arguments: Mapping[str, Any]
    KIND = Kind.SETTLEMENT_RUN
    LAYOUT = (DATE, STR16, JSON_OBJECT)


@dataclass(frozen=True)
class Refused(Command):
    """A call the exchange refused and counted (``Exchange.rejections``) before it had a
    normalised form to journal: ``call`` names it ("submit", "market", "cancel", "modify",
    "withdraw", "process") and ``code`` is its ``RejectReason`` code (negative). Replaying it
    counts the refusal again; nothing else changed. (Format version 2.)"""

    call: str
    code: int
    KIND = Kind.REFUSED
    LAYOUT = (STR8, I64)


#: Command class by kind code.
COMMANDS: dict[int, type[Command]] = {cls.KIND: cls for cls in (
    Setup, BeginDay, OpenSession, CloseSession, EndOfDay, AddMember, Deposit, Withdraw, Submit,
    MarketOrder, Cancel, Modify, Process, SettlementRun, Refused, PackedProcess)}


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
