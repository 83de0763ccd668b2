"""Members: who may trade and under which regime; the exchange's one member table.

A :class:`Member` trades under one of two regimes:

* ``DEFERRED`` (the default): settles after the fact through clearing; optionally with a credit
  limit per currency (minor units) on what it may owe on the day's trades plus its open orders'
  worst case.
* ``PREFUNDED``: an order is accepted only if the member's available funds cover its worst case
  (new members and some banks on KASE).

What that means order by order is :mod:`exchange.venue.risk`'s job; this module only records
members. Member ids are integers in 0..2**63-1 (negative ids are the clearing house's and the
fee account's); numpy integers are accepted, bools are not.
"""
from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from exchange.reference.instruments import MAX_INT64, checked_int

__all__ = ["Regime", "Member", "MemberRegistry"]


class Regime(enum.Enum):
    """How a member's trades are secured."""

    DEFERRED = "DEFERRED"
    PREFUNDED = "PREFUNDED"


@dataclass(frozen=True)
class Member:
    """A trading member. ``credit_limits`` (DEFERRED only): currency code -> minor units."""

    id: int
    name: str
    regime: Regime = Regime.DEFERRED
    credit_limits: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", checked_int(self.id, "member id", 0, ValueError))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"member {self.id}: name {self.name!r} is empty")
        if not isinstance(self.regime, Regime):
            raise TypeError(f"member {self.id}: regime {self.regime!r} is not a Regime")
        limits = {code: checked_int(amount, f"member {self.id}: credit limit {code}", 0,
                                    ValueError)
                  for code, amount in dict(self.credit_limits).items()}
        if limits and self.regime is not Regime.DEFERRED:
            raise ValueError(f"member {self.id}: credit limits apply to DEFERRED members, not "
                             f"{self.regime.value}")
        object.__setattr__(self, "credit_limits", MappingProxyType(limits))

    @property
    def prefunded(self) -> bool:
        return self.regime is Regime.PREFUNDED


class MemberRegistry:
    """Members by id. ``get`` of an unknown id raises KeyError naming it."""

    def __init__(self) -> None:
        self._members: dict[int, Member] = {}

    def add(self, member: Member) -> Member:
        """Register ``member``; ValueError if its id is taken. O(1)."""
        if not isinstance(member, Member):
            raise TypeError(f"expected a Member, got {type(member).__name__}")
        if member.id in self._members:
            raise ValueError(f"member id {member.id} is already registered "
                             f"({self._members[member.id].name!r})")
        self._members[member.id] = member
        return member

    def find(self, member_id: Any) -> Member | None:
        """The member with id ``member_id`` (an int or numpy integer), None for anything else
        (an unknown id, a bool, a str). O(1)."""
        if type(member_id) is int:
            return self._members.get(member_id)
        try:
            key = checked_int(member_id, "member id", -MAX_INT64 - 1, ValueError)
        except (TypeError, ValueError):
            return None
        return self._members.get(key)

    def get(self, member_id: Any) -> Member:
        """The member with id ``member_id``; KeyError naming it if there is none. O(1)."""
        member = self.find(member_id)
        if member is None:
            raise KeyError(f"unknown member {member_id!r}")
        return member

    def __contains__(self, member_id: object) -> bool:
        return self.find(member_id) is not None

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members.values())

    def __len__(self) -> int:
        return len(self._members)
