"""The one registry of names behind the small integer codes in records and clearing results.

Trade records, obligations and settlement results store instruments, assets, sessions,
settlement methods, statuses and line kinds as small integers; :data:`CODES` names them. Names
appear only at the edges: :func:`to_arrow` turns coded fields into dictionary columns (so
Parquet files and pandas categoricals show ``"USDKZT_TOD"``, ``"morning"``, ``"KZT"``), and
:meth:`Names.codes_of` reads names back into codes.

Two kinds of table:

* fixed (sessions, settlement methods, statuses, line kinds): the codes are constants, the same
  in every process (``SESSIONS.code("morning") == 0``);
* interned (instruments, assets): a name gets the next free code the first time it is seen in
  this process, and keeps it for the life of the process (append-only, thread-safe). These codes
  are process-local, so files store names, never these codes (Parquet via :func:`to_arrow`, the
  ledger's SQLite tables, the ledger's stored reports).

An instrument is registered with its settlement method (``register_instrument``), which is how
clearing knows NET from GROSS for a record: the method belongs to the instrument, and a record
names its instrument. Lookups are O(1) per name and O(n) vectorised per array of codes.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["CODES", "Names", "Registry", "to_arrow", "to_pandas"]


class Names:
    """Names <-> codes of one kind (``kind`` names it in errors). Codes are 0, 1, 2, ...

    ``fixed`` tables refuse new names; interned ones add them on first use up to the largest
    value of ``dtype``. A name is a non-empty printable str of at most ``max_len`` characters.
    """

    def __init__(self, kind: str, dtype: str, names: Sequence[str] = (), *, fixed: bool = False,
                 max_len: int = 16) -> None:
        self.kind, self.dtype, self.fixed, self.max_len = kind, np.dtype(dtype), fixed, max_len
        self._limit = int(np.iinfo(self.dtype).max) + 1
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._lock = threading.Lock()
        for name in names:
            self._add(name)

    def _add(self, name: str) -> int:
        self._check_name(name)
        if len(self._names) >= self._limit:
            raise ValueError(f"{self.kind}: cannot name more than {self._limit} (adding {name!r})")
        self._index[name] = len(self._names)
        self._names.append(name)
        return self._index[name]

    def _check_name(self, name: Any) -> None:
        if not isinstance(name, str) or not name or len(name) > self.max_len or not name.isprintable():
            raise ValueError(f"{self.kind}: {name!r} must be a non-empty printable string of at most "
                             f"{self.max_len} characters")

    def code(self, name: str) -> int:
        """The code of ``name``, interned if new (ValueError for a fixed table or a bad name)."""
        found = self._index.get(name)
        if found is not None:
            return found
        if self.fixed:
            raise ValueError(f"{self.kind}: {name!r} is not one of {', '.join(self._names)}")
        with self._lock:
            found = self._index.get(name)
            return found if found is not None else self._add(name)

    def find(self, name: str) -> int | None:
        """The code of ``name`` or None; never interns."""
        return self._index.get(name)

    def name(self, code: Any) -> str:
        """The name of ``code``; ValueError naming the code if it is not in the table."""
        i = int(code)
        if not 0 <= i < len(self._names):
            raise ValueError(f"{self.kind}: code {i} names nothing (known codes 0..{len(self._names) - 1})")
        return self._names[i]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def codes(self, names: Iterable[str]) -> np.ndarray:
        """Codes of ``names`` (interning new ones) as an array of this table's dtype."""
        return np.asarray([self.code(n) for n in names], self.dtype)

    def decode(self, codes: Any) -> list[str]:
        """Names of an array of codes (ValueError for a code outside the table). O(n)."""
        codes = np.asarray(codes)
        self.check(codes, self.kind)
        table = np.asarray(self._names + [""], dtype=object)
        return table[codes.astype(np.intp)].tolist()

    def check(self, codes: np.ndarray, field: str) -> None:
        """ValueError naming ``field`` if a code is outside the table. O(n)."""
        if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= len(self._names)):
            bad = codes[(codes < 0) | (codes >= len(self._names))][0]
            raise ValueError(f"{field}: code {int(bad)} names no {self.kind} "
                             f"(known codes 0..{len(self._names) - 1})")

    def codes_of(self, column: Any, field: str) -> np.ndarray:
        """Codes of a pyarrow string/dictionary column (Array or ChunkedArray) of names.

        Each chunk's dictionary is looked up once, then its indices are mapped: O(n + distinct
        names). Nulls and bad names raise ValueError naming ``field``.
        """
        import pyarrow as pa

        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        parts = []
        for chunk in chunks:
            if chunk.null_count:
                raise ValueError(f"{field}: {chunk.null_count} null values")
            if not pa.types.is_dictionary(chunk.type):
                if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
                    raise ValueError(f"{field}: expected names (string or dictionary column), got {chunk.type}")
                chunk = chunk.dictionary_encode()
            values = chunk.dictionary.to_pylist()
            if not all(isinstance(v, str) for v in values):
                raise ValueError(f"{field}: expected names (string dictionary), got {chunk.type}")
            lookup = np.asarray([self._code_for(v, field) for v in values] or [0], self.dtype)
            parts.append(lookup[chunk.indices.to_numpy(zero_copy_only=False).astype(np.intp)])
        return np.concatenate(parts) if parts else np.zeros(0, self.dtype)

    def _code_for(self, name: str, field: str) -> int:
        try:
            return self.code(name)
        except ValueError as exc:
            raise ValueError(f"{field}: {exc}") from None

    def dictionary(self, codes: np.ndarray) -> Any:
        """A pyarrow DictionaryArray of ``codes`` whose dictionary holds only the names used."""
        import pyarrow as pa

        codes = np.asarray(codes)
        self.check(codes, self.kind)
        used = np.flatnonzero(np.bincount(codes.astype(np.intp), minlength=1)) if len(codes) else np.zeros(0, np.intp)
        remap = np.zeros(len(self._names) + 1, self.dtype)
        remap[used] = np.arange(len(used))
        indices = pa.array(remap[codes.astype(np.intp)], type=pa.from_numpy_dtype(self.dtype))
        return pa.DictionaryArray.from_arrays(indices, pa.array([self._names[i] for i in used], pa.string()))


class Registry:
    """Every table of names, and the settlement method of every registered instrument.

    ``fields`` maps a field name used in records and results to its table: ``instrument``;
    ``base_asset``, ``quote_asset``, ``asset``; ``session``; ``settlement``; ``status``; ``kind``.
    """

    def __init__(self) -> None:
        self.instrument = Names("instrument", "i2", max_len=16)
        self.asset = Names("asset", "i2", max_len=12)
        self.session = Names("session", "i1", ("morning", "day", "evening"), fixed=True)
        self.settlement = Names("settlement", "i1", ("NET", "GROSS"), fixed=True)
        self.status = Names("status", "i1", ("settled", "failed"), fixed=True)
        self.kind = Names("kind", "i1", ("net", "gross", "ccp"), fixed=True)
        self.fields: Mapping[str, Names] = {
            "instrument": self.instrument, "base_asset": self.asset, "quote_asset": self.asset,
            "asset": self.asset, "session": self.session, "settlement": self.settlement,
            "status": self.status, "kind": self.kind,
        }
        self._methods = np.full(16, -1, np.int8)  # settlement method per instrument code
        self._lock = threading.Lock()

    def register_instrument(self, symbol: str, settlement: int) -> int:
        """The code of ``symbol``, recording that it settles by ``settlement`` (NET 0, GROSS 1).

        ValueError if the symbol was registered with the other method in this process.
        """
        if isinstance(settlement, bool) or int(settlement) not in (0, 1):
            raise ValueError(f"settlement: {settlement!r} is neither NET (0) nor GROSS (1)")
        code = self.instrument.code(symbol)
        with self._lock:
            if code >= len(self._methods):
                grown = np.full(max(2 * len(self._methods), code + 1), -1, np.int8)
                grown[: len(self._methods)] = self._methods
                self._methods = grown
            known = int(self._methods[code])
            if known not in (-1, int(settlement)):
                raise ValueError(f"instrument {symbol!r} settles {self.settlement.name(known)}, "
                                 f"not {self.settlement.name(int(settlement))}")
            self._methods[code] = int(settlement)
        return code

    def settlement_of(self, instruments: np.ndarray, field: str = "instrument") -> np.ndarray:
        """The settlement method (int8) of each instrument code; ValueError naming an
        instrument without a registered method. O(n)."""
        self.instrument.check(instruments, field)
        methods = self._methods
        if len(methods) < len(self.instrument):  # names interned without a method
            methods = np.concatenate([methods, np.full(len(self.instrument) - len(methods), -1, np.int8)])
        out = methods[np.asarray(instruments, np.intp)]
        if len(out) and out.min() < 0:
            unknown = self.instrument.name(instruments[np.argmax(out < 0)])
            raise ValueError(f"{field}: {unknown!r} has no registered settlement method "
                             "(register_instrument, or give a settlement column)")
        return out


#: The registry of this process.
CODES = Registry()


def to_arrow(array: np.ndarray, columns: Sequence[str] | None = None,
             extra: Mapping[str, Any] | None = None) -> Any:
    """A numpy structured array as a pyarrow Table: coded fields (see ``Registry.fields``) as
    dictionary columns of names, datetime64 fields as date32 with NaT as null, others as they
    are. ``extra`` adds computed columns; ``columns`` orders (and selects) the result. O(n)."""
    import pyarrow as pa

    out: dict[str, Any] = {}
    for name in array.dtype.names:
        col = array[name]
        table = CODES.fields.get(name)
        if table is not None and col.dtype.kind in "iu":
            out[name] = table.dictionary(col)
        elif col.dtype.kind == "M":
            out[name] = pa.array(col.astype("M8[D]"), type=pa.date32(), mask=np.isnat(col))
        else:
            out[name] = pa.array(col)
    out.update(extra or {})
    names = list(columns) if columns is not None else list(out)
    return pa.table({n: out[n] for n in names})


def to_pandas(array: np.ndarray, **kwargs: Any) -> Any:
    """:func:`to_arrow` as a pandas DataFrame: names as categoricals, dates as datetime64."""
    return to_arrow(array, **kwargs).to_pandas(date_as_object=False)
