"""Cost of one order through the exchange facade (``Exchange.submit`` and friends).

    python benchmarks/bench_exchange.py [--messages N] [--repeat R] [--seed S]

Workload: the seeded standard flow of benchmarks/flow.py on one instrument (USDKZT_TOD, mid
100,000 ticks = 1,000.00 KZT), 100 members. Each figure is the median of R runs on a fresh
exchange (morning session open), in microseconds per call and calls per second:

  * ``book.submit``: the flow's limit orders straight into a bare ``OrderBook`` (same STP):
    the floor the facade adds to;
  * ``submit`` deferred: the same limit orders through ``Exchange.submit(price_ticks=, lots=)``
    for DEFERRED members without credit limits (the simulation's common case);
  * ``submit`` + subscriber: the same with an event subscriber (events are built);
  * ``submit`` pre-funded: every member PREFUNDED with ample ledger funds (holds, ledger calls);
  * ``submit`` STP cancel-resting: deferred members, ``STP.CANCEL_RESTING`` (drains STP cancels);
  * full flow: submit + market + cancel (a cancel of a dead order raises and is caught),
    deferred members; per message;
  * ``Exchange.process`` of the whole flow in one batch (ORDER_DTYPE), deferred and pre-funded
    members, beside ``OrderBook.process`` of the same flow on a bare book (the ratios are the
    issue's targets: 0.30 and 0.15);
  * journaling (issue 11's budget: at most 25% of the unjournaled throughput): ``submit``
    deferred, ``Exchange.process`` of the flow in one batch and in batches of 10,000 rows, each
    run unjournaled and then journaled with group commit (``Durability.group()``, the default)
    into a new folder under ``--journal-dir``, alternating, max(R, 11) pairs; the journaled
    run's timed part ends with ``journal.sync()``, so every record is on disk. The throughput
    ratio of the medians is given by wall time (the journal's thread writes beside the caller)
    and by CPU time (that thread's work counted too); the target is judged on wall time.

Times are CPU seconds of this process (``time.process_time``): on a shared machine they
move far less with other processes' load than wall time, which is printed beside them. Read the
figures with the load average printed first.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import exchange  # noqa: F401
except ImportError:  # not installed: use the in-place build of this checkout
    sys.path.insert(0, str(HERE.parent / "src"))

import numpy as np  # noqa: E402

from exchange import ORDER_DTYPE, STP, OrderBook, OrderRejected  # noqa: E402
from exchange.venue.exchange import Exchange  # noqa: E402
from exchange.venue.members import Regime  # noqa: E402
from flow import standard_flow  # noqa: E402

SYMBOL = "USDKZT_TOD"
DAY = dt.date(2024, 3, 5)  # a Tuesday, business day in KZ and the US
OWNERS = 100
WALL: list[float] = []  # wall seconds of each timed run, beside the CPU seconds returned


def _clock() -> float:
    WALL.append(time.perf_counter())
    return time.process_time()


JOURNAL_DIR: list[str | None] = [None]  # --journal-dir: where journaled runs write


def make_exchange(regime: Regime = Regime.DEFERRED, stp: STP = STP.CANCEL_INCOMING,
                  subscriber: bool = False, journal: bool = False) -> Exchange:
    folder = tempfile.mkdtemp(prefix="bench-journal-", dir=JOURNAL_DIR[0]) if journal else None
    ex = Exchange(stp=stp, journal=folder)
    for owner in range(1, OWNERS + 1):
        ex.add_member(owner, f"M{owner}", regime)
        if regime is Regime.PREFUNDED:
            ex.deposit(owner, "KZT", 10**16)
            ex.deposit(owner, "USD", 10**16)
    if subscriber:
        seen = []
        ex.subscribe(lambda e: seen.append(e) if len(seen) < 1000 else None)
    ex.begin_day(DAY)
    ex.open_session("morning")
    return ex


def limit_rows(messages: np.ndarray) -> list[tuple]:
    new = messages[messages["action"] == 0]
    return list(zip(new["owner"].tolist(), new["side"].tolist(), new["price"].tolist(),
                    new["qty"].tolist(), new["tif"].tolist()))


def time_book(rows: list[tuple], stp: STP) -> float:
    book = OrderBook(stp=stp)
    submit = book.submit
    t0 = _clock()
    for i, (owner, side, price, qty, tif) in enumerate(rows, 1):
        submit(i, side, price, qty, tif, owner)
        if i & 1023 == 0:
            book.drain_trades()
    return _clock() - t0


def _synced(ex: Exchange) -> None:
    """A journaled run's last timed step: every record on disk."""
    if ex.journal is not None:
        ex.journal.sync()


def _discard(ex: Exchange) -> None:
    """Close and delete a journaled run's journal (after the timing)."""
    if ex.journal is not None:
        folder = ex.journal.folder
        ex.close()
        shutil.rmtree(folder)


def time_submit(rows: list[tuple], **kw) -> float:
    ex = make_exchange(**kw)
    submit = ex.submit
    t0 = _clock()
    for owner, side, price, qty, tif in rows:
        submit(owner, SYMBOL, side, tif=tif, price_ticks=price, lots=qty)
    _synced(ex)
    elapsed = _clock() - t0
    _discard(ex)
    return elapsed


def time_flow(messages: np.ndarray) -> float:
    ex = make_exchange()
    owner_of = np.zeros(len(messages) + 2, np.int64)
    placed = messages[messages["action"] != 1]
    owner_of[placed["order_id"]] = placed["owner"]
    rows = list(zip(messages["action"].tolist(), messages["order_id"].tolist(),
                    messages["side"].tolist(), messages["price"].tolist(),
                    messages["qty"].tolist(), messages["tif"].tolist(),
                    owner_of[messages["order_id"]].tolist()))
    submit, market, cancel = ex.submit, ex.market, ex.cancel
    t0 = _clock()
    for action, oid, side, price, qty, tif, owner in rows:
        if action == 0:
            submit(owner, SYMBOL, side, tif=tif, price_ticks=price, lots=qty)
        elif action == 2:
            market(owner, SYMBOL, side, lots=qty)
        else:
            try:
                cancel(owner, oid)
            except (KeyError, OrderRejected):  # a dead order, or an id no member placed
                pass
    elapsed = _clock() - t0
    assert len(ex.trades()) > 0
    return elapsed


def exchange_orders(messages: np.ndarray, instrument: int) -> np.ndarray:
    """The flow as ``ORDER_DTYPE`` rows for ``Exchange.process``: new and market orders carry
    id 0 (the exchange gives out 1, 2, ... in the flow's order, the ids the flow uses), a
    cancel is sent by the member that placed the order."""
    owner_of = np.zeros(len(messages) + 2, np.int64)
    placed = messages[messages["action"] != 1]
    owner_of[placed["order_id"]] = placed["owner"]
    orders = np.zeros(len(messages), ORDER_DTYPE)
    cancel = messages["action"] == 1
    orders["action"] = messages["action"]
    orders["order_id"] = np.where(cancel, messages["order_id"], 0)
    orders["member"] = np.where(cancel, owner_of[messages["order_id"]], messages["owner"])
    orders["instrument"] = instrument
    orders["side"], orders["price_ticks"] = messages["side"], messages["price"]
    orders["lots"], orders["tif"] = messages["qty"], messages["tif"]
    return orders


def time_process(messages: np.ndarray, **kw) -> float:
    """``Exchange.process`` of the whole flow in one batch."""
    ex = make_exchange(**kw)
    orders = exchange_orders(messages, ex.instrument_id(SYMBOL))
    t0 = _clock()
    results = ex.process(orders)
    _synced(ex)
    elapsed = _clock() - t0
    assert len(ex.trades()) > 0 and (results["code"] >= 0).sum() > len(orders) // 2
    _discard(ex)
    return elapsed


def time_process_stream(messages: np.ndarray, batch: int = 10_000, **kw) -> float:
    """``Exchange.process`` of the flow in batches of ``batch`` rows, one after the other (a
    journal's group commit writes one batch while the next is matched)."""
    ex = make_exchange(**kw)
    orders = exchange_orders(messages, ex.instrument_id(SYMBOL))
    batches = [orders[i:i + batch] for i in range(0, len(orders), batch)]
    process = ex.process
    t0 = _clock()
    for rows in batches:
        process(rows)
    _synced(ex)
    elapsed = _clock() - t0
    assert len(ex.trades()) > 0
    _discard(ex)
    return elapsed


def time_book_process(messages: np.ndarray) -> float:
    book = OrderBook(stp=STP.CANCEL_INCOMING)
    t0 = _clock()
    book.process(messages)
    return _clock() - t0


def median(run: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Median CPU seconds and median wall seconds of ``repeat`` runs."""
    cpu, wall = [], []
    for _ in range(repeat):
        WALL.clear()
        cpu.append(run())
        wall.append(WALL[-1] - WALL[0])
    return statistics.median(cpu), statistics.median(wall)


def paired(run: Callable[[bool], float], repeat: int) -> dict[str, float]:
    """``repeat`` pairs of runs, unjournaled then journaled (alternating, so both see the same
    machine load): the throughput ratio journaled/unjournaled of the median wall times, of the
    median CPU times (the journal thread's CPU counted too) and of the best wall times. A fresh
    exchange's first touches of memory make single runs bimodal on this machine (glibc hands
    back recycled or fresh pages), hence medians of many pairs."""
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeat):
        for journal in (False, True):
            WALL.clear()
            cpu[journal].append(run(journal))
            wall[journal].append(WALL[-1] - WALL[0])
    med = statistics.median
    return {"wall": med(wall[False]) / med(wall[True]), "cpu": med(cpu[False]) / med(cpu[True]),
            "best_wall": min(wall[False]) / min(wall[True])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--journal-dir", default=None, metavar="DIR",
                        help="where the journaled cases write (default: the system's temporary "
                             "folder; give a folder on the disk that matters)")
    args = parser.parse_args(argv)
    JOURNAL_DIR[0] = args.journal_dir
    messages = standard_flow(args.messages, seed=args.seed, n_owners=OWNERS)
    rows = limit_rows(messages)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"{len(rows):,} limit orders, {len(messages):,} messages, median of {args.repeat}")
    cases = {
        "book.submit (bare book, floor)": (lambda: time_book(rows, STP.CANCEL_INCOMING),
                                           len(rows)),
        "Exchange.submit deferred": (lambda: time_submit(rows), len(rows)),
        "Exchange.submit deferred + subscriber": (lambda: time_submit(rows, subscriber=True),
                                                  len(rows)),
        "Exchange.submit pre-funded": (lambda: time_submit(rows, regime=Regime.PREFUNDED),
                                       len(rows)),
        "Exchange.submit deferred, STP cancel-resting": (
            lambda: time_submit(rows, stp=STP.CANCEL_RESTING), len(rows)),
        "full flow (submit/market/cancel) deferred": (lambda: time_flow(messages),
                                                      len(messages)),
        "OrderBook.process, the flow (bare book)": (lambda: time_book_process(messages),
                                                    len(messages)),
        "Exchange.process deferred": (lambda: time_process(messages), len(messages)),
        "Exchange.process pre-funded": (
            lambda: time_process(messages, regime=Regime.PREFUNDED), len(messages)),
    }
    results = {}
    for name, (run, n) in cases.items():
        seconds, wall = median(run, args.repeat)
        us = seconds / n * 1e6
        results[name] = {"us_per_call": round(us, 3), "calls_per_s": round(n / seconds),
                         "wall_us_per_call": round(wall / n * 1e6, 3)}
        print(f"  {name:56s} {us:7.2f} us/call CPU {n / seconds:11,.0f} calls/s"
              f"   (wall {wall / n * 1e6:6.2f} us)")
    deferred = results["Exchange.submit deferred"]["calls_per_s"]
    prefunded = results["Exchange.submit pre-funded"]["us_per_call"]
    book = results["OrderBook.process, the flow (bare book)"]["calls_per_s"]
    targets = [
        ("single Exchange.submit, deferred, calls/s", deferred, 1_500_000),
        ("pre-funded submit within 2x of deferred (ratio of us/call)",
         results["Exchange.submit deferred"]["us_per_call"] / prefunded, 0.5),
        ("Exchange.process deferred / OrderBook.process",
         results["Exchange.process deferred"]["calls_per_s"] / book, 0.30),
        ("Exchange.process pre-funded / OrderBook.process",
         results["Exchange.process pre-funded"]["calls_per_s"] / book, 0.15),
    ]
    pairs = max(args.repeat, 11)
    print(f"  journaled (group commit) vs not, runs alternating, {pairs} pairs:")
    journal_cases = {
        "Exchange.submit deferred": lambda journal: time_submit(rows, journal=journal),
        "Exchange.process deferred, one batch": lambda journal: time_process(messages,
                                                                             journal=journal),
        "Exchange.process deferred, batches of 10,000": (
            lambda journal: time_process_stream(messages, journal=journal)),
    }
    for name, run in journal_cases.items():
        ratios = paired(run, pairs)
        results[f"{name}, journaled/unjournaled throughput"] = ratios
        print(f"  {name:46s} throughput journaled/unjournaled, medians: wall "
              f"{ratios['wall']:.3f}, CPU {ratios['cpu']:.3f}; best wall {ratios['best_wall']:.3f}")
        targets.append((f"journaled/unjournaled {name}, wall", ratios["wall"], 0.75))
    for label, value, target in targets:
        print(f"  {label:70s} {value:8,.3f}  target >= {target:,}: "
              f"{'PASS' if value >= target else 'MISS'}")
    print(json.dumps({"load": os.getloadavg()[0], "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
