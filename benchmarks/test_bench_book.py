"""pytest-benchmark cases for the order book's hot paths.

Run with ``pytest benchmarks/ --benchmark-only`` (never part of plain ``pytest``: the project's
testpaths is tests/). Each round starts from a fresh book so rounds are comparable; the flow is
the standard seeded one from flow.py, 100,000 messages.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import exchange
except ImportError:  # not installed: use the in-place build of this checkout
    sys.path.insert(0, str(HERE.parent / "src"))
    import exchange

from baseline import BaselineBook  # noqa: E402
from bench_book import (  # noqa: E402
    STEADY_BOOK,
    run_single_calls,
    run_submit_cancel,
    submit_cancel_workload,
)
from flow import standard_flow  # noqa: E402

N = 100_000


@pytest.fixture(scope="module")
def flow() -> np.ndarray:
    return standard_flow(N, seed=0)


@pytest.fixture(scope="module")
def expected(flow: np.ndarray) -> np.ndarray:
    """Per-message results of the baseline: every benchmarked path must reproduce them."""
    return BaselineBook().process(flow)


def test_process_100k(benchmark, flow: np.ndarray, expected: np.ndarray) -> None:
    results = benchmark.pedantic(
        lambda book: book.process(flow), setup=lambda: ((exchange.OrderBook(),), {}), rounds=20
    )
    np.testing.assert_array_equal(results, expected)


def test_single_calls_100k(benchmark, flow: np.ndarray, expected: np.ndarray) -> None:
    rows = flow.tolist()
    books = []

    def setup():
        books.append(exchange.OrderBook())
        return (books[-1], rows), {}

    benchmark.pedantic(run_single_calls, setup=setup, rounds=5)
    reference = exchange.OrderBook()
    reference.process(flow)
    assert len(books[-1]) == len(reference)
    assert books[-1].orders(0).tolist() == reference.orders(0).tolist()


def test_submit_cancel_pairs(benchmark) -> None:
    """20,000 x (non-crossing submit + cancel of the oldest) on a book held at 10,000 orders."""
    prefill, rows = submit_cancel_workload(20_000, seed=1)

    def setup():
        book = exchange.OrderBook()
        book.process(prefill)
        return (book, rows), {}

    book = benchmark.pedantic(run_submit_cancel, setup=setup, rounds=10)
    assert len(book) == STEADY_BOOK


def test_baseline_100k(benchmark, flow: np.ndarray, expected: np.ndarray) -> None:
    results = benchmark.pedantic(
        lambda book: book.process(flow), setup=lambda: ((BaselineBook(),), {}), rounds=3
    )
    np.testing.assert_array_equal(results, expected)
