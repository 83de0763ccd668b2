"""``python -m exchange replay DIR``: a journaled simulation rebuilt from its journal.

::

    python -m exchange replay DIR [--upto N] [--digest] [--out OUT]

replays the journal ``simulate --journal DIR`` wrote (``exchange.sim.replayed``) into a new
exchange, all of it or its first ``N`` records (the Setup record is record 0: ``--upto N``
gives the state a journal of N records describes). ``--digest`` prints exactly one line,
``digest <hex> commands <N>`` (the state's ``Exchange.digest()`` and the records applied);
``--out`` writes the files ``simulate`` writes, for the trading days that ended (a complete
journal gives a byte-identical ``trades.parquet``). Without either it prints a short summary.
The journal is only read: a torn tail ends the replay quietly, without being cut.

Exit status: 0 done; 2 a bad argument (one line on stderr naming it); 1 a journal that cannot
be replayed (damaged, of a newer version, not written by ``simulate``, or a call that fails on
replay), one line on stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .paths import PathProblem, check_out

__all__ = ["add_parser", "run"]

_PROG = "exchange replay"


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``replay`` command to ``commands`` (the top-level parser's subparsers)."""
    from .cli import _int_in

    parser = commands.add_parser(
        "replay", help="rebuild a journaled simulation from its journal",
        description="Replay the journal a 'simulate --journal DIR' run wrote into a new "
                    "exchange; print its digest, or write the run's report files.")
    parser.add_argument("journal", metavar="DIR", help="the journal folder")
    parser.add_argument("--upto", type=_int_in(0, 2**63 - 1), default=None, metavar="N",
                        help="replay only the first N records (record 0 is the Setup record)")
    parser.add_argument("--digest", action="store_true",
                        help="print one line: digest <hex> commands <N>")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write trades.parquet, obligations.parquet, settlement.parquet "
                             "and report.html here")


def _fail(message: str, status: int) -> int:
    hint = " (see --help)" if status == 2 else ""
    print(f"{_PROG}: error: {message}{hint}", file=sys.stderr)
    return status


def run(args: argparse.Namespace) -> int:
    """The replay command (module docstring); returns the exit status."""
    from exchange.journal import JournalError
    from exchange.venue.config import ConfigMismatch

    folder = Path(args.journal)
    if not folder.is_dir():
        return _fail(f"argument DIR: {str(folder)!r} is not a journal folder", 2)
    try:
        out = None if args.out is None else check_out(args.out)
    except PathProblem as exc:
        return _fail(str(exc), 2)
    from exchange.sim.replayed import replay_run

    try:
        replayed = replay_run(folder, args.upto, record=out is not None)
    except (JournalError, ConfigMismatch) as exc:
        return _fail(str(exc), 1)
    if args.digest:
        print(f"digest {replayed.exchange.digest()} commands {replayed.commands}")
    if out is not None:
        if replayed.run is None:
            return _fail(f"no trading day ended in the {replayed.commands} records replayed: "
                         f"nothing to report", 1)
        from .report import write_outputs

        try:
            write_outputs(replayed.run, out)
        except OSError as exc:
            return _fail(f"writing the results failed: {exc}", 1)
    if not args.digest and out is None:
        ex = replayed.exchange
        print(f"replayed {replayed.commands:,} records: {len(ex.trades()):,} trades, "
              f"trading date {ex.date}, {sum(ex.rejections().values()):,} refusals")
    return 0
