"""How each field of a journal command is checked, written and read (:class:`Codec`).

One codec per field type of docs/journal.md: little-endian integers (``I64``, ``U16``,
``U8``), dates as day numbers (``DATE``), length-prefixed UTF-8 texts (``STR8``, ``STR16``,
``OPT_STR16``), canonical JSON objects (``JSON_OBJECT``), credit limits (``LIMITS``) and numpy
arrays as dtype description and raw bytes (``ARRAY``) or, for arrays of int64 fields, packed to
the bytes each field needs (``PACKED``). ``check`` raises TypeError or ValueError
naming the field and normalises the value (numpy integers to ints, JSON lists to tuples, limits
to sorted ``(code, Decimal)`` pairs); ``read`` raises ValueError (or struct.error) for bytes
that do not parse. Each is O(the field's size).
"""
from __future__ import annotations

import datetime as _dt
import json
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.lib.format import descr_to_dtype, dtype_to_descr

from exchange.reference.dates import day_number
from exchange.reference.numbers import checked_int, to_decimal

__all__ = ["ARRAY", "DATE", "I64", "JSON_OBJECT", "LIMITS", "OPT_STR16", "PACKED", "STR16", "STR8",
           "U16", "U8", "Codec", "Integer", "Text"]

_EPOCH = _dt.date(1970, 1, 1)


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


class Integer(Codec):
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


class Text(Codec):
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
    _text = Text(1)

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


class _Packed(_Array):
    """A 1-d numpy array whose fields are all int64 (an ``ORDER_DTYPE`` batch), packed: u16
    length + dtype description as ``ARRAY``, u32 row count, then per field its base (i64: the
    field's minimum) and width (u8: 0, 1, 2, 4 or 8 bytes, enough for the field's range), then
    each row as its fields' offsets from their bases, unsigned little-endian, fields of width 0
    left out. Exact for any int64 values (offsets are taken modulo 2**64). The writer's compiled
    queue writes the same bytes (``FrameQueue.packed``); :meth:`encode` is the reference."""

    _count = struct.Struct("<I")
    _column = struct.Struct("<qB")

    @staticmethod
    def fits(dtype: np.dtype) -> bool:
        """Whether arrays of ``dtype`` can be packed: plain int64, or a struct of int64
        fields and nothing else."""
        if dtype.names is None:
            return dtype == np.dtype("<i8")
        fields: Mapping[str, Any] = dtype.fields or {}
        return dtype.itemsize == 8 * len(dtype.names) and all(
            fields[name][0] == np.dtype("<i8") and fields[name][1] == 8 * k
            for k, name in enumerate(dtype.names))

    def check(self, value: Any, what: str) -> np.ndarray:
        value = super().check(value, what)
        if not self.fits(value.dtype):
            raise TypeError(f"{what}: dtype {value.dtype} is not made of int64 fields")
        return value

    def encode(self, value: np.ndarray) -> bytes:
        columns = np.ascontiguousarray(value).view("<i8").reshape(len(value), value.itemsize // 8)
        parts = [self.describe(value.dtype), self._count.pack(len(value))]
        names, formats, offsets, bases, size = [], [], [], [], 0
        for j in range(columns.shape[1]):
            column = columns[:, j]
            base = int(column.min()) if len(column) else 0
            top = int(column.max()) if len(column) else 0
            width = _width(top - base)
            parts.append(self._column.pack(base, width))
            if width:
                names.append(f"f{j}")
                formats.append(f"<u{width}")
                offsets.append(size)
                bases.append(np.uint64(base % 2**64))
                size += width
        rows = np.zeros(len(value), np.dtype({"names": names, "formats": formats,
                                              "offsets": offsets, "itemsize": max(size, 1)}))
        for name, base_u64 in zip(names, bases):
            rows[name] = columns[:, int(name[1:])].view(np.uint64) - base_u64  # modulo 2**64
        if size:
            parts.append(rows.tobytes())
        return b"".join(parts)

    def read(self, data: memoryview, offset: int) -> tuple[np.ndarray, int]:
        (size,) = self._prefix.unpack_from(data, offset)
        start = offset + self._prefix.size + size
        dtype = descr_to_dtype(json.loads(bytes(data[offset + self._prefix.size:start])))
        if not self.fits(dtype):
            raise ValueError(f"packed array of dtype {dtype}: not made of int64 fields")
        (n,) = self._count.unpack_from(data, start)
        start += self._count.size
        k = dtype.itemsize // 8
        heads = [self._column.unpack_from(data, start + self._column.size * j) for j in range(k)]
        start += self._column.size * k
        widths = [width for _, width in heads]
        if any(width not in (0, 1, 2, 4, 8) for width in widths):
            raise ValueError(f"packed array: field widths {widths} are not 0, 1, 2, 4 or 8")
        row = sum(widths)
        if len(data) - start != n * row:
            raise ValueError(f"packed array of {n} rows of {row} bytes does not fit "
                             f"{len(data) - start} bytes")
        out = np.empty((n, k), np.uint64)
        position = start
        packed = np.frombuffer(data[start:], np.uint8).reshape(n, row) if row else None
        for j, (base, width) in enumerate(heads):
            if width == 0:
                out[:, j] = np.uint64(base % 2**64)
                continue
            assert packed is not None
            at = position - start
            column = packed[:, at:at + width].copy().view(f"<u{width}").reshape(n)
            out[:, j] = column.astype(np.uint64) + np.uint64(base % 2**64)
            position += width
        return out.view("<i8").reshape(-1).view(dtype).copy(), len(data)


def _width(span: int) -> int:
    """Bytes for offsets 0..span (span >= 0, at most 2**64 - 1)."""
    for width in (0, 1, 2, 4):
        if span < 1 << (8 * width):
            return width
    return 8


I64, U16, U8, DATE = Integer("q"), Integer("H"), Integer("B"), _Date()
STR8, STR16, OPT_STR16 = Text(1), Text(2), Text(2, optional=True)
JSON_OBJECT, LIMITS, ARRAY, PACKED = _JsonObject(), _Limits(), _Array(), _Packed()
