"""The book's C API (src/exchange/_book.pxd), driven from another Cython module.

tests/book_driver.pyx cimports `OrderBook`, `Outcome`, `Message`, `Trade`, `StpCancel` and the
enums, and is compiled here, once per session, into a temporary directory against the `exchange`
package under test. Its C-level commands must give exactly what `OrderBook.apply` and `process`
give from Python, and its reads of the trade and STP-cancel buffers (pointer + count + clear)
exactly what `drain_trades` / `drain_stp_cancels` give.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import exchange
from model import (
    BUY,
    MESSAGE_DTYPE,
    SELL,
    STP_CANCEL_RESTING,
    STP_FIELDS,
    TRADE_FIELDS,
    records,
    snapshot,
)

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.slow  # compiling the driver takes a few seconds


def _build_driver(build: Path):
    """Cythonize and compile book_driver.pyx into ``build``; return the imported module."""
    try:
        from Cython.Build import cythonize
    except ImportError:  # an error, not a skip: the C API must be exercised
        pytest.fail("Cython is needed to compile tests/book_driver.pyx (pip install Cython)")
    from setuptools import Distribution, Extension

    source = build / "book_driver.pyx"
    shutil.copy(HERE / "book_driver.pyx", source)
    package_root = Path(exchange.__file__).resolve().parent.parent  # where exchange/_book.pxd is
    modules = cythonize([Extension("book_driver", [str(source)])], include_path=[str(package_root)],
                        compiler_directives={"language_level": 3}, quiet=True)
    dist = Distribution({"ext_modules": modules, "script_name": "setup.py", "script_args": [
        "build_ext", "--build-lib", str(build), "--build-temp", str(build / "tmp")]})
    dist.parse_command_line()
    dist.run_commands()
    built = next(build.glob("book_driver*.so"), None) or next(build.glob("book_driver*.pyd"))
    spec = importlib.util.spec_from_file_location("book_driver", built)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["book_driver"] = module
    return module


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    return _build_driver(tmp_path_factory.mktemp("pxd_driver"))


def _stream(seed: int, n: int = 3000) -> np.ndarray:
    """Random messages over a narrow price range: trades, STP cancels, refusals of every kind."""
    rng = np.random.default_rng(seed)
    rows = np.zeros(n, dtype=MESSAGE_DTYPE)
    rows["action"] = rng.choice([0, 1, 2, 3, 4], size=n, p=[0.55, 0.15, 0.08, 0.2, 0.02])
    rows["order_id"] = rng.integers(0, 300, size=n)
    rows["side"] = rng.choice([0, 1, 2], size=n, p=[0.49, 0.49, 0.02])
    rows["price"] = rng.integers(-1, 30, size=n) + np.where(rows["side"] == 1, 10, 0)
    rows["qty"] = rng.integers(-1, 12, size=n)
    rows["tif"] = rng.choice([0, 1, 2, 3, 5], size=n, p=[0.7, 0.1, 0.1, 0.08, 0.02])
    rows["owner"] = rng.integers(0, 3, size=n)
    keep = (rows["action"] == 3) & (rng.random(n) < 0.5)
    rows["price"][keep] = 0  # a MODIFY that keeps its price
    return rows


def _python_outcomes(book, rows: np.ndarray) -> np.ndarray:
    return np.array([book.apply(*row) for row in rows.tolist()], dtype=np.int64).reshape(-1, 4)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("how", ["apply_each", "command_each"])
def test_c_commands_equal_python_apply_and_buffers_equal_drains(driver, seed, how):
    rows = _stream(seed)
    c_book = exchange.OrderBook(stp=STP_CANCEL_RESTING)
    py_book = exchange.OrderBook(stp=STP_CANCEL_RESTING)
    c_out = np.zeros((len(rows), 4), dtype=np.int64)
    c_trades, py_trades, c_stp, py_stp = [], [], [], []
    for start in range(0, len(rows), 100):  # read the buffers every 100 messages
        chunk = rows[start:start + 100]
        getattr(driver, how)(c_book, chunk, c_out[start:start + 100])
        c_trades += driver.take_trades(c_book)
        c_stp += driver.take_stp_cancels(c_book)
        assert driver.counts(c_book) == (0, 0)
        assert len(c_book.drain_trades()) == 0 and len(c_book.drain_stp_cancels()) == 0
        assert (_python_outcomes(py_book, chunk) == c_out[start:start + 100]).all()
        py_trades += records(py_book.drain_trades(), TRADE_FIELDS)
        py_stp += records(py_book.drain_stp_cancels(), STP_FIELDS)
    assert c_trades == py_trades and c_stp == py_stp
    assert snapshot(c_book, 50) == snapshot(py_book, 50)
    codes = set(c_out[:, 3].tolist())
    assert {0, -1, -2, -3, -4, -5, -6, -7, -8, -9} <= codes, codes  # every path was taken
    assert len(c_trades) > 200 and len(c_stp) > 20


def test_outcome_agrees_with_process(driver):
    """`process` reports the executed quantity (removed for a cancel) or the code."""
    rows = _stream(7)
    c_book, batch_book = exchange.OrderBook(), exchange.OrderBook()
    c_out = np.zeros((len(rows), 4), dtype=np.int64)
    driver.apply_each(c_book, rows, c_out)
    executed, removed, code = c_out[:, 0], c_out[:, 2], c_out[:, 3]
    expected = np.where(code < 0, code, np.where(rows["action"] == 1, removed, executed))
    assert (batch_book.process(rows) == expected).all()
    assert records(c_book.drain_trades()) == records(batch_book.drain_trades())


def test_trade_buffer_pointer_and_count_after_a_sweep(driver):
    book = exchange.OrderBook()
    for i, price in enumerate([100, 101, 101, 102]):
        book.submit(i + 1, SELL, price, 5)
    executed, leaves, code, fills, lots = driver.sweep(book, 9, 18)
    assert (executed, leaves, code, fills, lots) == (18, 0, 0, 4, 18)
    trades = records(book.drain_trades())
    assert [t["maker_leaves"] for t in trades] == [0, 0, 0, 2]
    assert [t["taker_leaves"] for t in trades] == [13, 8, 3, 0]
    assert driver.counts(book) == (0, 0)


def test_c_enum_values_are_the_python_enums(driver):
    for key, value in driver.c_enum_values().items():
        enum_name, member = key.split(".")
        assert getattr(exchange, enum_name)[member] == value, key
    assert driver.c_enum_values()["Side.BUY"] == BUY


def test_level_tree_grows_and_shrinks_back_to_nothing(driver):
    """20,000 levels per side in random order make a tree three nodes deep or more; cancelling
    them in another random order gives every node back (no node leaks, depth 0)."""
    rng = np.random.default_rng(11)
    book = exchange.OrderBook()
    prices = rng.permutation(np.arange(1, 20_001))
    for i, price in enumerate(prices.tolist()):
        book.submit(i, BUY, price, 1)
        book.submit(10**6 + i, SELL, 10**6 + price, 1)
    for side in (BUY, SELL):
        levels, depth, nodes = driver.ladder_shape(book, side)
        assert levels == 20_000 and depth >= 3 and nodes >= 20_000 // 32
    assert [tuple(r) for r in book.depth(3)[0].tolist()] == [(20_000, 1), (19_999, 1), (19_998, 1)]
    for i in rng.permutation(20_000).tolist():
        book.cancel(i)
        book.cancel(10**6 + i)
    assert [driver.ladder_shape(book, side) for side in (BUY, SELL)] == [(0, 0, 0), (0, 0, 0)]
    assert book.best_bid() is None and len(book) == 0
