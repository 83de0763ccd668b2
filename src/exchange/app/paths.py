"""Where a simulated day writes, checked before it starts, and cleaned up if it fails.

:func:`check_out` and :func:`check_ledger` make sure, without creating anything, that the
output folder and the ledger file can be written: a file is created and removed again in the
nearest folder that exists (the only reliable test: permission bits say nothing to root, a
read-only file system or /proc). :class:`Leftovers` removes what a failed run created (the
ledger file and its SQLite side files, the output folder) and nothing that was there before.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["OUTPUT_FILES", "Leftovers", "PathProblem", "check_journal", "check_ledger",
           "check_out"]

#: The files a simulated day writes into its output folder.
OUTPUT_FILES = ("trades.parquet", "obligations.parquet", "settlement.parquet", "report.html")

# Files SQLite may put beside a database while it is open.
_SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm", ".lock")


class PathProblem(ValueError):
    """A path option that cannot be used; the message names the option and the path."""


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _probe(folder: Path, option: str, shown: Path) -> None:
    """PathProblem unless a file can be created (and is removed again) in ``folder``."""
    if not folder.is_dir():
        raise PathProblem(f"argument {option}: {str(shown)!r} cannot be made: "
                          f"{str(folder)!r} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise PathProblem(f"argument {option}: cannot write in {str(folder)!r} "
                          f"({exc.strerror or exc})") from None


def check_out(out: str | os.PathLike[str]) -> Path:
    """The output folder ``out`` as a Path, if the day's files can be written there.

    It may exist (a folder, where none of :data:`OUTPUT_FILES` is a folder) or not (then its
    nearest existing ancestor must be a writable folder). Creates nothing; PathProblem
    otherwise.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise PathProblem(f"argument --out: {str(path)!r} exists and is not a folder")
    for name in OUTPUT_FILES:
        if (path / name).is_dir():
            raise PathProblem(f"argument --out: {str(path / name)!r} is a folder; the "
                              f"report writes a file there")
    _probe(_nearest_existing(path), "--out", path)
    return path


def check_ledger(ledger: str | os.PathLike[str] | None) -> Path | None:
    """The ledger file as a Path (None: in memory), if it is new or empty and its folder
    can be written. Creates nothing; PathProblem otherwise (an existing, non-empty file
    would mix this day's settlement runs with an earlier one's)."""
    if ledger is None:
        return None
    path = Path(ledger)
    if path.is_dir():
        raise PathProblem(f"argument --ledger: {str(path)!r} is a folder; give a file")
    if path.exists() and path.stat().st_size > 0:
        raise PathProblem(f"argument --ledger: {str(path)!r} already exists; give a new file")
    parent = path.parent
    if not parent.is_dir():
        raise PathProblem(f"argument --ledger: folder {str(parent)!r} does not exist")
    _probe(parent, "--ledger", path)
    return path


def check_journal(journal: str | os.PathLike[str] | None) -> Path | None:
    """The journal folder as a Path (None: no journal), if it is new or empty and can be
    made. Creates nothing; PathProblem otherwise (a journal already there would be another
    run's: ``Exchange.recover`` continues one)."""
    if journal is None:
        return None
    path = Path(journal)
    if path.exists():
        if not path.is_dir():
            raise PathProblem(f"argument --journal: {str(path)!r} exists and is not a folder")
        if any(path.iterdir()):
            raise PathProblem(f"argument --journal: {str(path)!r} is not empty; give a new "
                              f"folder")
    _probe(_nearest_existing(path), "--journal", path)
    return path


class Leftovers:
    """What a run may create, noted before it starts; :meth:`remove` undoes it after a
    failure: the ledger file (emptied again if it existed empty) with its SQLite side files and
    writer lock file,
    and the output folder's topmost ancestor that did not exist (with everything in it)."""

    def __init__(self, out: Path, ledger: Path | None) -> None:
        missing = [p for p in (out, *out.parents) if not p.exists()]
        self._out_root = missing[-1] if missing else None
        self._ledger = ledger
        self._ledger_existed = ledger is not None and ledger.exists()
        self._side_files = [] if ledger is None else [
            Path(f"{ledger}{suffix}") for suffix in _SQLITE_SIDE_FILES
            if not Path(f"{ledger}{suffix}").exists()]

    def remove(self) -> None:
        """Remove what the run created; errors while removing are ignored (best effort)."""
        if self._out_root is not None:
            shutil.rmtree(self._out_root, ignore_errors=True)
        for side in self._side_files:
            side.unlink(missing_ok=True)
        if self._ledger is None:
            return
        try:
            if self._ledger_existed:
                os.truncate(self._ledger, 0)
            else:
                self._ledger.unlink(missing_ok=True)
        except OSError:
            pass
