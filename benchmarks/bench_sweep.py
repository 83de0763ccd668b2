"""Parameter sweeps: 1 worker against 2 on the same runs, and what one run costs.

    python benchmarks/bench_sweep.py [--runs 20] [--orders 10000] [--repeat 3]
                                     [--backend local|dask|ray] [--cost]

Speed-up: ``--runs`` runs (seeds 1..runs of the default scenario, ``--orders`` order messages
per session) swept with 1 worker and with 2, alternately, ``--repeat`` times; the wall time of
each whole ``sweep()`` call (pool or cluster start included) is timed, the medians and their
ratio printed, and the two tables checked equal. On a machine shared with other work the ratio
falls short of the worker count by the CPU others take: read it with the load average printed
first, and with the ratio of the best runs (the least disturbed ones) printed beside it.

``--cost``: for several order counts, one run in a fresh Python process (as a worker runs it):
its wall time, the process's peak resident memory (imports included, printed apart), the
trades, the size of the row shipped back (pickled) and of the trades as Parquet (what
``keep_trades`` writes). docs/sweeps.md sizes a cluster from these figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:
    import exchange  # noqa: F401
except ImportError:  # not installed: use the in-place build of this checkout
    sys.path.insert(0, str(HERE.parent / "src"))

from exchange.sim import comparable, sweep  # noqa: E402

#: One run in a fresh process; prints a JSON line of its costs.
_ONE_RUN = """
import json, os, pickle, resource, sys, tempfile, time
import pyarrow.parquet as pq
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from exchange.sim.runs import RunTask, run_one
from exchange.sim.scenario import DEFAULT_DATE, ScenarioParams
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
orders = int(sys.argv[1])
path = os.path.join(tempfile.mkdtemp(), "trades.parquet")
started = time.perf_counter()
row = run_one(RunTask(ScenarioParams(orders=orders), 1, DEFAULT_DATE, path))
wall = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"orders": orders, "wall_s": wall, "imported_mb": imported / 1024,
                  "peak_mb": peak / 1024, "trades": row["trades"],
                  "row_bytes": len(pickle.dumps(row)), "parquet_bytes": os.path.getsize(path),
                  "status": row["status"]}))
"""


def speed_up(runs: int, orders: int, repeat: int, backend: str) -> dict[str, float]:
    grid = {"orders": [orders]}
    times: dict[int, list[float]] = {1: [], 2: []}
    tables = {}
    for _ in range(repeat):
        for workers in (1, 2):
            started = time.perf_counter()
            tables[workers] = sweep(grid, range(1, runs + 1), backend, workers)
            times[workers].append(time.perf_counter() - started)
    assert comparable(tables[1]).equals(comparable(tables[2])), "1 and 2 workers differ"
    assert (tables[1]["status"] == "ok").all()
    one, two = statistics.median(times[1]), statistics.median(times[2])
    per_run = statistics.median(tables[1]["wall_seconds"])
    print(f"{runs} runs x {orders:,} order messages per session, backend {backend}, "
          f"{repeat} repeats")
    print(f"  1 worker : median {one:6.2f} s  (runs {', '.join(f'{t:.2f}' for t in times[1])})")
    print(f"  2 workers: median {two:6.2f} s  (runs {', '.join(f'{t:.2f}' for t in times[2])})")
    best = min(times[1]) / min(times[2])
    print(f"  speed-up : {one / two:.2f}x of the medians, {best:.2f}x of the best runs "
          f"(median run inside a worker: {per_run:.3f} s)")
    return {"runs": runs, "orders": orders, "one_s": one, "two_s": two, "speed_up": one / two,
            "best_speed_up": best, "run_s": per_run, "load": os.getloadavg()[0]}


def cost(levels: list[int]) -> list[dict]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent / "src"),
                                                    env.get("PYTHONPATH", "")) if p)
    rows = []
    print(f"{'orders/session':>14} {'wall s':>7} {'trades':>8} {'peak MB':>8} "
          f"{'imports MB':>10} {'row kB':>7} {'trades MB':>9}")
    for orders in levels:
        done = subprocess.run([sys.executable, "-c", _ONE_RUN, str(orders)], env=env,
                              capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{orders:>14,} {row['wall_s']:>7.2f} {row['trades']:>8,} {row['peak_mb']:>8.0f} "
              f"{row['imported_mb']:>10.0f} {row['row_bytes'] / 1000:>7.1f} "
              f"{row['parquet_bytes'] / 1e6:>9.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("local", "dask", "ray"), default="local")
    parser.add_argument("--cost", action="store_true",
                        help="also measure one run's time and memory at several sizes")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    report = {"speed_up": speed_up(args.runs, args.orders, args.repeat, args.backend)}
    if args.cost:
        report["cost"] = cost([1_000, 10_000, 50_000, 200_000])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
