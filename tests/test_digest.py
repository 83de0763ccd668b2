"""``Exchange.digest()``: equal for equal states, different after any change, the same in any
process.

Equal states reached by different routes (a batch or the same orders one by one; deposits in
another order) have equal digests; every state-changing call (an order that rests, a cancel, a
modify, a deposit, a withdrawal, a counted refusal, a member, a day or session transition)
changes it, each to a digest not seen before; reading the state, moving the clock or
subscribing does not. A child process (another hash seed, other codes interned first) computes
the digest of the same scripted day and gets the same hex.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from durable_day import THU, build, members, scripted_day, start_day
from exchange import ORDER_DTYPE, OrderRejected
from exchange.venue.batches import process_one_by_one

SRC = str(Path(__import__("exchange").__file__).resolve().parent.parent)
TESTS = str(Path(__file__).resolve().parent)


def _day_open():
    ex = build()
    members(ex)
    start_day(ex)
    return ex


def _batch(ex) -> np.ndarray:
    tod, swap = ex.instrument_id("USDKZT_TOD"), ex.instrument_id("USDKZT_SWAP_1D")
    rows = [(0, 0, 2, tod, 0, 47_000, 3, 0), (0, 0, 3, tod, 1, 46_999, 2, 0),
            (0, 0, 1, swap, 1, 4, 2, 0), (2, 0, 2, swap, 0, 0, 1, 0),
            (1, 0, 2, 0, 0, 0, 0, 0),  # cancel order 1 (filled in part, resting)
            (0, 0, 9, tod, 0, 47_000, 1, 0),  # unknown member: refused, counted
            (0, 0, 3, tod, 1, 47_005, 4, 0), (3, 5, 3, 0, 0, 47_004, 2, 0)]
    orders = np.array(rows, ORDER_DTYPE)
    orders["order_id"][4] = 1
    return orders


def test_a_batch_and_the_same_orders_one_by_one_give_the_same_digest():
    batched, single = _day_open(), _day_open()
    orders = _batch(batched)
    first = batched.process(orders)
    second = process_one_by_one(single, orders)
    assert first.tobytes() == second.tobytes()
    assert len(batched.trades()) >= 2 and (first["code"] != 0).any()
    assert batched.digest() == single.digest()


def test_deposits_in_another_order_give_the_same_digest():
    one, other = build(), build()
    members(one)
    members(other)
    for member, asset in ((2, "USD"), (3, "KZT")):
        one.deposit(member, asset, 1_000)
    for member, asset in ((3, "KZT"), (2, "USD")):
        other.deposit(member, asset, 1_000)
    assert one.digest() == other.digest()


def _refused_cancel(ex) -> None:
    with pytest.raises(OrderRejected):
        ex.cancel(2, 99)


def _change(name):
    """A call that changes the state of an exchange after ``_day_open`` and one resting bid
    (order 1 of member 2)."""
    return {
        "order": lambda ex: ex.submit(3, "USDKZT_TOD", 1, price_ticks=47_100, lots=1),
        "cancel": lambda ex: ex.cancel(2, 1),
        "modify": lambda ex: ex.modify(2, 1, lots=1),
        "deposit": lambda ex: ex.deposit(3, "USD", 1),
        "withdraw": lambda ex: ex.withdraw(1, "USD", 1),
        "refusal": _refused_cancel,
        "member": lambda ex: ex.add_member(4, "new"),
        "session": lambda ex: (ex.close_session("morning"), ex.open_session("day")),
        "end of day": lambda ex: ex.end_of_day(),
        "trade": lambda ex: ex.submit(3, "USDKZT_TOD", 1, price_ticks=47_000, lots=1),
    }[name]


CHANGES = ["order", "cancel", "modify", "deposit", "withdraw", "refusal", "member", "session",
           "end of day", "trade"]


def test_every_state_change_gives_a_new_digest():
    seen = {}
    for name in CHANGES:
        ex = _day_open()
        ex.submit(2, "USDKZT_TOD", 0, price_ticks=47_000, lots=2)
        before = ex.digest()
        seen.setdefault(before, "before")
        _change(name)(ex)
        after = ex.digest()
        assert after != before, name
        assert after not in seen, f"{name} gives the digest of {seen.get(after)}"
        seen[after] = name
    assert len(seen) == len(CHANGES) + 1


def test_reading_the_clock_and_subscribers_leave_the_digest_alone():
    ex = _day_open()
    ex.submit(2, "USDKZT_TOD", 0, price_ticks=47_000, lots=2)
    digest = ex.digest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    ex.trades()
    ex.book("USDKZT_TOD").depth(5)
    ex.funds(2, "KZT")
    ex.set_time(50_000)
    ex.subscribe(lambda event: None)
    assert ex.digest() == digest


def test_the_next_business_day_differs_from_the_same_calls_a_day_earlier():
    """The trade date is part of the state (settlement dates hang on it)."""
    one, other = build(), build()
    members(one)
    members(other)
    one.begin_day(THU)
    other.begin_day(THU.replace(day=6))
    assert one.digest() != other.digest()


#: The child interns other names first when asked (``exchange.codes`` numbers instruments and
#: assets in the order a process first meets them), so that its codes differ from ours.
_CHILD = """
import sys
sys.path[:0] = [sys.argv[1]]
from exchange.codes import CODES
if sys.argv[2] == "shifted":
    CODES.register_instrument("AAA_FIRST", 0)
    for name in ("AAA", "USD", "KZTK"):
        CODES.asset.code(name)
from durable_day import build, members, scripted_day
ex = build()
members(ex)
scripted_day(ex)
print(ex.digest(), int(ex.trades()["instrument"][0]))
"""


@pytest.mark.parametrize("hash_seed, codes", [("0", "as interned"), ("4242", "shifted")])
def test_the_digest_is_the_same_in_another_process(hash_seed, codes):
    ex = build()
    members(ex)
    scripted_day(ex)
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", _CHILD, TESTS, codes.split()[0]],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    digest, child_code = done.stdout.split()
    assert digest == ex.digest()
    # USDKZT_TOD, the first instrument a fresh process meets, has code 0 there; AAA_FIRST
    # pushed it to 1: the same trade record holds another code, and the digest ignores it
    assert int(child_code) == (1 if codes == "shifted" else 0)
