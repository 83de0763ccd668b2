"""Members and their money: the ``Exchange`` calls that reach the ledger (a mixin of the facade).

:class:`MoneyCalls` registers members (with their ledger accounts and engine index), moves money
in and out (:meth:`~MoneyCalls.deposit`, :meth:`~MoneyCalls.withdraw`), reports what a member
may use (:meth:`~MoneyCalls.funds`) and runs settlement (:meth:`~MoneyCalls.settle`) through the
settlement function the package gives (clearing's ``settle``: the venue never imports clearing).
Each call is journaled once it has succeeded, before it returns (docs/journal.md); a refused
withdrawal is counted and journaled as ``Refused``. The state lives in the exchange's parts
(``venue/exchange.py`` builds them); this class only holds the calls.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Any

from exchange.journal import AddMember, Deposit, JournalWriter, SettlementRun, Withdraw
from exchange.reference.calendar import Calendar
from exchange.reference.dates import as_date, day_number
from exchange.reference.instruments import InstrumentSet, checked_int
from exchange.venue._engine import Engine
from exchange.venue.codes import OrderRejected, RejectReason
from exchange.venue.markets import Markets
from exchange.venue.members import Member, MemberRegistry, Regime
from exchange.venue.reporting import Reporter
from exchange.venue.risk import Funds

__all__ = ["MoneyCalls"]

#: Runs a settlement: ``settle(ledger, date, trades, run_id=, on_fail=, roll_to=)`` returning
#: a result with a ``run_id`` (the package sets it to ``exchange.clearing.settle``).
default_settle: Callable[..., Any] | None = None


class MoneyCalls:
    """Members, deposits, withdrawals, funds and settlement runs of an ``Exchange``."""

    # the exchange's parts (venue/exchange.py)
    instruments: InstrumentSet
    calendar: Calendar
    _ledger: Any
    _members: MemberRegistry
    _member_index: dict[int, int]
    _engine: Engine
    _markets: Markets
    _reporter: Reporter
    _journal: JournalWriter | None
    now: Callable[[], float]
    trades: Callable[[], Any]

    def add_member(self, member_id: int, name: str, regime: Regime = Regime.DEFERRED,
                   credit_limits: Mapping[str, Any] | None = None) -> Member:
        """Register a member. ``credit_limits`` (DEFERRED only) maps a currency code to the
        limit in whole currency units (Decimal, str or int: ``{"KZT": "5000000"}``).

        Every member gets ledger accounts in every asset of the instrument set; fund them with
        :meth:`deposit`. Raises ValueError/TypeError/KeyError with nothing changed.
        """
        assets = self.instruments.assets
        limits = {}
        for code, amount in (credit_limits or {}).items():
            if code not in assets:
                raise KeyError(f"credit_limits: unknown currency {code!r}")
            limits[code] = assets[code].to_minor(amount)
        member = Member(member_id, name, regime, limits)
        if member.id in self._members:
            raise ValueError(f"member id {member.id} is already registered")
        record = None if self._journal is None else \
            AddMember(member.id, member.name, member.regime.value, dict(credit_limits or {}))
        self.ledger.open_accounts([(member.id, code) for code in sorted(assets)])
        self._member_index[member.id] = self._engine.add_member(
            member.id, member.prefunded, dict(member.credit_limits))
        self._members.add(member)
        if record is not None:
            self._journal_append(record)
        return member

    @property
    def members(self) -> MemberRegistry:
        return self._members

    @property
    def ledger(self) -> Any:
        """The clearing ledger holding settled balances (``venue.risk.BalanceSource``)."""
        return self._ledger

    def _settled(self, notice: Any) -> None:
        """The ledger settled a date: its commitments are balances now."""
        roll = None if notice.roll_to is None else day_number(notice.roll_to)
        self._engine.settled(day_number(notice.date), roll, dict(notice.carried))

    def deposit(self, member: int, asset: str, amount: int) -> None:
        """Credit ``amount`` minor units of ``asset`` to ``member`` (a top-up). KeyError for an
        unknown member or asset, ValueError/TypeError for a bad amount; nothing changes then."""
        found = self._members.get(member)
        record = None if self._journal is None else Deposit(found.id, asset, amount)
        self.ledger.deposit(found.id, asset, amount)
        if record is not None:
            self._journal_append(record)

    def withdraw(self, member: int, asset: str, amount: int) -> None:
        """Pay ``amount`` minor units of ``asset`` out to ``member``: refused
        (OrderRejected(INSUFFICIENT_FUNDS), counted, nothing changed) if it would take
        :meth:`funds`' ``available`` below zero: holds and known future debits stay covered."""
        found = self._members.get(member)
        value = checked_int(amount, "amount", 1, ValueError)
        available = self.funds(found.id, asset).available
        if value > available:
            error = OrderRejected(RejectReason.INSUFFICIENT_FUNDS,
                                  f"withdraw: member {found.id} asks {value} {asset} minor "
                                  f"units, available {available}")
            self._reporter.rejections[error.reason] += 1
            if self._journal is not None:
                self._journal.refused(self.now(), "withdraw", error.reason.code)
            raise error
        record = None if self._journal is None else Withdraw(found.id, asset, value)
        self.ledger.withdraw(found.id, asset, value)
        if record is not None:
            self._journal_append(record)

    def funds(self, member: int, asset: str) -> Funds:
        """``member``'s :class:`~exchange.venue.risk.Funds` in ``asset`` (minor units):
        balance, reserved, committed, available. KeyError for an unknown member or asset."""
        index = self._member_index[self._members.get(member).id]
        return Funds(*self._engine.funds(index, self._asset(asset)))

    def credit_exposure(self, member_id: int, currency: str) -> int:
        """A credit-limited member's net owed plus open-order worst case, minor units."""
        index = self._member_index[self._members.get(member_id).id]
        return int(self._engine.credit_exposure(index, self._asset(currency)))

    def _asset(self, asset: str) -> int:
        assets = self._markets.assets
        if asset not in assets:
            raise KeyError(f"unknown asset {asset!r}")
        return assets.index(asset)

    def settle(self, date: Any, *, run_id: str | None = None, on_fail: str = "roll",
               roll_to: Any = None) -> Any:
        """Settle everything due on ``date`` in the ledger: clearing's ``settle`` over every
        trade record so far (each trade settles once, whatever the run id; a run id already
        in the ledger returns its stored result and moves nothing). Failures roll to
        ``roll_to``, by default the next business day of every currency of the instrument set
        (``on_fail="cancel"`` cancels them). The ledger tells the venue what settled. Returns
        clearing's ``SettlementResult``; raises what it raises (ValueError and its kinds),
        with nothing changed. O(trades)."""
        settle = default_settle
        if settle is None:
            raise TypeError("settle: no settlement function (import exchange first)")
        day = as_date(date, "date")
        if roll_to is not None:
            roll_to = as_date(roll_to, "roll_to")
        elif on_fail == "roll":
            currencies = [a for a in self.instruments.assets.values() if a.is_currency]
            roll_to = self.calendar.next_business_day(day, currencies)
        result = settle(self.ledger, day, self.trades(), run_id=run_id, on_fail=on_fail,
                        roll_to=roll_to)
        if self._journal is not None:
            self._journal_append(SettlementRun(day, result.run_id, {
                "on_fail": on_fail, "roll_to": _iso(roll_to)}))
            self._journal.sync()  # a settlement run is durable in the ledger: so is its record
        return result

    def _journal_append(self, record: Any) -> None:
        assert self._journal is not None
        self._journal.append(record, self.now())


def _iso(day: _dt.date | None) -> str | None:
    return None if day is None else day.isoformat()
