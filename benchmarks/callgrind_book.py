"""Instructions per message of ``OrderBook.process`` on the standard flow, counted by callgrind.

    python benchmarks/callgrind_book.py [--messages N] [--seed S] [--flow standard|levels]

Runs this script again under ``valgrind --tool=callgrind`` with collection switched on only
inside ``OrderBook.process`` (``--toggle-collect``), so generating the flow, importing numpy
and building the book are not counted, and prints the instructions executed per message (Ir /
N). Instruction counts do not depend on the machine's load, which makes them the stable figure
to compare two builds by (wall-clock rates on a shared machine move by 2x). ``--flow levels``
counts the far-price workload of bench_book.py instead: 100,000 distinct prices inserted and
cancelled in random order. Needs valgrind on the PATH. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(messages: int, seed: int, flow: str) -> None:
    """Under valgrind: build the messages (not counted), then ``process`` them (counted)."""
    sys.path.insert(0, str(HERE))
    try:
        import exchange
    except ImportError:  # not installed: use the in-place build of this checkout
        sys.path.insert(0, str(HERE.parent / "src"))
        import exchange
    import flow as flows

    if flow == "standard":
        batch = flows.standard_flow(messages, seed=seed)
    else:
        batch = flows.distinct_prices(messages // 2, seed=seed, order="random")
    book = exchange.OrderBook()
    book.process(batch)


def count(messages: int, seed: int, flow: str) -> dict:
    """Run ``child`` under callgrind; return the counted instructions and Ir per message."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               "--toggle-collect=__pyx_pw_*OrderBook_*process", sys.executable,
               str(Path(__file__).resolve()),
               "--child", "--messages", str(messages), "--seed", str(seed), "--flow", flow]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        totals = re.search(r"^(?:summary|totals):\s+(\d+)", out.read_text(), re.MULTILINE)
    if totals is None:
        raise RuntimeError(f"no instruction total in callgrind's output of {cmd}")
    ir = int(totals.group(1))
    return {"flow": flow, "messages": messages, "seed": seed, "instructions": ir,
            "per_message": ir / messages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flow", choices=("standard", "levels"), default="standard")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.messages < 2:
        parser.error(f"--messages must be >= 2, got {args.messages}")
    if args.child:
        child(args.messages, args.seed, args.flow)
        return 0
    res = count(args.messages, args.seed, args.flow)
    print(f"OrderBook.process, {res['flow']} flow, {res['messages']:,} messages, seed "
          f"{res['seed']}: {res['instructions']:,} instructions, "
          f"{res['per_message']:.1f} per message")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
