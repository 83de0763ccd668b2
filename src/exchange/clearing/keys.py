"""Which trades a set of obligations comes from: the keys that let a trade settle only once.

A trade is identified by ``(trade_date, trade_id)`` (trade ids are unique within a trade date);
each of its legs is due on one date (a swap's far leg on another). :class:`TradeKeys` holds, per
``(due day, trade day)``, the sorted unique trade ids of the legs due that day: O(8 bytes) per
leg. The ledger stores the keys a run settled and refuses to settle them again.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

__all__ = ["TradeKeys", "decode_ids", "encode_ids"]

_EMPTY = np.zeros(0, np.int64)


class TradeKeys:
    """``{(due day, trade day): sorted unique int64 trade ids}``; days are int64 days since
    1970-01-01. Immutable once built."""

    def __init__(self, groups: Mapping[tuple[int, int], np.ndarray] | None = None) -> None:
        self._groups = {(int(d), int(t)): np.asarray(ids, np.int64) for (d, t), ids in sorted((groups or {}).items())
                        if len(ids)}
        for ids in self._groups.values():
            ids.flags.writeable = False

    @classmethod
    def collect(cls, parts: Mapping[tuple[int, int], list[np.ndarray]], ordered: bool) -> TradeKeys:
        """Join per-chunk id arrays; ``ordered``: each list is already strictly increasing as a
        whole (then nothing is sorted). ValueError naming a duplicate trade otherwise."""
        groups = {}
        for (due, trade_day), arrays in parts.items():
            ids = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
            if not ordered:
                ids = np.sort(ids)
                dup = np.flatnonzero(ids[1:] == ids[:-1])
                if len(dup):
                    raise ValueError(f"trade_id: {int(ids[dup[0]])} appears more than once on trade date "
                                     f"{np.datetime64(trade_day, 'D')}")
            groups[(due, trade_day)] = ids
        return cls(groups)

    def items(self) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
        return iter(self._groups.items())

    def __len__(self) -> int:
        """The number of legs."""
        return sum(len(ids) for ids in self._groups.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TradeKeys) and self._groups.keys() == other._groups.keys() and all(
            np.array_equal(ids, other._groups[k]) for k, ids in self._groups.items())

    def dues(self) -> list[int]:
        return sorted({d for d, _ in self._groups})

    def for_due(self, due: int) -> TradeKeys:
        return TradeKeys({k: v for k, v in self._groups.items() if k[0] == due})

    def get(self, due: int, trade_day: int) -> np.ndarray:
        return self._groups.get((due, trade_day), _EMPTY)

    def contains(self, due: int, trade_day: int, ids: np.ndarray) -> np.ndarray:
        """A bool per id: is ``(due, trade_day, id)`` one of these keys? O(k log n)."""
        known = self.get(due, trade_day)
        if not len(known):
            return np.zeros(len(ids), bool)
        at = np.minimum(np.searchsorted(known, ids), len(known) - 1)
        return known[at] == ids

    def overlap(self, other: TradeKeys) -> int:
        """How many keys the two sets share."""
        return sum(int(other.contains(d, t, ids).sum()) for (d, t), ids in self._groups.items())

    def minus(self, other: TradeKeys) -> TradeKeys:
        """The keys not in ``other``."""
        return TradeKeys({(d, t): ids[~other.contains(d, t, ids)] for (d, t), ids in self._groups.items()})

    @classmethod
    def union(cls, parts: Iterable[TradeKeys]) -> TradeKeys:
        merged: dict[tuple[int, int], list[np.ndarray]] = {}
        for part in parts:
            for key, ids in part.items():
                merged.setdefault(key, []).append(ids)
        return cls({k: _sorted_unique(v) for k, v in merged.items()})

    def update_hash(self, h: hashlib._Hash) -> None:
        for (due, trade_day), ids in self._groups.items():
            h.update(np.array([due, trade_day, len(ids)], "<i8").tobytes())
            h.update(ids.astype("<i8", copy=False).tobytes())


def _sorted_unique(parts: list[np.ndarray]) -> np.ndarray:
    """The distinct ids of sorted arrays (a merge sort of sorted runs is close to linear)."""
    if len(parts) == 1:
        return parts[0]
    ids = np.sort(np.concatenate(parts), kind="stable")
    return ids[np.r_[True, ids[1:] != ids[:-1]]] if len(ids) else ids


def encode_ids(ids: np.ndarray) -> bytes:
    """Sorted unique int64 ids as bytes: the first id, the width of the gaps, the gaps in the
    narrowest unsigned type that holds them (an exchange's ids are dense: mostly one byte)."""
    if not len(ids):
        return b""
    gaps = np.diff(ids).astype(np.uint64)
    top = int(gaps.max()) if len(gaps) else 0
    width = next(w for w in (1, 2, 4, 8) if top < 1 << (8 * w))
    return np.array([ids[0]], "<i8").tobytes() + bytes([width]) + gaps.astype(f"<u{width}").tobytes()


def decode_ids(blob: bytes) -> np.ndarray:
    """Inverse of :func:`encode_ids` (wrapping int64 sums give back ids anywhere in int64)."""
    if not blob:
        return _EMPTY.copy()
    gaps = np.frombuffer(blob, f"<u{blob[8]}", offset=9).astype(np.int64)
    out = np.empty(len(gaps) + 1, np.int64)
    out[0] = np.frombuffer(blob[:8], "<i8")[0]
    with np.errstate(over="ignore"):
        np.cumsum(gaps, out=out[1:])
        out[1:] += out[0]
    return out
