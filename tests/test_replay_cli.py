"""``python -m exchange simulate --journal DIR`` and ``python -m exchange replay DIR``.

A small journaled run (one process) is replayed by others: ``--digest`` prints exactly one
line, ``digest <hex> commands <N>``, whose digest is an in-process replay's; ``--upto N`` gives
the digest of the first N records; ``--out`` writes a trades.parquet byte-identical to the
run's. Two processes (different hash seeds) replaying the same journal agree after every
session. Bad arguments exit 2 with one line, a damaged journal or one not written by
``simulate`` exits 1 with one line; ``--journal`` into a non-empty folder exits 2 and leaves
nothing behind. ``simulate --days 3 --journal DIR`` replays to the run's final digest.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from durable_day import build, flip, members, set_journal_version
from exchange.app import cli
from exchange.app.cli import main
from exchange.journal import CloseSession, EndOfDay, JournalReader
from exchange.sim.replayed import replay_run

SRC = str(Path(__import__("exchange").__file__).resolve().parent.parent)
LINE = re.compile(r"^digest [0-9a-f]{64} commands \d+$")


def _exchange(*args: str | Path, hash_seed: str = "0") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONHASHSEED": hash_seed}
    return subprocess.run([sys.executable, "-m", "exchange", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def _digest_line(folder: Path, *extra: str | Path) -> tuple[str, int]:
    """(digest, commands) that ``replay folder --digest`` prints, checked to be one line."""
    done = _exchange("replay", folder, "--digest", *extra)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and LINE.fullmatch(done.stdout.rstrip("\n")), done.stdout
    assert done.stdout.count("\n") == 1
    _, digest, _, commands = done.stdout.split()
    return digest, int(commands)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> tuple[Path, Path]:
    """(journal folder, output folder) of one small journaled simulated day."""
    root = tmp_path_factory.mktemp("simulated")
    journal, out = root / "journal", root / "out"
    done = _exchange("simulate", "--quiet", "--orders", "2000", "--members", "6", "--seed", "5",
                     "--journal", journal, "--out", out)
    assert done.returncode == 0, done.stderr
    return journal, out


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """The journal of a tiny simulated day, run in this process as ``simulate --journal``
    runs it (without the report, which takes seconds)."""
    from exchange.sim.days import run_days
    from exchange.sim.replayed import simulate_setup
    from exchange.sim.scenario import DEFAULT_DATE, default_scenario

    journal = tmp_path_factory.mktemp("small") / "journal"
    scenario = default_scenario(seed=2, members=6, orders=50)
    run = run_days(scenario, start=DEFAULT_DATE, days=1, orders=50, journal=journal,
                   setup=simulate_setup(2, 6, 50, DEFAULT_DATE, 1))
    run.ledger.close()
    return journal


def _closes(folder: Path) -> list[int]:
    """The record counts that end with each session close and the end of the day."""
    return [e.seq + 1 for e in JournalReader(folder)
            if isinstance(e.command, (CloseSession, EndOfDay))]


def test_replay_digest_prints_one_line_of_the_whole_journal(small):
    digest, commands = _digest_line(small)
    assert commands == len(list(JournalReader(small))) > 150
    assert digest == replay_run(small).exchange.digest()


def test_upto_gives_the_digest_of_the_first_n_records(small):
    first_close = _closes(small)[0]
    digest, commands = _digest_line(small, "--upto", str(first_close))
    assert commands == first_close
    assert digest == replay_run(small, first_close).exchange.digest()
    assert digest != replay_run(small, first_close + 1).exchange.digest()
    assert digest != replay_run(small).exchange.digest()


@pytest.mark.slow
def test_upto_at_several_points_of_a_bigger_run(simulated):
    journal, _ = simulated
    total = len(list(JournalReader(journal)))
    assert total > 2000
    seen = set()
    for upto in (1, _closes(journal)[0] + 17, total + 100):
        digest, commands = _digest_line(journal, "--upto", str(upto))
        assert commands == min(upto, total)  # beyond the end: all there is
        assert digest == replay_run(journal, upto).exchange.digest()
        seen.add(digest)
    assert len(seen) == 3


@pytest.mark.slow
def test_out_writes_a_byte_identical_trades_parquet(simulated, tmp_path):
    journal, out = simulated
    done = _exchange("replay", journal, "--out", tmp_path / "replayed")
    assert done.returncode == 0, done.stderr
    replayed = (tmp_path / "replayed" / "trades.parquet").read_bytes()
    assert replayed == (out / "trades.parquet").read_bytes() and len(replayed) > 1000
    for name in ("obligations.parquet", "settlement.parquet", "report.html"):
        assert (tmp_path / "replayed" / name).stat().st_size > 0


_CHILD = """
import sys
from exchange.journal import CloseSession, EndOfDay, JournalReader
from exchange.sim.replayed import replay_run
folder = sys.argv[1]
for e in JournalReader(folder):
    if isinstance(e.command, (CloseSession, EndOfDay)):
        print(e.seq + 1, replay_run(folder, e.seq + 1).exchange.digest())
"""


@pytest.mark.slow
def test_two_processes_replay_the_same_digest_after_every_session(simulated):
    journal, _ = simulated
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": SRC, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", _CHILD, str(journal)], capture_output=True,
                              text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        outputs.append([line.split() for line in done.stdout.splitlines()])
    assert outputs[0] == outputs[1]
    assert [int(seq) for seq, _ in outputs[0]] == _closes(journal)
    assert len({digest for _, digest in outputs[0]}) == 4  # three sessions and the day's end
    for seq, digest in outputs[0]:  # and the command line's --upto, a third process each
        assert _digest_line(journal, "--upto", seq) == (digest, int(seq))


BAD = [
    ([], ["DIR"]),
    (["{j}", "--upto", "-1"], ["--upto", "got -1"]),
    (["{j}", "--upto", "ten"], ["--upto", "'ten'"]),
    (["{tmp}/missing"], ["argument DIR", "missing", "not a journal folder"]),
    (["{tmp}/a_file"], ["argument DIR", "a_file", "not a journal folder"]),
    (["{j}", "--out", "{tmp}/a_file"], ["--out", "a_file", "not a folder"]),
    (["{j}", "--frobnicate"], ["unrecognized arguments", "--frobnicate"]),
]


@pytest.mark.parametrize("args, words", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_argument_exits_2_with_one_line(args, words, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "j").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [a.format(j=tmp_path / "j", tmp=tmp_path) for a in args]
    assert main(["replay", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    assert captured.err.startswith("exchange") and "error: " in captured.err
    for word in words:
        assert word in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_command_line_exits_2_on_a_bad_argument(tmp_path):
    done = _exchange("replay", tmp_path / "nowhere", "--digest")
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("damage", ["flipped byte", "newer version", "not simulate's",
                                    "empty folder"])
def test_a_journal_that_cannot_be_replayed_exits_1_with_one_line(damage, small, tmp_path,
                                                                   capsys):
    journal = tmp_path / "j"
    words = {"flipped byte": "damaged and a good record follows",
             "newer version": "version 9 is newer",
             "not simulate's": "was not written by 'exchange simulate --journal'",
             "empty folder": "does not start with a Setup record"}[damage]
    if damage == "not simulate's":
        ex = build(journal=journal)
        members(ex)
        ex.close()
    elif damage == "empty folder":
        journal.mkdir()
    else:
        shutil.copytree(small, journal)
        segment = journal / "000001.journal"
        if damage == "flipped byte":
            flip(segment, segment.stat().st_size // 2)
        else:
            set_journal_version(segment, 9)
    before = {p.name: p.read_bytes() for p in journal.iterdir()}
    assert main(["replay", str(journal), "--digest"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    assert words in captured.err
    assert {p.name: p.read_bytes() for p in journal.iterdir()} == before  # only read


def test_simulate_into_a_non_empty_journal_folder_exits_2_leaving_nothing(tmp_path):
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "old.txt").write_text("someone's")
    done = _exchange("simulate", "--orders", "50", "--members", "6", "--journal", journal,
                     "--out", tmp_path / "out")
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert "--journal" in done.stderr and "is not empty" in done.stderr
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == \
        ["journal", "journal/old.txt"]


@pytest.mark.slow
def test_three_days_journaled_replay_to_the_final_digest_of_the_run(tmp_path, monkeypatch,
                                                                     capsys):
    """The run's own exchange is digested when ``run_days`` returns (before the command closes
    its ledger); the replay of the journal, in another process, gives the same digest."""
    from exchange.sim import days

    final, real = [], days.run_days

    def run_days(*args, **kwargs):
        result = real(*args, **kwargs)
        final.append((result.exchange.digest(), len(result.trades)))
        return result

    monkeypatch.setattr(days, "run_days", run_days)
    journal = tmp_path / "journal"
    assert cli.main(["simulate", "--quiet", "--orders", "300", "--members", "6", "--days", "3",
                     "--journal", str(journal), "--out", str(tmp_path / "out")]) == 0
    [(digest, trades)] = final
    assert trades > 0
    assert len([e for e in JournalReader(journal) if isinstance(e.command, EndOfDay)]) == 3
    assert _digest_line(journal)[0] == digest
