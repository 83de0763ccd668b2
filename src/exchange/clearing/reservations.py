"""The ledger's legacy intraday bookkeeping: reservations and commitments, in memory.

Reservations are held for resting orders; commitments are filled, not yet settled debits per
settlement date. The exchange layer calls ``reserve``/``release``/``commit`` per order, in O(1).
They are lost on restart by design. Settlement does not touch them: :meth:`Reservations.on_settled`
is a settlement listener (``Ledger.add_listener``) that clears a settled date's commitments and
re-commits on the roll date what members still owe. (Issue 8 moves this out of the ledger.)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["InsufficientFunds", "Reservations"]


class InsufficientFunds(ValueError):
    """``available < needed`` for a reservation; names member, asset, needed and available."""

    def __init__(self, member: int, asset: str, needed: int, available: int) -> None:
        self.member, self.asset, self.needed, self.available = member, asset, needed, available
        super().__init__(
            f"insufficient funds: member {member} asset {asset!r} needs {needed}, available {available}"
        )


Key = tuple[int, str]


class Reservations:
    """Reserved and committed amounts per (member, asset); ``balance(key)`` is the settled one.

    Callers pass checked keys, positive int amounts and ISO day strings.
    """

    def __init__(self, balance: Callable[[Key], int]) -> None:
        self._balance = balance
        self._reserved: dict[Key, int] = {}
        self._committed: dict[Key, int] = {}  # totals over dates
        self._by_date: dict[tuple[int, str, str], int] = {}

    def reserved(self, key: Key) -> int:
        return self._reserved.get(key, 0)

    def committed(self, key: Key, day: str | None = None) -> int:
        return self._committed.get(key, 0) if day is None else self._by_date.get((*key, day), 0)

    def available(self, key: Key) -> int:
        return self._balance(key) - self._reserved.get(key, 0) - self._committed.get(key, 0)

    def reserve(self, key: Key, amount: int) -> None:
        available = self.available(key)
        if available < amount:
            raise InsufficientFunds(key[0], key[1], amount, available)
        self._reserved[key] = self._reserved.get(key, 0) + amount

    def release(self, key: Key, amount: int) -> None:
        held = self._reserved.get(key, 0)
        if amount > held:
            raise ValueError(f"release: amount {amount} exceeds reserved {held} for member {key[0]} asset {key[1]!r}")
        _set(self._reserved, key, held - amount)

    def commit(self, key: Key, amount: int, day: str) -> None:
        held = self._reserved.get(key, 0)
        if amount > held:
            raise ValueError(f"commit: amount {amount} exceeds reserved {held} for member {key[0]} asset {key[1]!r}")
        _set(self._reserved, key, held - amount)
        self._add_commitment(key, day, amount)

    def _add_commitment(self, key: Key, day: str, amount: int) -> None:
        self._committed[key] = self._committed.get(key, 0) + amount
        dkey = (*key, day)
        self._by_date[dkey] = self._by_date.get(dkey, 0) + amount

    def commitments(self, day: str) -> dict[Key, int]:
        return {(m, a): v for (m, a, d), v in self._by_date.items() if d == day}

    def settle_commitments(self, day: str, to_day: str | None, rolled: Mapping[Key, int]) -> None:
        """After the settlement run of ``day``: every commitment for ``day`` is done with
        (settled or failed); the failed debits ``rolled[(member, asset)]`` become commitments
        on ``to_day`` when they roll (None: cancelled)."""
        for (m, a, d), v in list(self._by_date.items()):
            if d == day:
                del self._by_date[(m, a, d)]
                _set(self._committed, (m, a), self._committed.get((m, a), 0) - v)
        if to_day is not None:
            for key, v in rolled.items():
                if v > 0:
                    self._add_commitment(key, to_day, v)

    def on_settled(self, notice: Any) -> None:
        """The settlement listener: ``notice`` is a ``SettlementNotice``."""
        roll = None if notice.roll_to is None else notice.roll_to.isoformat()
        self.settle_commitments(notice.date.isoformat(), roll, notice.debits)


def _set(store: dict, key: Any, value: int) -> None:
    if value:
        store[key] = value
    else:
        store.pop(key, None)
