"""Pre-trade risk in plain Python: the reference model of the compiled engine's risk
(src/exchange/venue/_engine.pyx; rules in src/exchange/venue/risk.py). Hypothesis compares them."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from exchange.venue.codes import OrderRejected, RejectReason
from exchange.venue.fills import MAKER_ID, MAKER_LEAVES, PRICE, QTY, TAKER_ID, TAKER_SIDE

__all__ = [
    "BalanceSource",
    "CreditAccount",
    "Funds",
    "FundsAccount",
    "Hold",
    "PreTradeRisk",
    "RiskTerms",
    "walk",
]


class BalanceSource(Protocol):
    """Where settled balances come from (the clearing ledger): integer minor units."""

    def balance(self, member: int, asset: str) -> int: ...


class Funds(NamedTuple):
    """A member's money in one asset, minor units: settled ``balance``, ``reserved`` for open
    orders, ``committed`` (unsettled debits of fills, every date) and ``available`` (what it can
    still commit or withdraw; see the module docstring)."""

    balance: int
    reserved: int
    committed: int
    available: int


class RiskTerms(NamedTuple):
    """What risk needs of one instrument on one trading date: the capture ``terms`` (amounts and
    fees), the settle dates as day numbers, whether everyone pre-funds it, and the constants of
    its holds (:meth:`of`)."""

    terms: Any
    near_day: int
    far_day: int  # -1: no far leg
    prefunded: bool
    quote: str  # asset codes
    base: str
    f: int  # quote minor units per tick per lot
    bpl: int  # base minor units per lot
    swap: bool
    near_lot: int  # a swap's near value of one lot (price independent); 0 otherwise
    fee_min: int
    rate_num: int  # the higher of the taker and maker rates, num/den of the trade value
    rate_den: int

    @classmethod
    def of(cls, terms: Any, near_day: int, far_day: int, prefunded: bool) -> RiskTerms:
        n, d = terms.fees.worst_rate
        near_lot = terms.amounts(1, 1)[1] if terms.swap else 0
        return cls(terms, near_day, far_day, prefunded, terms.quote_code, terms.base_code,
                   terms.f, terms.bpl, terms.swap, near_lot, terms.fees.minimum, n, d)


# --------------------------------------------------------------------------- accounts


class FundsAccount:
    """A member's pre-funded trading: reservations and dated commitments over settled balances."""

    __slots__ = ("member", "source", "reserved", "dated", "offset")
    prefunded = True

    def __init__(self, member: int, source: BalanceSource) -> None:
        self.member, self.source = member, source
        self.reserved: dict[str, int] = {}
        self.dated: dict[str, dict[int, list[int]]] = {}  # asset -> day -> [receipts, debits]
        self.offset: dict[str, int] = {}  # asset -> min(0, min_d receipts(<d) - debits(<=d))

    def available(self, asset: str) -> int:
        return (self.source.balance(self.member, asset) + self.offset.get(asset, 0)
                - self.reserved.get(asset, 0))

    def reserve(self, asset: str, amount: int) -> None:
        """Hold ``amount`` more; OrderRejected(INSUFFICIENT_FUNDS) and nothing held if short."""
        available = self.available(asset)
        if amount > available:
            raise OrderRejected(RejectReason.INSUFFICIENT_FUNDS,
                                f"member {self.member} needs {amount} {asset} minor units for "
                                f"the worst case of this order, available {available}")
        self.reserved[asset] = self.reserved.get(asset, 0) + amount

    def release(self, asset: str, amount: int) -> None:
        self.reserved[asset] -= amount

    def book(self, legs: Iterable[tuple], who: int) -> None:
        """A fill's movements: ``legs`` rows (asset, day, buyer's amount, seller's amount),
        ``who`` 0 for the buyer, 1 for the seller; amount > 0 a receipt, < 0 a debit.
        O(legs x dates)."""
        dated = self.dated
        for leg in legs:
            amount = leg[2 + who]
            if amount:
                asset = leg[0]
                by_day = dated.get(asset)
                if by_day is None:
                    by_day = dated[asset] = {}
                cell = by_day.get(leg[1])
                if cell is None:
                    cell = by_day[leg[1]] = [0, 0]
                if amount > 0:
                    cell[0] += amount
                else:
                    cell[1] -= amount
                self._refresh(asset, by_day)

    def _refresh(self, asset: str, by_day: dict[int, list[int]]) -> None:
        """Recompute ``offset[asset]``: the lowest of receipts before each date less debits up
        to it, and 0. O(dates)."""
        if len(by_day) == 1:
            for _, debits in by_day.values():
                self.offset[asset] = -debits
            return
        low = received = paid = 0
        for day in sorted(by_day):
            receipts, debits = by_day[day]
            paid += debits
            if received - paid < low:
                low = received - paid
            received += receipts
        self.offset[asset] = low

    def committed(self, asset: str) -> int:
        return sum(debits for _, debits in self.dated.get(asset, {}).values())

    def settled(self, day: int) -> None:
        """Date ``day`` settled: its movements are in the balance now."""
        for asset, by_day in self.dated.items():
            if by_day.pop(day, None) is not None:
                self._refresh(asset, by_day)

    def funds(self, asset: str) -> Funds:
        return Funds(self.source.balance(self.member, asset), self.reserved.get(asset, 0),
                     self.committed(asset), self.available(asset))


class CreditAccount:
    """A credit-limited deferred member: open-order worst case plus net owed per currency, capped
    by its limits (minor units). Owed amounts are the day's trades'; a new day starts at zero."""

    __slots__ = ("member", "limits", "open", "owed")
    prefunded = False

    def __init__(self, member: int, limits: Mapping[str, int]) -> None:
        self.member, self.limits = member, limits
        self.open: dict[str, int] = {}
        self.owed: dict[str, int] = {}

    def exposure(self, asset: str) -> int:
        return self.owed.get(asset, 0) + self.open.get(asset, 0)

    def reserve(self, asset: str, amount: int) -> None:
        """Count ``amount`` more; OrderRejected(CREDIT_LIMIT) and nothing counted if over."""
        limit = self.limits.get(asset)
        if limit is not None and self.exposure(asset) + amount > limit:
            raise OrderRejected(RejectReason.CREDIT_LIMIT,
                                f"member {self.member} would owe up to "
                                f"{self.exposure(asset) + amount} {asset} minor units, credit "
                                f"limit {limit}")
        self.open[asset] = self.open.get(asset, 0) + amount

    def release(self, asset: str, amount: int) -> None:
        self.open[asset] -= amount

    def book(self, legs: Iterable[tuple], who: int) -> None:
        """A fill's movements (as :meth:`FundsAccount.book`): debits add to what it owes,
        receipts take from it. O(legs)."""
        owed = self.owed
        for leg in legs:
            asset = leg[0]
            owed[asset] = owed.get(asset, 0) - leg[2 + who]

    def settled(self, day: int) -> None:
        """Nothing to do: owed amounts are the day's, reset by :meth:`new_day`."""

    def new_day(self) -> None:
        self.owed.clear()


# --------------------------------------------------------------------------- holds


class Hold:
    """What an open order keeps reserved: ``held_quote``/``held_base`` minor units, equal to the
    worst case of ``lots`` lots (module docstring: ``a``, ``fee_num/fee_den``, ``b``)."""

    __slots__ = ("account", "rt", "quote", "base", "a", "fee_num", "fee_den", "b", "lots",
                 "held_quote", "held_base")

    def __init__(self, account: Any, rt: RiskTerms, side: int, lots: int, worst: int) -> None:
        self.account, self.rt = account, rt
        self.quote, self.base = rt.quote, rt.base
        self.lots = lots
        self.held_quote = self.held_base = 0
        self.price(side, worst)

    def price(self, side: int, worst: int) -> None:
        """Set the per-lot worst case for ``side`` at ``worst`` ticks (module docstring)."""
        rt = self.rt
        value = rt.near_lot or worst * rt.f  # a swap's near value does not depend on the price
        if side == 0 or rt.swap:
            d = rt.rate_den
            self.fee_num, self.fee_den = max(2 * d * rt.fee_min, 2 * value * rt.rate_num + d), 2 * d
        else:
            self.fee_num, self.fee_den = 0, 1
        if side == 0:
            self.a, self.b = value, 0
        elif rt.swap:
            self.a, self.b = worst * rt.f, rt.bpl
        else:
            self.a, self.b = max(0, rt.fee_min - value), rt.bpl

    def required(self, lots: int) -> tuple[int, int]:
        """(quote, base) worst case of ``lots`` lots. O(1)."""
        return lots * self.a + (lots * self.fee_num) // self.fee_den, lots * self.b


def walk(levels: Iterable[tuple[int, int]], lots: int) -> tuple[int, int, int, int]:
    """Walk ``levels`` ((price, qty) rows, best first) for ``lots``: (lots that can fill, sum of
    price x lots taken, the first price, the last price reached). O(levels taken)."""
    taken = cost = first = last = 0
    for price, qty in levels:
        take = min(int(qty), lots - taken)
        if taken == 0:
            first = int(price)
        taken += take
        cost += int(price) * take
        last = int(price)
        if taken == lots:
            break
    return taken, cost, first, last


# --------------------------------------------------------------------------- the stage


class PreTradeRisk:
    """Accounts by member, holds by order id; see the module docstring."""

    def __init__(self, source: BalanceSource) -> None:
        self.source = source
        self.funds_accounts: dict[int, FundsAccount] = {}
        self.credit_accounts: dict[int, CreditAccount] = {}
        self.prefunded_members: set[int] = set()
        self.holds: dict[int, Hold] = {}

    # -- queries ------------------------------------------------------------------------------

    def account_for(self, member: int, rt: RiskTerms) -> Any:
        """The account an order of ``member`` in ``rt``'s instrument is checked against, or
        None when the order needs no check (a deferred member without limits). O(1)."""
        if member in self.prefunded_members or rt.prefunded:
            return self._funds(member)
        return self.credit_accounts.get(member)

    def funds(self, member: int, asset: str) -> Funds:
        """The member's :class:`Funds` in ``asset`` (a member that never pre-funded anything:
        balance, and that balance available). KeyError from the source for an unknown account."""
        account = self.funds_accounts.get(member)
        if account is None:
            balance = self.source.balance(member, asset)
            return Funds(balance, 0, 0, balance)
        return account.funds(asset)

    def credit_exposure(self, member: int, asset: str) -> int:
        account = self.credit_accounts.get(member)
        if account is None:
            raise KeyError(f"member {member!r} has no credit limit")
        return account.exposure(asset)

    # -- members and days ---------------------------------------------------------------------

    def add_member(self, member: int, prefunded: bool, credit_limits: Mapping[str, int]) -> None:
        if prefunded:
            self.prefunded_members.add(member)
            self._funds(member)
        elif credit_limits:
            self.credit_accounts[member] = CreditAccount(member, credit_limits)

    def _funds(self, member: int) -> FundsAccount:
        account = self.funds_accounts.get(member)
        if account is None:
            account = self.funds_accounts[member] = FundsAccount(member, self.source)
        return account

    def new_day(self) -> None:
        for account in self.credit_accounts.values():
            account.new_day()

    def settled(self, day: int, roll_day: int | None, carried: Mapping[tuple[int, str], int]
                ) -> None:
        """Settlement of ``day`` is in the balances: forget its commitments; what failed and was
        carried to ``roll_day`` ({(member, asset): signed amount}) is committed there. O(accounts
        x dates + carried)."""
        for account in self.funds_accounts.values():
            account.settled(day)
        if roll_day is None:
            return
        for (member, asset), amount in carried.items():
            funds = self.funds_accounts.get(member)
            if funds is not None and amount:
                funds.book([(asset, roll_day, amount, amount)], 0)

    # -- R1: holds before matching --------------------------------------------------------------

    def hold(self, order_id: int, account: Any, rt: RiskTerms, side: int, lots: int,
             worst: int) -> None:
        """Reserve the worst case of a limit order of ``lots`` at ``worst`` ticks (module
        docstring). OrderRejected (INSUFFICIENT_FUNDS / CREDIT_LIMIT) with nothing reserved if
        it does not fit. O(1) plus O(dates) for the balance check."""
        hold = Hold(account, rt, side, lots, worst)
        self._take(hold, *hold.required(lots))
        self.holds[order_id] = hold

    def hold_market(self, order_id: int, account: Any, rt: RiskTerms, side: int, lots: int,
                    levels: Iterable[tuple[int, int]]) -> None:
        """Reserve the worst case of a market order against the opposite ``levels`` it can
        reach ((price, qty), best first). O(levels walked)."""
        taken, cost, first, last = walk(levels, lots)
        if taken == 0:
            return
        worst = first if (side == 1 and rt.swap) else last
        hold = Hold(account, rt, side, taken, worst)
        quote, base = hold.required(taken)
        if side == 0 and not rt.swap:  # the walk's exact cost, not taken x the worst price
            quote += cost * rt.f - taken * hold.a
        self._take(hold, quote, base)
        self.holds[order_id] = hold

    def rehold(self, order_id: int, side: int, lots: int, worst: int) -> tuple | None:
        """Before a modify to ``lots`` at ``worst`` ticks: reserve what the new worst case needs
        beyond the current hold (OrderRejected and nothing changed if it does not fit). Returns
        what :meth:`restore` needs to undo it if the book then refuses the modify."""
        hold = self.holds.get(order_id)
        if hold is None:
            return None
        before = (hold.a, hold.fee_num, hold.fee_den, hold.b, hold.lots, hold.held_quote,
                  hold.held_base)
        hold.price(side, worst)
        quote, base = hold.required(lots)
        try:
            self._take(hold, max(0, quote - hold.held_quote), max(0, base - hold.held_base))
        except OrderRejected:
            self.restore(order_id, before)
            raise
        hold.lots = lots
        return before

    def restore(self, order_id: int, before: tuple | None) -> None:
        """Undo :meth:`rehold` (the modify did not happen)."""
        if before is None:
            return
        hold = self.holds[order_id]
        extra_q, extra_b = hold.held_quote - before[5], hold.held_base - before[6]
        self._give(hold, extra_q, extra_b)
        (hold.a, hold.fee_num, hold.fee_den, hold.b, hold.lots, hold.held_quote,
         hold.held_base) = before

    @staticmethod
    def _take(hold: Hold, quote: int, base: int) -> None:
        """Reserve both amounts more or neither (OrderRejected leaves nothing reserved)."""
        account = hold.account
        if quote > 0:
            account.reserve(hold.quote, quote)
        if base > 0:
            try:
                account.reserve(hold.base, base)
            except OrderRejected:
                if quote > 0:
                    account.release(hold.quote, quote)
                raise
        hold.held_quote += quote
        hold.held_base += base

    @staticmethod
    def _give(hold: Hold, quote: int, base: int) -> None:
        if quote > 0:
            hold.account.release(hold.quote, quote)
            hold.held_quote -= quote
        if base > 0:
            hold.account.release(hold.base, base)
            hold.held_base -= base

    # -- R2: fills and ends -----------------------------------------------------------------------

    def fill(self, rt: RiskTerms, taker_id: int, maker_id: int, taker_side: int, price: int,
             qty: int, maker_leaves: int) -> None:
        """Book one fill's legs for whichever of its orders is checked, and trim the maker's
        hold to its ``maker_leaves`` (the taker's is trimmed once by :meth:`finish`). O(dates)."""
        taker, maker = self.holds.get(taker_id), self.holds.get(maker_id)
        legs = _legs(rt, price, qty, taker_side)
        if taker is not None:  # the taker is the buyer (0) when it buys
            taker.account.book(legs, taker_side)
        if maker is not None:
            maker.account.book(legs, 1 - taker_side)
            self.finish(maker_id, maker_leaves)

    def release(self, rt: RiskTerms, order_id: int, leaves: int, rows: Iterable[tuple],
                cancelled: Iterable[tuple]) -> None:
        """R2 after one order's book call: book its fills (book trade rows) for the checked
        orders among them, trim its hold to ``leaves``, and release the holds of the resting
        orders self-trade prevention ``cancelled`` ((order id, ...) rows). O(fills)."""
        holds = self.holds
        for row in rows:
            if row[TAKER_ID] in holds or row[MAKER_ID] in holds:
                self.fill(rt, row[TAKER_ID], row[MAKER_ID], row[TAKER_SIDE], row[PRICE],
                          row[QTY], row[MAKER_LEAVES])
        self.finish(order_id, leaves)
        for row in cancelled:
            self.finish(row[0], 0)

    def finish(self, order_id: int, leaves: int) -> None:
        """The order now rests with ``leaves`` lots (0: it is gone): trim its hold to the worst
        case of ``leaves``, releasing the rest. No-op for an unchecked order. O(1)."""
        hold = self.holds.get(order_id)
        if hold is None:
            return
        if leaves == 0:
            del self.holds[order_id]
            quote = base = 0
        else:
            hold.lots = leaves
            quote, base = hold.required(leaves)
        self._give(hold, hold.held_quote - quote, hold.held_base - base)


def _legs(rt: RiskTerms, price: int, qty: int, taker_side: int) -> list[tuple]:
    """One fill's movements as (asset, day, buyer's signed amount), the seller's being the
    opposite except for the fees: ((asset, day, buyer amount, seller amount), ...)."""
    terms = rt.terms
    base, near, far = terms.amounts(price, qty)
    fee_buyer = terms.fees.fee(near, taker_side == 0)
    fee_seller = terms.fees.fee(near, taker_side == 1)
    quote, base_code = rt.quote, rt.base
    legs = [(base_code, rt.near_day, base, -base),
            (quote, rt.near_day, -near - fee_buyer, near - fee_seller)]
    if far:
        legs += [(base_code, rt.far_day, -base, base), (quote, rt.far_day, far, -far)]
    return legs
