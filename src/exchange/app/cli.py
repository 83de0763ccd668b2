"""Command line: ``python -m exchange simulate [options]`` (also the ``exchange`` script).

Runs a whole simulated trading day on the embedded default setup (no services needed),
prints progress and the day's tables, and writes ``trades.parquet``, ``obligations.parquet``,
``settlement.parquet`` and ``report.html`` into ``--out``. Bad arguments exit with status 2
and a message naming the option and value (argparse's convention).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from collections.abc import Sequence

from exchange.reference.calendar import Calendar

from exchange.sim.scenario import DEFAULT_DATE, MIN_MEMBERS

from . import sweep

__all__ = ["main", "build_parser", "DEFAULT_ORDERS", "MAX_ORDERS"]

#: Order messages per session by default: the whole command then takes well under a minute.
DEFAULT_ORDERS = 50_000
#: The most order messages per session accepted: memory grows about 1.3 GB per million.
MAX_ORDERS = 5_000_000


def _int_in(name: str, low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") \
                from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name} must be in {low:,}..{high:,}, got "
                                             f"{value:,}")
        return value
    return parse


def _date(text: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--date must be a date YYYY-MM-DD, got {text!r}") \
            from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``exchange`` command."""
    parser = argparse.ArgumentParser(prog="exchange", description="A KASE-style exchange.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sim = commands.add_parser(
        "simulate", help="simulate a whole trading day and write its report",
        description="Simulate a KASE trading day: three sessions of agents trading, end of "
                    "day, netting and T+0..T+2 settlement; print the results and write "
                    "trades.parquet, obligations.parquet, settlement.parquet, report.html.")
    sim.add_argument("--seed", type=_int_in("--seed", 0, 2**63 - 1), default=1,
                     help="seed of the whole day (default 1): same seed, same trades")
    sim.add_argument("--members", type=_int_in("--members", MIN_MEMBERS, 1000), default=20,
                     help="number of members (default 20)")
    sim.add_argument("--orders", type=_int_in("--orders", 1, MAX_ORDERS),
                     default=DEFAULT_ORDERS,
                     help=f"order messages per session (default {DEFAULT_ORDERS:,})")
    sim.add_argument("--date", type=_date, default=DEFAULT_DATE,
                     help=f"trade date YYYY-MM-DD (default {DEFAULT_DATE}); a day without "
                          f"trading moves to the next business day")
    sim.add_argument("--out", default="out", help="output folder (default ./out)")
    sim.add_argument("--ledger", default=None,
                     help="SQLite file of the clearing ledger (default: in memory); must "
                          "not exist yet")
    sim.add_argument("--quiet", action="store_true", help="print nothing")
    sweep.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (argparse exits 2 on bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "simulate":
        return _simulate(parser, args)
    if args.command == "sweep":
        return sweep.run(args)
    parser.error(f"unknown command {args.command!r}")  # unreachable: argparse checks
    return 2


def _simulate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.ledger is not None and os.path.exists(args.ledger) \
            and os.path.getsize(args.ledger) > 0:
        parser.error(f"argument --ledger: {args.ledger!r} already exists; give a new file")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f"argument --out: {args.out!r} exists and is not a folder")
    from rich.console import Console

    from .console import ProgressBars, print_report
    from exchange.sim.day import business_day_on_or_after, run_day
    from .report import write_outputs
    from exchange.sim.scenario import default_scenario

    console = Console(quiet=args.quiet)
    date = business_day_on_or_after(Calendar(), args.date)
    if date != args.date:
        console.print(f"{args.date} is not a business day in Kazakhstan: trading on {date}")
    started = time.perf_counter()
    scenario = default_scenario(seed=args.seed, members=args.members, orders=args.orders)
    console.print(f"[bold]Simulating {date}[/bold]: {args.members} members, "
                  f"{args.orders:,} order messages per session, seed {args.seed}")
    if args.quiet:
        result = run_day(scenario, date=date, orders=args.orders, ledger_path=args.ledger)
    else:
        with ProgressBars(console) as bars:
            result = run_day(scenario, date=date, orders=args.orders, ledger_path=args.ledger,
                             progress=bars.update, phase=bars.phase)
    console.print("[dim]writing report[/dim]")
    written = write_outputs(result, args.out)
    print_report(result, console, written.values())
    total = time.perf_counter() - started
    console.print(f"Done in {total:.1f} s: {result.orders:,} order messages, "
                  f"{len(result.trades):,} trades.")
    result.ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
