"""Clearing benchmark: netting beside a plain pandas groupby, peak memory, settlement runs.

    PYTHONPATH=src python benchmarks/bench_clearing.py                 # 1M and 10M trades
    PYTHONPATH=src python benchmarks/bench_clearing.py --sizes 1e6 --repeats 5

Trades are generated vectorised (``exchange.clearing.synthetic``: 50 members, ``--days`` trading
days, TOD/TOM/swap FX netted, ``--gross-share`` of shares settled deal by deal) and written once
to a Parquet file in a temp dir, block by block (the form ``simulate`` writes). Each measurement
then runs in its own child process, so that its peak memory (``ru_maxrss``) is its own:

* ``net numpy``: ``net(records)`` on the numpy records in memory (128 bytes a trade);
* ``pandas``: a plain pandas netting of the same trades (the legs of every NET trade
  concatenated, ``groupby(date, asset, member).sum()``) on the DataFrame read from the Parquet
  file; the child checks it equals ``net()``'s obligations. ``ratio`` = pandas time / net time;
* ``net stream``: ``net(ParquetFile)``, batch by batch: what bounds memory (Parquet decoding
  included in the time);
* ``settle``: one settlement run per date of the set (obligations from ``net``) against a file
  ledger (SQLite, synchronous=FULL), every tenth member unfunded (failures, rolls, CCP
  exposure); the median and the slowest run over ``--repeats`` fresh copies of the ledger.

Times are medians over ``--repeats``; generation and file reading are not timed (except in
``net stream``, where reading is the point).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from exchange.clearing import Ledger, net, settle
from exchange.clearing.synthetic import INSTRUMENTS, random_trade_chunks, random_trades
from exchange.codes import CODES
from exchange.records import to_table

MEMBERS = 50


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        out = None
        gc.collect()
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: kilobytes


# --------------------------------------------------------------------------- the pandas baseline


def pandas_net(df):
    """Plain pandas: every NET trade's legs as rows, summed per (date, asset, member)."""
    import pandas as pd

    t = df[df["settlement"] == "NET"]
    swap = t[t["far_settle_date"].notna()]
    fees = pd.Series(-2, index=t.index)
    legs = [
        (t.settle_date, t.base_asset, t.buyer, t.base_amount),
        (t.settle_date, t.base_asset, t.seller, -t.base_amount),
        (t.settle_date, t.quote_asset, t.buyer, -(t.quote_amount + t.fee_buyer)),
        (t.settle_date, t.quote_asset, t.seller, t.quote_amount - t.fee_seller),
        (t.settle_date, t.quote_asset, fees, t.fee_buyer + t.fee_seller),
        (swap.far_settle_date, swap.base_asset, swap.buyer, -swap.base_amount),
        (swap.far_settle_date, swap.base_asset, swap.seller, swap.base_amount),
        (swap.far_settle_date, swap.quote_asset, swap.buyer, swap.far_quote_amount),
        (swap.far_settle_date, swap.quote_asset, swap.seller, -swap.far_quote_amount),
    ]
    frame = pd.concat([pd.DataFrame({"date": d, "asset": a, "member": m, "amount": x}) for d, a, m, x in legs],
                      ignore_index=True)
    sums = frame.groupby(["date", "asset", "member"], observed=True)["amount"].sum()
    return sums[sums != 0]


def same_obligations(sums, obligations) -> bool:
    ours = {(str(np.datetime64(d, "D")), a, int(m)): int(x) for m, a, d, x in zip(
        obligations.net["member"], CODES.asset.decode(obligations.net["asset"]), obligations.net["date"],
        obligations.net["amount"])}
    theirs = {(str(np.datetime64(d, "D")), str(a), int(m)): int(x) for (d, a, m), x in sums.items()}
    return ours == theirs


# --------------------------------------------------------------------------- phases (child processes)


def phase_write(args, path: Path) -> dict:
    import pyarrow.parquet as pq

    writer = None
    for block in random_trade_chunks(args.size, MEMBERS, args.days, args.gross_share, seed=42):
        table = to_table(block)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return {"file_gb": path.stat().st_size / 1e9}


def phase_net_numpy(args, path: Path) -> dict:
    trades = random_trades(args.size, MEMBERS, args.days, args.gross_share, seed=42)
    net(trades[:1000])  # imports and first-call costs out of the timing
    seconds, obligations = median_time(lambda: net(trades), args.repeats)
    return {"net_s": seconds, "trades_per_s": args.size / seconds, "obligations": len(obligations.net),
            "gross_deals": len(obligations.gross), "record_bytes": trades.dtype.itemsize, "peak_gb": peak_gb()}


def phase_pandas(args, path: Path) -> dict:
    import pyarrow.parquet as pq

    df = pq.read_table(path).to_pandas()
    seconds, sums = median_time(lambda: pandas_net(df), args.repeats)
    ours_s, obligations = median_time(lambda: net(df), 1)
    if not same_obligations(sums, obligations):
        raise AssertionError("the pandas baseline and net() disagree")
    return {"pandas_s": seconds, "net_pandas_input_s": ours_s, "pandas_peak_gb": peak_gb()}


def phase_stream(args, path: Path) -> dict:
    import pyarrow.parquet as pq

    seconds, _ = median_time(lambda: net(pq.ParquetFile(path)), args.repeats)
    return {"stream_s": seconds, "stream_peak_gb": peak_gb()}


def phase_settle(args, path: Path) -> dict:
    import pyarrow.parquet as pq

    obligations = net(pq.ParquetFile(path))
    workdir = path.parent
    master = workdir / "master.sqlite"
    assets = sorted({i[1] for i in INSTRUMENTS} | {i[2] for i in INSTRUMENTS})
    rng = np.random.default_rng(1)
    with Ledger(master) as ledger:
        ledger.open_accounts((m, a) for m in range(1, MEMBERS + 1) for a in assets)
        ledger.deposit_many((m, a, int(rng.integers(10**15, 2 * 10**15)))
                            for m in range(1, MEMBERS + 1) if m % 10 for a in assets)
    per_run, failed = [], []
    for r in range(args.repeats):
        copy = workdir / f"run{r}.sqlite"
        shutil.copy(master, copy)
        with Ledger(copy) as ledger:
            for day in obligations.dates():
                start = time.perf_counter()
                result = settle(ledger, day, obligations=obligations, next_business_day=lambda d: d + 1)
                per_run.append(time.perf_counter() - start)
                failed.append(len(result.failed_members))
            ledger.verify()
        copy.unlink()
    return {"runs": len(obligations.dates()), "run_median_s": statistics.median(per_run), "run_max_s": max(per_run),
            "gross_deals_per_run": len(obligations.gross) // max(len(obligations.dates()), 1),
            "failed_members_per_run": statistics.mean(failed), "settle_peak_gb": peak_gb()}


PHASES = {"write": phase_write, "net-numpy": phase_net_numpy, "pandas": phase_pandas, "stream": phase_stream,
          "settle": phase_settle}


def run_phase(name: str, args, path: Path) -> dict:
    command = [sys.executable, __file__, "--phase", name, "--file", str(path), "--size", str(args.size),
               "--days", str(args.days), "--gross-share", str(args.gross_share), "--repeats", str(args.repeats)]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ, check=False)
    if done.returncode:
        raise RuntimeError(f"phase {name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e6,1e7", help="comma-separated trade counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--gross-share", type=float, default=0.2)
    parser.add_argument("--no-settle", action="store_true")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:  # a child: one measurement, its result as the last line of stdout
        print(json.dumps(PHASES[args.phase](args, Path(args.file))))
        return
    rows = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        args.size = size
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "trades.parquet"
            row = {"trades": size, **run_phase("write", args, path)}
            for name in ("net-numpy", "pandas", "stream") + (() if args.no_settle else ("settle",)):
                row.update(run_phase(name, args, path))
            row["ratio"] = row["pandas_s"] / row["net_s"]
            rows.append(row)
            print_table(rows)


COLUMNS = ["trades", "net_s", "trades_per_s", "pandas_s", "ratio", "net_pandas_input_s", "stream_s", "peak_gb",
           "stream_peak_gb", "pandas_peak_gb", "runs", "run_median_s", "run_max_s", "gross_deals_per_run",
           "failed_members_per_run", "settle_peak_gb"]


def print_table(rows: list[dict]) -> None:
    cells = [[_fmt(row.get(c, "")) for c in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    print()
    print("  ".join(c.rjust(w) for c, w in zip(COLUMNS, widths)))
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)))
    print(f"(machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}; times are medians of "
          "the repeats; peak_gb: the child process's peak RSS)", flush=True)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 1000 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


if __name__ == "__main__":
    main()
