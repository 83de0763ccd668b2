"""Shared test configuration: the hypothesis profile, test kinds, and the book fixtures.

The `make_book` fixture runs a test against both the pure-Python `ModelBook` (tests/model.py)
and the compiled `exchange.OrderBook`, so the model is held to the same rule book as the engine.
An unbuilt extension is an error, never a skip: CI must not pass without the compiled book.

Kinds (markers registered in pyproject.toml): every test is `property` if hypothesis drives it,
else its file's kind in `KINDS`; a test file missing from `KINDS` stops the run. Tests that take
more than about 2 s are marked `slow`, in their file or, for files not yet marked by their
owners, in `SLOW` here. `pytest -m "not slow"` is the quick loop; CI runs everything.
"""
from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import settings

from model import ModelBook

#: The kind of each test file's tests: unit (one module or class, in process) or integration
#: (several layers, subprocesses, files, real data). Hypothesis tests are "property" anywhere.
KINDS = {
    "test_baseline_agrees.py": "unit",
    "test_bench_flow.py": "unit",
    "test_book_boundary.py": "unit",
    "test_book_model.py": "unit",
    "test_book_pxd.py": "integration",
    "test_book_rules.py": "unit",
    "test_calendar.py": "unit",
    "test_clearing_crash.py": "integration",
    "test_clearing_ledger.py": "unit",
    "test_clearing_netting.py": "unit",
    "test_clearing_settlement.py": "integration",
    "test_dependencies.py": "unit",
    "test_digest.py": "integration",
    "test_exchange_capture.py": "integration",
    "test_exchange_orders.py": "integration",
    "test_exchange_prefunded.py": "integration",
    "test_exchange_prefunded_days.py": "integration",
    "test_exchange_process.py": "integration",
    "test_exchange_regressions.py": "integration",
    "test_exchange_sessions.py": "integration",
    "test_fees.py": "unit",
    "test_instruments.py": "unit",
    "test_journal_commands.py": "unit",
    "test_journal_files.py": "integration",
    "test_journaling.py": "integration",
    "test_kill_recovery.py": "integration",
    "test_lobster_data.py": "integration",
    "test_lobster_replay.py": "integration",
    "test_readme.py": "integration",
    "test_recovery.py": "integration",
    "test_replay_cli.py": "integration",
    "test_sim_agents.py": "integration",
    "test_sim_cli.py": "integration",
    "test_sim_day.py": "integration",
    "test_sim_days.py": "integration",
    "test_sim_output.py": "integration",
    "test_snapshots.py": "integration",
    "test_sweep.py": "integration",
    "test_wheel.py": "integration",
}

#: Slow tests (over about 2 s here) of files whose owners have not marked them yet; a name
#: without "::" marks the whole file. To move into the files as @pytest.mark.slow.
SLOW = {
    "test_clearing_crash.py::test_killed_at_a_random_moment_leaves_before_or_after",
    "test_clearing_crash.py::test_killed_inside_the_transaction_leaves_the_state_before",
    "test_clearing_netting.py::test_matches_per_trade_reference",
    "test_clearing_netting.py::test_every_asset_and_date_nets_to_zero",
    "test_sim_day.py",  # one simulated day per module, and three more for the seed test
    "test_sim_days.py",  # three simulated days per module, and more for the seed tests
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test its kind marker, and `slow` to the tests listed in SLOW."""
    for item in items:
        name = item.path.name
        if name not in KINDS:
            raise pytest.UsageError(f"{name}: give its tests a kind in tests/conftest.py KINDS")
        driven = getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
        item.add_marker("property" if driven else KINDS[name])
        function = getattr(item, "originalname", item.name)
        if name in SLOW or f"{name}::{function}" in SLOW:
            item.add_marker("slow")


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
