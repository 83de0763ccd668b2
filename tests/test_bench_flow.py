"""The benchmark workload generator (benchmarks/flow.py) and the baseline book's own rules.

The flow's shape is checked directly on the array, and the baseline against small hand-worked
scenarios from docs/book.md; the enum values come from the compiled book.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from baseline import BaselineBook
from exchange import TIF, Action, Side
from flow import MESSAGE_DTYPE, resting_orders, standard_flow

NEW, CANCEL, MARKET, MODIFY = Action.NEW, Action.CANCEL, Action.MARKET, Action.MODIFY
BUY, SELL = Side.BUY, Side.SELL
GTC, IOC, FOK, POST_ONLY = TIF.GTC, TIF.IOC, TIF.FOK, TIF.POST_ONLY


@pytest.fixture(scope="module")
def flow() -> np.ndarray:
    return standard_flow(50_000, seed=7)


def test_flow_is_deterministic_per_seed() -> None:
    a, b, c = standard_flow(10_000, seed=5), standard_flow(10_000, seed=5), standard_flow(10_000, seed=6)
    assert a.dtype == MESSAGE_DTYPE
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_flow_mix_is_60_28_12(flow: np.ndarray) -> None:
    counts = np.bincount(flow["action"], minlength=4)
    assert counts.tolist() == [30_000, 14_000, 6_000, 0]


def test_flow_ids_are_fresh_and_cancels_come_after_their_order(flow: np.ndarray) -> None:
    entering = flow[flow["action"] != CANCEL]
    ids = entering["order_id"]
    assert (np.diff(ids) == 1).all() and ids[0] == 1
    where = {int(i): k for k, i in enumerate(flow["order_id"]) if flow["action"][k] != CANCEL}
    kinds = {int(m["order_id"]): (int(m["action"]), int(m["tif"])) for m in entering}
    cancels = np.flatnonzero(flow["action"] == CANCEL)
    targets = flow["order_id"][cancels]
    live = [(k, t) for k, t in zip(cancels.tolist(), targets.tolist()) if kinds.get(t) == (NEW, GTC)]
    assert all(where[t] < k for k, t in live)
    assert len({t for _, t in live}) == len(live)  # no GTC order is cancelled twice
    dead = len(cancels) - len(live)  # market ids (never rest) or ids never issued
    assert 0.02 < dead / len(cancels) < 0.04


def test_flow_fields(flow: np.ndarray) -> None:
    new, market = flow[flow["action"] == NEW], flow[flow["action"] == MARKET]
    assert (new["price"] > 0).all() and (market["price"] == 0).all()
    assert (flow["qty"][flow["action"] != CANCEL] > 0).all()
    assert set(np.unique(flow["side"][flow["action"] != CANCEL]).tolist()) == {BUY, SELL}
    assert set(np.unique(new["tif"]).tolist()) == {GTC, IOC}
    assert 0.03 < (new["tif"] == IOC).mean() < 0.07
    assert (market["tif"] == GTC).all()


def test_flow_on_the_baseline_trades_cancels_and_stays_bounded(flow: np.ndarray) -> None:
    book = BaselineBook()
    got = book.process(flow)
    action = flow["action"]
    assert 0.05 < (got[action == NEW] > 0).mean() < 0.4  # some limit orders cross the spread
    assert 0.85 < (got[action == CANCEL] > 0).mean() < 0.97  # most cancels find their order
    assert len(book) < 10_000  # the book reaches a steady size instead of piling up orders


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"n_messages": 0}, "n_messages"), ({"cross_share": 1.5}, "cross_share"),
     ({"market_qty_p": 0.0}, "market_qty_p"), ({"mean_lifetime": -1.0}, "mean_lifetime"),
     ({"n_owners": 0}, "n_owners")],
)
def test_flow_bad_parameters_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        standard_flow(**kwargs)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 99])
def test_tiny_flows_have_the_requested_length(n: int) -> None:
    assert len(standard_flow(n, seed=1)) == n


def test_resting_orders_never_cross_and_all_rest() -> None:
    messages = resting_orders(20_000, seed=2, levels=100)
    assert (messages["action"] == NEW).all() and (messages["tif"] == GTC).all()
    buys, sells = messages[messages["side"] == BUY], messages[messages["side"] == SELL]
    assert buys["price"].max() < sells["price"].min()
    book = BaselineBook()
    assert (book.process(messages) == 0).all()
    assert len(book) == 20_000
    with pytest.raises(ValueError, match="levels"):
        resting_orders(10, levels=0)


# -- the baseline book against hand-worked cases --------------------------------------------


def _msgs(*rows: tuple) -> np.ndarray:
    """Rows (action, id, side, price, qty[, tif[, owner]]) as a MESSAGE_DTYPE array."""
    full = [tuple(r) + (0,) * (7 - len(r)) for r in rows]
    return np.array(full, dtype=MESSAGE_DTYPE)


def test_baseline_price_then_time_priority_at_the_makers_price() -> None:
    book = BaselineBook()
    got = book.process(_msgs(
        (NEW, 1, SELL, 101, 5), (NEW, 2, SELL, 100, 3), (NEW, 3, SELL, 100, 4),
        (NEW, 4, BUY, 101, 9),  # takes 3 from #2, 4 from #3 (both @100), then 2 from #1 @101
    ))
    assert got.tolist() == [0, 0, 0, 9]
    assert [(t[1], t[5], t[6]) for t in book.drain_trades()] == [(2, 100, 3), (3, 100, 4), (1, 101, 2)]
    assert book.orders(SELL) == [(1, 101, 3, 0)]  # partly filled, still resting
    assert book.best_ask() == (101, 3) and book.best_bid() is None


def test_baseline_time_in_force_market_and_cancel() -> None:
    book = BaselineBook()
    got = book.process(_msgs(
        (NEW, 1, BUY, 99, 2), (NEW, 2, BUY, 98, 5),
        (NEW, 3, SELL, 99, 4, IOC),  # 2 trade, the other 2 are dropped
        (NEW, 4, SELL, 98, 9, FOK),  # only 5 available at >= 98: refused whole
        (NEW, 5, SELL, 98, 5, FOK),  # fills in full
        (NEW, 6, BUY, 97, 1, POST_ONLY), (NEW, 7, SELL, 97, 1, POST_ONLY),  # rests, then crosses
        (MARKET, 8, SELL, 0, 10),  # takes #6, the rest is dropped
        (CANCEL, 6), (NEW, 9, SELL, 120, 3), (CANCEL, 9),
    ))
    assert got.tolist() == [0, 0, 2, -8, 5, 0, -9, 1, -7, 0, 3]
    assert len(book) == 0


def test_baseline_reject_codes_and_modify() -> None:
    book = BaselineBook()
    got = book.process(_msgs(
        (9, 1, BUY, 10, 1), (NEW, 1, 2, 10, 1), (NEW, 1, BUY, 10, 0), (NEW, 1, BUY, 0, 1),
        (NEW, 1, BUY, 10, 1, 4), (NEW, 1, BUY, 10, 5), (NEW, 1, BUY, 10, 1), (MARKET, 1, SELL, 0, 1),
        (NEW, 2, BUY, 10, 5),
        (MODIFY, 1, 0, 0, 3),  # smaller at the same price: keeps its place ahead of #2
        (MODIFY, 7, 0, 0, 3), (MODIFY, 1, 0, -1, 3), (MODIFY, 1, 0, 0, -1),
        (NEW, 3, SELL, 10, 4),  # 3 from #1 then 1 from #2
        (MODIFY, 2, 0, 11, 6),  # new price: re-enters at the back, no ask left to trade
        (MODIFY, 2, 0, 0, 0),  # qty 0 cancels
    ))
    assert got.tolist() == [-1, -2, -3, -4, -5, 0, -6, -6, 0, 0, -7, -4, -3, 4, 0, 0]
    assert [(t[1], t[6]) for t in book.drain_trades()] == [(1, 3), (2, 1)]
    assert len(book) == 0
