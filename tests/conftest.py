"""Shared test configuration: the hypothesis profile and the book fixtures.

The `make_book` fixture runs a test against both the pure-Python `ModelBook` (tests/model.py)
and the compiled `exchange.OrderBook`, so the model is held to the same rule book as the engine.
An unbuilt extension is an error, never a skip: CI must not pass without the compiled book.
"""
from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import settings
from model import ModelBook

# deadline=None: the machine is shared, so wall-clock deadlines would make tests flaky.
settings.register_profile("ci", deadline=None, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def compiled_book_class():
    """`exchange.OrderBook`; an ImportError here means the extension is not built."""
    import exchange

    return exchange.OrderBook


@pytest.fixture(params=["model", "compiled"])
def make_book(request) -> Callable[..., object]:
    """A factory `make_book(stp=0)` for the model or the compiled book."""
    if request.param == "model":
        return ModelBook
    order_book = compiled_book_class()
    return lambda stp=0: order_book(stp=stp)


@pytest.fixture
def compiled():
    """The `exchange` module, for checks of the compiled book's own types and dtypes."""
    compiled_book_class()
    import exchange

    return exchange
