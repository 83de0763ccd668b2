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
    deferred members; per message.

Times are CPU seconds of this process (``time.process_time``): on a shared machine they
move far less with other processes' load than wall time, which is printed beside them. Read the
figures with the load average printed first.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import exchange  # noqa: F401
except ImportError:  # not installed: use the in-place build of this checkout
    sys.path.insert(0, str(HERE.parent / "src"))

import numpy as np  # noqa: E402

from exchange import STP, OrderBook  # noqa: E402
from exchange.venue.exchange import Exchange  # noqa: E402
from exchange.venue.members import Regime  # noqa: E402
from flow import standard_flow  # noqa: E402

SYMBOL = "USDKZT_TOD"
DAY = dt.date(2024, 3, 5)  # a Tuesday, business day in KZ and the US
OWNERS = 100
TARGET_US = 10.0  # per deferred submit
WALL: list[float] = []  # wall seconds of each timed run, beside the CPU seconds returned


def _clock() -> float:
    WALL.append(time.perf_counter())
    return time.process_time()


def make_exchange(regime: Regime = Regime.DEFERRED, stp: STP = STP.CANCEL_INCOMING,
                  subscriber: bool = False) -> Exchange:
    ex = Exchange(stp=stp)
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


def time_submit(rows: list[tuple], **kw) -> float:
    ex = make_exchange(**kw)
    submit = ex.submit
    t0 = _clock()
    for owner, side, price, qty, tif in rows:
        submit(owner, SYMBOL, side, tif=tif, price_ticks=price, lots=qty)
    return _clock() - t0


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
            except KeyError:
                pass
    elapsed = _clock() - t0
    assert len(ex.trades()) > 0
    return elapsed


def median(run: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Median CPU seconds and median wall seconds of ``repeat`` runs."""
    cpu, wall = [], []
    for _ in range(repeat):
        WALL.clear()
        cpu.append(run())
        wall.append(WALL[-1] - WALL[0])
    return statistics.median(cpu), statistics.median(wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
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
    }
    results = {}
    for name, (run, n) in cases.items():
        seconds, wall = median(run, args.repeat)
        us = seconds / n * 1e6
        results[name] = {"us_per_call": round(us, 3), "calls_per_s": round(n / seconds),
                         "wall_us_per_call": round(wall / n * 1e6, 3)}
        print(f"  {name:46s} {us:7.2f} us/call CPU {n / seconds:11,.0f} calls/s"
              f"   (wall {wall / n * 1e6:6.2f} us)")
    deferred = results["Exchange.submit deferred"]["us_per_call"]
    verdict = "PASS" if deferred < TARGET_US else "MISS"
    print(f"target: deferred submit < {TARGET_US} us -> {verdict}")
    print(json.dumps({"load": os.getloadavg()[0], "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
