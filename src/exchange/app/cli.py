"""Command line: ``python -m exchange simulate [options]`` (also the ``exchange`` script).

Runs a whole simulated trading day (or ``--days N`` consecutive ones on one ledger) on the
embedded default setup (no services needed), prints progress and the tables (or, with
``--json``, one JSON summary), and writes ``trades.parquet``, ``obligations.parquet``,
``settlement.parquet`` and ``report.html`` into ``--out``; with ``--journal DIR`` it journals
every exchange call into DIR (``python -m exchange replay DIR`` rebuilds the run from it).

Everything the user gave is checked before the day starts (ranges, the date, that ``--out``
and ``--ledger`` can be written), so a bad value costs no time and leaves nothing behind.
Exit status: 0 done; 2 a bad argument (one line on stderr naming the option and value, as
argparse does); 1 the [sim] extra is missing or writing a file failed (one line on stderr; the
ledger file and output folder this run created are removed).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from exchange.reference.calendar import Calendar, CalendarError
from exchange.reference.dates import parse_date
from exchange.sim.scenario import DEFAULT_DATE, MAX_MEMBERS, MIN_MEMBERS

from . import replay, sweep
from .paths import OUTPUT_FILES, Leftovers, PathProblem, check_journal, check_ledger, check_out

__all__ = ["DEFAULT_ORDERS", "FIRST_DATE", "LAST_DATE", "MAX_DAYS", "MAX_ORDERS", "build_parser",
           "main"]

#: Order messages per session by default: the whole command then takes well under a minute.
DEFAULT_ORDERS = 50_000
#: The most order messages per session accepted: memory grows about 1.3 GB per million (over
#: all days of a run: --days x --orders may not exceed it either).
MAX_ORDERS = 5_000_000
#: The most trading days of one run: a year of business days.
MAX_DAYS = 250
#: Trade dates accepted: the holiday tables are estimates far ahead, and settlement dates
#: and rolls must stay far from ``date.max``.
FIRST_DATE = _dt.date(2000, 1, 1)
LAST_DATE = _dt.date(2099, 12, 31)
MAX_SEED = 2**63 - 1

#: Modules of the [sim] extra that ``simulate`` needs: console output and charts.
SIM_EXTRA_MODULES = ("rich", "matplotlib")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``exchange simulate: error: ...`` then exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _int_in(low: int, high: int):
    """An argparse type: an integer in ``low..high`` (argparse names the option)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low:,}..{high:,}, got {value:,}")
        return value
    return parse


def _date(text: str) -> _dt.date:
    try:
        return parse_date(text, FIRST_DATE, LAST_DATE)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``exchange`` command."""
    parser = _Parser(prog="exchange", description="A KASE-style exchange.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sim = commands.add_parser(
        "simulate", help="simulate a whole trading day and write its report",
        description="Simulate a KASE trading day: three sessions of agents trading, end of "
                    "day, netting and T+0..T+2 settlement; print the results and write "
                    "trades.parquet, obligations.parquet, settlement.parquet, report.html. "
                    "Every value is checked before the day starts.")
    sim.add_argument("--seed", type=_int_in(0, MAX_SEED), default=1,
                     metavar="0..2**63-1",
                     help="seed of the whole day (default 1): same seed, same trades")
    sim.add_argument("--members", type=_int_in(MIN_MEMBERS, MAX_MEMBERS),
                     default=20, metavar=f"{MIN_MEMBERS}..{MAX_MEMBERS}",
                     help="number of members (default 20)")
    sim.add_argument("--orders", type=_int_in(1, MAX_ORDERS),
                     default=DEFAULT_ORDERS, metavar=f"1..{MAX_ORDERS}",
                     help=f"order messages per session (default {DEFAULT_ORDERS})")
    sim.add_argument("--date", type=_date, default=DEFAULT_DATE,
                     metavar=f"{FIRST_DATE}..{LAST_DATE}",
                     help=f"trade date YYYY-MM-DD (default {DEFAULT_DATE}); a day without "
                          f"trading moves to the next business day")
    sim.add_argument("--days", type=_int_in(1, MAX_DAYS), default=1, metavar=f"1..{MAX_DAYS}",
                     help="consecutive business days to trade on one ledger (default 1); each "
                          "day's obligations settle on their own dates")
    sim.add_argument("--out", default="out", metavar="DIR",
                     help="output folder, created if missing (default ./out)")
    sim.add_argument("--ledger", default=None, metavar="PATH",
                     help="SQLite file of the clearing ledger, new or empty (default: in "
                          "memory)")
    sim.add_argument("--journal", default=None, metavar="DIR",
                     help="journal every exchange call into this new folder, with snapshots "
                          "at each session close (replay or recover the run from it)")
    sim.add_argument("--json", action="store_true",
                     help="print one JSON summary instead of tables and progress (keys: "
                          "docs/api.md)")
    sim.add_argument("--quiet", action="store_true", help="print nothing")
    sweep.add_parser(commands)
    replay.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the exit status (0 done, 1 failed, 2 bad argument; see the module
    docstring). Never raises SystemExit itself, so scripts can call it."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a bad argument (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "sweep":
        return sweep.run(args)
    if args.command == "replay":
        return replay.run(args)
    return _simulate(args)


def _fail(message: str, status: int = 1) -> int:
    """Print one error line on stderr; returns ``status``."""
    hint = " (see --help)" if status == 2 else ""
    print(f"exchange simulate: error: {message}{hint}", file=sys.stderr)
    return status


def _missing_sim_extra() -> str | None:
    """The first module of the [sim] extra that is not installed, or None."""
    for name in SIM_EXTRA_MODULES:
        if importlib.util.find_spec(name) is None:
            return name
    return None


def _trade_dates(requested: _dt.date, days: int) -> list[_dt.date]:
    """``days`` business days from ``requested`` (or the next day the exchange trades);
    CalendarError if the calendar has none."""
    from exchange.sim.day import business_day_on_or_after
    from exchange.sim.days import trade_dates

    calendar = Calendar()
    return trade_dates(calendar, business_day_on_or_after(calendar, requested), days)


def _simulate(args: argparse.Namespace) -> int:
    if args.days * args.orders > MAX_ORDERS:
        return _fail(f"argument --days: {args.days:,} days of {args.orders:,} order messages "
                     f"per session are more than {MAX_ORDERS:,} per session in all", 2)
    try:
        out, ledger = check_out(args.out), check_ledger(args.ledger)
        journal = check_journal(args.journal)
        dates = _trade_dates(args.date, args.days)
    except PathProblem as exc:
        return _fail(str(exc), 2)
    except CalendarError as exc:
        return _fail(f"argument --date: {args.date}: {exc}", 2)
    date = dates[0]
    missing = _missing_sim_extra()
    if missing is not None:
        return _fail(f"exchange simulate needs the [sim] extra ({missing} is not installed): "
                     f'pip install "exchange[sim]"')
    leftovers = Leftovers(out, ledger)
    try:
        return _run(args, date, out, ledger, journal)
    except OSError as exc:
        leftovers.remove()
        return _fail(f"writing the results failed: {exc}")
    except BaseException:
        leftovers.remove()
        raise


def _run(args: argparse.Namespace, date: _dt.date, out: Path, ledger: Path | None,
         journal: Path | None) -> int:
    """The day itself, once every argument was checked; output as the options say."""
    from rich.console import Console

    from exchange.sim.days import run_days
    from exchange.sim.replayed import simulate_setup
    from exchange.sim.scenario import default_scenario

    from .console import print_report, print_run_report, progress_for
    from .json_summary import day_summary, run_summary
    from .report import write_outputs

    console = Console(quiet=args.quiet or args.json)
    if date != args.date:
        console.print(f"{args.date} is not a business day in Kazakhstan: trading on {date}")
    started = time.perf_counter()
    scenario = default_scenario(seed=args.seed, members=args.members, orders=args.orders)
    what = f"{date}" if args.days == 1 else f"{args.days} trading days from {date}"
    console.print(f"[bold]Simulating {what}[/bold]: {args.members} members, "
                  f"{args.orders:,} order messages per session, seed {args.seed}")
    with progress_for(console) as progress:
        run = run_days(scenario, start=date, days=args.days, orders=args.orders,
                       ledger_path=ledger,
                       progress=None if console.quiet else progress.update,
                       phase=None if console.quiet else progress.phase, journal=journal,
                       setup=simulate_setup(args.seed, args.members, args.orders, date,
                                            args.days))
    try:
        console.print("[dim]writing report[/dim]")
        written = write_outputs(run, out)
        total = time.perf_counter() - started
        files = [written[name] for name in OUTPUT_FILES]
        if args.json and not args.quiet:
            if args.days == 1:
                summary = day_summary(run.days[0], written, total)
            else:
                summary = run_summary(run, written, total)
            summary["requested_date"] = args.date.isoformat()
            print(json.dumps(summary, indent=2))
        else:
            if args.days == 1:
                print_report(run.days[0], console, files)
            else:
                print_run_report(run, console, files)
            console.print(f"Done in {total:.1f} s: {run.orders:,} order messages, "
                          f"{len(run.trades):,} trades.")
    finally:
        run.ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
