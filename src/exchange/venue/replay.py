"""Replaying a journal: each record's call made again on an ``Exchange``, at the record's time.

Every record is a call that succeeded (or a refusal that was counted) when it was journaled
(docs/journal.md), and the exchange is deterministic: the same calls on the same state give the
same results. :func:`apply` makes one record's call (Setup checks the configuration; Refused
counts the refusal again); :func:`replay` applies a run of records inside
``Exchange._replaying`` (nothing journaled again, the clock set from each record). A record
whose call raises now did not raise then, so the replay has diverged: :class:`ReplayError`
names the record. O(records) plus what the calls cost.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from exchange.journal import (
    AddMember,
    BeginDay,
    Cancel,
    CloseSession,
    Command,
    Deposit,
    EndOfDay,
    Entry,
    JournalError,
    MarketOrder,
    Modify,
    OpenSession,
    PackedProcess,
    Process,
    Refused,
    SettlementRun,
    Setup,
    Submit,
    Withdraw,
)
from exchange.venue.codes import RejectReason
from exchange.venue.config import check_same, describe
from exchange.venue.members import Regime

__all__ = ["ReplayError", "apply", "replay"]


class ReplayError(JournalError):
    """A journaled call failed when made again: the journal does not fit the state it is
    replayed on (another configuration, a missing record) or the exchange is not
    deterministic. Raised from the call's own exception."""


def _setup(exchange: Any, command: Setup) -> None:
    check_same(command.settings.get("exchange", {}), describe(exchange), "the journal")
    exchange._user_setup = dict(command.settings.get("user", {}))


def _refused(exchange: Any, command: Refused) -> None:
    exchange._reporter.rejections[RejectReason(command.code)] += 1


def _symbol(exchange: Any, instrument: int) -> str:
    symbol: str = exchange._markets.by_index[instrument].symbol
    return symbol


def _settle(exchange: Any, command: SettlementRun) -> Any:
    return exchange.settle(command.date, run_id=command.run_id, **dict(command.arguments))


_CALLS: dict[type, Callable[[Any, Any], Any]] = {
    Setup: _setup,
    BeginDay: lambda ex, c: ex.begin_day(c.date),
    OpenSession: lambda ex, c: ex.open_session(c.name),
    CloseSession: lambda ex, c: ex.close_session(c.name),
    EndOfDay: lambda ex, c: ex.end_of_day(),
    AddMember: lambda ex, c: ex.add_member(c.member, c.name, Regime(c.regime),
                                           dict(c.credit_limits)),
    Deposit: lambda ex, c: ex.deposit(c.member, c.asset, c.amount),
    Withdraw: lambda ex, c: ex.withdraw(c.member, c.asset, c.amount),
    Submit: lambda ex, c: ex.submit(c.member, _symbol(ex, c.instrument), c.side, tif=c.tif,
                                    price_ticks=c.price_ticks, lots=c.lots,
                                    client_order_id=c.client_order_id),
    MarketOrder: lambda ex, c: ex.market(c.member, _symbol(ex, c.instrument), c.side,
                                         lots=c.lots, client_order_id=c.client_order_id),
    Cancel: lambda ex, c: ex.cancel(c.member, c.order_id),
    Modify: lambda ex, c: ex.modify(c.member, c.order_id, lots=c.lots,
                                    price_ticks=c.price_ticks or None),
    Process: lambda ex, c: ex.process(c.orders),
    PackedProcess: lambda ex, c: ex.process(c.orders),
    SettlementRun: _settle,
    Refused: _refused,
}


def apply(exchange: Any, command: Command) -> Any:
    """Make ``command``'s call on ``exchange`` and return what it returns."""
    return _CALLS[type(command)](exchange, command)


def replay(exchange: Any, entries: Iterable[Entry],
           observe: Callable[[Entry, Any], None] | None = None,
           before: Callable[[Entry], None] | None = None) -> int:
    """Apply ``entries`` in order (module docstring); ``before(entry)`` ahead of each call and
    ``observe(entry, result)`` after it. Returns how many were applied. ReplayError naming the
    first record that fails."""
    count = 0
    with exchange._replaying():
        for entry in entries:
            if before is not None:
                before(entry)
            exchange.set_time(entry.time)
            try:
                result = apply(exchange, entry.command)
            except Exception as exc:
                raise ReplayError(f"journal record {entry.seq} "
                                  f"({type(entry.command).__name__}) failed on replay: "
                                  f"{type(exc).__name__}: {exc}") from exc
            count += 1
            if observe is not None:
                observe(entry, result)
    return count
