"""The journal folder on disk: segment file names, the writer's lock, and fsync.

Segments are ``000001.journal``, ``000002.journal``, ... (six digits or more: the segment's
number). Other files in the folder are ignored (snapshots will live beside the segments).
``journal.lock`` is held (``flock``, exclusive) by the one writer and by a truncation, so that
neither cuts or extends a journal another is using; where there is no ``flock`` (Windows) the
lock is not taken.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Buffer

from .format import JournalError

__all__ = ["FolderLock", "fsync_file", "fsync_folder", "segment_name", "segment_paths",
           "write_all"]

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

_SEGMENT_FILE = re.compile(r"([0-9]{6,})\.journal")


def segment_name(number: int) -> str:
    """The file name of segment ``number``: ``000042.journal``."""
    return f"{number:06d}.journal"


def segment_paths(folder: Path) -> list[tuple[int, Path]]:
    """The segment files in ``folder`` as (number, path), in journal order. FileNotFoundError
    or NotADirectoryError naming ``folder`` if it is not a folder. O(files)."""
    if not folder.exists():
        raise FileNotFoundError(f"journal folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"journal {str(folder)!r} is not a folder")
    found = []
    for entry in os.scandir(folder):
        match = _SEGMENT_FILE.fullmatch(entry.name)
        if match is not None and entry.is_file():
            found.append((int(match.group(1)), Path(entry.path)))
    return sorted(found)


def fsync_file(fd: int) -> None:
    """Make what was written to ``fd`` durable: F_FULLFSYNC on macOS (its fsync does not
    flush the drive's cache), fdatasync where there is one, else fsync."""
    if sys.platform == "darwin" and fcntl is not None and hasattr(fcntl, "F_FULLFSYNC"):
        fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
    elif hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:
        os.fsync(fd)


def fsync_folder(folder: Path) -> None:
    """Make the names of files created or removed in ``folder`` durable (POSIX; nothing where
    a folder cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: Buffer) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class FolderLock:
    """The exclusive lock of a journal folder, taken on construction; JournalError if someone
    else holds it. :meth:`release` (or leaving the ``with`` block) lets it go."""

    def __init__(self, folder: Path, purpose: str) -> None:
        self._fd: int | None = None
        if fcntl is None:
            return
        fd = os.open(folder / "journal.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise JournalError(f"cannot {purpose}: journal {str(folder)!r} is in use by a "
                               f"writer") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
