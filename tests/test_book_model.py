"""The compiled book against the pure-Python model (tests/model.py) on random message streams.

Each hypothesis example drives `exchange.OrderBook` and `ModelBook` with the same calls, in a
narrow price range (95..105) so that books cross often, with few owners, small reusable ids
(plus the int64 extremes), every TIF, markets, cancels and modifies of live and dead ids,
invalid values and `process` batches, under each STP mode. After every step it compares the
outcome (return value or exception type), the drained trades and STP cancels and everything a
reader can see, and checks the invariants: never crossed at rest, every resting qty > 0, and
quantity conservation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from conftest import compiled_book_class
from model import (
    BUY,
    CANCEL,
    FOK,
    GTC,
    INT64_MAX,
    INT64_MIN,
    IOC,
    MARKET,
    MESSAGE_DTYPE,
    MODIFY,
    NEW,
    ORDER_FIELDS,
    POST_ONLY,
    SELL,
    ModelBook,
    Reject,
    apply_single,
    records,
    single_equivalent,
    snapshot,
    stp_cancels,
    trades,
)

CLEAR_FIELDS = ORDER_FIELDS + ("side",)

# ------------------------------------------------------------------ strategies
# sampled_from picks uniformly and shrinks towards the first element: common, valid values come
# first and are repeated to weight them; invalid ones are a few percent of each field.
def _weighted(common: list, rare: list, repeat: int) -> st.SearchStrategy:
    return st.sampled_from(common * repeat + rare)


_EXTREME_IDS = [-1, INT64_MIN, INT64_MAX]
ids = _weighted(list(range(16)), _EXTREME_IDS, 4)
prices = _weighted(list(range(95, 106)), [0, -1, INT64_MAX], 12)
# a few huge quantities, so that level totals near int64 (LEVEL_OVERFLOW) come up too
_HUGE = [INT64_MAX, INT64_MAX // 2 + 1]
qtys = _weighted(list(range(1, 11)), [0, -1, *_HUGE], 15)
modify_qtys = _weighted(list(range(13)), [-1, *_HUGE], 12)
sides = _weighted([BUY, SELL], [2, -1], 50)
tifs = _weighted([GTC] * 6 + [IOC, FOK, FOK, POST_ONLY], [4, -1], 10)
owners = st.integers(0, 2)
actions = _weighted([NEW] * 4 + [CANCEL, MARKET, MODIFY, MODIFY], [4, -1], 6)
stp_modes = st.sampled_from([0, 1, 2])
# values that fit no int64 or are not integers: every single call must refuse them
not_int64 = st.sampled_from([2**63, -(2**63) - 1, 2**64 + 1, 1.5, "7", None, True, False,
                             np.True_])

# Some fields are drawn as choices that `resolve_call` turns into values given the book at that
# step, so that cancels and modifies mostly hit resting orders, new orders mostly use free ids,
# and modifies often keep the price or the quantity; the strategies themselves stay fixed
# (building strategies per step would make generation far slower than the books).
_pick = st.tuples(st.integers(0, 19), st.integers(0, 2**16))
old_ids = st.tuples(st.just("old"), _pick, ids)  # 85 % resting, else any pool id
new_ids = st.tuples(st.just("new"), _pick, ids)  # 85 % free, 10 % any, 5 % resting
row_ids = st.tuples(st.just("row"), _pick, ids)  # "old" for CANCEL/MODIFY rows, else "new"
# buys 95..101, sells 99..105: books cross often at 99..101 and still build some depth
limit_prices = _weighted([("px", offset) for offset in range(7)], [0, -1, INT64_MAX], 12)
new_qtys = st.tuples(st.just("mq"), st.integers(0, 9), modify_qtys)
new_prices = st.tuples(st.just("mp"), st.integers(0, 9), prices)
FREE_POOL = range(24)


def _resolve(value, book: dict, side):
    """One drawn field as a concrete value; `book` maps resting ids to (side, price, qty)."""
    if not (isinstance(value, tuple) and value and isinstance(value[0], str)):
        return value
    live = sorted(book)
    kind, choice, raw = value[0], value[1], value[-1]
    if kind == "old":
        return live[choice[1] % len(live)] if choice[0] < 17 and live else raw
    if kind == "new":
        free = [i for i in FREE_POOL if i not in book]
        if choice[0] < 17 and free:
            return free[choice[1] % len(free)]
        return live[choice[1] % len(live)] if choice[0] == 19 and live else raw
    if kind == "px":
        return (99 if side == SELL else 95) + choice
    return raw  # "mq"/"mp" for an order that is not resting: resolved in _modify_args


def _modify_args(args: tuple, book: dict) -> tuple:
    """Modify (id, qty, price): qty 0, one less, the same or one more, or drawn; the price kept
    (None), the same, one tick either way, or drawn."""
    order_id = _resolve(args[0], book, None)
    qty, price = args[1], args[2]
    if isinstance(price, tuple) and price[0] == "px":  # a batch row drawn for NEW
        price = ("mp", price[1], 95 + price[1])
    if order_id in book and isinstance(qty, tuple):
        now_qty = book[order_id][2]
        choices = [0, max(now_qty - 1, 0), now_qty, now_qty, min(now_qty + 1, INT64_MAX)]
        qty = choices[qty[1]] if qty[1] < len(choices) else qty[2]
    if order_id in book and isinstance(price, tuple):
        now_price = book[order_id][1]
        choices = [None, None, None, now_price, min(now_price + 1, INT64_MAX), now_price - 1]
        price = choices[price[1]] if price[1] < len(choices) else price[2]
    return (order_id, _resolve(qty, {}, None), _resolve(price, {}, None))


def resolve_call(method: str, args: tuple, book: dict) -> tuple:
    """A drawn call with concrete values, given the resting orders `{id: (side, price, qty)}`."""
    if method == "submit":
        return tuple(_resolve(v, book, args[1]) for v in args)
    if method == "modify":
        return _modify_args(args, book)
    if method == "apply":
        return resolve_call("process", ([args],), book)[0][0]
    if method == "process":
        rows = []
        for row in args[0]:
            if isinstance(row[1], tuple):  # a "row" id: as for the single call of its action
                kind = "old" if row[0] in (CANCEL, MODIFY) else "new"
                row = (row[0], (kind, *row[1][1:])) + row[2:]
            if row[0] == MODIFY:
                order_id, qty, price = _modify_args((row[1], row[4], row[3]), book)
                row = (row[0], order_id, row[2], price or 0, qty) + row[5:]
            rows.append(tuple(_resolve(v, book, row[2]) for v in row))
        return (rows,)
    return tuple(_resolve(v, book, None) for v in args)


submits = st.tuples(st.just("submit"), st.tuples(new_ids, sides, limit_prices, qtys, tifs, owners))
markets = st.tuples(st.just("market"), st.tuples(new_ids, sides, qtys, owners))
cancels = st.tuples(st.just("cancel"), st.tuples(old_ids))
modifies = st.tuples(st.just("modify"), st.tuples(old_ids, new_qtys, new_prices))
message_rows = st.tuples(actions, row_ids, sides, limit_prices, new_qtys, tifs, owners)
batches = st.tuples(st.just("process"), st.tuples(st.lists(message_rows, max_size=8)))
applies = st.tuples(st.just("apply"), message_rows)


@st.composite
def bad_calls(draw):
    """A valid-looking call with one argument replaced by a value that is no int64."""
    method, args = draw(st.one_of(submits, markets, cancels, modifies, applies))
    position = draw(st.integers(0, len(args) - 1))
    value = draw(not_int64)
    if method == "modify" and position == 2 and value is None:
        value = 2**63  # None is a legal modify price ("keep")
    return method, args[:position] + (value,) + args[position + 1:]


_KINDS = {"submit": (submits, 40), "market": (markets, 5), "cancel": (cancels, 8),
          "modify": (modifies, 14), "process": (batches, 6), "apply": (applies, 12),
          "bad": (bad_calls(), 3),
          "clear": (st.just(("clear", ())), 1)}
# one_of would weight its branches equally: pick the kind by weight first
operations = st.sampled_from(
    [kind for kind, (_, weight) in _KINDS.items() for _ in range(weight)]
).flatmap(lambda kind: _KINDS[kind][0])

# rows for batches that are not resolved against a book
plain_rows = st.tuples(actions, ids, sides, prices, modify_qtys, tifs, owners)


# ------------------------------------------------------------------ applying one step
def outcome(book, method: str, args: tuple):
    """The call's result as plain Python, or the kind of exception it raised."""
    try:
        if method == "process":
            rows = np.array(list(args[0]), dtype=MESSAGE_DTYPE)
            return [int(r) for r in book.process(rows)]
        result = getattr(book, method)(*args)
    except ValueError:
        return "ValueError"
    except KeyError:
        return "KeyError"
    except TypeError:
        return "TypeError"
    except Exception as err:
        return type(err).__name__
    if method == "clear":
        return records(result, CLEAR_FIELDS)
    if method == "apply":
        return [int(v) for v in result]
    return int(result)


def check_codes(method: str, got) -> None:
    """Every refusal code a call reports is one of the book's `Reject` members."""
    codes = {"process": got, "apply": got[3:] if isinstance(got, list) else []}.get(method, [])
    for code in codes if isinstance(codes, list) else []:
        if code < 0:
            Reject(code)  # ValueError for a code the enum does not define


def resting_orders(state: dict) -> dict:
    """`{order_id: (side, price, qty)}` of a `visible()` state."""
    return {o["order_id"]: (side, o["price"], o["qty"])
            for side, name in ((BUY, "bids"), (SELL, "asks")) for o in state[name]}


def visible(book) -> dict:
    """Everything compared after each step; drains both buffers."""
    return {**snapshot(book, 10), "trades": trades(book), "stp": stp_cancels(book)}


def check_invariants(state: dict, book) -> None:
    """Properties of a book state that hold whatever the history."""
    (bid, ask) = state["best"]
    if bid is not None and ask is not None:
        assert bid[0] < ask[0], f"crossed at rest: bid {bid} ask {ask}"
    for side_name, sign in (("bids", -1), ("asks", 1)):
        rows = state[side_name]
        assert all(o["qty"] > 0 for o in rows), f"non-positive resting qty in {rows}"
        keys = [sign * o["price"] for o in rows]
        assert keys == sorted(keys), f"{side_name} not in price priority: {rows}"
    assert state["len"] == len(state["bids"]) + len(state["asks"])
    for o in state["bids"] + state["asks"]:
        assert o["order_id"] in book
        assert tuple(int(v) for v in book.order(o["order_id"]))[1:] == (
            o["price"], o["qty"], o["owner"])


def check_leaves(state: dict) -> None:
    """After one call, the trade rows alone tell the layer above what rests: the last fill of
    each maker gives its resting quantity (0: gone), and successive fills of the taker count
    its unexecuted quantity down by each fill's size."""
    resting = {o["order_id"]: o["qty"] for o in state["bids"] + state["asks"]}
    last = {t["maker_id"]: t["maker_leaves"] for t in state["trades"]}
    for maker_id, leaves in last.items():
        assert resting.get(maker_id, 0) == leaves, (maker_id, leaves, resting.get(maker_id))
    for before, after in zip(state["trades"], state["trades"][1:]):
        assert before["taker_leaves"] - after["qty"] == after["taker_leaves"]


# ------------------------------------------------------------------ conservation
@dataclass
class Ledger:
    """Where every submitted lot went, from the compiled book's outputs alone.

    `submitted == taker + maker + resting + cancelled + dropped` must hold after every step:
    `taker` sums the executed quantities the calls returned, `maker` the trade records,
    `resting` the orders() arrays, `cancelled` the cancel/modify/clear/STP removals, and
    `dropped` what an incoming order neither traded nor left resting (IOC, market, refused FOK or
    POST_ONLY, CANCEL_INCOMING), which must never be negative.
    """

    submitted: int = 0
    taker: int = 0
    maker: int = 0
    cancelled: int = 0
    dropped: int = 0

    def incoming(self, qty: int, executed: int, rested: int) -> None:
        assert 0 <= executed <= qty and 0 <= rested <= qty - executed, (qty, executed, rested)
        self.submitted += qty
        self.taker += executed
        self.dropped += qty - executed - rested

    def account(self, method, args, result, before: dict, after: dict) -> None:
        """Book one single call; `before`/`after` are `visible()` states around it."""
        self.maker += sum(t["qty"] for t in after["trades"])
        self.cancelled += sum(c["qty"] for c in after["stp"])
        if isinstance(result, str):
            assert after["trades"] == [] and after["stp"] == []
            return
        old = {o["order_id"]: o for o in before["bids"] + before["asks"]}
        new = {o["order_id"]: o for o in after["bids"] + after["asks"]}
        if method == "submit":
            order_id, qty = args[0], args[3]
            self.incoming(qty, result, new[order_id]["qty"] if order_id in new else 0)
        elif method == "market":
            self.incoming(args[2], result, 0)
            assert args[0] not in new
        elif method == "cancel":
            assert result == old[args[0]]["qty"]
            self.cancelled += result
        elif method == "clear":
            self.cancelled += sum(o["qty"] for o in result)
        elif method == "modify":
            self._modify(args, result, old[args[0]], new.get(args[0]))
        elif method == "apply":
            self._apply(args, result, old, new)
        if method in ("submit", "market") and after["trades"]:
            qty = args[3] if method == "submit" else args[2]
            assert after["trades"][-1]["taker_leaves"] == qty - result

    def _apply(self, row, result: list, old: dict, new: dict) -> None:
        """Book an `apply` from its own outcome: executed, leaves, removed, code."""
        action, order_id, _, price, qty = row[:5]
        executed, leaves, removed, code = result
        if code:
            assert result == [0, 0, 0, code]
            return
        assert leaves == (new[order_id]["qty"] if order_id in new else 0)
        self.cancelled += removed
        if action in (NEW, MARKET):
            assert removed == 0
            self.incoming(qty, executed, leaves)
        elif action == CANCEL:
            assert removed == old[order_id]["qty"] and executed == 0
        else:  # MODIFY: the in-place cases give up part of the order, the others all of it
            was = old[order_id]
            if qty == 0 or (price in (0, was["price"]) and qty <= was["qty"]):
                assert (executed, removed) == (0, was["qty"] - qty)
            else:
                assert removed == was["qty"]
                self.incoming(qty, executed, leaves)

    def _modify(self, args, result, was: dict, now: dict | None) -> None:
        _, qty, price = args
        in_place = qty == 0 or ((price is None or price == was["price"]) and qty <= was["qty"])
        if in_place:
            assert result == 0
            self.cancelled += was["qty"] - qty
        else:  # the old order leaves, a new GTC order of `qty` comes in
            self.cancelled += was["qty"]
            self.incoming(qty, result, now["qty"] if now is not None else 0)

    def check(self, state: dict) -> None:
        resting = sum(o["qty"] for o in state["bids"] + state["asks"])
        assert self.taker == self.maker, "executed quantities returned != quantities traded"
        assert self.submitted == self.taker + self.maker + resting + self.cancelled + self.dropped

    def rebase(self, state: dict) -> None:
        """After a batch (not attributable per message): start over from what rests now."""
        self.__init__()
        self.submitted = sum(o["qty"] for o in state["bids"] + state["asks"])


# ------------------------------------------------------------------ the tests
@pytest.mark.slow
@settings(max_examples=150)
@given(stp=stp_modes, n_steps=st.integers(1, 80), data=st.data())
def test_compiled_book_matches_model(stp, n_steps, data):
    """Up to 80 random calls; after each, the same outcome, trades, STP cancels and book."""
    compiled = compiled_book_class()(stp=stp)
    model = ModelBook(stp=stp)
    ledger = Ledger()
    state = visible(compiled)
    for number in range(n_steps):
        method, args = data.draw(operations)
        args = resolve_call(method, args, resting_orders(state))
        note(f"step {number}: {method}{args!r}")
        before = state
        got, want = outcome(compiled, method, args), outcome(model, method, args)
        assert got == want, "results differ"
        check_codes(method, got)
        state, model_state = visible(compiled), visible(model)
        assert state == model_state, "books differ"
        check_invariants(state, compiled)
        if method == "process":
            assert isinstance(got, list), "a batch of int64 messages must never raise"
            _check_batch_trades(args[0], got, state["trades"])
            ledger.rebase(state)
        else:
            ledger.account(method, args, got, before, state)
            check_leaves(state)
        ledger.check(state)


resting_asks = st.lists(
    st.tuples(st.integers(100, 103), st.integers(1, 5), st.integers(0, 1)), max_size=10)


@pytest.mark.parametrize("stp", [0, 1, 2])
@settings(max_examples=250)
@given(asks=resting_asks, bid_owner=st.integers(0, 1),
       kind=st.sampled_from(["submit", "submit", "submit", "market", "modify"]),
       tif=st.sampled_from([FOK, FOK, FOK, GTC, IOC, POST_ONLY]), limit=st.integers(99, 104),
       owner=st.integers(0, 1), near=st.integers(0, 3), qty_offset=st.integers(-2, 2))
def test_one_incoming_order_against_a_random_book(
        stp, asks, bid_owner, kind, tif, limit, owner, near, qty_offset):
    """Dense coverage of matching, FOK checks and STP: a book of asks of two owners over a few
    prices, a resting bid (id 40) below them, and one incoming buy (submit of any TIF, market,
    or a modify of the bid to `limit`). Its quantity is near one of the amounts the FOK rules
    turn on (all that crosses, other owners' part of it, or their part before the first own
    order), so that fill-or-kill checks land on both sides of each line under every STP mode."""
    compiled, model = compiled_book_class()(stp=stp), ModelBook(stp=stp)
    queue = sorted((price, i, qty, who) for i, (price, qty, who) in enumerate(asks)
                   if kind == "market" or price <= limit)
    mine = [i for i, (*_, who) in enumerate(queue) if who == owner]
    before_own = queue[: mine[0]] if mine else queue
    references = [sum(o[2] for o in queue), sum(o[2] for o in queue if o[3] != owner),
                  sum(o[2] for o in before_own), 10]
    qty = max(1, references[near] + qty_offset)
    method, args = {
        "submit": ("submit", (50, BUY, limit, qty, tif, owner)),
        "market": ("market", (50, BUY, qty, owner)),
        "modify": ("modify", (40, qty, limit)),
    }[kind]
    for book in (compiled, model):
        for order_id, (price, size, ask_owner) in enumerate(asks):
            book.submit(order_id, SELL, price, size, GTC, ask_owner)
        book.submit(40, BUY, 98, 3, GTC, bid_owner)
    assert outcome(compiled, method, args) == outcome(model, method, args)
    state = visible(compiled)
    assert state == visible(model)
    check_invariants(state, compiled)


def _check_batch_trades(rows, results, batch_trades) -> None:
    """Each message's executed result equals the quantity it traded as taker."""
    executed = sum(r for (action, *_), r in zip(rows, results) if action in (0, 2, 3) and r > 0)
    assert executed == sum(t["qty"] for t in batch_trades)


@settings(max_examples=150)
@given(stp=stp_modes, setup=st.lists(plain_rows, min_size=5, max_size=30),
       rows=st.lists(plain_rows, min_size=10, max_size=60))
def test_process_equals_single_calls(stp, setup, rows):
    """`process` on one book == the same messages through single calls on a second book, and
    through `apply` on a third (its code, else its removed lots for a cancel, else executed)."""
    book_class = compiled_book_class()
    batched, single, applied = book_class(stp=stp), book_class(stp=stp), book_class(stp=stp)
    for book in (batched, single, applied):  # the same starting book, not necessarily empty
        book.process(np.array(setup, dtype=MESSAGE_DTYPE))
        book.drain_trades()
        book.drain_stp_cancels()
    results = [int(r) for r in batched.process(np.array(rows, dtype=MESSAGE_DTYPE))]
    assert [single_equivalent(r) for r in results] == [apply_single(single, row) for row in rows]
    outcomes = [applied.apply(*row) for row in rows]
    assert results == [code or (removed if row[0] == CANCEL else executed)
                       for row, (executed, _, removed, code) in zip(rows, outcomes)]
    state = visible(batched)
    assert state == visible(single) == visible(applied)
    model = ModelBook(stp=stp)
    model.process(np.array(setup, dtype=MESSAGE_DTYPE))
    model.drain_trades()
    model.drain_stp_cancels()
    assert results == model.process(np.array(rows, dtype=MESSAGE_DTYPE))


# ------------------------------------------------------------------ growth past initial sizes
def _random_messages(rng: np.random.Generator, n: int, n_ids: int, lo: int, hi: int) -> np.ndarray:
    """A busy stream: mostly resting orders over a wide range, churned by cancels and modifies."""
    rows = np.zeros(n, dtype=MESSAGE_DTYPE)
    rows["action"] = rng.choice([0, 1, 2, 3], size=n, p=[0.6, 0.2, 0.05, 0.15])
    rows["order_id"] = rng.integers(-n_ids, n_ids, size=n) * 7_919_000_003  # spread the hashes
    rows["side"] = rng.integers(0, 2, size=n)
    # bids over the lower half and a little more, asks over the upper: crossing stays common
    # near the middle while the book keeps growing
    half = (hi - lo) // 2
    side_shift = np.where(rows["side"] == BUY, 0, half - 10)
    rows["price"] = rng.integers(lo, lo + half + 10, size=n) + side_shift
    rows["qty"] = rng.integers(1, 20, size=n)
    rows["tif"] = rng.choice([0, 1, 2, 3], size=n, p=[0.85, 0.05, 0.05, 0.05])
    rows["owner"] = rng.integers(0, 4, size=n)
    modify = rows["action"] == 3
    rows["price"][modify] *= rng.integers(0, 2, size=modify.sum())  # half keep their price
    return rows


@pytest.mark.parametrize("stp", [0, 1, 2])
def test_large_book_past_initial_pool_sizes_matches_model(stp):
    """Thousands of live orders over hundreds of levels: pool, level array and hash map grow,
    and freed slots are reused; batch by batch the compiled book must still equal the model."""
    rng = np.random.default_rng(20240621 + stp)
    compiled = compiled_book_class()(stp=stp)
    model = ModelBook(stp=stp)
    peak_orders = peak_levels = 0
    for _ in range(12):
        rows = _random_messages(rng, 500, n_ids=4000, lo=1_000, hi=1_800)
        assert [int(r) for r in compiled.process(rows)] == model.process(rows)
        state = visible(compiled)
        assert state == visible(model)
        check_invariants(state, compiled)
        peak_orders = max(peak_orders, state["len"])
        bids, asks = compiled.depth(10**6)
        peak_levels = max(peak_levels, len(bids), len(asks))
    assert peak_orders > 1024 and peak_levels > 64, (peak_orders, peak_levels)


# ------------------------------------------------------------------ deep books, far prices
def _deep_rows(rng: np.random.Generator, n: int, live: list[int], spread: int) -> np.ndarray:
    """Messages over a book thousands of levels deep: new levels at random depths and far
    beyond the touch, cancels and modifies of random resting orders (levels dropped at any
    depth), and crossing orders and markets that sweep several levels at once."""
    rows = np.zeros(n, dtype=MESSAGE_DTYPE)
    rows["action"] = rng.choice([NEW, CANCEL, MARKET, MODIFY], size=n, p=[0.5, 0.3, 0.05, 0.15])
    rows["side"] = rng.integers(0, 2, size=n)
    mid = 2 * spread
    depth = np.where(rng.random(n) < 0.3, rng.integers(1, 4, n), rng.integers(1, spread, n))
    through = rng.random(n) < 0.08                  # priced through the touch: sweeps levels
    away = np.where(through, -rng.integers(1, 40, n), depth)
    rows["price"] = np.where(rows["side"] == BUY, mid - away, mid + away)
    far = rng.random(n) < 0.05                      # far beyond everything else
    rows["price"][far] = np.where(rows["side"][far] == BUY, rng.integers(1, 50, far.sum()),
                                  10**12 + rng.integers(0, 50, far.sum()))
    rows["qty"] = rng.integers(1, 6, size=n)
    rows["qty"][rows["action"] == MARKET] *= 4
    rows["tif"] = rng.choice([GTC, IOC, FOK, POST_ONLY], size=n, p=[0.85, 0.05, 0.05, 0.05])
    rows["owner"] = rng.integers(0, 3, size=n)
    fresh = 10**6 + rng.integers(0, 10**12, size=n)    # new ids (rarely reused)
    resting = np.array(live or [0])
    picked = resting[rng.integers(0, len(resting), size=n)]
    old = np.isin(rows["action"], [CANCEL, MODIFY])
    rows["order_id"] = np.where(old, picked, fresh)
    keep_price = old & (rng.random(n) < 0.5)
    rows["price"][keep_price] = 0                   # a MODIFY that keeps its price
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("stp", [0, 1, 2])
@settings(max_examples=12)
@given(seed=st.integers(0, 2**32 - 1), spread=st.sampled_from([40, 400, 4000, 10**6]))
def test_deep_books_and_far_prices_match_model(stp, seed, spread):
    """Books of about two thousand levels (many price-level tree nodes on each side, made and
    emptied at every depth): after each batch, results, trades, STP cancels and every resting
    order equal the model's, and the depth() rows are the levels in order."""
    rng = np.random.default_rng(seed)
    compiled, model = compiled_book_class()(stp=stp), ModelBook(stp=stp)
    setup = np.zeros(2000, dtype=MESSAGE_DTYPE)     # one order per level, in random order
    setup["order_id"] = np.arange(1, 2001)
    setup["side"] = np.arange(2000) % 2
    offsets = rng.permutation(np.arange(1, 1001).repeat(2))[:2000] * max(1, spread // 1000)
    setup["price"] = np.where(setup["side"] == BUY, 2 * spread - offsets, 2 * spread + offsets)
    setup["qty"] = rng.integers(1, 6, 2000)
    setup["owner"] = rng.integers(0, 3, 2000)
    assert [int(r) for r in compiled.process(setup)] == model.process(setup)
    for _ in range(6):
        state = visible(compiled)
        assert state == visible(model)
        check_invariants(state, compiled)
        bids, asks = compiled.depth(10**6)
        assert [tuple(r) for r in bids.tolist()] == model.depth(10**6)[0]
        assert [tuple(r) for r in asks.tolist()] == model.depth(10**6)[1]
        live = [o["order_id"] for o in state["bids"] + state["asks"]]
        rows = _deep_rows(rng, 150, live, spread)
        assert [int(r) for r in compiled.process(rows)] == model.process(rows)
    state = visible(compiled)
    assert state == visible(model)
    assert records(compiled.clear(), CLEAR_FIELDS) == records(model.clear(), CLEAR_FIELDS)
