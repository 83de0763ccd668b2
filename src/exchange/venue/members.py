"""Members and pre-trade checks: who may trade, and how much an order may commit them to.

A :class:`Member` trades under one of two regimes:

* ``DEFERRED`` (the default): settles after the fact through clearing. Optionally a credit limit
  per currency (minor units): the net amount the member may owe in that currency across the
  day's trades (payments minus receipts) plus the worst case of its open orders. Members
  without limits are not tracked at all (the hot path does no work for them).
* ``PREFUNDED``: an order is accepted only if the member's available ledger balance
  (``Ledger.available``) covers its worst case, which is reserved while the order rests.

Worst case of a limit order of ``L`` lots (``unit`` = value of one lot at the limit price, in
quote minor units; for a swap: at the reference rate, since the near leg settles there):

* buy: quote ``L * unit + fee_bound(L)``; ``fee_bound(L) = floor(L * max(m, unit * r + 1/2))``
  with ``r`` the higher of the taker and maker rates and ``m`` the minimum fee. Every fill of
  ``k`` lots pays at most ``k * max(m, unit * r + 1/2)`` (a fee is per trade, so ``k`` one-lot
  fills may each pay the minimum), hence the bound holds for any split into fills and
  ``required(L) - required(L - k)`` covers each fill.
* sell: base ``L * base per lot``; plus quote ``L * max(0, m - unit)``: the seller's fee is paid
  out of the proceeds and exceeds them only when a lot is worth less than the minimum fee.
* market order: the same, for the lots the opposite side can fill (walked from the book, own
  orders excluded under self-trade prevention) at the worst price reached.

Fills consume a hold: the actual debit (buyer: quote amount + fee; seller: base amount, and
quote if its fee exceeds the proceeds) is committed (``Ledger.commit``, with the settle date)
and what the hold kept for those lots beyond it is released (``Ledger.release``). Cancel,
expiry, an IOC/FOK/market remainder and an STP cancel release the rest.

Swaps (documented choice): holds and a credit-limited member's owed amounts cover the NEAR leg
only (buyer: the near quote amount + fee; seller: the base), in both regimes. The far leg
reverses the near one (its net is the swap points and the fees); it is left to clearing, which
sees it in the trade record. Counting it here would need a bound on the points a sell may fill
at, which the book does not give.

Invariants (tests check them on random order streams): a pre-funded member's
``committed + reserved <= balance`` in every asset at all times; a credit-limited member's
exposure never exceeds its limit, because a fill moves at most what the hold kept for its lots
from open exposure to owed.
"""
from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from exchange.venue.events import OrderRejected, RejectReason

if TYPE_CHECKING:  # the capture module's Terms, passed in by the exchange
    from exchange.venue.capture import Terms

__all__ = [
    "Regime",
    "Member",
    "MemberRegistry",
    "LedgerAccount",
    "CreditAccount",
    "Hold",
    "PreTradeRisk",
    "walk",
]


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
        if isinstance(self.id, bool) or not isinstance(self.id, int):
            raise TypeError(f"member id: expected an int, got {type(self.id).__name__} "
                            f"{self.id!r}")
        if not 0 <= self.id < 2**63:
            raise ValueError(f"member id: {self.id} is not in 0..2**63-1 (negative ids are "
                             f"reserved for the clearing house and the fee account)")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"member {self.id}: name {self.name!r} is empty")
        if not isinstance(self.regime, Regime):
            raise TypeError(f"member {self.id}: regime {self.regime!r} is not a Regime")
        limits = {}
        for code, amount in dict(self.credit_limits).items():
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                raise ValueError(f"member {self.id}: credit limit {code}={amount!r} is not a "
                                 f"non-negative int of minor units")
            limits[code] = amount
        if limits and self.regime is not Regime.DEFERRED:
            raise ValueError(f"member {self.id}: credit limits apply to DEFERRED members, not "
                             f"{self.regime.value}")
        object.__setattr__(self, "credit_limits", MappingProxyType(limits))

    @property
    def tracked(self) -> bool:
        """True if the member's orders need holds (pre-funded, or with a credit limit)."""
        return self.regime is Regime.PREFUNDED or bool(self.credit_limits)


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

    def get(self, member_id: int) -> Member:
        try:
            return self._members[member_id]
        except (KeyError, TypeError):
            raise KeyError(f"unknown member {member_id!r}") from None

    def __contains__(self, member_id: object) -> bool:
        try:
            return member_id in self._members
        except TypeError:
            return False

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members.values())

    def __len__(self) -> int:
        return len(self._members)


# --------------------------------------------------------------------------- accounts


def _insufficient_funds() -> type:
    """The ledger's InsufficientFunds (imported on first use: clearing is a later layer that
    the exchange only calls through the ledger object it was given)."""
    from exchange.clearing.ledger import InsufficientFunds

    return InsufficientFunds


class LedgerAccount:
    """A pre-funded member's view of the ledger: holds are ledger reservations."""

    prefunded = True

    def __init__(self, member: int, ledger: Any) -> None:
        self.member, self.ledger = member, ledger

    def reserve(self, asset: str, amount: int) -> None:
        try:
            self.ledger.reserve(self.member, asset, amount)
        except _insufficient_funds() as exc:
            raise OrderRejected(RejectReason.INSUFFICIENT_FUNDS,
                                f"member {self.member} needs {exc.needed} {asset} minor units "
                                f"for the worst case of this order, available "
                                f"{exc.available}") from None

    def release(self, asset: str, amount: int) -> None:
        self.ledger.release(self.member, asset, amount)

    def commit(self, asset: str, amount: int, settle_date: Any) -> None:
        self.ledger.commit(self.member, asset, amount, settle_date)

    def credit(self, asset: str, amount: int) -> None:
        """A receipt: not available before settlement, so nothing to do."""


class CreditAccount:
    """A credit-limited deferred member: open-order exposure and net owed per currency."""

    prefunded = False

    def __init__(self, member: int, limits: Mapping[str, int]) -> None:
        self.member, self.limits = member, limits
        self.open: dict[str, int] = {}
        self.owed: dict[str, int] = {}

    def exposure(self, asset: str) -> int:
        """Net owed by the day's trades plus open orders' worst case, minor units."""
        return self.owed.get(asset, 0) + self.open.get(asset, 0)

    def reserve(self, asset: str, amount: int) -> None:
        limit = self.limits.get(asset)
        if limit is not None and self.exposure(asset) + amount > limit:
            raise OrderRejected(RejectReason.CREDIT_LIMIT,
                                f"member {self.member} would owe up to "
                                f"{self.exposure(asset) + amount} {asset} minor units, credit "
                                f"limit {limit}")
        self.open[asset] = self.open.get(asset, 0) + amount

    def release(self, asset: str, amount: int) -> None:
        self.open[asset] -= amount

    def commit(self, asset: str, amount: int, settle_date: Any) -> None:
        self.open[asset] -= amount
        self.owed[asset] = self.owed.get(asset, 0) + amount

    def credit(self, asset: str, amount: int) -> None:
        self.owed[asset] = self.owed.get(asset, 0) - amount

    def new_day(self) -> None:
        """Forget the previous day's trades (the limit is on the day's unsettled trades)."""
        self.owed.clear()


# --------------------------------------------------------------------------- holds


def walk(levels: Any, lots: int) -> tuple[int, int, int]:
    """Walk ``levels`` (rows of (price, qty), best first) for ``lots``.

    Returns (lots that can fill, sum of price x lots taken, the last price reached). O(levels
    taken).
    """
    taken = cost = last = 0
    for price, qty in levels:
        take = min(int(qty), lots - taken)
        taken += take
        cost += int(price) * take
        last = int(price)
        if taken == lots:
            break
    return taken, cost, last


class Hold:
    """The worst case an order may still commit its member to: ``quote`` and ``base`` minor
    units currently held (reserved, or counted as open exposure).

    ``unit`` is the value of one lot at the order's worst price (quote minor units). A market
    hold (``market=True``) is fixed when made, consumed by fills and released when it ends.
    """

    __slots__ = ("account", "terms", "side", "lots", "unit", "quote", "base", "market",
                 "_fee_num", "_fee_den")

    def __init__(self, account: Any, terms: "Terms", side: int, lots: int, unit: int,
                 market: bool = False) -> None:
        self.account, self.terms, self.side = account, terms, side
        self.lots, self.market = lots, market
        self.quote = self.base = 0
        self.set_unit(unit)

    def set_unit(self, unit: int) -> None:
        """Use ``unit`` from now on; precomputes the fee bound per lot (2d * max(m, u*r+1/2))."""
        self.unit = unit
        n, d = self.terms.fees.worst_rate
        self._fee_num = max(2 * d * self.terms.fees.minimum, 2 * unit * n + d)
        self._fee_den = 2 * d

    def required(self, lots: int) -> tuple[int, int]:
        """(quote, base) worst case of ``lots`` lots at this hold's unit. O(1)."""
        if self.side == 0:
            return lots * self.unit + (lots * self._fee_num) // self._fee_den, 0
        short = self.terms.fees.minimum - self.unit
        return (lots * short if short > 0 else 0), lots * self.terms.bpl


class PreTradeRisk:
    """Holds of tracked members' orders, by order id; accounts by member id."""

    def __init__(self) -> None:
        self.accounts: dict[int, Any] = {}
        self.holds: dict[int, Hold] = {}

    def add_account(self, member_id: int, account: Any) -> None:
        self.accounts[member_id] = account

    def new_day(self) -> None:
        for account in self.accounts.values():
            if isinstance(account, CreditAccount):
                account.new_day()

    # -- placing --------------------------------------------------------------------------

    @staticmethod
    def _take(account: Any, terms: "Terms", quote: int, base: int) -> None:
        """Reserve both amounts or neither (OrderRejected leaves nothing reserved)."""
        if quote > 0:
            account.reserve(terms.quote_code, quote)
        if base > 0:
            try:
                account.reserve(terms.base_code, base)
            except OrderRejected:
                if quote > 0:
                    account.release(terms.quote_code, quote)
                raise

    def hold_limit(self, order_id: int, member_id: int, terms: "Terms", side: int,
                   price_ticks: int, lots: int) -> None:
        """Reserve the worst case of a limit order; OrderRejected (INSUFFICIENT_FUNDS or
        CREDIT_LIMIT) with nothing reserved if it does not fit. O(1)."""
        account = self.accounts[member_id]
        hold = Hold(account, terms, side, lots, terms.near_value(price_ticks, 1))
        quote, base = hold.required(lots)
        self._take(account, terms, quote, base)
        hold.quote, hold.base = quote, base
        self.holds[order_id] = hold

    def hold_market(self, order_id: int, member_id: int, terms: "Terms", side: int, lots: int,
                    levels: Any) -> None:
        """Reserve the worst case of a market order against the opposite ``levels`` ((price,
        qty) rows, best first). O(levels walked)."""
        account = self.accounts[member_id]
        taken, cost, last = walk(levels, lots)
        if taken == 0:
            return
        hold = Hold(account, terms, side, taken, terms.near_value(last, 1), market=True)
        quote, base = hold.required(taken)
        if side == 0 and not terms.swap:  # the walk's exact cost, not taken x the worst price
            quote += cost * terms.f - taken * hold.unit
        self._take(account, terms, quote, base)
        hold.quote, hold.base = quote, base
        self.holds[order_id] = hold

    def rehold(self, order_id: int, lots: int, price_ticks: int) -> None:
        """Before a modify to ``lots`` at ``price_ticks``: reserve what the new worst case
        needs beyond the current hold (OrderRejected and nothing changed if it does not fit).
        The excess is released by :meth:`finish` once the book has applied the modify."""
        hold = self.holds.get(order_id)
        if hold is None:
            return
        old_unit = hold.unit
        hold.set_unit(hold.terms.near_value(price_ticks, 1))
        quote, base = hold.required(lots)
        extra_q, extra_b = max(0, quote - hold.quote), max(0, base - hold.base)
        try:
            self._take(hold.account, hold.terms, extra_q, extra_b)
        except OrderRejected:
            hold.set_unit(old_unit)
            raise
        hold.quote += extra_q
        hold.base += extra_b
        hold.lots = lots

    # -- fills and ends -------------------------------------------------------------------

    def on_fill(self, terms: "Terms", taker_id: int, taker_side: int, maker_id: int,
                price: int, qty: int) -> None:
        """Apply one fill to the holds of its orders (either may be untracked). O(1)."""
        hold = self.holds.get(taker_id)
        if hold is not None:
            self._fill(hold, terms, taker_side, True, price, qty)
        hold = self.holds.get(maker_id)
        if hold is not None:
            self._fill(hold, terms, 1 - taker_side, False, price, qty)

    @staticmethod
    def _fill(hold: Hold, terms: "Terms", side: int, taker: bool, price: int, qty: int) -> None:
        account = hold.account
        value = terms.near_value(price, qty)
        fee = terms.fees.fee(value, taker)
        amount = qty * terms.bpl
        if side == 0:
            debit_q, debit_b = value + fee, 0
        else:
            debit_q, debit_b = (fee - value if fee > value else 0), amount
        if debit_q:
            account.commit(terms.quote_code, debit_q, terms.settle_day)
        if debit_b:
            account.commit(terms.base_code, debit_b, terms.settle_day)
        if hold.market:
            hold.quote -= debit_q
            hold.base -= debit_b
        else:
            hold.lots -= qty
            after_q, after_b = hold.required(hold.lots)
            spare_q = hold.quote - after_q - debit_q
            spare_b = hold.base - after_b - debit_b
            if spare_q > 0:
                account.release(terms.quote_code, spare_q)
            if spare_b > 0:
                account.release(terms.base_code, spare_b)
            hold.quote, hold.base = after_q, after_b
        if not account.prefunded:
            # receipts lower a credit account's net owed (pre-funded: not before settlement)
            if side == 0:
                account.credit(terms.base_code, amount)
            elif value > fee:
                account.credit(terms.quote_code, value - fee)

    def finish(self, order_id: int, leaves: int) -> None:
        """The order now rests with ``leaves`` lots (0: it is gone): trim the hold to the
        worst case of ``leaves``, releasing the rest. No-op for an untracked order. O(1)."""
        hold = self.holds.get(order_id)
        if hold is None:
            return
        if leaves == 0:
            del self.holds[order_id]
            after_q = after_b = 0
        else:
            hold.lots = leaves
            after_q, after_b = hold.required(leaves)
        terms, account = hold.terms, hold.account
        if hold.quote > after_q:
            account.release(terms.quote_code, hold.quote - after_q)
        if hold.base > after_b:
            account.release(terms.base_code, hold.base - after_b)
        hold.quote, hold.base = min(hold.quote, after_q), min(hold.base, after_b)
