"""Cost of journaling a command, per durability policy, beside the exchange call it will guard.

    python benchmarks/bench_journal.py [--messages N] [--repeat R] [--seed S] [--dir DIR]

Workload: the limit orders of benchmarks/flow.py's seeded standard flow (as bench_exchange.py),
journaled as Submit records. Each figure is the median of R runs, each on a fresh journal in a
new folder under ``--dir`` (default: a temporary folder; give one on the disk you care about:
on tmpfs an fsync costs nothing):

  * ``Exchange.submit deferred``: the call the journal will be added to (bench_exchange.py's
    case, same rows), the baseline of the ratios;
  * ``Exchange.submit + journal submit, group``: both in the same loop, each order journaled
    right after the call (what the venue's wiring will do, less its glue): the ratio to the
    baseline previews issue 11's budget (at most 1.25x with group commit);
  * ``journal submit, <policy>``: ``JournalWriter.submit`` (the venue's fast path: one struct
    pack, a CRC, a queue append) under ``none``, ``group`` (1024 records / 10 ms) and ``each``
    (an fsync per record: only the first ``--each`` rows, it is slow on purpose);
  * ``journal append(Submit(...)), group``: the checked command-object path;
  * ``journal process, <policy>``: ``JournalWriter.process`` of batches of 10,000 orders of the
    planned ``Exchange.process`` dtype (37 bytes an order), per order.

Times are CPU seconds of this process (``time.process_time``, the flusher thread included) and
wall seconds (what an fsync costs shows only there); ratios are journal / submit in the same
run. The writer's close (final sync) is inside the timed span. Read the figures with the load
average printed first.
"""
from __future__ import annotations

import argparse
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

from bench_exchange import SYMBOL, limit_rows, make_exchange, time_submit  # noqa: E402
from exchange.journal import Durability, JournalWriter, Submit  # noqa: E402
from flow import standard_flow  # noqa: E402

#: The planned Exchange.process input (issue 9): 37 bytes an order.
ORDERS = np.dtype([("action", "i1"), ("order_id", "<i8"), ("member", "<i8"),
                   ("instrument", "<u2"), ("side", "i1"), ("price_ticks", "<i8"),
                   ("lots", "<i8"), ("tif", "i1")])
BATCH = 10_000
POLICIES = {"none": Durability.none(), "group": Durability.group(),
            "each": Durability.fsync_each()}


class Timed:
    """CPU and wall seconds of one run."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0

    def __enter__(self) -> Timed:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


def journal_submits(folder: Path, rows: list[tuple], policy: Durability) -> Timed:
    with Timed() as timed, JournalWriter(folder, policy) as writer:
        submit = writer.submit
        t = 36_000.0
        for owner, side, price, qty, tif in rows:
            submit(t, owner, 0, side, price, qty, tif)
    return timed


def submit_journaled(folder: Path, rows: list[tuple], policy: Durability) -> Timed:
    """Exchange.submit and JournalWriter.submit of each order in one loop (the exchange is
    built outside the timed span, as bench_exchange does)."""
    ex = make_exchange()
    instrument = ex.instrument_id(SYMBOL)
    with Timed() as timed, JournalWriter(folder, policy) as writer:
        submit, journal, now = ex.submit, writer.submit, ex.now
        for owner, side, price, qty, tif in rows:
            submit(owner, SYMBOL, side, tif=tif, price_ticks=price, lots=qty)
            journal(now(), owner, instrument, side, price, qty, tif)
    return timed


def journal_objects(folder: Path, rows: list[tuple], policy: Durability) -> Timed:
    with Timed() as timed, JournalWriter(folder, policy) as writer:
        append = writer.append
        for owner, side, price, qty, tif in rows:
            append(Submit(owner, 0, side, price, qty, tif), 36_000.0)
    return timed


def journal_batches(folder: Path, batches: list[np.ndarray], policy: Durability) -> Timed:
    with Timed() as timed, JournalWriter(folder, policy) as writer:
        for batch in batches:
            writer.process(36_000.0, batch)
    return timed


def order_batches(rows: list[tuple]) -> list[np.ndarray]:
    orders = np.zeros(len(rows), ORDERS)
    owner, side, price, qty, tif = (np.array(c) for c in zip(*rows))
    orders["member"], orders["side"], orders["price_ticks"] = owner, side, price
    orders["lots"], orders["tif"] = qty, tif
    return [orders[i:i + BATCH] for i in range(0, len(orders), BATCH)]


def median(run: Callable[[Path], Timed], repeat: int, root: Path) -> tuple[float, float]:
    """Median CPU and wall seconds of ``repeat`` runs, each in a new folder."""
    cpu, wall = [], []
    for i in range(repeat):
        folder = root / f"run{i}"
        timed = run(folder)
        shutil.rmtree(folder, ignore_errors=True)  # the baseline makes none
        cpu.append(timed.cpu)
        wall.append(timed.wall)
    return statistics.median(cpu), statistics.median(wall)


def submit_baseline(rows: list[tuple]) -> Timed:
    timed = Timed()
    with timed:
        cpu = time_submit(rows)
    timed.cpu = cpu  # bench_exchange times the calls alone (no exchange setup)
    return timed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--each", type=int, default=2_000,
                        help="rows journaled under fsync-each (default 2000)")
    parser.add_argument("--dir", default=None, help="folder for the journals (default: temp)")
    args = parser.parse_args(argv)
    rows = limit_rows(standard_flow(args.messages, seed=args.seed, n_owners=100))
    batches = order_batches(rows)
    each_rows = rows[:args.each]
    root = Path(tempfile.mkdtemp(prefix="bench-journal-", dir=args.dir))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {len(rows):,} "
          f"limit orders, median of {args.repeat}; journals in {root}")
    cases: dict[str, tuple[Callable[[Path], Timed], int]] = {
        "Exchange.submit deferred (baseline)": (lambda f: submit_baseline(rows), len(rows)),
        "Exchange.submit + journal submit, group": (
            lambda f: submit_journaled(f, rows, POLICIES["group"]), len(rows)),
        "journal submit, none": (lambda f: journal_submits(f, rows, POLICIES["none"]),
                                 len(rows)),
        "journal submit, group": (lambda f: journal_submits(f, rows, POLICIES["group"]),
                                  len(rows)),
        "journal submit, each": (lambda f: journal_submits(f, each_rows, POLICIES["each"]),
                                 len(each_rows)),
        "journal append(Submit(...)), group": (
            lambda f: journal_objects(f, rows, POLICIES["group"]), len(rows)),
        "journal process, none (per order)": (
            lambda f: journal_batches(f, batches, POLICIES["none"]), len(rows)),
        "journal process, group (per order)": (
            lambda f: journal_batches(f, batches, POLICIES["group"]), len(rows)),
    }
    results: dict[str, dict[str, float]] = {}
    try:
        for name, (run, n) in cases.items():
            cpu, wall = median(run, args.repeat, root)
            results[name] = {"us_cpu": cpu / n * 1e6, "us_wall": wall / n * 1e6,
                             "records_per_s_cpu": n / cpu, "records_per_s_wall": n / wall}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = results["Exchange.submit deferred (baseline)"]
    for name, r in results.items():
        ratio = (f"{r['us_cpu'] / base['us_cpu']:6.1%} / {r['us_wall'] / base['us_wall']:6.1%}"
                 if r is not base else " " * 15)
        print(f"  {name:40s} {r['us_cpu']:8.3f} us CPU {r['records_per_s_cpu']:12,.0f}/s  "
              f"wall {r['us_wall']:8.3f} us {r['records_per_s_wall']:12,.0f}/s  "
              f"of the baseline (CPU/wall) {ratio}")
    print(json.dumps({"load": os.getloadavg()[0], "results": {
        k: {m: round(v, 4) for m, v in r.items()} for k, r in results.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
