"""Reading a journal folder back: its commands in order, and where its good part ends.

:class:`JournalReader` iterates :class:`Entry` (sequence number, exchange time, command, and
where the record is) over every segment in order. It stops quietly at a torn or damaged *tail*
(nothing good after it: a crash in the middle of a write) and then reports it in ``tail``
(a :class:`Tail`: the file and offset where the good part ends, and what lies beyond); it raises
:class:`~exchange.journal.format.CorruptJournal` for damage in the *middle* (a good record
follows a bad one, a bad segment header, a missing segment, a record whose CRC holds but whose
payload does not parse) and :class:`~exchange.journal.format.UnsupportedVersion` for a segment
of a newer format. An empty folder is an empty journal.

:func:`scan` checks the same without decoding payloads and returns a :class:`Scan` (records,
segments, tail); :func:`truncate_to_last_good` cuts a torn tail away (the file truncated at the
tail's offset, later segment files removed, all fsynced) so that a writer can continue the
journal; it refuses damage in the middle. Time O(journal bytes); memory: one segment mapped at
a time.
"""
from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .commands import Command, decode
from .files import FolderLock, fsync_file, fsync_folder, segment_paths
from .format import HEADER_SIZE, MARK, CorruptJournal, SegmentHeader, frame_at

__all__ = ["Entry", "JournalReader", "Scan", "SegmentInfo", "Tail", "scan",
           "truncate_to_last_good"]


class Entry(NamedTuple):
    """One journaled command: its sequence number (0, 1, ... across segments), the exchange
    time it was given at (seconds since midnight), the command, and its segment number and
    byte offset."""

    seq: int
    time: float
    command: Command
    segment: int
    offset: int


@dataclass(frozen=True)
class Tail:
    """A torn or damaged end of the journal: the good part ends at ``offset`` of ``path``;
    ``garbage`` bytes follow in that file (a whole file shorter than its header when
    ``offset`` is 0), and ``later`` segment files after it hold nothing good."""

    path: Path
    offset: int
    garbage: int
    later: tuple[Path, ...] = ()
    reason: str = ""

    def __str__(self) -> str:
        more = f" and {len(self.later)} later segment file(s)" if self.later else ""
        return (f"{self.path.name}: good up to byte {self.offset}, {self.garbage} bytes after "
                f"it{more} ({self.reason})")


@dataclass(frozen=True)
class SegmentInfo:
    """One segment as scanned: ``records`` good records numbered from ``first_seq``;
    ``last_offset`` is where its last good record starts (None: it has none), ``end`` where
    the good part ends; ``version`` is the format version of its header."""

    number: int
    path: Path
    first_seq: int
    records: int
    last_offset: int | None
    end: int
    version: int = 1


@dataclass(frozen=True)
class Scan:
    """What :func:`scan` found: ``records`` good records in ``segments``, and the ``tail``
    beyond them (None: the journal ends cleanly)."""

    records: int
    segments: list[SegmentInfo] = field(default_factory=list)
    tail: Tail | None = None

    @property
    def first_seq(self) -> int:
        """The sequence number of the journal's first record (0 unless it was started after a
        snapshot, see ``JournalWriter``'s ``first_seq``)."""
        return self.segments[0].first_seq if self.segments else 0

    @property
    def last_good(self) -> tuple[Path, int] | None:
        """(file, offset) where the last good record starts; None for an empty journal."""
        for info in reversed(self.segments):
            if info.last_offset is not None:
                return info.path, info.last_offset
        return None


class JournalReader:
    """The commands of the journal in ``folder`` (module docstring). Iterating reads the
    folder afresh each time; after a complete iteration ``tail`` and ``records`` describe
    what was found. ``start``: skip records numbered below it (they are still checked)."""

    def __init__(self, folder: str | os.PathLike[str], start: int = 0) -> None:
        self.folder = Path(folder)
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"start: {start!r} is not an int >= 0")
        self.start = start
        self.tail: Tail | None = None
        self.records = 0
        segment_paths(self.folder)  # a missing folder is an error now, not at iteration

    def __iter__(self) -> Iterator[Entry]:
        walk = _Walk(self.folder)
        for seq, segment, offset, kind, time, payload in walk.frames():
            if seq < self.start:
                continue
            try:
                command = decode(kind, payload)
            except ValueError as exc:
                raise CorruptJournal(f"{walk.path}: record {seq} at byte {offset} has a sound "
                                     f"CRC but does not parse: {exc}", walk.path, offset) \
                    from None
            yield Entry(seq, time, command, segment, offset)
        self.tail, self.records = walk.tail, walk.records


def scan(folder: str | os.PathLike[str]) -> Scan:
    """Check every segment and record frame (CRCs, numbering; payloads are not decoded) and
    return what was found. CorruptJournal or UnsupportedVersion as the module docstring says.
    O(journal bytes)."""
    walk = _Walk(Path(folder))
    for _ in walk.frames():
        pass
    return Scan(walk.records, walk.segments, walk.tail)


def truncate_to_last_good(folder: str | os.PathLike[str]) -> Scan:
    """Cut a torn tail: truncate its file at the tail's offset (remove the file if not even
    its header is whole), remove later segment files, fsync; returns the scan before the cut
    (its ``tail`` says what went). A clean journal is left as it is. CorruptJournal (nothing
    cut) for damage in the middle; JournalError while a writer has the journal open."""
    path = Path(folder)
    with FolderLock(path, "truncate"):
        found = scan(path)
        tail = found.tail
        if tail is None:
            return found
        for later in tail.later:
            later.unlink()
        if tail.offset < HEADER_SIZE:
            tail.path.unlink()
        else:
            fd = os.open(tail.path, os.O_WRONLY)
            try:
                os.ftruncate(fd, tail.offset)
                fsync_file(fd)
            finally:
                os.close(fd)
        fsync_folder(path)
        return found


class _Walk:
    """One pass over the segments: yields each good frame, keeps the per-segment facts, and
    decides at the first bad byte whether it is a tail (``tail`` set, iteration ends) or
    damage in the middle (CorruptJournal)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.records = 0
        self.segments: list[SegmentInfo] = []
        self.tail: Tail | None = None
        self.path = folder

    def frames(self) -> Iterator[tuple[int, int, int, int, float, memoryview]]:
        """(seq, segment, offset, kind, time, payload) of every good record, in order."""
        found = segment_paths(self.folder)
        expected_number: int | None = None
        for i, (number, path) in enumerate(found):
            self.path = path
            later = tuple(p for _, p in found[i + 1:])
            if expected_number is not None and number != expected_number:
                raise CorruptJournal(f"{self.folder}: segment {expected_number} is missing "
                                     f"(found {path.name} after segment {expected_number - 1})",
                                     path, 0)
            expected_number = number + 1
            with _Mapped(path) as data:
                header = self._header(data, path, number, later)
                if header is None:
                    return
                count, last, offset = 0, None, HEADER_SIZE
                while True:
                    frame = frame_at(data, offset)
                    if frame is None:
                        break
                    end, kind, time, start = frame
                    yield self.records, number, offset, kind, time, data[start:end - 4]
                    self.records += 1
                    count, last, offset = count + 1, offset, end
                self.segments.append(SegmentInfo(number, path, header.first_seq, count, last,
                                                 offset, header.version))
                if offset < len(data):
                    self._bad_record(data, path, offset, later)
                    return

    def _header(self, data: memoryview, path: Path, number: int,
                later: tuple[Path, ...]) -> SegmentHeader | None:
        """The segment's header, checked against its name and the segments before it; None
        (and ``tail`` set) for a cut or damaged header of a last segment without a good record
        (a crash while the segment was being started)."""
        try:
            if len(data) < HEADER_SIZE:
                raise CorruptJournal(f"{path}: {len(data)} bytes, shorter than a segment "
                                     f"header", path, 0)
            header = SegmentHeader.unpack(bytes(data[:HEADER_SIZE]), path)
        except CorruptJournal as exc:
            if later or _next_good_frame(data, 0) is not None:
                raise
            self.tail = Tail(path, 0, len(data), (), str(exc))
            return None
        if header.segment != number:
            raise CorruptJournal(f"{path}: header says segment {header.segment}, the file name "
                                 f"says {number}", path, 0)
        if self.segments and header.first_seq != self.records:
            raise CorruptJournal(f"{path}: starts at record {header.first_seq}, but the "
                                 f"segments before it end at record {self.records}", path, 0)
        if not self.segments:
            self.records = header.first_seq
        return header

    def _bad_record(self, data: memoryview, path: Path, offset: int,
                    later: tuple[Path, ...]) -> None:
        """The record at ``offset`` is cut short or damaged: a tail unless anything good
        follows it, here or in a later segment."""
        follows = _next_good_frame(data, offset + 1)
        if follows is not None:
            raise CorruptJournal(f"{path}: the record at byte {offset} is damaged and a good "
                                 f"record follows at byte {follows}", path, offset)
        for other in later:
            with _Mapped(other) as rest:
                if _next_good_frame(rest, 0) is not None:
                    raise CorruptJournal(f"{path}: the record at byte {offset} is damaged and "
                                         f"{other.name} after it holds good records", path,
                                         offset)
        self.tail = Tail(path, offset, len(data) - offset, later, "record cut short or damaged")


def _next_good_frame(data: memoryview, offset: int) -> int | None:
    """The offset of the first sound record frame at or after ``offset``, found by its mark;
    None if there is none. O(bytes), in C but for a CRC per candidate."""
    raw = data.obj if isinstance(data.obj, (bytes, mmap.mmap)) else bytes(data)
    while True:
        found = raw.find(MARK, offset)
        if found < 0:
            return None
        if frame_at(data, found) is not None:
            return found
        offset = found + 1


class _Mapped:
    """A segment file's bytes as a memoryview (memory-mapped; empty for an empty file),
    released on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> memoryview:
        with open(self.path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        self._view = memoryview(self._map if self._map is not None else b"")
        return self._view

    def __exit__(self, *exc: object) -> None:
        self._view.release()
        if self._map is not None:
            with contextlib.suppress(BufferError):  # a slice is still held: closed when it goes
                self._map.close()
