"""Smoke check of an installed exchange wheel: import, a book, a small exchange day, clearing.

Run with the interpreter of an environment the wheel was installed into (no Cython, no
compiler, no source tree on the path): ``python tests/wheel_smoke.py``. Used by
tests/test_wheel.py (a fresh virtual environment) and cibuildwheel's test-command. Exits
non-zero with an AssertionError or ImportError if anything is wrong; prints one line when all
is well.
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path


def check_installed_not_source() -> None:
    """The compiled module comes from site-packages, not from a checkout's src/."""
    import exchange._book as book

    where = Path(book.__file__).resolve()
    assert "site-packages" in where.parts, f"exchange._book imported from {where}"
    assert where.suffix in (".so", ".pyd"), where


def check_book() -> None:
    from exchange import OrderBook, Side

    book = OrderBook()
    book.submit(1, Side.SELL, 10_050, 5)
    book.submit(2, Side.SELL, 10_040, 3)
    assert book.submit(3, Side.BUY, 10_050, 6) == 6
    trades = book.drain_trades()
    assert trades["price"].tolist() == [10_040, 10_050] and trades["qty"].tolist() == [3, 3]
    assert book.best_ask() == (10_050, 2)


def check_exchange_day() -> None:
    from exchange import Exchange, Regime, Side
    from exchange.clearing import net, settle

    ex = Exchange()
    ex.add_member(1, "Seller")
    ex.add_member(2, "Buyer", regime=Regime.PREFUNDED)
    ex.ledger.deposit(2, "KZT", 600_000_000)
    ex.ledger.deposit(1, "USD", 1_000_000)
    day = dt.date(2026, 11, 27)
    ex.begin_day(day)
    ex.open_session("morning")
    ex.submit(1, "USDKZT_TOD", Side.SELL, price="512.35", qty=10_000)
    result = ex.submit(2, "USDKZT_TOD", Side.BUY, price="512.40", qty=10_000)
    assert result.executed_qty == 10, result
    ex.close_session("morning")
    ex.end_of_day()
    assert len(net(ex.trades()).net) > 0
    run = settle(ex.ledger, day.isoformat(), ex.trades(), roll_to="2026-11-30")
    assert run.status == "settled" and ex.ledger.balance(2, "USD") == 1_000_000


def check_journal() -> None:
    """The compiled frame queue ships too: a journal written and read back."""
    import tempfile

    from exchange.journal import BeginDay, Durability, JournalReader, JournalWriter, Submit

    with tempfile.TemporaryDirectory() as folder:
        with JournalWriter(folder, Durability.fsync_each()) as journal:
            journal.append(BeginDay(dt.date(2026, 11, 27)), 0.0)
            journal.submit(36_000.0, 1, 0, 0, 51_235, 10, 0)
        commands = [entry.command for entry in JournalReader(folder)]
    assert commands == [BeginDay(dt.date(2026, 11, 27)), Submit(1, 0, 0, 51_235, 10, 0)]


def main() -> int:
    check_installed_not_source()
    check_book()
    check_exchange_day()
    check_journal()
    import exchange

    print(f"wheel smoke: ok (exchange {exchange.__version__}, Python "
          f"{sys.version_info.major}.{sys.version_info.minor})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
