"""The benchmark's pure-Python baseline book must do exactly what the compiled book does.

Otherwise the "compiled vs baseline" ratio in benchmarks/bench_book.py would compare two
different workloads. On seeded 20,000-message standard flows both books must give the same
result for every message, the same trades in the same order, and the same resting orders.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import exchange
from baseline import BaselineBook
from flow import standard_flow

TRADE_FIELDS = ["taker_id", "maker_id", "taker_owner", "maker_owner", "taker_side", "price", "qty"]


def _run_both(messages: np.ndarray):
    compiled, base = exchange.OrderBook(), BaselineBook()
    return compiled, compiled.process(messages), base, base.process(messages)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_results_trades_and_book_on_standard_flow(seed: int) -> None:
    messages = standard_flow(20_000, seed=seed)
    compiled, got, base, expected = _run_both(messages)

    np.testing.assert_array_equal(got, expected)
    compiled_trades = compiled.drain_trades()
    base_trades = base.drain_trades()
    assert len(compiled_trades) == len(base_trades)
    assert int(compiled_trades["qty"].sum()) == sum(t[-1] for t in base_trades)
    assert compiled_trades[TRADE_FIELDS].tolist() == base_trades
    assert len(compiled) == len(base)
    for side in (0, 1):
        assert compiled.orders(side).tolist() == base.orders(side)
    assert compiled.best_bid() == base.best_bid()
    assert compiled.best_ask() == base.best_ask()


def test_flow_exercises_every_path_the_comparison_relies_on() -> None:
    """Agreement means little if the flow never trades, never cancels or never rejects."""
    messages = standard_flow(20_000, seed=0)
    _, got, _, _ = _run_both(messages)
    action = messages["action"]
    new, cancel, market = action == 0, action == 1, action == 2
    assert (got[new] > 0).mean() > 0.05  # limit orders that cross and trade
    assert (got[market] > 0).mean() > 0.95  # the book is rarely empty on the taken side
    live_cancels = (got[cancel] > 0).mean()
    assert 0.8 < live_cancels < 1.0  # mostly live, a few dead ...
    assert set(np.unique(got[got < 0]).tolist()) == {-7}  # ... and dead ones are UNKNOWN_ID
    assert ((messages["tif"] == 1) & new).sum() > 0  # some IOC


def test_same_results_with_bad_messages_fok_post_only_and_modify() -> None:
    """Reject codes, FOK, POST_ONLY and MODIFY agree too: rewrite a slice of a flow with them."""
    messages = standard_flow(5_000, seed=3)
    rng = np.random.default_rng(3)
    edits = [("action", 7), ("side", 2), ("qty", 0), ("price", -5), ("tif", 9), ("tif", 2),
             ("tif", 3)]
    for k, row in enumerate(rng.choice(len(messages), 700, replace=False)):
        field, value = edits[k % len(edits)]
        messages[field][row] = value
    # NEW orders that reuse the id of the NEW just before them, which often still rests
    reuse = np.flatnonzero((messages["action"][1:] == 0) & (messages["action"][:-1] == 0))[:200] + 1
    messages["order_id"][reuse] = messages["order_id"][reuse - 1]
    # cancels turned into modifies: new qty 0..8, price kept (0) or moved near the old one
    cancels = np.flatnonzero(messages["action"] == 1)
    modify = rng.choice(cancels, 300, replace=False)
    messages["action"][modify] = 3
    messages["qty"][modify] = rng.integers(0, 9, len(modify))
    moved = rng.random(len(modify)) < 0.5
    messages["price"][modify] = np.where(moved, 100_000 + rng.integers(-8, 9, len(modify)), 0)

    compiled, got, base, expected = _run_both(messages)
    np.testing.assert_array_equal(got, expected)
    assert {-1, -2, -3, -4, -5, -6, -7, -8, -9} <= set(np.unique(got).tolist())
    assert (got[modify] >= 0).sum() > 50  # modifies that found their order
    assert compiled.drain_trades()[TRADE_FIELDS].tolist() == base.drain_trades()
    for side in (0, 1):
        assert compiled.orders(side).tolist() == base.orders(side)


def test_same_level_overflow_refusals() -> None:
    """LEVEL_OVERFLOW (-10): a resting order or a modify that would take a level past int64."""
    big = 2**63 - 1
    rows = [(0, 1, 0, 100, big - 10, 0, 0), (0, 2, 0, 100, 5, 0, 0), (0, 3, 0, 100, 6, 0, 0),
            (0, 3, 0, 100, 6, 3, 0), (0, 3, 0, 100, 6, 1, 0), (0, 4, 0, 99, 20, 0, 0),
            (3, 2, 0, 0, 11, 0, 0), (3, 4, 0, 100, 11, 0, 0), (3, 2, 0, 0, 10, 0, 0),
            (0, 5, 1, 101, big, 0, 0), (3, 4, 0, 100, 1, 0, 0)]
    messages = np.array(rows, dtype=exchange.MESSAGE_DTYPE)
    compiled, got, base, expected = _run_both(messages)
    np.testing.assert_array_equal(got, expected)
    assert got.tolist() == [0, 0, -10, -10, 0, 0, -10, -10, 0, 0, -10]
    for side in (0, 1):
        assert compiled.orders(side).tolist() == base.orders(side)
