"""Benchmark the compiled order book against its targets, in one run.

    python benchmarks/bench_book.py [--messages N] [--repeat R] [--seed S] [--resting N]

Measures, on the standard seeded flow of benchmarks/flow.py (60% limit, 28% cancel, 12% market):
  * ``OrderBook.process`` throughput: median of R runs, each on a fresh book;
  * single calls from Python (submit / cancel / market dispatched in a Python loop over
    ``.tolist()`` rows; a dead cancel's KeyError is caught): median of R runs;
  * per-call latency p50 / p99 / p99.9 of those single calls (``perf_counter_ns`` around each
    call, minus the median cost of an empty ``perf_counter_ns`` pair);
  * submit + cancel alone: calls/s of a non-crossing submit and a cancel of the oldest order,
    on a book kept at a steady 10,000 orders within 20 ticks of the touch;
  * memory per resting order: RSS growth of a fresh child process while it rests N orders;
  * the same flow through the pure-Python baseline book (benchmarks/baseline.py);
  * price levels at any depth: ``--levels`` (1,000,000) distinct prices made and then cancelled
    in random order, against the same in touch order (each new price the best, the best
    cancelled first), and the ratio (target <= 10x);
  * far orders: submit + cancel pairs of one member at new prices among 300,000 levels that
    another member rests far from the touch, against the same pairs on a book without them.
Every rate is given by wall clock (what the targets are judged on) and per second of the
thread's CPU time (``time.thread_time``), which on a shared machine leaves out the time spent
waiting for a CPU. Prints a rich table with each figure beside its target (PASS/MISS on both
clocks) and then one JSON line.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import exchange
except ImportError:  # not installed: use the in-place build of this checkout
    sys.path.insert(0, str(HERE.parent / "src"))
    import exchange

from baseline import BaselineBook  # noqa: E402
from flow import distinct_prices, resting_orders, standard_flow  # noqa: E402

TARGET_PROCESS = 10_000_000  # msg/s through process()
TARGET_RATIO = 12.0  # process / baseline
TARGET_SINGLE = 2_000_000  # calls/s from Python
TARGET_BYTES = 128  # bytes per resting order
TARGET_LEVELS_RATIO = 10.0  # random-order levels / touch-order levels
FAR_ORDERS = 300_000  # levels rested far from the touch in the far-orders case
STEADY_BOOK = 10_000  # resting orders kept while timing submit + cancel


# -- measurements ------------------------------------------------------------------------------


class Stopwatch:
    """Wall-clock seconds and this thread's CPU seconds of a ``with`` block.

    On a shared machine the wall clock also counts time spent waiting for a CPU; the thread's
    CPU time does not (cache contention from neighbours still shows in both).
    """

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.thread_time() - self._cpu


def rates(run: Callable[[], Stopwatch], n: int, repeat: int) -> dict:
    """``repeat`` runs of ``n`` items: medians and every run's rate, by wall clock and CPU time."""
    watches = [run() for _ in range(repeat)]
    wall = [n / w.wall for w in watches]
    cpu = [n / max(w.cpu, 1e-9) for w in watches]
    return {"per_s": statistics.median(wall), "per_cpu_s": statistics.median(cpu),
            "best_per_s": max(wall), "runs": wall, "cpu_runs": cpu}


def time_process(messages: np.ndarray) -> Stopwatch:
    """One ``process`` of the whole flow on a fresh book."""
    book = exchange.OrderBook()
    with Stopwatch() as watch:
        book.process(messages)
    return watch


def run_single_calls(book, rows: list) -> None:
    """Apply ``rows`` (tuples of MESSAGE_DTYPE fields) through the single-call API."""
    submit, cancel, market = book.submit, book.cancel, book.market
    for action, oid, side, price, qty, tif, owner in rows:
        if action == 0:
            submit(oid, side, price, qty, tif, owner)
        elif action == 1:
            try:
                cancel(oid)
            except KeyError:  # the flow's dead cancels: the order traded or never rested
                pass
        else:
            market(oid, side, qty, owner)


def time_single_calls(rows: list) -> Stopwatch:
    """The flow applied through single calls on a fresh book."""
    book = exchange.OrderBook()
    with Stopwatch() as watch:
        run_single_calls(book, rows)
    return watch


def time_baseline(messages: np.ndarray) -> Stopwatch:
    """The pure-Python baseline processing the flow (its ``tolist`` included)."""
    book = BaselineBook()
    with Stopwatch() as watch:
        book.process(messages)
    return watch


def timer_overhead_ns(samples: int = 200_000) -> int:
    """Median ns between two back-to-back ``perf_counter_ns`` calls: what timing adds to a call."""
    clock = time.perf_counter_ns
    gaps = []
    for _ in range(samples):
        t0 = clock()
        t1 = clock()
        gaps.append(t1 - t0)
    return int(statistics.median(gaps))


def call_latencies(rows: list) -> dict[str, np.ndarray]:
    """Raw ns of each single call (timer included), by kind: submit, cancel, market."""
    book = exchange.OrderBook()
    submit, cancel, market = book.submit, book.cancel, book.market
    clock = time.perf_counter_ns
    out: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for action, oid, side, price, qty, tif, owner in rows:
        if action == 0:
            t0 = clock()
            submit(oid, side, price, qty, tif, owner)
            t1 = clock()
        elif action == 1:
            t0 = clock()
            try:
                cancel(oid)
            except KeyError:
                pass
            t1 = clock()
        else:
            t0 = clock()
            market(oid, side, qty, owner)
            t1 = clock()
        out[action].append(t1 - t0)
    return {name: np.array(out[k], dtype=np.int64) for k, name in enumerate(("submit", "cancel", "market"))}


def percentiles(ns: np.ndarray, overhead: int) -> dict[str, float]:
    """p50 / p99 / p99.9 of ``ns - overhead`` (clipped at 0)."""
    p50, p99, p999 = np.percentile(np.maximum(ns - overhead, 0), [50, 99, 99.9])
    return {"p50": float(p50), "p99": float(p99), "p99.9": float(p999), "calls": len(ns)}


def submit_cancel_workload(pairs: int, seed: int) -> tuple[np.ndarray, list]:
    """Messages that fill a book to ``STEADY_BOOK`` orders, and ``pairs`` rows
    ``(order_id, side, price, qty, id_to_cancel)``: each submit rests (no crossing) and each
    cancel takes the oldest order, so the book stays at ``STEADY_BOOK``. Prices sit within 20
    ticks of the touch, where real orders go, so levels are rarely made or dropped and the figure
    is the cost of the two calls, not of moving deep price levels around."""
    pool = resting_orders(STEADY_BOOK + pairs, seed=seed, levels=20)
    fresh = pool[STEADY_BOOK:]
    rows = list(zip(fresh["order_id"].tolist(), fresh["side"].tolist(), fresh["price"].tolist(),
                    fresh["qty"].tolist(), pool["order_id"][:pairs].tolist()))
    return pool[:STEADY_BOOK], rows


def run_submit_cancel(book, rows: list):
    """For each row: ``submit`` a GTC order, then ``cancel`` an older one. Returns the book."""
    submit, cancel = book.submit, book.cancel
    for oid, side, price, qty, old in rows:
        submit(oid, side, price, qty)
        cancel(old)
    return book


def time_submit_cancel(prefill: np.ndarray, rows: list) -> Stopwatch:
    """``run_submit_cancel`` on a fresh book filled with ``prefill``."""
    book = exchange.OrderBook()
    book.process(prefill)
    with Stopwatch() as watch:
        run_submit_cancel(book, rows)
    if len(book) != len(prefill):
        raise RuntimeError(f"submit+cancel left {len(book)} orders, expected {len(prefill)}")
    return watch


def time_levels(n: int, order: str) -> Stopwatch:
    """``n`` distinct price levels made and then cancelled, in ``order`` (flow.distinct_prices)."""
    messages = distinct_prices(n, seed=5, order=order)
    book = exchange.OrderBook()
    with Stopwatch() as watch:
        results = book.process(messages)
    if len(book) or (results[n:] != 1).any():
        raise RuntimeError(f"levels flow ({order}) left {len(book)} orders or missed a cancel")
    return watch


def far_orders_workload(pairs: int, seed: int) -> tuple[np.ndarray, list]:
    """A book where member 1 rests ``FAR_ORDERS`` bids at distinct prices far below the touch
    (10,000,000 - 2k), and ``pairs`` rows ``(order_id, side, price, qty, id_to_cancel)`` of member
    2: a bid at a new odd price among them, then its cancel (each makes and drops a level at a
    random depth)."""
    rng = np.random.default_rng(seed)
    far = np.zeros(FAR_ORDERS + 2, dtype=exchange.MESSAGE_DTYPE)
    far["order_id"] = np.arange(1, FAR_ORDERS + 3)
    far["side"][:FAR_ORDERS] = 0
    far["price"][:FAR_ORDERS] = 10_000_000 - 2 * np.arange(1, FAR_ORDERS + 1)
    far["side"][FAR_ORDERS:] = (0, 1)                       # the touch: 10,000,001 / 10,000,003
    far["price"][FAR_ORDERS:] = (10_000_001, 10_000_003)
    far["qty"] = 1
    far["owner"] = 1
    ids = np.arange(10**9, 10**9 + pairs)
    prices = 10_000_000 - 2 * rng.integers(1, FAR_ORDERS, pairs) - 1
    rows = [(int(i), 0, int(p), 1, int(i)) for i, p in zip(ids, prices)]
    return far, rows


# -- memory, in a fresh child process ------------------------------------------------------------


def rss_bytes() -> int:
    """Resident set size of this process now (/proc/self/statm; ru_maxrss as a fallback)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_child(n: int, which: str) -> dict:
    """In this (fresh) process: RSS growth while ``n`` non-crossing orders come to rest."""
    messages = resting_orders(n, seed=11)
    book = exchange.OrderBook() if which == "compiled" else BaselineBook()
    gc.collect()
    before = rss_bytes()
    for start in range(0, n, 65_536):  # small result arrays, freed at once
        book.process(messages[start:start + 65_536])
    gc.collect()
    after = rss_bytes()
    if len(book) != n:
        raise RuntimeError(f"{which} book holds {len(book)} orders, expected {n}")
    return {"book": which, "orders": n, "rss_delta": after - before, "bytes_per_order": (after - before) / n}


def measure_memory(n: int, which: str) -> dict:
    """Run ``memory_child`` in a fresh interpreter so earlier allocations do not blur the delta."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(n), "--memory-book", which]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- report --------------------------------------------------------------------------------------


def _status(ok: bool) -> str:
    return "[bold green]PASS[/]" if ok else "[bold red]MISS[/]"


def report(res: dict) -> None:
    """Print the rich table of ``res`` (figures beside targets)."""
    from rich.console import Console
    from rich.table import Table

    t, tc = res["targets"], res["targets_cpu_time"]
    table = Table(title=f"exchange.OrderBook: {res['messages']:,} messages, seed {res['seed']}, "
                        f"median of {res['repeat']} runs (load avg {res['loadavg'][0]:.2f} on "
                        f"{res['cpus']} CPUs)")
    for col in ("measure", "median (wall)", "median (CPU time)", "best run (wall)", "target",
                "wall", "CPU"):
        table.add_column(col, justify="left" if col == "measure" else "right")

    def rate_row(label: str, name: str, target: str = "", key: str | None = None) -> None:
        r = res[name]
        marks = ("", "") if key is None else (_status(t[key]), _status(tc[key]))
        table.add_row(label, f"{r['per_s']:,.0f}", f"{r['per_cpu_s']:,.0f}", f"{r['best_per_s']:,.0f}",
                      target, *marks)

    def ratio_row(label: str, name: str, target: str = "", key: str | None = None) -> None:
        r = res[name]
        marks = ("", "") if key is None else (_status(t[key]), _status(tc[key]))
        table.add_row(label, f"{r['wall']:.1f}x", f"{r['cpu']:.1f}x", "", target, *marks)

    rate_row("process(), msg/s", "process", f">= {TARGET_PROCESS:,}", "process")
    ratio_row("process / baseline", "process_vs_baseline", f">= {TARGET_RATIO:.0f}x", "ratio")
    rate_row("single calls from Python, calls/s", "single_calls", f">= {TARGET_SINGLE:,}",
             "single_calls")
    mem = _status(t["memory"])
    table.add_row("memory per resting order, bytes", f"{res['memory']['bytes_per_order']:.1f}", "", "",
                  f"<= {TARGET_BYTES}", mem, mem)
    table.add_section()
    rate_row("submit + cancel alone, calls/s", "submit_cancel", f"(>= {TARGET_SINGLE:,})",
             "submit_cancel")
    lv = res["levels"]
    table.add_row(f"{lv['n']:,} levels made + cancelled, touch order, s", f"{lv['touch']:.3f}")
    table.add_row(f"{lv['n']:,} levels made + cancelled, random order, s", f"{lv['random']:.3f}")
    ok = _status(t["levels"])
    table.add_row("random / touch order", f"{lv['ratio']:.1f}x", "", "",
                  f"<= {TARGET_LEVELS_RATIO:.0f}x", ok, ok)
    far = res["far_orders"]
    table.add_row(f"submit + cancel pair among {FAR_ORDERS:,} far levels, us",
                  f"{far['with_far_us']:.2f}")
    table.add_row("the same pair without them, us", f"{far['without_far_us']:.2f}")
    rate_row("baseline (pure Python) process, msg/s", "baseline")
    ratio_row("single calls / baseline", "single_calls_vs_baseline")
    if "baseline_memory" in res:
        table.add_row("baseline memory per resting order, bytes",
                      f"{res['baseline_memory']['bytes_per_order']:.1f}")
    lat = res["latency_ns"]
    for kind in ("all", "submit", "cancel", "market"):
        p = lat[kind]
        table.add_row(f"latency {kind}, ns p50 / p99 / p99.9",
                      f"{p['p50']:,.0f} / {p['p99']:,.0f} / {p['p99.9']:,.0f}")
    table.add_row("timer overhead subtracted, ns", f"{lat['timer_overhead']}")
    console = Console(width=max(Console().width, 130))  # one row per figure, even in a pipe
    console.print(table)
    console.print(
        "Targets are judged on the wall-clock median (column 'wall'); 'CPU' judges the median "
        "rate per second of this thread's CPU time, which leaves out waiting for a CPU on a "
        "shared machine. Latency: perf_counter_ns() around each single call, minus the median gap of an empty "
        "perf_counter_ns() pair; memory: RSS growth of a fresh process resting "
        f"{res['memory']['orders']:,} orders, pool and hash table slack included.")


# -- main ----------------------------------------------------------------------------------------


def run(messages_n: int, repeat: int, seed: int, resting: int, baseline_repeat: int,
        baseline_memory: bool, levels_n: int) -> dict:
    """All the measurements; returns the JSON-ready result."""
    load_at_start = list(os.getloadavg())
    messages = standard_flow(messages_n, seed=seed)
    rows = messages.tolist()
    process = rates(lambda: time_process(messages), messages_n, repeat)
    single = rates(lambda: time_single_calls(rows), messages_n, repeat)
    base = rates(lambda: time_baseline(messages), messages_n, baseline_repeat)

    overhead = timer_overhead_ns()
    raw = call_latencies(rows)
    latency = {kind: percentiles(ns, overhead) for kind, ns in raw.items()}
    latency["all"] = percentiles(np.concatenate(list(raw.values())), overhead)
    latency["timer_overhead"] = overhead

    pairs = min(messages_n, 500_000)
    prefill, sc_rows = submit_cancel_workload(pairs, seed)
    submit_cancel = rates(lambda: time_submit_cancel(prefill, sc_rows), 2 * pairs, repeat)
    memory = measure_memory(resting, "compiled")
    touch = statistics.median(time_levels(levels_n, "touch").wall for _ in range(3))
    scattered = time_levels(levels_n, "random").wall
    levels = {"n": levels_n, "touch": touch, "random": scattered, "ratio": scattered / touch}
    far, far_rows = far_orders_workload(20_000, seed)
    with_far = statistics.median(time_submit_cancel(far, far_rows).wall for _ in range(3))
    without = statistics.median(time_submit_cancel(far[FAR_ORDERS:], far_rows).wall for _ in range(3))
    far_orders = {"pairs": len(far_rows), "with_far_us": with_far / len(far_rows) * 1e6,
                  "without_far_us": without / len(far_rows) * 1e6}

    def ratio(a: dict, b: dict) -> dict:
        return {"wall": a["per_s"] / b["per_s"], "cpu": a["per_cpu_s"] / b["per_cpu_s"]}

    res = {
        "messages": messages_n, "repeat": repeat, "seed": seed,
        "process": process, "single_calls": single, "baseline": base, "submit_cancel": submit_cancel,
        "process_vs_baseline": ratio(process, base), "single_calls_vs_baseline": ratio(single, base),
        "latency_ns": latency, "memory": memory, "levels": levels, "far_orders": far_orders,
        "python": platform.python_version(), "numpy": np.__version__, "book": exchange.__file__,
        "loadavg": list(os.getloadavg()), "loadavg_at_start": load_at_start, "cpus": os.cpu_count(),
    }
    if baseline_memory:
        res["baseline_memory"] = measure_memory(resting, "baseline")
    for name, rate_key, ratio_key in (("targets", "per_s", "wall"), ("targets_cpu_time", "per_cpu_s", "cpu")):
        res[name] = {
            "process": process[rate_key] >= TARGET_PROCESS,
            "ratio": res["process_vs_baseline"][ratio_key] >= TARGET_RATIO,
            "single_calls": single[rate_key] >= TARGET_SINGLE,
            "memory": memory["bytes_per_order"] <= TARGET_BYTES,
            "submit_cancel": submit_cancel[rate_key] >= TARGET_SINGLE,
            "levels": levels["ratio"] <= TARGET_LEVELS_RATIO,
        }
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="flow length (default 1M)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the median is kept")
    parser.add_argument("--baseline-repeat", type=int, default=3, help="runs of the slow baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resting", type=int, default=1_000_000, help="orders for the memory figure")
    parser.add_argument("--levels", type=int, default=1_000_000,
                        help="distinct prices for the levels-at-any-depth figure")
    parser.add_argument("--baseline-memory", action="store_true",
                        help="also measure the baseline's bytes per resting order (slow, ~300 MB)")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-book", default="compiled", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child, args.memory_book)))
        return 0
    for name in ("messages", "repeat", "baseline_repeat", "resting", "levels"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    res = run(args.messages, args.repeat, args.seed, args.resting, args.baseline_repeat,
              args.baseline_memory, args.levels)
    report(res)
    sys.stdout.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
