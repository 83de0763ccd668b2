"""Clearing benchmark: netting throughput and the time of a settlement run, as a table.

    PYTHONPATH=src python benchmarks/bench_clearing.py                 # 1M and 10M trades
    PYTHONPATH=src python benchmarks/bench_clearing.py --sizes 1e6 --repeats 5

Trades are generated vectorised (``exchange.clearing.synthetic``) across 50 members and
``--days`` trading days (TOD/TOM/swap FX netted, ``--gross-share`` of shares settled deal by
deal). The numpy format is ``TRADE_RECORD_DTYPE`` itself (~300 bytes a record with its U16/U12
strings: 10M records are ~3 GB); the Arrow format has the same columns with dictionary-encoded
strings (~130 bytes a record). By default 10M runs use Arrow only; ``--formats numpy,arrow``
forces both. Settlement runs against a file ledger (SQLite, synchronous=FULL) in a temp dir,
one run per settlement date, every member funded except every tenth (so runs have failures,
rolls and CCP exposure); times are medians over ``--repeats`` fresh copies of the ledger.
"""
from __future__ import annotations

import argparse
import functools
import gc
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from exchange.clearing import Ledger, net, settle
from exchange.clearing.synthetic import INSTRUMENTS, random_trades, random_trades_arrow


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def funded_ledger(path: Path, members: int) -> None:
    assets = sorted({i[1] for i in INSTRUMENTS} | {i[2] for i in INSTRUMENTS})
    rng = np.random.default_rng(1)
    with Ledger(path) as ledger:
        ledger.open_accounts((m, a) for m in range(1, members + 1) for a in assets)
        ledger.deposit_many(
            (m, a, int(rng.integers(10**15, 2 * 10**15))) for m in range(1, members + 1) if m % 10 for a in assets
        )


def bench_settlement(obligations, members: int, repeats: int, workdir: Path) -> dict:
    """Median seconds of one settlement run (all dates settled in order on each fresh copy)."""
    master = workdir / "master.sqlite"
    funded_ledger(master, members)
    dates = obligations.dates()
    per_run: list[float] = []
    rows = (0, 0, 0)
    for r in range(repeats):
        path = workdir / f"run{r}.sqlite"
        shutil.copy(master, path)
        with Ledger(path) as ledger:
            for day in dates:
                start = time.perf_counter()
                result = settle(ledger, day, obligations=obligations, next_business_day=lambda d: d + 1)
                per_run.append(time.perf_counter() - start)
                rows = (rows[0] + len(result.net), rows[1] + len(result.gross), rows[2] + len(result.failed_members))
        path.unlink()
    runs = len(dates) * repeats
    return {
        "runs": len(dates),
        "run_median_s": statistics.median(per_run),
        "run_max_s": max(per_run),
        "net_lines_per_run": rows[0] // runs,
        "gross_deals_per_run": rows[1] // runs,
        "failed_members_per_run": rows[2] / runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e6,1e7", help="comma-separated trade counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--gross-share", type=float, default=0.2)
    parser.add_argument("--formats", default="", help="numpy,arrow (default: both below 10M, arrow at 10M+)")
    parser.add_argument("--no-settle", action="store_true")
    args = parser.parse_args()

    rows = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        formats = args.formats.split(",") if args.formats else (["numpy", "arrow"] if size < 10_000_000 else ["arrow"])
        for fmt in formats:
            make = random_trades if fmt == "numpy" else random_trades_arrow
            start = time.perf_counter()
            trades = make(size, members=args.members, days=args.days, gross_share=args.gross_share, seed=42)
            generate = time.perf_counter() - start
            net(trades[:1000])  # imports and first-call costs out of the timing
            seconds, obligations = median_time(functools.partial(net, trades), args.repeats)
            row = {
                "trades": size, "format": fmt, "generate_s": generate, "net_s": seconds,
                "trades_per_s": size / seconds, "obligations": len(obligations.net),
                "gross_deals": len(obligations.gross),
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            }
            del trades
            if not args.no_settle and fmt == formats[-1]:
                with tempfile.TemporaryDirectory() as tmp:
                    row.update(bench_settlement(obligations, args.members, args.repeats, Path(tmp)))
            rows.append(row)
            del obligations
            gc.collect()
            print_table(rows)


def print_table(rows: list[dict]) -> None:
    columns = ["trades", "format", "generate_s", "net_s", "trades_per_s", "obligations", "gross_deals", "runs",
               "run_median_s", "run_max_s", "net_lines_per_run", "gross_deals_per_run", "failed_members_per_run",
               "peak_rss_gb"]
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print()
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)))
    print(f"(machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}; medians of the repeats)", flush=True)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 1000 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


if __name__ == "__main__":
    main()
