"""Pre-trade risk: a hold before matching (R1), its release after (R2), dated commitments between.

Who is checked. An order is checked when its member is PREFUNDED, when the member has credit
limits, or when the instrument is pre-funded for everyone (``Instrument.prefunded``, on by default
for securities: they settle T+0 at the depository, deal by deal). Everyone else settles after the
fact through clearing and costs the hot path nothing here.

Accounts. A :class:`FundsAccount` (pre-funded trading) keeps, per asset, the amount ``reserved``
for open orders and the unsettled fills as dated ``debits`` and ``receipts``; the settled balance
it reads through :class:`BalanceSource` (the clearing ledger implements it). Money arriving on a
date only funds debits of LATER dates (a same-date receipt could come from a deal that settles
after the debit), so what a member can still commit or withdraw in an asset is::

    available = balance + min(0, min over pending dates d of (receipts before d - debits up to d))
                - reserved

Settlement of date d (the ledger tells :meth:`PreTradeRisk.settled`) moves d's receipts and
debits into the balance; the min over the later dates is unchanged by it. Hence a pre-funded
member whose ``available`` never goes below zero can never fail a settlement: every date's debits
are covered by the balance plus earlier receipts. A :class:`CreditAccount` (a deferred member with
limits) instead caps, per currency, what it owes on the day's trades plus its open orders' worst
case.

Holds. A hold is the worst case an order can still add to its member's debits, per lot::

    quote(L) = L * (a + fee),   base(L) = L * b

* spot or security buy at limit p: ``a = p * f`` (value of a lot), fee bound per lot
  ``max(m, ceil(a * r + 1/2))`` (m the minimum fee, r the higher of taker and maker rate: a fee is
  per trade, so k one-lot fills may each pay the minimum); ``b = 0``.
* spot or security sell at limit p: ``b`` = base units per lot; ``a = max(0, m - p * f)`` (the
  seller's fee comes out of the proceeds and exceeds them only below the minimum fee).
* swap buy (buys base near at the reference rate, sells it back far at reference + points):
  ``a`` = near value of a lot, fee bound on it; ``b = 0`` (the far delivery is the near receipt).
* swap sell (sells base near, buys it back far): ``b`` = base per lot; ``a = P * f`` with P the
  worst points it can fill at (its limit, or the best bid it can take at entry, whichever is
  higher), fee bound on the near value: the far payment less the near proceeds is ``points +
  fee``, which is what the member must have, and keeps, until the far leg settles.

A fill books its legs (both legs of a swap, fees included) as dated debits and receipts and trims
the hold to the worst case of the lots still open; cancel, expiry, an IOC/FOK/market remainder, an
STP cancel and a book refusal release the rest, so no hold outlives its order. Every amount is an
int64 of minor units (a product that would leave int64 is an amount no account can cover, and
is refused).

Where it runs: the state and the arithmetic are compiled (``venue/_engine.pyx``: per member and
asset the reserved amount, the mirrored settled balance and up to 16 pending dates; per order its
hold), so that single calls and ``Exchange.process`` batches share them. This module holds the
rules above and the two small types the rest of the library sees. The rules are tested through
the exchange: a test per refusal reason, and a hypothesis test of whole days of pre-funded and
deferred trading (tests/test_exchange_prefunded_days.py).
"""
from __future__ import annotations

from typing import NamedTuple, Protocol

__all__ = ["BalanceSource", "Funds"]


class BalanceSource(Protocol):
    """Where settled balances come from (the clearing ledger): integer minor units, and a
    ``version`` that changes whenever a balance does (a reader re-reads its mirror then)."""

    version: int

    def balance(self, member: int, asset: str) -> int: ...


class Funds(NamedTuple):
    """A member's money in one asset, minor units: settled ``balance``, ``reserved`` for open
    orders, ``committed`` (unsettled debits of fills, every date) and ``available`` (what it can
    still commit or withdraw; see the module docstring)."""

    balance: int
    reserved: int
    committed: int
    available: int
