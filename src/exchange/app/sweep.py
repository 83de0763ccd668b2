"""``python -m exchange sweep``: many simulated days at once, a table and a summary page.

::

    python -m exchange sweep --param fee_bps=1,2,5 --param prefunded=0,3,6 --seeds 1..50 \\
        --backend dask --workers 2 --out DIR [--orders N]

runs one simulated day per parameter point and seed (``exchange.sim.sweep``) and writes
``DIR/sweep.parquet`` (one row per run) and ``DIR/sweep.html`` (charts: each metric against
each swept parameter, median and spread across seeds). ``--param`` is optional: seeds alone
sweep the default scenario. Every argument is checked before the first run: a bad one exits 2
with one line on stderr naming it; a backend whose extra is missing exits 1 with an install
hint.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import html
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from exchange.reference.dates import parse_date
from exchange.sim.engines import BACKENDS, EngineMissing
from exchange.sim.scenario import DEFAULT_DATE, ScenarioParams
from exchange.sim.sweep import MAX_SEED, PARAMETERS, SweepPlan, plan_sweep

__all__ = [
    "HTML_FILE",
    "METRICS",
    "TABLE_FILE",
    "add_parser",
    "parse_seeds",
    "parse_values",
    "render_html",
    "run",
]

TABLE_FILE = "sweep.parquet"
HTML_FILE = "sweep.html"
#: Metrics the summary charts: column -> label.
METRICS = {
    "trades": "trades",
    "turnover_kzt": "turnover (KZT)",
    "fees_kzt": "exchange fees (KZT)",
    "official_rate.USDKZT": "USD/KZT official rate",
    "refused": "refused order messages",
    "failed_members": "members that failed a settlement",
    "rolled.KZT": "KZT rolled by failed members",
}
_PROG = "exchange sweep"


# ---------------------------------------------------------------------------------- parsing

def _ints(text: str, what: str, low: int, high: int) -> list[int]:
    """``1,2,5`` or ``1..50`` or a mix (``1..3,10``): ints in low..high, in the given order."""
    values: list[int] = []
    for part in text.split(","):
        first, dots, last = part.strip().partition("..")
        try:
            a, b = int(first), int(last) if dots else int(first)
        except ValueError:
            raise ValueError(f"{what}: {part.strip()!r} is not an integer or a range "
                             f"A..B") from None
        if a > b:
            raise ValueError(f"{what}: the range {part.strip()!r} is empty")
        if a < low or b > high:
            raise ValueError(f"{what}: {part.strip()!r} is not in {low}..{high}")
        values.extend(range(a, b + 1))
    return values


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: ``1..50``, ``1,2,5`` or a mix; ValueError naming it otherwise."""
    return _ints(text, "--seeds", 0, MAX_SEED)


_DEFAULTS = ScenarioParams()


def parse_values(text: str) -> tuple[str, list[Any]]:
    """``--param NAME=V1,V2``: the knob and its values as the knob takes them (integers and
    ranges A..B for counts, decimal text for rates, true/false for a flag). ValueError
    naming the option, the knob or the value otherwise; the knob checks ranges itself."""
    name, equals, values = text.partition("=")
    name = name.strip()
    if not equals or not values.strip():
        raise ValueError(f"--param: {text!r} is not NAME=V1,V2,...")
    if name not in PARAMETERS:
        raise ValueError(f"--param: {name!r} is not a parameter; parameters: "
                         f"{', '.join(PARAMETERS)}")
    kind = type(getattr(_DEFAULTS, name))
    if kind is int:
        return name, _ints(values, f"--param {name}", -2**63, 2**63 - 1)
    parts = [v.strip() for v in values.split(",")]
    if kind is bool:
        flags = {"true": True, "false": False}
        bad = [v for v in parts if v.lower() not in flags]
        if bad:
            raise ValueError(f"--param {name}: {bad[0]!r} is not true or false")
        return name, [flags[v.lower()] for v in parts]
    return name, parts  # rates: ScenarioParams reads the decimal text exactly


def _date(text: str) -> _dt.date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``sweep`` command on ``commands`` (argparse sub-parsers)."""
    sub = commands.add_parser(
        "sweep", help="simulate many days (parameter points x seeds) and tabulate them",
        description="Simulate one trading day per parameter point and seed, on this machine "
                    "or a Dask or Ray cluster; write sweep.parquet (one row per run) and "
                    "sweep.html (charts). Every value is checked before the first run.")
    sub.add_argument("--param", action="append", default=[], metavar="NAME=V1,V2",
                     help=f"a parameter and its values, repeatable (every combination runs); "
                          f"NAME one of {', '.join(PARAMETERS)}; integers also as A..B")
    sub.add_argument("--seeds", required=True, metavar="A..B|S1,S2",
                     help="seeds of each point: 1..50, 1,2,5 or a mix")
    sub.add_argument("--backend", choices=list(BACKENDS), default="local",
                     help="local (a process pool, default), dask or ray")
    sub.add_argument("--workers", type=int, default=None, metavar="N",
                     help="worker processes to start (default: one per core)")
    sub.add_argument("--address", default=None, metavar="ADDR",
                     help="an existing Dask scheduler or Ray cluster to run on instead")
    sub.add_argument("--orders", type=int, default=None, metavar="N",
                     help=f"order messages per session (default {_DEFAULTS.orders:,}); the "
                          f"same as --param orders=N")
    sub.add_argument("--date", type=_date, default=DEFAULT_DATE, metavar="YYYY-MM-DD",
                     help=f"trade date, a business day (default {DEFAULT_DATE})")
    sub.add_argument("--retries", type=int, default=2, metavar="N",
                     help="times a run whose worker died is run again (default 2)")
    sub.add_argument("--out", default="out", metavar="DIR",
                     help="output folder, created if missing (default ./out)")
    sub.add_argument("--keep-trades", action="store_true",
                     help="also write each run's trades to DIR/trades/")
    sub.add_argument("--quiet", action="store_true", help="print nothing")
    sub.error = _bad_argument  # type: ignore[method-assign,unused-ignore]  # one line
    return sub


def _bad_argument(message: str) -> NoReturn:
    print(f"{_PROG}: error: {message}", file=sys.stderr)
    sys.exit(2)


def _plan(args: argparse.Namespace) -> SweepPlan:
    """The checked plan of ``args``; ValueError/TypeError naming what is wrong."""
    grid: dict[str, list[Any]] = {}
    for text in args.param:
        name, values = parse_values(text)
        if name in grid:
            raise ValueError(f"--param: {name!r} is given twice")
        grid[name] = values
    if args.orders is not None:
        if "orders" in grid:
            raise ValueError("--orders: orders is also a --param; give one or the other")
        grid["orders"] = [args.orders]
    return plan_sweep(grid, parse_seeds(args.seeds), args.backend, args.workers,
                      address=args.address, date=args.date, out=args.out,
                      keep_trades=args.keep_trades, retries=args.retries)


def _out_folder(text: str) -> Path:
    """``--out`` created (parents too); ValueError if it cannot be."""
    out = Path(text)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out: {text!r} cannot be created: {exc.strerror}") from None
    return out


# ---------------------------------------------------------------------------------- running

def run(args: argparse.Namespace) -> int:
    """Run the ``sweep`` command; the exit status (0 done, 1 extra missing or writing
    failed, 2 bad argument)."""
    try:
        plan = _plan(args)
        out = _out_folder(args.out)
    except EngineMissing as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    say = (lambda text: None) if args.quiet else print
    seeds = len({t.seed for t in plan.tasks})
    say(f"Sweeping {len(plan.tasks):,} runs ({len(plan.tasks) // seeds:,} points x {seeds:,} "
        f"seeds) on {args.backend}")
    started = time.perf_counter()
    table = plan.run(progress=None if args.quiet else _Progress(len(plan.tasks)))
    seconds = time.perf_counter() - started
    try:
        table.to_parquet(out / TABLE_FILE, index=False)
        (out / HTML_FILE).write_text(render_html(table, plan.names, seconds), encoding="utf-8")
    except OSError as exc:
        print(f"{_PROG}: error: writing the results failed: {exc}", file=sys.stderr)
        return 1
    failed = int((table["status"] == "failed").sum())
    say(f"Done in {seconds:.1f} s: {len(table) - failed:,} runs ok, {failed:,} failed. "
        f"Wrote {out / TABLE_FILE} and {out / HTML_FILE}.")
    return 0


class _Progress:
    """Prints ``runs done/total`` about every 10 % and at the end."""

    def __init__(self, total: int) -> None:
        self.total, self.next = total, 0

    def __call__(self, done: int, total: int) -> None:
        if done >= self.next or done == total:
            print(f"  {done:,}/{total:,} runs", flush=True)
            self.next = done + max(1, total // 10)


# ----------------------------------------------------------------------------- HTML summary

def swept(table: Any, names: Sequence[str]) -> list[str]:
    """The grid's parameters that take more than one value in ``table``."""
    return [n for n in names if table[n].nunique() > 1]


def render_html(table: Any, names: Sequence[str], seconds: float) -> str:
    """A self-contained page: headline numbers, one chart per metric against each swept
    parameter (median over seeds, band from min to max; one line per value of the other
    swept parameters), or across seeds when nothing is swept, and the failed runs."""
    from .sweep_charts import metric_charts

    ok = table[table["status"] == "ok"]
    params = swept(table, names)
    figures = metric_charts(ok, params, METRICS)
    failed = table[table["status"] == "failed"]
    rows = "".join(f"<tr><td>{html.escape(_point(r, names))}</td><td>{r['seed']}</td>"
                   f"<td>{html.escape(str(r['error']))}</td></tr>"
                   for _, r in failed.iterrows())
    failures = (f"<h2>Failed runs ({len(failed)})</h2><table><tr><th>Point</th><th>Seed</th>"
                f"<th>Error</th></tr>{rows}</table>") if len(failed) else ""
    what = ", ".join(params) if params else "nothing (seeds only)"
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>Parameter sweep</title><style>{_CSS}</style></head><body>"
            f"<h1>Parameter sweep: {len(table):,} simulated days</h1>"
            f"<p>Swept: {html.escape(what)} · {table['seed'].nunique():,} seeds per point · "
            f"{len(ok):,} runs ok, {len(failed):,} failed · {seconds:,.1f} s wall "
            f"({_per_run(table)})</p><p>Each chart: a metric against a swept parameter; the "
            f"line is the median over the seeds, the band runs from the lowest to the highest "
            f"seed; one line per value of the other swept parameters.</p>"
            f"{''.join(figures)}{failures}"
            f"<footer>Generated by <code>python -m exchange sweep</code>; the full table is "
            f"{TABLE_FILE} beside this page.</footer></body></html>")


def _point(row: Any, names: Sequence[str]) -> str:
    return ", ".join(f"{n}={row[n]}" for n in names) or "default"


def _per_run(table: Any) -> str:
    wall = table["wall_seconds"].dropna()
    return f"median {wall.median():.2f} s per run" if len(wall) else "no run finished"


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px 36px;color:#1d2433;max-width:1100px}
h1{font-size:22px}h2{font-size:16px;margin-top:28px}p,footer{color:#5b6475;font-size:13px}
figure{display:inline-block;margin:8px 12px 8px 0}img{max-width:520px}
table{border-collapse:collapse;font-size:12px}td,th{padding:3px 8px;border-bottom:1px solid
#e6e9ef;text-align:left}
"""
